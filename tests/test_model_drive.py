"""The drive calls as model state (bounds key ``drive``, spec/SPEC.md section 10): when step()
and run_until_stalled() may give the thread back, read concretely and through the mapping."""

from __future__ import annotations

from typing import Any

import pytest
from core_support import ModelWalk
from refexec import Context, Executor, FutureBase, Pending, Poll, Trace
from refexec.models.exhaustive import explore
from refexec.models.mutants import MUTANT_SPECS
from refexec.models.reference import Drive, Loop, build, default_bounds
from refexec.models.refinement import DRIVE_MODES, REFERENCE
from refexec.models.trace_check import check_trace
from refexec.models.variants import VARIANTS, expected_violations
from refexec.testing.refinement_reference import ReferenceRefinement
from refexec.testing.script import Event


class _Walk(ModelWalk):
    """One named action at a time on a 2-task instance with the drive calls and other threads;
    every step is checked against every property."""

    def __init__(self, **extra: int) -> None:
        super().__init__(build(default_bounds(2, join=0, rcancel=1, drive=1, **extra)))


def test_run_until_stalled_returns_only_once_the_inbox_is_drained() -> None:
    w = _Walk().go("spawn", t=0, remote=0).go("run_start", mode=Drive.UNTIL_STALLED)
    w.go("poll", t=0).go("waker_clone", t=0).go("pending", t=0)
    assert w.can("step_return")  # stalled: t0 waits on the waker another thread holds
    w.go("wake", t=0, remote=1)  # another thread's wake is posted
    assert not w.can("step_return") and not w.can("idle_check")
    w.go("inbox_drain", t=0)
    assert not w.can("step_return")  # t0 is queued: not stalled
    w.go("poll", t=0).go("ready", t=0)
    assert w.can("step_return")
    w.go("step_return")
    assert w.s["loop"] == Loop.NOT_STARTED and w.s["mode"] == Drive.RUN


def test_run_until_stalled_reports_a_lost_task_before_it_returns() -> None:
    w = _Walk().go("spawn", t=0, remote=0).go("run_start", mode=Drive.UNTIL_STALLED)
    w.go("poll", t=0).go("pending", t=0)  # no waker kept: t0 can never be woken
    assert not w.can("step_return")
    w.go("lost", t=0).go("step_return")


def test_step_polls_one_task_and_returns_none_only_when_none_is_ready() -> None:
    w = _Walk().go("spawn", t=0, remote=0).go("spawn", t=1, remote=0)
    w.go("run_start", mode=Drive.STEP)
    assert not w.can("step_return")  # two tasks ready: step() must poll one
    w.go("poll", t=0).go("pending", t=0)
    assert not w.can("poll", t=1)  # one poll per step()
    w.go("step_return").go("run_start", mode=Drive.STEP).go("poll", t=1)
    w.go("wake_by_ref", t=1, remote=0).go("pending", t=1)  # re-queued by its own wake
    assert not w.can("poll", t=1) and w.can("step_return")


def test_only_run_sleeps() -> None:
    for mode in (Drive.UNTIL_STALLED, Drive.STEP):
        w = _Walk().go("spawner_new").go("run_start", mode=mode)
        assert w.s["qlen"] == 0 and not w.can("idle_check") and w.can("step_return")
    w = _Walk().go("spawner_new").go("run_start", mode=Drive.RUN)
    assert w.can("idle_check")
    w.go("idle_check").go("sleep")


def test_a_run_may_give_the_thread_back_anywhere_between_polls() -> None:
    """run() interrupted: the free return of RUN."""
    w = _Walk().go("spawn", t=0, remote=0).go("spawn", t=1, remote=0)
    w.go("run_start", mode=Drive.RUN)
    assert w.can("step_return")


def test_block_on_returns_exactly_when_its_target_is_final() -> None:
    """EX-BLOCK-ON-RETURN: not while the target waits, whatever else is ready; at once when
    it completes; and it sleeps like run() while the target can still be woken."""
    w = _Walk().go("spawn", t=0, remote=0).go("spawn", t=1, remote=0)
    w.go("block_on_start", t=0)
    assert w.s["mode"] == Drive.BLOCK_ON and w.s["target"] == 0
    assert not w.can("step_return")  # t0 is queued, not final
    w.go("poll", t=0).go("waker_clone", t=0).go("pending", t=0)
    w.go("poll", t=1).go("ready", t=1)
    assert not w.can("step_return")  # the queue ran empty, but t0 waits
    w.go("idle_check").go("sleep")  # t0 can still be woken: sleeps like run()
    w.go("wake", t=0, remote=1).go("unpark").go("inbox_drain", t=0)
    w.go("poll", t=0).go("ready", t=0)
    assert w.can("step_return") and not w.can("idle_check")  # final: never decides again
    w.go("step_return")
    assert w.s["mode"] == Drive.RUN and w.s["target"] == 2


def test_block_on_returns_once_its_target_is_cancelled_or_reported_lost() -> None:
    w = _Walk().go("spawn", t=0, remote=0).go("block_on_start", t=0)
    w.go("poll", t=0).go("pending", t=0)  # no waker kept: lost
    assert not w.can("step_return") and not w.can("idle_check")
    w.go("lost", t=0).go("step_return")
    w = _Walk().go("spawn", t=0, remote=0).go("block_on_start", t=0)
    w.go("poll", t=0).go("waker_clone", t=0).go("pending", t=0)
    w.go("cancel", t=0, remote=1).go("cancel_drain", t=0).go("step_return")


def test_block_on_starts_no_new_round_once_its_target_is_final() -> None:
    w = _Walk(round=1).go("spawn", t=0, remote=0).go("spawn", t=1, remote=0)
    w.go("block_on_start", t=0).go("poll", t=0).go("ready", t=0)
    assert not w.can("poll", t=1)  # the round is full (R = 1)
    w.go("round_end")
    assert not w.can("poll", t=1) and w.can("step_return")  # no new round: it returns


def test_block_on_of_an_unspawned_task_is_not_a_drive_call() -> None:
    assert not _Walk().can("block_on_start", t=0)


@pytest.mark.parametrize("slug", ["stalled-returns-early", "step-polls-twice",
                                  "stalled-sleeps", "block-on-returns-early"])
def test_drive_mutants_violate_what_they_claim_and_nothing_else(slug: str) -> None:
    spec = next(m for m in MUTANT_SPECS if m.slug == slug)
    result = explore(VARIANTS[f"mutant:{slug}"](spec.bounds))
    assert result.complete
    assert sorted(result.violated()) == sorted(expected_violations(f"mutant:{slug}"))
    assert set(spec.catches) <= set(result.violated())


@pytest.mark.slow
def test_the_reference_with_drive_calls_keeps_every_property() -> None:
    result = explore(build(default_bounds(2, join=0, drive=1)))
    assert result.complete and result.violated() == [] and result.never_fired == []


def test_the_mapping_names_each_drive_call_once() -> None:
    assert REFERENCE.log_steps("run_start", False) == [[("run_start", {"mode": Drive.RUN})]]
    assert REFERENCE.log_steps("stalled_start", False) == [
        [("run_start", {"mode": Drive.UNTIL_STALLED})]]
    assert REFERENCE.log_steps("step_start", False) == [[("run_start", {"mode": Drive.STEP})]]
    assert REFERENCE.log_steps("block_on_start", False) == [[("block_on_start", {})]]
    keyed = ReferenceRefinement(build(default_bounds(2, drive=1)))
    assert keyed.steps(Event("block_on_start", 1), {}) == [("block_on_start", {"t": 1})]
    assert DRIVE_MODES == {"run": Drive.RUN, "block_on": Drive.RUN,
                           "run_until_stalled": Drive.UNTIL_STALLED, "step": Drive.STEP}


def test_an_instance_without_the_key_reads_every_drive_call_as_before() -> None:
    plain = ReferenceRefinement(build(default_bounds(1)))
    keyed = ReferenceRefinement(build(default_bounds(1, drive=1)))
    s: Any = {"join": (1,), "st": (0,), "creq": (False,)}
    for kind in ("run_start", "stalled_start", "step_start"):
        assert plain.steps(Event(kind, -1), s) == [("run_start", {})]
    assert keyed.steps(Event("stalled_start", -1), s) == [
        ("run_start", {"mode": Drive.UNTIL_STALLED})]


# -- the trace checker reads the drive call from run_start's detail ----------------------------


class _Forgotten(FutureBase[None]):
    """Pending at its first poll without keeping a waker: lost (no waker can ever wake it)."""

    def poll(self, cx: Context) -> Poll[None]:
        return Pending


def _stalled_trace() -> Trace:
    tr = Trace()
    ex = Executor(trace=tr)
    ex.spawn(_Forgotten())
    report = ex.run_until_stalled()
    assert len(report.lost) == 1
    return tr


def test_a_run_until_stalled_that_reaps_its_lost_task_is_a_valid_trace() -> None:
    r = check_trace(_stalled_trace())
    assert r.ok, r.report()


def test_a_run_until_stalled_that_returns_with_a_lost_task_unreported_is_rejected() -> None:
    """The trace checker's model knows run_until_stalled() must report the lost task before it
    returns (EX-STALLED-EXACT); the same events read as a block_on() (free return) pass."""
    events = [e for e in _stalled_trace() if e.event != "lost"]
    r = check_trace(events)
    assert not r.ok and r.violation is not None
    assert events[r.violation.index].event == "run_end", r.report()
    as_block_on = [e._replace(detail="block_on") if e.event == "run_start" else e
                   for e in events]
    assert check_trace(as_block_on).ok
