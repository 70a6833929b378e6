"""Every misuse a user can make gets a clear exception naming what went wrong."""

from __future__ import annotations

from typing import Any

import pytest
import refexec
from core_support import KeepBorrowed, Slot
from refexec import Executor, SimpleExecutor, WakerError, block_on, yield_now


async def _noop() -> None:
    pass


def test_spawning_a_non_awaitable_raises_typeerror_naming_it() -> None:
    ex = Executor()
    with pytest.raises(TypeError, match=r"got 42 of type int"):
        ex.spawn(42)  # type: ignore[arg-type]


def test_spawning_an_uncalled_async_function_hints_to_call_it() -> None:
    with pytest.raises(TypeError, match=r"call it, spawn\(_noop\(...\)\)"):
        Executor().spawn(_noop)  # type: ignore[arg-type]


def test_simple_executor_spawn_of_non_awaitable_raises_typeerror() -> None:
    ex = SimpleExecutor()
    with pytest.raises(TypeError, match="needs an awaitable"):
        ex.spawn("nope")  # type: ignore[arg-type]
    ex.run()


@pytest.mark.parametrize("what", ["run", "run_until_stalled", "step", "block_on"])
def test_driving_an_executor_from_inside_a_task_raises(what: str) -> None:
    ex = Executor()
    other = Executor()

    async def bad() -> None:
        if what == "block_on":
            other.block_on(_noop())
        else:
            getattr(other, what)()

    h = ex.spawn(bad())
    ex.run()
    with pytest.raises(RuntimeError, match=r"called from inside running <JoinHandle task=1"):
        h.result()


def test_standalone_block_on_inside_a_task_raises() -> None:
    async def bad() -> None:
        block_on(_noop())

    with pytest.raises(RuntimeError, match="cannot drive an executor"):
        block_on(bad())


def test_simple_executor_run_inside_a_task_raises() -> None:
    inner = SimpleExecutor()

    async def bad() -> None:
        inner.run()

    with pytest.raises(RuntimeError, match="cannot drive an executor"):
        block_on(bad())


def test_spawn_on_a_closed_executor_raises() -> None:
    ex = Executor()
    ex.close()
    with pytest.raises(RuntimeError, match="closed"):
        ex.spawn(_noop())
    with pytest.raises(RuntimeError, match="closed"):
        ex.spawner()
    with pytest.raises(RuntimeError, match="closed"):
        ex.run()


def test_spawner_of_a_closed_executor_refuses() -> None:
    ex = Executor()
    sp = ex.spawner()
    sp.close()
    ex.close()
    with pytest.raises(RuntimeError, match="closed"):
        sp.spawn(_noop())


def test_live_spawner_of_a_closed_executor_says_what_to_do() -> None:
    ex = Executor()
    sp = ex.spawner()
    ex.close()
    assert not sp.closed
    with pytest.raises(RuntimeError, match=r"Spawner.spawn\(\) on an Executor that has been "
                       r"closed; create a new Executor"):
        sp.spawn(_noop())


def test_close_while_running_raises() -> None:
    ex = Executor()
    errors: list[BaseException] = []

    async def closer() -> None:
        try:
            ex.close()
        except RuntimeError as e:
            errors.append(e)

    ex.run_until_stalled()
    ex.spawn(closer())
    ex.run()
    assert "while the executor is running" in str(errors[0])


def test_a_task_awaiting_its_own_handle_raises() -> None:
    holder: list[refexec.JoinHandle[Any]] = []

    async def selfish() -> None:
        await holder[0]

    ex = Executor()
    holder.append(ex.spawn(selfish()))
    ex.run()
    with pytest.raises(RuntimeError, match="awaits its own JoinHandle"):
        holder[0].result()


def test_awaiting_a_join_handle_outside_a_task_raises() -> None:
    ex = Executor()
    h = ex.spawn(_noop())

    async def outside() -> None:
        await h

    coro = outside()
    with pytest.raises(RuntimeError, match="outside a refexec task"):
        coro.send(None)
    ex.run()


def test_keeping_the_borrowed_waker_past_its_poll_raises_on_use() -> None:
    f = KeepBorrowed()

    async def main() -> None:
        await f

    block_on(main())
    assert f.kept is not None and f.kept.consumed
    with pytest.raises(WakerError, match=r"Store cx.waker.clone\(\)"):
        f.kept.wake_by_ref()


def test_consuming_the_borrowed_waker_inside_the_poll_raises() -> None:
    class Consumes(refexec.FutureBase[None]):
        def poll(self, cx: refexec.Context) -> refexec.Poll[None]:
            cx.waker.wake()
            return refexec.Pending

    with pytest.raises(WakerError, match="borrowed"):
        block_on(Consumes())


def test_simple_executor_borrowed_waker_expires_after_its_poll() -> None:
    f = KeepBorrowed()
    SimpleExecutor().block_on(f)
    assert f.kept is not None
    with pytest.raises(WakerError):
        f.kept.wake_by_ref()


def test_refexec_spawn_inside_a_simple_executor_task_points_to_its_spawn() -> None:
    async def bad() -> None:
        refexec.spawn(_noop())

    ex = SimpleExecutor()
    ex.spawn(bad())
    with pytest.raises(RuntimeError, match=r"ex.spawn\(...\)"):
        ex.run()


def test_wake_after_wake_raises() -> None:
    s = Slot()

    async def main() -> None:
        await s

    ex = Executor()
    ex.spawn(main())
    ex.run_until_stalled()
    w = s.waker
    assert w is not None
    s.waker = None
    s.is_set = True
    w.wake()
    with pytest.raises(WakerError, match="already consumed"):
        w.wake()
    ex.run()
    assert yield_now() is yield_now()
