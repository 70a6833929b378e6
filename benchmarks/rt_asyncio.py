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
import gc
import importlib.util
import time
import tracemalloc
from typing import Any

from benchmarks.common import (
    CHANNEL_CAPACITY,
    ECHO_CHUNK,
    ECHO_MESSAGE,
    SLEEP_SPAN_REAL,
    SLEEP_SPAN_VIRTUAL,
    TIMEOUT_S,
    YIELDS_PER_TASK,
    Count,
    Mark,
    NotSupported,
    Sample,
    WakerThread,
    bulk_chunks,
    bytes_per_timer,
    consumer,
    deadlines,
    parked,
    producer,
    sleeper,
    timeouts_async,
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


# --- time and I/O (issue 14 §4) ----------------------------------------------------------------


def _clocked_loop(variant: str, virtual: bool) -> asyncio.AbstractEventLoop:
    """The variant's loop; for the virtual-clock workloads, asyncio's loop under looptime
    (uvloop's C loop reads the real clock inside, so looptime cannot fake its time)."""
    if not virtual:
        return _new_loop(variant)
    if variant == "uvloop":
        raise NotSupported("uvloop has no virtual clock (looptime patches asyncio's own loop)")
    if importlib.util.find_spec("looptime") is None:
        raise NotSupported("looptime is not installed (pip install -e '.[bench]')")
    import looptime

    return looptime.new_event_loop(start=0.0)


def _sleepers(variant: str, n: int, virtual: bool) -> Sample:
    loop = _clocked_loop(variant, virtual)
    ds = deadlines(n, SLEEP_SPAN_VIRTUAL if virtual else SLEEP_SPAN_REAL)
    try:
        Count.reset(n, loop.stop)
        t0 = time.perf_counter()
        create_task = loop.create_task
        sleep = asyncio.sleep
        for d in ds:
            create_task(sleeper(sleep, d))
        loop.run_forever()
        seconds = time.perf_counter() - t0
    finally:
        loop.close()
    Count.check(n, f"{variant} sleepers")
    return {"seconds": seconds, "ops": n}


def sleepers(variant: str, n: int) -> Sample:
    return _sleepers(variant, n, False)


def sleepers_virtual(variant: str, n: int) -> Sample:
    return _sleepers(variant, n, True)


def _timeout_cm() -> Any:
    """``asyncio.timeout`` (3.11+); on 3.10 the same arm-and-cancel by hand: a ``call_later``
    handle made on entry and cancelled on exit."""
    timeout = getattr(asyncio, "timeout", None)
    if timeout is not None:
        return timeout

    class _Timeout:
        def __init__(self, delay: float) -> None:
            self.delay = delay

        async def __aenter__(self) -> None:
            self.handle = asyncio.get_running_loop().call_later(self.delay, lambda: None)

        async def __aexit__(self, *exc: object) -> None:
            self.handle.cancel()

    return _Timeout


def _timeouts(variant: str, n: int, virtual: bool) -> Sample:
    loop = _clocked_loop(variant, virtual)
    try:
        Count.reset()
        t0 = time.perf_counter()
        loop.run_until_complete(timeouts_async(_timeout_cm(), n))
        seconds = time.perf_counter() - t0
    finally:
        loop.close()
    Count.check(1, f"{variant} timeouts")
    return {"seconds": seconds, "ops": n}


def timeouts(variant: str, n: int) -> Sample:
    return _timeouts(variant, n, False)


def timeouts_virtual(variant: str, n: int) -> Sample:
    return _timeouts(variant, n, True)


def _waiting_bytes(variant: str, n: int, sleep: bool) -> float:
    loop = _new_loop(variant)

    async def main() -> float:
        ev = asyncio.Event()

        async def task() -> None:
            if sleep:
                await asyncio.sleep(TIMEOUT_S)
            else:
                await ev.wait()

        coros = [task() for _ in range(n)]
        tasks: list[asyncio.Task[None]] = []

        def setup() -> object:
            tasks.extend(loop.create_task(c) for c in coros)
            return None

        # the tasks' first steps run at the next loop iteration: measure across it
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        setup()
        await asyncio.sleep(0)
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        return (after - before) / n

    try:
        return loop.run_until_complete(main())
    finally:
        loop.close()


def timer_memory(variant: str, n: int) -> Sample:
    t0 = time.perf_counter()
    per_timer = bytes_per_timer(lambda m, s: _waiting_bytes(variant, m, s), n)
    return {"seconds": time.perf_counter() - t0, "ops": n, "bytes_per_timer": per_timer}


def _echo_run(variant: str, client_body: Any) -> float:
    loop = _new_loop(variant)
    handled: list[asyncio.Future[None]] = []

    async def _echo_handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        done = loop.create_future()
        handled.append(done)
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        writer.close()
        await writer.wait_closed()
        done.set_result(None)

    async def main() -> float:
        server = await asyncio.start_server(_echo_handler, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            return float(await client_body(reader, writer))
        finally:
            writer.close()
            await writer.wait_closed()
            await asyncio.gather(*handled)  # the server's end saw the end of stream, closed
            server.close()
            await server.wait_closed()

    try:
        return loop.run_until_complete(main())
    finally:
        loop.close()


async def _round_trips(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                       n: int) -> float:
    msg = b"x" * ECHO_MESSAGE
    t0 = time.perf_counter()
    for _ in range(n):
        writer.write(msg)
        await writer.drain()
        await reader.readexactly(ECHO_MESSAGE)
    return time.perf_counter() - t0


async def _bulk(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> float:
    chunk = b"x" * ECHO_CHUNK
    total = n * ECHO_CHUNK

    async def write_all() -> None:
        for _ in range(n):
            writer.write(chunk)
            await writer.drain()

    t0 = time.perf_counter()
    w = asyncio.ensure_future(write_all())
    got = 0
    while got < total:
        got += len(await reader.read(65536))
    await w
    return time.perf_counter() - t0


def echo(variant: str, n: int) -> Sample:
    return {"seconds": _echo_run(variant, lambda r, w: _round_trips(r, w, n)), "ops": n}


def echo_bulk(variant: str, n: int) -> Sample:
    chunks = bulk_chunks(n)
    seconds = _echo_run(variant, lambda r, w: _bulk(r, w, chunks))
    return {"seconds": seconds, "ops": chunks, "bytes": chunks * ECHO_CHUNK}
