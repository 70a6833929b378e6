"""A timeout that swallows a result: the item was handed over, then the timeout threw it away.

``Handoff`` gives each item straight to a waiting receiver (it stores the item in the waiter's
slot and wakes it) rather than queueing it. A receiver waits with ``refexec.timeout()``. If the
item is handed over and the deadline fires before the receiver runs again, the timeout cancels
the wait: the receiver reports "nothing came", and the item is gone: neither received nor in the
mailbox. Under FIFO the receiver's deadline fires first, so a plain run is fine (nothing handed
over, the item stays queued). The fix (``fixed=True``): a wait that is cancelled after an item
was handed to it puts the item back at the head of the mailbox.
"""

from __future__ import annotations

from collections import deque

from refexec.examples._types import AnyExecutor
from refexec.executor import Executor
from refexec.explore import always
from refexec.future import FutureBase, spawn
from refexec.poll import Pending, Poll, Ready
from refexec.timers import sleep, timeout
from refexec.waker import Context, Waker

EXECUTORS = ("reference",)
DELAY = 0.01
"""Seconds (of the executor's clock: virtual under ``refexec.explore``) of both deadlines."""


class _Slot:
    def __init__(self) -> None:
        self.full = False
        self.item: str | None = None
        self.waker: Waker | None = None


class _Take(FutureBase[str]):
    def __init__(self, slot: _Slot) -> None:
        self.slot = slot

    def poll(self, cx: Context) -> Poll[str]:
        s = self.slot
        if s.full:
            assert s.item is not None
            return Ready(s.item)
        if s.waker is None:
            s.waker = cx.waker.clone()
        return Pending


class Handoff:
    """A mailbox that hands an item directly to the oldest waiting receiver."""

    def __init__(self, *, fixed: bool) -> None:
        self.fixed = fixed
        self.items: deque[str] = deque()
        self.waiting: deque[_Slot] = deque()

    def put(self, item: str) -> None:
        if self.waiting:
            s = self.waiting.popleft()
            s.item, s.full = item, True  # handed over: no longer in the mailbox
            if s.waker is not None:
                s.waker.wake()
                s.waker = None
        else:
            self.items.append(item)

    async def get(self) -> str:
        if self.items:
            return self.items.popleft()
        s = _Slot()
        self.waiting.append(s)
        try:
            return await _Take(s)
        except BaseException:  # the timeout (or a cancel) ends the wait
            if not s.full:
                self.waiting.remove(s)
            elif self.fixed:
                assert s.item is not None
                self.items.appendleft(s.item)  # the fix: the handed-over item goes back
            raise


async def receive(box: Handoff) -> str | None:
    item: str | None = None
    try:
        async with timeout(DELAY):
            item = await box.get()
    except TimeoutError:
        pass  # nothing came in time (or so it seems)
    return item


async def send(box: Handoff, item: str) -> None:
    await sleep(DELAY)
    box.put(item)


async def orders(*, fixed: bool) -> str | None:
    box = Handoff(fixed=fixed)
    got = spawn(receive(box))
    spawn(send(box, "order-42"))
    item = await got
    await sleep(2 * DELAY)  # the sender has run by now
    always(item == "order-42" or list(box.items) == ["order-42"],
           f"order-42 vanished: received {item!r}, mailbox {list(box.items)}")
    return item


async def buggy() -> str | None:
    """The program with the bug (a fresh coroutine per call, as ``refexec.explore`` wants)."""
    return await orders(fixed=False)


async def fixed() -> str | None:
    """The same program with the fix."""
    return await orders(fixed=True)


def main(executor: AnyExecutor) -> str:
    """Run the buggy program once, under FIFO: it passes (the bug needs another schedule)."""
    assert isinstance(executor, Executor), "runs on the reference Executor only"
    h = executor.spawn(buggy())
    executor.run()
    return (f"FIFO run: received {h.result()!r} (fine by luck); refexec.explore(buggy) finds a "
            "schedule where the timeout swallows the order")
