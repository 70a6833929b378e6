"""``current_task()``: which task is this code running in?"""

from __future__ import annotations

from typing import Any

from refexec.executor import JoinHandle
from refexec.future import _runner

__all__ = ["current_task"]


def current_task() -> JoinHandle[Any] | None:
    """The ``JoinHandle`` of the ``Executor`` task being polled on this thread, or ``None``
    outside any task (and inside a ``SimpleExecutor`` task: the seed's design has no
    JoinHandles). Like ``asyncio.current_task()``, it reads the per-thread runner the
    executor sets for each poll, so it costs nothing when not called."""
    cur = _runner().current
    return cur if isinstance(cur, JoinHandle) else None
