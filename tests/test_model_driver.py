"""The driver in the model (issue 14 §3): the `driver` variant is proved, its mutants are caught
by both checkers, and instances without timers are exactly what they were."""

from __future__ import annotations

import pytest
from refexec.models import reference
from refexec.models.exhaustive import explore
from refexec.models.mutants import MUTANT_SPECS, MutantSpec, changed_edges
from refexec.models.properties import DRIVER_IDS
from refexec.models.variants import EXPECTED, build, witnesses_for
from refexec.models.verify import check_variant

DRIVER_MUTANTS = [m for m in MUTANT_SPECS if m.bounds.extra.get("timers")]

# The reference model's actions and variables before the driver existed (issue 14).
_OLD_ACTIONS = {
    "spawn", "spawner_new", "spawner_drop", "run_start", "inbox_drain", "poll", "pending",
    "ready", "wake", "wake_by_ref", "waker_clone", "waker_drop", "join", "cancel", "lost",
    "idle_check", "sleep", "unpark", "run_end", "step_return",
}
_OLD_VARS = {
    "st", "wakers", "polls", "done", "woken", "ended", "creq", "inbox", "join", "waited", "q",
    "qlen", "spawners", "loop", "lock", "signal", "blocked",
}


def test_instances_without_timers_are_unchanged() -> None:
    ts = build("reference")
    assert {v.name for v in ts.variables} == _OLD_VARS
    assert {a.name for a in ts.actions} == _OLD_ACTIONS
    assert not set(DRIVER_IDS) & {p.id for p in ts.properties}
    assert reference.build(reference.default_bounds(2, timers=0)).variables == ts.variables


def test_driver_instance_holds_every_property_exhaustively() -> None:
    ts = build("driver")
    assert {"clock", "deadline", "armed"} <= {v.name for v in ts.variables}
    res = explore(ts, witnesses=witnesses_for("driver"))
    assert res.complete
    assert [pid for pid, r in res.properties.items() if not r.holds] == []
    assert set(DRIVER_IDS) <= set(res.properties)
    assert res.never_fired == []
    assert [w for w, path in res.witnesses.items() if path is None] == []


def test_driver_is_proved_unbounded_with_termination() -> None:
    rep = check_variant("driver")
    assert rep.proved and rep.ok, rep.status_text()
    assert "AUX-TIMER" in rep.inductive
    assert rep.termination is not None and rep.termination.ok
    assert "timer arms" in rep.termination.assumption


@pytest.mark.parametrize("spec", DRIVER_MUTANTS, ids=lambda m: m.slug)
def test_driver_mutant_is_one_edge_and_caught_by_both_checkers(spec: MutantSpec) -> None:
    m = spec
    assert len(changed_edges(m.edges)) == 1
    name = f"mutant:{m.slug}"
    rep = check_variant(name)
    assert rep.caught and rep.ok, rep.status_text()
    for pid in m.catches:
        cell = rep.cells[pid]
        assert cell.exhaustive.status == "violated" and cell.symbolic.status == "violated"
        assert EXPECTED[name][pid] is False


def test_the_four_driver_bugs_have_mutants() -> None:
    assert {m.slug for m in DRIVER_MUTANTS} == {
        "driver-only-when-idle", "exit-with-timer-armed", "jump-with-wake-in-flight",
        "cancelled-timer-armed",
    }
