"""SimpleExecutor: the seed's executor ported faithfully (and its four Rust tests)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from core_support import Forgetful, Slot
from refexec import DeadlockError, SimpleExecutor, TaskLost, Trace, yield_now

# -- the seed's four tests, ported ----------------------------------------------------------------


def test_runs_single_task() -> None:
    counter = [0]

    async def task() -> None:
        counter[0] += 1

    ex = SimpleExecutor()
    ex.spawn(task())
    ex.run()
    assert counter[0] == 1


def test_runs_multiple_tasks() -> None:
    counter = [0]

    async def task() -> None:
        counter[0] += 1

    ex = SimpleExecutor()
    for _ in range(5):
        ex.spawn(task())
    ex.run()
    assert counter[0] == 5


def test_empty_executor() -> None:
    ex = SimpleExecutor()
    ex.run()  # should complete immediately


def test_tasks_run_to_completion() -> None:
    values: list[int] = []

    async def task(i: int) -> None:
        values.append(i)

    ex = SimpleExecutor()
    for i in range(3):
        ex.spawn(task(i))
    ex.run()
    assert sorted(values) == [0, 1, 2]


# -- the seed's design ----------------------------------------------------------------------------


async def _await(f: Any) -> Any:
    return await f


async def _yield_times(n: int) -> int:
    for _ in range(n):
        await yield_now()
    return n


def test_a_new_waker_is_made_for_every_poll() -> None:
    tr = Trace()
    ex = SimpleExecutor(trace=tr)
    ex.spawn(_yield_times(2))
    ex.run()
    kinds = tr.kinds(1)
    assert kinds.count("poll") == 3
    made = [e for e in tr.of_task(1) if e.event == "waker_clone" and e.detail == "make_waker"]
    assert len(made) == 3
    assert kinds.count("waker_drop") == 3  # each per-poll waker dropped at the end of its poll


def test_every_wake_enqueues_even_duplicates() -> None:
    s = Slot()
    ex = SimpleExecutor()
    tid = ex.spawn(_await(s))
    snaps = []

    async def waker_twice() -> None:
        assert s.waker is not None
        s.waker.wake_by_ref()
        s.waker.wake_by_ref()
        snaps.append(ex.snapshot())
        s.set("v")  # a third queue entry

    ex.spawn(waker_twice())
    ex.run()
    assert snaps[0].queue == (tid, tid)  # the same task queued twice
    assert ex.poll_counts[tid] == 2  # the entries whose future was gone were skipped
    assert ex.stats["wakes"] == 3


def test_pending_task_whose_waker_is_dropped_is_freed_in_silence() -> None:
    tr = Trace()
    ex = SimpleExecutor(trace=tr)
    ex.spawn(_await(Forgetful()))
    ex.run()  # returns: no sender remains; the task vanished
    assert ex.stats["dropped_pending"] == 1
    assert tr.kinds(1)[-1] == "lost" and tr.events[-2].detail == "silent"
    assert ex.snapshot().tasks == ()


def test_snapshot_shows_refs_wakers_and_senders() -> None:
    s = Slot()
    ex = SimpleExecutor()
    tid = ex.spawn(_await(s))
    snap = ex.snapshot()
    assert snap.queue == (tid,) and snap.senders == 2  # the executor's + the task's
    t = snap.tasks[0]
    assert (t.future_present, t.poll_count, t.wakers, t.refs) == (True, 0, 0, 1)
    seen = []

    async def look() -> None:
        seen.append(ex.snapshot())
        s.set()

    ex.spawn(look())
    ex.run()
    during = seen[0]
    assert during.senders == 2  # the executor's own sender was dropped by run()
    waiting = during.tasks[0]
    assert (waiting.future_present, waiting.wakers, waiting.refs) == (True, 1, 1)


def test_own_thread_spawning_into_its_full_queue_raises_deadlock_error() -> None:
    ex = SimpleExecutor(capacity=2)
    ex.spawn(_yield_times(0))
    ex.spawn(_yield_times(0))
    coro = _yield_times(0)
    with pytest.raises(DeadlockError, match="full queue"):
        ex.spawn(coro)
    coro.close()
    ex.run()


def test_yield_into_own_full_queue_raises_deadlock_error_from_run() -> None:
    ex = SimpleExecutor(capacity=2)
    ex.spawn(_yield_times(1))
    ex.spawn(_spawn_then_yield(ex))
    with pytest.raises(DeadlockError, match="would block forever"):
        ex.run()


async def _spawn_then_yield(ex: SimpleExecutor) -> None:
    ex.spawn(_yield_times(0))  # the queue now holds 2 entries: full
    await yield_now()  # wake_by_ref sends into the full queue from the loop's own thread


def test_send_from_another_thread_into_a_full_queue_waits_for_room() -> None:
    values: list[int] = []

    async def task(i: int) -> None:
        values.append(i)

    ex = SimpleExecutor(capacity=1)
    ex.spawn(task(0))  # the queue is now full
    errors: list[BaseException] = []

    def other() -> None:
        try:
            ex.spawn(task(1))  # not the executor's thread: waits for room, no DeadlockError
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    t = threading.Thread(target=other)
    t.start()
    waiting = threading.Event()
    while ex.snapshot().senders < 3:  # own + task 0 + task 1: the other thread is sending
        waiting.wait(0.001)
    ex.run()
    t.join()
    assert not errors and values == [0, 1]


def test_spawn_from_inside_a_running_task() -> None:
    values: list[int] = []

    async def child(i: int) -> None:
        values.append(i)

    async def parent(ex: SimpleExecutor) -> None:
        for i in range(3):
            ex.spawn(child(i))

    ex = SimpleExecutor()
    ex.spawn(parent(ex))
    ex.run()
    assert values == [0, 1, 2]


def test_poll_counts_per_task() -> None:
    ex = SimpleExecutor()
    a = ex.spawn(_yield_times(0))
    b = ex.spawn(_yield_times(3))
    ex.run()
    assert ex.poll_counts == {a: 1, b: 4}
    assert ex.stats["polls"] == 5 and ex.stats["completed"] == 2


def test_block_on_returns_the_output() -> None:
    assert SimpleExecutor().block_on(_yield_times(2)) == 2


def test_block_on_a_future_the_seed_drops_raises_task_lost() -> None:
    with pytest.raises(TaskLost, match="freed it in silence"):
        SimpleExecutor().block_on(_await(Forgetful()))


def test_run_consumes_the_executor() -> None:
    ex = SimpleExecutor()
    ex.run()
    coro = _yield_times(0)
    with pytest.raises(RuntimeError, match="live sender"):
        ex.spawn(coro)
    with pytest.raises(RuntimeError, match="runs once"):
        ex.run()


def test_task_exception_propagates_out_of_run_like_a_panic() -> None:
    async def boom() -> None:
        raise ValueError("panic")

    ex = SimpleExecutor()
    ex.spawn(boom())
    with pytest.raises(ValueError, match="panic"):
        ex.run()


def test_live_waker_in_another_thread_keeps_run_open() -> None:
    s = Slot()
    ex = SimpleExecutor()
    ex.spawn(_await(s))
    stored = threading.Event()

    def later() -> None:
        assert stored.wait(10)
        s.set("done")

    async def flag() -> None:
        stored.set()

    ex.spawn(flag())
    t = threading.Thread(target=later)
    t.start()
    ex.run()  # blocks in recv() until the thread's wake arrives and the task finishes
    t.join()
    assert s.is_set and ex.poll_counts[1] == 2
