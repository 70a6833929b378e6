"""Controlled interleaving of refexec's own threads: the door's races, driven deterministically.

Under test, the threads that touch an :class:`~refexec.Executor` (the loop thread and the
"other threads" that wake, drop, clone, spawn or cancel) are *managed*: they are real threads,
but only one of them runs at a time. A managed thread gives up control only at a *scheduling
point*; there the :class:`Controller` asks a :class:`refexec.schedule.Policy` (the same core
that schedules users' programs: ``choose(kind, options) -> index``) which managed thread runs
next. Option 0 is always "the current thread goes on", so a schedule's deviations from FIFO are
exactly its *preemptions*, the FIFO schedule is "switch only when blocked", and
``str(controller.schedule)`` replays the interleaving (``Replay(schedule)``).

Which points are controlled (:func:`control_door` installs them on one executor; nothing in
``refexec.executor`` changes, so an executor not under test pays nothing):

* the door's lock (``_lock``): every ``acquire`` is a point, and blocks while another managed
  thread holds it; ``release`` is not a point (see the reduction below);
* the door's condition (``_cond``): ``wait`` releases the lock and blocks until a ``notify``
  (a ``wait(timeout)`` times out only when no managed thread can run: a *timeout is a state*,
  "nothing else can happen", never an amount of time); ``notify`` without the lock raises, as
  ``threading.Condition`` does;
* the inbox (``_inbox``): ``append`` (a poster) and every emptiness/length test (the loop) are
  points;
* the sleeping flag (``_sleeping``): every read and write is a point;
* what other threads do goes through those (a waker's wake / wake_by_ref / clone / drop, a
  ``JoinHandle.cancel()``, a ``Spawner``'s spawn and close all start with the door's lock), and
  the test harness adds its own (:class:`ControlledRLock` for the lockstep log, and
  :meth:`Controller.block_until` for a helper waiting for work).

Why the rest cannot matter. Only one managed thread runs at a time, so between two points a
thread runs alone (the GIL makes each bytecode atomic anyway; here whole stretches are). Other
threads touch only the door (the module invariant of ``refexec.executor``: task states, the
ready queue and the live-waker counts belong to the loop thread); every access to the door's
state is either under the lock (so no other thread can interleave with it: its acquire blocks)
or is itself a point (inbox append and length, the flag). An interleaving that switches threads
anywhere else is equivalent to one that switches at the next point of the same thread, because
what runs in between touches only the thread's own state. That is also the *reduction* used by
:func:`explore`: preempt only *before* a visible operation (a point), never after a release.
Not controlled: ``_spawners`` and ``_closed``, read and written only under the lock; the
``select()`` park of ``_park_timed`` (taken only with sockets registered, which the checks that
use this module never do); threads that are not managed (a managed thread that blocks on an
uncontrolled primitive is reported as a :class:`ControlError` after a safety delay, never hangs).

:func:`explore` runs a scenario under every interleaving with at most ``preemptions``
preemptions (depth-first over the choice tree), then ``random_runs`` seeded random and
``pct_runs`` PCT ones; the first failure raises :class:`InterleavingFailure`, whose message holds
the schedule that replays it.
"""

from __future__ import annotations

import gc
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from refexec.executor import Executor
from refexec.schedule import PCT, Fifo, Policy, RandomPolicy, Recorder, Replay, Schedule

__all__ = [
    "ControlError",
    "ControlledCondition",
    "ControlledDeadlock",
    "ControlledInbox",
    "ControlledRLock",
    "Controller",
    "ThreadOwnershipError",
    "Drawn",
    "InterleavingFailure",
    "control_door",
    "explore",
]

SAFETY: Final = 60.0
"""Seconds a managed thread waits for its turn before the controller reports that some thread
blocked outside its control (a safety net against hanging a test run; never reached otherwise)."""

KIND: Final = "thread"
"""The ``kind`` of the controller's choices (``Policy.choose(kind, options)``)."""

T = TypeVar("T")


class ControlError(RuntimeError):
    """The controlled world was left: a managed thread blocked on something not controlled."""


class ControlledDeadlock(RuntimeError):
    """Every managed thread is blocked and none waits with a timeout: nothing can ever run."""


class _Abort(BaseException):
    """Unwinds a managed thread when the controlled section ends early (another one failed)."""


class _Managed:
    __slots__ = ("aborted", "done", "error", "index", "name", "notified", "sem", "timed",
                 "timed_out", "wait", "what")

    def __init__(self, name: str, index: int) -> None:
        self.name = name
        self.index = index
        self.sem = threading.Semaphore(0)
        self.wait: Callable[[], bool] | None = None  # blocked until this holds
        self.what = ""  # what it is blocked on (for reports)
        self.timed = False
        self.timed_out = False
        self.aborted = False
        self.done = False
        self.error: BaseException | None = None
        self.notified = False

    def runnable(self) -> bool:
        w = self.wait
        return not self.done and (w is None or w())


_active: Controller | None = None


def _point(kind: str) -> None:
    c = _active
    if c is not None:
        c.point(kind)


class Controller:
    """Runs managed threads one at a time; at each point ``policy`` picks the next one.

    Use::

        ctl = Controller(RandomPolicy(7))
        with ctl.attached("loop"):          # this thread is managed thread 0
            ctl.start("poster", post)       # another managed thread
            ex.run()                        # runs, switching only at points
        print(ctl.schedule)                 # the interleaving, replayable with Replay()

    ``attached`` returns once every managed thread has finished; an exception in another
    managed thread is re-raised there. ``max_choices`` bounds the choices of one section (a
    livelock guard: ``ControlError`` beyond it).
    """

    def __init__(self, policy: Policy | None = None, *, max_choices: int = 50_000) -> None:
        self.recorder = Recorder(Fifo() if policy is None else policy, keep_choices=True)
        self.max_choices = max_choices
        self.points = 0
        self.preemptions = 0
        self.current_continues: list[bool] = []  # per choice: was option 0 "go on"?
        self.interrupt_at: int | None = None
        """Interrupt the loop thread at its n-th inbox check between polls (see
        ``ControlledInbox``): an interrupt between two model steps."""
        self.loop_checks = 0
        self.interrupted = False
        self._threads: list[_Managed] = []
        self._by_ident: dict[int, _Managed] = {}
        self._current: _Managed | None = None
        self._aborting = False
        self._switching = False

    @property
    def schedule(self) -> Schedule:
        """The interleaving so far, as deviations from "go on" (``Replay`` replays it)."""
        return self.recorder.schedule

    @property
    def choices(self) -> list[tuple[tuple[str, ...], int]]:
        return self.recorder.choices

    # -- threads --------------------------------------------------------------------------

    def _me(self) -> _Managed | None:
        return self._by_ident.get(threading.get_ident())

    @contextmanager
    def attached(self, name: str = "main") -> Iterator[Controller]:
        """Make this thread managed thread 0 for the body; then wait for the others."""
        global _active
        if _active is not None:
            raise ControlError("a controlled section is already active")
        me = _Managed(name, 0)
        self._threads = [me]
        self._by_ident = {threading.get_ident(): me}
        self._current = me
        # No cyclic GC inside: a finalizer it runs (a Spawner's, a Waker's) would take points
        # at an arbitrary allocation, even inside the controller; refcount finalizers stay, at
        # the deterministic places where the program drops its last reference.
        gc_was = gc.isenabled()
        gc.disable()
        _active = self
        failed = False
        try:
            yield self
        except BaseException:
            failed = True
            raise
        finally:
            others = self._threads[1:]
            try:
                self._aborting = failed
                try:
                    while not all(t.done for t in others):
                        self.block_until(lambda: all(t.done for t in others), "join")
                except ControlledDeadlock:
                    # the others can never finish: unwind them (none is left running), then
                    # report the deadlock unless the body failed first
                    self._aborting = True
                    while not all(t.done for t in others):
                        self.block_until(lambda: all(t.done for t in others), "join")
                    if not failed:
                        raise
            finally:
                _active = None
                self._by_ident.clear()
                if gc_was:
                    gc.enable()
            errors = [t.error for t in self._threads[1:] if t.error is not None]
            if errors and not failed:
                raise errors[0]

    def start(self, name: str, fn: Callable[[], object]) -> None:
        """Start ``fn`` on a new managed thread (it first runs when the policy picks it)."""
        me = self._me()
        if me is None:
            raise ControlError("start() from a thread that is not managed")
        if any(t.name == name for t in self._threads):
            raise ValueError(f"a managed thread named {name!r} exists already")
        m = _Managed(name, len(self._threads))
        self._threads.append(m)

        def body() -> None:
            self._by_ident[threading.get_ident()] = m
            self._wait_turn(m)
            try:
                if not m.aborted:
                    fn()
            except _Abort:
                pass
            except BaseException as e:  # re-raised by attached() on thread 0
                m.error = e
            finally:
                m.done = True
                self._pass_on(m)

        threading.Thread(target=body, name=f"managed-{name}", daemon=True).start()
        self.point("start")

    # -- the choice -----------------------------------------------------------------------

    def point(self, kind: str) -> None:
        """A scheduling point of the calling thread (a no-op for an unmanaged thread)."""
        me = self._me()
        if me is None or me.aborted or self._switching:
            return  # (a finalizer run inside the controller itself takes no point)
        self.points += 1
        self._switch(me)
        if self._aborting and me.index and not me.aborted:
            me.aborted = True
            raise _Abort

    def block_until(self, ready: Callable[[], bool], what: str, *, timed: bool = False) -> bool:
        """Block the calling managed thread until ``ready()``; False if it timed out instead
        (``timed``: only when no managed thread can run). Raises ``ControlledDeadlock`` when no
        thread can ever run again."""
        me = self._me()
        if me is None:
            raise ControlError(f"block_until({what}) from a thread that is not managed")
        if ready():
            return True
        if me.aborted:  # unwinding: never block again
            raise _Abort
        me.wait, me.what, me.timed, me.timed_out = ready, what, timed, False
        try:
            self.points += 1
            self._switch(me)
        finally:
            me.wait = None
        if me.timed_out:
            return False
        if not ready():
            if me.aborted or (self._aborting and me.index):
                me.aborted = True
                raise _Abort
            raise ControlledDeadlock(self._deadlock_report(me))
        return True

    def _candidates(self, me: _Managed) -> list[_Managed]:
        out = [me] if me.runnable() else []
        out += [t for t in self._threads if t is not me and t.runnable()]
        if out:
            return out
        # Nothing can run: time out a timed waiter, or release a thread to report the deadlock
        # (or, when aborting, to unwind).
        waiting = [t for t in self._threads if not t.done]
        if self._aborting:  # the other threads unwind first; thread 0 waits for them
            waiting.sort(key=lambda t: t.index == 0)
        if not waiting:
            return []
        timed = [t for t in waiting if t.timed]
        chosen = timed[0] if timed else waiting[0]
        chosen.timed_out = bool(timed)
        chosen.wait = None
        return [chosen]

    def _switch(self, me: _Managed) -> None:
        nxt = self._next(me)
        if nxt is not None and nxt is not me:
            self._current = nxt
            nxt.sem.release()  # from here on ``nxt`` runs; this thread only waits
            self._wait_turn(me)

    def _pass_on(self, me: _Managed) -> None:
        """``me`` finished: hand control to the next thread, if any."""
        nxt = self._next(me)
        if nxt is not None:
            self._current = nxt
            nxt.sem.release()

    def _next(self, me: _Managed) -> _Managed | None:
        """The policy's pick among the threads that can run (``me`` first if it can)."""
        self._switching = True
        try:
            cands = self._candidates(me)
            if not cands:
                return None
            if len(cands) == 1:
                return cands[0]
            if self.recorder.steps >= self.max_choices:
                raise ControlError(f"more than {self.max_choices} scheduling choices (a livelock?)")
            i = self.recorder.choose(KIND, [f"thread:{t.name}" for t in cands])
            goes_on = cands[0] is me
            self.current_continues.append(goes_on)
            if i and goes_on:
                self.preemptions += 1
            return cands[i]
        finally:
            self._switching = False

    def _wait_turn(self, me: _Managed) -> None:
        if not me.sem.acquire(timeout=SAFETY):
            raise ControlError(
                f"managed thread {me.name!r} waited {SAFETY} s for its turn: thread "
                f"{self._current.name if self._current else '?'!r} blocked on something not "
                "controlled (a real lock, a sleep, I/O)"
            )

    def _deadlock_report(self, me: _Managed) -> str:
        def state(t: _Managed) -> str:
            if not t.done:
                return "blocked on " + (t.what or "?")
            if t.error is not None:  # often the cause: it died before doing its part
                return f"died: {type(t.error).__name__}: {t.error}"
            return "done"

        rest = ", ".join(f"{t.name} ({state(t)})" for t in self._threads)
        return (f"every managed thread is blocked and none can be woken: {rest}; "
                f"interleaving {self.schedule}")

    # -- for the controlled primitives ----------------------------------------------------

    def managed(self) -> bool:
        return self._me() is not None


def _ident() -> int:
    return threading.get_ident()


class ControlledRLock:
    """A re-entrant lock whose ``acquire`` is a scheduling point (see the module docstring).

    Outside a controlled section (or from an unmanaged thread) it is an owner count that must
    be uncontended: the callers of the lockstep machine run one thread at a time there."""

    def __init__(self, name: str = "lock", *, choice: bool = True) -> None:
        self.name = name
        self.choice = choice
        """Whether ``acquire`` is a choice point; a harness lock (the lockstep log's) only
        blocks while another managed thread holds it: the executor's races are not in it."""
        self._owner: int | None = None
        self._count = 0

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        me = _ident()
        c = _active
        if c is not None and c.managed():
            if self.choice:
                c.point(f"{self.name}.acquire")
            if self._owner not in (None, me):
                if not blocking:
                    return False
                c.block_until(lambda: self._owner is None, f"{self.name}.acquire")
        elif self._owner not in (None, me):
            raise ControlError(f"{self.name} is contended by a thread that is not managed")
        self._owner = me
        self._count += 1
        return True

    def release(self) -> None:
        if self._owner != _ident():
            raise RuntimeError("cannot release un-acquired lock")
        self._count -= 1
        if self._count == 0:
            self._owner = None

    __enter__ = acquire

    def __exit__(self, *exc: object) -> None:
        self.release()

    def _is_owned(self) -> bool:
        return self._owner == _ident()

    def _release_all(self) -> int:
        n, self._count, self._owner = self._count, 0, None
        return n

    def _reacquire(self, n: int) -> None:
        c = _active
        if self._owner is not None and c is not None:
            c.block_until(lambda: self._owner is None, f"{self.name}.reacquire")
        self._owner, self._count = _ident(), n


class ControlledCondition:
    """The door's condition variable over a :class:`ControlledRLock` (see the module docstring).

    ``selecting`` and ``driver`` mirror ``refexec.driver.DoorCondition``; the ``select()`` park
    is not controlled (nothing under control registers sockets)."""

    def __init__(self, lock: ControlledRLock, driver: Any = None) -> None:
        self.lock = lock
        self.driver = driver
        self.selecting = False
        self._waiters: deque[list[bool]] = deque()

    def wait(self, timeout: float | None = None) -> bool:
        if not self.lock._is_owned():
            raise RuntimeError("cannot wait on un-acquired lock")
        c = _active
        if c is None or not c.managed():
            raise ControlError("a controlled condition was waited on outside a controlled section")
        cell = [False]
        self._waiters.append(cell)
        n = self.lock._release_all()
        try:
            ok = c.block_until(lambda: cell[0], "cond.wait", timed=timeout is not None)
        finally:
            if not cell[0]:
                self._waiters.remove(cell)
            self.lock._reacquire(n)
        return ok

    def notify(self, n: int = 1) -> None:
        if not self.lock._is_owned():
            raise RuntimeError("cannot notify on un-acquired lock")
        for _ in range(min(n, len(self._waiters))):
            self._waiters.popleft()[0] = True

    def notify_all(self) -> None:
        self.notify(len(self._waiters))


class ControlledInbox(deque[Any]):
    """The inbox whose ``append`` and emptiness tests are scheduling points, and (with
    ``Controller.interrupt_at``) where the loop thread is interrupted."""

    owner: Executor | None = None

    def append(self, x: Any) -> None:
        _point("inbox.append")
        super().append(x)

    def __len__(self) -> int:
        _point("inbox.len")
        _maybe_interrupt(self)
        return super().__len__()

    def __bool__(self) -> bool:
        _point("inbox.len")
        _maybe_interrupt(self)
        return super().__len__() > 0


def _maybe_interrupt(inbox: ControlledInbox) -> None:
    """``KeyboardInterrupt`` at the loop's ``interrupt_at``-th inbox check *between polls*
    (the loop thread, the door's lock not held: the model's DISPATCH, where ``step_return``
    gives the thread back), as a signal arriving just before that bytecode would."""
    c = _active
    ex = inbox.owner
    if c is None or c.interrupt_at is None or ex is None:
        return
    if ex._loop_ident != threading.get_ident() or ex._lock._is_owned():  # type: ignore[attr-defined]
        return
    c.loop_checks += 1
    if c.loop_checks == c.interrupt_at:
        c.interrupted = True
        raise KeyboardInterrupt(f"controlled interrupt at the loop's inbox check {c.loop_checks}")


class ThreadOwnershipError(AssertionError):
    """A loop-only transition ran on another thread while a loop runs (see ``control_door``)."""


def _loop_only(name: str) -> Any:
    base = getattr(Executor, name)

    def checked(self: Executor, *args: Any, **kwargs: Any) -> Any:
        me = threading.get_ident()
        li = self._loop_ident
        if li is not None and li != me:
            raise ThreadOwnershipError(
                f"thread ownership: Executor.{name} (loop thread only) ran on thread "
                f"{threading.current_thread().name!r} while the loop runs on another: other "
                "threads may touch only the door")
        inside: dict[int, int] = self.__dict__.setdefault("_inside_transition", {})
        others = [t for t, depth in inside.items() if depth and t != me]
        if others:  # one began with no loop running, and a loop started before it ended
            raise ThreadOwnershipError(
                f"thread ownership: Executor.{name} ran on thread "
                f"{threading.current_thread().name!r} while thread {others[0]} is inside a task "
                "transition: two threads changed the tasks at once")
        inside[me] = inside.get(me, 0) + 1
        try:
            return getattr(Executor, name)(self, *args, **kwargs)
        finally:
            inside[me] -= 1

    checked.__name__ = checked.__qualname__ = name
    checked.__doc__ = base.__doc__
    return checked


_LOOP_ONLY: Final = ("_wake", "_cancel", "_drop_future", "_accept", "_drain")
"""The executor's task transitions; the module invariant of ``refexec.executor`` says only the
loop thread runs them while a loop runs (other threads touch only the door). The reduction of
this module's docstring rests on that invariant, so the controlled executor checks it."""


class _ControlledExecutor(Executor):
    """An Executor whose ``_sleeping`` flag is a scheduling point (made by ``control_door``)
    and whose task transitions check that they run on the loop thread (:data:`_LOOP_ONLY`)."""

    _round: int = 0
    """With ``control_door(ex, round=R)``: polls per round (the executor's ``_ROUND``, 256, is
    out of reach of a bounded model run); 0 keeps the executor's own."""

    def _run_ready(self, budget: int) -> int:
        r = self._round
        return Executor._run_ready(self, min(budget, r) if r else budget)

    _wake = _loop_only("_wake")
    _cancel = _loop_only("_cancel")
    _drop_future = _loop_only("_drop_future")
    _accept = _loop_only("_accept")
    _drain = _loop_only("_drain")

    @property
    def _sleeping(self) -> bool:
        _point("sleeping.read")
        return self.__dict__["_sleeping_flag"]  # type: ignore[no-any-return]

    @_sleeping.setter
    def _sleeping(self, value: bool) -> None:
        _point("sleeping.write")
        self.__dict__["_sleeping_flag"] = value


def control_door(ex: Executor, *, round: int = 0) -> Executor:
    """Put ``ex``'s door under control (idle executor only): its lock, condition, inbox and
    sleeping flag become the controlled kind. Returns ``ex``. Test-only; the executor's own
    code is unchanged (its door objects are instance attributes, swapped here).

    ``round`` > 0: a round of polls (``_drive``'s ``_run_ready(_ROUND)``, after which the inbox
    is drained) is at most ``round`` polls, so that a model with the same ``round`` bound (and
    its property EX-INBOX-PROMPT) can follow a task that is ready for ever: the same code,
    with the constant the model can reach."""
    if ex._loop_ident is not None:
        raise ControlError("control_door() on a running executor")
    if type(ex) is _ControlledExecutor:
        if round:
            ex._round = round
        return ex
    if type(ex) is not Executor:
        raise TypeError(f"control_door() needs a refexec.Executor, got {type(ex).__name__}")
    flag = ex.__dict__.pop("_sleeping")
    lock = ControlledRLock("door")
    ex._lock = lock  # type: ignore[assignment]
    ex._cond = ControlledCondition(lock, ex._driver)  # type: ignore[assignment]
    ex._inbox = ControlledInbox(ex._inbox)
    ex._inbox.owner = ex
    ex.__class__ = _ControlledExecutor
    ex.__dict__["_sleeping_flag"] = flag
    if round:
        ex._round = round  # type: ignore[attr-defined]
    return ex


# ------------------------------------------------------------------------------------------
# Policies fed by a test, and exploration


class Drawn:
    """A policy that takes its choices from a list of ints (``choices[i] % len(options)`` at
    the ``i``-th choice, then 0: "go on"). Hypothesis draws the list, so an interleaving
    shrinks like any other argument: towards fewer, earlier, smaller preemptions."""

    def __init__(self, choices: Sequence[int]) -> None:
        self.choices = list(choices)
        self.i = 0

    def choose(self, kind: str, options: Sequence[str]) -> int:
        i = self.i
        self.i += 1
        return self.choices[i] % len(options) if i < len(self.choices) else 0

    def __repr__(self) -> str:
        return f"Drawn({self.choices!r})"


class InterleavingFailure(AssertionError):
    """A scenario failed under one interleaving; the message holds the schedule that replays
    it (``explore(..., replay="...")`` or ``Replay(schedule)``)."""

    def __init__(self, message: str, schedule: Schedule, runs: int) -> None:
        super().__init__(message)
        self.schedule = schedule
        self.runs = runs


@dataclass(frozen=True)
class Explored:
    """What :func:`explore` ran: interleavings tried in each mode, and the deepest choice."""

    exhaustive: int
    complete: bool
    random: int
    pct: int
    max_choices: int


def _run_one(scenario: Callable[[Controller], None], policy: Policy) -> Controller:
    ctl = Controller(policy)
    scenario(ctl)
    return ctl


def explore(
    scenario: Callable[[Controller], None],
    *,
    preemptions: int = 2,
    max_exhaustive: int = 5000,
    random_runs: int = 0,
    pct_runs: int = 0,
    seed: int = 0,
    replay: str | None = None,
) -> Explored:
    """Run ``scenario(controller)`` under many interleavings; raise on the first failure.

    ``scenario`` builds its world afresh each time and runs it inside
    ``controller.attached(...)``; any exception is a failure. First every interleaving with at
    most ``preemptions`` preemptions, depth first (stopping after ``max_exhaustive`` runs:
    ``Explored.complete`` says whether the bound was covered), then ``random_runs`` with
    ``RandomPolicy(seed + i)`` and ``pct_runs`` with ``PCT(seed + i)``. With ``replay``, only
    that schedule is run (``Replay``)."""

    def fail(e: BaseException, ctl_schedule: Schedule, runs: int, how: str) -> InterleavingFailure:
        return InterleavingFailure(
            f"{how} interleaving {ctl_schedule} (replay: explore(..., "
            f"replay={str(ctl_schedule)!r})) failed after {runs} run(s): "
            f"{type(e).__name__}: {e}", ctl_schedule, runs)

    if replay is not None:
        rp = Replay(replay)
        ctl = Controller(rp)
        try:
            scenario(ctl)
        except Exception as e:
            raise fail(e, ctl.schedule, 1, "replayed") from e
        return Explored(0, False, 0, 0, ctl.recorder.steps)
    runs = 0
    deepest = 0
    stack: list[list[int]] = [[]]
    complete = True
    while stack:
        if runs >= max_exhaustive:
            complete = False
            break
        prefix = stack.pop()
        ctl = Controller(Drawn(prefix))
        runs += 1
        try:
            scenario(ctl)
        except Exception as e:
            raise fail(e, ctl.schedule, runs, "bounded-exhaustive") from e
        taken = [i for _, i in ctl.choices]
        goes_on = ctl.current_continues
        deepest = max(deepest, len(taken))
        start = min(len(prefix), len(taken))
        used = sum(1 for i, g in zip(taken[:start], goes_on, strict=False) if i and g)
        # every child deviates once at a step after the prefix (choices there were all 0)
        for j in range(len(taken) - 1, start - 1, -1):
            if goes_on[j] and used + 1 > preemptions:
                continue
            for k in range(len(ctl.choices[j][0]) - 1, 0, -1):
                stack.append([*taken[:j], k])
    for i in range(random_runs):
        ctl = Controller(RandomPolicy(seed + i))
        try:
            scenario(ctl)
        except Exception as e:
            raise fail(e, ctl.schedule, runs + i + 1, f"random (seed {seed + i})") from e
    for i in range(pct_runs):
        ctl = Controller(PCT(seed + i, depth=3, max_steps_estimate=max(deepest, 1)))
        try:
            scenario(ctl)
        except Exception as e:
            raise fail(e, ctl.schedule, runs + random_runs + i + 1, f"PCT (seed {seed + i})") from e
    return Explored(runs, complete, random_runs, pct_runs, deepest)
