"""Memory of armed-and-cancelled timers (issue 14 §1): ``python -m benchmarks.timer_memory [N]``.

Arms and cancels N ``refexec.timeout`` blocks (and N ``sleep`` futures dropped unpolled-to-
completion by ``with_timeout``) on a ``VirtualClock`` executor and reports, with tracemalloc,
the memory traced before, at the peak and after: a cancelled timer must not stay in the heap,
so "after" is where "before" was, whatever N is. Prints one line of JSON.
"""

from __future__ import annotations

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


if __name__ == "__main__":
    print(json.dumps(measure(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)))
