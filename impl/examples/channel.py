"""A producer and a consumer over a bounded mpsc channel: parking on "full" and on "empty".

The channel holds at most two items. The producer sends five; when the buffer is full its
``await tx.send(v)`` stores a clone of its waker in the channel and returns ``Pending``. Each
item the consumer takes frees a slot and wakes the producer; each item the producer puts in
wakes the consumer if it was waiting. Closing the sender (the ``with`` block) ends the
consumer's ``async for``. In the trace, look for ``waker_clone`` (a future keeping its task
wakeable) followed later by ``wake`` from the *other* task.
"""

from __future__ import annotations

from refexec.examples._types import AnyExecutor
from refexec.sync import Receiver, Sender, channel

EXECUTORS = ("reference", "simple")

CAPACITY = 2
ITEMS = 5


def main(executor: AnyExecutor) -> list[int]:
    """Send ``ITEMS`` numbers through a channel of capacity ``CAPACITY``; return what arrived."""
    received: list[int] = []
    tx: Sender[int]
    rx: Receiver[int]
    tx, rx = channel(CAPACITY)

    async def producer(tx: Sender[int]) -> None:
        with tx:  # closing the only sender ends the stream
            for n in range(1, ITEMS + 1):
                await tx.send(n)  # parks while two items are waiting

    async def consumer(rx: Receiver[int]) -> None:
        async for n in rx:
            received.append(n)

    executor.spawn(producer(tx))
    executor.spawn(consumer(rx))
    del tx, rx  # the tasks own the two ends now
    executor.run()
    return received
