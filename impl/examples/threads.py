"""A wake from another thread: a hand-written future whose waker is called by a worker thread.

``OnThread`` is the Python twin of the Rust async book's ``TimerFuture``. On its first poll it
keeps ``cx.waker.clone()`` — a handle that keeps the task wakeable — gives it to a new thread and
returns ``Pending``. The thread computes the value, stores it, and calls ``waker.wake()``
(consuming the handle). ``wake`` is thread-safe: it hands the task back to the executor's loop,
which was waiting without spinning because a live waker could still wake the task. The next
poll finds the value and returns ``Ready``. In the trace, the ``wake`` row's detail says
``inbox``: the reference executor takes wakes from other threads in through one thread-safe
inbox, at the moment the wake acts on the task's state. (The same door serves
``refexec.sync``: ``Event.set()`` and a oneshot ``Sender.send()`` are safe from any thread.)
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

from refexec.examples._types import AnyExecutor
from refexec.future import FutureBase
from refexec.poll import Pending, Poll, Ready
from refexec.waker import Context

EXECUTORS = ("reference", "simple")

T = TypeVar("T")


class OnThread(FutureBase[T], Generic[T]):
    """Run ``compute`` on a new thread; Ready with its result once the thread wakes the task."""

    def __init__(self, compute: Callable[[], T], threads: list[threading.Thread]) -> None:
        self._compute = compute
        self._threads = threads  # the example joins them after the run
        self._lock = threading.Lock()
        self._result: list[T] = []  # empty until the thread has produced the value
        self._started = False

    def poll(self, cx: Context) -> Poll[T]:
        with self._lock:
            if self._result:
                return Ready(self._result[0])
        if not self._started:
            self._started = True
            waker = cx.waker.clone()  # cx.waker is only borrowed: keep a clone past the poll

            def work() -> None:
                value = self._compute()
                with self._lock:
                    self._result.append(value)
                waker.wake()  # from this thread; consumes the handle

            thread = threading.Thread(target=work, name="refexec-example-worker")
            self._threads.append(thread)
            thread.start()
        return Pending


def main(executor: AnyExecutor) -> list[str]:
    """Compute a value on a worker thread through ``OnThread``; return what the task saw."""
    threads: list[threading.Thread] = []
    said: list[str] = []

    async def task() -> None:
        total = await OnThread(lambda: sum(range(1_000)), threads)
        said.append(f"computed on a thread: {total}")

    executor.spawn(task())
    executor.run()
    for thread in threads:
        thread.join()
    return said
