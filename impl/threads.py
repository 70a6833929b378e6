"""``to_thread(fn, *args)``: run blocking work on a thread pool, await its result in a task.

The result comes back through the executor's one door for other threads and nothing else: the
future keeps a *clone* of the task's waker, and the worker thread, after storing the outcome,
calls ``wake()`` on it. From a foreign thread a wake only posts a message to the executor's
inbox (and rouses a sleeping loop); the loop applies it, and the task's next poll reads the
outcome. So no worker thread ever touches a task state, the ready queue or a counter, and the
race "the loop decides to sleep / the worker finishes" is the one the executor already closes.

While the work runs, the cloned waker is live, so ``run()`` keeps waiting for it (it is a
sender): a task blocked in ``to_thread`` is never reported lost, and ``run()`` never returns
under it. The store of the outcome happens before ``wake()`` takes the executor's lock, and the
loop takes that lock before it polls the task again, so the poll sees the outcome.

Cancelling the awaiting task cannot stop the thread (Python threads cannot be interrupted); the
work finishes, its outcome is dropped, and the late wake of a finished task is ignored.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Generic, TypeVar

from refexec.future import FutureBase
from refexec.poll import Pending, Poll, Ready
from refexec.waker import Context, Waker

__all__ = ["to_thread"]

T = TypeVar("T")

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _get_pool() -> ThreadPoolExecutor:
    """The shared pool, made on first use (``import refexec`` starts no thread)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(thread_name_prefix="refexec-to_thread")
        return _pool


class _ThreadCall(FutureBase[T], Generic[T]):
    """The future of one ``to_thread`` call: submits at its first poll, Ready once the worker
    has stored the outcome (and woken the task through its cloned waker)."""

    __slots__ = ("_args", "_ctx", "_done", "_error", "_fn", "_kwargs", "_started", "_value")

    def __init__(self, fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]):
        self._fn = fn
        self._args = args
        self._kwargs = kwargs
        self._started = False
        self._done = False
        self._value: Any = None
        self._error: BaseException | None = None
        self._ctx: contextvars.Context | None = None

    def poll(self, cx: Context) -> Poll[T]:
        if self._done:
            if self._error is not None:
                err, self._error = self._error, None  # no reference cycle through the traceback
                raise err
            return Ready(self._value)
        if not self._started:
            self._started = True
            # The worker runs in a copy of the task's context, as asyncio.to_thread does.
            self._ctx = contextvars.copy_context()
            _get_pool().submit(self._work, cx.waker.clone())
        return Pending

    def _work(self, waker: Waker) -> None:
        """On the worker thread: run the call, store the outcome, then wake (the only way the
        outcome reaches the loop)."""
        assert self._ctx is not None
        try:
            self._value = self._ctx.run(self._fn, *self._args, **self._kwargs)
        except BaseException as e:  # handed to the task, raised by its next poll
            self._error = e
        self._done = True
        self._fn = self._args = self._kwargs = None  # type: ignore[assignment]
        waker.wake()

    def __repr__(self) -> str:
        return f"<to_thread {getattr(self._fn, '__qualname__', self._fn)!r}>"


async def to_thread(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """Run ``fn(*args, **kwargs)`` on a thread pool and return its result (or raise its
    exception) in the awaiting task, without blocking the executor's other tasks.

    ``fn`` runs in a copy of the task's ``contextvars`` context. Must be awaited inside a refexec
    task. ``TypeError`` at the call if ``fn`` is not callable.
    """
    if not callable(fn):
        raise TypeError(f"to_thread() needs a callable, got {fn!r} of type {type(fn).__name__}")
    return await _ThreadCall(fn, args, kwargs)
