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

import importlib.util
import time
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


def available(variant: str) -> str | None:
    if importlib.util.find_spec("trio") is None:
        return "trio is not installed (pip install -e '.[bench]')"
    return None


def spawn(variant: str, n: int) -> Sample:
    import trio

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
