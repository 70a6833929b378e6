"""asyncio and uvloop (variant ``"asyncio"`` or ``"uvloop"``): the same code, two event loops.

Tasks are created with ``loop.create_task`` before the loop runs, so the timed region is spawn
plus run, as for every other runtime. The yield is ``asyncio.sleep(0)``, the channel an
``asyncio.Queue(maxsize=CHANNEL_CAPACITY)``, the park an ``await`` of a future (one shared future
for the memory workload: the cheapest pending task asyncio has), and the cross-thread wake
``loop.call_soon_threadsafe(future.set_result, None)``.
"""

from __future__ import annotations

import asyncio
import functools
import importlib.util
import time

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


def available(variant: str) -> str | None:
    if variant == "uvloop" and importlib.util.find_spec("uvloop") is None:
        return "uvloop is not installed (pip install -e '.[bench]')"
    return None


def _new_loop(variant: str) -> asyncio.AbstractEventLoop:
    if variant == "uvloop":
        import uvloop

        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def spawn(variant: str, n: int) -> Sample:
    loop = _new_loop(variant)
    try:
        Count.reset()
        t0 = time.perf_counter()
        create_task = loop.create_task
        for _ in range(n):
            create_task(trivial())
        loop.call_soon(loop.stop)  # FIFO: runs after every task's first (and only) step
        loop.run_forever()
        seconds = time.perf_counter() - t0
    finally:
        loop.close()
    Count.check(n, f"{variant} spawn")
    return {"seconds": seconds, "ops": n}


def pingpong(variant: str, n: int) -> Sample:
    loop = _new_loop(variant)
    sleep0 = functools.partial(asyncio.sleep, 0)
    try:
        Count.reset(n, loop.stop)
        t0 = time.perf_counter()
        create_task = loop.create_task
        for _ in range(n):
            create_task(yielder(sleep0))
        loop.run_forever()
        seconds = time.perf_counter() - t0
    finally:
        loop.close()
    Count.check(n, f"{variant} pingpong")
    return {"seconds": seconds, "ops": n * YIELDS_PER_TASK}


def prodcons(variant: str, n: int) -> Sample:
    loop = _new_loop(variant)
    try:
        Count.reset()
        t0 = time.perf_counter()
        queue: asyncio.Queue[int | None] = asyncio.Queue(maxsize=CHANNEL_CAPACITY)
        done = loop.create_task(consumer(queue.get))
        loop.create_task(producer(queue.put, n))
        loop.run_until_complete(done)
        seconds = time.perf_counter() - t0
    finally:
        loop.close()
    Count.check(n, f"{variant} prodcons")
    return {"seconds": seconds, "ops": n}


def park_cycle(variant: str, n: int, mark: Mark) -> None:
    loop = _new_loop(variant)
    try:
        fut: asyncio.Future[None] = loop.create_future()

        def park() -> asyncio.Future[None]:
            return fut

        Count.reset(n, loop.stop)
        mark("start")
        create_task = loop.create_task
        for _ in range(n):
            create_task(parked(park))
        loop.call_soon(loop.stop)  # after every task's first step: all are awaiting fut
        loop.run_forever()
        mark("parked")
        fut.set_result(None)
        loop.run_forever()  # until the last task completes (Count's target stops the loop)
    finally:
        loop.close()
    Count.check(n, f"{variant} park cycle")


def xthread(variant: str, n: int) -> Sample:
    loop = _new_loop(variant)
    try:
        futs: list[asyncio.Future[None]] = []

        def park() -> asyncio.Future[None]:
            f: asyncio.Future[None] = loop.create_future()
            futs.append(f)
            return f

        call_soon_threadsafe = loop.call_soon_threadsafe

        def wake(i: int) -> None:
            call_soon_threadsafe(futs[i].set_result, None)

        Count.reset(n, loop.stop)
        create_task = loop.create_task
        for _ in range(n):
            create_task(parked(park))
        thread = WakerThread(n, lambda: len(futs) == n, wake)
        thread.start()
        loop.run_forever()
        t1 = time.perf_counter()
        thread.join()
    finally:
        loop.close()
    Count.check(n, f"{variant} xthread")
    return {"seconds": t1 - thread.t0, "ops": n}
