"""Ping-pong by yielding: each yield is one wake_by_ref, one Pending, and one more poll.

Two tasks hit a shared ball back and forth three times each. A task hits, then yields; the
executor's ready queue is first-in first-out, so the other task is polled next. Every round
adds, per task, the same four trace rows: ``poll``, ``wake_by_ref``, ``pending``, then the next
``poll``. The poll numbers count up: a task that yields ``n`` times is polled ``n + 1`` times.
"""

from __future__ import annotations

from refexec.examples._types import AnyExecutor
from refexec.future import yield_now

EXECUTORS = ("reference", "simple")

ROUNDS = 3


def main(executor: AnyExecutor) -> list[str]:
    """Play ``ROUNDS`` rounds and return the hits in the order they happened."""
    hits: list[str] = []

    async def player(sound: str) -> None:
        for n in range(1, ROUNDS + 1):
            hits.append(f"{sound} {n}")
            await yield_now()

    executor.spawn(player("ping"))
    executor.spawn(player("pong"))
    executor.run()
    return hits
