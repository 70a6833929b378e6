"""Memory of timers (issue 14 §1): ``python -m benchmarks.timer_memory [N]``.

Arms and cancels N ``refexec.timeout`` blocks (and N ``sleep`` futures dropped unpolled-to-
completion by ``with_timeout``) on a ``VirtualClock`` executor and reports, with tracemalloc,
the memory traced before, at the peak and after: a cancelled timer must not stay in the heap,
so "after" is where "before" was, whatever N is. Also the bytes one armed timer adds to a
waiting task (N/10 tasks sleeping minus N/10 tasks waiting on an Event, so the task and its
coroutine cancel), for refexec and for asyncio. Prints one line of JSON.
"""

from __future__ import annotations

import asyncio
import gc
import json
import sys
import tracemalloc

import refexec
from refexec import Executor, VirtualClock


def measure(n: int) -> dict[str, int]:
    ex = Executor(clock=VirtualClock())

    async def arm_and_cancel() -> None:
        for _ in range(n):
            async with refexec.timeout(60):
                pass

    async def warm() -> None:
        async with refexec.timeout(60):
            pass

    ex.block_on(warm())
    gc.collect()
    tracemalloc.start()
    before, _ = tracemalloc.get_traced_memory()
    ex.block_on(arm_and_cancel())
    gc.collect()
    after, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    drv = ex._driver
    return {"n": n, "before": before, "peak": peak, "after": after,
            "armed": drv.armed, "heap_entries": drv.heap_size}


def _refexec_per_task(n: int, sleep: bool) -> float:
    ex = Executor(clock=VirtualClock())
    ev = refexec.Event()

    async def task() -> None:
        if sleep:
            await refexec.sleep(60)
        else:
            await ev.wait()

    coros = [task() for _ in range(n)]
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for c in coros:
        ex.spawn(c)
    ex.run_until_stalled()
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    ex.close()
    return (after - before) / n


def _asyncio_per_task(n: int, sleep: bool) -> float:
    async def main() -> float:
        ev = asyncio.Event()

        async def task() -> None:
            if sleep:
                await asyncio.sleep(60)
            else:
                await ev.wait()

        coros = [task() for _ in range(n)]
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        tasks = [asyncio.ensure_future(c) for c in coros]
        await asyncio.sleep(0)
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        return (after - before) / n

    return asyncio.run(main())


def per_timer(n: int) -> dict[str, float]:
    """Bytes an armed timer adds to a waiting task, refexec and asyncio."""
    ref = _refexec_per_task(n, True) - _refexec_per_task(n, False)
    aio = _asyncio_per_task(n, True) - _asyncio_per_task(n, False)
    return {"refexec_bytes_per_timer": round(ref), "asyncio_bytes_per_timer": round(aio),
            "ratio": round(ref / aio, 2)}


if __name__ == "__main__":
    n = int(float(sys.argv[1])) if len(sys.argv) > 1 else 1_000_000
    print(json.dumps({**measure(n), **per_timer(max(n // 10, 1000))}))
