"""trio (variant ``"trio"``).

Tasks run in one nursery (trio has no unstructured spawn); the timed region starts inside
``trio.run`` just before the first ``start_soon`` and ends when the nursery has joined every task.
The yield is ``trio.lowlevel.checkpoint()``, the channel ``trio.open_memory_channel``, the park
``trio.lowlevel.wait_task_rescheduled`` (the primitive every trio wait is built on), and the
cross-thread wake ``TrioToken.run_sync_soon(trio.lowlevel.reschedule, task)``: trio's
non-blocking equivalent of ``call_soon_threadsafe`` (``trio.from_thread.run_sync`` would wait for
a round trip per wake).
"""

from __future__ import annotations

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
    Sample,
    WakerThread,
    bulk_chunks,
    bytes_per_timer,
    consumer,
    deadlines,
    parked,
    producer,
    sleeper,
    timeouts_sync,
    trivial,
    yielder,
)


def available(variant: str) -> str | None:
    if importlib.util.find_spec("trio") is None:
        return "trio is not installed (pip install -e '.[bench]')"
    return None


def spawn(variant: str, n: int) -> Sample:
    import trio
    import trio.testing

    async def main() -> float:
        t0 = time.perf_counter()
        async with trio.open_nursery() as nursery:
            start_soon = nursery.start_soon
            for _ in range(n):
                start_soon(trivial)
        return time.perf_counter() - t0

    Count.reset()
    seconds = trio.run(main)
    Count.check(n, "trio spawn")
    return {"seconds": seconds, "ops": n}


def pingpong(variant: str, n: int) -> Sample:
    import trio
    import trio.testing

    checkpoint = trio.lowlevel.checkpoint

    async def main() -> float:
        t0 = time.perf_counter()
        async with trio.open_nursery() as nursery:
            start_soon = nursery.start_soon
            for _ in range(n):
                start_soon(yielder, checkpoint)
        return time.perf_counter() - t0

    Count.reset()
    seconds = trio.run(main)
    Count.check(n, "trio pingpong")
    return {"seconds": seconds, "ops": n * YIELDS_PER_TASK}


def prodcons(variant: str, n: int) -> Sample:
    import trio
    import trio.testing

    async def main() -> float:
        t0 = time.perf_counter()
        send, recv = trio.open_memory_channel[Any](CHANNEL_CAPACITY)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(consumer, recv.receive)
            nursery.start_soon(producer, send.send, n)
        return time.perf_counter() - t0

    Count.reset()
    seconds = trio.run(main)
    Count.check(n, "trio prodcons")
    return {"seconds": seconds, "ops": n}


def _parker(tasks: list[Any]) -> Any:
    import trio
    import trio.testing

    current_task = trio.lowlevel.current_task
    wait = trio.lowlevel.wait_task_rescheduled

    def abort(_: Any) -> Any:
        return trio.lowlevel.Abort.FAILED

    def park() -> Any:
        tasks.append(current_task())
        return wait(abort)

    return park


def park_cycle(variant: str, n: int, mark: Mark) -> None:
    import trio
    import trio.testing

    async def main() -> None:
        tasks: list[Any] = []
        park = _parker(tasks)
        mark("start")
        async with trio.open_nursery() as nursery:
            start_soon = nursery.start_soon
            for _ in range(n):
                start_soon(parked, park)
            while len(tasks) < n:
                await trio.lowlevel.checkpoint()
            mark("parked")
            reschedule = trio.lowlevel.reschedule
            for task in tasks:
                reschedule(task)

    Count.reset()
    trio.run(main)
    Count.check(n, "trio park cycle")


def xthread(variant: str, n: int) -> Sample:
    import trio
    import trio.testing

    async def main() -> float:
        tasks: list[Any] = []
        park = _parker(tasks)
        token = trio.lowlevel.current_trio_token()
        run_sync_soon = token.run_sync_soon
        reschedule = trio.lowlevel.reschedule

        def wake(i: int) -> None:
            run_sync_soon(reschedule, tasks[i])

        thread = WakerThread(n, lambda: len(tasks) == n, wake)
        async with trio.open_nursery() as nursery:
            start_soon = nursery.start_soon
            for _ in range(n):
                start_soon(parked, park)
            thread.start()
        t1 = time.perf_counter()
        thread.join()
        return t1 - thread.t0

    Count.reset()
    seconds = trio.run(main)
    Count.check(n, "trio xthread")
    return {"seconds": seconds, "ops": n}


# --- time and I/O (issue 14 §4) ----------------------------------------------------------------


def _run(main: Any, virtual: bool) -> Any:
    """``trio.run(main)``, on ``MockClock(autojump_threshold=0)`` for the virtual workloads."""
    import trio
    import trio.testing

    if virtual:
        return trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    return trio.run(main)


def _sleepers(n: int, virtual: bool) -> Sample:
    import trio
    import trio.testing

    ds = deadlines(n, SLEEP_SPAN_VIRTUAL if virtual else SLEEP_SPAN_REAL)

    async def main() -> float:
        t0 = time.perf_counter()
        async with trio.open_nursery() as nursery:
            start_soon = nursery.start_soon
            sleep = trio.sleep
            for d in ds:
                start_soon(sleeper, sleep, d)
        return time.perf_counter() - t0

    Count.reset()
    seconds = _run(main, virtual)
    Count.check(n, "trio sleepers")
    return {"seconds": seconds, "ops": n}


def sleepers(variant: str, n: int) -> Sample:
    return _sleepers(n, False)


def sleepers_virtual(variant: str, n: int) -> Sample:
    return _sleepers(n, True)


def _timeouts(n: int, virtual: bool) -> Sample:
    import trio
    import trio.testing

    async def main() -> float:
        t0 = time.perf_counter()
        await timeouts_sync(trio.move_on_after, n)
        return time.perf_counter() - t0

    Count.reset()
    seconds = _run(main, virtual)
    Count.check(1, "trio timeouts")
    return {"seconds": seconds, "ops": n}


def timeouts(variant: str, n: int) -> Sample:
    return _timeouts(n, False)


def timeouts_virtual(variant: str, n: int) -> Sample:
    return _timeouts(n, True)


def _waiting_bytes(n: int, sleep: bool) -> float:
    import trio
    import trio.testing

    async def main() -> float:
        ev = trio.Event()

        async def task() -> None:
            if sleep:
                await trio.sleep(TIMEOUT_S)
            else:
                await ev.wait()

        async with trio.open_nursery() as nursery:
            gc.collect()
            tracemalloc.start()
            before = tracemalloc.get_traced_memory()[0]
            for _ in range(n):
                nursery.start_soon(task)
            await trio.testing.wait_all_tasks_blocked()
            gc.collect()
            after = tracemalloc.get_traced_memory()[0]
            tracemalloc.stop()
            nursery.cancel_scope.cancel()
        return (after - before) / n

    return float(trio.run(main))


def timer_memory(variant: str, n: int) -> Sample:
    t0 = time.perf_counter()
    per_timer = bytes_per_timer(_waiting_bytes, n)
    return {"seconds": time.perf_counter() - t0, "ops": n, "bytes_per_timer": per_timer}


async def _echo_handler(stream: Any) -> None:
    async with stream:
        while data := await stream.receive_some(65536):
            await stream.send_all(data)


def _echo_run(client_body: Any) -> float:
    import trio
    import trio.testing

    async def main() -> float:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        port = listeners[0].socket.getsockname()[1]
        async with trio.open_nursery() as nursery:
            nursery.start_soon(trio.serve_listeners, _echo_handler, listeners)
            client = await trio.open_tcp_stream("127.0.0.1", port)
            try:
                return float(await client_body(client, nursery))
            finally:
                await client.aclose()
                nursery.cancel_scope.cancel()

    return float(trio.run(main))


async def _round_trips(client: Any, n: int) -> float:
    msg = b"x" * ECHO_MESSAGE
    t0 = time.perf_counter()
    for _ in range(n):
        await client.send_all(msg)
        got = 0
        while got < ECHO_MESSAGE:
            got += len(await client.receive_some(65536))
    return time.perf_counter() - t0


async def _bulk(client: Any, nursery: Any, n: int) -> float:
    chunk = b"x" * ECHO_CHUNK
    total = n * ECHO_CHUNK

    async def writer() -> None:
        for _ in range(n):
            await client.send_all(chunk)

    t0 = time.perf_counter()
    nursery.start_soon(writer)
    got = 0
    while got < total:
        got += len(await client.receive_some(65536))
    return time.perf_counter() - t0


def echo(variant: str, n: int) -> Sample:
    return {"seconds": _echo_run(lambda c, _n: _round_trips(c, n)), "ops": n}


def echo_bulk(variant: str, n: int) -> Sample:
    chunks = bulk_chunks(n)
    seconds = _echo_run(lambda c, ny: _bulk(c, ny, chunks))
    return {"seconds": seconds, "ops": chunks, "bytes": chunks * ECHO_CHUNK}
