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
"""

from __future__ import annotations

import threading
import time
import types
from collections import deque
from collections.abc import Coroutine, Generator
from typing import Any

from benchmarks.common import (
    CHANNEL_CAPACITY,
    YIELDS_PER_TASK,
    Count,
    Mark,
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


def available(variant: str) -> str | None:
    return None


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
    t0 = time.perf_counter()
    run_plain(deque([trivial() for _ in range(n)]))
    seconds = time.perf_counter() - t0
    Count.check(n, "bare spawn")
    return {"seconds": seconds, "ops": n}


def pingpong(variant: str, n: int) -> Sample:
    Count.reset()
    t0 = time.perf_counter()
    run_plain(deque([yielder(bare_yield) for _ in range(n)]))
    seconds = time.perf_counter() - t0
    Count.check(n, "bare pingpong")
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
    t0 = time.perf_counter()
    ch = _PolledChannel(CHANNEL_CAPACITY)
    run_plain(deque([producer(ch.send, n), consumer(ch.recv)]))
    seconds = time.perf_counter() - t0
    Count.check(n, "bare prodcons")
    return {"seconds": seconds, "ops": n}


def park_cycle(variant: str, n: int, mark: Mark) -> None:
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
