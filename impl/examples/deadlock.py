"""More wakes in one poll than the seed's queue holds: a deadlock in Rust, an error or a merge here.

``WakeStorm`` wakes its own task by reference ``capacity + 1`` times inside a single poll. In the
seed's design every wake sends the task into the bounded ready queue
(``mpsc::sync_channel(100)``), and the only thread that could receive is the one sending: in
Rust the 101st ``send`` blocks forever. ``SimpleExecutor`` raises ``DeadlockError`` there
instead of hanging. ``Executor`` keeps each task in the queue at most once: the first wake marks
the running task ``NOTIFIED``, the other wakes are merged into it, and the task is polled
exactly once more.
"""

from __future__ import annotations

from refexec.errors import DeadlockError
from refexec.examples._types import AnyExecutor
from refexec.executor import Executor
from refexec.future import FutureBase
from refexec.poll import Pending, Poll, Ready
from refexec.waker import Context

EXECUTORS = ("reference", "simple")

CAPACITY = 100
"""The seed's queue capacity (``SimpleExecutor``'s default)."""


class WakeStorm(FutureBase[int]):
    """Wakes its own task ``times`` times during its first poll; Ready on the next poll."""

    def __init__(self, times: int) -> None:
        self._times = times
        self._polls = 0

    def poll(self, cx: Context) -> Poll[int]:
        self._polls += 1
        if self._polls > 1:
            return Ready(self._polls)
        for _ in range(self._times):
            cx.waker.wake_by_ref()
        return Pending


def main(executor: AnyExecutor) -> str:
    """Run one storming task and describe how the executor coped."""
    polls: list[int] = []
    storm = getattr(executor, "capacity", CAPACITY) + 1  # one wake more than the queue holds

    async def task() -> None:
        polls.append(await WakeStorm(storm))

    executor.spawn(task())
    try:
        executor.run()
    except DeadlockError as exc:
        return f"DeadlockError: {exc}"
    if isinstance(executor, Executor):
        merged = executor.stats.wakes_during_poll
        return f"{merged} wakes during one poll were merged into exactly one more poll"
    return f"finished after {polls[0]} polls"  # pragma: no cover - the seed design deadlocks
