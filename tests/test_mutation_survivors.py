"""Tests for the mutants of ``refexec.executor`` that survived the core tests (mutation/RESULTS.md).

Each test is named after the race or rule it pins down and says which mutant it kills. Mutants
judged equivalent (no behaviour can tell them apart) are listed in RESULTS.md, not here.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
from collections.abc import Callable, Generator
from typing import Any

import pytest
from refexec import (
    Cancelled,
    Context,
    Executor,
    FutureBase,
    JoinHandle,
    Pending,
    Poll,
    Ready,
    Stats,
    TaskLost,
    TaskState,
    Trace,
    Waker,
    WakerError,
    yield_now,
)
from refexec.models.trace_check import check_trace
from refexec.testing.threads_control import control_door, explore

BOUND = 5.0  # seconds: stall_timeout that turns a lost wake-up into a failure, not a hang


class TwoClones(FutureBase[str]):
    """Poll 1: keep two clones of the waker, Pending. Poll 2: Pending, keeping nothing new.
    Poll 3: Ready."""

    def __init__(self, slot: list[Waker]) -> None:
        self.slot = slot
        self.polls = 0

    def poll(self, cx: Context) -> Poll[str]:
        self.polls += 1
        if self.polls == 1:
            self.slot.extend([cx.waker.clone(), cx.waker.clone()])
            return Pending
        if self.polls == 2:
            return Pending
        return Ready("done")


class KeepTwoThenReady(FutureBase[str]):
    """Poll 1: keep two clones of the waker, Pending. Poll 2: Ready."""

    def __init__(self, slot: list[Waker]) -> None:
        self.slot = slot
        self.polled = False

    def poll(self, cx: Context) -> Poll[str]:
        if self.polled:
            return Ready("done")
        self.polled = True
        self.slot.extend([cx.waker.clone(), cx.waker.clone()])
        return Pending


def test_wake_consumes_exactly_one_waker_handle() -> None:
    """Kills ``t._wakers -= 2`` in ``Executor._wake``: after one of two handles is consumed by
    ``wake()``, the other still keeps the task wakeable, so it is not reported lost."""
    slot: list[Waker] = []
    ex = Executor()
    h = ex.spawn(TwoClones(slot))

    async def waker() -> None:
        slot.pop(0).wake()

    ex.spawn(waker())
    ex.run_until_stalled()  # reaps tasks with no live waker: ours has one left
    assert not h.done()
    slot.pop().wake()  # from outside the loop: posted, taken in by run()
    ex.run(stall_timeout=BOUND)
    assert h.result() == "done"
    ex.check_invariants()


def test_cross_thread_drop_of_one_of_two_wakers_keeps_the_task_wakeable() -> None:
    """A drop posted by another thread decrements the live-waker count by one: the task, still
    holding a handle, is woken by it later instead of being reported lost. In every
    interleaving of the other thread with the loop (controlled: deterministic)."""

    def scenario(ctl: Any) -> None:
        slot: list[Waker] = []
        ex = control_door(Executor())
        h = ex.spawn(KeepTwoThenReady(slot))
        ex.run_until_stalled()

        def other() -> None:
            slot.pop(0).drop()
            slot.pop().wake()

        with ctl.attached("loop"):
            ctl.start("other", other)
            ex.run()
        assert h.result() == "done"

    assert explore(scenario, preemptions=2).complete


def test_closing_the_last_spawner_on_another_thread_wakes_the_sleeping_loop() -> None:
    """Kills ``if not self._sleeping: notify`` in ``_spawner_closed``: the loop sleeps because a
    Spawner lives; closing it on another thread must wake the loop so that run() returns. The
    mutant's loop sleeps with nobody left to wake it: under the controller that is a deadlock
    of the managed threads, a state, found in the interleaving where the close comes after the
    park (no timer decides it)."""

    def scenario(ctl: Any) -> None:
        ex = control_door(Executor())
        sp = ex.spawner()
        with ctl.attached("loop"):
            ctl.start("closer", sp.close)
            report = ex.run()
        assert report.lost == () and ex.snapshot().spawners == 0

    assert explore(scenario, preemptions=2).complete


def test_a_spawner_freed_without_close_releases_run() -> None:
    """Kills the inverted ``if not self._closed`` in ``Spawner.__del__``: a Spawner that is
    simply dropped is closed when Python frees it, as a Rust sender is at the end of scope."""
    ex = Executor()
    sp = ex.spawner()
    assert ex.snapshot().spawners == 1
    del sp
    assert ex.snapshot().spawners == 0
    ex.run(stall_timeout=BOUND)


class _BadYield:
    def __await__(self) -> Generator[Any, None, None]:
        yield 42  # not something refexec can drive


def test_a_task_that_recovers_from_a_bad_yield_keeps_running() -> None:
    """Kills ``and`` -> ``or`` in ``_bad_yield``: the TypeError is thrown into the coroutine
    once; a coroutine that handles it and then yields properly goes on normally."""

    async def main() -> str:
        with contextlib.suppress(TypeError):
            await _BadYield()
        await yield_now()
        return "recovered"

    ex = Executor()
    h = ex.spawn(main())
    ex.run()
    assert h.result() == "recovered"


def test_check_invariants_catches_a_negative_spawner_count() -> None:
    """Kills ``_spawners >= -1``: the checker the lockstep tests rely on must be able to fail."""
    ex = Executor()
    ex._spawners = -1
    with pytest.raises(AssertionError, match="live spawners"):
        ex.check_invariants()


def test_check_invariants_catches_a_task_queued_twice() -> None:
    ex = Executor()
    h = ex.spawn(yield_now())
    ex._ready.append(h)
    with pytest.raises(AssertionError, match="queued twice"):
        ex.check_invariants()
    ex._ready.pop()
    ex.run()


def test_stats_start_at_zero_and_are_immutable() -> None:
    """Kills the changed field defaults and ``frozen=False`` of ``Stats``."""
    s = Stats()
    assert all(getattr(s, f.name) == 0 for f in dataclasses.fields(s))
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.polls = 1  # type: ignore[misc]
    assert Executor().stats == Stats()


def test_closed_is_a_property() -> None:
    """Kills the removed ``@property`` on ``Executor.closed``."""
    ex = Executor()
    assert ex.closed is False
    ex.close()
    assert ex.closed is True


# -- second batch: waker counting on every path, joins, the context cache, close ----------------


class Park(FutureBase[None]):
    """Pending once, keeping one clone of the waker in ``slot``; Ready when polled again."""

    def __init__(self, slot: list[Waker]) -> None:
        self.slot = slot
        self.polled = False

    def poll(self, cx: Context) -> Poll[None]:
        if self.polled:
            return Ready(None)
        self.polled = True
        self.slot.append(cx.waker.clone())
        return Pending


def test_dropping_the_only_waker_on_the_loop_thread_makes_the_task_lost() -> None:
    """Kills ``t._wakers -= 0`` in the waker vtable's drop: the drop ends the last handle, so
    run() reports the task lost instead of waiting for ever."""
    slot: list[Waker] = []
    ex = Executor()

    async def sleeper() -> None:
        await Park(slot)

    async def dropper() -> None:
        slot.pop().drop()

    h = ex.spawn(sleeper())
    ex.spawn(dropper())
    report = ex.run(stall_timeout=BOUND)
    assert h in report.lost


def test_a_clone_posted_from_outside_the_loop_keeps_the_task_alive() -> None:
    """Kills ``t._wakers += 0`` for a posted clone: clone-then-drop of the original, done while
    no loop runs, leaves one live handle, which later wakes the task."""
    slot: list[Waker] = []
    ex = Executor()

    async def sleeper() -> str:
        await Park(slot)
        return "woken"

    h = ex.spawn(sleeper())
    ex.run_until_stalled()
    w2 = slot[0].clone()
    slot.pop().drop()
    ex.run_until_stalled()  # takes both messages in: the count must stay at 1
    assert not h.done()
    w2.wake()
    ex.run(stall_timeout=BOUND)
    assert h.result() == "woken"


def test_a_posted_wake_by_ref_does_not_consume_the_handle() -> None:
    """Kills ``_wake(t, True, ...)`` for a posted wake_by_ref: the handle survives the wake, so
    the task that returns Pending again without a new clone is still wakeable."""
    slot: list[Waker] = []
    ex = Executor()
    polls = [0]

    class Twice(FutureBase[str]):
        def poll(self, cx: Context) -> Poll[str]:
            polls[0] += 1
            if polls[0] == 1:
                slot.append(cx.waker.clone())
            return Ready("done") if polls[0] == 3 else Pending

    h = ex.spawn(Twice())
    ex.run_until_stalled()
    slot[0].wake_by_ref()  # posted (no loop runs)
    ex.run_until_stalled()
    assert polls[0] == 2 and not h.done()
    slot.pop().wake()
    ex.run(stall_timeout=BOUND)
    assert h.result() == "done"


def test_two_tasks_awaiting_the_same_handle_are_both_woken() -> None:
    """Kills the inverted ``not any(v.will_wake(w) ...)`` when registering join waiters."""
    ex = Executor()
    slot: list[Waker] = []

    async def target() -> int:
        await Park(slot)
        return 5

    t = ex.spawn(target())

    async def waiter() -> int:
        return await t

    a, b = ex.spawn(waiter()), ex.spawn(waiter())

    async def release() -> None:
        await yield_now()
        slot.pop().wake()

    ex.spawn(release())
    ex.run(stall_timeout=BOUND)
    assert (a.result(), b.result()) == (5, 5)


def test_a_task_uses_its_context_waker_again_on_a_later_poll() -> None:
    """Kills the inverted poll-number test of the cached Context: a task that clones its waker
    on its first and on its second poll gets a live context each time."""
    slot: list[Waker] = []
    ex = Executor()

    async def twice() -> str:
        await Park(slot)
        await Park(slot)
        return "done"

    async def waker() -> None:
        while True:
            if slot:
                slot.pop().wake()
            await yield_now()
            if h.done():
                return

    h = ex.spawn(twice())
    ex.spawn(waker())
    ex.run(stall_timeout=BOUND)
    assert h.result() == "done"


def test_close_cancels_unfinished_tasks_it_does_not_lose_them() -> None:
    """Kills ``lost=True`` in ``close()``: tasks left at close are cancelled, not lost."""
    slot: list[Waker] = []
    ex = Executor()

    async def sleeper() -> None:
        await Park(slot)

    h = ex.spawn(sleeper())
    ex.run_until_stalled()
    ex.close()
    s = ex.stats
    assert (s.cancelled, s.tasks_lost) == (1, 0)
    assert h.cancelled()


def test_spawn_from_another_thread_wakes_the_sleeping_loop() -> None:
    """Kills ``if not self._sleeping: notify`` in the thread-safe spawn: the task runs while
    the spawner is still open (the loop was asleep), not only when the spawner closes. The
    other thread closes the spawner only once the job ran (``block_until``: a state), so the
    mutant's loop, asleep, never hears of the job: a deadlock, in the interleaving where the
    spawn comes after the park."""

    def scenario(ctl: Any) -> None:
        ex = control_door(Executor())
        sp = ex.spawner()
        ran: list[bool] = []

        async def job() -> None:
            ran.append(True)

        def other() -> None:
            sp.spawn(job())
            ctl.block_until(lambda: bool(ran), "the job ran")
            sp.close()

        with ctl.attached("loop"):
            ctl.start("other", other)
            ex.run()
        assert ran == [True]

    assert explore(scenario, preemptions=2).complete


def test_a_poll_based_future_spawned_from_another_thread_runs() -> None:
    """Kills the inverted coroutine test in the thread-safe spawn (a FutureBase, not a
    coroutine, must be wrapped)."""
    ex = Executor()
    sp = ex.spawner()
    handles: list[Any] = []

    class Now(FutureBase[int]):
        def poll(self, cx: Context) -> Poll[int]:
            return Ready(3)

    def other() -> None:
        handles.append(sp.spawn(Now()))
        sp.close()

    th = threading.Thread(target=other)
    th.start()
    ex.run(stall_timeout=BOUND)
    th.join()
    assert handles[0].result() == 3


def test_yields_are_counted_as_wakes_during_poll() -> None:
    """Kills ``yields += 0``: each ``yield_now`` is one wake (during the poll)."""
    ex = Executor()

    async def main() -> None:
        for _ in range(3):
            await yield_now()

    ex.spawn(main())
    ex.run()
    s = ex.stats
    assert (s.wakes, s.wakes_during_poll, s.polls) == (3, 3, 4)
    ex.check_invariants()


def _shift_idle_key(ex: Executor, h: JoinHandle[Any], by: int) -> None:
    ex._idle[h._id + by] = ex._idle.pop(h._id)


def _bump(obj: object, name: str, by: int) -> None:
    setattr(obj, name, getattr(obj, name) + by)


_Corruption = tuple[Callable[[Executor, JoinHandle[Any], JoinHandle[Any]], None],
                    Callable[[Executor, JoinHandle[Any], JoinHandle[Any]], None]]
_CORRUPTIONS: dict[str, _Corruption] = {
    "not_scheduled": (lambda ex, h, q: setattr(q, "_state", TaskState.IDLE),
                      lambda ex, h, q: setattr(q, "_state", TaskState.SCHEDULED)),
    "idle_key": (lambda ex, h, q: _shift_idle_key(ex, h, 100),
                 lambda ex, h, q: ex._idle.__setitem__(h._id, ex._idle.pop(h._id + 100))),
    "idle_key_below_id": (lambda ex, h, q: _shift_idle_key(ex, h, -1),
                          lambda ex, h, q: ex._idle.__setitem__(h._id, ex._idle.pop(h._id - 1))),
    # a spawn not accounted for
    "counters": (lambda ex, h, q: _bump(ex, "_spawned", 1),
                 lambda ex, h, q: _bump(ex, "_spawned", -1)),
    "wake_split": (lambda ex, h, q: _bump(ex._c, "wakes", 1),
                   lambda ex, h, q: _bump(ex._c, "wakes", -1)),
    # the split adds up to more than the wakes
    "wake_split_too_big": (lambda ex, h, q: _bump(ex._c, "wakes_enqueued", 1),
                           lambda ex, h, q: _bump(ex._c, "wakes_enqueued", -1)),
    "asleep_not_running": (lambda ex, h, q: setattr(ex, "_sleeping", True),
                           lambda ex, h, q: setattr(ex, "_sleeping", False)),
    "few_polls": (lambda ex, h, q: _bump(ex._c, "polls", -1),
                  lambda ex, h, q: _bump(ex._c, "polls", 1)),
}


@pytest.mark.parametrize("corruption", sorted(_CORRUPTIONS))
def test_check_invariants_catches_each_corruption(corruption: str) -> None:
    """Kills the weakened checks of ``check_invariants`` (loops that check nothing, ``==`` to
    ``>=``/``<=``/``or``, ``t._id >= i``, ``_loop_ident is None``, the skipped polls check):
    each corrupted state must be reported, and the state restored must pass again."""
    slot: list[Waker] = []
    ex = Executor()

    async def sleeper() -> None:
        await Park(slot)

    h = ex.spawn(sleeper())
    ex.run_until_stalled()  # h is IDLE with one live waker, polled once
    queued = ex.spawn(yield_now())
    ex.check_invariants()
    corrupt, undo = _CORRUPTIONS[corruption]
    corrupt(ex, h, queued)
    with pytest.raises(AssertionError, match="invariant violated"):
        ex.check_invariants()
    undo(ex, h, queued)
    ex.check_invariants()
    slot.pop().wake()
    ex.run()


def test_a_merged_wake_is_counted_in_the_wake_split() -> None:
    """Kills ``+`` -> ``-`` in the counting rule wakes == enqueued + merged + during + ignored:
    a second wake of a queued task is merged, and the split must add up."""
    slot: list[Waker] = []
    ex = Executor()

    async def sleeper() -> None:
        await Park(slot)

    async def waker() -> None:
        slot[0].wake_by_ref()  # IDLE -> SCHEDULED: enqueued
        slot[0].wake_by_ref()  # already SCHEDULED: merged
        slot.pop().drop()

    ex.spawn(sleeper())
    ex.spawn(waker())
    ex.run()
    s = ex.stats
    assert (s.wakes, s.wakes_enqueued, s.wakes_merged) == (2, 1, 1)
    ex.check_invariants()


# -- third batch: the real gaps left by the 2026-11-26 run (mutation/RESULTS.md) ---------------


class KeepOnce(FutureBase[None]):
    """Poll 1: keep one clone of the waker in ``slot``. Every later poll: Pending, keeping
    nothing (so once that clone is used up, nothing can wake the task again)."""

    def __init__(self, slot: list[Waker]) -> None:
        self.slot = slot
        self.polls = 0

    def poll(self, cx: Context) -> Poll[None]:
        self.polls += 1
        if self.polls == 1:
            self.slot.append(cx.waker.clone())
        return Pending


class NeverWakeable(FutureBase[None]):
    """Always Pending and keeps no waker: a task awaiting it is lost after its first poll."""

    def poll(self, cx: Context) -> Poll[None]:
        return Pending


class WakeSelfThenReady(FutureBase[None]):
    """Wakes its own task and returns Ready: the task stays NOTIFIED for the rest of the poll."""

    def poll(self, cx: Context) -> Poll[None]:
        cx.waker.wake_by_ref()
        return Ready(None)


def test_a_wake_on_the_loop_thread_uses_up_the_last_handle() -> None:
    """Kills ``t._wakers -= 0`` in ``_wake``: ``wake()`` ends its handle, so a task woken through
    its only handle that returns Pending without a new clone is reported lost."""
    slot: list[Waker] = []
    ex = Executor()
    h = ex.spawn(KeepOnce(slot))

    async def waker() -> None:
        slot.pop().wake()

    ex.spawn(waker())
    report = ex.run_until_stalled()
    assert report.lost == (h,)
    assert h.poll_count == 2
    with pytest.raises(TaskLost):
        h.result()


def test_a_wake_posted_while_no_loop_runs_uses_up_the_last_handle() -> None:
    """Kills ``_wake(t, False, "inbox")`` for a posted ``wake()``: taken in from the inbox, the
    wake still ends its handle, so the task is lost after its next Pending."""
    slot: list[Waker] = []
    ex = Executor()
    h = ex.spawn(KeepOnce(slot))
    ex.run_until_stalled()
    slot.pop().wake()  # no loop runs: posted
    report = ex.run_until_stalled()
    assert report.lost == (h,)
    assert h.poll_count == 2


def test_dropping_one_of_two_handles_on_the_loop_thread_keeps_the_task_wakeable() -> None:
    """Kills ``t._wakers -= 2`` in the waker vtable's drop: one drop ends one handle; the task,
    still holding the other, is not reported lost and is woken by it later."""
    slot: list[Waker] = []
    ex = Executor()
    h = ex.spawn(KeepTwoThenReady(slot))

    async def dropper() -> None:
        slot.pop().drop()

    ex.spawn(dropper())
    assert ex.run_until_stalled().lost == ()
    assert not h.done()
    slot.pop().wake()
    ex.run(stall_timeout=BOUND)
    assert h.result() == "done"


def test_a_posted_clone_and_the_drop_of_both_handles_make_the_task_lost() -> None:
    """Kills ``t._wakers += 2`` for a posted clone: clone, then drop of both handles, all while
    no loop runs, leaves no live handle, so the task is reported lost."""
    slot: list[Waker] = []
    ex = Executor()
    h = ex.spawn(Park(slot))
    ex.run_until_stalled()
    w2 = slot[0].clone()
    slot.pop().drop()
    w2.drop()
    assert ex.run_until_stalled().lost == (h,)


def test_a_task_spawned_from_outside_the_loop_starts_with_no_poll_and_no_waker() -> None:
    """Kills the start values ``_n``/``_wakers`` +-1 of the thread-safe spawn: such a task is
    lost only if it keeps no waker, and counts exactly the polls it had."""
    slot: list[Waker] = []
    ex = Executor()
    with ex.spawner() as sp:  # no loop runs: both spawns go through the inbox
        keeper = sp.spawn(Park(slot))
        forgetter = sp.spawn(NeverWakeable())
    assert (keeper.state, keeper.poll_count) == (None, 0)
    report = ex.run_until_stalled()
    assert report.lost == (forgetter,)
    assert (keeper.state, keeper.poll_count, forgetter.poll_count) == (TaskState.IDLE, 1, 1)
    slot.pop().wake()
    ex.run(stall_timeout=BOUND)
    assert keeper.result() is None
    assert keeper.poll_count == 2


def test_a_spawn_not_yet_taken_in_shares_no_id_with_an_accepted_task() -> None:
    """Kills ``t._id = 1`` in the thread-safe spawn: ids are unique within an executor, so a
    handle the loop has not numbered yet must not carry the id of task 1."""
    ex = Executor()
    first = ex.spawn(yield_now())
    with ex.spawner() as sp:
        later = sp.spawn(yield_now())
    assert later.state is None
    assert later.id != first.id
    ex.run()
    assert (first.id, later.id) == (1, 2)


def test_trace_events_without_a_poll_carry_poll_0() -> None:
    """Kills the poll field +-1 of the inbox ``spawn``, ``run_start`` and ``run_end`` events:
    the trace checker (``refexec check-trace``) rejects any other value."""
    tr = Trace()
    ex = Executor(trace=tr)
    with ex.spawner() as sp:
        sp.spawn(yield_now())
    ex.run()
    marks = [(e.event, e.task, e.poll, e.detail) for e in tr
             if e.event in ("spawn", "run_start", "run_end")]
    assert marks == [
        ("run_start", None, 0, "run"),
        ("spawn", 1, 0, "inbox"),
        ("run_end", None, 0, "done"),
    ]
    assert check_trace(tr).ok


def test_a_poll_based_future_can_poll_a_join_handle() -> None:
    """Kills the mutated test of ``JoinHandle.poll``: polled before the task ends it is Pending
    (and registers the waker), polled after it is ``Ready(result)``."""
    slot: list[Waker] = []
    ex = Executor()

    async def target() -> int:
        await Park(slot)
        return 7

    t = ex.spawn(target())
    seen: list[Poll[int]] = []

    class PollHandle(FutureBase[int]):
        def poll(self, cx: Context) -> Poll[int]:
            r = t.poll(cx)
            seen.append(r)
            return r

    o = ex.spawn(PollHandle())
    ex.run_until_stalled()
    assert seen == [Pending]
    assert not o.done()
    slot.pop().wake()
    ex.run_until_stalled()  # t ends, which wakes o, whose second poll is Ready
    assert seen == [Pending, Ready(7)]
    assert o.result() == 7


def test_a_borrowed_context_waker_expires_with_its_poll() -> None:
    """Kills ``==`` -> ``>=`` and ``and`` -> ``or`` in ``_TaskContext._is_live``: ``cx.waker``
    kept past its poll raises WakerError after that poll and during a later one; a clone works."""
    kept: list[Waker] = []
    during_later_poll: list[str] = []

    class KeepBorrowed(FutureBase[None]):
        def __init__(self) -> None:
            self.polls = 0

        def poll(self, cx: Context) -> Poll[None]:
            self.polls += 1
            if self.polls == 1:
                kept.extend([cx.waker, cx.waker.clone()])
                return Pending
            if self.polls == 2:
                try:
                    kept[0].wake_by_ref()
                except WakerError:
                    during_later_poll.append("expired")
                kept[1].wake_by_ref()
                return Pending
            return Ready(None)

    ex = Executor()
    h = ex.spawn(KeepBorrowed())
    ex.run_until_stalled()
    with pytest.raises(WakerError):
        kept[0].wake_by_ref()  # after its poll
    kept[1].wake_by_ref()
    ex.run_until_stalled()
    assert during_later_poll == ["expired"]
    kept.pop().drop()
    assert h.done()
    assert h.result() is None


@pytest.mark.parametrize("notified", [False, True], ids=["running", "notified"])
def test_a_task_that_cancels_itself_is_cancelled_when_its_poll_returns_pending(
    notified: bool,
) -> None:
    """Kills ``is NOTIFIED`` -> ``is not`` in ``_cancel`` and the ``t is polled`` and
    ``_polled`` tests of ``check_invariants``: a self-cancel while RUNNING or NOTIFIED is
    deferred (a legal state the checker accepts) and applied when the poll returns Pending."""
    ex = Executor()
    me: list[Any] = []
    seen: list[Any] = []

    async def selfish() -> str:
        if notified:
            await WakeSelfThenReady()
        seen.append(me[0].state)
        seen.append(me[0].cancel())
        ex.check_invariants()
        seen.append(ex.snapshot().task(me[0].id).cancel_requested)
        await yield_now()
        return "not cancelled"

    me.append(ex.spawn(selfish()))
    ex.run()
    assert seen == [TaskState.NOTIFIED if notified else TaskState.RUNNING, True, True]
    assert me[0].cancelled()
    with pytest.raises(Cancelled):
        me[0].result()
    ex.check_invariants()


def test_cancelling_a_task_whose_finally_awaits_keeps_the_error_as_the_cause() -> None:
    """Kills the narrowed ``except`` around ``coro.close()`` in ``_drop_future``: ``cancel()``
    returns normally and the RuntimeError of the awaiting ``finally`` is the Cancelled's
    ``__cause__``."""
    slot: list[Waker] = []
    ex = Executor()

    async def stubborn() -> None:
        try:
            await Park(slot)
        finally:
            await yield_now()  # a coroutine being closed cannot await: RuntimeError

    h = ex.spawn(stubborn())
    ex.run_until_stalled()
    assert h.cancel() is True
    assert h.cancelled()
    exc = h.exception()
    assert isinstance(exc, Cancelled)
    assert isinstance(exc.__cause__, RuntimeError)
    slot.pop().drop()
    ex.run(stall_timeout=BOUND)
    assert ex.stats.cancelled == 1


def test_block_on_of_a_non_awaitable_raises_type_error_and_leaves_the_executor_usable() -> None:
    """Kills the narrowed ``except`` in ``block_on``: when spawning fails, the executor still
    leaves the running state, so it can be driven again."""
    ex = Executor()
    with pytest.raises(TypeError):
        ex.block_on(42)  # type: ignore[arg-type]
    assert not ex.snapshot().running
    assert ex.block_on(yield_now()) is None


def test_block_on_of_its_own_handle_spawns_no_extra_task() -> None:
    """Kills ``aw._executor is not self`` in ``block_on``: a handle of this executor is driven
    as it is, not wrapped in a new task."""
    ex = Executor()

    async def three() -> int:
        return 3

    h = ex.spawn(three())
    assert ex.block_on(h) == 3
    assert ex.stats.spawned == 1


def test_a_cancel_from_a_thread_that_is_not_the_loops_is_applied_by_the_loop() -> None:
    """Kills ``li != _get_ident()`` -> ``>`` in ``cancel()``: whichever thread id is larger, a
    cancel from another thread is posted (the task is untouched while the loop is busy) and
    applied on the loop thread, where the task's ``finally`` runs."""
    errors: list[BaseException] = []

    class Case:
        """One executor whose loop is blocked inside a poll while another thread cancels."""

        def __init__(self) -> None:
            self.ex = Executor()
            self.slot: list[Waker] = []
            self.loop_thread: list[int] = []
            self.finally_thread: list[int] = []
            self.in_poll = threading.Event()
            self.cancel_done = threading.Event()
            self.seen: list[Any] = []

            async def victim() -> None:
                try:
                    await Park(self.slot)
                finally:
                    self.finally_thread.append(threading.get_ident())

            async def holder() -> None:
                self.loop_thread.append(threading.get_ident())
                self.in_poll.set()
                self.cancel_done.wait(BOUND)  # the loop stays in this poll meanwhile

            self.victim = self.ex.spawn(victim())
            self.ex.spawn(holder())

        def run_loop(self) -> None:
            try:
                self.ex.run(stall_timeout=BOUND)
            except BaseException as e:
                errors.append(e)

        def cancel(self) -> None:
            try:
                assert self.in_poll.wait(BOUND)
                self.seen.append(self.victim.cancel())
                self.seen.append(self.victim.state)  # posted: not applied yet
            except BaseException as e:
                errors.append(e)
            finally:
                self.cancel_done.set()

    loop_here, loop_there = Case(), Case()

    def worker() -> None:  # one worker thread plays both roles, so one case has li < caller
        loop_here.cancel()
        loop_there.run_loop()

    th = threading.Thread(target=worker)
    th.start()
    loop_here.run_loop()
    loop_there.cancel()
    th.join()
    assert errors == []
    for case in (loop_here, loop_there):
        assert case.seen == [True, TaskState.IDLE]
        assert case.victim.cancelled()
        assert case.finally_thread == case.loop_thread
        case.slot.pop().drop()


def test_a_task_that_keeps_yielding_does_not_starve_a_spawn_from_another_thread() -> None:
    """Kills ``if not inbox`` after a round of polls in ``_drive``: while a task keeps
    yielding, the inbox is still taken in between rounds, so a spawn posted meanwhile runs."""
    ex = Executor()
    sp = ex.spawner()
    flag: list[bool] = []

    async def setter() -> None:
        flag.append(True)

    async def spin() -> int:
        # Posted for sure: the spawn is made (and joined) on a thread that is not the loop's.
        th = threading.Thread(target=sp.spawn, args=(setter(),))
        th.start()
        th.join()
        sp.close()
        for n in range(5000):  # far more than a round of polls
            if flag:
                return n
            await yield_now()
        return -1  # starved: the posted spawn never ran while this task kept yielding

    h = ex.spawn(spin())
    ex.run(stall_timeout=BOUND)
    assert flag == [True]
    assert h.result() >= 0


def test_check_invariants_accepts_an_open_spawner_and_an_ignored_wake() -> None:
    """Kills ``_spawners == 0`` and ``- c.wakes_ignored`` in ``check_invariants``: a live
    Spawner and a wake of a finished task are legal states, not corruptions."""
    slot: list[Waker] = []
    ex = Executor()
    sp = ex.spawner()
    ex.check_invariants()
    h = ex.spawn(Park(slot))
    ex.run_until_stalled()
    w = slot.pop()
    w.wake_by_ref()
    ex.run_until_stalled()
    assert h.done()
    w.wake()  # the task has finished: ignored
    ex.run_until_stalled()
    assert ex.stats.wakes_ignored == 1
    ex.check_invariants()
    sp.close()
    ex.run()
    ex.check_invariants()


def test_run_reports_and_task_snapshots_are_immutable() -> None:
    """Kills ``frozen=False`` of ``RunReport`` and ``TaskSnapshot``: both are documented as
    frozen views that a checker can keep."""
    slot: list[Waker] = []
    ex = Executor()
    ex.spawn(Park(slot))
    report = ex.run_until_stalled()
    with pytest.raises(dataclasses.FrozenInstanceError):
        report.lost = ()  # type: ignore[misc]
    snap = ex.snapshot().tasks[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        snap.wakers = 3  # type: ignore[misc]
    slot.pop().wake()
    ex.run()


def test_report_completed_and_spawner_closed_are_attributes() -> None:
    """Kills the removed ``@property`` of ``RunReport.completed`` and ``Spawner.closed``."""
    ex = Executor()
    sp = ex.spawner()
    assert sp.closed is False
    sp.close()
    assert sp.closed is True
    ex.spawn(yield_now())
    report = ex.run()
    assert report.completed == 1


def test_snapshot_task_returns_exactly_that_task_or_raises_key_error() -> None:
    """Kills ``==`` -> ``<=``/``>=`` in ``ExecutorSnapshot.task``: the lookup returns the task of
    that id, and a finished task's id is not found."""
    slot: list[Waker] = []
    ex = Executor()
    ex.spawn(yield_now())  # task 1: finishes
    a, b = ex.spawn(Park(slot)), ex.spawn(Park(slot))
    ex.run_until_stalled()
    snap = ex.snapshot()
    assert snap.task(a.id).id == a.id
    assert snap.task(b.id).id == b.id
    with pytest.raises(KeyError):
        snap.task(1)
    for w in slot:
        w.wake()
    ex.run()
