"""Time: clocks, sleep, timeouts and the driver's rules (issue 14 §1).

Verdicts come from states: with ``VirtualClock`` every run is deterministic; the few real-clock
tests assert only what the clock guarantees (never earlier than asked), never durations.
"""

from __future__ import annotations

import math
import socket
import threading
from typing import Any

import pytest
import refexec
from core_support import DRIVE_CALLS, drive_once
from refexec import (
    Context,
    Executor,
    FutureBase,
    Pending,
    Poll,
    SimpleExecutor,
    Stalled,
    TaskState,
    Trace,
    VirtualClock,
    yield_now,
)
from refexec.driver import Driver

S = 1_000_000_000


def test_autojump_runs_an_hour_of_sleeps_in_deadline_order() -> None:
    clock = VirtualClock(autojump=True)
    ex = Executor(clock=clock)
    log: list[tuple[float, int]] = []

    async def sleeper(s: float) -> None:
        await refexec.sleep(s)
        log.append((s, refexec.now_ns()))

    for s in (3600, 1, 2.5, 1):
        ex.spawn(sleeper(s))
    ex.run()
    assert log == [(1, S), (1, S), (2.5, 5 * S // 2), (3600, 3600 * S)]
    assert clock.now_ns() == 3600 * S
    assert ex._driver.armed == 0


def test_timer_never_fires_before_its_deadline_advance_by_hand() -> None:
    clock = VirtualClock()
    ex = Executor(clock=clock)

    async def sleeper() -> int:
        await refexec.sleep(1)
        return refexec.now_ns()

    h = ex.spawn(sleeper())
    ex.run_until_stalled()
    assert h.state is refexec.TaskState.IDLE and ex._driver.armed == 1
    clock.advance_ns(S - 1)
    ex.run_until_stalled()
    assert not h.done() and ex._driver.armed == 1  # one nanosecond early: not fired
    clock.advance_ns(1)
    ex.run_until_stalled()
    assert h.result() == S and ex._driver.armed == 0


def test_run_does_not_return_while_a_timer_of_an_unfinished_task_is_armed() -> None:
    ex = Executor(clock=VirtualClock())  # no autojump: the timer can never fire by itself
    ex.spawn(refexec.sleep(5))
    with pytest.raises(Stalled) as info:
        ex.run(stall_timeout=0.05)  # the guard: run() would otherwise wait for ever
    assert "1 live waker" in str(info.value)
    assert ex.snapshot().task(1).state is refexec.TaskState.IDLE


def test_armed_timer_is_not_reaped_as_lost() -> None:
    clock = VirtualClock()
    ex = Executor(clock=clock)
    h = ex.spawn(refexec.sleep(1))
    report = ex.run_until_stalled()
    assert report.tasks_lost == 0 and not h.done()
    clock.advance(1)
    ex.run_until_stalled()
    assert h.done() and h.exception() is None


def test_self_waking_task_cannot_starve_a_due_timer() -> None:
    clock = VirtualClock()
    ex = Executor(clock=clock)
    fired = threading.Event()
    spins = 0

    async def sleeper() -> None:
        await refexec.sleep(1)
        fired.set()

    async def spinner() -> None:
        nonlocal spins
        while not fired.is_set():
            spins += 1
            await yield_now()

    ex.spawn(sleeper())
    assert ex.step()  # the sleeper arms its timer
    clock.advance(1)  # the timer is due before the spinner exists
    ex.spawn(spinner())
    ex.run()
    assert fired.is_set()
    # fired when run() starts, before the spinner's first poll (EX-TIMER-PROMPT), not after a
    # round of polls nor "when idle": the spinner spins once, the sleeper ends, the spinner sees it
    assert spins == 1


def test_a_drive_call_fires_a_due_timer_before_polling_what_is_queued() -> None:
    """The model's order (EX-TIMER-PROMPT): a timer due when a drive call starts fires before
    the tasks already queued are polled, whichever drive call it is."""
    for drive in DRIVE_CALLS:
        trace = Trace()
        clock = VirtualClock()
        ex = Executor(clock=clock, trace=trace)
        ex.spawn(refexec.sleep(1))
        ex.run_until_stalled()  # task 1 armed its timer
        clock.advance(1)
        h = ex.spawn(yield_now())  # task 2, queued while the timer is due
        trace.clear()
        drive_once(ex, drive, h)
        kinds = [(e.event, e.task) for e in trace]
        assert kinds.index(("timer_fire", 1)) < kinds.index(("poll", 2)), (drive, kinds)
        ex.close()


def test_step_fires_a_due_timer_and_polls_the_task_it_woke() -> None:
    clock = VirtualClock()
    ex = Executor(clock=clock)
    h = ex.spawn(refexec.sleep(1))
    assert ex.step()  # armed
    clock.advance(1)
    assert ex.step()  # the timer fires, then its task is polled: the sleep ends
    assert h.done()
    ex.close()


def test_thread_advancing_the_clock_wakes_the_parked_loop() -> None:
    clock = VirtualClock()
    ex = Executor(clock=clock)
    done = threading.Event()

    async def sleeper() -> None:
        await refexec.sleep(3)
        done.set()

    def ticker() -> None:
        for _ in range(10_000):  # bounded; each advance nudges the loop through its door
            if done.wait(0.001):
                return
            clock.advance(1)

    ex.spawn(sleeper())
    th = threading.Thread(target=ticker)
    th.start()
    try:
        ex.run(stall_timeout=10)  # a guard against a lost nudge, not a timing assertion
    finally:
        th.join()
    assert done.is_set() and clock.now_ns() >= 3 * S


def test_cancelling_a_sleeping_task_cancels_its_timer() -> None:
    trace = Trace()
    ex = Executor(clock=VirtualClock(), trace=trace)
    h = ex.spawn(refexec.sleep(10))
    ex.run_until_stalled()
    assert ex._driver.armed == 1 and h._wakers == 1
    h.cancel()
    assert ex._driver.armed == 0 and h.cancelled()
    assert trace.kinds(1).count("timer_arm") == 1
    assert trace.kinds(1).count("timer_cancel") == 1
    ex._driver.check_invariants()


def test_sleep_zero_yields_once() -> None:
    ex = Executor(clock=VirtualClock())
    log: list[str] = []

    async def a() -> None:
        log.append("a1")
        await refexec.sleep(0)
        log.append("a2")

    async def b() -> None:
        log.append("b")

    ex.spawn(a())
    ex.spawn(b())
    ex.run()
    assert log == ["a1", "b", "a2"]
    assert ex._driver.heap_size == 0  # no timer for a zero sleep


@pytest.mark.parametrize("bad", [-1, -0.5, math.nan])
def test_negative_and_nan_durations_are_value_errors(bad: float) -> None:
    with pytest.raises(ValueError, match="sleep"):
        refexec.sleep(bad)
    with pytest.raises(ValueError, match="timeout"):
        refexec.timeout(bad)
    with pytest.raises(ValueError, match="timeout"):
        refexec.with_timeout(yield_now(), bad)


def test_non_numbers_are_type_errors() -> None:
    with pytest.raises(TypeError):
        refexec.sleep("1")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Executor(clock="monotonic")  # type: ignore[arg-type]


def test_time_outside_a_task_is_a_clear_error() -> None:
    with pytest.raises(RuntimeError, match="outside a refexec task"):
        refexec.now()

    async def on_simple() -> None:
        await refexec.sleep(1)

    ex = SimpleExecutor()
    ex.spawn(on_simple())
    with pytest.raises(RuntimeError, match="executor without a clock"):
        ex.run()


def test_timeout_raises_timeout_error_and_runs_the_finally_inside() -> None:
    ex = Executor(clock=VirtualClock(autojump=True))
    log: list[Any] = []

    async def slow() -> None:
        try:
            await refexec.sleep(10)
        finally:
            log.append(("finally", refexec.now()))

    async def main() -> None:
        scope = refexec.timeout(1)
        with pytest.raises(TimeoutError):
            async with scope:
                try:
                    await slow()
                except Exception:
                    log.append("swallowed")
        log.append(("after", refexec.now(), scope.expired))

    ex.block_on(main())
    assert log == [("finally", 1.0), ("after", 1.0, True)]
    assert ex._driver.armed == 0


def test_timeout_that_does_not_expire_leaves_no_timer() -> None:
    ex = Executor(clock=VirtualClock(autojump=True))

    async def main() -> bool:
        scope = refexec.timeout(5)
        async with scope:
            await refexec.sleep(1)
        return scope.expired

    assert ex.block_on(main()) is False
    assert ex._driver.armed == 0 and ex.clock.now_ns() == S  # the 5 s timer never ran


def test_nested_timeouts_the_earlier_deadline_wins() -> None:
    ex = Executor(clock=VirtualClock(autojump=True))

    async def main() -> tuple[bool, bool]:
        outer = refexec.timeout(2)
        inner = refexec.timeout(1)
        async with outer:
            with pytest.raises(TimeoutError):
                async with inner:
                    await refexec.sleep(10)
            await refexec.sleep(0.5)
        return outer.expired, inner.expired

    assert ex.block_on(main()) == (False, True)


def test_with_timeout_returns_the_result_or_cancels_the_task() -> None:
    ex = Executor(clock=VirtualClock(autojump=True))

    async def value() -> int:
        await refexec.sleep(1)
        return 7

    async def main() -> tuple[int, bool]:
        got = await refexec.with_timeout(value(), 2)
        h = refexec.spawn(refexec.sleep(100))
        with pytest.raises(TimeoutError):
            await refexec.with_timeout(h, 1)
        return got, h.cancelled()

    assert ex.block_on(main()) == (7, True)
    assert ex._driver.armed == 0


def test_timeout_of_infinity_never_expires() -> None:
    ex = Executor(clock=VirtualClock(autojump=True))

    async def main() -> float:
        async with refexec.timeout(math.inf):
            await refexec.sleep(1)
        return refexec.now()

    assert ex.block_on(main()) == 1.0


def test_sleep_until_a_past_deadline_returns() -> None:
    ex = Executor(clock=VirtualClock(5 * S, autojump=True))

    async def main() -> float:
        await refexec.sleep_until(1)
        await refexec.sleep_until(7)
        return refexec.now()

    assert ex.block_on(main()) == 7.0


def test_cancelled_timeouts_leave_the_heap_bounded() -> None:
    ex = Executor(clock=VirtualClock())

    async def main() -> None:
        for _ in range(10_000):
            async with refexec.timeout(60):
                pass

    ex.block_on(main())
    drv = ex._driver
    drv.check_invariants()
    assert drv.armed == 0 and drv.heap_size <= 64


def test_real_clock_sleep_is_never_early() -> None:
    ex = Executor()

    async def main() -> tuple[int, int]:
        t0 = refexec.now_ns()
        await refexec.sleep(0.01)
        return t0, refexec.now_ns()

    t0, t1 = ex.block_on(main(), stall_timeout=10)
    assert t1 - t0 >= 10_000_000  # a monotonic clock's promise, not a duration bound


# -- hazards: a drop on another thread; stall_timeout with a timer armed -------------------------

GUARD = 10.0  # seconds; only ever reached if the code under test hangs


class _Via(FutureBase[None]):
    """Polls the sleep future kept in ``holder`` (so only ``holder`` owns it: clearing the
    list on another thread drops it there) and reports its first poll."""

    def __init__(self, holder: list[Any], polled: threading.Event) -> None:
        self.holder = holder
        self.polled = polled

    def poll(self, cx: Context) -> Poll[None]:
        result = self.holder[0].poll(cx) if self.holder else Pending
        self.polled.set()
        return result


@pytest.mark.parametrize("clock", [None, "virtual"])
def test_sleep_dropped_on_another_thread_is_cancelled_by_the_loop(
        clock: str | None, monkeypatch: pytest.MonkeyPatch) -> None:
    """The heap is the loop's, with no lock: a sleep future dropped by another thread while the
    loop runs must hand its timer to the loop (the old code cancelled it on the dropping
    thread, racing the loop's heap operations). The task then has no live waker: lost."""
    cancels: list[int] = []
    real_cancel = Driver.cancel

    def recording_cancel(self: Driver, tm: Any, poll: int = 0) -> None:
        # only this test's driver: the garbage collector may finalize an earlier test's
        # sleep future on this thread meanwhile, cancelling its timer in its own driver
        if self is ex._driver:
            cancels.append(threading.get_ident())
        real_cancel(self, tm, poll)

    monkeypatch.setattr(Driver, "cancel", recording_cancel)
    ex = Executor(clock=VirtualClock() if clock else None)
    holder: list[Any] = [refexec.sleep(3600)]
    polled = threading.Event()
    h = ex.spawn(_Via(holder, polled))

    def dropper() -> None:
        polled.wait(GUARD)
        holder.clear()  # the last reference: the future's finalizer runs on this thread

    th = threading.Thread(target=dropper)
    th.start()
    try:
        report = ex.run(stall_timeout=GUARD)
    finally:
        th.join()
    assert report.lost == (h,) and h.state is TaskState.CANCELLED
    assert cancels == [threading.get_ident()]  # on the loop's thread, once
    assert ex._driver.armed == 0 and not ex._driver._foreign
    ex._driver.check_invariants()


def test_sleep_dropped_on_another_thread_while_no_loop_runs_is_cancelled_at_once() -> None:
    ex = Executor(clock=VirtualClock())
    holder: list[Any] = [refexec.sleep(60)]
    h = ex.spawn(_Via(holder, threading.Event()))
    ex.run_until_stalled()
    assert ex._driver.armed == 1 and h._wakers == 1
    th = threading.Thread(target=holder.clear)
    th.start()
    th.join()
    assert ex._driver.armed == 0 and not ex._driver._foreign
    report = ex.run()
    assert report.lost == (h,)


@pytest.mark.parametrize("kind", ["real timer", "real timer and socket", "virtual and socket"])
def test_stall_timeout_holds_with_a_timer_armed(kind: str) -> None:
    """``run(stall_timeout=)`` raises ``Stalled`` when nothing happens for that long, whatever
    the park: the old code parked until the timer's deadline (an hour) or, with a socket and a
    virtual clock, for ever. The run is in a thread only so a regression fails, not hangs."""
    ex = Executor(clock=VirtualClock() if kind.startswith("virtual") else None)
    a, b = socket.socketpair()
    ex.spawn(refexec.sleep(3600))
    if "socket" in kind:
        ex.spawn(refexec.wait_readable(a))
    got: list[BaseException] = []

    def runner() -> None:
        try:
            ex.run(stall_timeout=0.05)
        except BaseException as e:  # handed to the test's thread
            got.append(e)

    th = threading.Thread(target=runner, daemon=True)
    th.start()
    th.join(GUARD)
    try:
        assert not th.is_alive(), "run(stall_timeout=0.05) parked past its stall timeout"
        assert len(got) == 1 and isinstance(got[0], Stalled), got
        assert ex._driver.armed == 1
    finally:
        a.close()
        b.close()



class _CountingIdle(dict):  # type: ignore[type-arg]
    """The executor's IDLE map, counting how often a reap would scan it whole."""

    scans = 0

    def values(self) -> Any:
        type(self).scans += 1
        return super().values()


def test_reaping_looks_at_what_changed_not_at_every_sleeper() -> None:
    """N virtual-clock sleepers reach N idle points (one per deadline); a reap at each must not
    scan every IDLE task (O(N^2) in all): only the first reap of the drive call does."""
    ex = Executor(clock=VirtualClock(autojump=True))
    ex._idle = _CountingIdle()
    _CountingIdle.scans = 0
    for i in range(200):
        ex.spawn(refexec.sleep(1 + i))
    lost: list[Any] = []

    async def forgotten() -> None:  # keeps no waker: lost at an idle point mid-run
        await refexec.sleep(50.5)
        await _Forgotten()

    h = ex.spawn(forgotten())
    report = ex.run()
    lost.extend(report.lost)
    assert lost == [h] and ex.stats.completed == 200
    assert _CountingIdle.scans <= 1
    ex.close()


class _Forgotten(FutureBase[None]):
    def poll(self, cx: Context) -> Poll[None]:
        return Pending  # no waker kept
