"""I/O readiness and a small TCP stream API on the executor's reactor (``refexec.driver``).

``await wait_readable(sock)`` / ``await wait_writable(sock)`` suspend the task until the
selector reports the socket ready. While waiting, the registration holds a clone of the task's
waker (a sender: ``run()`` waits for it, the task is not lost); dropping the future (the task is
cancelled, a ``timeout`` expires) unregisters it and drops the waker.

On top: :func:`open_connection`, :func:`start_server` and :class:`Stream` (``recv``, ``send``,
``sendall``, ``close``), enough for a TCP echo server and client. Every socket is non-blocking;
a task that would block awaits readiness instead.

Errors a user can cause, each a clear exception with the registration cleaned up: two tasks
waiting on the same fd in the same direction (``RuntimeError``), a closed socket
(``ValueError``), something that is not a socket (``TypeError``).
"""

from __future__ import annotations

import errno
import selectors
import socket
import threading
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from refexec.driver import IoWait, _register, drop_from_any_thread, notify_closing
from refexec.future import FutureBase, _runner, spawn
from refexec.poll import Pending, Poll, Ready
from refexec.timers import _current, _driver
from refexec.waker import Context

if TYPE_CHECKING:
    from refexec.executor import Executor, JoinHandle

__all__ = ["Server", "Stream", "open_connection", "start_server", "wait_readable",
           "wait_writable"]


def _fd_of(fileobj: object, what: str) -> int:
    if not isinstance(fileobj, socket.socket):
        raise TypeError(
            f"refexec.{what} needs a socket.socket, got {type(fileobj).__name__} ({fileobj!r}); "
            "refexec's reactor waits on sockets only"
        )
    fd = fileobj.fileno()
    if fd < 0:
        raise ValueError(f"refexec.{what}: the socket is closed")
    return fd


class _Readiness(FutureBase[None]):
    """Ready once the reactor has seen the fd ready for ``event``."""

    __slots__ = ("_event", "_ex", "_fd", "_reg", "_what")

    def __init__(self, fd: int, event: int, what: str) -> None:
        self._fd = fd
        self._event = event
        self._what = what
        self._reg: IoWait | None = None
        self._ex: Executor | None = None

    def poll(self, cx: Context) -> Poll[None]:
        reg = self._reg
        if reg is not None:
            if reg.ready:
                self._reg = None
                if reg.closed:
                    raise ValueError(
                        f"refexec.{self._what}: the socket was closed (Stream.close()) while "
                        "this task waited on it; stop using a stream once it is closed"
                    )
                return Ready(None)
            return Pending  # woken by someone else: still registered
        task = _current(self._what)
        self._ex = task._executor
        self._reg = _register(_driver(task), self._fd, self._event, cx.waker.clone(), task._id,
                              task._n)
        return Pending

    def __del__(self) -> None:
        """Dropped while registered (task cancelled, timeout): unregister, drop the waker; on
        the loop's thread, whichever thread drops it."""
        reg, ex = self._reg, self._ex
        if reg is not None and ex is not None and not reg.ready:
            self._reg = None
            drop_from_any_thread(ex, reg)


def wait_readable(sock: socket.socket) -> Awaitable[None]:
    """``await wait_readable(sock)``: until ``sock`` has data (or a connection to accept)."""
    return _Readiness(_fd_of(sock, "wait_readable()"), selectors.EVENT_READ, "wait_readable()")


def wait_writable(sock: socket.socket) -> Awaitable[None]:
    """``await wait_writable(sock)``: until ``sock`` can take more data (or has connected)."""
    return _Readiness(_fd_of(sock, "wait_writable()"), selectors.EVENT_WRITE, "wait_writable()")


class Stream:
    """A connected TCP socket, read and written by awaiting readiness. Use one task per
    direction at most (two readers would be the "same fd, same direction" error)."""

    __slots__ = ("sock",)

    def __init__(self, sock: socket.socket) -> None:
        _fd_of(sock, "Stream()")
        sock.setblocking(False)
        self.sock = sock

    async def recv(self, max_bytes: int = 65536) -> bytes:
        """Up to ``max_bytes`` bytes; ``b""`` at end of stream."""
        while True:
            try:
                return self.sock.recv(max_bytes)
            except (BlockingIOError, InterruptedError):
                await wait_readable(self.sock)

    async def send(self, data: bytes) -> int:
        """Send some of ``data``; returns how many bytes went."""
        while True:
            try:
                return self.sock.send(data)
            except (BlockingIOError, InterruptedError):
                await wait_writable(self.sock)

    async def sendall(self, data: bytes) -> None:
        """Send all of ``data``."""
        view = memoryview(data)
        while view:
            n = await self.send(view)  # type: ignore[arg-type]
            view = view[n:]

    def close(self) -> None:
        """Close the socket (idempotent). A task of this executor waiting on it is woken and
        its wait raises ``ValueError``: a closed socket is never reported ready again."""
        fd = self.sock.fileno()
        if fd >= 0:
            task = _runner().current
            ex = getattr(task, "_executor", None)
            drv = getattr(ex, "_driver", None)
            if drv is not None and ex._loop_ident == threading.get_ident():  # type: ignore[union-attr]
                notify_closing(drv, fd)
        self.sock.close()

    async def __aenter__(self) -> Stream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<refexec Stream fd={self.sock.fileno()}>"


async def open_connection(host: str, port: int) -> Stream:
    """Connect to ``(host, port)`` over TCP without blocking the loop; the connected Stream.
    Raises ``OSError`` (e.g. ``ConnectionRefusedError``) if the connection fails."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    family, kind, proto, _, addr = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setblocking(False)
        err = sock.connect_ex(addr)
        if err not in (0, errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EAGAIN):
            raise OSError(err, f"connect to {host}:{port}: {errno.errorcode.get(err, err)}")
        if err:
            await wait_writable(sock)
            err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                raise OSError(err, f"connect to {host}:{port}: {errno.errorcode.get(err, err)}")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return Stream(sock)
    except BaseException:
        sock.close()
        raise


class Server:
    """A listening TCP socket and the task that accepts on it; ``close()`` stops both (the
    connection tasks it spawned run on)."""

    __slots__ = ("_accepter", "sock")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._accepter: JoinHandle[None] | None = None

    @property
    def port(self) -> int:
        """The port it listens on (useful with ``port=0``)."""
        return int(self.sock.getsockname()[1])

    def close(self) -> None:
        """Stop accepting: cancel the accept task and close the listening socket."""
        if self._accepter is not None:
            self._accepter.cancel()
        self.sock.close()


async def start_server(
    handler: Callable[[Stream], Awaitable[Any]], host: str = "127.0.0.1", port: int = 0,
    *, backlog: int = 128,
) -> Server:
    """Listen on ``(host, port)`` and spawn ``handler(stream)`` as a task per connection. The
    server's accept task keeps ``run()`` open until ``server.close()``."""
    sock = socket.create_server((host, port), backlog=backlog)
    sock.setblocking(False)
    server = Server(sock)

    async def accept_loop() -> None:
        while True:
            try:
                conn, _ = sock.accept()
            except (BlockingIOError, InterruptedError):
                await wait_readable(sock)
                continue
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            spawn(handler(Stream(conn)))

    server._accepter = spawn(accept_loop())
    return server
