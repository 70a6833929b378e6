"""check-trace on runs that wait for sockets: the reactor's events (``io_register``,
``io_ready``, ``io_cancel``) refined against the reference model's driver (``reg``, SPEC 2.8).

Real runs of ``Executor`` on socketpairs and TCP must be VALID; traces edited into something no
executor can do (a ready report with no registration, a run that ends while a task is
registered, a second registration, a ready report whose wake is missing, a registration dropped
outside its task's poll while the task lives) must be INVALID at the edited event. Verdicts
only: no timing is asserted.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import pytest
import refexec
from refexec import Executor, Trace, TraceEvent, VirtualClock
from refexec.models.trace_check import TraceCheckResult, check_trace
from trace_support import invalid_at, where

GUARD = 10.0  # seconds; only ever reached if the code under test hangs

Job = Callable[[socket.socket, socket.socket], Coroutine[Any, Any, None]]


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)
    yield a, b
    a.close()
    b.close()


def record(pair: tuple[socket.socket, socket.socket], *jobs: Job) -> list[TraceEvent]:
    tr = Trace()
    ex = Executor(trace=tr, clock=VirtualClock(autojump=True))
    for job in jobs:
        ex.spawn(job(*pair))
    ex.run(stall_timeout=GUARD)
    ex.close()
    return list(tr)


async def reads(a: socket.socket, b: socket.socket) -> None:
    await refexec.wait_readable(a)
    assert a.recv(10) == b"x"


async def writes(a: socket.socket, b: socket.socket) -> None:
    await refexec.yield_now()
    b.send(b"x")


async def times_out(a: socket.socket, b: socket.socket) -> None:
    with contextlib.suppress(TimeoutError):
        await refexec.with_timeout(refexec.wait_readable(a), 1)


def valid(events: list[TraceEvent]) -> TraceCheckResult:
    r = check_trace(events)
    assert r, r.report()
    assert r.violated() == [], r.report()
    return r


# ---------------------------------------------------------------------------------------------
# Real runs
# ---------------------------------------------------------------------------------------------


def test_a_read_made_ready_by_another_task_is_valid(
        pair: tuple[socket.socket, socket.socket]) -> None:
    events = record(pair, reads, writes)
    kinds = [e.event for e in events]
    assert "io_register" in kinds and "io_ready" in kinds
    valid(events)


def test_a_timeout_around_a_wait_is_valid(pair: tuple[socket.socket, socket.socket]) -> None:
    """The timeout fires; the wait is dropped during the task's poll (io_cancel)."""
    events = record(pair, times_out)
    assert "io_cancel" in [e.event for e in events]
    valid(events)


def test_cancelling_a_waiting_task_is_valid(pair: tuple[socket.socket, socket.socket]) -> None:
    """Another task cancels the reader while it is registered: the model takes the registration
    out with the cancel; the executor records io_cancel as the future is freed."""
    a, b = pair
    tr = Trace()
    ex = Executor(trace=tr, clock=VirtualClock())

    async def canceller(h: refexec.JoinHandle[None]) -> None:
        await refexec.yield_now()
        h.cancel()

    ex.spawn(canceller(ex.spawn(reads(a, b))))
    ex.run(stall_timeout=GUARD)
    ex.close()
    events = list(tr)
    assert "io_cancel" in [e.event for e in events]
    valid(events)


def test_cancelling_a_registered_task_between_drive_calls_is_valid(
        pair: tuple[socket.socket, socket.socket]) -> None:
    """Cancelled while no loop runs: the registration's waker is dropped with the cancel (the
    cancelling thread acts as the loop), right after its io_cancel, not at the next drain."""
    a, b = pair
    tr = Trace()
    ex = Executor(trace=tr, clock=VirtualClock())
    h = ex.spawn(reads(a, b))
    ex.run_until_stalled()
    assert ex._driver._regs
    assert h.cancel()
    assert not ex._driver._regs and not ex._inbox
    ex.run(stall_timeout=GUARD)
    valid(list(tr))


def test_closing_a_stream_under_a_waiting_reader_is_valid() -> None:
    """Stream.close() ends the reader's wait as a readiness report (io_ready, then the wake)."""
    tr = Trace()
    ex = Executor(trace=tr)

    async def handle(stream: refexec.Stream) -> None:
        stream.close()

    async def main() -> None:
        server = await refexec.start_server(handle, "127.0.0.1", 0)
        async with await refexec.open_connection("127.0.0.1", server.port) as client:
            assert await client.recv() == b""
        server.close()

    ex.block_on(main(), stall_timeout=GUARD)
    ex.run(stall_timeout=GUARD)
    ex.close()
    events = list(tr)
    assert "io_ready" in [e.event for e in events]
    valid(events)


# ---------------------------------------------------------------------------------------------
# Wrong traces: edits of real ones
# ---------------------------------------------------------------------------------------------


def test_a_ready_report_with_no_registration_is_invalid(
        pair: tuple[socket.socket, socket.socket]) -> None:
    events = record(pair, reads, writes)
    i = where(events, "io_register")
    assert events[i - 1].event == "waker_clone"
    del events[i - 1:i + 1]  # no clone, no registration: the task waits on nothing
    invalid_at(events, where(events, "io_ready"), "has no I/O registration")


def test_a_run_that_ends_while_a_task_is_registered_is_invalid(
        pair: tuple[socket.socket, socket.socket]) -> None:
    events = record(pair, reads, writes)
    cut = where(events, "pending") + 1  # the reader registered and returned Pending
    end = events[where(events, "run_end")]  # (close() follows it: close_start, close_end)
    events = [*events[:cut], end]
    invalid_at(events, cut, "EX-IO-RUN-END")


def test_a_second_registration_of_one_task_is_invalid(
        pair: tuple[socket.socket, socket.socket]) -> None:
    events = record(pair, reads, writes)
    i = where(events, "io_register")
    events[i + 1:i + 1] = [events[i - 1], events[i]]  # waker_clone + io_register again
    invalid_at(events, i + 2, "registered (once)")


def test_a_ready_report_whose_wake_is_missing_is_invalid(
        pair: tuple[socket.socket, socket.socket]) -> None:
    events = record(pair, reads, writes)
    i = where(events, "io_ready")
    assert events[i + 1].event == "wake"
    del events[i + 1]
    invalid_at(events, i + 1, "a 'wake' of t0 comes right after")


def test_a_registration_dropped_outside_its_living_task_s_poll_is_invalid(
        pair: tuple[socket.socket, socket.socket]) -> None:
    """An io_cancel between polls while the task is IDLE: the model drops a registration only
    in its task's poll, or with its future once the task has ended."""
    events = record(pair, reads, writes)
    i = where(events, "pending")  # the reader's first poll ends: IDLE, registered
    drop = [TraceEvent("io_cancel", 1, 0, "fd=3"), TraceEvent("waker_drop", 1, 1)]
    events[i + 1:i + 1] = drop
    invalid_at(events, i + 1, "during its task's poll")
