"""check-trace on runs that sleep and time out: the timer driver's events refined against the
reference model's driver (issue 10 §3 of the driver work).

Real runs of ``Executor`` with ``MonotonicClock`` and ``VirtualClock`` must be VALID; traces
edited into something no executor can do (a fire with no arm, a fire at another deadline, a
due timer left unfired across a poll, a run that ends with a timer armed, a deadline in the
past of a fired one, a jump to no deadline, the fired timer's wake missing) must be INVALID at
the edited event. Verdicts only: no timing is asserted.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
from refexec import (
    Event,
    Executor,
    MonotonicClock,
    Trace,
    TraceEvent,
    VirtualClock,
    sleep,
    timeout,
    with_timeout,
)
from refexec.clock import Clock
from refexec.models.trace_check import TraceCheckError, TraceCheckResult, check_trace
from trace_support import invalid_at, where

Job = Callable[[Executor], Coroutine[Any, Any, None]]


def record(clock: Clock, *jobs: Job) -> list[TraceEvent]:
    tr = Trace()
    ex = Executor(trace=tr, clock=clock)
    for job in jobs:
        ex.spawn(job(ex))
    ex.run()
    return list(tr)


async def naps(ex: Executor) -> None:
    for i in range(4):
        await sleep(0.001 * (i % 3))


async def waits_for_nothing(ex: Executor) -> None:
    try:
        async with timeout(0.002):
            await Event().wait()
    except TimeoutError:
        pass


async def sleeper_cancelled(ex: Executor) -> None:
    async def long_nap() -> None:
        await sleep(5)

    h = ex.spawn(long_nap())
    await sleep(1)
    h.cancel()


async def zero_timeout(ex: Executor) -> None:
    try:
        async with timeout(0):
            await Event().wait()
    except TimeoutError:
        pass


async def timeout_not_reached(ex: Executor) -> None:
    ev = Event()

    async def setter() -> None:
        await sleep(0.001)
        ev.set()

    ex.spawn(setter())
    async with timeout(30):
        await ev.wait()


RUNS: dict[str, tuple[Callable[[], Clock], tuple[Job, ...]]] = {
    "monotonic-naps": (MonotonicClock, (naps,) * 5),
    "virtual-naps": (lambda: VirtualClock(autojump=True), (naps,) * 5),
    "monotonic-timeout-expires": (MonotonicClock, (waits_for_nothing,) * 3),
    "virtual-timeout-expires": (lambda: VirtualClock(autojump=True), (waits_for_nothing,) * 3),
    "virtual-timeout-not-reached": (lambda: VirtualClock(autojump=True),
                                    (timeout_not_reached,)),
    "virtual-cancel-a-sleeper": (lambda: VirtualClock(autojump=True), (sleeper_cancelled,)),
    "virtual-zero-timeout": (lambda: VirtualClock(autojump=True), (zero_timeout,)),
    "mixed": (lambda: VirtualClock(autojump=True),
              (naps, waits_for_nothing, sleeper_cancelled, zero_timeout, naps)),
}


def valid(events: list[TraceEvent]) -> TraceCheckResult:
    r = check_trace(events)
    assert r, r.report()
    return r


@pytest.mark.parametrize("name", sorted(RUNS))
def test_real_runs_that_sleep_and_time_out_are_valid(name: str) -> None:
    clock, jobs = RUNS[name]
    events = record(clock(), *jobs)
    assert any(e.event == "timer_arm" for e in events)
    r = valid(events)
    assert r.violated() == []


def test_a_virtual_clock_advanced_by_another_thread_is_valid() -> None:
    """Time passing on another thread (VirtualClock.advance) is the model's tick: the parked
    loop wakes at the deadline and fires the timer."""
    clock = VirtualClock()
    tr = Trace()
    ex = Executor(trace=tr, clock=clock)
    started = threading.Event()

    async def nap() -> None:
        started.set()
        await sleep(1)

    def advance() -> None:
        started.wait()
        for _ in range(4):
            clock.advance(0.5)

    ex.spawn(nap())
    th = threading.Thread(target=advance)
    th.start()
    ex.run()
    th.join()
    valid(list(tr))


def test_many_timers_at_once_over_a_long_run_are_valid() -> None:
    """Deadlines come and go (the clock levels are renumbered every time); 12 tasks, each
    sleeping 6 times for different spans."""

    async def staggered(ex: Executor) -> None:
        for i in range(6):
            await sleep(0.001 * ((i * 7) % 5))

    valid(record(VirtualClock(autojump=True), *(staggered,) * 12))


async def timeout_around_sleep(ex: Executor) -> None:
    with contextlib.suppress(TimeoutError):
        await with_timeout(sleep(5), 1)


async def sleeps_inside_a_timeout(ex: Executor) -> None:
    async with timeout(5):
        await sleep(0.001)
        await sleep(0.002)


@pytest.mark.parametrize("clock", [MonotonicClock, lambda: VirtualClock(autojump=True)])
def test_two_timers_of_one_task_are_valid(clock: Callable[[], Clock]) -> None:
    """A timeout around a sleep arms two timers for one task: the model's timer is the earlier,
    the other a held waker clone until the earlier has fired or been cancelled."""
    events = record(clock(), timeout_around_sleep, sleeps_inside_a_timeout, timeout_around_sleep)
    valid(events)


async def deep(ex: Executor) -> None:
    with contextlib.suppress(TimeoutError):
        async with timeout(3), timeout(1):
            await sleep(2)


def test_a_cancel_among_several_armed_timers_is_placed_by_its_deadline() -> None:
    """Nested timeouts around a sleep: when the inner timeout fires, the sleep is cancelled
    while the outer timeout is still armed; the timer_cancel names its deadline, so the checker
    knows which of the task's timers went (exit 0, not 2)."""
    events = record(VirtualClock(autojump=True), deep)
    cancels = [e for e in events if e.event == "timer_cancel"]
    assert cancels and all(e.detail is not None for e in cancels)
    assert valid(events).violated() == []


def test_a_cancel_among_several_armed_timers_without_its_deadline_is_refused_not_judged(
) -> None:
    """An older trace (timer_cancel with no detail) does not say which timer went: no verdict
    (exit 2 on the command line) instead of a wrong one."""
    events = [TraceEvent(e.event, e.task, e.poll, None) if e.event == "timer_cancel" else e
              for e in record(VirtualClock(autojump=True), deep)]
    with pytest.raises(TraceCheckError, match="does not say which"):
        check_trace(events)


def test_a_cancel_of_a_deadline_no_timer_has_is_invalid() -> None:
    events = record(VirtualClock(autojump=True), deep)
    i = where(events, "timer_cancel")
    events[i] = TraceEvent("timer_cancel", events[i].task, events[i].poll, "2500000000")
    invalid_at(events, i, "armed for 2500000000")


# ---------------------------------------------------------------------------------------------
# Wrong traces: edits of real ones
# ---------------------------------------------------------------------------------------------


def _one_nap() -> list[TraceEvent]:
    async def nap(ex: Executor) -> None:
        await sleep(1)

    return record(VirtualClock(autojump=True), nap)


def test_a_fire_with_no_arm_is_invalid() -> None:
    events = _one_nap()
    del events[where(events, "clock_jump")]  # a jump to no deadline is refused first
    del events[where(events, "timer_arm")]  # the waker_clone before it stays: a held clone
    invalid_at(events, where(events, "timer_fire"), "no armed timer")


def test_a_fire_at_another_deadline_than_armed_is_invalid() -> None:
    events = _one_nap()
    i = where(events, "timer_fire")
    events[i] = TraceEvent("timer_fire", events[i].task, 0, "500000000")
    invalid_at(events, i, "was armed for 1000000000")


def test_a_fire_whose_wake_is_missing_is_invalid() -> None:
    events = _one_nap()
    i = where(events, "timer_fire")
    assert events[i + 1].event == "wake"
    del events[i + 1]
    invalid_at(events, i + 1, "a 'wake' of t0 comes right after")


def test_a_run_that_ends_with_a_timer_armed_is_invalid() -> None:
    events = _one_nap()
    cut = where(events, "pending") + 1
    end = events[-1]
    assert end.event == "run_end"
    events = [*events[:cut], end]
    invalid_at(events, cut, "EX-TIMER-RUN-END")


def test_a_jump_to_an_instant_no_timer_has_is_invalid() -> None:
    events = _one_nap()
    i = where(events, "clock_jump")
    events[i] = TraceEvent("clock_jump", None, 0, "700000000")
    invalid_at(events, i, "no timer is armed for 700000000")


def test_a_fire_before_its_deadline_shows_as_a_deadline_in_the_past() -> None:
    """The fire says the clock reached 2 s; the task's next sleep is armed for 1.5 s, so the
    clock was below 2 s after the fire: the fire came before its deadline."""

    async def two(ex: Executor) -> None:
        await sleep(2)
        await sleep(0.5)

    events = record(VirtualClock(autojump=True), two)
    i = where(events, "timer_arm", 1)
    assert events[i].detail == "2500000000"
    events[i] = TraceEvent("timer_arm", events[i].task, events[i].poll, "1500000000")
    invalid_at(events, i, "the deadline is in the past")


def test_a_due_timer_left_unfired_across_a_poll_is_invalid() -> None:
    """After the jump to its deadline the timer is due: the loop fires it before it polls
    anything (EX-TIMER-PROMPT is the poll's guard in the model)."""

    async def nap_then_spawn(ex: Executor) -> None:
        await sleep(1)

    async def busy(ex: Executor) -> None:
        await sleep(1)

    events = record(VirtualClock(autojump=True), nap_then_spawn, busy)
    jump = where(events, "clock_jump")
    fires = [i for i in range(jump, len(events)) if events[i].event == "timer_fire"]
    assert len(fires) == 2
    # move the second fire (and its wake) after the first task's poll
    second = fires[1]
    moved = events[second:second + 2]
    del events[second:second + 2]
    poll = next(i for i in range(second, len(events)) if events[i].event == "poll")
    events[poll + 1:poll + 1] = moved
    invalid_at(events, poll, "EX-TIMER-PROMPT")


def test_a_task_s_later_timer_firing_first_is_invalid() -> None:
    """``timeout(5)`` around ``sleep(1)``: the sleep's timer, armed second, fires first (the
    model's timer is the task's earliest); a trace in which the 5 s timer fires at that point
    is refused."""

    async def bounded_nap(ex: Executor) -> None:
        async with timeout(5):
            await sleep(1)

    events = record(VirtualClock(autojump=True), bounded_nap)
    valid(events)
    i = where(events, "timer_fire")
    assert events[i].detail == "1000000000"
    events[i] = TraceEvent("timer_fire", events[i].task, 0, "5000000000")
    invalid_at(events, i, "was armed for 1000000000")


@pytest.mark.parametrize("clock", [None, "virtual"])
def test_a_sleeper_cancelled_between_drive_calls_is_valid(clock: str | None) -> None:
    """Cancelled while no loop runs: the timer's waker is dropped with the cancel, right after
    its timer_cancel (it was posted and recorded at the next drain: INVALID)."""
    tr = Trace()
    ex = Executor(trace=tr, clock=VirtualClock() if clock else None)

    async def nap() -> None:
        await sleep(5)

    h = ex.spawn(nap())
    ex.run_until_stalled()
    assert h.cancel() and h.cancelled()
    ex.run()
    events = list(tr)
    i = [e.event for e in events].index("timer_cancel")
    assert events[i + 1].event == "waker_drop"
    r = check_trace(events)
    assert r.ok and r.violated() == [], r.report()
