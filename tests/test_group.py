"""gather, TaskGroup, select/race, to_thread, and the message for asyncio calls in a task."""

from __future__ import annotations

import asyncio
import contextvars
import sys
import threading
import time
from typing import Any

import pytest
import refexec
from refexec import Cancelled, Executor, JoinHandle, TaskGroup, TaskGroupError
from refexec.poll import Pending, Poll
from refexec.waker import Context, Waker


class Gate(refexec.FutureBase[None]):
    """Pending until ``open()``; keeps the waiting task's waker (so it is never lost)."""

    def __init__(self) -> None:
        self.is_open = False
        self.wakers: list[Waker] = []

    def poll(self, cx: Context) -> Poll[None]:
        if self.is_open:
            return refexec.Ready(None)
        self.wakers.append(cx.waker.clone())
        return Pending

    def open(self) -> None:
        self.is_open = True
        for w in self.wakers:
            w.wake()
        self.wakers.clear()


async def value_after(n: int, v: Any) -> Any:
    for _ in range(n):
        await refexec.yield_now()
    return v


async def fail_after(n: int, exc: BaseException) -> None:
    for _ in range(n):
        await refexec.yield_now()
    raise exc


class Tracker:
    """Records which coroutines were closed by a cancel (their ``finally`` ran unfinished)."""

    def __init__(self) -> None:
        self.cancelled: list[str] = []
        self.finished: list[str] = []

    async def run(self, name: str, n: int) -> str:
        try:
            for _ in range(n):
                await refexec.yield_now()
        except GeneratorExit:
            self.cancelled.append(name)
            raise
        self.finished.append(name)
        return name


# -- gather -----------------------------------------------------------------------------------


def test_gather_returns_results_in_argument_order_not_completion_order() -> None:
    async def main() -> list[Any]:
        return await refexec.gather(value_after(3, "slow"), value_after(0, "fast"),
                                    value_after(1, "mid"))

    assert refexec.block_on(main()) == ["slow", "fast", "mid"]


def test_gather_first_exception_cancels_the_rest_and_is_raised() -> None:
    tr = Tracker()

    async def main() -> None:
        await refexec.gather(tr.run("a", 5), fail_after(1, KeyError("boom")), tr.run("b", 5))

    ex = Executor()
    h = ex.spawn(main())
    ex.run()
    with pytest.raises(KeyError, match="boom"):
        h.result()
    assert sorted(tr.cancelled) == ["a", "b"] and tr.finished == []
    assert ex.stats.cancelled == 2


def test_gather_return_exceptions_collects_failures_and_cancels_nothing() -> None:
    tr = Tracker()

    async def main() -> list[Any]:
        return await refexec.gather(fail_after(0, ValueError("x")), tr.run("a", 3),
                                    return_exceptions=True)

    out = refexec.block_on(main())
    assert isinstance(out[0], ValueError) and out[1] == "a" and tr.cancelled == []


def test_gather_accepts_join_handles() -> None:
    async def main() -> list[Any]:
        h = refexec.spawn(value_after(1, 7))
        return await refexec.gather(h, value_after(0, 8))

    assert refexec.block_on(main()) == [7, 8]


def test_cancelling_the_task_that_gathers_cancels_its_children() -> None:
    tr = Tracker()
    gate = Gate()

    async def main() -> None:
        await refexec.gather(tr.run("a", 100), gate)

    ex = Executor()
    h = ex.spawn(main())
    ex.step()  # main spawns the children and waits
    assert h.cancel()
    assert tr.cancelled == [] or tr.cancelled == ["a"]  # "a" may not have started yet
    ex.run()
    assert h.cancelled() and tr.finished == [] and ex.stats.cancelled == 3


def test_gather_outside_a_task_says_so() -> None:
    coro = refexec.gather(value_after(0, 1))
    with pytest.raises(RuntimeError, match=r"gather\(\) must be awaited inside a refexec task"):
        coro.send(None)


def test_gather_of_a_non_awaitable_raises_typeerror_and_leaves_nothing_running() -> None:
    tr = Tracker()

    async def main() -> None:
        await refexec.gather(tr.run("a", 3), 42)  # type: ignore[arg-type]

    ex = Executor()
    h = ex.spawn(main())
    ex.run()
    with pytest.raises(TypeError, match="awaitable"):
        h.result()
    assert ex.stats.cancelled == 1 and tr.finished == []


# -- select / race ----------------------------------------------------------------------------


def test_select_returns_the_first_to_finish_and_cancels_the_others() -> None:
    tr = Tracker()

    async def main() -> tuple[int, Any]:
        return await refexec.select(tr.run("slow", 10), value_after(2, "quick"))

    ex = Executor()
    h = ex.spawn(main())
    ex.run()
    assert h.result() == (1, "quick") and tr.cancelled == ["slow"]


def test_race_raises_the_winners_exception_and_cancels_the_rest() -> None:
    tr = Tracker()

    async def main() -> Any:
        return await refexec.race(tr.run("slow", 10), fail_after(1, OSError("first")))

    ex = Executor()
    h = ex.spawn(main())
    ex.run()
    with pytest.raises(OSError, match="first"):
        h.result()
    assert tr.cancelled == ["slow"]


def test_select_ties_go_to_the_lowest_index() -> None:
    async def main() -> tuple[int, Any]:
        return await refexec.select(value_after(1, "a"), value_after(1, "b"))

    assert refexec.block_on(main()) == (0, "a")


def test_select_of_nothing_is_refused() -> None:
    async def main() -> Any:
        return await refexec.select()

    with pytest.raises(ValueError, match="at least one"):
        refexec.block_on(main())


# -- TaskGroup ---------------------------------------------------------------------------------


def test_taskgroup_waits_for_every_child_including_ones_spawned_while_waiting() -> None:
    done: list[str] = []

    async def child(tg: TaskGroup, name: str, spawn_more: bool) -> None:
        await refexec.yield_now()
        if spawn_more:
            tg.spawn(child(tg, name + "+", False))
        done.append(name)

    async def main() -> list[str]:
        async with TaskGroup() as tg:
            tg.spawn(child(tg, "a", True))
            tg.spawn(child(tg, "b", False))
        return sorted(done)

    assert refexec.block_on(main()) == ["a", "a+", "b"]


def test_taskgroup_error_cancels_siblings_and_raises_a_group() -> None:
    tr = Tracker()

    async def main() -> None:
        async with TaskGroup() as tg:
            tg.spawn(tr.run("a", 10))
            tg.spawn(fail_after(2, ValueError("bad")))
            tg.spawn(tr.run("b", 10))

    ex = Executor()
    h = ex.spawn(main())
    ex.run()
    err = h.exception()
    assert isinstance(err, TaskGroupError)
    assert [type(e) for e in err.exceptions] == [ValueError]
    assert sorted(tr.cancelled) == ["a", "b"]
    if sys.version_info >= (3, 11):
        assert isinstance(err, BaseExceptionGroup)  # noqa: F821 (a builtin since 3.11)


def test_taskgroup_body_error_cancels_children_and_is_in_the_group() -> None:
    tr = Tracker()

    async def main() -> None:
        async with TaskGroup() as tg:
            tg.spawn(tr.run("a", 10))
            raise LookupError("in body")

    with pytest.raises(TaskGroupError) as info:
        refexec.block_on(main())
    assert [type(e) for e in info.value.exceptions] == [LookupError]
    assert tr.finished == []


def test_taskgroup_cancelled_child_is_not_an_error() -> None:
    async def main() -> str:
        async with TaskGroup() as tg:
            h = tg.spawn(value_after(5, 1))
            h.cancel()
            tg.spawn(value_after(1, 2))
        return "ok"

    assert refexec.block_on(main()) == "ok"


def test_cancelling_the_task_in_a_taskgroup_cancels_the_children() -> None:
    closed: list[str] = []
    gate = Gate()

    async def child() -> None:
        try:
            await gate
        finally:
            closed.append("child")

    async def main() -> None:
        async with TaskGroup() as tg:
            tg.spawn(child())
            await gate

    ex = Executor()
    h = ex.spawn(main())
    ex.run_until_stalled()
    assert closed == []
    h.cancel()
    assert h.cancelled() and closed == ["child"] and ex.stats.cancelled == 2
    gate.wakers.clear()
    ex.close()


def test_taskgroup_spawn_outside_the_block_is_refused() -> None:
    tg = TaskGroup()
    coro = value_after(0, 1)
    with pytest.raises(RuntimeError, match="was not entered yet"):
        tg.spawn(coro)
    assert coro.cr_frame is None  # closed: no "never awaited" warning

    async def main() -> TaskGroup:
        async with TaskGroup() as g:
            pass
        return g

    g = refexec.block_on(main())
    with pytest.raises(RuntimeError, match="has finished"):
        g.spawn(value_after(0, 1))


# -- to_thread ---------------------------------------------------------------------------------


def test_to_thread_runs_on_another_thread_and_returns_through_the_door() -> None:
    loop_thread = threading.get_ident()

    async def main() -> tuple[int, int]:
        ident = await refexec.to_thread(threading.get_ident)
        total = await refexec.to_thread(sum, [1, 2, 3])
        return ident, total

    ex = Executor()
    h = ex.spawn(main())
    ex.run()
    ident, total = h.result()
    assert ident != loop_thread and total == 6
    assert ex.stats.tasks_lost == 0 and ex.stats.completed == 1


def test_to_thread_lets_other_tasks_run_while_it_blocks() -> None:
    started = threading.Event()
    release = threading.Event()
    order: list[str] = []

    def blocking() -> str:
        started.set()
        release.wait()
        return "thread"

    async def other() -> None:
        await refexec.to_thread(started.wait)
        order.append("other ran")
        release.set()

    async def main() -> None:
        order.append(await refexec.to_thread(blocking))

    ex = Executor()
    ex.spawn(main())
    ex.spawn(other())
    ex.run()
    assert order == ["other ran", "thread"]


def test_to_thread_raises_the_functions_exception_in_the_task() -> None:
    def boom() -> None:
        raise ZeroDivisionError("in thread")

    async def main() -> None:
        await refexec.to_thread(boom)

    with pytest.raises(ZeroDivisionError, match="in thread"):
        refexec.block_on(main())


def test_to_thread_runs_in_a_copy_of_the_tasks_context() -> None:
    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")

    async def main() -> str:
        var.set("task")
        return await refexec.to_thread(var.get)

    assert refexec.block_on(main()) == "task"


def test_to_thread_of_a_non_callable_is_refused() -> None:
    async def main() -> None:
        await refexec.to_thread(42)  # type: ignore[arg-type]

    with pytest.raises(TypeError, match="callable"):
        refexec.block_on(main())


# -- asyncio calls inside a refexec task ---------------------------------------------------


def test_asyncio_sleep_in_a_task_names_the_call_and_the_refexec_equivalent() -> None:
    async def main() -> None:
        await asyncio.sleep(0.1)

    with pytest.raises(RuntimeError) as info:
        refexec.block_on(main())
    msg = str(info.value)
    assert "asyncio.sleep()" in msg and "refexec.sleep(seconds)" in msg
    assert "task 1 (" in msg and "main) called asyncio.sleep()" in msg
    assert isinstance(info.value.__cause__, RuntimeError)


def test_asyncio_sleep_zero_points_to_yield_now() -> None:
    async def main() -> None:
        await asyncio.sleep(0)

    with pytest.raises(TypeError, match=r"yield_now"):
        refexec.block_on(main())


def test_other_asyncio_calls_name_themselves() -> None:
    async def main() -> None:
        coro = value_after(0, 1)
        try:
            asyncio.create_task(coro)  # noqa: RUF006 (it raises: nothing to keep)
        finally:
            coro.close()

    with pytest.raises(RuntimeError, match=r"asyncio.create_task\(\).*refexec.spawn\(coro\)"):
        refexec.block_on(main())


def test_join_handle_type_is_exported() -> None:
    async def main() -> JoinHandle[Any] | None:
        return refexec.current_task()

    h = refexec.block_on(main())
    assert isinstance(h, JoinHandle) and isinstance(Cancelled("x"), Exception)
    time.sleep(0)  # keeps `time` imported for the README's to_thread(time.sleep) advice


def test_asyncio_sleep_in_a_simple_executor_task_gets_the_same_message() -> None:
    async def main() -> None:
        await asyncio.sleep(0.1)

    ex = refexec.SimpleExecutor()
    ex.spawn(main())
    with pytest.raises(RuntimeError, match=r"task 1 called asyncio.sleep\(\).*refexec.sleep"):
        ex.run()
