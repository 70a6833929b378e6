"""Lock, Semaphore, BoundedSemaphore, Condition, Queue and Barrier on the reference executor.

Each test is named after the race it exercises and asserts on counters: who got the grant, in
which order, how many polls, what is left queued. "Chosen" means woken by a release / notify /
put but not yet polled: the window in which a cancel must pass the grant on.
"""

from __future__ import annotations

import pytest
from refexec import (
    Barrier,
    BoundedSemaphore,
    Condition,
    Executor,
    JoinHandle,
    Lock,
    Queue,
    QueueEmpty,
    QueueFull,
    Semaphore,
    TaskState,
    yield_now,
)
from refexec.waker import Context, noop_waker


def _take_now(lock: Semaphore) -> None:
    """Acquire outside any task (a poll by hand): the lock is then held by 'the test'."""
    assert lock.acquire().poll(Context(noop_waker())).value is True  # type: ignore[union-attr]


async def _hold(lock: Semaphore, log: list[str], name: str) -> None:
    async with lock:
        log.append(name)


def test_lock_hand_off_is_fifo_even_against_a_releaser_that_reacquires() -> None:
    """A task that releases and at once re-acquires does not barge past the waiters: the lock
    goes round in arrival order."""
    lock, log = Lock(), []

    async def worker(name: str) -> None:
        for _ in range(3):
            async with lock:
                log.append(name)
                await yield_now()

    ex = Executor()
    for name in "abc":
        ex.spawn(worker(name))
    ex.run_until_stalled()
    assert log == list("abcabcabc")
    assert not lock.locked()


def test_cancel_of_a_chosen_lock_waiter_passes_the_lock_on() -> None:
    lock, log = Lock(), []
    _take_now(lock)
    ex = Executor()
    b = ex.spawn(_hold(lock, log, "b"))
    c = ex.spawn(_hold(lock, log, "c"))
    ex.run_until_stalled()
    lock.release()  # b is chosen: woken, holds the lock, not yet polled
    assert lock.locked() and len(lock._q) == 1  # c still waits
    b.cancel()
    assert lock.locked() and len(lock._q) == 0  # the lock passed on to c at once
    report = ex.run_until_stalled()
    assert log == ["c"] and report.lost == ()
    assert b.cancelled() and c.done() and not lock.locked()


def test_cancel_of_a_queued_lock_waiter_leaves_the_queue() -> None:
    lock, log = Lock(), []
    _take_now(lock)
    ex = Executor()
    b = ex.spawn(_hold(lock, log, "b"))
    c = ex.spawn(_hold(lock, log, "c"))
    ex.run_until_stalled()
    assert len(lock._q) == 2
    c.cancel()
    assert len(lock._q) == 1
    lock.release()
    ex.run_until_stalled()
    assert log == ["b"] and b.done() and c.cancelled() and not lock.locked()


def test_release_of_an_unlocked_lock_raises() -> None:
    with pytest.raises(RuntimeError, match="unlocked Lock"):
        Lock().release()


def test_semaphore_release_wakes_the_oldest_waiter_only() -> None:
    sem, log = Semaphore(0), []
    ex = Executor()
    hs = [ex.spawn(_hold(sem, log, n)) for n in "abc"]
    ex.run_until_stalled()
    sem.release()
    assert len(sem._q) == 2 and sem._q.permits == 0  # a was handed the permit
    ex.step()  # a wake from outside a poll is posted: step takes it in and polls a
    assert log == ["a"] and hs[0].done() and len(sem._q) == 1
    ex.run_until_stalled()
    # a finished and released its permit, which went to b; and so on down the line
    assert log == ["a", "b", "c"] and sem._q.permits == 1


def test_bounded_semaphore_over_release_raises() -> None:
    sem = BoundedSemaphore(2)
    _take_now(sem)
    sem.release()
    with pytest.raises(ValueError, match="released too many times"):
        sem.release()
    assert sem._q.permits == 2


def test_notify_of_a_cancelled_chosen_condition_waiter_passes_to_the_next() -> None:
    cond, log, go = Condition(), [], []

    async def waiter(name: str) -> None:
        async with cond:
            await cond.wait()
            log.append(name)

    ex = Executor()
    w1 = ex.spawn(waiter("w1"))
    w2 = ex.spawn(waiter("w2"))
    ex.run_until_stalled()

    async def notify_one() -> None:
        async with cond:
            go.append(cond.notify(1))

    ex.spawn(notify_one())
    ex.step()  # the notifier runs (w1 is chosen); nobody else polled yet
    assert go == [1] and w1.state is TaskState.SCHEDULED and w2.state is TaskState.IDLE
    assert len(cond._q) == 1
    w1.cancel()  # chosen but not run: its notification passes to w2
    assert len(cond._q) == 0
    ex.run_until_stalled()
    assert log == ["w2"] and w1.cancelled() and not cond.locked()


def test_cancel_inside_condition_wait_leaves_without_the_lock() -> None:
    """The cancelled waiter's ``async with`` exit does not release a lock it no longer holds:
    the task that holds it keeps it."""
    cond = Condition()

    async def waiter() -> None:
        async with cond:
            await cond.wait()

    ex = Executor()
    w = ex.spawn(waiter())
    ex.run_until_stalled()
    _take_now(cond._lock)  # someone else holds the lock now
    w.cancel()
    assert cond.locked()  # still held by "someone else"
    cond.release()
    assert not cond.locked()


def test_condition_wait_and_notify_without_the_lock_raise() -> None:
    cond = Condition()
    with pytest.raises(RuntimeError, match="needs the condition's lock"):
        cond.notify()
    fut = cond.wait()
    with pytest.raises(RuntimeError, match="needs the condition's lock"):
        fut.poll(Context(noop_waker()))


def test_condition_wait_for_rechecks_the_predicate_under_the_lock() -> None:
    cond, items, got = Condition(), [], []

    async def consumer() -> None:
        async with cond:
            got.append(await cond.wait_for(lambda: len(items) >= 2))

    async def producer() -> None:
        for i in range(2):
            async with cond:
                items.append(i)
                cond.notify_all()
            await yield_now()

    ex = Executor()
    ex.spawn(consumer())
    ex.spawn(producer())
    ex.run_until_stalled()
    assert got == [True] and not cond.locked()


def test_queue_put_hands_the_item_to_the_oldest_getter() -> None:
    q: Queue[int] = Queue()
    got: list[tuple[str, int]] = []

    async def getter(name: str) -> None:
        got.append((name, await q.get()))

    ex = Executor()
    for n in ("g1", "g2"):
        ex.spawn(getter(n))
    ex.run_until_stalled()
    q.put_nowait(1)
    with pytest.raises(QueueEmpty):
        q.get_nowait()  # the item is promised to g1: nobody barges in
    q.put_nowait(2)
    ex.run_until_stalled()
    assert got == [("g1", 1), ("g2", 2)] and q.empty()


def test_cancel_of_a_chosen_getter_passes_the_item_on() -> None:
    q: Queue[str] = Queue()
    got: list[str] = []

    async def getter() -> None:
        got.append(await q.get())

    ex = Executor()
    g1 = ex.spawn(getter())
    g2 = ex.spawn(getter())
    ex.run_until_stalled()
    q.put_nowait("x")
    g1.cancel()
    ex.run_until_stalled()
    assert got == ["x"] and g2.done() and q.qsize() == 0


def test_cancel_of_a_chosen_putter_passes_the_slot_on() -> None:
    q: Queue[str] = Queue(maxsize=1)
    q.put_nowait("a")
    with pytest.raises(QueueFull):
        q.put_nowait("z")
    ex = Executor()
    p1 = ex.spawn(q.put("b"))
    p2 = ex.spawn(q.put("c"))
    ex.run_until_stalled()
    assert q.get_nowait() == "a"  # the free slot goes to p1
    assert q.full()  # promised to p1, so nobody else may put
    p1.cancel()  # p1 had not run: its slot goes to p2, "b" is never put
    ex.run_until_stalled()
    assert p2.done() and q.qsize() == 1 and q.get_nowait() == "c"


def test_queue_join_wakes_when_the_last_item_is_done() -> None:
    q: Queue[int] = Queue()
    log: list[str] = []

    async def joiner() -> None:
        await q.join()
        log.append("joined")

    async def worker() -> None:
        for _ in range(2):
            await q.get()
            await yield_now()
            log.append("done")
            q.task_done()

    q.put_nowait(1)
    q.put_nowait(2)
    ex = Executor()
    ex.spawn(joiner())
    ex.spawn(worker())
    ex.run_until_stalled()
    assert log == ["done", "done", "joined"]
    with pytest.raises(ValueError, match="task_done"):
        q.task_done()


def test_barrier_releases_everyone_with_distinct_indices_and_resets() -> None:
    b = Barrier(3)
    got: list[int] = []

    async def party() -> None:
        got.append(await b.wait())
        got.append(await b.wait())

    ex = Executor()
    for _ in range(3):
        ex.spawn(party())
    ex.run_until_stalled()
    assert sorted(got[:3]) == [0, 1, 2] and sorted(got[3:]) == [0, 1, 2]
    assert b.n_waiting == 0


def test_cancel_of_a_barrier_waiter_before_the_trip_uncounts_it() -> None:
    b = Barrier(2)
    got: list[int] = []

    async def party() -> None:
        got.append(await b.wait())

    ex = Executor()
    first = ex.spawn(party())
    ex.run_until_stalled()
    assert b.n_waiting == 1
    first.cancel()
    assert b.n_waiting == 0
    ex.spawn(party())
    ex.run_until_stalled()
    assert got == [] and b.n_waiting == 1  # the first one does not count any more
    ex.spawn(party())
    ex.run_until_stalled()
    assert sorted(got) == [0, 1]


def test_a_primitive_used_by_two_executors_raises() -> None:
    lock = Lock()
    _take_now(lock)
    ex1, ex2 = Executor(), Executor()
    ex1.spawn(lock.acquire())
    ex1.run_until_stalled()
    h: JoinHandle[bool] = ex2.spawn(lock.acquire())
    ex2.run_until_stalled()
    with pytest.raises(RuntimeError, match="two executors"):
        h.result()
