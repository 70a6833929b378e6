"""``Executor``: the reference design. Tasks move only along the rows of :mod:`refexec.state`.

Each task is a :class:`JoinHandle` (the handle *is* the task, so spawning allocates one object).
Its state is one of ``TaskState``; the executor keeps these invariants, all checked by
:meth:`Executor.check_invariants`:

* the ready queue holds exactly the tasks in SCHEDULED, each once;
* ``_idle`` holds exactly the tasks in IDLE (so spawn and completion touch no dict);
* at most one task is RUNNING or NOTIFIED, and only while this executor polls it;
* so the unfinished tasks are the ready queue, ``_idle`` and the task being polled, and
  ``spawned == completed + cancelled + tasks_lost + unfinished``;
* a task's ``_wakers`` (live waker handles) is never negative; a final task has no future.

Counting rules (from ``state.py``): a wake of a SCHEDULED task is merged (``wakes_merged``); a
wake during a poll leads to exactly one more poll (``wakes_during_poll``); a wake of a finished
task does nothing (``wakes_ignored``); a wake of an IDLE task enqueues it (``wakes_enqueued``).

Cross-thread protocol (the one door other threads use; the model in ``refexec.models`` models
exactly this):

* State touched by other threads: ``_inbox`` (a deque of messages), ``_sleeping`` (bool),
  ``_spawners`` (int) and ``_closed``; ``_lock`` is an RLock and ``_cond`` a Condition on it.
* The loop thread (``_loop_ident``) changes task states, the ready queue and every live-waker
  count directly, with no lock. Any other thread never touches them: a waker ``wake``,
  ``wake_by_ref``, ``clone`` or ``drop``, a ``JoinHandle.cancel()`` and a ``Spawner.spawn()``
  from another thread (or while no loop runs) appends one message to ``_inbox`` *under
  ``_lock``* and, if ``_sleeping`` is set, notifies ``_cond``. Messages are applied in FIFO
  order, so a clone is always counted before the drop of that clone: a count never reaches 0
  while a handle lives. Once ``_closed`` is set (under ``_lock``) messages are dropped: every
  task is final, or is cancelled by the ``close()`` that set it, so nobody would drain them.
* The loop drains the inbox between rounds of polls and whenever it runs out of ready tasks.
  With nothing ready it reaps lost tasks (IDLE, zero live wakers), then takes ``_lock`` and
  re-checks: inbox non-empty -> release and drain; no unfinished task and no live spawner ->
  return; otherwise set ``_sleeping = True`` and ``_cond.wait(stall_timeout)`` (which releases
  the lock), then clear ``_sleeping``.
* Hence no wake is lost: a poster appends under the same lock the loop holds while it checks
  the inbox and sets ``_sleeping``, so either the loop sees the message before sleeping or the
  poster sees ``_sleeping`` and notifies. And ``run()`` never returns while a waker of an
  unfinished task lives: such a task has a positive count, so it is in ``_idle`` (lost tasks
  are reaped first, so after reaping, every IDLE task has a live waker).
"""

from __future__ import annotations

import contextvars
import inspect
import math
import numbers
import operator
import sys
import threading
import warnings
import weakref
from collections import deque
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass, fields
from types import CodeType, CoroutineType, FrameType
from typing import Any, ClassVar, Final, Generic, TypeVar, cast

from refexec.clock import Clock, MonotonicClock
from refexec.driver import DoorCondition, Driver, _select
from refexec.errors import Cancelled, Stalled, TaskLost
from refexec.future import (
    PENDING,
    YIELD,
    FutureBase,
    _Runner,
    _runner,
    as_coroutine,
    foreign_loop_error,
    is_no_loop_error,
    refuse_foreign,
)
from refexec.poll import Pending, Poll, Ready
from refexec.schedule import Policy, model_variant
from refexec.schedule import drive as _drive_policy
from refexec.schedule import step as _step_policy
from refexec.stall import DropSite, Verdict, diagnose, lost_verdict, note_drop
from refexec.state import TaskState
from refexec.trace import Trace, attach_trace
from refexec.waker import (
    DEFERRED_INTERRUPTS,
    Context,
    RawWaker,
    RawWakerVTable,
    Waker,
    _register_raw_type,
    _waker_failed,
)

__all__ = [
    "Executor",
    "ExecutorSnapshot",
    "JoinHandle",
    "RunReport",
    "Spawner",
    "Stats",
    "TaskSnapshot",
]

T = TypeVar("T")

SCHEDULED: Final = TaskState.SCHEDULED
RUNNING: Final = TaskState.RUNNING
NOTIFIED: Final = TaskState.NOTIFIED
IDLE: Final = TaskState.IDLE
COMPLETE: Final = TaskState.COMPLETE
CANCELLED: Final = TaskState.CANCELLED

_ROUND: Final = 256
"""Polls per round: the inbox is drained (foreign wakes/spawns taken in) at least this often."""

_get_ident = threading.get_ident
_copy_context = contextvars.copy_context
# ``coro.send(None)`` without a bound method per poll (C code), for a coroutine and for the
# one-poll stand-in refexec.timers puts in its place to deliver a timeout (``_Throw``).
_send_none = operator.methodcaller("send", None)
_new = object.__new__

# Inbox message kinds (the ops another thread can perform on the executor).
_WAKE: Final = "wake"
_WAKE_BY_REF: Final = "wake_by_ref"
_CLONE: Final = "waker_clone"
_DROP: Final = "waker_drop"
_SPAWN: Final = "spawn"
_CANCEL: Final = "cancel"


# --------------------------------------------------------------------------------------------
# Counters, reports, snapshots


class _Counters:
    __slots__ = (
        "cancelled",
        "completed",
        "failed",
        "polls",
        "spawned",
        "tasks_lost",
        "wakes",
        "wakes_during_poll",
        "wakes_enqueued",
        "wakes_ignored",
        "wakes_merged",
    )

    def __init__(self) -> None:
        self.spawned = 0  # mirrored from Executor._spawned when read
        self.polls = 0
        self.completed = 0
        self.failed = 0
        self.cancelled = 0
        self.tasks_lost = 0
        self.wakes = 0
        self.wakes_enqueued = 0
        self.wakes_merged = 0
        self.wakes_during_poll = 0
        self.wakes_ignored = 0


@dataclass(frozen=True)
class Stats:
    """Executor-wide counters (a frozen copy; ``Executor.stats`` makes a new one each time).

    ``wakes`` counts every wake and wake_by_ref (including ``yield_now``); it splits as
    ``wakes_enqueued`` (IDLE -> SCHEDULED) + ``wakes_merged`` (already SCHEDULED) +
    ``wakes_during_poll`` (RUNNING/NOTIFIED: one more poll) + ``wakes_ignored`` (finished task).
    ``completed`` counts tasks that returned or raised; ``failed`` those of them that raised.
    ``cancelled`` counts cancels, ``tasks_lost`` tasks moved along the ``lost`` row.
    """

    spawned: int = 0
    polls: int = 0
    completed: int = 0
    failed: int = 0
    cancelled: int = 0
    tasks_lost: int = 0
    wakes: int = 0
    wakes_enqueued: int = 0
    wakes_merged: int = 0
    wakes_during_poll: int = 0
    wakes_ignored: int = 0

    def __sub__(self, other: Stats) -> Stats:
        diff = {f.name: getattr(self, f.name) - getattr(other, f.name) for f in fields(Stats)}
        return Stats(**diff)


@dataclass(frozen=True)
class RunReport:
    """What one ``run()`` / ``run_until_stalled()`` did.

    ``lost`` holds the JoinHandles of the tasks found lost during this run (each raises
    ``TaskLost``); ``this_run`` the counters of this run alone; ``stats`` the totals after it;
    ``verdicts`` a ``refexec.stall.Verdict`` (kind "lost wake") per lost task: the step that
    dropped its last waker and the await chain it was suspended in.
    """

    lost: tuple[JoinHandle[Any], ...]
    this_run: Stats
    stats: Stats
    verdicts: tuple[Verdict, ...] = ()

    @property
    def polls(self) -> int:
        return self.this_run.polls

    @property
    def completed(self) -> int:
        return self.this_run.completed

    @property
    def tasks_lost(self) -> int:
        return self.this_run.tasks_lost


@dataclass(frozen=True)
class TaskSnapshot:
    """One unfinished task as the loop sees it."""

    id: int
    state: TaskState
    poll_count: int
    wakers: int
    """Live waker handles, as counted by the loop (inbox messages not yet applied excluded)."""
    cancel_requested: bool


@dataclass(frozen=True)
class ExecutorSnapshot:
    """An immutable view of an ``Executor`` for checkers (see ``Executor.snapshot``).

    ``ready`` is the ready queue's task ids in polling order; ``tasks`` every unfinished task,
    by id (finished tasks are read from their JoinHandles); ``running`` whether a loop
    (run/run_until_stalled/block_on/step) is active; ``sleeping`` whether it waits on its
    condition; ``spawners`` the live Spawners; ``inbox`` the messages from other threads not yet
    applied; ``closed`` whether ``close()`` was called.
    """

    ready: tuple[int, ...]
    tasks: tuple[TaskSnapshot, ...]
    running: bool
    sleeping: bool
    spawners: int
    inbox: int
    closed: bool

    def task(self, task_id: int) -> TaskSnapshot:
        for t in self.tasks:
            if t.id == task_id:
                return t
        raise KeyError(f"task {task_id} is not an unfinished task of this snapshot")


# --------------------------------------------------------------------------------------------
# Unretrieved exceptions


class _Unretrieved:
    """Warns when it dies armed: a task raised and nobody looked at the exception."""

    __slots__ = ("__weakref__", "armed", "desc", "exc")

    def __init__(self, desc: str, exc: BaseException) -> None:
        self.desc = desc
        self.exc = exc
        self.armed = True

    def report(self) -> None:
        """Warn once (a ``RuntimeWarning``) naming the task and its exception.

        ``warn_explicit`` with a registry of its own, not ``warnings.warn``: the default action
        files every distinct message in the calling module's ``__warningregistry__`` for ever,
        and each message names its task, so a long run with many failed tasks would grow that
        registry by one entry per task. Here the registry is thrown away, so every unretrieved
        failure is still shown (each is a separate event) and memory stays flat. Filters apply
        as usual (``error`` raises, ``ignore`` hides, matched on module ``refexec.executor``);
        only an explicit ``once`` filter files messages, in Python's own ``onceregistry``.
        """
        if self.armed:
            self.armed = False
            warnings.warn_explicit(
                f"{self.desc} raised {self.exc!r} and nobody retrieved it: call result() or "
                "exception() on its JoinHandle, or await it, to handle task errors",
                RuntimeWarning,
                __file__,
                _REPORT_LINE,
                module=__name__,
                registry={},
            )

    def __del__(self) -> None:
        if getattr(self, "armed", False):  # False if __init__ was cut short by an interrupt
            self.report()


_REPORT_LINE: Final = _Unretrieved.report.__code__.co_firstlineno


class _Extra:
    """The rarely used part of a task, allocated on first need."""

    __slots__ = ("cancel_requested", "exc", "unretrieved", "waiters")

    def __init__(self) -> None:
        self.waiters: list[Waker] | None = None
        self.cancel_requested = False
        self.exc: BaseException | None = None
        self.unretrieved: _Unretrieved | None = None


# --------------------------------------------------------------------------------------------
# Tasks


class JoinHandle(FutureBase[T], Generic[T]):
    """A spawned task, and the handle to its result (the two are one object).

    Await it from another task to get the result (or its exception); call ``result()`` /
    ``exception()`` once ``done()``; ``cancel()`` it. ``state`` is the task's ``TaskState``
    (``None`` while a spawn from another thread has not reached the loop yet).
    """

    __slots__ = (
        "_coro", "_ctx", "_executor", "_id", "_n", "_name", "_result", "_state", "_wakers", "_x"
    )

    # Field meanings (set in Executor.spawn; no __init__, for speed):
    _id: int
    _executor: Executor
    _coro: Any  # the coroutine; None once final (the future is dropped)
    _ctx: contextvars.Context  # every poll runs in it: a copy of the spawner's, or the one given
    _name: str  # the user's coroutine (or awaitable), kept after the future is dropped
    _state: TaskState | None
    _n: int  # poll count
    _wakers: int  # live waker handles; Invariant: >= 0
    _result: Any
    _x: _Extra | None

    def __init__(self) -> None:
        raise TypeError("JoinHandles are made by Executor.spawn() or refexec.spawn()")

    # A JoinHandle is its own raw waker (see refexec.waker._RAW_TYPES): the wakers of the task
    # hold the handle itself, read as RawWaker(data=the handle, vtable=_VTABLE). No RawWaker
    # object per waker, as Rust keeps the RawWaker inline in the Waker.
    vtable: ClassVar[RawWakerVTable]

    @property
    def data(self) -> JoinHandle[T]:
        """The raw waker's data pointer: the task itself."""
        return self

    # -- public view --------------------------------------------------------------------------

    @property
    def id(self) -> int:
        """The task's id, unique within its executor (1, 2, ... in spawn order)."""
        return self._id

    @property
    def state(self) -> TaskState | None:
        return self._state

    @property
    def poll_count(self) -> int:
        """How many times the task was polled."""
        return self._n

    @property
    def name(self) -> str:
        """The qualified name of the coroutine the task runs (for another awaitable, its type's
        name), kept once the task finished: it names the user's code, never refexec's wrapper."""
        return self._name

    @property
    def context(self) -> contextvars.Context:
        """The ``contextvars.Context`` every poll of this task runs in (a copy of the spawner's
        context taken at spawn, or the one passed as ``spawn(..., context=...)``)."""
        return self._ctx

    def done(self) -> bool:
        """True once the task is COMPLETE (returned or raised), CANCELLED or lost."""
        st = self._state
        return st is COMPLETE or st is CANCELLED

    def cancelled(self) -> bool:
        """True if the task was cancelled (``result()`` raises ``Cancelled``). A *lost* task is
        not cancelled, nobody cancelled it: see :meth:`lost` (``result()`` raises ``TaskLost``)."""
        if self._state is not CANCELLED:
            return False
        x = self._x
        return x is None or not isinstance(x.exc, TaskLost)

    def lost(self) -> bool:
        """True if the task was lost: it returned Pending and every waker for it was dropped, so
        the executor moved it to CANCELLED and ``result()`` raises ``TaskLost``."""
        x = self._x
        return self._state is CANCELLED and x is not None and isinstance(x.exc, TaskLost)

    def result(self) -> T:
        """The task's return value; raises its exception, ``Cancelled`` or ``TaskLost``.

        Raises ``RuntimeError`` if the task has not finished yet.
        """
        st = self._state
        x = self._x
        if st is COMPLETE:
            if x is not None and x.exc is not None:
                if x.unretrieved is not None:
                    x.unretrieved.armed = False
                raise x.exc
            return self._result  # type: ignore[no-any-return]
        if st is CANCELLED:
            assert x is not None and x.exc is not None
            if x.unretrieved is not None:  # its close failed: retrieved with the Cancelled
                x.unretrieved.armed = False
            raise x.exc
        raise RuntimeError(self._not_done("result()"))

    def exception(self) -> BaseException | None:
        """The exception the task raised (``None`` if it returned), or its ``Cancelled`` /
        ``TaskLost``. Raises ``RuntimeError`` if the task has not finished yet."""
        st = self._state
        x = self._x
        if st is COMPLETE or st is CANCELLED:
            if x is None:
                return None
            if x.unretrieved is not None:
                x.unretrieved.armed = False
            return x.exc
        raise RuntimeError(self._not_done("exception()"))

    def _not_done(self, what: str) -> str:
        st = "not yet accepted" if self._state is None else self._state.name
        return (
            f"{what} of task {self._id} which has not finished (state {st}): await the handle "
            "from another task, or drive the executor (run(), block_on()) first"
        )

    def cancel(self) -> bool:
        """Cancel the task: drop its future (a coroutine is closed, its ``finally`` blocks run)
        and make this handle raise ``Cancelled``. Returns False if it had already finished.

        A task in SCHEDULED leaves the queue; one in IDLE is cancelled at once; during its poll
        the cancel is deferred until the poll returns (if it returns Ready, the result stands).
        Safe from any thread: from another thread while a loop runs it takes effect when the
        loop takes it in; while no loop runs it is applied at once, holding the door's lock, so
        a ``run()`` entering meanwhile on another thread waits for it to finish.
        """
        st = self._state
        if st is COMPLETE or st is CANCELLED:
            return False
        ex = self._executor
        if st is not None:  # taken in (a spawn still in the inbox is cancelled by a post)
            li, me = ex._loop_ident, _get_ident()
            if li == me:
                ex._cancel(self)  # on the loop thread
                return True
            if li is None:
                with ex._lock:  # a loop must take this lock to start: none starts meanwhile
                    if ex._loop_ident is None:
                        # this thread acts as the loop for the cancel (as close() does): the
                        # wakers the dropped future held (a timer's, a registration's) are
                        # dropped here and now, traced right after their timer_cancel /
                        # io_cancel
                        ex._loop_ident = me
                        try:
                            ex._cancel(self)
                        finally:
                            ex._loop_ident = None
                        return True
        ex._post((_CANCEL, self))
        return True

    # -- awaiting -------------------------------------------------------------------------------

    def poll(self, cx: Context) -> Poll[T]:
        st = self._state
        if st is COMPLETE or st is CANCELLED:
            return Ready(self.result())
        self._add_waiter(cx.waker)
        return Pending

    def __await__(self) -> Generator[Any, None, T]:
        cur = _runner().current
        if cur is self:
            raise RuntimeError(f"task {self._id} awaits its own JoinHandle: it would never finish")
        if cur is None:
            raise RuntimeError(
                f"{self!r} was awaited outside a refexec task; use Executor.block_on(handle) "
                "or handle.result() after run()"
            )
        while True:
            st = self._state
            if st is COMPLETE or st is CANCELLED:
                return self.result()
            self._add_waiter(cur._context().waker)
            yield PENDING

    def _add_waiter(self, w: Waker) -> None:
        x = self._x
        if x is None:
            x = self._x = _Extra()
        ws = x.waiters
        if ws is None:
            x.waiters = [w.clone()]
        elif not any(v.will_wake(w) for v in ws):
            ws.append(w.clone())

    # -- what the awaiting machinery asks of the task being polled ------------------------------

    def _context(self) -> Context:
        r = self._executor._runner
        cx = r.cx
        if cx is None or cx._task is not self or cx._poll != self._n:
            cx = r.cx = _TaskContext(self)
        return cx  # type: ignore[no-any-return]

    def _spawn(self, aw: Any, **kw: Any) -> JoinHandle[Any]:
        return self._executor.spawn(aw, **kw)

    def _desc(self) -> str:
        return f"task {self._id} ({self.name})"

    def __repr__(self) -> str:
        st = "SPAWNING" if self._state is None else "LOST" if self.lost() else self._state.name
        return f"<JoinHandle task={self._id} {st} polls={self._n} {self._name}>"


class _TaskContext(Context):
    """The Context of one poll of an Executor task, made only if a future asks for it.

    Its borrowed waker is live while that very poll runs: same poll number, task RUNNING or
    NOTIFIED. No bookkeeping at the end of the poll is needed to expire it.
    """

    __slots__ = ("_poll", "_task")

    def __init__(self, task: JoinHandle[Any]) -> None:
        self._owner = None
        self._borrowed = None
        self._live = True
        self._task = task
        self._poll = task._n

    def _lent_raw(self) -> RawWaker:
        return cast(RawWaker, self._task)  # the task is its own raw waker

    def _is_live(self) -> bool:
        t = self._task
        st = t._state
        return t._n == self._poll and (st is RUNNING or st is NOTIFIED)


# The task waker's vtable: the data is the JoinHandle. On the loop thread it acts directly;
# from any other thread (or while no loop runs) it posts a message (see the module docstring).


def _vt_clone(t: JoinHandle[Any]) -> RawWaker:
    ex = t._executor
    if _get_ident() == ex._loop_ident:
        t._wakers += 1
        tr = ex._trace
        if tr is not None:
            tr.record("waker_clone", t._id, t._n)
    else:
        ex._post((_CLONE, t))
    return cast(RawWaker, t)  # the task is its own raw waker: (data=t, vtable=_VTABLE)


def _vt_wake(t: JoinHandle[Any]) -> None:
    ex = t._executor
    if _get_ident() == ex._loop_ident:
        ex._wake(t, True, None)
    else:
        ex._post((_WAKE, t))


def _vt_wake_by_ref(t: JoinHandle[Any]) -> None:
    ex = t._executor
    if _get_ident() == ex._loop_ident:
        ex._wake(t, False, None)
    else:
        ex._post((_WAKE_BY_REF, t))


def _vt_drop(t: JoinHandle[Any]) -> None:
    ex = t._executor
    if _get_ident() == ex._loop_ident:
        t._wakers -= 1
        tr = ex._trace
        if tr is not None:
            tr.record("waker_drop", t._id, t._n)
        if t._wakers <= 0 and t._state is IDLE:  # it just became lost: note the step (rare)
            note_drop(ex, t)
            ex._maybe_lost.append(t)
    else:
        ex._post((_DROP, t))


_VTABLE: Final = RawWakerVTable(_vt_clone, _vt_wake, _vt_wake_by_ref, _vt_drop)
JoinHandle.vtable = _VTABLE
_register_raw_type(JoinHandle)


# --------------------------------------------------------------------------------------------
# Spawner


class Spawner:
    """A thread-safe way to spawn on an ``Executor``. While it lives, ``run()`` stays open
    (it is a sender, as in the seed): ``close()`` it, or use it as a context manager."""

    __slots__ = ("_closed", "_executor")

    def __init__(self, executor: Executor) -> None:
        self._executor = executor
        self._closed = False

    def spawn(
        self, aw: Awaitable[T], *, context: contextvars.Context | None = None
    ) -> JoinHandle[T]:
        """Spawn ``aw``; from another thread the task starts once the loop takes it in. The task
        runs in a copy of the calling thread's context (or in ``context``), as for
        ``Executor.spawn``."""
        if self._closed:
            if type(aw) is CoroutineType:
                aw.close()
            raise RuntimeError("spawn() on a closed Spawner; get a new one with ex.spawner()")
        return self._executor._spawn_threadsafe(aw, context)

    def close(self) -> None:
        """Give up this spawner (idempotent). ``run()`` may return once none is left."""
        if not self._closed:
            self._closed = True
            self._executor._spawner_closed()

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> Spawner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        if not self._closed:
            self.close()

    def __repr__(self) -> str:
        return f"<Spawner {'closed' if self._closed else 'live'}>"


# --------------------------------------------------------------------------------------------
# Executor


class Executor:
    """The reference executor. See the module docstring for its invariants and protocol."""

    def __init__(
        self, *, trace: Trace | None = None, clock: Clock | None = None,
        policy: Policy | None = None,
    ) -> None:
        if policy is not None and not callable(getattr(policy, "choose", None)):
            raise TypeError(f"Executor(policy=) needs a refexec.schedule.Policy, got {policy!r}")
        self._trace = attach_trace(trace, "refexec.Executor", model_variant(policy))
        # The scheduling seam (refexec.schedule): None is the FIFO loop below, untouched.
        self._policy = policy
        if clock is None:
            clock = MonotonicClock()
        elif not isinstance(clock, Clock):
            raise TypeError(f"Executor(clock=) needs a refexec Clock, got {clock!r}")
        # Time (refexec.driver): consulted between rounds of polls and parked in by _drive.
        self._driver = Driver(clock, self._trace)
        clock._subscribe(self._clock_moved)
        self._ready: deque[JoinHandle[Any]] = deque()
        # Invariant: set(self._ready) == {every task in SCHEDULED}, each queued once
        self._idle: dict[int, JoinHandle[Any]] = {}
        # Invariant: self._idle == {t._id: t for every task t in IDLE}
        # Invariant: unfinished tasks == ready + idle + the one being polled, if any
        self._spawned = 0  # tasks accepted so far; also the last task id given out
        self._c = _Counters()
        self._lost_log: list[JoinHandle[Any]] = []
        # The tasks that may have become lost since the last reap (IDLE with no live waker):
        # appended where a task goes IDLE with none, or an IDLE task's last waker goes, so a
        # reap looks at what changed, not at every IDLE task (_reap_lost). _reap_all: the
        # first reap of a drive call looks at them all (an interrupt may have cut a note short).
        self._maybe_lost: list[JoinHandle[Any]] = []
        self._reap_all = True
        # refexec.stall's only bookkeeping, filled on the rare path where a task becomes lost:
        self._drops: dict[int, DropSite] = {}  # task id -> the step that dropped its last waker
        self._lost_verdicts: dict[int, Verdict] = {}  # lost task id -> verdict, until reported
        self._unretrieved: weakref.WeakSet[_Unretrieved] = weakref.WeakSet()
        self._closed = False
        self._runner: _Runner = _Runner()
        # The door for other threads (see the module docstring):
        self._inbox: deque[tuple[str, JoinHandle[Any]]] = deque()
        self._lock = threading.RLock()
        self._cond = DoorCondition(self._lock, self._driver)  # notify() also ends a select()
        self._sleeping = False  # Invariant: only set by the loop thread, under _lock
        self._spawners = 0  # changed under _lock; Invariant: >= 0
        self._loop_ident: int | None = None  # the thread running the loop, None when idle
        self._gate: int | None = None
        # Who may call spawn(): None = any thread (not running); the loop's ident while it
        # runs; -1 once closed (no thread has that ident). One test on spawn's hot path.

    # -- spawning -------------------------------------------------------------------------------

    def spawn(
        self, aw: Awaitable[T], *, context: contextvars.Context | None = None
    ) -> JoinHandle[T]:
        """Spawn ``aw`` (a coroutine, a refexec future, any awaitable) and return its handle.

        The task runs in its own ``contextvars`` context: a copy of the caller's, taken now (so
        a ``ContextVar`` set in one task is not seen by its siblings, nor by the caller after
        ``run()``), or ``context`` if given (then changes the task makes are made in it).

        Call it from the thread that drives the executor or from inside its tasks; from other
        threads, use :meth:`spawner`. Raises ``TypeError`` for a non-awaitable or a
        ``context`` that is not a ``contextvars.Context``, ``RuntimeError`` on a closed
        executor.
        """
        gate = self._gate
        if gate is not None and gate != _get_ident():
            self._refuse_spawn(aw)
        if context is not None:
            context = _check_context(context, aw)
        if type(aw) is not CoroutineType:
            name = _awaitable_name(aw)
            aw = as_coroutine(aw)
        elif aw.cr_await is not None:  # suspended elsewhere: one cheap load (not cr_frame)
            raise _stale_coroutine(aw, "spawn()")
        else:
            name = aw.__qualname__
        t: JoinHandle[T] = _new(JoinHandle)
        t._executor = self
        t._coro = aw
        t._name = name
        t._ctx = _copy_context() if context is None else context
        t._state = SCHEDULED
        t._n = 0
        t._wakers = 0
        t._x = None
        try:
            t._id = tid = self._spawned = self._spawned + 1  # accepted: counted and ...
            self._ready.append(t)  # ... queued, even if an interrupt lands in between
        except BaseException:
            self._settle(t)
            raise
        if self._trace is not None:
            self._trace.record("spawn", tid, 0)
        return t

    def _refuse_spawn(self, aw: object) -> None:
        if type(aw) is CoroutineType:
            aw.close()  # it will never run: no "never awaited" warning on top of the error
        if self._closed:
            raise RuntimeError(
                "spawn() on an Executor that has been closed; create a new Executor"
            )
        raise RuntimeError(
            f"Executor.spawn() called from thread {_get_ident()} while the executor runs on "
            f"thread {self._loop_ident}; from other threads use ex.spawner().spawn(...)"
        )

    def spawner(self) -> Spawner:
        """A thread-safe spawning handle; it keeps ``run()`` open until closed."""
        with self._lock:
            if self._closed:
                raise RuntimeError("spawner() on a closed Executor; create a new Executor")
            self._spawners += 1
        return Spawner(self)

    def _spawner_closed(self) -> None:
        with self._lock:
            self._spawners -= 1
            if self._sleeping:
                self._cond.notify()

    def _spawn_threadsafe(
        self, aw: Awaitable[T], context: contextvars.Context | None = None
    ) -> JoinHandle[T]:
        if self._loop_ident == _get_ident():
            return self.spawn(aw, context=context)
        if context is not None:
            context = _check_context(context, aw)
        name = _awaitable_name(aw)
        coro = aw if type(aw) is CoroutineType else as_coroutine(aw)
        if type(aw) is CoroutineType and aw.cr_await is not None:  # as in spawn()
            raise _stale_coroutine(aw, "Spawner.spawn()")
        t: JoinHandle[T] = _new(JoinHandle)
        t._id = 0  # numbered when the loop takes the spawn in
        t._executor = self
        t._coro = coro
        t._name = name
        t._ctx = _copy_context() if context is None else context
        t._state = None
        t._n = 0
        t._wakers = 0
        t._x = None
        with self._lock:
            if self._closed:
                coro.close()
                raise RuntimeError("Spawner.spawn() on an Executor that has been closed; "
                                   "create a new Executor")
            self._inbox.append((_SPAWN, t))
            if self._sleeping:
                self._cond.notify()
        return t

    def _accept(self, t: JoinHandle[Any]) -> None:
        """Take in a spawn posted by another thread (row: None --spawn--> SCHEDULED)."""
        t._state, t._id, self._spawned = SCHEDULED, self._spawned + 1, self._spawned + 1
        try:
            self._ready.append(t)
        except BaseException:  # interrupted: the task is accepted, so queue it
            self._settle(t)
            raise
        if self._trace is not None:
            self._trace.record("spawn", t._id, 0, "inbox")

    # -- the door for other threads -----------------------------------------------------------

    def _post(self, msg: tuple[str, JoinHandle[Any]]) -> None:
        """Append a message for the loop; a closed executor ignores it (every task of it is
        final, so a wake, clone or drop changes nothing, and nobody would ever drain it)."""
        with self._lock:
            if self._closed:
                return
            self._inbox.append(msg)
            if self._sleeping:
                self._cond.notify()

    def _drain(self) -> None:
        """Apply the inbox's messages in order (loop thread only).

        A message leaves the inbox only after it is read into locals, and an interrupt before
        it took effect puts it back at the head (whether it did is read from the one-step
        transitions: the wake counter, the live-waker count, the task's state)."""
        inbox = self._inbox
        popleft = inbox.popleft
        tr = self._trace
        c = self._c
        msg: tuple[str, JoinHandle[Any]] | None = None
        applied = True
        try:
            while inbox:
                msg, wakes, applied, count = inbox[0], c.wakes, False, inbox[0][1]._wakers
                op, t = msg
                popleft()
                if op is _WAKE:
                    self._wake(t, True, "inbox")
                elif op is _WAKE_BY_REF:
                    self._wake(t, False, "inbox")
                elif op is _CLONE:
                    t._wakers, applied = t._wakers + 1, True
                    if tr is not None:
                        tr.record("waker_clone", t._id, t._n, "inbox")
                elif op is _DROP:
                    t._wakers, applied = t._wakers - 1, True
                    if tr is not None:
                        tr.record("waker_drop", t._id, t._n, "inbox")
                    if t._wakers <= 0 and t._state is IDLE:
                        self._maybe_lost.append(t)
                elif op is _SPAWN:
                    self._accept(t)
                else:
                    assert op is _CANCEL
                    self._cancel(t, "inbox")
                applied = True
        except BaseException:
            if msg is not None and not applied:
                op, t = msg
                if op is _WAKE or op is _WAKE_BY_REF:
                    applied = c.wakes != wakes
                    if applied and op is _WAKE and t._wakers == count:
                        t._wakers -= 1  # the wake took effect, its handle's end did not
                elif op is _SPAWN:
                    applied = t._state is not None
                elif op is _CANCEL:  # (a cancel taken in between polls is final at once)
                    applied = t._state is CANCELLED or t._state is COMPLETE
                if not applied and not (inbox and inbox[0] is msg):
                    inbox.appendleft(msg)
            raise

    # -- state transitions (loop thread only) ---------------------------------------------------

    def _wake(self, t: JoinHandle[Any], consume: bool, detail: str | None) -> None:
        """A wake of ``t``; ``consume``: by ``wake()``, which also ends that waker handle.

        Interrupt safety: the counters of a row change together, on one line, and the handle's
        count last of all (an interrupt before it leaves the count one too high: the README's
        "what remains"). IDLE's move from ``_idle`` to the ready queue is finished by the
        handler below if an interrupt cuts it short."""
        c = self._c
        tr = self._trace
        if tr is not None:
            tr.record("wake" if consume else "wake_by_ref", t._id, t._n, detail)
        st = t._state
        if st is IDLE:  # IDLE --wake--> SCHEDULED
            try:  # the state and its counters in one step: the inbox reads "applied" from them
                t._state, c.wakes, c.wakes_enqueued = SCHEDULED, c.wakes + 1, c.wakes_enqueued + 1
                self._ready.append(t)
                del self._idle[t._id]
            except BaseException:  # interrupted: finish the move, then let it propagate
                self._settle(t)
                raise
        elif st is RUNNING:  # RUNNING --wake--> NOTIFIED: one more poll
            t._state = NOTIFIED
            c.wakes, c.wakes_during_poll = c.wakes + 1, c.wakes_during_poll + 1
        elif st is NOTIFIED:  # merged into the pending re-poll
            c.wakes, c.wakes_during_poll = c.wakes + 1, c.wakes_during_poll + 1
        elif st is SCHEDULED:  # merged: queued once
            c.wakes, c.wakes_merged = c.wakes + 1, c.wakes_merged + 1
        else:  # COMPLETE / CANCELLED: ignored
            c.wakes, c.wakes_ignored = c.wakes + 1, c.wakes_ignored + 1
        if consume:
            t._wakers -= 1

    def _cancel(self, t: JoinHandle[Any], detail: str | None = None) -> None:
        """``detail``: the trace's, ``"inbox"`` for a cancel another thread posted."""
        st = t._state
        if st is SCHEDULED or st is IDLE:
            self._drop_future(t, lost=False, detail=detail)
        elif st is RUNNING or st is NOTIFIED:  # deferred until the poll returns
            x = t._x
            if x is None:
                x = t._x = _Extra()
            x.cancel_requested = True
        # COMPLETE / CANCELLED: too late, nothing to do

    def _after_pending(self, t: JoinHandle[Any]) -> None:
        """Slow path after Pending when the task has extras: apply a deferred cancel."""
        x = t._x
        assert x is not None
        if x.cancel_requested:  # SCHEDULED (not queued yet) or IDLE --cancel--> CANCELLED
            self._drop_future(t, lost=False)
        elif t._state is SCHEDULED:
            self._ready.append(t)

    def _drop_future(self, t: JoinHandle[Any], *, lost: bool, detail: str | None = None) -> None:
        """SCHEDULED/IDLE --cancel--> CANCELLED, or IDLE --lost--> CANCELLED. ``t`` is still in
        the ready queue or ``_idle`` (or is the task whose poll just returned Pending): it is
        taken out right after the one step that makes it final, so an interrupt at any point
        finds it either unfinished in its structure or final (``_settle`` finishes the rest).
        Closes the coroutine and wakes the awaiters."""
        st = t._state
        assert st is SCHEDULED or st is IDLE
        desc = t._desc()
        coro = t._coro
        x = t._x
        if x is None:
            x = t._x = _Extra()
        c = self._c
        if lost:
            v = self._lost_verdicts.get(t._id)  # refexec.stall: the step that lost it
            exc: Cancelled = TaskLost(
                f"{desc} was lost: it returned Pending after poll {t._n} and then every waker "
                "for it was dropped, so nothing could ever wake it. A future that returns "
                "Pending must keep cx.waker.clone() and call wake() on it later."
                + (f" Its last waker was dropped {v.dropped_at}." if v and v.dropped_at else "")
            )
        else:
            exc = Cancelled(f"{desc} was cancelled")
        x.exc = exc
        try:
            if lost:
                t._state, t._coro, x.cancel_requested, c.tasks_lost = CANCELLED, None, False, c.tasks_lost + 1  # noqa: E501
                self._lost_log.append(t)
            else:
                t._state, t._coro, x.cancel_requested, c.cancelled = CANCELLED, None, False, c.cancelled + 1  # noqa: E501
            self._settle(t, st)  # out of its structure
            tr = self._trace
            if tr is not None:
                tr.record("lost" if lost else "cancel", t._id, t._n, detail)
            if t._n or coro.cr_await is None:  # else another task runs it (spawned twice)
                _close_in(t._ctx, coro)  # its finally blocks see the task's context
        except Exception as err:  # e.g. a finally block that awaited
            self._close_failed(x, desc, exc, err)
        finally:
            if t._state is CANCELLED:  # else an interrupt came first: nothing happened
                self._settle(t, st)
                if coro.cr_frame is not None and (t._n or coro.cr_await is None):
                    try:  # an interrupt came before close(): close now
                        _close_in(t._ctx, coro)
                    except Exception as err:
                        self._close_failed(x, desc, exc, err)
                self._wake_waiters(x)

    def _close_failed(self, x: _Extra, desc: str, exc: Cancelled, err: Exception) -> None:
        """Closing a cancelled (or lost) task's coroutine raised ``err``: a ``finally`` block
        that failed, or a waker it woke on the way out (a wait queue passing on a wake it was
        chosen for) whose vtable raised. ``err`` becomes the cause of the task's ``Cancelled``,
        and is reported like any task failure if nobody retrieves it: ``cancel()`` returns
        normally, so without the report it would be lost in silence."""
        exc.__cause__ = err
        u = x.unretrieved = _Unretrieved(f"{desc}, closed as it was cancelled,", err)
        self._unretrieved.add(u)

    def _settle(self, t: JoinHandle[Any], was: TaskState | None = None) -> None:
        """Put ``t`` where its state says: SCHEDULED in the ready queue (once), IDLE in
        ``_idle``, any other state in neither. ``was`` (the state it left, if known) spares a
        scan of the queue. The transitions change a task's state in one step and then move it;
        this finishes the move, also when an interrupt cut it short (the slow path)."""
        st = t._state
        ready, idle = self._ready, self._idle
        if st is not IDLE and idle.get(t._id) is t:
            del idle[t._id]
        if st is SCHEDULED:
            if t not in ready:
                ready.append(t)
        elif was is None or was is SCHEDULED:
            while t in ready:
                ready.remove(t)
        if st is IDLE and idle.get(t._id) is not t:
            idle[t._id] = t

    def _unwind_poll(self, t: object, exc: BaseException, c: _Counters) -> None:
        """An interrupt (or any exception) left ``_run_ready`` while ``t`` was in hand (from
        ``runner.current = t`` until the next task): finish or undo its transition, so that it
        is again in the ready queue, in ``_idle`` or final, counted once, in a state the model
        has. Where the exception left the poll (:func:`_poll_position`) says which:

        * before the send (``before``): the poll never started: ``t`` goes back to the *head*
          of the ready queue, SCHEDULED, its poll counter (and the round's) as before the take;
        * after the send returned Pending (``after``, the frame's ``y`` is PENDING or YIELD):
          the Pending is filed as the loop would have (IDLE; or SCHEDULED at the back if
          woken during the poll or yielding; a requested cancel applied): counted once;
        * the coroutine finished: its outcome (the value or exception the frame still holds,
          else the interrupt itself) is filed.

        Anything else (an interrupt that left the send itself with the coroutine alive, or a
        foreign yield being refused) re-polls ``t`` from the head: a spurious poll, which the
        Future contract allows (a lost wake would not be). Slow path only."""
        if not isinstance(t, JoinHandle) or t._executor is not self:
            return
        where, frame, counted_yield = _poll_position(exc)
        st = t._state
        x = t._x
        if st is RUNNING or st is NOTIFIED:
            coro = t._coro
            if coro is not None and coro.cr_frame is not None:
                y = frame.f_locals.get("y") if where == "after" and frame is not None else None
                if where == "before":  # taken, counted, never sent: undo the take
                    t._state, t._n, c.polls = SCHEDULED, t._n - 1, c.polls - 1  # one step
                    self._ready.appendleft(t)  # (the round's end adds it back to c.polls)
                    return
                if y is PENDING or y is YIELD:  # returned Pending: file it as _run_ready does
                    if y is YIELD:
                        if not counted_yield:  # (the round's end adds the ones it counted)
                            c.wakes, c.wakes_during_poll = c.wakes + 1, c.wakes_during_poll + 1
                        t._state = SCHEDULED
                    elif st is RUNNING:
                        t._state = IDLE
                        if t._wakers <= 0:
                            self._maybe_lost.append(t)
                    else:
                        t._state = SCHEDULED
                    if x is not None and x.cancel_requested:
                        self._drop_future(t, lost=False)
                    else:
                        self._settle(t, st)
                    return
                # inside the send, or a foreign yield: poll it again (a spurious poll)
                t._state = SCHEDULED
                if x is not None and x.cancel_requested:
                    self._drop_future(t, lost=False)
                elif t not in self._ready:
                    self._ready.appendleft(t)
                return
            try:  # it finished: did it return (its value is stored first)?
                value = t._result
            except AttributeError:
                # its outcome was not filed: the StopIteration or exception the frame caught,
                # if it got that far, else the interrupt is the outcome
                e = frame.f_locals.get("e") if where == "after" and frame is not None else None
                if isinstance(e, StopIteration):
                    value = e.value
                else:
                    self._fail(t, e if isinstance(e, Exception) else exc)
                    return
            t._state, t._coro, t._result, c.completed = COMPLETE, None, value, c.completed + 1
            st = COMPLETE
        elif st is SCHEDULED and where == "before" and t not in self._ready:
            self._ready.appendleft(t)  # taken, not yet RUNNING: back at the head, uncounted
            c.polls -= 1
            return
        if st is COMPLETE:
            if x is not None:
                x.cancel_requested = False
                self._wake_waiters(x)
        elif (st is SCHEDULED or st is IDLE) and x is not None and x.cancel_requested:
            self._drop_future(t, lost=False)
            return
        self._settle(t)

    def _wake_waiters(self, x: _Extra) -> None:
        """Wake every task awaiting this one. A waker runs code of whoever registered it; if
        one raises, the others are innocent: they are still woken (a waker skipped would be
        dropped and its task reported lost), and the first failure, noted with the waker that
        raised it (``refexec.waker._waker_failed``), leaves the loop afterwards, once.

        One step for an interrupt: one that comes part-way (at a line of this loop, or in a
        waker before its handle was used) is raised once every waiter is woken, and the list
        is let go only after the last wake (a call cut short before that is finished by the
        next one, which skips the handles already consumed)."""
        ws = x.waiters
        if ws is None:
            return
        failure: BaseException | None = None
        interrupt: BaseException | None = None
        while True:
            try:
                for w in ws:
                    raw = w._raw  # for the note: wake() consumes the handle before the vtable
                    if raw is None:
                        continue  # woken already (before an interrupt cut a loop short)
                    try:
                        w.wake()
                    except BaseException as e:  # raised below, after the other waiters
                        if w._raw is raw and not isinstance(e, Exception):
                            raise  # an interrupt before the handle was used: to the retry
                        failure = _waker_failed(failure, e, raw, "wake")
                break
            except BaseException as e:  # an interrupt: wake the rest, then raise it
                if isinstance(e, Exception):
                    raise
                interrupt = interrupt or e
        x.waiters = None
        if interrupt is not None:
            raise interrupt
        if failure is not None:
            raise failure

    def _fail(self, t: JoinHandle[Any], e: BaseException) -> None:
        """RUNNING/NOTIFIED --ready--> COMPLETE, with an exception."""
        desc = t._desc()
        if t._n == 1 and type(e) is RuntimeError and e.args == (_REUSED,):
            # spawn() cannot see that a coroutine finished without a costly cr_frame load, so
            # its first poll fails; say why, as spawn() does for a suspended one (rare path)
            e = _stale_coroutine(t._coro, f"the first poll of {desc}")
        elif is_no_loop_error(e):  # asyncio code inside a task: say so, and what to use
            e = foreign_loop_error(desc, e)
        tb = e.__traceback__
        if tb is not None and tb.tb_frame.f_code is _RUN_READY_CODE:
            e.__traceback__ = tb.tb_next  # start the traceback at the task's own code
        x = t._x
        if x is None:
            x = t._x = _Extra()
        x.exc = e
        c = self._c
        t._state, t._coro, x.cancel_requested, c.completed, c.failed = COMPLETE, None, False, c.completed + 1, c.failed + 1  # noqa: E501
        if isinstance(e, Exception):
            u = x.unretrieved = _Unretrieved(desc, e)
            self._unretrieved.add(u)
        tr = self._trace
        if tr is not None:
            tr.record("ready", t._id, t._n, type(e).__name__)
        self._wake_waiters(x)

    def _bad_yield(self, t: JoinHandle[Any], y: object) -> object:
        """The coroutine yielded something refexec cannot drive: throw a TypeError into it,
        once per poll (a second refusal fails the task: see ``refuse_foreign``)."""
        return t._ctx.run(refuse_foreign, t._coro, t._desc(), y)

    # -- THE place where tasks are polled ---------------------------------------------------------

    def _run_ready(self, budget: int) -> int:
        """Poll up to ``budget`` tasks from the ready queue; return how many were polled.

        This is the only place where tasks are polled. Scheduling rules:

        * FIFO: tasks are polled in the order they entered the ready queue (spawn, wake of an
          IDLE task, or the end of a poll of a NOTIFIED task); a task re-queued during this
          call is polled again in this call if the budget allows, after the ones before it.
          Hence a task in the queue is polled within ``len(ready)`` polls.
        * one poll = one ``coroutine.send(None)``; SCHEDULED --poll--> RUNNING; then
          Ready/raise --> COMPLETE; Pending --> IDLE, or SCHEDULED at the back if it was
          woken during the poll (NOTIFIED) or yielded ``yield_now()`` (wake_by_ref + Pending);
        * a cancel requested during the poll is applied right after a Pending;
        * foreign-thread messages are not looked at here (the caller drains between rounds).
        * under a policy (``Executor(policy=...)``, :func:`refexec.schedule.drive`) the policy
          picks: the chosen task is moved to the head of the queue and this polls it (budget
          1); FIFO above is then the policy ``Fifo``, and other policies pick other orders.

        For speed, the counters of polls, completions and ``yield_now`` wakes are kept in
        locals and added to ``stats`` when the round ends, so code running *inside* a task
        sees them lag by at most the current round; everywhere else they are exact.
        """
        ready = self._ready
        popleft = ready.popleft
        append = ready.append
        idle = self._idle
        runner = self._runner
        trace = self._trace
        c = self._c
        # Counters of this round, kept in locals and added to self._c when it ends.
        i = -1  # index of the current poll: i + 1 polls were started
        emptied = -1  # the index at which the queue ran empty, if it did
        yields = 0
        done = 0
        try:
            # Interrupt safety: the ``for`` takes the head of the queue and stores it in
            # ``runner.current`` in one step (C code pops it: nothing in between checks for
            # signals); from there until the next task, ``runner.current`` names the task in
            # hand, so if an interrupt cuts its transition short, _unwind_poll finishes it.
            for i, runner.current in zip(range(budget), iter(popleft, None)):  # noqa: B007, B905
                t = runner.current
                n = t._n + 1
                t._state = RUNNING; t._n = n  # noqa: E702 (one step: RUNNING exactly when counted)
                if trace is not None:
                    trace.record("poll", t._id, n)
                if n == 1 and t._coro.cr_await is not None:  # started by someone else
                    # before the try: an interrupt here leaves the task to _unwind_poll, as
                    # one anywhere before the send does (it must not fail a task never run)
                    self._fail(t, _stale_coroutine(t._coro, f"the first poll of {t._desc()}"))
                    continue
                try:
                    y = t._ctx.run(_send_none, t._coro)  # in the task's own contextvars
                    if y is not YIELD and y is not PENDING:
                        y = self._bad_yield(t, y)
                except StopIteration as e:  # --ready--> COMPLETE
                    t._result = e.value
                    t._state, t._coro, done = COMPLETE, None, done + 1  # one step (no call)
                    if trace is not None:
                        trace.record("ready", t._id, n)
                    x = t._x
                    if x is not None:
                        x.cancel_requested = False
                        self._wake_waiters(x)
                    continue
                except Exception as e:
                    self._fail(t, e)
                    continue
                except BaseException as e:  # KeyboardInterrupt, SystemExit: propagate
                    if t._coro.cr_frame is None:  # out of the task's code: its outcome
                        self._fail(t, e)
                    raise  # (else it hit the loop right after a Pending: _unwind_poll)
                if y is YIELD:  # RUNNING --wake--> NOTIFIED --pending--> SCHEDULED
                    yields += 1
                    if trace is not None:
                        trace.record("wake_by_ref", t._id, n)
                        trace.record("pending", t._id, n)
                    t._state = SCHEDULED
                    if t._x is None:
                        append(t)
                    else:
                        self._after_pending(t)
                elif t._state is RUNNING:  # --pending--> IDLE
                    t._state = IDLE
                    idle[t._id] = t
                    if t._wakers <= 0:  # no waker kept: maybe lost (_reap_lost)
                        self._maybe_lost.append(t)
                    if trace is not None:
                        trace.record("pending", t._id, n)
                    if t._x is not None:
                        self._after_pending(t)
                else:  # NOTIFIED --pending--> SCHEDULED: exactly one more poll
                    t._state = SCHEDULED
                    if trace is not None:
                        trace.record("pending", t._id, n)
                    if t._x is None:
                        append(t)
                    else:
                        self._after_pending(t)
        except IndexError:  # popleft() on the empty queue: the round ends early
            emptied = i + 1
        except BaseException as exc:
            self._unwind_poll(runner.current, exc, c)
            raise
        finally:  # the round's counters, added in one step
            polls, c.polls, c.completed, c.wakes, c.wakes_during_poll = (p := emptied if emptied >= 0 else i + 1), c.polls + p, c.completed + done, c.wakes + yields, c.wakes_during_poll + yields  # noqa: E501
            runner.current = None
        return polls

    # -- driving --------------------------------------------------------------------------------

    def _reap_lost(self) -> bool:
        """IDLE --lost--> CANCELLED for every IDLE task with no live waker (loop thread).

        Only the tasks noted in ``_maybe_lost`` since the last reap are looked at (a task is
        lost only once IDLE with no waker, and each way there notes it), so reaping at every
        idle point costs what changed, not the number of IDLE tasks (N virtual-clock sleepers:
        O(N) in all, not O(N^2)); the first reap of a drive call looks at every IDLE task."""
        maybe = self._maybe_lost
        if self._reap_all:
            self._reap_all = False
            maybe.clear()
            lost = [t for t in self._idle.values() if t._wakers <= 0 and t._state is IDLE]
        elif not maybe:
            return False
        else:
            lost = list(dict.fromkeys(t for t in maybe if t._wakers <= 0 and t._state is IDLE))
            maybe.clear()
        for t in lost:
            if t._state is IDLE:  # still: dropping one may have woken another's awaiters
                self._lost_verdicts[t._id] = lost_verdict(self, t)
                self._drop_future(t, lost=True)
        return bool(lost)

    def _drive(
        self, until: JoinHandle[Any] | None, sleep: bool, stall_timeout: float | None
    ) -> None:
        """Run rounds of polls, drain the inbox, fire due timers, reap lost tasks, and sleep
        (park, with the next deadline as timeout when a timer is armed) or return."""
        if self._policy is not None:  # every choice made by the policy (refexec.schedule)
            _drive_policy(self, until, sleep, stall_timeout)
            return
        ready = self._ready
        inbox = self._inbox
        timers = self._driver._heap  # the driver hook: one truth test per round when unused
        io = self._driver._regs  # I/O registrations (mutated in place by the driver)
        while True:
            if DEFERRED_INTERRUPTS:  # an interrupt a finalizer could not raise: raise it here
                raise DEFERRED_INTERRUPTS.pop(0)
            if until is not None and until.done():  # block_on(): its target is final, by
                return  # the last round, a drained cancel, a reaped loss, or before the call
            if ready:
                # The driver goes *before* every round, however the loop got here (a drive
                # call's start, a drained inbox, a fired timer, the park's end): a due timer
                # fires and a ready fd is reported before the next poll (EX-TIMER-PROMPT,
                # EX-IO-PROMPT), so a task that wakes itself for ever cannot starve either.
                if timers:
                    self._driver.fire_due()
                if io:
                    _select(self._driver, 0)
                self._run_ready(_ROUND)
                if inbox:
                    self._drain()
                continue
            if inbox:
                self._drain()
                continue
            if timers and self._driver.fire_due():
                continue
            if not self._quiet(until, sleep, stall_timeout):
                return

    def _quiet(self, until: JoinHandle[Any] | None, sleep: bool, stall_timeout: float | None,
               jump: bool = False) -> bool:
        """What a drive loop does when nothing is ready and nothing is due (this loop's and
        the policy's, ``refexec.schedule.drive``): reap lost tasks, return (False) if there is
        no sender left, or park; True: go round again (a drive loop looks at ``until``, the
        target of ``block_on()``, at the top of each turn: reaping may have ended it, and it
        is never final here, so this never parks past it). ``jump``: a virtual
        autojump clock jumps to the next deadline here also when not ``sleep``ing (the policy
        loop's ``run_until_stalled`` runs a program's sleeps to their end)."""
        if self._reap_lost():
            return True
        drv = self._driver
        timers = drv._heap
        inbox = self._inbox
        if jump and timers and not drv.clock.real and drv.clock.autojump and not self._spawners:
            deadline = drv.next_deadline()
            if deadline is not None:
                with self._lock:
                    if not inbox:
                        tr = self._trace
                        if tr is not None:
                            tr.record("clock_jump", None, 0, str(deadline))
                        drv.clock._jump_to(deadline)
                return True
        if not sleep:
            return bool(drv._regs) and _select(drv, 0) > 0  # ready fds are ready tasks
        with self._lock:
            if inbox:
                return True
            if not self._idle and self._spawners == 0:
                return False  # no sender remains
            if (timers or drv._regs) and self._park_timed(stall_timeout):
                return True
            self._sleeping = True
            try:
                woken = self._cond.wait(stall_timeout)
            finally:
                self._sleeping = False
            if not woken and not inbox:
                raise self._stalled(stall_timeout)
        return True

    def _park_timed(self, stall_timeout: float | None) -> bool:
        """The park when a timer or an I/O registration may exist (under ``_lock``, inbox
        empty, loop thread). Returns False to take the plain condition-variable park (nothing
        armed or registered, or a virtual clock moved by hand), True when the loop should go
        round again: a timer is due, the virtual clock jumped to it (autojump: nothing
        runnable, empty inbox, no open spawner, checked under the lock posters take, so no wake
        is in flight), or the park ended (a wake, ready I/O, or the deadline: the loop never
        parks past the next deadline). With I/O registered it parks in ``select()``: it sets
        ``_sleeping`` and ``selecting`` under the lock, releases it, selects; a poster (under
        the lock) then sees them and writes the wakeup byte, so no wake is lost."""
        drv = self._driver
        if drv._foreign:  # dropped on another thread: a waker may go, a task may be lost
            drv.take_foreign()
            return True
        deadline = drv.next_deadline()
        io = drv._regs
        if deadline is None and not io:
            return False
        clock = drv.clock
        now = clock.now_ns()
        if deadline is not None and deadline <= now:
            return True
        timeout: float | None = None
        if not clock.real:
            if clock.autojump and self._spawners == 0 and deadline is not None:
                if io and _select(drv, 0):  # ready I/O first: it is not "nothing to do"
                    return True
                tr = self._trace
                if tr is not None:
                    tr.record("clock_jump", None, 0, str(deadline))
                clock._jump_to(deadline)
                return True
            if not io:
                return False  # VirtualClock.advance() nudges the plain park
        elif deadline is not None:
            timeout = min((deadline - now) / 1e9, threading.TIMEOUT_MAX)
        # stall_timeout bounds every park, a timed one too: a park that ends by it, with
        # nothing woken, no I/O ready and nothing posted, is a stall (Stalled)
        stall = stall_timeout is not None and (timeout is None or stall_timeout < timeout)
        if stall:
            timeout = stall_timeout
        cond = self._cond
        self._sleeping = True
        if io:  # park in select(); a post under the lock writes the wakeup byte instead
            cond.selecting = True
            self._lock.release()
            try:
                woken = _select(drv, timeout) > 0
            finally:
                self._lock.acquire()
                cond.selecting = False
                self._sleeping = False
        else:
            try:
                woken = cond.wait(timeout)
            finally:
                self._sleeping = False
        if stall and not woken and not self._inbox and not drv._foreign:
            raise self._stalled(stall_timeout)
        return True

    def _clock_moved(self) -> None:
        """A virtual clock was advanced by hand: wake the parked loop so it fires what is due
        (the clock stored the new time before calling, so a loop deciding to park sees it)."""
        with self._lock:
            if self._sleeping:
                self._cond.notify()

    def _stalled(self, timeout: float | None) -> Stalled:
        waiting = list(self._idle.values())
        verdicts = diagnose(self)
        by_id = {v.task: v for v in verdicts}
        lines = "".join(f"\n{t._desc()} IDLE with {t._wakers} live waker(s): "
                        f"{by_id[t._id].explain()}" for t in waiting if t._id in by_id)
        what = f"{len(waiting)} task(s) wait for wakes that did not come:{lines}\n" if waiting \
            else f"no task waits, but {self._spawners} Spawner(s) are still open. "
        return Stalled(
            f"the executor saw nothing happen for {timeout} s: {what}Wake or cancel them "
            "(or close the spawners), or run without stall_timeout to wait for ever.",
            waiting,
            verdicts,
        )

    def diagnose(self) -> tuple[Verdict, ...]:
        """Why each waiting (IDLE) task waits: a ``refexec.stall.Verdict`` per task, "lost
        wake", "legitimate wait" or "await cycle", with its await chain (file:line). Costs
        nothing until called (it asks the garbage collector who holds each waker). Call it from
        the loop's thread (inside a task) or between runs."""
        return diagnose(self)

    def _session(self, what: str, aw: object, body: Callable[[], T]) -> T:
        """Mark this thread as the loop's (``_enter``), run ``body``, and clear the mark on
        every way out: the ``try`` begins before the mark is set, so an interrupt at any
        instant after it is set still clears it. (A mark left by an interrupt inside this
        cleanup is reclaimed by the next entry on this thread: see ``_stale``.)"""
        me = _get_ident()
        if self._loop_ident == me and self._stale():
            self._runner.current = None
            self._loop_ident = None
        nested = self._loop_ident == me  # a loop of this executor runs below us: refused
        try:
            self._enter(what, aw)
            return body()
        finally:
            if not nested and self._loop_ident == me:
                r = self._runner
                r.current = None
                r.cx = None  # the last poll's Context: it holds that task, its result and us
                self._loop_ident, self._gate = None, (-1 if self._closed else None)  # one step

    def _stale(self) -> bool:
        """Whether this thread's mark as the loop thread is a leftover: no ``_session`` or
        ``close`` of this executor is running on this thread's stack. (Rare path only.)"""
        f: Any = sys._getframe(2)  # above our caller (a _session or close frame itself)
        while f is not None:
            if f.f_code in _LOOP_CODES and f.f_locals.get("self") is self:
                return False
            f = f.f_back
        return True

    def _enter(self, what: str, aw: object = None) -> None:
        cur = _runner().current
        problem = None
        if cur is not None:
            problem = (
                f"{what} called from inside running {cur!r}: a task cannot drive an executor "
                "(its own executor would be blocked); await the work, or refexec.spawn() it"
            )
        elif self._closed:
            problem = f"{what} called on a closed Executor; create a new Executor"
        with self._lock:
            if problem is None and self._loop_ident is not None:
                problem = f"{what}: this Executor is already running on thread {self._loop_ident}"
            if problem is None:
                self._runner = _runner()
                self._loop_ident = self._gate = _get_ident()
        if problem is not None:
            if type(aw) is CoroutineType:
                aw.close()
            raise RuntimeError(problem)

    def _traced_drive(
        self, what: str, until: JoinHandle[Any] | None, sleep: bool, timeout: float | None
    ) -> None:
        tr = self._trace
        if tr is not None:
            tr.record("run_start", None, 0, what)
        self._reap_all = True
        detail = "interrupted"
        try:
            self._drain()
            self._drive(until, sleep, timeout)
            if DEFERRED_INTERRUPTS:  # one a finalizer swallowed during the last round
                raise DEFERRED_INTERRUPTS.pop(0)
            detail = "done"
        except Stalled:
            detail = "stalled"
            raise
        finally:
            if tr is not None:
                tr.record("run_end", None, 0, detail)

    def run(self, *, stall_timeout: float | None = None) -> RunReport:
        """Run until no sender remains: nothing queued, no live Spawner, no unfinished task a
        live waker could still wake. Tasks that can never be woken again are moved to
        CANCELLED (``lost``) and listed in the report.

        While a live waker could be woken from another thread, waits without spinning. With
        ``stall_timeout``, raises ``Stalled`` when nothing happens for that many seconds.
        ``KeyboardInterrupt``/``SystemExit`` propagate; ``run()`` may then be called again.

        ``stall_timeout`` is ``None`` (wait for ever) or a positive number of seconds; ``inf``
        (or anything beyond ``threading.TIMEOUT_MAX``) means for ever too. Zero, negatives, NaN
        and non-numbers raise ``ValueError``/``TypeError`` here, before anything runs (for
        "return as soon as nothing is ready" call ``run_until_stalled()``).
        """
        timeout = _stall_timeout(stall_timeout)
        return self._session(
            "run()", None,
            lambda: self._reported(lambda: self._traced_drive("run", None, True, timeout)),
        )

    def run_until_stalled(self) -> RunReport:
        """Poll until nothing is ready (after taking in other threads' messages and reaping
        lost tasks); never sleeps. Tasks still waiting on live wakers stay IDLE."""
        return self._session(
            "run_until_stalled()", None,
            lambda: self._reported(
                lambda: self._traced_drive("run_until_stalled", None, False, None)
            ),
        )

    def _reported(self, body: Any) -> RunReport:
        before = self.stats
        self._lost_log = []
        self._lost_verdicts.clear()
        body()
        after = self.stats
        lost = tuple(self._lost_log)
        verdicts = tuple(v for t in lost if (v := self._lost_verdicts.pop(t._id, None)))
        return RunReport(lost, after - before, after, verdicts)

    def step(self) -> bool:
        """Take in other threads' messages, fire due timers and take in ready I/O, then poll
        exactly one task (the head of the ready queue). Returns False if no task was ready.
        Never reaps lost tasks or sleeps. Under a policy (``Executor(policy=...)``) the policy
        chooses, as in ``run()``: the task to poll, and whether other threads' messages or due
        timers are delivered first (each delivery a recorded choice), until one task is polled
        or nothing is left to choose."""
        return self._session("step()", None, self._step)

    def _step(self) -> bool:
        if self._policy is not None:  # the policy chooses (refexec.schedule.step)
            return _step_policy(self)
        self._drain()
        drv = self._driver
        if drv._heap:  # the driver first, as before every round (EX-TIMER-PROMPT, EX-IO-PROMPT)
            drv.fire_due()
        if drv._regs:
            _select(drv, 0)
        return self._run_ready(1) == 1

    def block_on(self, aw: Awaitable[T], *, stall_timeout: float | None = None) -> T:
        """Spawn ``aw`` (or take this executor's JoinHandle), run until it finishes, and return
        its output or raise its exception. Other tasks are driven too (and may stay unfinished).
        Raises ``TaskLost`` if ``aw``'s task can never be woken again. ``stall_timeout`` as for
        :meth:`run` (checked before ``aw`` is spawned; a refused coroutine is closed)."""
        try:
            timeout = _stall_timeout(stall_timeout)
        except (TypeError, ValueError):
            if type(aw) is CoroutineType:
                aw.close()  # it will never run: no "never awaited" warning on top of the error
            raise
        return self._session("block_on()", aw, lambda: self._block_on(aw, timeout))

    def _block_on(self, aw: Awaitable[T], stall_timeout: float | None) -> T:
        if isinstance(aw, JoinHandle) and aw._executor is self:
            h: JoinHandle[T] = aw
        else:
            h = self.spawn(aw)
        self._traced_drive("block_on", h, True, stall_timeout)
        return h.result()

    # -- closing --------------------------------------------------------------------------------

    def close(self) -> None:
        """Cancel every unfinished task, refuse further spawns, and report (warn about) task
        exceptions nobody retrieved. Idempotent; ``RuntimeError`` while running."""
        me = _get_ident()
        tr = self._trace
        with self._lock:
            li = self._loop_ident
            if li is not None and not (li == me and self._stale()):
                raise RuntimeError("close() called while the executor is running")
            # a close() cut short by an interrupt is finished by the next, its reports included
            again = self._closed
            rest = not again or bool(self._ready or self._idle or self._inbox)
            if rest:
                self._closed, self._gate, self._loop_ident = True, -1, me  # one step
                if tr is not None:  # under the lock: no post lands between flag and event
                    tr.record("close_start", None, 0, "again" if again else None)
        if rest:
            detail = "interrupted"
            try:
                self._drain()
                # One task at a time, in its structure until _drop_future makes it final (so
                # an interrupt leaves it there, for the next close()): dropping a future can
                # wake another unfinished task (one that awaits it), which moves it from _idle
                # to _ready.
                ready, idle = self._ready, self._idle
                while ready or idle:
                    t = ready[0] if ready else next(iter(idle.values()))
                    self._drop_future(t, lost=False)
                detail = "done"
            finally:
                self._loop_ident = None
                if tr is not None:
                    tr.record("close_end", None, 0, detail)
        for u in list(self._unretrieved):
            u.report()  # once each (a report disarms it): a second close() repeats none

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, et: object, exc: BaseException | None, tb: object) -> None:
        """``with Executor() as ex:`` is a nursery: leaving the block normally runs the executor
        to completion (``run()``, so a task spawned in the block is never dropped unpolled), then
        closes it. If the block raises, nothing more runs: ``close()`` cancels every unfinished
        task (a started coroutine's ``finally`` blocks run) and the exception propagates. If
        ``run()`` itself raises (``Stalled``, ``KeyboardInterrupt``), the executor is closed the
        same way and that exception propagates. Tasks lost during the final ``run()`` raise
        ``TaskLost`` from their handles, as after any ``run()``."""
        try:
            if exc is None and not self._closed:
                self.run()
        finally:
            self.close()

    # -- inspection -----------------------------------------------------------------------------

    @property
    def policy(self) -> Policy | None:
        """The scheduling policy (``Executor(policy=...)``); None: the reference FIFO loop."""
        return self._policy

    @property
    def clock(self) -> Clock:
        """The clock this executor's timers read (``Executor(clock=...)``)."""
        return self._driver.clock

    @property
    def trace(self) -> Trace | None:
        return self._trace

    @property
    def stats(self) -> Stats:
        c = self._c
        c.spawned = self._spawned
        return Stats(**{name: getattr(c, name) for name in _Counters.__slots__})

    def snapshot(self) -> ExecutorSnapshot:
        """An immutable view for checkers (see :class:`ExecutorSnapshot`)."""
        return ExecutorSnapshot(
            ready=tuple(t._id for t in self._ready),
            tasks=tuple(
                TaskSnapshot(
                    t._id,
                    t._state or SCHEDULED,
                    t._n,
                    t._wakers,
                    t._x is not None and t._x.cancel_requested,
                )
                for t in sorted(self._unfinished(), key=_task_id)
            ),
            running=self._loop_ident is not None,
            sleeping=self._sleeping,
            spawners=self._spawners,
            inbox=len(self._inbox),
            closed=self._closed,
        )

    def check_invariants(self) -> None:
        """Raise ``AssertionError`` naming the first invariant of the state that fails."""

        def require(ok: bool, what: str) -> None:
            if not ok:
                raise AssertionError(f"executor invariant violated: {what}")

        ready = list(self._ready)
        ids = [t._id for t in ready]
        require(len(set(ids)) == len(ids), f"a task is queued twice: {ids}")
        for t in ready:
            require(t._state is SCHEDULED, f"{t!r} is in the ready queue but not SCHEDULED")
        for i, t in self._idle.items():
            require(t._id == i and t._state is IDLE, f"{t!r} is in _idle but not IDLE")
        polled = self._polled()
        unfinished = self._unfinished()
        for t in unfinished:
            i = t._id
            require(t._coro is not None, f"unfinished task {i} has no future")
            require(t._wakers >= 0, f"task {i} has {t._wakers} live wakers")
            x = t._x
            if x is not None and x.cancel_requested:
                require(t is polled, f"task {i} has a pending cancel in state {t._state}")
        require(not self._sleeping or self._loop_ident is not None, "asleep but not running")
        require(self._spawners >= 0, f"{self._spawners} live spawners")
        c = self._c
        c.spawned = self._spawned
        if polled is not None:
            return  # inside a round the counters lag (see _run_ready): the rest holds between
        require(
            c.spawned == c.completed + c.cancelled + c.tasks_lost + len(unfinished),
            f"spawned {c.spawned} != completed {c.completed} + cancelled {c.cancelled} + "
            f"lost {c.tasks_lost} + unfinished {len(unfinished)} (ready + idle + polled)",
        )
        require(c.failed <= c.completed, "more failed than completed tasks")
        require(
            c.wakes == c.wakes_enqueued + c.wakes_merged + c.wakes_during_poll + c.wakes_ignored,
            "wakes != enqueued + merged + during_poll + ignored",
        )
        if polled is None:  # inside a round the poll counter lags (see _run_ready)
            require(
                c.polls >= sum(t._n for t in unfinished),
                "fewer polls than the unfinished tasks' poll counts add up to",
            )

    def _polled(self) -> JoinHandle[Any] | None:
        """The task being polled right now (RUNNING or NOTIFIED), if any."""
        if self._loop_ident is None:
            return None
        cur = self._runner.current
        if isinstance(cur, JoinHandle) and (cur._state is RUNNING or cur._state is NOTIFIED):
            return cur
        return None

    def _unfinished(self) -> list[JoinHandle[Any]]:
        """Every unfinished, accepted task: ready queue, then IDLE, then the polled one."""
        out = [*self._ready, *self._idle.values()]
        polled = self._polled()
        if polled is not None:
            out.append(polled)
        return out

    def __repr__(self) -> str:
        return (
            f"<Executor idle={len(self._idle)} ready={len(self._ready)} "
            f"{'running' if self._loop_ident is not None else 'idle'}>"
        )


_RUN_READY_CODE: Final = Executor._run_ready.__code__

_POSITIONS: dict[CodeType, tuple[int, int, int]] = {}


def _poll_position(exc: BaseException) -> tuple[str, FrameType | None, bool]:
    """Where ``exc`` left ``_run_ready`` (the frame that caught it, the first entry of its
    traceback): ``before`` the send of the task in hand (the poll never started), at the
    ``send`` (inside the task's code, or before its result is stored in ``y``), ``after`` it
    (``y`` holds the result, the outcome is not filed yet), or ``unknown``; with the frame,
    and whether a YIELD's wake was already counted (``yields``). Read from the instruction
    offsets of the frame's own code (so also of a replaced ``_run_ready``), found once per
    code object. Slow path only: an interrupt."""
    tb = exc.__traceback__
    if tb is None or tb.tb_frame.f_code.co_name != "_run_ready":
        return "unknown", None, False
    code = tb.tb_frame.f_code
    pos = _POSITIONS.get(code)
    if pos is None:
        import dis  # noqa: PLC0415 (the slow path only)

        send = stored = yields = -1
        seen = False
        for ins in dis.get_instructions(code):
            # (3.13 fuses a store with its neighbour: STORE_FAST_LOAD_FAST names both)
            names = ins.argval if isinstance(ins.argval, tuple) else (ins.argval,)
            if ins.argval == "_send_none":
                seen = True
            elif seen and send < 0 and ins.opname.startswith("CALL"):
                send = ins.offset
            elif send >= 0 and ins.opname.startswith("STORE_FAST"):
                if stored < 0 and "y" in names:
                    stored = ins.offset
                elif "yields" in names:
                    yields = ins.offset
                    break
        pos = _POSITIONS[code] = (send, stored, yields)
    send, stored, yields = pos
    at = tb.tb_lasti
    if send < 0:
        return "unknown", tb.tb_frame, False
    if at < send:
        return "before", tb.tb_frame, False
    if stored < 0:
        return "unknown", tb.tb_frame, False
    return "send" if at <= stored else "after", tb.tb_frame, 0 <= yields < at


_LOOP_CODES: Final = frozenset({Executor._session.__code__, Executor.close.__code__})


def _task_id(t: JoinHandle[Any]) -> int:
    return t._id


def _check_context(context: object, aw: object) -> contextvars.Context:
    """``spawn(..., context=...)`` checked at the call (a wrong object would otherwise fail at
    the task's first poll, far from the mistake)."""
    if type(context) is not contextvars.Context:
        if type(aw) is CoroutineType:
            aw.close()
        raise TypeError(
            f"spawn(context=...) needs a contextvars.Context (e.g. contextvars.copy_context()), "
            f"got {context!r} of type {type(context).__name__}"
        )
    return context


def _awaitable_name(aw: object) -> str:
    """A task's name: the coroutine's qualified name; for another awaitable, the JoinHandle's
    own name or the type's name (never ``_await_it``, the wrapper that drives it)."""
    if type(aw) is CoroutineType:
        return aw.__qualname__
    if isinstance(aw, JoinHandle):
        return f"await {aw._name}"
    return type(aw).__qualname__


def _close_in(ctx: contextvars.Context, coro: Any) -> None:
    """Close ``coro`` in ``ctx`` (where its code ran), or in the current context if ``ctx`` is
    entered already (a context shared with the task doing the cancelling)."""
    try:
        ctx.run(coro.close)
    except RuntimeError as e:
        if "already entered" not in str(e):
            raise
        coro.close()


_REUSED: Final = "cannot reuse already awaited coroutine"  # CPython's error for a closed one


def _stale_coroutine(coro: Any, where: str) -> RuntimeError:
    """The error for a coroutine that is not fresh where a task must start it.

    A coroutine object runs once, in one place. Spawned after it started (awaited elsewhere,
    run by asyncio, or spawned before), a task would resume someone else's computation.
    ``spawn()`` refuses a suspended coroutine (one load of ``cr_await``; ``cr_frame`` would
    build a frame object per task: +50 % on a trivial spawn and run). Two cases are caught at
    the task's first poll instead, which fails that task with this error without touching the
    coroutine: the same object spawned twice (still fresh at the second spawn; the later task
    finds it started), and a finished one (CPython refuses to resume it; the error is renamed).
    """
    state = inspect.getcoroutinestate(coro)
    return RuntimeError(
        f"{where}: the coroutine {getattr(coro, '__qualname__', coro)!r} is {state}, not "
        "CORO_CREATED: it was already started (awaited, run by another task or event loop, or "
        "spawned twice). A coroutine object runs once; call the async function again for a "
        "fresh one."
    )


def _stall_timeout(value: object) -> float | None:
    """``run(stall_timeout=value)`` checked at the call: ``None`` for no timeout, else seconds.

    Why here: an unchecked value fails far from the call (``OverflowError``/``TypeError`` from
    inside ``threading``) or, for zero, a negative number or NaN, raises ``Stalled`` at once,
    which reads as a bug in the tasks rather than in the argument.
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"stall_timeout must be a number of seconds or None, got {value!r} of type "
            f"{type(value).__name__}"
        )
    try:
        seconds = float(value)
    except OverflowError:  # an int too large for a float: longer than anyone waits
        return None
    if math.isnan(seconds) or seconds <= 0:
        raise ValueError(
            f"stall_timeout must be a positive number of seconds (or None to wait for ever), got "
            f"{value!r}; to return as soon as nothing is ready, call run_until_stalled()"
        )
    if seconds > threading.TIMEOUT_MAX:  # inf included: no timeout
        return None
    return seconds
