"""Time for tasks: ``sleep``, ``sleep_until``, ``now``, ``timeout`` and ``with_timeout``.

Each reads the clock of the executor running the current task (``Executor(clock=...)``) and
arms timers in its driver (:mod:`refexec.driver`). A sleeping task holds no thread: its timer
holds a clone of its waker, so it is IDLE with a live waker, and ``run()`` waits for it.

Timers end with what owns them: a ``sleep`` whose future is dropped (its task cancelled, or the
coroutine closed) cancels its timer and drops the waker; a ``timeout`` block cancels its timer on
the way out however it leaves.

``timeout(seconds)`` raises the built-in ``TimeoutError`` out of the block. When its deadline
comes, the task is woken and its next poll throws a private ``BaseException`` at the ``await``
the block is suspended in (so ``except Exception`` inside cannot swallow it, and ``finally``
blocks of what was awaited run); the block's exit turns it into ``TimeoutError``. The throw is
still one poll made by the one place that polls (``Executor._run_ready``): the task's coroutine
is wrapped for exactly that poll.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Coroutine, Generator
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, TypeVar, cast

from refexec.clock import NS_PER_S, to_ns
from refexec.driver import Timer, drop_from_any_thread, hold
from refexec.executor import JoinHandle
from refexec.future import PENDING, FutureBase, _local, _runner, yield_now
from refexec.poll import Pending, Poll, Ready
from refexec.waker import Context

if TYPE_CHECKING:
    from refexec.driver import Driver
    from refexec.executor import Executor

__all__ = ["now", "now_ns", "sleep", "sleep_until", "timeout", "with_timeout"]

T = TypeVar("T")
_INF: Final = math.inf


def _current(what: str) -> JoinHandle[Any]:
    """The task being polled on this thread, if it belongs to an executor with a clock."""
    task = _runner().current
    if type(task) is JoinHandle:  # the hot path: an Executor task (every Executor has a driver)
        return task
    ex = getattr(task, "_executor", None)
    if task is None or getattr(ex, "_driver", None) is None:
        where = "outside a refexec task" if task is None else (
            "in a task of an executor without a clock")
        raise RuntimeError(
            f"refexec.{what} was called {where}: time belongs to the executor that runs the "
            "task; run it on refexec.Executor (optionally Executor(clock=VirtualClock()))"
        )
    return task  # type: ignore[return-value]


def _driver(task: JoinHandle[Any]) -> Driver:
    return task._executor._driver


def now_ns() -> int:
    """The current task's executor clock, in integer nanoseconds."""
    return _driver(_current("now_ns()")).clock.now_ns()


def now() -> float:
    """The current task's executor clock, in seconds."""
    return now_ns() / NS_PER_S


class _Sleep(FutureBase[None]):
    """Ready once the clock reaches the deadline; while pending, its timer holds the waker.

    ``await``-ed directly by a refexec task (the usual case), it is its own iterator and
    speaks the executor's protocol itself (one ``PENDING`` per poll, ``StopIteration`` when
    due), holding the task's own waker: no Context, no borrowed Waker, no poll() dispatch per
    poll. Polled as a future (by a combinator, by hand), ``poll`` does the same with
    ``cx``'s waker.
    """

    __slots__ = ("_deadline", "_delay", "_ex", "_first", "_timer")

    def __init__(self, delay: int, deadline: int | None) -> None:
        self._delay = delay
        self._deadline = deadline
        self._timer: Timer | None = None
        self._ex: Executor | None = None
        self._first = False

    def __await__(self) -> Generator[Any, None, None]:
        try:
            task = _local.runner.current  # _runner(), inlined
        except AttributeError:
            task = None
        if type(task) is not JoinHandle:
            return super().__await__()  # the generic path (and its errors)
        ex = task._executor
        drv = ex._driver
        now = drv.clock.now_ns()
        deadline = self._deadline
        if deadline is None:
            deadline = self._deadline = now + self._delay
        if now >= deadline:
            return iter(())  # type: ignore[return-value]  # an iterator, awaited as one
        tm = self._timer
        if tm is not None:  # polled before: due or not, its timer goes first
            self._timer = None
            drv.cancel(tm, task._n)
        vt = task.vtable  # the task is its own raw waker: data is the task
        self._timer = tm = Timer(deadline, vt, vt.clone(task), task._id, None)
        drv.push(tm, deadline, task._n)
        self._ex = ex
        self._first = True
        return self  # type: ignore[return-value]  # an iterator, awaited as a generator is

    def __iter__(self) -> _Sleep:
        return self

    def __next__(self) -> Any:
        """One poll of the awaiting task: the first yields the Pending of the poll that armed
        the timer; a later one ends the ``await`` once the timer fired (it fires only when
        due), else (woken by someone else) stays pending, the timer still holding the waker."""
        if self._first:
            self._first = False
            return PENDING
        tm = self._timer
        if tm is None or tm.vtable is None:
            self._timer = None
            raise StopIteration
        return PENDING

    def poll(self, cx: Context) -> Poll[None]:
        task = _current("sleep()")
        drv = _driver(task)
        t = drv.clock.now_ns()
        deadline = self._deadline
        if deadline is None:
            deadline = self._deadline = t + self._delay
        if t >= deadline:
            tm = self._timer
            if tm is not None:
                self._timer = None
                drv.cancel(tm, task._n)  # due but not fired yet: no stray wake later
            return Ready(None)
        tm = self._timer
        if tm is None or tm.vtable is None:
            self._timer = drv.arm(deadline, hold(cx._lent_raw()), task._id, task._n)
            self._ex = task._executor
        return Pending

    def __del__(self) -> None:
        """Dropped while armed (its task cancelled, its coroutine closed): cancel the timer,
        which drops the waker it holds; on the loop's thread, whichever thread drops it."""
        tm = self._timer
        ex = self._ex
        if tm is not None and ex is not None:
            self._timer = None
            drop_from_any_thread(ex, tm)

    def __repr__(self) -> str:
        return f"<refexec sleep deadline={self._deadline} ns>"


class _Forever(FutureBase[None]):
    """``sleep(inf)``: never Ready; holds one waker so the task is waiting, not lost."""

    __slots__ = ("_waker",)

    def __init__(self) -> None:
        self._waker: Any = None

    def poll(self, cx: Context) -> Poll[None]:
        if self._waker is None:
            self._waker = cx.waker.clone()
        return Pending


def sleep(seconds: float) -> Awaitable[None]:
    """``await sleep(s)``: suspend the task for at least ``s`` seconds of its executor's clock.

    ``0`` yields once (as ``yield_now()``); ``inf`` sleeps until the task is cancelled;
    negative or NaN raise ``ValueError`` here, at the call.
    """
    if type(seconds) is float and 0.0 < seconds < _INF:  # to_ns's own fast path, inlined
        return _Sleep(math.ceil(seconds * NS_PER_S), None)
    ns = to_ns(seconds, "sleep()")
    if ns == 0:
        return yield_now()
    if ns < 0:
        return _Forever()
    return _Sleep(ns, None)


def sleep_until(deadline: float) -> Awaitable[None]:
    """``await sleep_until(t)``: suspend until the executor's clock reads ``t`` seconds (as
    ``now()`` returns); a deadline already past yields once."""
    if isinstance(deadline, bool) or not isinstance(deadline, (int, float)):
        raise TypeError(f"sleep_until() needs a time in seconds, got {deadline!r}")
    if math.isnan(deadline):
        raise ValueError("sleep_until(): the deadline is NaN")
    if deadline == float("inf"):
        return _Forever()
    ns = int(deadline * NS_PER_S) if isinstance(deadline, int) else -int(-deadline * NS_PER_S // 1)
    return _Sleep(0, ns)


class _Expired(BaseException):
    """Thrown into a task at the ``await`` its ``timeout`` block is suspended in; turned into
    ``TimeoutError`` by that block's exit (a BaseException, so ``except Exception`` inside the
    block does not swallow it)."""

    def __init__(self, scope: timeout) -> None:
        super().__init__(scope)
        self.scope = scope


class _Throw:
    """Stands in for a task's coroutine for exactly one poll: that poll throws ``exc`` into
    the coroutine instead of sending None, and puts the coroutine back first."""

    __slots__ = ("_coro", "_exc", "_task")

    def __init__(self, task: JoinHandle[Any], coro: Coroutine[Any, Any, Any],
                 exc: BaseException) -> None:
        self._task = task
        self._coro = coro
        self._exc = exc

    def send(self, value: None) -> Any:
        coro = self._task._coro = self._coro
        return coro.throw(self._exc)

    def throw(self, exc: BaseException) -> Any:
        coro = self._task._coro = self._coro
        return coro.throw(exc)

    def close(self) -> None:
        self._task._coro = self._coro
        self._coro.close()

    @property
    def cr_await(self) -> Any:
        return getattr(self._coro, "cr_await", None)

    @property
    def cr_frame(self) -> Any:
        """The coroutine's frame (what closing a task at ``Executor.close()`` looks at)."""
        return getattr(self._coro, "cr_frame", None)


class _Done:
    """An awaitable that is done at once, with no frame: its ``__await__`` is a C iterator
    that stops straight away. ``timeout.__aexit__`` returns it (one coroutine less per block)."""

    __slots__ = ()
    __await__ = ().__iter__


_DONE: Final = cast("Awaitable[None]", _Done())


class timeout(Timer):
    """``async with timeout(s):`` raises ``TimeoutError`` out of the block if it has not ended
    ``s`` seconds (of the executor's clock) after it began; what the block was awaiting is
    cancelled (a coroutine gets the throw at its ``await`` and its ``finally`` runs).

    ``expired`` tells afterwards whether the deadline ended the block. ``inf`` never expires;
    negative and NaN raise ``ValueError`` at the call.

    The block is its own timer (a :class:`refexec.driver.Timer`, in the driver's heap while
    the block runs): entering and leaving a block allocates nothing but the block.
    """

    __slots__ = ("_handle", "_ns", "expired")

    def __init__(self, seconds: float) -> None:
        if type(seconds) is float and 0.0 <= seconds < _INF:  # to_ns's own fast path, inlined
            self._ns = math.ceil(seconds * NS_PER_S)
        else:
            self._ns = to_ns(seconds, "timeout()")
        self._handle: JoinHandle[Any] | None = None
        self.vtable = None
        self.data = None
        self.on_fire = None
        self.deadline = -1
        self.task = 0
        self.expired = False

    async def __aenter__(self) -> timeout:
        if self._handle is not None:
            raise RuntimeError("a refexec.timeout() block cannot be entered twice")
        try:
            task = _local.runner.current  # _runner(), inlined
        except AttributeError:
            task = None
        if type(task) is not JoinHandle:
            task = _current("timeout()")
        self._handle = task
        if self._ns >= 0:
            drv = task._executor._driver
            vt = task.vtable  # the task is its own raw waker: data is the task
            self.data = vt.clone(task)
            self.vtable = vt
            self.task = task._id
            self.on_fire = self
            drv.push(self, drv.clock.now_ns() + self._ns, task._n)
        return self

    def _fire(self) -> None:
        """Between rounds, on the loop thread: the task is suspended inside the block."""
        task = self._handle
        assert task is not None
        coro = task._coro
        if coro is not None and type(coro) is not _Throw:  # an earlier expiry is already due
            task._coro = _Throw(task, coro, _Expired(self))

    def __aexit__(
        self, et: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Awaitable[None]:
        if self.vtable is not None:
            task = self._handle
            assert task is not None
            task._executor._driver.cancel(self, task._n)
        if isinstance(exc, _Expired) and exc.scope is self:
            self.expired = True
            raise TimeoutError(f"the refexec.timeout() block did not end in time ({self._ns} ns)")
        return _DONE

    def __repr__(self) -> str:
        return f"<refexec timeout {self._ns} ns expired={self.expired}>"


def with_timeout(aw: Awaitable[T], seconds: float) -> Coroutine[Any, Any, T]:
    """``await with_timeout(aw, s)``: ``aw``'s result, or ``TimeoutError`` after ``s`` seconds,
    with ``aw`` cancelled (a coroutine is closed at its ``await``; a ``JoinHandle``'s task is
    cancelled). ``seconds`` is checked here, at the call."""
    scope = timeout(seconds)
    return _with_timeout(aw, scope)


async def _with_timeout(aw: Awaitable[T], scope: timeout) -> T:
    try:
        async with scope:
            result = await aw
    except TimeoutError:
        if scope.expired:
            cancel = getattr(aw, "cancel", None)
            if cancel is not None and hasattr(aw, "_executor"):
                cancel()
        raise
    return result
