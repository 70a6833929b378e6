"""Two tasks take turns: spawn, poll, pending, wake, re-poll, ready — the whole life of a task.

Each task records a greeting, then ``await yield_now()``: that future wakes its own task by
reference (``wake_by_ref``) and returns ``Pending``, so the executor puts the task at the back of
the ready queue and polls the other one. Watch the trace: both first polls come before either
second poll, because each yield let the other task run.
"""

from __future__ import annotations

from refexec.examples._types import AnyExecutor
from refexec.future import yield_now

EXECUTORS = ("reference", "simple")


def main(executor: AnyExecutor) -> list[str]:
    """Run two greeting tasks to completion and return what they said, in order."""
    said: list[str] = []

    async def greet(name: str) -> None:
        said.append(f"{name}: hello")
        await yield_now()  # wake_by_ref + Pending: "poll me again, after the others"
        said.append(f"{name}: goodbye")

    executor.spawn(greet("alice"))
    executor.spawn(greet("bob"))
    executor.run()
    return said
