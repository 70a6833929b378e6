"""Semantics the performance work (issue 5) could break, pinned by counts, never by timings.

Each test names the optimisation it guards: the channel fast paths (``await tx.send(v)`` /
``await rx.recv()`` completing without a poll), the parked-future class switch that keeps
``__del__`` off the fast path, the ``_Waiting`` iterator that replaced the ``await`` generator of
``FutureBase``, and the task being its own raw waker (no ``RawWaker`` object per waker).
"""

from __future__ import annotations

import gc
from typing import Any

import pytest
from refexec import Executor, FutureBase, Pending, Ready, yield_now
from refexec.sync import ChannelClosed, channel
from refexec.waker import Context, Waker


class Park(FutureBase[Any]):
    """Pending until woken once; keeps ``cx.waker.clone()`` in ``sink``."""

    def __init__(self, sink: list[Waker], value: Any = None) -> None:
        self.sink = sink
        self.value = value
        self.parked = False

    def poll(self, cx: Context) -> Any:
        if self.parked:
            return Ready(self.value)
        self.parked = True
        self.sink.append(cx.waker.clone())
        return Pending


def test_yield_counters_after_many_rounds() -> None:
    ex = Executor()
    n, y = 300, 7

    async def body() -> None:
        for _ in range(y):
            await yield_now()

    for _ in range(n):
        ex.spawn(body())
    report = ex.run()
    s = report.stats
    assert s.spawned == s.completed == n
    assert s.polls == n * (y + 1)
    assert s.wakes == s.wakes_during_poll == n * y
    assert s.wakes_enqueued == s.wakes_merged == s.wakes_ignored == 0
    ex.check_invariants()


def test_channel_fast_path_delivers_in_order_and_counts_parks() -> None:
    ex = Executor()
    got: list[int] = []
    n, cap = 1000, 10
    tx, rx = channel(cap)

    async def producer() -> None:
        with tx:
            for i in range(n):
                await tx.send(i)

    async def consumer() -> None:
        while True:
            try:
                got.append(await rx.recv())
            except ChannelClosed:
                return

    ex.spawn(consumer())
    ex.spawn(producer())
    report = ex.run()
    assert got == list(range(n))
    s = report.stats
    assert s.completed == 2 and s.tasks_lost == 0 and report.lost == ()
    # every wake is accounted for, and each one is a real park/unpark (no busy polling)
    assert s.wakes == s.wakes_enqueued + s.wakes_merged + s.wakes_during_poll + s.wakes_ignored
    assert s.polls == 2 + s.wakes_enqueued + s.wakes_during_poll
    assert len(rx._shared.recv_waiters) == 0 and len(rx._shared.send_waiters) == 0
    ex.check_invariants()


def test_fast_path_still_refuses_to_run_outside_a_task() -> None:
    tx, rx = channel()
    tx.try_send(1)  # an item is there: the fast path could complete, but must not
    coro = rx.recv().__await__()
    with pytest.raises(RuntimeError, match="outside a refexec task"):
        next(coro)
    assert rx.try_recv() == 1


def test_dropped_parked_recv_future_leaves_the_queue() -> None:
    ex = Executor()
    tx, rx = channel()

    async def waits() -> None:
        await rx.recv()

    h = ex.spawn(waits())
    ex.run_until_stalled()
    assert len(rx._shared.recv_waiters) == 1
    h.cancel()  # drops the coroutine and with it the parked future
    gc.collect()
    assert len(rx._shared.recv_waiters) == 0
    assert h.cancelled()
    tx.close()
    ex.close()


def test_dropped_parked_send_future_hands_its_wake_on() -> None:
    ex = Executor()
    tx, rx = channel(1)
    tx.try_send(0)  # full
    done: list[int] = []

    async def sends(v: int) -> None:
        await tx.send(v)
        done.append(v)

    a = ex.spawn(sends(1))
    ex.spawn(sends(2))
    ex.run_until_stalled()
    assert len(rx._shared.send_waiters) == 2
    assert rx.try_recv() == 0  # frees a slot: wakes the oldest sender (a)
    a.cancel()  # a is dropped before using its turn: the wake must pass on to b
    ex.run_until_stalled()
    assert done == [2]
    assert rx.try_recv() == 2
    tx.close()
    ex.close()


def test_await_future_ready_values_and_pending_then_ready() -> None:
    ex = Executor()
    sink: list[Waker] = []

    class Now(FutureBase[Any]):
        def __init__(self, v: Any) -> None:
            self.v = v

        def poll(self, cx: Context) -> Any:
            return Ready(self.v)

    async def body() -> tuple[Any, Any, Any]:
        a = await Now(None)
        b = await Now(41)
        c = await Park(sink, "later")
        return a, b, c

    h = ex.spawn(body())
    ex.run_until_stalled()
    assert h.poll_count == 1 and len(sink) == 1
    sink.pop().wake()
    ex.run()
    assert h.result() == (None, 41, "later")
    assert h.poll_count == 2
    assert ex.stats.wakes_enqueued == 1


def test_bad_poll_result_is_a_type_error_at_the_first_and_later_polls() -> None:
    ex = Executor()
    sink: list[Waker] = []

    class Bad(FutureBase[Any]):
        def __init__(self, first: Any) -> None:
            self.first = first
            self.n = 0

        def poll(self, cx: Context) -> Any:
            self.n += 1
            if self.n == 1 and self.first is Pending:
                sink.append(cx.waker.clone())
                return Pending
            return 42  # neither Ready nor Pending

    async def at_first() -> None:
        await Bad(None)

    async def later() -> None:
        await Bad(Pending)

    h1 = ex.spawn(at_first())
    h2 = ex.spawn(later())
    ex.run_until_stalled()
    sink.pop().wake()
    ex.run()
    for h in (h1, h2):
        with pytest.raises(TypeError, match="must return Ready"):
            h.result()


def test_cancel_while_suspended_in_a_future_runs_finally() -> None:
    ex = Executor()
    sink: list[Waker] = []
    cleaned: list[str] = []

    async def body() -> None:
        try:
            await Park(sink)
        finally:
            cleaned.append("finally")

    h = ex.spawn(body())
    ex.run_until_stalled()
    assert h.cancel()
    assert cleaned == ["finally"]
    sink.pop().drop()
    ex.close()


def test_task_is_its_own_raw_waker_and_clones_are_counted() -> None:
    ex = Executor()
    seen: dict[str, Any] = {}

    class Look(FutureBase[None]):
        def poll(self, cx: Context) -> Any:
            if "clone" in seen:
                return Ready(None)
            w = cx.waker.clone()
            seen["raw_is_task"] = w._raw is cx.waker._raw
            seen["will_wake"] = w.will_wake(cx.waker)
            seen["clone"] = w
            return Pending

    async def body() -> None:
        await Look()

    h = ex.spawn(body())
    ex.run_until_stalled()
    assert seen["raw_is_task"] and seen["will_wake"]
    w = seen["clone"]
    assert w._raw.data is h
    assert h._wakers == 1
    w2 = w.clone()  # no loop runs: counted through the inbox (the executor's one door)
    assert w2.will_wake(w) and w2._raw is h
    assert ex.snapshot().inbox == 1
    w2.drop()
    w.wake()
    ex.run()
    assert h.done() and h._wakers == 0
    assert ex.stats.wakes_enqueued == 1
    ex.check_invariants()


def test_forgotten_waker_freed_by_gc_makes_the_task_lost() -> None:
    ex = Executor()
    sink: list[Waker] = []

    async def body() -> None:
        await Park(sink)

    h = ex.spawn(body())
    ex.run_until_stalled()
    assert h._wakers == 1
    sink.clear()  # the only handle is forgotten: CPython frees it now, as Rust drops it
    gc.collect()
    assert ex.snapshot().inbox == 1  # the drop, posted (no loop runs)
    report = ex.run()
    assert h._wakers == 0
    assert report.lost == (h,)
    assert ex.stats.tasks_lost == 1
