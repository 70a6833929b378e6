"""The driver (timers, I/O) and the ``any`` policy for every number of tasks
(models/param_driver.py, models/param_io.py, models/param_policy.py).

The proofs must be able to fail: without an auxiliary invariant, a ranking term, or with a
mutant's edge of the driver, the named (action, property) queries fail; a wrong encoding of
the policy disagrees with the concrete model.
"""

from __future__ import annotations

from typing import Any

import pytest
from refexec.models import param_driver
from refexec.models import reference_parametric as rp
from refexec.models.mutants import MUTANT_SPECS
from refexec.models.properties import DRIVER_IDS, IO_IDS
from refexec.models.reference import default_bounds
from refexec.models.system import Ops, View

SPECS = {m.slug: m for m in MUTANT_SPECS}
QUICK = 4000  # ms per query

ANY = default_bounds(2, join=0, policy=1)  # the reference-any variant's bounds
DRIVER = default_bounds(1, timers=1, io=1, join=0)  # driver without drive (hU) and joins (hT)
DRIVER_ANY = default_bounds(1, timers=1, io=1, policy=1, join=0)
PROMPTS = {"EX-TIMER-PROMPT", "EX-IO-PROMPT"}


def _failed(report: rp.EveryNReport) -> set[tuple[str, str]]:
    return {(q.prop, q.action) for q in report.failed}


def test_reference_any_is_proved_for_every_n_without_fifo() -> None:
    report = rp.prove_every_n(bounds=ANY, name="reference-any")
    assert report.ok, report.summary()
    assert "EX-FIFO" not in report.properties
    assert {"EX-QUEUE-EXACT", "EX-ONE-POLLER", "EX-TERMINATES"} <= set(report.properties)


def test_the_driver_is_proved_for_every_n() -> None:
    report = rp.prove_every_n(bounds=DRIVER, name="driver")
    assert report.ok, report.summary()
    assert set(DRIVER_IDS) | set(IO_IDS) <= set(report.properties)
    assert "EX-FIFO" in report.properties


@pytest.mark.deep
def test_the_driver_with_the_any_policy_is_proved_for_every_n() -> None:
    report = rp.prove_every_n(bounds=DRIVER_ANY, name="driver-any")
    assert report.ok, report.summary()
    # as the fixed-N property list: polling before a due timer / ready fd is the policy's choice
    assert (set(DRIVER_IDS) | set(IO_IDS)) - PROMPTS <= set(report.properties)
    assert not (PROMPTS | {"EX-FIFO"}) & set(report.properties)


@pytest.mark.deep
@pytest.mark.parametrize(("removed", "fails"), [
    ("AUX-TIMER-SPAWNED", ("AUX-UNSPAWNED", "timer_fire")),
    ("AUX-IO-SPAWNED", ("AUX-UNSPAWNED", "io_ready")),
    ("EX-TIMER-PARK", ("EX-PROGRESS", "every fair action")),
])
def test_each_auxiliary_invariant_of_the_driver_is_needed(
        removed: str, fails: tuple[str, str]) -> None:
    assume = tuple(i for i in rp.invariants_for(DRIVER) if i.id != removed)
    report = rp.prove_every_n(bounds=DRIVER, assume=assume, timeout_ms=QUICK)
    assert fails in _failed(report)


def test_termination_needs_the_clock_in_the_ranking(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the driver's loop term (the clock's distance to its bound), a tick decreases
    nothing the core's ranking counts."""
    monkeypatch.delattr(param_driver, "loop_rank")
    b = default_bounds(1, timers=1, join=0)
    report = rp.prove_every_n(bounds=b, timeout_ms=QUICK)
    assert ("EX-TERMINATES", "tick") in _failed(report)
    assert {q.prop for q in report.failed} == {"EX-TERMINATES"}


@pytest.mark.parametrize(("slug", "fails"), [
    ("jump-with-wake-in-flight", ("EX-CLOCK-JUMP", "clock_jump")),
    pytest.param("driver-only-when-idle", ("EX-TIMER-PROMPT", "poll"), marks=pytest.mark.slow),
    pytest.param("exit-with-timer-armed", ("EX-TIMER-RUN-END", "run_end"),
                 marks=pytest.mark.slow),
    pytest.param("cancelled-timer-armed", ("EX-TIMER-FINAL", "cancel(remote=0)"),
                 marks=pytest.mark.slow),
    pytest.param("timer-dropped-on-unpark", ("EX-TIMER-KEPT", "unpark"),
                 marks=pytest.mark.slow),
    pytest.param("exit-with-io-registered", ("EX-IO-RUN-END", "run_end"),
                 marks=pytest.mark.slow),
    pytest.param("io-park-on-condvar", ("EX-IO-PARK", "fd_ready"), marks=pytest.mark.slow),
    pytest.param("cancelled-io-registered", ("EX-IO-FINAL", "cancel(remote=0)"),
                 marks=pytest.mark.slow),
    pytest.param("wake-byte-unlocked", ("AUX-LOCK", "wake(remote=1)"), marks=pytest.mark.slow),
])
def test_a_driver_mutant_fails_the_proof_at_its_property(
        slug: str, fails: tuple[str, str]) -> None:
    spec = SPECS[slug]
    report = rp.prove_every_n(bounds=spec.bounds, edges=spec.edges, timeout_ms=QUICK)
    assert fails in _failed(report)
    assert "NOT proved" in report.summary()


def test_every_driver_mutant_is_covered() -> None:
    """Every mutant whose bounds use the driver or the policy is in the list above."""
    ours = {m.slug for m in MUTANT_SPECS
            if m.bounds.extra.get("timers") or m.bounds.extra.get("policy")}
    assert ours == {
        "jump-with-wake-in-flight", "driver-only-when-idle", "exit-with-timer-armed",
        "cancelled-timer-armed", "timer-dropped-on-unpark", "exit-with-io-registered",
        "io-park-on-condvar", "cancelled-io-registered", "wake-byte-unlocked"}


@pytest.mark.deep
@pytest.mark.parametrize("bounds", [ANY, DRIVER, DRIVER_ANY], ids=["any", "driver", "driver-any"])
def test_the_parts_agree_with_the_concrete_model(bounds: Any) -> None:
    report = rp.agreement((1, 2, 3), bounds=bounds)
    assert report.ok, report.failures


class _HeadOnlyBuilder(rp.ParamBuilder):
    """Wrong encoding: under the any policy poll still takes only the least timestamp."""

    def queued(self, s: View, o: Ops, t: Any) -> Any:
        return self.is_head(s, o, t)


class _HeadOnly(rp.ParamCore):
    builder_class = _HeadOnlyBuilder


def test_a_wrong_policy_encoding_disagrees_with_the_concrete_model() -> None:
    report = rp.agreement((1, 2), bounds=ANY, core_class=_HeadOnly)
    assert any(f.startswith("n=2: poll(") and "enabled" in f for f in report.failures)
    assert not any(f.startswith("n=1") for f in report.failures)  # one task: no choice


def test_the_policy_drops_the_order_properties_only() -> None:
    dropped = {p.id for p in rp.steps_for(DRIVER)} - {p.id for p in rp.steps_for(DRIVER_ANY)}
    assert dropped == PROMPTS | {"EX-FIFO"}
