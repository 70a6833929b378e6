"""Futures: the ``poll`` protocol, and how ``async def`` code awaits poll-based futures.

A refexec task is driven by ``coroutine.send(None)``: one send is one poll. A coroutine suspends
only at a refexec future, and what it yields to the executor says why:

* :class:`FutureBase` (any future written with ``poll(cx)``): its ``__await__`` polls it with
  the context of the task being polled on this thread; on ``Pending`` it yields a private
  *pending* sentinel (the future has arranged its own wake), exactly like a Rust ``async fn``
  at an ``.await`` that returns ``Pending``; on ``Ready(v)`` the ``await`` evaluates to ``v``.
* :func:`yield_now` yields a private *yield* sentinel, which the executor treats as
  ``cx.waker.wake_by_ref()`` followed by ``Pending`` without building a waker (the fast path).
* Anything else (an asyncio future, a bare ``yield`` from a ``types.coroutine``) is not
  something refexec can drive: the executor throws a ``TypeError`` naming the object into the
  coroutine, so the task fails with it unless the coroutine handles it.

"The task being polled on this thread" lives in a per-thread runner object that an executor
binds once per ``run()`` and updates with a single attribute store per poll.
"""

from __future__ import annotations

import contextvars
import inspect
import threading
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Coroutine, Generator
from types import CoroutineType
from typing import TYPE_CHECKING, Any, Final, Protocol, TypeVar, runtime_checkable

from refexec.poll import Pending, Poll, Ready
from refexec.waker import Context

if TYPE_CHECKING:
    from refexec.executor import JoinHandle

__all__ = ["Future", "FutureBase", "spawn", "yield_now"]

T = TypeVar("T")


@runtime_checkable
class Future(Protocol[T]):
    """Rust's ``Future`` trait: ``poll(cx)`` returns ``Ready(value)`` or ``Pending``.

    On ``Pending`` the future must have arranged for (a clone of) ``cx.waker`` to be woken once
    it can make progress; an executor polls it again only after a wake.
    """

    def poll(self, cx: Context) -> Poll[T]: ...


class _Sentinel:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"<refexec {self.name}>"


PENDING: Final = _Sentinel("pending")
"""Yielded by a coroutine suspended at a refexec future that returned Pending."""
YIELD: Final = _Sentinel("yield_now")
"""Yielded by ``yield_now()``: wake by ref, then Pending (one more poll, at the back)."""


class _Polled(Protocol):
    """What an executor's task offers the awaiting machinery while it is being polled."""

    def _context(self) -> Context: ...

    def _spawn(self, aw: Any, **kw: Any) -> JoinHandle[Any]: ...


class _Runner:
    """Per-thread: the task this thread is polling right now (``None`` between runs)."""

    __slots__ = ("current", "cx")

    def __init__(self) -> None:
        self.current: _Polled | None = None
        self.cx: Any = None  # the executor's cache of the current poll's Context


_local = threading.local()


def _runner() -> _Runner:
    """This thread's runner (created on first use)."""
    try:
        r: _Runner = _local.runner
    except AttributeError:
        r = _local.runner = _Runner()
    return r


class FutureBase(ABC, Awaitable[T]):
    """Base class of poll-based futures: implement ``poll(cx)``, get ``await`` for free.

    ``await fut`` inside a refexec task polls ``fut`` with that task's context; on ``Pending``
    the task is suspended until woken, then ``fut`` is polled again.
    """

    __slots__ = ()

    @abstractmethod
    def poll(self, cx: Context) -> Poll[T]:
        """Return ``Ready(value)``, or ``Pending`` after arranging for ``cx.waker`` to be woken."""

    def __await__(self) -> Generator[Any, None, T]:
        task = _runner().current
        if task is None:
            raise RuntimeError(
                f"{self!r} was awaited outside a refexec task: run the coroutine on a refexec "
                "executor (Executor.spawn/run, refexec.block_on), or poll it by hand with "
                "poll(Context(waker))."
            )
        # The first poll happens here: ``await`` calls __await__ and sends into the result at
        # once, in the same poll of the same task, so this is the poll a generator would make.
        p = self.poll(task._context())
        if p is Pending:
            w = _Waiting()
            w._fut = self
            w._task = None  # the first __next__ yields this poll's Pending
            return w  # type: ignore[return-value]  # an iterator, awaited as a generator is
        if type(p) is Ready:
            v = p.value
            return _DONE_NONE if v is None else _ready(v)  # type: ignore[return-value]
        raise _bad_poll(self, p)


def _bad_poll(fut: object, p: object) -> TypeError:
    return TypeError(
        f"{type(fut).__qualname__}.poll() returned {p!r}; it must return Ready(value) or Pending"
    )


class _DoneNone:
    """The iterator of ``await fut`` whose first poll returned ``Ready(None)``: nothing to do."""

    __slots__ = ()

    def __iter__(self) -> _DoneNone:
        return self

    def __next__(self) -> Any:
        raise StopIteration


_DONE_NONE: Final = _DoneNone()


def _ready(value: T) -> Generator[Any, None, T]:
    """The iterator of ``await fut`` whose first poll returned ``Ready(value)``."""
    return value
    yield  # a generator: ``await`` evaluates to ``value`` without suspending


class _Waiting:
    """The iterator of ``await fut`` after its first poll returned Pending: 48 bytes per waiting
    task instead of a suspended generator's 250 (plus the bound ``poll`` it would keep).

    Each ``__next__`` is one poll of the awaiting task: the first yields the Pending of the
    poll ``__await__`` made; each later one polls ``fut`` again with the task's context and
    yields ``PENDING`` again, or ends the ``await`` with the value of ``Ready(value)``.
    """

    __slots__ = ("_fut", "_task")
    _fut: FutureBase[Any]
    _task: _Polled | None  # None until the first __next__ (the poll __await__ made)

    def __iter__(self) -> _Waiting:
        return self

    def __next__(self) -> Any:
        task = self._task
        if task is None:
            self._task = _runner().current
            return PENDING
        fut = self._fut
        p = fut.poll(task._context())
        if p is Pending:
            return PENDING
        if type(p) is Ready:
            raise StopIteration(p.value)
        raise _bad_poll(fut, p)


class _PollAdapter(FutureBase[T]):
    """Makes an object that only has ``poll(cx)`` (the Future protocol) awaitable."""

    __slots__ = ("_fut",)

    def __init__(self, fut: Future[T]) -> None:
        self._fut = fut

    def poll(self, cx: Context) -> Poll[T]:
        return self._fut.poll(cx)

    def __repr__(self) -> str:
        return repr(self._fut)


class _YieldNow:
    __slots__ = ()

    # A builtin bound method, not a function: it is no descriptor, so ``await`` calls it with
    # no argument and no Python frame is made (8 % of the instructions of a yield on Executor;
    # benchmarks/RESULTS.md).
    __await__: Final = (YIELD,).__iter__

    def __repr__(self) -> str:
        return "yield_now()"


_YIELD_NOW: Final = _YieldNow()


def yield_now() -> Awaitable[None]:
    """``await yield_now()``: let every other ready task run once, then continue.

    Equivalent to a future that calls ``cx.waker.wake_by_ref()`` and returns ``Pending`` once
    (so the task is re-queued at the back), but builds no waker: the executor recognises it.
    """
    return _YIELD_NOW  # type: ignore[return-value]


async def _await_it(aw: Awaitable[T]) -> T:
    return await aw


def as_coroutine(obj: object) -> Coroutine[Any, Any, Any]:
    """The coroutine a task drives for ``obj``; ``TypeError`` naming ``obj`` if not awaitable."""
    if type(obj) is CoroutineType:
        return obj
    if inspect.isawaitable(obj):
        return _await_it(obj)
    if callable(getattr(type(obj), "poll", None)):
        return _await_it(_PollAdapter(obj))  # type: ignore[arg-type]
    hint = ""
    if inspect.iscoroutinefunction(obj):
        hint = f"; it is an async function: call it, spawn({getattr(obj, '__name__', 'f')}(...))"
    raise TypeError(
        f"spawn() needs an awaitable (a coroutine object, a refexec future, a JoinHandle), "
        f"got {obj!r} of type {type(obj).__name__}{hint}"
    )


def bad_yield_error(task: str, value: object) -> TypeError:
    """The ``TypeError`` thrown into a coroutine that yielded something refexec can't drive."""
    if value is None:
        what = (
            "a bare `yield` (None), as asyncio.sleep(0) or a types.coroutine generator does; "
            "use `await refexec.yield_now()` to let other tasks run"
        )
    else:
        mod = type(value).__module__
        what = f"{value!r} (of type {mod}.{type(value).__qualname__})"
        if mod.startswith("asyncio"):
            what += ", an asyncio object, which only an asyncio event loop can drive"
    return TypeError(
        f"{task} awaited {what}. refexec tasks can await only refexec futures "
        "(FutureBase subclasses, JoinHandles, yield_now(), refexec channels) and coroutines "
        "built from them; run asyncio code under asyncio."
    )


def refuse_foreign(coro: Coroutine[Any, Any, Any], task: str, value: object) -> object:
    """``coro`` yielded ``value``, which refexec cannot drive: throw a TypeError into it, once.

    Returns what the coroutine yields next if it is refexec's (it handled the error and awaited
    a refexec future). A coroutine that catches the TypeError and yields a foreign object again
    in the same poll would make the poll loop for ever (no other task could run), so that
    second refusal closes the coroutine and raises a TypeError that fails the task.
    """
    y = coro.throw(bad_yield_error(task, value))
    if y is YIELD or y is PENDING:
        return y
    err = TypeError(
        f"{task} caught refexec's TypeError for a foreign awaitable and then yielded {y!r} "
        "again in the same poll; refexec failed the task instead of refusing it for ever. "
        "Do not retry an await that refexec refused: await refexec futures only."
    )
    try:
        coro.close()
    except Exception as close_err:  # e.g. it caught GeneratorExit too
        err.__context__ = close_err
    raise err


def spawn(aw: Awaitable[T], *, context: contextvars.Context | None = None) -> JoinHandle[T]:
    """Spawn ``aw`` on the executor of the task running now and return its ``JoinHandle``.

    The new task runs in a copy of the running task's ``contextvars`` context (or in
    ``context``), as ``Executor.spawn`` says. Raises ``RuntimeError`` outside a refexec task:
    use ``Executor.spawn`` or a ``Spawner``.
    """
    task = _runner().current
    if task is None:
        raise RuntimeError(
            "refexec.spawn() was called outside a running refexec task, so there is no "
            "executor to spawn on; use Executor.spawn(...) or Executor.spawner().spawn(...)"
        )
    if context is None:
        return task._spawn(aw)
    return task._spawn(aw, context=context)


_NO_LOOP: Final = ("no running event loop",)
"""The args of the RuntimeError asyncio raises when one of its calls finds no running loop."""

_ASYNCIO_EQUIVALENTS: Final = {
    "sleep": "`await refexec.sleep(seconds)` (`await refexec.yield_now()` for sleep(0))",
    "create_task": "`refexec.spawn(coro)`",
    "ensure_future": "`refexec.spawn(coro)`",
    "gather": "`await refexec.gather(...)`",
    "wait": "`await refexec.gather(...)` or a `refexec.TaskGroup`",
    "wait_for": "`await refexec.with_timeout(aw, seconds)` or `async with refexec.timeout(s):`",
    "to_thread": "`await refexec.to_thread(fn, *args)`",
    "run_in_executor": "`await refexec.to_thread(fn, *args)`",
    "TaskGroup": "`async with refexec.TaskGroup() as tg:`",
}


def is_no_loop_error(e: BaseException) -> bool:
    """``e`` is asyncio's "no running event loop" (cheap: tested only when a task fails)."""
    return type(e) is RuntimeError and e.args == _NO_LOOP


def foreign_loop_error(task: str, e: BaseException) -> RuntimeError:
    """The error a task fails with when asyncio code it called found no running event loop.

    Why rewrite it: ``asyncio.sleep(0.1)`` awaited in a refexec task raises asyncio's bare "no
    running event loop", which reads as a broken setup rather than as "this is asyncio's call,
    here is refexec's". The outermost asyncio frame of the traceback names the call the user
    made; the message names it and its refexec equivalent. The original is the ``__cause__``.
    """
    call = None
    tb = e.__traceback__
    while tb is not None:
        mod = tb.tb_frame.f_globals.get("__name__", "")
        if isinstance(mod, str) and (mod == "asyncio" or mod.startswith("asyncio.")):
            call = tb.tb_frame.f_code.co_name
            break
        tb = tb.tb_next
    what = f"asyncio.{call}()" if call is not None else "an asyncio call"
    instead = _ASYNCIO_EQUIVALENTS.get(call or "")
    hint = (f"The refexec equivalent: {instead}." if instead is not None else
            "Use refexec's own API (refexec.spawn, gather, TaskGroup, select, to_thread, Event, "
            "channel), or run asyncio code under asyncio.")
    err = RuntimeError(
        f"{task} called {what}, which needs a running asyncio event loop: refexec tasks are "
        f"not run by asyncio, so asyncio's functions cannot work inside them. {hint}"
    )
    err.__cause__ = e
    return err.with_traceback(e.__traceback__)
