"""What every runtime module shares: the task bodies, the result type, and the memory probe.

Every runtime runs *the same* ``async def`` bodies (defined here), so a difference in time is a
difference in the runtime, never in the work. The bodies take the runtime's own primitive (its
yield, its channel, its park) as an argument.

A runtime module (``rt_*.py``) provides, for a ``variant`` name:

* ``available(variant) -> str | None``: ``None`` if it can run, else the reason it cannot;
* one function per workload, ``spawn(variant, n)``, ``pingpong(variant, n)``,
  ``prodcons(variant, n)``, ``xthread(variant, n)``, each returning a :class:`Sample`, or raising
  :class:`NotSupported` when the workload does not fit the runtime;
* ``park_cycle(variant, n, mark)``: spawn ``n`` tasks that all park (pending, waiting to be woken),
  call ``mark("start")`` after the runtime is set up and before the first spawn, ``mark("parked")``
  once all ``n`` are pending, then wake them all and run them to completion. The ``memory``
  workload (:func:`memory`) is built on it, the same way for every runtime.
"""

from __future__ import annotations

import gc
import resource
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

#: Each task of the yield ping-pong yields this many times (ops = n * YIELDS_PER_TASK).
YIELDS_PER_TASK = 4
#: Capacity of the bounded channel/queue in the producer/consumer workload.
CHANNEL_CAPACITY = 100
#: The memory workload measures bytes per pending task with tracemalloc on at most this many
#: tasks (tracemalloc's own bookkeeping would otherwise dominate peak memory at 10^6 tasks).
TRACEMALLOC_SAMPLE = 20_000

Sample = dict[str, Any]
"""One measurement: ``seconds`` (the timed region), ``ops`` (operations done in it), and any
extra metrics (the memory workload adds ``bytes_per_task``, ``peak_rss_bytes``, ...)."""

Mark = Callable[[str], None]


class NotSupported(Exception):
    """The workload does not fit this runtime (the message says why); reported, not fatal."""


class Count:
    """A completion counter shared by the bodies (one attribute bump per task, same for all).

    ``target`` and ``on_target`` let a runtime without a natural "all done" (asyncio's
    ``run_forever``) stop exactly when the last task finishes.
    """

    n = 0
    target = -1
    on_target: Callable[[], object] | None = None

    @classmethod
    def reset(cls, target: int = -1, on_target: Callable[[], object] | None = None) -> None:
        cls.n = 0
        cls.target = target
        cls.on_target = on_target

    @classmethod
    def check(cls, expected: int, what: str) -> None:
        if cls.n != expected:
            raise AssertionError(f"{what}: {cls.n} of {expected} tasks completed")


def _done() -> None:
    Count.n += 1
    if Count.n == Count.target and Count.on_target is not None:
        Count.on_target()


# --- the task bodies: identical for every runtime -------------------------------------------


async def trivial() -> None:
    """spawn: a task that completes at its first poll."""
    _done()


async def yielder(yield_now: Callable[[], Any], times: int = YIELDS_PER_TASK) -> None:
    """pingpong: yield to the scheduler ``times`` times, using the runtime's own yield."""
    for _ in range(times):
        await yield_now()
    _done()


async def producer(send: Callable[[Any], Any], n: int) -> None:
    """prodcons: send 0..n-1, then the end marker ``None``."""
    for i in range(n):
        await send(i)
    await send(None)


async def consumer(recv: Callable[[], Any]) -> None:
    """prodcons: receive until the end marker; each message counts as one completion."""
    while True:
        item = await recv()
        if item is None:
            return
        _done()


async def parked(park: Callable[[], Any]) -> None:
    """memory, xthread: wait once, on the runtime's cheapest way to wait for a wake."""
    await park()
    _done()


# --- the memory workload, built on each runtime's park_cycle ---------------------------------


def rss_bytes() -> int:
    """The resident set size of this process now (Linux ``/proc``; 0 where unavailable)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            pages = int(f.read().split()[1])
    except (OSError, IndexError, ValueError):
        return 0
    return pages * resource.getpagesize()


def peak_rss_bytes() -> int:
    """The peak resident set size of this process so far (``getrusage``)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # bytes on macOS, KiB on Linux


def memory(park_cycle: Callable[[int, Mark], None], n: int) -> Sample:
    """Bytes per pending task and peak RSS with ``n`` pending tasks.

    Two passes in this (fresh) process. First, without tracemalloc: ``n`` tasks parked, the RSS
    growth and the process's peak RSS read while they are all pending (``seconds`` is the time of
    this whole cycle: spawn, park, wake, complete). Second, with tracemalloc on
    ``min(n, TRACEMALLOC_SAMPLE)`` tasks: the Python-heap bytes each pending task holds (task
    object, coroutine and frame, the await machinery, the waker or callback that will wake it,
    the queue slot): ``bytes_per_task``; and ``overhead_bytes_per_task``, the same without the
    user's coroutine (:func:`coroutine_bytes`), i.e. what the runtime adds per pending task.
    """
    gc.collect()
    got: dict[str, int] = {}

    def rss_mark(what: str) -> None:
        got[what] = rss_bytes()
        if what == "parked":
            got["peak"] = peak_rss_bytes()

    t0 = time.perf_counter()
    park_cycle(n, rss_mark)
    seconds = time.perf_counter() - t0

    m = min(n, TRACEMALLOC_SAMPLE)
    gc.collect()
    tracemalloc.start()
    traced: dict[str, int] = {}

    def traced_mark(what: str) -> None:
        traced[what] = tracemalloc.get_traced_memory()[0]

    try:
        park_cycle(m, traced_mark)
        coro = coroutine_bytes(m)
    finally:
        tracemalloc.stop()
    per_task = (traced["parked"] - traced["start"]) / m
    return {
        "seconds": seconds,
        "ops": n,
        "bytes_per_task": per_task,
        "coroutine_bytes": coro,
        "overhead_bytes_per_task": per_task - coro,
        "tracemalloc_tasks": m,
        "rss_bytes_per_task": (got["parked"] - got["start"]) / n,
        "peak_rss_bytes": got["peak"],
    }


def coroutine_bytes(m: int) -> float:
    """Python-heap bytes of one ``parked(...)`` coroutine, the user's own object (tracemalloc must
    be on). In CPython 3.11 a coroutine's frame lives inside the coroutine object, so an unstarted
    one has the size of a suspended one. It is the same object under every runtime, so
    ``bytes_per_task - coroutine_bytes`` is what the runtime itself adds per pending task."""
    gc.collect()
    before = tracemalloc.get_traced_memory()[0]
    coros = [parked(_no_park) for _ in range(m)]
    after = tracemalloc.get_traced_memory()[0]
    for c in coros:
        c.close()
    return (after - before) / m


def _no_park() -> Any:
    raise AssertionError("never started")


# --- cross-thread wakes: the waking thread, the same for every runtime -----------------------


class WakerThread(threading.Thread):
    """Waits until ``ready()`` says all ``n`` tasks are parked, then calls ``wake(i)`` for each.

    ``t0`` is taken just before the first wake; the runtime takes the end time when its last task
    has completed, so the measured time is "n wakes from another thread, delivered and run".
    """

    def __init__(self, n: int, ready: Callable[[], bool], wake: Callable[[int], object]) -> None:
        super().__init__(name="bench-waker", daemon=True)
        self.n = n
        self.ready = ready
        self.wake = wake
        self.t0 = 0.0

    def run(self) -> None:
        deadline = time.monotonic() + 600
        while not self.ready():
            if time.monotonic() > deadline:
                raise RuntimeError("cross-thread workload: tasks never all parked")
            time.sleep(0.0005)
        wake = self.wake
        self.t0 = time.perf_counter()
        for i in range(self.n):
            wake(i)


# --- time and I/O (issue 14 §4): the same bodies again, the runtime's primitives passed in -----

#: Real-clock sleeps are drawn uniformly from [0, SLEEP_SPAN_REAL) seconds: short, so the
#: runtime's own cost, not the longest deadline, is what the time measures.
SLEEP_SPAN_REAL = 0.001
#: Virtual-clock sleeps are drawn from [0, SLEEP_SPAN_VIRTUAL): an hour of simulated time.
SLEEP_SPAN_VIRTUAL = 3600.0
#: The timeout armed by each iteration of the timeouts workload (never reached).
TIMEOUT_S = 60.0
#: Bytes per echo round trip, and per chunk of the echo throughput workload.
ECHO_MESSAGE = 64
ECHO_CHUNK = 64 * 1024


def bulk_chunks(n: int) -> int:
    """The echo-bulk workload at size ``n`` moves ``n / 16`` chunks of 64 KiB (4 KiB per unit
    of N: 400 MiB each way at N = 10^5)."""
    return max(1, n // 16)


def deadlines(n: int, span: float) -> list[float]:
    """``n`` sleep durations, the same for every runtime (a fixed seed)."""
    import random

    rng = random.Random(14)
    return [rng.random() * span for _ in range(n)]


async def sleeper(sleep: Callable[[float], Any], seconds: float) -> None:
    await sleep(seconds)
    _done()


async def timeouts_async(timeout: Callable[[float], Any], n: int) -> None:
    """Arm and cancel ``n`` timeouts: an ``async with`` block (asyncio, refexec)."""
    for _ in range(n):
        async with timeout(TIMEOUT_S):
            pass
    _done()


async def timeouts_sync(timeout: Callable[[float], Any], n: int) -> None:
    """The same with a synchronous ``with`` block (trio's cancel scopes)."""
    for _ in range(n):
        with timeout(TIMEOUT_S):
            pass
    _done()


def bytes_per_timer(waiting: Callable[[int, bool], float], n: int) -> float:
    """What one armed timer adds to a waiting task: tracemalloc bytes per task of ``n`` tasks
    sleeping (a long timer each) minus ``n`` tasks waiting on an event (no timer); the task,
    its coroutine and its wait cancel out. ``waiting(n, sleep)`` returns bytes per task."""
    n = min(n, TRACEMALLOC_SAMPLE)
    return waiting(n, True) - waiting(n, False)


def traced_bytes(setup: Callable[[], object]) -> int:
    """Python-heap growth (tracemalloc) across ``setup()``, after a full collection."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        keep = setup()
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    del keep
    return after - before
