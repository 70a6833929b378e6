"""A notification lost when a waiter is cancelled: a hand-written "notify one" signal.

``Signal.notify()`` picks the oldest waiter, marks it notified and wakes it. If that waiter's
task is cancelled before it runs (here: the pool is scaled down, and the stopped worker was the
one just notified) the notification dies with it, and a job sits in the queue while the other
worker sleeps: the program hangs. The stall verdict says the main task legitimately waits on an
Event nobody will set, and the worker on a hand-written signal nobody will notify. Under FIFO
the worker is stopped before the job arrives, so a plain run passes. The fix (``fixed=True``):
a waiter that leaves (cancelled) passes a notification it got and did not use on to the next
waiter, and one that was never notified leaves the queue, so ``notify()`` never picks a dead
waiter.
"""

from __future__ import annotations

from collections import deque

from refexec.examples._types import AnyExecutor
from refexec.executor import Executor, JoinHandle
from refexec.future import FutureBase, spawn, yield_now
from refexec.poll import Pending, Poll, Ready
from refexec.sync import Event
from refexec.waker import Context, Waker

EXECUTORS = ("reference",)


class _Waiter:
    def __init__(self) -> None:
        self.notified = False
        self.waker: Waker | None = None


class _Park(FutureBase[None]):
    def __init__(self, w: _Waiter) -> None:
        self.w = w

    def poll(self, cx: Context) -> Poll[None]:
        if self.w.notified:
            return Ready(None)
        if self.w.waker is None:
            self.w.waker = cx.waker.clone()
        return Pending


class Signal:
    """Wake one waiter per ``notify()`` (a condition variable without the lock)."""

    def __init__(self, *, fixed: bool) -> None:
        self.fixed = fixed
        self.waiters: deque[_Waiter] = deque()

    def notify(self) -> None:
        if self.waiters:
            w = self.waiters.popleft()
            w.notified = True
            if w.waker is not None:
                w.waker.wake()
                w.waker = None

    async def wait(self) -> None:
        w = _Waiter()
        self.waiters.append(w)
        try:
            await _Park(w)
        except BaseException:  # cancelled while waiting (the coroutine is closed here)
            if self.fixed:
                if w.notified:
                    self.notify()  # the fix: pass the notification on
                else:
                    self.waiters.remove(w)  # the fix: notify() must never pick a dead waiter
            raise


class Pool:
    def __init__(self, *, fixed: bool) -> None:
        self.jobs: deque[str] = deque()
        self.signal = Signal(fixed=fixed)
        self.finished = Event()
        self.done: list[tuple[str, str]] = []

    def submit(self, job: str) -> None:
        self.jobs.append(job)
        self.signal.notify()


async def worker(pool: Pool, name: str) -> None:
    while True:
        while not pool.jobs:
            await pool.signal.wait()
        pool.done.append((name, pool.jobs.popleft()))
        pool.finished.set()


async def scale_down(victim: JoinHandle[None], pause: int) -> None:
    for _ in range(pause):
        await yield_now()
    victim.cancel()  # one worker fewer: it may be the one notify() just chose


async def service(*, fixed: bool) -> list[tuple[str, str]]:
    pool = Pool(fixed=fixed)
    w1 = spawn(worker(pool, "w1"))
    w2 = spawn(worker(pool, "w2"))
    spawn(scale_down(w1, 3))
    await yield_now()
    await yield_now()
    pool.submit("job-1")
    await pool.finished.wait()  # hangs if the notification was lost
    w1.cancel()
    w2.cancel()
    return pool.done


async def buggy() -> list[tuple[str, str]]:
    """The program with the bug (a fresh coroutine per call, as ``refexec.explore`` wants)."""
    return await service(fixed=False)


async def fixed() -> list[tuple[str, str]]:
    """The same program with the fix."""
    return await service(fixed=True)


def main(executor: AnyExecutor) -> str:
    """Run the buggy program once, under FIFO: it passes (the bug needs another schedule)."""
    assert isinstance(executor, Executor), "runs on the reference Executor only"
    h = executor.spawn(buggy())
    executor.run()
    return (f"FIFO run: {h.result()} (fine by luck); refexec.explore(buggy) finds a schedule "
            "that hangs with the job unserved")
