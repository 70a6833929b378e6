"""Poll, the Future protocol, FutureBase's await, yield_now, refexec.spawn, bad awaits."""

from __future__ import annotations

import asyncio
import types
from collections.abc import Generator
from typing import Any

import pytest
import refexec
from core_support import Slot
from refexec import (
    Context,
    Executor,
    FutureBase,
    Pending,
    PendingType,
    Poll,
    Ready,
    Trace,
    noop_waker,
    yield_now,
)


def test_ready_compares_by_value_and_matches() -> None:
    assert Ready(3) == Ready(3)
    assert Ready(3) != Ready(4)
    assert Ready(3) != 3
    assert repr(Ready(3)) == "Ready(3)"
    assert hash(Ready(3)) == hash(Ready(3))
    p: Poll[int] = Ready(5)
    match p:
        case Ready(v):
            assert v == 5
        case _:
            pytest.fail("Ready did not match")


def test_pending_is_a_singleton() -> None:
    assert PendingType() is Pending
    assert repr(Pending) == "Pending"
    assert Pending != Ready(None)


def test_a_future_can_be_polled_by_hand() -> None:
    s = Slot()
    w = noop_waker()
    assert s.poll(Context(w)) is Pending
    s.set(7)
    assert s.poll(Context(w)) == Ready(7)


def test_futurebase_is_awaitable_inside_a_task() -> None:
    s = Slot()

    async def main() -> int:
        v: int = await s
        return v + 1

    ex = Executor()
    h = ex.spawn(main())
    ex.run_until_stalled()
    assert h.state is refexec.TaskState.IDLE and s.polls == 1
    s.set(41)  # wake from the driving thread while no loop runs: posted, applied by run()
    ex.run()
    assert h.result() == 42
    assert h.poll_count == 2 and s.polls == 2


def test_an_object_with_only_poll_can_be_spawned() -> None:
    class OnlyPoll:
        def __init__(self) -> None:
            self.n = 0

        def poll(self, cx: Context) -> Poll[str]:
            self.n += 1
            if self.n < 3:
                cx.waker.wake_by_ref()
                return Pending
            return Ready("ok")

    ex = Executor()
    h = ex.spawn(OnlyPoll())  # type: ignore[arg-type]
    ex.run()
    assert h.result() == "ok" and h.poll_count == 3


def test_poll_returning_something_else_fails_the_task_with_typeerror() -> None:
    class Broken(FutureBase[int]):
        def poll(self, cx: Context) -> Poll[int]:
            return 3  # type: ignore[return-value]

    ex = Executor()
    h = ex.spawn(Broken())
    ex.run()
    with pytest.raises(TypeError, match=r"Broken.poll\(\) returned 3"):
        h.result()


def test_futurebase_awaited_outside_a_task_raises() -> None:
    async def main() -> None:
        await Slot()

    coro = main()
    with pytest.raises(RuntimeError, match="outside a refexec task"):
        coro.send(None)


def test_yield_now_requeues_the_task_at_the_back() -> None:
    order: list[str] = []

    async def worker(name: str) -> None:
        order.append(name + "1")
        await yield_now()
        order.append(name + "2")

    tr = Trace()
    ex = Executor(trace=tr)
    ex.spawn(worker("a"))
    ex.spawn(worker("b"))
    ex.run()
    assert order == ["a1", "b1", "a2", "b2"]
    assert tr.kinds(1) == ["spawn", "poll", "wake_by_ref", "pending", "poll", "ready"]
    assert ex.stats.wakes_during_poll == 2


def test_refexec_spawn_inside_a_task_uses_its_executor() -> None:
    async def child(x: int) -> int:
        return x * 2

    async def parent() -> int:
        h = refexec.spawn(child(21))
        return await h

    ex = Executor()
    assert ex.block_on(parent()) == 42
    assert ex.stats.spawned == 2


def test_refexec_spawn_outside_a_task_raises() -> None:
    async def child() -> None:
        pass

    coro = child()
    with pytest.raises(RuntimeError, match="outside a running refexec task"):
        refexec.spawn(coro)
    coro.close()


def test_awaiting_an_asyncio_future_fails_with_typeerror_naming_it() -> None:
    loop = asyncio.new_event_loop()
    try:
        fut = loop.create_future()

        async def main() -> None:
            await fut

        ex = Executor()
        h = ex.spawn(main())
        ex.run()
        with pytest.raises(TypeError, match=r"asyncio.*refexec tasks can await only") as info:
            h.result()
        assert "Future" in str(info.value) and "task 1" in str(info.value)
    finally:
        loop.close()


def test_bare_yield_fails_with_typeerror_suggesting_yield_now() -> None:
    @types.coroutine
    def bare() -> Generator[None, None, None]:
        yield

    async def main() -> None:
        await bare()

    ex = Executor()
    h = ex.spawn(main())
    ex.run()
    with pytest.raises(TypeError, match=r"bare `yield`.*yield_now"):
        h.result()


def test_a_task_may_handle_the_bad_await_typeerror_and_go_on() -> None:
    @types.coroutine
    def bare() -> Generator[Any, None, None]:
        yield 42

    async def main() -> str:
        try:
            await bare()
        except TypeError:
            await yield_now()
            return "recovered"
        return "unreachable"

    ex = Executor()
    assert ex.block_on(main()) == "recovered"


def test_yield_now_under_asyncio_is_refused_by_asyncio() -> None:
    async def main() -> None:
        await yield_now()

    with pytest.raises(RuntimeError, match="bad yield"):
        asyncio.run(main())
