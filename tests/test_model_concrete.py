"""The concrete interpretation: the oracle the lockstep tests drive, step by step."""

from __future__ import annotations

import pytest
from refexec.models.concrete import ConcreteModel, DisabledAction, SortError
from refexec.models.mutants import MUTANT_SPECS, changed_edges
from refexec.models.reference import UNSPAWNED, Loop
from refexec.models.variants import MUTANTS, VARIANTS, build, default_bounds
from refexec.state import TRANSITIONS, TaskEvent, TaskState

S = TaskState


def ref() -> ConcreteModel:
    return ConcreteModel(build("reference"))


def test_initial_state_is_plain_values() -> None:
    m = ref()
    s = m.initial()
    assert s["st"] == (UNSPAWNED, UNSPAWNED)
    assert s["loop"] == Loop.NOT_STARTED
    assert all(isinstance(v, (bool, int, tuple)) for v in s.values())
    assert m.check(s) == []
    assert m.show(s).startswith("st=(UNSPAWNED,UNSPAWNED) wakers=(0,0)")


def test_wake_during_poll_leads_to_exactly_one_more_poll() -> None:
    m = ref()
    s = m.initial()
    s = m.step(s, "spawn", t=0, remote=0)
    assert s["st"][0] == S.SCHEDULED and s["q"][:1] == (0,) and s["qlen"] == 1
    s = m.step(s, "run_start")
    s = m.step(s, "poll", t=0)
    assert s["st"][0] == S.RUNNING and s["polls"][0] == 1 and s["qlen"] == 0
    s = m.step(s, "wake_by_ref", t=0, remote=0)
    assert s["st"][0] == S.NOTIFIED and s["qlen"] == 0
    s = m.step(s, "wake_by_ref", t=0, remote=0)  # merged
    assert s["st"][0] == S.NOTIFIED
    s = m.step(s, "pending", t=0)
    assert s["st"][0] == S.SCHEDULED and s["qlen"] == 1
    s = m.step(s, "poll", t=0)
    s = m.step(s, "ready", t=0)
    assert s["st"][0] == S.COMPLETE and s["polls"][0] == 2
    s = m.step(s, "idle_check")
    assert s["lock"]
    s = m.step(s, "run_end")
    assert s["loop"] == Loop.RETURNED and not s["lock"]
    assert m.check(s) == []


def test_step_rejects_disabled_actions() -> None:
    m = ref()
    s = m.initial()
    with pytest.raises(DisabledAction, match=r"poll\(t=0\) is not enabled"):
        m.step(s, "poll", t=0)
    with pytest.raises(DisabledAction):
        m.step(s, "spawn", t=1, remote=0)  # tasks are spawned in index order
    with pytest.raises(DisabledAction):
        m.step(s, "wake", t=0, remote=1)  # no waker of t0 exists
    with pytest.raises(TypeError, match="takes parameters"):
        m.step(s, "spawn", t=0)
    with pytest.raises(ValueError, match="outside"):
        m.step(s, "spawn", t=5, remote=0)
    with pytest.raises(KeyError):
        m.step(s, "no_such_action")


def test_cross_thread_wake_goes_through_the_inbox_and_signals_the_sleeper() -> None:
    m = ref()
    s = m.initial()
    for name, params in [
        ("spawn", {"t": 0, "remote": 0}), ("run_start", {}), ("poll", {"t": 0}),
        ("waker_clone", {"t": 0}), ("pending", {"t": 0}), ("idle_check", {}), ("sleep", {}),
    ]:
        s = m.step(s, name, **params)
    assert s["loop"] == Loop.ASLEEP and not s["lock"]
    with pytest.raises(DisabledAction):
        m.step(s, "run_end")
    s = m.step(s, "wake", t=0, remote=1)
    assert s["inbox"][0] == 1 and s["signal"] and s["st"][0] == S.IDLE
    s = m.step(s, "unpark")
    s = m.step(s, "inbox_drain", t=0)
    assert s["st"][0] == S.SCHEDULED and s["q"][0] == 0
    assert m.check(s) == []


def test_lost_task_is_reported_before_the_loop_decides() -> None:
    m = ref()
    s = m.initial()
    for name, params in [("spawn", {"t": 0, "remote": 0}), ("run_start", {}),
                         ("poll", {"t": 0}), ("pending", {"t": 0})]:
        s = m.step(s, name, **params)
    with pytest.raises(DisabledAction):
        m.step(s, "idle_check")
    s = m.step(s, "lost", t=0)
    assert s["st"][0] == TRANSITIONS[(S.IDLE, TaskEvent.LOST)] and s["ended"][0]


def test_step_properties_are_checked_on_transitions() -> None:
    m = ConcreteModel(build("mutant:complete-rescheduled"))
    s = m.initial()
    for name, params in [
        ("spawn", {"t": 0, "remote": 0}), ("run_start", {}), ("poll", {"t": 0}),
        ("waker_clone", {"t": 0}), ("ready", {"t": 0}), ("wake", {"t": 0, "remote": 1}),
        ("inbox_drain", {"t": 0}),
    ]:
        s = m.step(s, name, **params)
    nxt = m.step(s, "poll", t=0)
    assert m.check_step(s, nxt, "poll", {"t": 0}) == ["EX-FINAL"]


def test_sorts_are_enforced() -> None:
    m = ref()
    s = dict(m.initial())
    s["qlen"] = 99
    with pytest.raises(SortError, match="qlen"):
        m.check_sorts(s)


def test_every_mutant_changes_exactly_one_edge() -> None:
    assert len(MUTANTS) >= 10
    assert len({m.slug for m in MUTANT_SPECS}) == len(MUTANT_SPECS)
    for m in MUTANT_SPECS:
        changed = changed_edges(m.edges)
        assert len(changed) == 1, (m.slug, changed)
        if changed == ["table_override"]:
            assert len(m.edges.table_override) == 1


def test_registry_builds_every_variant() -> None:
    for name in VARIANTS:
        system = build(name)
        assert system.name == name
        assert system.bounds == default_bounds(name)
        ConcreteModel(system).initial()


def test_seed_frees_a_pending_task_without_a_waker_in_silence() -> None:
    m = ConcreteModel(build("seed"))
    s = m.initial()
    s = m.step(s, "spawn", remote=0)
    s = m.step(s, "run_start")
    (_poll, params), = [(a, p) for a, p in m.enabled(s) if a.name == "poll"]
    s = m.step(s, "poll", **params)
    (_pend, params), = [(a, p) for a, p in m.enabled(s) if a.name == "pending"]
    s = m.step(s, "pending", **params)
    assert s["lost"] == 1 and sum(s["cnt"]) == 0
    assert m.check(s) == ["EX-LOST-REPORTED"]
    s = m.step(s, "run_end")  # and run() returns as if all was well
    assert s["loop"] == Loop.RETURNED
