"""Tests for the mutants of ``refexec.executor`` that survived the core tests (mutation/RESULTS.md).

Each test is named after the race or rule it pins down and says which mutant it kills. Mutants
judged equivalent (no behaviour can tell them apart) are listed in RESULTS.md, not here.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time
from collections.abc import Generator
from typing import Any

import pytest
from refexec import (
    Context,
    Executor,
    FutureBase,
    Pending,
    Poll,
    Ready,
    Stats,
    TaskState,
    Waker,
    yield_now,
)

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
    holding a handle, is woken by it later instead of being reported lost."""
    slot: list[Waker] = []
    ex = Executor()
    h = ex.spawn(KeepTwoThenReady(slot))
    ex.run_until_stalled()

    def other() -> None:
        slot.pop(0).drop()
        time.sleep(0.05)
        slot.pop().wake()

    th = threading.Thread(target=other)
    th.start()
    ex.run(stall_timeout=BOUND)
    th.join()
    assert h.result() == "done"


def test_closing_the_last_spawner_on_another_thread_wakes_the_sleeping_loop() -> None:
    """Kills ``if not self._sleeping: notify`` in ``_spawner_closed``: the loop sleeps because a
    Spawner lives; closing it on another thread must wake the loop so that run() returns."""
    ex = Executor()
    sp = ex.spawner()

    def closer() -> None:
        deadline = time.monotonic() + BOUND
        while not ex.snapshot().sleeping and time.monotonic() < deadline:
            time.sleep(0.005)
        sp.close()

    th = threading.Thread(target=closer)
    th.start()
    start = time.monotonic()
    ex.run(stall_timeout=BOUND)  # the mutant sleeps until the timeout and raises Stalled
    th.join()
    assert time.monotonic() - start < BOUND


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
    the spawner is still open (the loop was asleep), not only when the spawner closes."""
    ex = Executor()
    sp = ex.spawner()
    ran = threading.Event()
    seen: list[bool] = []

    async def job() -> None:
        ran.set()

    def other() -> None:
        deadline = time.monotonic() + BOUND
        while not ex.snapshot().sleeping and time.monotonic() < deadline:
            time.sleep(0.005)
        sp.spawn(job())
        seen.append(ran.wait(2.0))
        sp.close()

    th = threading.Thread(target=other)
    th.start()
    ex.run(stall_timeout=BOUND)
    th.join()
    assert seen == [True]


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


@pytest.mark.parametrize("corruption", ["not_scheduled", "idle_key", "counters", "wake_split"])
def test_check_invariants_catches_each_corruption(corruption: str) -> None:
    """Kills the weakened checks of ``check_invariants`` (loops that check nothing, ``==`` to
    ``>=``/``or``): each corrupted state must be reported."""
    slot: list[Waker] = []
    ex = Executor()

    async def sleeper() -> None:
        await Park(slot)

    h = ex.spawn(sleeper())
    ex.run_until_stalled()  # h is IDLE with one live waker
    queued = ex.spawn(yield_now())
    ex.check_invariants()
    undo: Any
    if corruption == "not_scheduled":
        queued._state = TaskState.IDLE
        undo = lambda: setattr(queued, "_state", TaskState.SCHEDULED)  # noqa: E731
    elif corruption == "idle_key":
        ex._idle[h._id + 100] = ex._idle.pop(h._id)
        undo = lambda: ex._idle.__setitem__(h._id, ex._idle.pop(h._id + 100))  # noqa: E731
    elif corruption == "counters":
        ex._spawned += 1  # a spawn not accounted for
        undo = lambda: setattr(ex, "_spawned", ex._spawned - 1)  # noqa: E731
    else:
        ex._c.wakes += 1
        undo = lambda: setattr(ex._c, "wakes", ex._c.wakes - 1)  # noqa: E731
    with pytest.raises(AssertionError, match="invariant violated"):
        ex.check_invariants()
    undo()
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
