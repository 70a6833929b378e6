"""A TCP echo server and client on 127.0.0.1: tasks park on socket readiness, not on each other.

The server task listens on a free port and spawns one handler task per connection; the client
connects, sends a few lines and reads each echo back. Every ``recv``/``send`` that would block
registers the socket with the executor's reactor (``io_register`` in the trace), the task returns
Pending, and the loop parks in ``select()`` until the kernel says the socket is ready
(``io_ready``), which wakes exactly that task.
"""

from __future__ import annotations

from refexec.examples._types import AnyExecutor
from refexec.net import Stream, open_connection, start_server

EXECUTORS = ("reference",)

LINES = (b"hello\n", b"refexec\n", b"bye\n")


def main(executor: AnyExecutor) -> list[str]:
    """Serve echo on a free localhost port, send ``LINES`` through it, return the echoes."""

    async def handle(stream: Stream) -> None:
        async with stream:
            while data := await stream.recv():
                await stream.sendall(data)

    async def client() -> list[str]:
        server = await start_server(handle, "127.0.0.1", 0)
        echoes = []
        async with await open_connection("127.0.0.1", server.port) as conn:
            for line in LINES:
                await conn.sendall(line)
                got = b""
                while not got.endswith(b"\n"):
                    got += await conn.recv()
                echoes.append(got.decode().strip())
        server.close()
        return echoes

    echoes = executor.block_on(client(), stall_timeout=30)  # type: ignore[call-arg]
    executor.run(stall_timeout=30)  # type: ignore[call-arg]  # the handler sees EOF and ends
    return echoes
