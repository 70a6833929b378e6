"""A task that can never be woken again: reported by ``Executor``, dropped in silence by the seed.

``Forgetful`` returns ``Pending`` but keeps no waker: it breaks the one rule of ``poll`` ("if
you return Pending, arrange to be woken"). After its first poll the task is ``IDLE`` and no live
waker can ever make it ``SCHEDULED`` again. ``Executor.run()`` notices — no task is queued, and
no live waker belongs to the waiting task — and ends the task as ``lost``: the run's report
lists it and its ``JoinHandle`` raises ``TaskLost``. ``SimpleExecutor`` (the seed's design)
holds the task only through wakers, so when the poll's waker is dropped the task is freed and
``run()`` returns as if all went well: the bug is invisible.
"""

from __future__ import annotations

from refexec.errors import TaskLost
from refexec.examples._types import AnyExecutor
from refexec.executor import Executor
from refexec.future import FutureBase
from refexec.poll import Pending, Poll
from refexec.waker import Context

EXECUTORS = ("reference", "simple")


class Forgetful(FutureBase[None]):
    """The bug: Pending, and no ``cx.waker.clone()`` kept anywhere."""

    def poll(self, cx: Context) -> Poll[None]:
        return Pending


def main(executor: AnyExecutor) -> str:
    """Run one forgetful task and describe what the executor made of it."""
    finished: list[bool] = []

    async def task() -> None:
        await Forgetful()
        finished.append(True)  # never reached

    if isinstance(executor, Executor):
        handle = executor.spawn(task())
        executor.run()
        try:
            handle.result()
        except TaskLost as exc:
            return f"reported: {exc}"
        return "not reported (a bug in the executor)"  # pragma: no cover
    executor.spawn(task())
    executor.run()
    return "run() returned normally; the task never finished and nothing said so"
