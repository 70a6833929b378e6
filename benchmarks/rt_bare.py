"""The bare coroutine loop: a deque of coroutines driven by ``send(None)``.

This is the floor: no task objects, no wakers, no states, no join handles, nothing but the
interpreter resuming coroutines. No pure-Python executor can beat it; the ratio "runtime vs bare"
says what fraction of the floor's throughput a runtime keeps.

Three loops, each as lean as its workload allows:

* :func:`run_plain` (spawn, pingpong, prodcons): pop, ``send(None)``, re-append unless finished.
  The yield is a bare ``yield`` (:func:`bare_yield`); the channel of prodcons is a deque the two
  sides poll, yielding when full or empty (the loop has no way to sleep, so it never needs one).
* :func:`run_parking` (memory): a coroutine that yields :data:`PARK` is set aside instead of
  re-queued, until the test wakes it by putting it back.
* :func:`run_threaded` (xthread): as ``run_parking``, plus an inbox another thread appends to and
  a ``threading.Event`` the loop sleeps on when it has nothing to run.

Variant ``"task"`` (runtime ``bare-task``) is a second floor, for executors that have task
objects: :class:`MinimalExecutor`, a ``spawn()`` method that makes a two-slot task object and a
run loop that re-queues it, and nothing else (no states beyond "done", no wakers, no counters,
no join). It measures what the task object and the spawn call alone cost in pure Python, which
bounds what any executor with tasks can reach (spawn, pingpong and prodcons only).
"""

from __future__ import annotations

import threading
import time
import types
from collections import deque
from collections.abc import Callable, Coroutine, Generator
from typing import Any

from benchmarks.common import (
    CHANNEL_CAPACITY,
    YIELDS_PER_TASK,
    Count,
    Mark,
    NotSupported,
    Sample,
    WakerThread,
    consumer,
    parked,
    producer,
    trivial,
    yielder,
)

Coro = Coroutine[Any, Any, Any]
PARK = object()


@types.coroutine
def bare_yield() -> Generator[None, None, None]:
    """The bare loop's yield: suspend, and be re-queued at the back."""
    yield


@types.coroutine
def bare_park() -> Generator[object, None, None]:
    """Suspend and ask the loop to set this coroutine aside until it is woken."""
    yield PARK


NOTES = {
    "bare": "a deque of coroutines driven by `coro.send(None)`; yield: a bare `yield`.",
    "task": "`MinimalExecutor`: the bare loop plus one two-slot task object per task, made by "
    "a `spawn()` method call, re-queued after each yield and marked done at the end: the least "
    "an executor with task objects does (spawn, pingpong, prodcons only).",
}


def available(variant: str) -> str | None:
    return None


class MinimalTask:
    """The least task object: the coroutine, and whether it finished."""

    __slots__ = ("coro", "done")


_new = object.__new__


class MinimalExecutor:
    """The bare loop, with a task object per coroutine and a ``spawn()`` method: the floor."""

    def __init__(self) -> None:
        self.ready: deque[MinimalTask] = deque()

    def spawn(self, coro: Coro) -> MinimalTask:
        t = _new(MinimalTask)
        t.coro = coro
        t.done = False
        self.ready.append(t)
        return t

    def run(self) -> None:
        ready = self.ready
        pop = ready.popleft
        push = ready.append
        while ready:
            t = pop()
            try:
                t.coro.send(None)
            except StopIteration:
                t.done = True
                t.coro = None
                continue
            push(t)


def _run(variant: str, coros: Callable[[], list[Coro]]) -> float:
    """Make the coroutines and run them to completion on ``variant``'s loop; the seconds."""
    t0 = time.perf_counter()
    if variant == "task":
        ex = MinimalExecutor()
        sp = ex.spawn
        for coro in coros():
            sp(coro)
        ex.run()
    else:
        run_plain(deque(coros()))
    return time.perf_counter() - t0


def _only_bare(variant: str, workload: str) -> None:
    if variant != "bare":
        raise NotSupported(
            f"the task-object floor (bare-task) is defined for spawn, pingpong and prodcons, "
            f"not {workload}"
        )


def run_plain(ready: deque[Coro]) -> None:
    pop = ready.popleft
    push = ready.append
    while ready:
        coro = pop()
        try:
            coro.send(None)
        except StopIteration:
            continue
        push(coro)


def run_parking(ready: deque[Coro], parked_list: list[Coro]) -> None:
    pop = ready.popleft
    push = ready.append
    while ready:
        coro = pop()
        try:
            signal = coro.send(None)
        except StopIteration:
            continue
        if signal is PARK:
            parked_list.append(coro)
        else:
            push(coro)


def spawn(variant: str, n: int) -> Sample:
    Count.reset()
    seconds = _run(variant, lambda: [trivial() for _ in range(n)])
    Count.check(n, f"{variant} spawn")
    return {"seconds": seconds, "ops": n}


def pingpong(variant: str, n: int) -> Sample:
    Count.reset()
    seconds = _run(variant, lambda: [yielder(bare_yield) for _ in range(n)])
    Count.check(n, f"{variant} pingpong")
    return {"seconds": seconds, "ops": n * YIELDS_PER_TASK}


class _PolledChannel:
    """A bounded FIFO for the bare loop: a side that cannot proceed yields and retries."""

    def __init__(self, capacity: int) -> None:
        self.buf: deque[Any] = deque()
        self.capacity = capacity

    async def send(self, item: Any) -> None:
        buf = self.buf
        while len(buf) >= self.capacity:
            await bare_yield()
        buf.append(item)

    async def recv(self) -> Any:
        buf = self.buf
        while not buf:
            await bare_yield()
        return buf.popleft()


def prodcons(variant: str, n: int) -> Sample:
    Count.reset()
    ch = _PolledChannel(CHANNEL_CAPACITY)
    seconds = _run(variant, lambda: [producer(ch.send, n), consumer(ch.recv)])
    Count.check(n, f"{variant} prodcons")
    return {"seconds": seconds, "ops": n}


def park_cycle(variant: str, n: int, mark: Mark) -> None:
    _only_bare(variant, "memory")
    Count.reset()
    parked_list: list[Coro] = []
    mark("start")
    run_parking(deque([parked(bare_park) for _ in range(n)]), parked_list)
    mark("parked")
    ready = deque(parked_list)
    parked_list.clear()
    run_parking(ready, parked_list)
    Count.check(n, "bare park cycle")


def xthread(variant: str, n: int) -> Sample:
    _only_bare(variant, "xthread")
    Count.reset()
    ready: deque[Coro] = deque(parked(bare_park) for _ in range(n))
    parked_list: list[Coro] = []
    inbox: deque[Coro] = deque()
    wakeup = threading.Event()
    sleeping = [False]

    def wake(i: int) -> None:
        inbox.append(parked_list[i])
        if sleeping[0]:
            wakeup.set()

    thread = WakerThread(n, lambda: len(parked_list) == n, wake)
    thread.start()
    pop = ready.popleft
    push = ready.append
    waiting = n  # tasks parked and not yet handed back through the inbox
    while True:
        while ready:
            coro = pop()
            try:
                signal = coro.send(None)
            except StopIteration:
                continue
            if signal is PARK:
                parked_list.append(coro)
            else:
                push(coro)
        if not waiting:
            break
        sleeping[0] = True
        if not inbox:
            wakeup.wait()
        sleeping[0] = False
        wakeup.clear()
        while inbox:
            push(inbox.popleft())
            waiting -= 1
    t1 = time.perf_counter()
    thread.join()
    Count.check(n, "bare xthread")
    return {"seconds": t1 - thread.t0, "ops": n}
