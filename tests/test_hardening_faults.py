"""Faults and retention (issue 11, sections 1 and 3): a failing waker takes no innocent task down,
and nothing of a finished task or a closed executor is kept or grows.

Section 1: a waker runs the code of whoever registered it. When one waker's ``wake()`` raises,
every other waiter of the same event is still woken, and the exception is raised once, after,
to the caller of the operation (``run()`` for a JoinHandle's waiters, ``Event.set()`` / the
channel operation for ``refexec.sync``), with a note naming the waker.
"""

from __future__ import annotations

import gc
import sys
import warnings
import weakref
from collections.abc import Callable
from typing import Any

import pytest
from refexec.executor import Executor, JoinHandle
from refexec.future import FutureBase, yield_now
from refexec.poll import Pending, Poll, Ready
from refexec.sync import ChannelClosed, Event, channel, oneshot
from refexec.waker import Context, Waker, noop_waker


class Boom(Exception):
    pass


def _explode() -> None:
    raise Boom("bad waker")


def bad_waker() -> Waker:
    """A waker whose wake() raises (its clones too: from_fn clones share the function)."""
    return Waker.from_fn(_explode)


def _assert_noted(exc: BaseException) -> None:
    notes = "\n".join(getattr(exc, "__notes__", []))
    assert "_explode" in notes, notes  # the raw waker's data: the function that raised
    assert "every other waiter" in notes, notes


# ---------------------------------------------------------------------------------------------
# Section 1: JoinHandle waiters


async def _child() -> int:
    await yield_now()
    return 7


async def _await(h: JoinHandle[int]) -> int:
    return await h


def test_a_raising_waker_registered_first_on_a_join_handle_leaves_the_other_waiters_woken() -> None:
    ex = Executor()
    h = ex.spawn(_child())
    bad = bad_waker()
    assert h.poll(Context(bad)) is Pending  # the bad waker is the first waiter
    waiters = [ex.spawn(_await(h)) for _ in range(3)]
    with pytest.raises(Boom) as info:
        ex.run()  # h completes; waking its first waiter raises
    _assert_noted(info.value)
    ex.check_invariants()
    assert all(w.state is not None and w.state.name == "SCHEDULED" for w in waiters)
    report = ex.run_until_stalled()  # reported once; the innocent waiters finish
    assert report.lost == ()
    assert [w.result() for w in waiters] == [7, 7, 7]
    assert ex.stats.tasks_lost == 0
    ex.check_invariants()


def test_a_task_awaiting_a_completed_handle_is_not_reported_lost_after_a_waker_failed() -> None:
    ex = Executor()
    h = ex.spawn(_child())
    assert h.poll(Context(bad_waker())) is Pending
    w = ex.spawn(_await(h))
    with pytest.raises(Boom):
        ex.run()
    ex.run_until_stalled()  # never sleeps: a test that cannot hang, even on broken code
    assert not isinstance(w.exception(), Exception)
    assert w.result() == 7


def test_a_waker_failure_when_a_task_raises_still_wakes_its_other_awaiters() -> None:
    async def failing() -> int:
        await yield_now()
        raise ValueError("task error")

    ex = Executor()
    h = ex.spawn(failing())
    assert h.poll(Context(bad_waker())) is Pending
    w = ex.spawn(_await(h))
    with pytest.raises(Boom):
        ex.run()
    ex.run_until_stalled()  # never sleeps: a test that cannot hang, even on broken code
    with pytest.raises(ValueError, match="task error"):
        w.result()


def test_a_waker_failure_when_a_task_is_cancelled_still_wakes_its_other_awaiters() -> None:
    async def forever() -> int:
        await FutureNeverReady()
        return 0

    ex = Executor()
    h = ex.spawn(forever())
    ex.run_until_stalled()
    assert h.poll(Context(bad_waker())) is Pending
    w = ex.spawn(_await(h))
    ex.run_until_stalled()
    with pytest.raises(Boom):
        h.cancel()
    ex.run_until_stalled()
    assert w.cancelled() is False
    assert isinstance(w.exception(), Exception)  # Cancelled, passed on by the await
    assert w.exception().__class__.__name__ == "Cancelled"


class FutureNeverReady(FutureBase[None]):
    """Pending for ever, keeping a clone of the waker (so the task is not lost)."""

    def __init__(self) -> None:
        self.kept: Waker | None = None

    def poll(self, cx: Context) -> Poll[None]:
        if self.kept is None:
            self.kept = cx.waker.clone()
        return Pending


def test_two_failing_wakers_are_both_named_and_an_interrupt_outranks_an_error() -> None:
    def interrupt() -> None:
        raise KeyboardInterrupt

    ex = Executor()
    h = ex.spawn(_child())
    assert h.poll(Context(bad_waker())) is Pending
    assert h.poll(Context(Waker.from_fn(interrupt))) is Pending  # a second, different waker
    w = ex.spawn(_await(h))
    with pytest.raises(KeyboardInterrupt) as info:
        ex.run()
    notes = "\n".join(getattr(info.value, "__notes__", []))
    assert "interrupt" in notes and "Boom" in notes
    ex.run_until_stalled()
    assert w.result() == 7


# ---------------------------------------------------------------------------------------------
# Section 1: refexec.sync wake-all paths


def _spawn_waiters(ex: Executor, make: Callable[[], Any], n: int = 3) -> list[JoinHandle[Any]]:
    async def waiter() -> str:
        try:
            await make()
        except ChannelClosed:
            return "closed"
        return "woken"

    hs = [ex.spawn(waiter()) for _ in range(n)]
    ex.run_until_stalled()
    assert all(h.state is not None and h.state.name == "IDLE" for h in hs)
    return hs


def _finish(ex: Executor, hs: list[JoinHandle[Any]], expected: str) -> None:
    report = ex.run_until_stalled()
    assert report.lost == ()
    assert [h.result() for h in hs] == [expected] * len(hs)
    ex.check_invariants()


def test_event_set_wakes_every_waiter_when_the_first_waker_raises() -> None:
    ex = Executor()
    ev = Event()
    first = ev.wait()
    assert first.poll(Context(bad_waker())) is Pending
    hs = _spawn_waiters(ex, ev.wait)
    with pytest.raises(Boom) as info:
        ev.set()
    _assert_noted(info.value)
    assert ev.is_set()
    _finish(ex, hs, "woken")
    del first


def test_closing_the_last_sender_wakes_every_receiver_when_the_first_waker_raises() -> None:
    ex = Executor()
    tx, rx = channel()
    first = rx.recv()
    assert first.poll(Context(bad_waker())) is Pending
    hs = _spawn_waiters(ex, rx.recv)
    with pytest.raises(Boom) as info:
        tx.close()
    _assert_noted(info.value)
    _finish(ex, hs, "closed")
    del first


def test_closing_the_receiver_wakes_every_blocked_sender_when_the_first_waker_raises() -> None:
    ex = Executor()
    tx, rx = channel(1)
    tx.try_send(0)  # full
    first = tx.send(1)
    assert first.poll(Context(bad_waker())) is Pending
    hs = _spawn_waiters(ex, lambda: tx.send(2))
    with pytest.raises(Boom) as info:
        rx.close()
    _assert_noted(info.value)
    _finish(ex, hs, "closed")
    del first


def test_oneshot_send_delivers_and_names_the_waker_that_raised() -> None:
    tx, rx = oneshot()
    assert rx.poll(Context(bad_waker())) is Pending
    with pytest.raises(Boom) as info:
        tx.send(5)
    _assert_noted(info.value)
    assert rx.poll(Context(noop_waker())) == Ready(5)


def test_oneshot_sender_close_names_the_waker_that_raised() -> None:
    tx, rx = oneshot()
    assert rx.poll(Context(bad_waker())) is Pending
    with pytest.raises(Boom) as info:
        tx.close()
    _assert_noted(info.value)
    with pytest.raises(ChannelClosed):
        rx.poll(Context(noop_waker()))


def test_a_waker_failure_inside_a_task_fails_only_that_task_and_wakes_the_rest() -> None:
    ex = Executor()
    ev = Event()
    first = ev.wait()
    assert first.poll(Context(bad_waker())) is Pending
    hs = _spawn_waiters(ex, ev.wait)

    async def setter() -> None:
        ev.set()

    s = ex.spawn(setter())
    ex.run_until_stalled()
    assert isinstance(s.exception(), Boom)
    assert [h.result() for h in hs] == ["woken"] * 3
    del first


# ---------------------------------------------------------------------------------------------
# Section 3: retention and growth


def _registry_size() -> int:
    """Entries of every warnings registry a warning from refexec could have been filed in."""
    n = 0
    for mod in list(sys.modules.values()):
        reg = getattr(mod, "__warningregistry__", None)
        if isinstance(reg, dict):
            n += len(reg)
    return n + len(warnings.onceregistry)  # type: ignore[attr-defined]


def test_unretrieved_exception_warnings_do_not_grow_the_warnings_registry() -> None:
    async def fails(i: int) -> None:
        raise ValueError(f"failure {i}")

    with warnings.catch_warnings():
        warnings.simplefilter("default")  # Python's default: files each message it shows
        shown: list[warnings.WarningMessage] = []
        warnings.showwarning = lambda *a, **k: shown.append(a[0])  # type: ignore[assignment]
        before = _registry_size()
        for i in range(300):
            ex = Executor()
            ex.spawn(fails(i))
            ex.run()
            ex.close()
            del ex
        gc.collect()
        after = _registry_size()
    assert len(shown) == 300  # every unretrieved failure is still reported
    assert "failure 299" in str(shown[-1])
    assert after - before <= 1


def test_a_closed_executor_ignores_wakes_clones_and_drops_of_its_wakers() -> None:
    ex = Executor()
    kept: list[Waker] = []

    class Park(FutureBase[None]):
        def poll(self, cx: Context) -> Poll[None]:
            kept.append(cx.waker.clone())
            return Pending

    async def parked() -> None:
        await Park()

    ex.spawn(parked())
    ex.run_until_stalled()
    ex.close()
    w = kept[0]
    for _ in range(100_000):
        w.wake_by_ref()
    for _ in range(1000):
        w.clone().drop()
    w.wake()
    assert ex.snapshot().inbox == 0


def test_the_thread_runner_keeps_nothing_of_a_finished_run_alive() -> None:
    class Payload:
        pass

    class ReadyNow(FutureBase[None]):
        def poll(self, cx: Context) -> Poll[None]:
            cx.waker.wake_by_ref()  # asks for the Context, so the runner caches one
            return Ready(None)

    async def task() -> Payload:
        await ReadyNow()
        return Payload()

    ex = Executor()
    h = ex.spawn(task())
    ex.run()
    refs = [weakref.ref(ex), weakref.ref(h.result())]  # the result: only the task holds it
    del h, ex
    gc.collect()
    assert [r() for r in refs] == [None, None]
