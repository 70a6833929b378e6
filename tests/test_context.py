"""Per-task contextvars, current_task(), names and predicates of finished tasks, `with`."""

from __future__ import annotations

import contextvars
import threading
from typing import Any

import pytest
import refexec
from refexec import Cancelled, Executor, JoinHandle, TaskLost, TaskState
from refexec.poll import Pending, Poll
from refexec.waker import Context

VAR: contextvars.ContextVar[str] = contextvars.ContextVar("VAR", default="unset")


# -- contextvars -----------------------------------------------------------------------------


def test_var_set_in_one_task_is_not_seen_by_its_sibling_nor_by_the_caller_after_run() -> None:
    seen: dict[str, str] = {}

    async def setter() -> None:
        VAR.set("setter")
        await refexec.yield_now()
        seen["setter"] = VAR.get()

    async def reader() -> None:
        await refexec.yield_now()  # runs after setter's first poll
        seen["reader"] = VAR.get()

    ex = Executor()
    ex.spawn(setter())
    ex.spawn(reader())
    ex.run()
    assert seen == {"setter": "setter", "reader": "unset"}
    assert VAR.get() == "unset"


def test_task_sees_the_callers_values_at_spawn_not_later_changes() -> None:
    token = VAR.set("at spawn")
    try:
        ex = Executor()
        h = ex.spawn(_get_var())
        VAR.set("after spawn")
        ex.run()
        assert h.result() == "at spawn"
    finally:
        VAR.reset(token)


async def _get_var() -> str:
    return VAR.get()


def test_child_inherits_the_parents_current_values_and_cannot_change_them() -> None:
    async def child() -> str:
        before = VAR.get()
        VAR.set("child")
        return before

    async def parent() -> tuple[str, str]:
        VAR.set("parent")
        got = await refexec.spawn(child())
        return got, VAR.get()

    assert refexec.block_on(parent()) == ("parent", "parent")


def test_explicit_context_is_used_and_keeps_the_tasks_changes() -> None:
    ctx = contextvars.copy_context()
    ctx.run(VAR.set, "given")

    async def task() -> str:
        old = VAR.get()
        VAR.set("changed by task")
        return old

    ex = Executor()
    h = ex.spawn(task(), context=ctx)
    ex.run()
    assert h.result() == "given" and ctx[VAR] == "changed by task"
    assert h.context is ctx and VAR.get() == "unset"


def test_context_of_the_wrong_type_is_refused_at_the_call_and_the_coroutine_closed() -> None:
    ex = Executor()
    coro = _get_var()
    with pytest.raises(TypeError, match=r"contextvars\.Context"):
        ex.spawn(coro, context={"VAR": 1})  # type: ignore[arg-type]
    assert coro.cr_frame is None  # closed: no "never awaited" warning
    assert ex.stats.spawned == 0


def test_finally_of_a_cancelled_task_runs_in_the_tasks_context() -> None:
    seen: list[str] = []

    async def task() -> None:
        VAR.set("mine")
        try:
            await _Never()
        finally:
            seen.append(VAR.get())

    ex = Executor()
    h = ex.spawn(task())
    ex.run_until_stalled()
    h.cancel()
    _HELD.clear()
    assert seen == ["mine"] and VAR.get() == "unset"


class _Never(refexec.FutureBase[None]):
    """Pending for ever, its waker kept alive in ``_HELD`` (so the task is not lost)."""

    def poll(self, cx: Context) -> Poll[None]:
        _HELD.append(cx.waker.clone())
        return Pending


_HELD: list[Any] = []


def test_spawner_from_another_thread_copies_that_threads_context() -> None:
    ex = Executor()
    sp = ex.spawner()
    handles: list[JoinHandle[str]] = []

    def other() -> None:
        VAR.set("other thread")
        handles.append(sp.spawn(_get_var()))
        sp.close()

    th = threading.Thread(target=other)
    th.start()
    th.join()
    ex.run()
    assert handles[0].result() == "other thread" and VAR.get() == "unset"


# -- current_task -----------------------------------------------------------------------------


def test_current_task_is_the_running_handle_and_none_outside() -> None:
    assert refexec.current_task() is None

    async def me() -> object:
        return refexec.current_task()

    ex = Executor()
    h = ex.spawn(me())
    ex.run()
    assert h.result() is h
    assert refexec.current_task() is None


# -- names, predicates and repr of finished tasks ---------------------------------------------


async def work() -> int:
    return 1


def test_finished_handle_keeps_its_name() -> None:
    ex = Executor()
    h = ex.spawn(work())
    ex.run()
    assert h.name == "work" and "work" in repr(h) and "COMPLETE" in repr(h)


def test_a_non_coroutine_awaitable_is_named_after_its_type_not_the_wrapper() -> None:
    ex = Executor()
    inner = ex.spawn(work())
    outer = ex.spawn(inner)
    ev = refexec.Event()
    ev.set()
    evt = ex.spawn(ev.wait())
    ex.run()
    assert outer.name == "await work" and "_await_it" not in repr(outer)
    assert "_await_it" not in evt.name


class _Forgetful(refexec.FutureBase[None]):
    """Returns Pending without keeping a waker: its task is lost."""

    def poll(self, cx: Context) -> Poll[None]:
        return Pending


async def forgets() -> None:
    await _Forgetful()


def test_lost_task_is_not_cancelled_and_predicates_result_and_repr_agree() -> None:
    ex = Executor()
    h = ex.spawn(forgets())
    report = ex.run()
    assert report.lost == (h,)
    assert h.done() and h.lost() and not h.cancelled()
    assert h.state is TaskState.CANCELLED
    with pytest.raises(TaskLost, match=r"task 1 \(forgets\)"):
        h.result()
    assert isinstance(h.exception(), TaskLost)
    assert "LOST" in repr(h) and "forgets" in repr(h) and "CANCELLED" not in repr(h)


def test_cancelled_task_is_cancelled_and_not_lost() -> None:
    ex = Executor()
    h = ex.spawn(work())
    assert h.cancel()
    assert h.cancelled() and not h.lost() and "CANCELLED" in repr(h) and h.name == "work"
    with pytest.raises(Cancelled):
        h.result()
    ex.close()


# -- with Executor() as ex ------------------------------------------------------------------------


def test_with_block_runs_the_tasks_to_completion_on_exit_then_closes() -> None:
    with Executor() as ex:
        h = ex.spawn(work())
    assert h.result() == 1 and ex.closed


def test_with_block_that_raises_cancels_the_tasks_and_propagates() -> None:
    cleaned: list[bool] = []

    async def started() -> None:
        try:
            await _Never()
        finally:
            cleaned.append(True)

    with pytest.raises(ZeroDivisionError):
        with Executor() as ex:
            queued = ex.spawn(work())
            running = ex.spawn(started())
            ex.run_until_stalled()
            queued2 = ex.spawn(work())
            1 / 0  # noqa: B018
    assert queued.result() == 1  # finished before the error
    _HELD.clear()
    assert running.cancelled() and cleaned == [True]
    assert queued2.cancelled() and queued2.poll_count == 0 and ex.closed


def test_with_block_reports_lost_tasks_through_their_handles() -> None:
    with Executor() as ex:
        h = ex.spawn(forgets())
    assert h.lost() and ex.closed


def test_refexec_spawn_and_spawner_take_a_context_too() -> None:
    given = contextvars.copy_context()
    given.run(VAR.set, "given")

    async def parent() -> str:
        VAR.set("parent")
        return await refexec.spawn(_get_var(), context=given)

    assert refexec.block_on(parent()) == "given"
    ex = Executor()
    with ex.spawner() as sp:
        h = sp.spawn(_get_var(), context=given)
    ex.run()
    assert h.result() == "given" and h.context is given


def test_simple_executor_tasks_cannot_be_given_a_context() -> None:
    async def parent() -> None:
        refexec.spawn(_get_var(), context=contextvars.copy_context())

    ex = refexec.SimpleExecutor()
    ex.spawn(parent())
    with pytest.raises(RuntimeError, match="SimpleExecutor"):
        ex.run()
