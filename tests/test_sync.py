"""Tests of refexec.sync: oneshot, mpsc channel, Event.

Most tests poll the futures by hand with a counting waker, so they can assert the exact number
of live waker handles a future keeps (the reference executor reports a task as lost when that
number is zero, so "keeps one clone while parked, none after" is the contract). The rest run the
structures on both executors, and across real threads.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable
from typing import Any

import pytest
from refexec import sync
from refexec.executor import Executor
from refexec.future import FutureBase, spawn, yield_now
from refexec.poll import Pending, Poll, Ready
from refexec.simple import SimpleExecutor
from refexec.sync import (
    ChannelClosed,
    ChannelEmpty,
    ChannelFull,
    Event,
    OneshotReceiver,
    OneshotSender,
    Receiver,
    Sender,
    channel,
    oneshot,
)
from refexec.waker import Context, RawWaker, RawWakerVTable, Waker


class Counter:
    """The task behind a counting waker: live handles (beyond the owner's) and wakes."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.handles = 1  # the owner handle returned by waker()
        self.wakes = 0

    def waker(self) -> Waker:
        return Waker.from_raw(RawWaker(self, _VTABLE))

    @property
    def kept(self) -> int:
        """Handles held by others than the test's owner handle (the owner stays alive)."""
        return self.handles - 1


def _clone(c: Counter) -> RawWaker:
    with c.lock:
        c.handles += 1
    return RawWaker(c, _VTABLE)


def _wake(c: Counter) -> None:
    with c.lock:
        c.wakes += 1
        c.handles -= 1


def _wake_by_ref(c: Counter) -> None:
    with c.lock:
        c.wakes += 1


def _drop(c: Counter) -> None:
    with c.lock:
        c.handles -= 1


_VTABLE = RawWakerVTable(_clone, _wake, _wake_by_ref, _drop)


class Poller:
    """Polls futures by hand as one task would, with a fresh Context per poll."""

    def __init__(self) -> None:
        self.counter = Counter()
        self.owner = self.counter.waker()

    def poll(self, fut: FutureBase[Any]) -> Poll[Any]:
        cx = Context(self.owner)
        try:
            return fut.poll(cx)
        finally:
            cx._expire()

    @property
    def kept(self) -> int:
        return self.counter.kept

    @property
    def wakes(self) -> int:
        return self.counter.wakes


# ---------------------------------------------------------------------------------------------
# oneshot


def test_oneshot_value_sent_first_is_ready_at_once() -> None:
    tx, rx = oneshot()
    tx.send(7)
    p = Poller()
    assert p.poll(rx) == Ready(7)
    assert p.kept == 0


def test_oneshot_parked_receiver_keeps_one_clone_and_send_consumes_it() -> None:
    tx, rx = oneshot()
    p = Poller()
    assert p.poll(rx) is Pending
    assert p.kept == 1
    assert p.poll(rx) is Pending  # same task: will_wake holds, no second clone
    assert p.kept == 1
    tx.send("v")
    assert (p.wakes, p.kept) == (1, 0)
    assert p.poll(rx) == Ready("v")
    assert p.kept == 0


def test_oneshot_repoll_with_another_task_waker_replaces_the_clone() -> None:
    _tx, rx = oneshot()
    first, second = Poller(), Poller()
    assert first.poll(rx) is Pending
    assert second.poll(rx) is Pending
    assert (first.kept, second.kept) == (0, 1)


def test_oneshot_sender_dropped_wakes_receiver_with_channel_closed() -> None:
    tx, rx = oneshot()
    p = Poller()
    assert p.poll(rx) is Pending
    del tx
    gc.collect()
    assert (p.wakes, p.kept) == (1, 0)
    with pytest.raises(ChannelClosed, match="sender was closed or dropped"):
        p.poll(rx)


@pytest.mark.parametrize("how", ["close", "with"])
def test_oneshot_sender_closed_explicitly(how: str) -> None:
    tx, rx = oneshot()
    p = Poller()
    assert p.poll(rx) is Pending
    if how == "close":
        tx.close()
        tx.close()  # idempotent
    else:
        with tx:
            pass
    assert (p.wakes, p.kept) == (1, 0)
    with pytest.raises(ChannelClosed):
        p.poll(rx)
    with pytest.raises(RuntimeError, match="already used"):
        tx.send(1)


def test_oneshot_receiver_dropped_releases_its_waker_and_send_fails() -> None:
    tx, rx = oneshot()
    p = Poller()
    assert p.poll(rx) is Pending
    del rx
    gc.collect()
    assert (p.wakes, p.kept) == (0, 0)
    assert tx.is_closed()
    with pytest.raises(ChannelClosed, match="value not delivered"):
        tx.send(1)


def test_oneshot_receiver_close_refuses_later_send() -> None:
    tx, rx = oneshot()
    rx.close()
    with pytest.raises(ChannelClosed):
        tx.send(1)
    with pytest.raises(ChannelClosed, match="receiver was closed"):
        Poller().poll(rx)


def test_oneshot_second_send_and_second_receive_are_misuse() -> None:
    tx, rx = oneshot()
    tx.send(1)
    with pytest.raises(RuntimeError, match="already used"):
        tx.send(2)
    p = Poller()
    assert p.poll(rx) == Ready(1)
    with pytest.raises(RuntimeError, match="polled again"):
        p.poll(rx)


def test_oneshot_try_recv_states() -> None:
    tx, rx = oneshot()
    with pytest.raises(ChannelEmpty):
        rx.try_recv()
    tx.send(3)
    assert rx.try_recv() == 3
    with pytest.raises(RuntimeError, match="already received"):
        rx.try_recv()
    tx2, rx2 = oneshot()
    tx2.close()
    with pytest.raises(ChannelClosed):
        rx2.try_recv()


def test_oneshot_send_from_another_thread_wakes_parked_receiver() -> None:
    tx, rx = oneshot()
    p = Poller()
    assert p.poll(rx) is Pending
    thread = threading.Thread(target=tx.send, args=(99,))
    thread.start()
    thread.join()
    assert (p.wakes, p.kept) == (1, 0)
    assert p.poll(rx) == Ready(99)


# ---------------------------------------------------------------------------------------------
# mpsc channel


def test_channel_capacity_must_be_positive() -> None:
    for bad in (0, -1, 1.5):
        with pytest.raises(ValueError, match="positive int"):
            channel(bad)  # type: ignore[arg-type]


def test_channel_items_arrive_in_order() -> None:
    tx, rx = channel()
    for n in range(5):
        tx.try_send(n)
    assert [rx.try_recv() for _ in range(5)] == list(range(5))
    with pytest.raises(ChannelEmpty):
        rx.try_recv()


def test_each_item_wakes_exactly_one_parked_receiver() -> None:
    tx, rx = channel()
    a, b = Poller(), Poller()
    fa, fb = rx.recv(), rx.recv()
    assert a.poll(fa) is Pending
    assert b.poll(fb) is Pending
    assert (a.kept, b.kept) == (1, 1)
    tx.try_send(1)
    assert (a.wakes, b.wakes) == (1, 0)  # the oldest waiter, only
    assert a.poll(fa) == Ready(1)
    tx.try_send(2)
    assert b.wakes == 1
    assert b.poll(fb) == Ready(2)
    assert (a.kept, b.kept) == (0, 0)


def test_bounded_send_parks_when_full_and_one_recv_wakes_one_sender() -> None:
    tx, rx = channel(1)
    tx.try_send(0)
    with pytest.raises(ChannelFull, match="capacity"):
        tx.try_send(1)
    a, b = Poller(), Poller()
    sa, sb = tx.send(1), tx.send(2)
    assert a.poll(sa) is Pending
    assert b.poll(sb) is Pending
    assert (a.kept, b.kept) == (1, 1)
    assert rx.try_recv() == 0
    assert (a.wakes, b.wakes) == (1, 0)  # one freed slot: one wake
    assert a.poll(sa) == Ready(None)
    assert rx.try_recv() == 1
    assert b.wakes == 1
    assert b.poll(sb) == Ready(None)
    assert rx.try_recv() == 2
    assert (a.kept, b.kept) == (0, 0)


def test_woken_sender_dropped_before_repoll_hands_the_wake_on() -> None:
    """Race: a slot frees, the oldest sender is woken, then its task is cancelled."""
    tx, rx = channel(1)
    tx.try_send(0)
    a, b = Poller(), Poller()
    sa, sb = tx.send(1), tx.send(2)
    assert a.poll(sa) is Pending
    assert b.poll(sb) is Pending
    assert rx.try_recv() == 0
    assert (a.wakes, b.wakes) == (1, 0)
    del sa  # cancelled before it used its turn
    gc.collect()
    assert b.wakes == 1  # the wake was passed on, not swallowed
    assert b.poll(sb) == Ready(None)
    assert rx.try_recv() == 2


def test_woken_receiver_dropped_before_repoll_hands_the_wake_on() -> None:
    tx, rx = channel()
    a, b = Poller(), Poller()
    fa, fb = rx.recv(), rx.recv()
    assert a.poll(fa) is Pending
    assert b.poll(fb) is Pending
    tx.try_send(1)
    del fa
    gc.collect()
    assert b.wakes == 1
    assert b.poll(fb) == Ready(1)


def test_parked_future_dropped_releases_its_waker_without_waking_anyone() -> None:
    tx, rx = channel(1)
    tx.try_send(0)
    a, b = Poller(), Poller()
    sa, sb = tx.send(1), tx.send(2)
    assert a.poll(sa) is Pending
    assert b.poll(sb) is Pending
    del sa
    gc.collect()
    assert (a.kept, a.wakes, b.wakes) == (0, 0, 0)
    assert rx.try_recv() == 0
    assert b.wakes == 1  # the freed slot goes to the remaining waiter


def test_future_dropped_during_a_critical_section_is_handled_after_it() -> None:
    """A garbage collection can run __del__ while this thread holds the channel's lock."""

    tx, rx = channel()
    p = Poller()
    fut = rx.recv()
    assert p.poll(fut) is Pending
    shared = rx._shared
    with sync._locked(shared), shared._lock:
        del fut  # __del__ cannot take the lock: it queues its work
        assert p.kept == 1
    assert p.kept == 0  # ran right after the lock was released
    tx.try_send(1)
    assert p.wakes == 0


def test_last_sender_closed_ends_the_stream_after_the_buffer_drains() -> None:
    tx, rx = channel()
    tx2 = tx.clone()
    p = Poller()
    fut = rx.recv()
    assert p.poll(fut) is Pending
    tx.try_send(1)
    tx.close()
    assert p.poll(fut) == Ready(1)
    fut = rx.recv()
    assert p.poll(fut) is Pending
    assert p.wakes == 1
    del tx2
    gc.collect()
    assert (p.wakes, p.kept) == (2, 0)
    with pytest.raises(ChannelClosed, match="every sender"):
        p.poll(fut)
    with pytest.raises(ChannelClosed):
        rx.try_recv()


def test_closed_sender_handle_is_misuse() -> None:
    tx, _rx = channel()
    tx.close()
    with pytest.raises(RuntimeError, match="Sender was closed"):
        tx.try_send(1)
    with pytest.raises(RuntimeError, match="Sender was closed"):
        tx.send(1)
    with pytest.raises(RuntimeError, match="Sender was closed"):
        tx.clone()


def test_receiver_closed_fails_parked_and_later_sends() -> None:
    tx, rx = channel(1)
    tx.try_send(0)
    p = Poller()
    fut = tx.send(1)
    assert p.poll(fut) is Pending
    rx.close()
    assert (p.wakes, p.kept) == (1, 0)
    assert tx.is_closed()
    with pytest.raises(ChannelClosed, match="receiver was closed"):
        p.poll(fut)
    with pytest.raises(ChannelClosed):
        tx.try_send(2)
    assert rx.try_recv() == 0  # buffered items can still be received
    with pytest.raises(ChannelClosed):
        rx.try_recv()


def test_receiver_dropped_closes_the_channel() -> None:
    tx, rx = channel()
    del rx
    gc.collect()
    with pytest.raises(ChannelClosed):
        tx.try_send(1)


def test_try_send_from_threads_wakes_parked_receiver() -> None:
    tx, rx = channel()
    p = Poller()
    fut = rx.recv()
    assert p.poll(fut) is Pending
    senders = [tx.clone() for _ in range(4)]
    threads = [threading.Thread(target=s.try_send, args=(i,)) for i, s in enumerate(senders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert p.wakes == 1
    got = [p.poll(fut).value]  # type: ignore[union-attr]
    got += [rx.try_recv() for _ in range(3)]
    assert sorted(got) == [0, 1, 2, 3]


# ---------------------------------------------------------------------------------------------
# Event


def test_event_set_wakes_every_waiter_once() -> None:
    ev = Event()
    pollers = [Poller() for _ in range(3)]
    futs = [ev.wait() for _ in pollers]
    for p, f in zip(pollers, futs, strict=True):
        assert p.poll(f) is Pending
    assert [p.kept for p in pollers] == [1, 1, 1]
    ev.set()
    ev.set()  # idempotent
    assert ev.is_set()
    assert [(p.wakes, p.kept) for p in pollers] == [(1, 0)] * 3
    for p, f in zip(pollers, futs, strict=True):
        assert p.poll(f) == Ready(None)


def test_event_already_set_is_ready_at_once() -> None:
    ev = Event()
    ev.set()
    p = Poller()
    assert p.poll(ev.wait()) == Ready(None)
    assert p.kept == 0


def test_event_set_then_clear_still_releases_those_waiting() -> None:
    ev = Event()
    p = Poller()
    fut = ev.wait()
    assert p.poll(fut) is Pending
    ev.set()
    ev.clear()
    assert not ev.is_set()
    assert p.poll(fut) == Ready(None)
    q = Poller()
    assert q.poll(ev.wait()) is Pending  # a new wait after clear() parks


def test_event_wait_dropped_releases_its_waker() -> None:
    ev = Event()
    p = Poller()
    fut = ev.wait()
    assert p.poll(fut) is Pending
    del fut
    gc.collect()
    assert p.kept == 0
    ev.set()
    assert p.wakes == 0


def test_event_set_from_another_thread() -> None:
    ev = Event()
    p = Poller()
    fut = ev.wait()
    assert p.poll(fut) is Pending
    thread = threading.Thread(target=ev.set)
    thread.start()
    thread.join()
    assert (p.wakes, p.kept) == (1, 0)
    assert p.poll(fut) == Ready(None)


def test_poll_after_completion_is_misuse() -> None:
    ev = Event()
    ev.set()
    p = Poller()
    w = ev.wait()
    assert p.poll(w) == Ready(None)
    with pytest.raises(RuntimeError, match="polled again"):
        p.poll(w)
    tx, rx = channel()
    tx.try_send(1)
    r = rx.recv()
    assert p.poll(r) == Ready(1)
    with pytest.raises(RuntimeError, match="polled again"):
        p.poll(r)
    s = tx.send(2)
    assert p.poll(s) == Ready(None)
    with pytest.raises(RuntimeError, match="polled again"):
        p.poll(s)


# ---------------------------------------------------------------------------------------------
# On the executors: one scenario suite, the executor factory the only difference.

FACTORIES: dict[str, Callable[[], Any]] = {"reference": Executor, "simple": SimpleExecutor}


@pytest.fixture(params=sorted(FACTORIES))
def make_executor(request: pytest.FixtureRequest) -> Callable[[], Any]:
    return FACTORIES[request.param]


def test_producer_consumer_over_bounded_channel(make_executor: Callable[[], Any]) -> None:
    ex = make_executor()
    got: list[int] = []
    tx: Sender[int]
    rx: Receiver[int]
    tx, rx = channel(2)

    async def producer(tx: Sender[int]) -> None:
        with tx:
            for n in range(10):
                await tx.send(n)

    async def consumer(rx: Receiver[int]) -> None:
        async for n in rx:
            got.append(n)

    ex.spawn(producer(tx))
    ex.spawn(consumer(rx))
    del tx, rx
    ex.run()
    assert got == list(range(10))


def test_many_producers_one_consumer(make_executor: Callable[[], Any]) -> None:
    ex = make_executor()
    got: list[tuple[int, int]] = []
    tx: Sender[tuple[int, int]]
    rx: Receiver[tuple[int, int]]
    tx, rx = channel(1)

    async def producer(tx: Sender[tuple[int, int]], who: int) -> None:
        with tx:
            for n in range(5):
                await tx.send((who, n))
                await yield_now()

    async def consumer(rx: Receiver[tuple[int, int]]) -> None:
        while True:
            try:
                got.append(await rx.recv())
            except ChannelClosed:
                return

    for who in range(3):
        ex.spawn(producer(tx.clone(), who))
    tx.close()
    ex.spawn(consumer(rx))
    del rx
    ex.run()
    assert sorted(got) == [(w, n) for w in range(3) for n in range(5)]
    for w in range(3):
        assert [n for who, n in got if who == w] == list(range(5))  # per-producer FIFO


def test_oneshot_and_event_between_tasks(make_executor: Callable[[], Any]) -> None:
    ex = make_executor()
    out: list[str] = []
    tx: OneshotSender[str]
    rx: OneshotReceiver[str]
    tx, rx = oneshot()
    ev = Event()

    async def waiter(name: str) -> None:
        await ev.wait()
        out.append(name)

    async def receiver() -> None:
        out.append(await rx)
        ev.set()

    async def sender() -> None:
        await yield_now()
        tx.send("value")

    for name in ("w1", "w2"):
        ex.spawn(waiter(name))
    ex.spawn(receiver())
    ex.spawn(sender())
    ex.run()
    assert out == ["value", "w1", "w2"]


def test_cross_thread_oneshot_keeps_run_open_until_the_send(
    make_executor: Callable[[], Any],
) -> None:
    ex = make_executor()
    tx: OneshotSender[int]
    rx: OneshotReceiver[int]
    tx, rx = oneshot()
    started = threading.Event()
    got: list[int] = []

    async def task() -> None:
        started.set()
        got.append(await rx)

    def other() -> None:
        started.wait()
        tx.send(5)

    thread = threading.Thread(target=other)
    thread.start()
    ex.spawn(task())
    ex.run()
    thread.join()
    assert got == [5]


def test_cross_thread_event_set_keeps_run_open(make_executor: Callable[[], Any]) -> None:
    ex = make_executor()
    ev = Event()
    done: list[bool] = []

    async def task() -> None:
        await ev.wait()
        done.append(True)

    thread = threading.Thread(target=ev.set)
    ex.spawn(task())
    thread.start()
    ex.run()
    thread.join()
    assert done == [True]


def test_receiver_task_is_woken_when_the_sender_task_drops_its_sender() -> None:
    ex = Executor()
    tx: OneshotSender[int]
    rx: OneshotReceiver[int]
    tx, rx = oneshot()

    async def receiver() -> str:
        try:
            await rx
        except ChannelClosed:
            return "closed"
        return "value"  # pragma: no cover

    async def dropper(tx: OneshotSender[int]) -> None:
        await yield_now()
        del tx  # never sends

    h = ex.spawn(receiver())
    ex.spawn(dropper(tx))
    del tx
    ex.run()
    assert h.result() == "closed"


def test_cancelled_receiver_task_releases_its_waker() -> None:
    ex = Executor()
    tx: Sender[int]
    rx: Receiver[int]
    tx, rx = channel()

    async def receiver(rx: Receiver[int]) -> int:
        return await rx.recv()

    h = ex.spawn(receiver(rx))
    del rx
    ex.run_until_stalled()
    assert len(tx._shared.recv_waiters) == 1
    h.cancel()
    ex.run_until_stalled()
    gc.collect()
    assert len(tx._shared.recv_waiters) == 0
    assert tx.is_closed()  # the cancelled task's future held the only receiver


def test_spawned_children_share_a_channel() -> None:
    ex = Executor()

    async def parent() -> list[int]:
        tx: Sender[int]
        rx: Receiver[int]
        tx, rx = channel()

        async def child(tx: Sender[int], n: int) -> None:
            with tx:
                await tx.send(n)

        for n in range(3):
            spawn(child(tx.clone(), n))
        tx.close()
        return sorted([n async for n in rx])

    assert ex.block_on(parent()) == [0, 1, 2]


def test_threads_feed_a_task_through_the_channel_race(make_executor: Callable[[], Any]) -> None:
    """Race: producers on other threads push and close while the task parks and re-polls."""
    ex = make_executor()
    got: list[int] = []
    tx: Sender[int]
    rx: Receiver[int]
    tx, rx = channel()
    per_thread, n_threads = 200, 4

    def produce(tx: Sender[int], base: int) -> None:
        with tx:
            for n in range(per_thread):
                tx.try_send(base + n)

    async def consumer(rx: Receiver[int]) -> None:
        async for n in rx:
            got.append(n)

    threads = [
        threading.Thread(target=produce, args=(tx.clone(), k * per_thread))
        for k in range(n_threads)
    ]
    tx.close()
    ex.spawn(consumer(rx))
    del rx
    for t in threads:
        t.start()
    ex.run()
    for t in threads:
        t.join()
    assert sorted(got) == list(range(per_thread * n_threads))
