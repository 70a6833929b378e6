"""``refexec.block_on``: run one awaitable to completion on the calling thread.

It creates a fresh :class:`~refexec.Executor`, drives it until the awaitable's task finishes
(also driving anything it spawns), then closes it, cancelling tasks still unfinished. Between
wakes the calling thread is parked on a ``threading.Condition`` (no busy loop), so wakes from
other threads resume it at once.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar

from refexec.executor import Executor
from refexec.trace import Trace

__all__ = ["block_on"]

T = TypeVar("T")


def block_on(
    aw: Awaitable[T], *, trace: Trace | None = None, stall_timeout: float | None = None
) -> T:
    """Return the output of ``aw`` (or raise its exception), running it on a fresh Executor.

    Raises ``RuntimeError`` inside a running refexec task (await instead), ``TaskLost`` if the
    task can never be woken again, ``Stalled`` if ``stall_timeout`` passes with nothing happening.
    """
    ex = Executor(trace=trace)
    try:
        return ex.block_on(aw, stall_timeout=stall_timeout)
    finally:
        ex.close()
