"""I/O readiness: the selectors reactor in the driver, the TCP streams, and their errors (issue
14 §2). Real sockets on 127.0.0.1 only, few of them; every run has a stall_timeout as a guard
against a hang, never as a timing assertion."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
import refexec
from core_support import DRIVE_CALLS, drive_once
from refexec import Context, Executor, FutureBase, Pending, Poll, Ready, TaskState, Waker

GUARD = 10.0  # seconds; only ever reached if the code under test hangs


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)
    yield a, b
    a.close()
    b.close()


def test_echo_server_and_client_round_trip() -> None:
    ex = Executor()

    async def handle(stream: refexec.Stream) -> None:
        async with stream:
            while data := await stream.recv():
                await stream.sendall(data)

    async def main() -> list[bytes]:
        server = await refexec.start_server(handle, "127.0.0.1", 0)
        got = []
        async with await refexec.open_connection("127.0.0.1", server.port) as client:
            for msg in (b"ping", b"x" * 300_000):  # the second needs many sends and recvs
                await client.sendall(msg)
                buf = b""
                while len(buf) < len(msg):
                    buf += await client.recv()
                got.append(buf)
        server.close()
        return got

    assert ex.block_on(main(), stall_timeout=GUARD) == [b"ping", b"x" * 300_000]
    ex.run(stall_timeout=GUARD)  # the handler sees EOF and ends: no sender remains
    assert ex._driver._regs == {}


def test_connection_refused_is_an_os_error() -> None:
    probe = socket.create_server(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now
    ex = Executor()
    with pytest.raises(OSError):
        ex.block_on(refexec.open_connection("127.0.0.1", port), stall_timeout=GUARD)
    assert ex._driver._regs == {}


def test_registration_holds_the_waker_until_ready(
        pair: tuple[socket.socket, socket.socket]) -> None:
    a, b = pair
    ex = Executor()

    async def reader() -> bytes:
        await refexec.wait_readable(a)
        return a.recv(10)

    h = ex.spawn(reader())
    report = ex.run_until_stalled()
    assert report.tasks_lost == 0 and h.state is TaskState.IDLE and h._wakers == 1
    assert len(ex._driver._regs) == 1
    b.send(b"hi")
    ex.run(stall_timeout=GUARD)
    assert h.result() == b"hi" and ex._driver._regs == {} and h._wakers == 0


def test_run_until_stalled_serves_a_ready_fd(pair: tuple[socket.socket, socket.socket]) -> None:
    """A task whose fd is ready is a ready task: run_until_stalled() takes in ready I/O
    (select(0)) before it returns for want of work."""
    a, b = pair
    ex = Executor()

    async def reader() -> bytes:
        await refexec.wait_readable(a)
        return a.recv(10)

    h = ex.spawn(reader())
    ex.run_until_stalled()
    b.send(b"hi")  # a socketpair: readable at once
    ex.run_until_stalled()
    assert h.result() == b"hi" and ex._driver._regs == {}
    ex.close()


def test_a_drive_call_reports_a_ready_fd_before_polling_what_is_queued(
        pair: tuple[socket.socket, socket.socket]) -> None:
    """The model's order (EX-IO-PROMPT): an fd ready when a drive call starts is reported
    (its task woken) before the tasks already queued are polled, whichever drive call it is."""
    a, b = pair
    for drive in DRIVE_CALLS:
        trace = refexec.Trace()
        ex = Executor(trace=trace)

        async def reader() -> bytes:
            await refexec.wait_readable(a)
            return a.recv(10)

        r = ex.spawn(reader())
        ex.run_until_stalled()  # task 1 registered its fd
        b.send(b"x")
        h = ex.spawn(refexec.yield_now())  # task 2, queued while the fd is ready
        trace.clear()
        drive_once(ex, drive, h)
        kinds = [(e.event, e.task) for e in trace]
        assert kinds.index(("io_ready", 1)) < kinds.index(("poll", 2)), (drive, kinds)
        ex.run_until_stalled()
        assert r.result() == b"x"
        ex.close()


def test_two_waiters_on_one_fd_and_direction_is_an_error(
        pair: tuple[socket.socket, socket.socket]) -> None:
    a, b = pair
    ex = Executor()

    async def wait() -> None:
        await refexec.wait_readable(a)

    first = ex.spawn(wait())
    second = ex.spawn(wait())
    ex.run_until_stalled()
    assert isinstance(second.exception(), RuntimeError)
    assert "already awaited readable by task 1" in str(second.exception())
    assert len(ex._driver._regs) == 1 and second._wakers == 0  # cleaned up
    b.send(b"!")
    ex.run(stall_timeout=GUARD)
    assert first.done() and first.exception() is None


def test_closed_socket_and_non_socket_are_clear_errors() -> None:
    s = socket.socket()
    s.close()
    with pytest.raises(ValueError, match="closed"):
        refexec.wait_readable(s)
    with pytest.raises(TypeError, match="socket"):
        refexec.wait_writable(3)  # type: ignore[arg-type]


def test_cancelling_a_waiting_task_unregisters(pair: tuple[socket.socket, socket.socket]) -> None:
    a, _ = pair
    ex = Executor()
    h = ex.spawn(refexec.wait_readable(a))
    ex.run_until_stalled()
    assert len(ex._driver._regs) == 1
    h.cancel()
    assert ex._driver._regs == {} and h.cancelled()
    ex.run(stall_timeout=GUARD)  # nothing holds the loop open any more


def test_timeout_around_a_recv_unregisters(pair: tuple[socket.socket, socket.socket]) -> None:
    a, _ = pair
    ex = Executor(clock=refexec.VirtualClock(autojump=True))

    async def main() -> bool:
        try:
            await refexec.with_timeout(refexec.Stream(a).recv(), 5)
        except TimeoutError:
            return True
        return False

    assert ex.block_on(main(), stall_timeout=GUARD) is True
    assert ex._driver._regs == {} and ex.clock.now_ns() == 5_000_000_000


class _ThreadWoken(FutureBase[None]):
    """Pending until a thread wakes the waker it is handed through ``handoff``."""

    def __init__(self, handoff: list[Waker], polled: threading.Event) -> None:
        self.handoff = handoff
        self.polled = polled
        self.woken = False

    def poll(self, cx: Context) -> Poll[None]:
        if self.woken:
            return Ready(None)
        self.woken = True  # the next poll is the one after the thread's wake
        self.handoff.append(cx.waker.clone())
        self.polled.set()
        return Pending


def test_wake_from_another_thread_interrupts_the_select_park(
        pair: tuple[socket.socket, socket.socket]) -> None:
    a, b = pair
    ex = Executor()
    handoff: list[Waker] = []
    polled = threading.Event()

    async def reader() -> bytes:
        await refexec.wait_readable(a)
        return a.recv(10)

    async def woken_by_thread() -> None:
        await _ThreadWoken(handoff, polled)
        b.send(b"go")  # only this task, woken from the thread, can make the reader ready

    def thread() -> None:
        assert polled.wait(GUARD)
        handoff.pop().wake()  # posted through the door: the byte on the wakeup socketpair

    r = ex.spawn(reader())
    ex.spawn(woken_by_thread())
    th = threading.Thread(target=thread)
    th.start()
    try:
        ex.run(stall_timeout=GUARD)
    finally:
        th.join()
    assert r.result() == b"go"


def test_bundled_echo_example_parks_on_readiness() -> None:
    from refexec.examples.cli_run import run_example  # noqa: PLC0415

    out = run_example("echo")
    assert out.error is None and out.result == ["hello", "refexec", "bye"]
    kinds = out.trace.kinds()
    assert kinds.count("io_ready") >= 3  # at least one readiness per echoed line
    assert kinds.count("io_register") >= kinds.count("io_ready")


def test_stall_timeout_reports_a_task_waiting_on_a_silent_socket(
        pair: tuple[socket.socket, socket.socket]) -> None:
    a, _ = pair
    ex = Executor()
    h = ex.spawn(refexec.wait_readable(a))
    with pytest.raises(refexec.Stalled) as info:
        ex.run(stall_timeout=0.05)  # nothing will ever be written: run() must not return
    assert "1 live waker" in str(info.value) and h.state is TaskState.IDLE
    h.cancel()
    assert ex._driver._regs == {}


def test_closing_a_stream_wakes_its_waiting_reader_with_a_clear_error(
        pair: tuple[socket.socket, socket.socket]) -> None:
    """A selector forgets a closed fd: the old code left the reader waiting for ever (holding
    its waker, so run() could only stall). Closing the stream now wakes it with an error."""
    a, _ = pair
    ex = Executor()
    stream = refexec.Stream(a)
    got: list[BaseException] = []

    async def reader() -> None:
        try:
            await stream.recv()
        except ValueError as e:
            got.append(e)

    async def closer() -> None:
        await refexec.yield_now()  # the reader is waiting by now
        stream.close()

    r = ex.spawn(reader())
    ex.spawn(closer())
    ex.run(stall_timeout=GUARD)
    assert r.state is TaskState.COMPLETE and len(got) == 1
    assert "closed" in str(got[0]) and "while this task waited" in str(got[0])
    assert ex._driver._regs == {}


def test_readiness_dropped_on_another_thread_unregisters_on_the_loop(
        pair: tuple[socket.socket, socket.socket]) -> None:
    """As for timers: the reactor's registrations are the loop's; a wait future dropped on
    another thread while no loop runs is unregistered at once, under the door's lock."""
    a, _ = pair
    ex = Executor()
    holder = [refexec.wait_readable(a)]

    class _Via(FutureBase[None]):
        def poll(self, cx: Context) -> Poll[None]:
            return holder[0].poll(cx) if holder else Pending

    h = ex.spawn(_Via())
    ex.run_until_stalled()
    assert len(ex._driver._regs) == 1 and h._wakers == 1
    th = threading.Thread(target=holder.clear)
    th.start()
    th.join()
    assert ex._driver._regs == {} and not ex._driver._foreign
    assert ex.run().lost == (h,)
