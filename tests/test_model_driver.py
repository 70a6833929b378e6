"""The driver in the model (issue 14 §3): timers, the clock and I/O readiness. The `driver`
variant is proved, its mutants are caught by both checkers, and instances without timers are
exactly what they were."""

from __future__ import annotations

import pytest
from core_support import ModelWalk
from refexec.models import reference
from refexec.models.exhaustive import explore
from refexec.models.mutants import MUTANT_SPECS, MutantSpec, changed_edges
from refexec.models.properties import DRIVER_IDS, IO_IDS
from refexec.models.reference import Io, Loop
from refexec.models.variants import EXPECTED, build, witnesses_for
from refexec.models.verify import check_variant
from refexec.state import TaskState

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
    assert {"clock", "deadline", "armed", "sleeping", "reg"} <= {v.name for v in ts.variables}
    res = explore(ts, witnesses=witnesses_for("driver"))
    assert res.complete
    assert [pid for pid, r in res.properties.items() if not r.holds] == []
    assert {*DRIVER_IDS, *IO_IDS} <= set(res.properties)
    assert res.never_fired == []
    assert [w for w, path in res.witnesses.items() if path is None] == []


def test_driver_is_proved_unbounded_with_termination() -> None:
    rep = check_variant("driver")
    assert rep.proved and rep.ok, rep.status_text()
    assert {"AUX-TIMER", "AUX-SLEEPING", "AUX-IO"} <= set(rep.inductive)
    for pid in ("EX-RUN-END", "EX-SLEEP-SAFE", *DRIVER_IDS, *IO_IDS):
        assert rep.cells[pid].symbolic.status == "proved", pid
    assert rep.termination is not None and rep.termination.ok
    assert "timer arms" in rep.termination.assumption
    assert "fd_ready is in the fair set" in rep.termination.assumption


@pytest.mark.parametrize("spec", DRIVER_MUTANTS, ids=lambda m: m.slug)
def test_driver_mutant_is_one_edge_and_caught_by_both_checkers(spec: MutantSpec) -> None:
    m = spec
    assert len(changed_edges(m.edges)) == 1
    name = f"mutant:{m.slug}"
    rep = check_variant(name)
    assert rep.caught and rep.ok, rep.status_text()
    for pid in m.catches:
        cell = rep.cells[pid]
        if cell.symbolic.status != "violated":  # BMC stopped at the first catch: ask for this one
            cell = check_variant(name, properties=[pid]).cells[pid]
        assert cell.exhaustive.status == "violated" and cell.symbolic.status == "violated"
        assert EXPECTED[name][pid] is False


def test_the_driver_bugs_have_mutants() -> None:
    assert {m.slug for m in DRIVER_MUTANTS} == {
        "driver-only-when-idle", "exit-with-timer-armed", "jump-with-wake-in-flight",
        "cancelled-timer-armed", "wake-byte-unlocked", "timer-dropped-on-unpark",
        "exit-with-io-registered", "io-park-on-condvar", "cancelled-io-registered",
    }
    io_catches = {pid for m in DRIVER_MUTANTS for pid in m.catches if pid in IO_IDS}
    assert io_catches == set(IO_IDS)  # every reactor property has a mutant that breaks it


def test_io_needs_the_timer_driver() -> None:
    with pytest.raises(ValueError, match="io = 1 needs timers = 1"):
        reference.build(reference.default_bounds(1, io=1))


class _Walk(ModelWalk):
    """The concrete reading of the driver variant, walked one named action at a time; every
    step is checked against every property."""

    def __init__(self) -> None:
        super().__init__(build("driver"))


def _registered() -> _Walk:
    """Task 0 was polled, armed a timer for 2 and registered its fd, and returned Pending."""
    w = _Walk().go("spawn", t=0, remote=0).go("run_start", mode=0).go("poll", t=0)
    return w.go("timer_arm", t=0, d=2).go("io_register", t=0).go("pending", t=0)


def test_a_read_with_a_timeout_parks_in_select_and_readiness_ends_the_park() -> None:
    """A task arms a timer and registers its fd, the loop parks; the fd becomes ready, which
    signals the park; the loop reports the readiness and wakes the task, whose timer stays
    armed (the timeout is still pending) until the task drops it."""
    w = _registered().go("idle_check")
    assert not w.can("run_end")
    w.go("sleep")
    assert w.s["loop"] == Loop.ASLEEP and not w.s["signal"]
    w.go("fd_ready", t=0)
    assert w.s["signal"] and w.s["reg"] == (Io.READY,)
    w.go("unpark")
    assert not w.can("poll", t=0) and not w.can("idle_check")  # readiness first
    w.go("io_ready", t=0)
    assert w.s["reg"] == (Io.NONE,) and w.s["armed"] == (True,) and w.s["qlen"] == 1
    w.go("poll", t=0).go("timer_cancel", t=0).go("ready", t=0).go("idle_check").go("run_end")
    assert w.s["loop"] == Loop.RETURNED


def test_readiness_while_deciding_is_served_not_slept_past() -> None:
    w = _registered().go("idle_check").go("fd_ready", t=0)
    assert not w.can("sleep") and w.can("park_due")
    w.go("park_due").go("io_ready", t=0)
    assert w.s["st"][0] == int(TaskState.SCHEDULED)


def test_a_cancel_takes_the_registration_and_the_timer_out() -> None:
    # JoinHandle.cancel() after step()
    w = _registered().go("step_return").go("cancel", t=0, remote=0)
    assert w.s["reg"] == (Io.NONE,) and w.s["armed"] == (False,)
    assert not w.s["sleeping"][0]
