"""Awaiting JoinHandles: results flow back to the spawner, and so does an exception.

A coordinator task spawns three workers from inside the executor (``refexec.future.spawn`` uses
the executor of the running task) and awaits their ``JoinHandle``s. Two workers return squares;
the third raises ``ValueError``. The exception does not stop the executor or the other tasks: it
completes that task, is stored in its handle, and is raised again where the handle is awaited,
so the coordinator can catch it. While the coordinator awaits an unfinished worker it is
``pending``; the worker's completion wakes it (``wake`` in the trace).
"""

from __future__ import annotations

from refexec.executor import Executor
from refexec.future import spawn, yield_now

EXECUTORS = ("reference",)


async def square(n: int) -> int:
    """A worker: yields once (so the coordinator really waits), then returns ``n * n``."""
    await yield_now()
    return n * n


async def broken() -> int:
    """A worker that fails."""
    await yield_now()
    raise ValueError("worker 3 failed on purpose")


async def coordinator() -> dict[str, object]:
    """Spawn the workers, await each handle, and catch the failure."""
    handles = [spawn(square(n)) for n in (2, 3)]
    bad = spawn(broken())
    results = [await handle for handle in handles]
    try:
        await bad
    except ValueError as exc:
        caught = f"{type(exc).__name__}: {exc}"
    else:  # pragma: no cover - the worker always raises
        caught = "nothing"
    return {"results": results, "caught": caught}


def main(executor: Executor) -> dict[str, object]:
    """Run the coordinator and return its report (the worker results and the caught error)."""
    handle = executor.spawn(coordinator())
    executor.run()
    return handle.result()
