"""Interrupts (KeyboardInterrupt, SystemExit, whatever a signal handler raises) corrupt nothing.

The README promises that ``run()`` may be called again after an interrupt. These tests hold the
executor to it where Python can deliver one: at every line of the run loop, the waker paths,
``close()`` and the sync primitives (:func:`refexec.testing.interrupts.sweep`), and at random
instants by real signals (:func:`refexec.testing.interrupts.signal_trials`). Then one test per
failure seen in the hostile trials of issue 11, each aimed at the line where it happened.

Verdicts come from states (invariants, structures, locks, counters), never from timers; a lock
left held is detected with ``lock.locked()``, not by blocking on it.
"""

from __future__ import annotations

import gc
import time
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import refexec
from core_support import ParkOnce
from refexec import Event, Executor, channel, oneshot, yield_now
from refexec import executor as executor_mod
from refexec import future as future_mod
from refexec import sync as sync_mod
from refexec import waker as waker_mod
from refexec.state import TaskState
from refexec.testing.interrupts import (
    Built,
    LineInterrupter,
    arm_signal_points,
    check_after_interrupt,
    codes_of,
    line_of,
    signal_trials,
    sweep,
)

_NOT_THE_LOOP = {"check_invariants", "snapshot", "_polled", "_unfinished", "stats",
                 "__repr__", "_stalled", "__del__"}
CODES = codes_of(executor_mod, waker_mod, sync_mod, future_mod, exclude=_NOT_THE_LOOP)
"""Every function of the run loop, the waker paths, close() and the sync primitives (the
inspection methods the checker itself calls are left out, and finalizers: see the README)."""


@pytest.fixture(autouse=True)
def _quiet_unstarted() -> Iterator[None]:
    # A coroutine object made just before an interrupt (e.g. in refexec.spawn(child())) is
    # never started; Python warns about it when it is freed. That is the interrupt's doing.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "coroutine .* was never awaited", RuntimeWarning)
        yield
        # ... and freed here, while the warning is still ignored: an interrupted trial's
        # garbage can be a cycle (a queued waiter and its queue), which only a collection frees,
        # and a later test must not see its warning
        gc.collect()


# -- scenarios ------------------------------------------------------------------------------------


def everything(ex: Executor | None = None, fin: dict[str, int] | None = None) -> Built:
    """Tasks using every mechanism: a bounded channel that fills (senders park), its end of
    stream, a oneshot, an Event, yield_now, a task that raises, spawn from a task and await of
    its handle, a cancel of a parked task from another task (whose finally must run once).
    On ``ex`` and counting into ``fin`` if given (so many copies can share one executor)."""
    ex = Executor() if ex is None else ex
    fin = {} if fin is None else fin
    key = f"blocked{len(fin)}"
    fin[key] = 0
    ev, gate = Event(), Event()
    tx, rx = channel(2)
    otx, orx = oneshot()

    async def producer() -> None:
        for i in range(5):
            await tx.send(i)
        tx.close()

    async def consumer() -> int:
        total = 0
        async for x in rx:
            total += x
        otx.send(total)
        return total

    async def waiter() -> int:
        await ev.wait()
        return await orx

    async def setter() -> None:
        await yield_now()
        ev.set()

    async def failing() -> None:
        await yield_now()
        raise ValueError("scenario failure")

    async def child() -> int:
        await yield_now()
        return 7

    async def parent() -> int:
        return await refexec.spawn(child())

    async def blocked() -> None:
        try:
            await gate.wait()
        finally:
            fin[key] += 1

    async def canceller(h: Any) -> None:
        await yield_now()
        h.cancel()

    hs = [ex.spawn(c) for c in (producer(), consumer(), waiter(), setter(), failing(), parent())]
    b = ex.spawn(blocked())
    hs += [b, ex.spawn(canceller(b))]
    locks = [s._lock for s in (ev._shared, gate._shared, tx._shared, otx._shared)]
    return Built(ex, hs, locks, fin)


def run(b: Built) -> None:
    # No other thread: if the loop sleeps, nothing can ever wake it, so a stall of any length
    # is a hang (a state, not a timing); Stalled then fails the check instead of hanging it.
    b.ex.run(stall_timeout=5)


def parked_for_close() -> Built:
    """Tasks parked in every way close() must undo: on an Event, on a full channel, on an empty
    one, on another task's handle, plus one still queued; each counts its finally."""
    ex = Executor()
    ev = Event()
    tx, rx = channel(1)
    fin: dict[str, int] = {}

    def guarded(name: str, body: Callable[[], Any]) -> Any:
        fin[name] = 0

        async def task() -> None:
            try:
                await body()
            finally:
                fin[name] += 1

        return task()

    async def fill() -> None:
        await tx.send(1)
        await tx.send(2)  # parks: capacity 1

    hs = [ex.spawn(guarded("event", ev.wait)), ex.spawn(guarded("full", fill))]
    hs.append(ex.spawn(guarded("join", lambda: hs[0])))
    hs.append(ex.spawn(guarded("empty", lambda: _drain_one(rx))))
    ex.run_until_stalled()
    hs.append(ex.spawn(guarded("queued", yield_now)))
    del fin["queued"]  # never started: a coroutine closed before its first poll runs no finally
    return Built(ex, hs, [ev._shared._lock, tx._shared._lock], fin, keep=[tx, rx, ev])


async def _drain_one(rx: Any) -> None:
    await rx.recv()
    await rx.recv()  # the second one parks


def close(b: Built) -> None:
    b.ex.close()


# -- every line -----------------------------------------------------------------------------------


def _report(hits: int, problems: list[Any], least: int) -> None:
    assert hits > least, f"the scenario ran only {hits} traced lines: the sweep would prove little"
    assert not problems, "\n".join(map(str, problems[:20]))


_POINTS = pytest.mark.parametrize("signal_points", [False, True], ids=["lines", "signal_points"])


@_POINTS
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_keyboard_interrupt_at_every_line_of_run_loop_wakers_and_sync(signal_points: bool) -> None:
    _report(*sweep(everything, run, CODES, signal_points=signal_points), 150)


@_POINTS
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_keyboard_interrupt_at_every_line_of_close(signal_points: bool) -> None:
    _report(*sweep(parked_for_close, close, CODES, signal_points=signal_points), 40)


@pytest.mark.deep
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.parametrize("exc", [SystemExit, lambda: _FromHandler("raised by a handler")])
def test_any_base_exception_at_every_line(exc: Callable[[], BaseException]) -> None:
    _report(*sweep(everything, run, CODES, exc=exc), 150)
    _report(*sweep(parked_for_close, close, CODES, exc=exc), 100)
    _report(*sweep(everything, run, CODES, exc=exc, signal_points=True), 150)


class _FromHandler(BaseException):
    """What a signal handler of the user's might raise: neither KeyboardInterrupt nor an
    Exception (an Exception raised asynchronously is caught by ordinary ``except Exception``
    code, the program's as well as refexec's: that is not an interrupt's contract)."""


# -- random instants, real signals ----------------------------------------------------------------


def _trials(n: int) -> None:
    """``n`` trials of 20 copies of ``everything`` on one executor, each interrupted by a real
    signal at a random instant within the time one uninterrupted run takes here (measured
    first, so the signals land inside runs on a fast machine and a slow one alike)."""

    def build() -> Built:
        ex = Executor()
        fin: dict[str, int] = {}
        bs = [everything(ex, fin) for _ in range(20)]
        return Built(ex, [h for b in bs for h in b.handles], [lk for b in bs for lk in b.locks],
                     fin)

    b = build()
    start = time.perf_counter()
    run(b)
    span = (time.perf_counter() - start) * 0.9
    assert check_after_interrupt(b) == []
    interrupted, problems = signal_trials(build, run, n, seed=11, span=span)
    assert not problems, "\n".join(map(str, problems[:20]))
    assert interrupted > 0, "no signal landed inside a run: the trials proved nothing"


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_signals_at_random_instants_fast() -> None:
    _trials(30)


@pytest.mark.deep
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_signals_at_random_instants_deep() -> None:
    _trials(300)


# -- the failures of issue 11, each at its line ---------------------------------------------------




def _interrupt_at(func: Any, text: str, call: Callable[[], object]) -> LineInterrupter:
    """Run ``call()`` with a KeyboardInterrupt at the first time the line of ``func`` that
    contains ``text`` is about to run; the interrupt must come out of ``call()``."""
    li = LineInterrupter({func.__code__}, 1, line=line_of(func, text), deliverable_only=False)
    with pytest.raises(KeyboardInterrupt), li:
        call()
    assert li.where is not None
    return li


def test_interrupt_just_after_pending_files_the_pending_once() -> None:
    # issue 12: the poll returned Pending before the interrupt; its outcome is filed as the
    # loop would have (IDLE, waiting for the waker it kept), counted once, not polled again
    ex = Executor()
    fut = ParkOnce()
    h = ex.spawn(fut)
    _interrupt_at(Executor._run_ready, "if y is YIELD", ex.run)
    ex.check_invariants()
    snap = ex.snapshot()
    assert h.state is TaskState.IDLE and snap.ready == () and h.poll_count == 1
    assert ex.stats.polls == 1
    fut.waker.wake()
    ex.run()
    assert h.done() and h.result() is None and h.poll_count == 2
    ex.check_invariants()


def test_interrupt_after_a_yield_puts_the_task_back_at_the_tail() -> None:
    # a yield_now() poll cut short before it was filed: SCHEDULED behind the others (as the
    # loop files it), its wake counted once
    ex = Executor()
    a = ex.spawn(yield_now())
    b = ex.spawn(yield_now())
    _interrupt_at(Executor._run_ready, "yields += 1", ex.run)
    ex.check_invariants()
    assert ex.snapshot().ready == (b.id, a.id) and a.poll_count == 1
    assert ex.stats.wakes == 1 and ex.stats.polls == 1
    ex.run()
    assert a.done() and b.done() and a.poll_count == 2


@pytest.mark.parametrize("text", ["n = t._n + 1", "t._state = RUNNING; t._n = n",
                                  "if trace is not None:"])
def test_interrupt_before_the_send_puts_the_task_back_at_the_head_uncounted(text: str) -> None:
    # issue 12: taken off the queue but never sent: the poll never started; the task goes
    # back to the head (FIFO order kept) and its poll is not counted (it used to go to the
    # tail, or be counted twice)
    ex = Executor()
    a = ex.spawn(yield_now())
    b = ex.spawn(yield_now())
    _interrupt_at(Executor._run_ready, text, ex.run)
    ex.check_invariants()
    assert ex.snapshot().ready == (a.id, b.id)
    assert a.poll_count == 0 and a.state is TaskState.SCHEDULED and ex.stats.polls == 0
    ex.run()
    assert a.done() and b.done() and a.poll_count == b.poll_count == 2
    assert ex.stats.polls == 4


def test_interrupt_while_waking_the_awaiters_of_a_finished_task_loses_none() -> None:
    # the task completes, and the interrupt comes as the loop starts waking its awaiter: the
    # awaiter is still woken (the interrupt is raised after), not dropped and reported lost
    ex = Executor()

    async def target() -> int:
        await yield_now()
        return 7

    h = ex.spawn(target())

    async def waiter() -> int:
        return await h

    w = ex.spawn(waiter())
    assert ex.step() and ex.step()  # target yielded, waiter awaits it
    _interrupt_at(Executor._wake_waiters, "for w in ws:", ex.run)
    ex.check_invariants()
    assert h.result() == 7 and w.state is TaskState.SCHEDULED
    ex.run()
    assert w.result() == 7


def test_interrupt_between_entry_and_try_leaves_no_running_mark() -> None:
    ex = Executor()
    h = ex.spawn(yield_now())
    _interrupt_at(Executor._reported, "before = self.stats", ex.run)
    assert not ex.snapshot().running
    ex.run()  # not "already running on thread ..."
    assert h.done()
    ex.close()


@pytest.mark.parametrize("signal_points", [False, True], ids=["lines", "signal_points"])
def test_interrupt_after_acquire_in_sync_lock_helper_leaves_no_lock_held(
    signal_points: bool,
) -> None:
    """At every line (and every instruction where a signal can land) of refexec.sync that
    Event.set() runs, the lock helper included: no lock is left held."""
    ev = Event()
    lock = ev._shared._lock
    codes = codes_of(sync_mod, exclude={"__del__"})
    if signal_points:
        arm_signal_points(codes, lambda: (ev.set(), ev.clear()))
    b0 = LineInterrupter(codes, None, signal_points=signal_points)
    with b0:
        ev.set()
    ev.clear()
    assert b0.hits > 0
    for k in range(1, b0.hits + 1):
        if signal_points:
            arm_signal_points(codes, lambda: (ev.set(), ev.clear()))
        li = LineInterrupter(codes, k, signal_points=signal_points)
        with pytest.raises(KeyboardInterrupt), li:
            ev.set()
        assert not lock.locked(), f"the Event's lock is held after an interrupt at {li.where}"
        ev.clear()


def test_second_close_finishes_what_an_interrupted_close_left() -> None:
    ex = Executor()
    ran: list[str] = []

    def parked(name: str, interrupt: bool) -> Any:
        async def task() -> None:
            try:
                await Event().wait()
            finally:
                ran.append(name)
                if interrupt:
                    raise KeyboardInterrupt

        return task()

    hs = [ex.spawn(parked("a", True)), ex.spawn(parked("b", False)), ex.spawn(parked("c", False))]
    ex.run_until_stalled()
    with pytest.raises(KeyboardInterrupt):
        ex.close()
    ex.check_invariants()
    ex.close()
    assert sorted(ran) == ["a", "b", "c"]
    assert all(h.cancelled() for h in hs)
    ex.check_invariants()
    ex.close()  # and idempotent once done


def test_second_close_reports_what_an_interrupted_close_did_not() -> None:
    """close() reports unretrieved task exceptions after its last cancel; an interrupt in that
    cancel (here raised by the task's finally block) skips the reports, and the next close(),
    finding every task final, used to return at once: the exception was reported only if and
    when the handle was garbage-collected."""
    ex = Executor()

    async def boom() -> None:
        raise ValueError("nobody looks")

    async def parked() -> None:
        try:
            await Event().wait()
        finally:
            raise KeyboardInterrupt

    failed = ex.spawn(boom())
    last = ex.spawn(parked())
    ex.run_until_stalled()
    with pytest.raises(KeyboardInterrupt):
        ex.close()  # the last task is cancelled; the interrupt skips the reports
    assert failed.done() and last.cancelled()
    with pytest.warns(RuntimeWarning, match=r"raised ValueError\('nobody looks'\) and nobody"):
        ex.close()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ex.close()  # reported once: a third close() repeats nothing
    del failed


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_interrupt_in_a_finalizer_is_raised_again_by_the_run_loop() -> None:
    """Python swallows an exception leaving a __del__; the interrupt must not be lost."""
    ex = Executor()
    fut = ParkOnce()
    h = ex.spawn(fut)
    ex.run_until_stalled()
    w = fut.waker
    fut.waker = None
    li = LineInterrupter({executor_mod._vt_drop.__code__}, 1, skip_finalizers=False)
    with li:
        del w  # Waker.__del__ -> the vtable's drop, interrupted at its first line
    assert li.where is not None
    with pytest.raises(KeyboardInterrupt):
        ex.run_until_stalled()
    ex.run_until_stalled()  # raised once
    ex.close()
    assert h.done()


def test_check_after_interrupt_reports_a_task_in_no_structure() -> None:
    """The checker itself can fail: a task taken out of the queue and left RUNNING."""
    b = everything()
    t = b.ex._ready.popleft()
    t._state = TaskState.RUNNING
    problems = check_after_interrupt(b, resume=False)
    assert any("in no structure" in p for p in problems), problems
    t._state = TaskState.SCHEDULED
    b.ex._ready.appendleft(t)
    assert check_after_interrupt(b) == []
