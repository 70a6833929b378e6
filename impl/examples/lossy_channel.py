"""A hand-written channel that loses a wake: one waker slot, two receivers.

``LossyMailbox`` keeps the waker of *the* waiting receiver in one slot. With two receivers
waiting at once, the second one's ``poll`` overwrites the slot: the first receiver's waker is
dropped, so nothing can ever wake it (refexec ends it as *lost*, and its stall verdict names the
poll and the line that dropped the waker). Under FIFO the second receiver starts late enough
that the two never wait together, so a plain run passes. ``Mailbox`` (the fix) keeps a queue of
wakers, one per waiting receiver.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from refexec.examples._types import AnyExecutor
from refexec.executor import Executor
from refexec.future import FutureBase, spawn, yield_now
from refexec.poll import Pending, Poll, Ready
from refexec.waker import Context, Waker

EXECUTORS = ("reference",)


class LossyMailbox:
    """The bug: one slot for the waker of whoever waits."""

    def __init__(self) -> None:
        self.items: deque[Any] = deque()
        self.waker: Waker | None = None

    def put(self, item: Any) -> None:
        self.items.append(item)
        w, self.waker = self.waker, None
        if w is not None:
            w.wake()

    def get(self) -> FutureBase[Any]:
        return _LossyGet(self)


class _LossyGet(FutureBase[Any]):
    def __init__(self, box: LossyMailbox) -> None:
        self.box = box

    def poll(self, cx: Context) -> Poll[Any]:
        box = self.box
        if box.items:
            return Ready(box.items.popleft())
        box.waker = cx.waker.clone()  # BUG: overwrites (drops) another receiver's waker
        return Pending


class Mailbox:
    """The fix: every waiting receiver's waker is kept, and each put wakes the oldest."""

    def __init__(self) -> None:
        self.items: deque[Any] = deque()
        self.wakers: deque[Waker] = deque()

    def put(self, item: Any) -> None:
        self.items.append(item)
        if self.wakers:
            self.wakers.popleft().wake()

    def get(self) -> FutureBase[Any]:
        return _Get(self)


class _Get(FutureBase[Any]):
    def __init__(self, box: Mailbox) -> None:
        self.box = box

    def poll(self, cx: Context) -> Poll[Any]:
        box = self.box
        if box.items:
            return Ready(box.items.popleft())
        if not any(w.will_wake(cx.waker) for w in box.wakers):
            box.wakers.append(cx.waker.clone())
        return Pending


async def receiver(box: Any, think: int) -> Any:
    for _ in range(think):
        await yield_now()
    return await box.get()


async def producer(box: Any) -> None:
    await yield_now()
    box.put("first")
    await yield_now()
    box.put("second")


async def post_office(box: Any) -> list[Any]:
    a = spawn(receiver(box, 0))
    b = spawn(receiver(box, 2))
    spawn(producer(box))
    return sorted([await a, await b])


async def buggy() -> list[Any]:
    """The program with the bug (a fresh coroutine per call, as ``refexec.explore`` wants)."""
    return await post_office(LossyMailbox())


async def fixed() -> list[Any]:
    """The same program with the fix."""
    return await post_office(Mailbox())


def main(executor: AnyExecutor) -> str:
    """Run the buggy program once, under FIFO: it passes (the bug needs another schedule)."""
    assert isinstance(executor, Executor), "runs on the reference Executor only"
    h = executor.spawn(buggy())
    executor.run()
    return (f"FIFO run: received {h.result()} (fine by luck); refexec.explore(buggy) finds a "
            "schedule where a receiver is lost")
