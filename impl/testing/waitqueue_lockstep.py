"""``refexec.WaitQueue`` and the ``waitqueue`` model in lockstep, on one thread.

Each rule is one model action, its precondition the action's guard in the current model state
(for some task; the rule's ``k`` picks the k-th task it is enabled for); the rule does the same
thing to the implementation:

=================  ==========================================================================
model action       implementation
=================  ==========================================================================
``acquire(t)``     ``wq.acquire()`` polled once: Ready(GRANTED) at once
``park(t)``        ``wq.acquire()`` or ``wq.wait()`` polled once: Pending, a waker clone kept
``release(t)``     ``wq.release()``
``notify_one``     ``wq.notify(1)``
``notify_all``     ``wq.notify_all()``
``close``          ``wq.close()``
``park_faulty(t)`` as ``park``, polled with a foreign waker whose wake and drop raise
``poll_chosen(t)`` the chosen waiter's future polled again: Ready(how it was woken)
``cancel_*(t)``    the task's future is dropped (the last reference goes, as when refexec
                   cancels a task and closes its coroutine)
=================  ==========================================================================

Each task polls with a counting waker. After every rule the machine checks the refinement
mapping ``abstraction(wq) == model state`` (spec/SPEC.md, "The wait-queue model"):
``ws[t]`` is the state of t's future (QUEUED, a :class:`~refexec.Woken`, or OUT for none /
done; CLOSED maps to BROADCAST), ``q`` the queue's waiters in order, ``permits``, ``closed``,
``held`` as the tasks' own book; the ghost ``wakes[t]`` equals the wakes t's waker received
during its current wait; a task has a live waker clone exactly while it is QUEUED; and every
property of the model holds (invariants on the state, step properties on each transition).
"""

from __future__ import annotations

import sys
from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from refexec.models import waitqueue as model
from refexec.models.concrete import ConcreteModel
from refexec.models.waitqueue import WS_NAMES
from refexec.poll import Pending, Ready
from refexec.testing.vtable_faults import VTableFault
from refexec.waitqueue import Waiting, WaitQueue, Woken
from refexec.waker import Context, RawWaker, RawWakerVTable, Waker

__all__ = [
    "CountingWaker",
    "ExecutorSemaphore2Lockstep",
    "FaultyWaker",
    "ExecutorSemaphoreLockstep",
    "VTableFault",
    "WaitQueueLockstep",
    "abstraction",
]

N_TASKS = 3


class CountingWaker:
    """A waker's data that counts live clones and wakes (the test's view of the executor)."""

    __slots__ = ("live", "wakes")

    def __init__(self) -> None:
        self.live = 0
        self.wakes = 0

    def waker(self) -> Waker:
        """An owned handle the test keeps (not counted in ``live``)."""
        return Waker(RawWaker(self, _VTABLE))


def _clone(c: CountingWaker) -> RawWaker:
    c.live += 1
    return RawWaker(c, _VTABLE)


def _wake(c: CountingWaker) -> None:
    c.wakes += 1
    c.live -= 1


def _wake_by_ref(c: CountingWaker) -> None:
    c.wakes += 1


def _drop(c: CountingWaker) -> None:
    c.live -= 1


_VTABLE = RawWakerVTable(_clone, _wake, _wake_by_ref, _drop)


class FaultyWaker:
    """The data of a *foreign* waker (a combinator's own vtable) around a task's
    :class:`CountingWaker`: each ``wake`` / ``drop`` does its job on the task's counter and
    then raises :class:`VTableFault` (the model's ``faulty``: whichever call refexec makes on
    the held waker raises); with ``clone_raises`` its ``clone`` raises before making anything.
    ``calls`` counts refexec's calls that raised."""

    __slots__ = ("calls", "clone_raises", "inner", "owned", "quiet")

    def __init__(self, inner: CountingWaker, *, clone_raises: bool = False) -> None:
        self.inner = inner
        self.clone_raises = clone_raises
        self.calls = 0
        self.owned = False
        self.quiet = False  # the machine's teardown: no fault any more

    def waker(self) -> Waker:
        """The harness's own handle (not counted); end it with :meth:`end`."""
        return Waker(RawWaker(self, _FAULTY))

    def end(self, handle: Waker) -> None:
        """End the harness's handle: no count, no fault (only refexec's calls are tested)."""
        self.owned = True
        try:
            handle.drop()
        finally:
            self.owned = False

    def _raise(self, op: str) -> None:
        if self.quiet:
            return
        self.calls += 1
        raise VTableFault(f"{op}() of a foreign waker raised")


def _f_clone(f: FaultyWaker) -> RawWaker:
    if f.clone_raises:
        f._raise("clone")
    f.inner.live += 1
    return RawWaker(f, _FAULTY)


def _f_wake(f: FaultyWaker) -> None:
    _wake(f.inner)
    f._raise("wake")


def _f_wake_by_ref(f: FaultyWaker) -> None:
    _wake_by_ref(f.inner)
    f._raise("wake_by_ref")


def _f_drop(f: FaultyWaker) -> None:
    if f.owned:
        return
    _drop(f.inner)
    f._raise("drop")


_FAULTY = RawWakerVTable(_f_clone, _f_wake, _f_wake_by_ref, _f_drop)


class _Caught:
    """Runs a call that may raise the faulty wakers' :class:`VTableFault` (directly or as the
    finalizer's unraisable error); :attr:`raised` says whether it did."""

    def __init__(self) -> None:
        self.raised = False

    def __enter__(self) -> _Caught:
        self._hook = sys.unraisablehook
        sys.unraisablehook = self._unraisable
        return self

    def _unraisable(self, u: Any) -> None:
        if isinstance(u.exc_value, VTableFault):
            self.raised = True
        else:
            self._hook(u)

    def __exit__(self, typ: Any, exc: Any, tb: Any) -> bool:
        sys.unraisablehook = self._hook
        if isinstance(exc, VTableFault):
            self.raised = True
            return True
        return False

_WS = {1: model.QUEUED, Woken.GRANTED: model.GRANTED, Woken.NOTIFIED: model.NOTIFIED,
       Woken.BROADCAST: model.BROADCAST, Woken.CLOSED: model.BROADCAST}


def abstraction(wq: WaitQueue, futs: list[Waiting[Any] | None], held: list[int]
                ) -> dict[str, Any]:
    """The model state (without ghosts) that ``wq`` and the tasks' futures stand for."""
    n = len(futs)
    owner = {id(f._node): t for t, f in enumerate(futs) if f is not None}
    q = [owner[id(w)] for w in wq.waiters()]
    return {
        "ws": tuple(model.OUT if f is None else _WS.get(f.state, model.OUT) for f in futs),
        "held": tuple(held),
        "permits": wq.permits,
        "q": tuple(q + [n] * (n - len(q))),
        "qlen": len(q),
        "closed": wq.closed,
    }


class _ModelLockstep(RuleBasedStateMachine):
    """What every machine of this module shares: the wait-queue model at ``permits``, stepped
    by :meth:`fire` (each step checked against the model's properties), and the task choice
    :meth:`pick` (the ``k``-th task, cyclically, for which one of the named actions is
    enabled: every draw is valid, so no example is rejected, and a printed ``k`` replays the
    same choice)."""

    permits = 0
    faults = 0
    """1: the model has ``park_faulty`` (waiters whose foreign wakers raise) and ``raised``."""

    def __init__(self) -> None:
        super().__init__()
        self.system = model.build(model.default_bounds(N_TASKS, permits=self.permits,
                                                       faults=self.faults))
        self.m = ConcreteModel(self.system)
        self.s = self.m.initial()

    def enabled(self, name: str, **params: int) -> bool:
        return bool(self.m.is_enabled(self.s, self.system.action(name), params))

    def tasks_for(self, *names: str) -> list[int]:
        """The tasks for which one of the actions ``names`` is enabled."""
        return [t for t in range(N_TASKS) if any(self.enabled(n, t=t) for n in names)]

    def pick(self, name: str, k: int, *others: str) -> int | None:
        ts = self.tasks_for(name, *others)
        return ts[k % len(ts)] if ts else None

    def can(self, name: str, *others: str) -> bool:
        return bool(self.tasks_for(name, *others))

    def fire(self, name: str, **params: int) -> None:
        before = self.s
        self.s = self.m.step(before, name, **params)
        bad = self.m.check_step(before, self.s, name, params)
        assert not bad, f"{name}{params} breaks {bad}"


class _HandPolled(_ModelLockstep):
    """Tasks that poll by hand, each with its own :class:`CountingWaker`."""

    def __init__(self) -> None:
        super().__init__()
        self.counters = [CountingWaker() for _ in range(N_TASKS)]
        self.owners = [c.waker() for c in self.counters]
        self.held = [0] * N_TASKS

    def cx(self, t: int) -> Context:
        return Context(self.owners[t])


class WaitQueueLockstep(_HandPolled):
    """The machine; ``permits`` (class attribute) picks a Lock (1) or a semaphore (2).

    It runs the model with the bound ``faults`` = 1: ``park_faulty(t)`` parks t through a
    foreign :class:`FaultyWaker` whose ``wake`` and ``drop`` raise (after doing their job on
    t's counter), and every rule checks that the operation raised :class:`VTableFault` to its
    caller (or, for a forgotten future, to ``sys.unraisablehook``) exactly when the model's
    ``raised`` says a faulty waker was acted on. ``park_clone_fault`` polls a fresh wait with a
    waker whose ``clone`` raises: the poll raises and nothing was parked (no model step)."""

    permits = 1
    faults = 1

    def __init__(self) -> None:
        super().__init__()
        self.wq = WaitQueue(self.permits)
        self.futs: list[Waiting[Any] | None] = [None] * N_TASKS
        self.base_wakes = [0] * N_TASKS  # wakes before the current wait
        self.fired: list[str] = []
        self.foreign: list[FaultyWaker] = []

    def teardown(self) -> None:
        """The example ends with faulty waiters still parked: their finalizers are not tested
        here (``cancel_*`` with ``forget`` is), so they end quietly."""
        for f in self.foreign:
            f.quiet = True

    def fire(self, name: str, raised: bool = False, **params: int) -> None:  # type: ignore[override]
        super().fire(name, **params)
        self.fired.append(name)
        want = bool(self.s.get("raised", False))
        assert raised == want, (
            f"{name}{params}: a raising waker's exception "
            f"{'reached' if raised else 'did not reach'} the caller; the model says it "
            f"{'must' if want else 'must not'} (WQ-FAULT-REPORTED)")

    def task_for(self, name: str, k: int) -> int:
        t = self.pick(name, k)
        assert t is not None, f"no task for {name}: the precondition said there was"
        return t

    # -- rules: one per model action ---------------------------------------------------------

    @precondition(lambda self: self.can("acquire"))
    @rule(k=st.integers(0, N_TASKS - 1))
    def acquire(self, k: int) -> None:
        t = self.task_for("acquire", k)
        fut = self.wq.acquire()
        assert fut.poll(self.cx(t)) == Ready(Woken.GRANTED)
        self.held[t] = 1
        self.fire("acquire", t=t)

    def _park(self, t: int, notify_style: bool, cx: Context) -> Waiting[Any]:
        fut = self.wq.wait() if notify_style else self.wq.acquire()
        assert fut.poll(cx) is Pending
        assert fut.poll(cx) is Pending  # a spurious re-poll keeps its place
        self.futs[t] = fut
        self.base_wakes[t] = self.counters[t].wakes
        return fut

    @precondition(lambda self: self.can("park"))
    @rule(k=st.integers(0, N_TASKS - 1), notify_style=st.booleans())
    def park(self, k: int, notify_style: bool) -> None:
        t = self.task_for("park", k)
        self._park(t, notify_style, self.cx(t))
        self.fire("park", t=t)

    @precondition(lambda self: self.can("park_faulty"))
    @rule(k=st.integers(0, N_TASKS - 1), notify_style=st.booleans())
    def park_faulty(self, k: int, notify_style: bool) -> None:
        t = self.task_for("park_faulty", k)
        f = FaultyWaker(self.counters[t])
        self.foreign.append(f)
        handle = f.waker()
        self._park(t, notify_style, Context(handle))
        f.end(handle)
        self.fire("park_faulty", t=t)

    @precondition(lambda self: self.can("park"))
    @rule(k=st.integers(0, N_TASKS - 1), notify_style=st.booleans())
    def park_clone_fault(self, k: int, notify_style: bool) -> None:
        t = self.task_for("park", k)
        fut = self.wq.wait() if notify_style else self.wq.acquire()
        f = FaultyWaker(self.counters[t], clone_raises=True)
        handle = f.waker()
        with _Caught() as c:
            fut.poll(Context(handle))
        f.end(handle)
        assert c.raised and f.calls == 1, "a raising clone() must reach the poll's caller"
        assert fut.state == 0, "a wait whose waker could not be cloned must not park"
        del fut  # nothing to drop: the model did not move

    @precondition(lambda self: self.can("release"))
    @rule(k=st.integers(0, N_TASKS - 1))
    def release(self, k: int) -> None:
        t = self.task_for("release", k)
        self.held[t] = 0
        with _Caught() as c:
            self.wq.release()
        self.fire("release", c.raised, t=t)

    @precondition(lambda self: self.enabled("notify_one"))
    @rule()
    def notify_one(self) -> None:
        with _Caught() as c:
            assert self.wq.notify(1) == 1
        self.fire("notify_one", c.raised)

    @precondition(lambda self: self.enabled("notify_all"))
    @rule()
    def notify_all(self) -> None:
        qlen = self.s["qlen"]
        with _Caught() as c:
            assert self.wq.notify_all() == qlen
        self.fire("notify_all", c.raised)

    @precondition(lambda self: self.enabled("close"))
    @rule()
    def close(self) -> None:
        qlen = self.s["qlen"]
        with _Caught() as c:
            assert self.wq.close() == qlen
        self.fire("close", c.raised)

    @precondition(lambda self: self.can("poll_chosen"))
    @rule(k=st.integers(0, N_TASKS - 1))
    def poll_chosen(self, k: int) -> None:
        t = self.task_for("poll_chosen", k)
        fut = self.futs[t]
        assert fut is not None
        how = fut.state
        assert fut.poll(self.cx(t)) == Ready(Woken(how))
        if how == Woken.GRANTED:
            self.held[t] = 1
        self.futs[t] = None
        self.fire("poll_chosen", t=t)

    def _drop(self, t: int, how: str) -> None:
        """Give up t's wait the ways a task does: ``drop()`` by hand, ``close()`` (its
        coroutine is closed: the task was cancelled), ``throw()`` (a timeout), or forgetting
        the future (its finalizer runs, in CPython at once)."""
        fut = self.futs[t]
        assert fut is not None
        self.futs[t] = None
        if how == "drop":
            fut.drop()
        elif how == "close":
            fut.close()
        elif how == "throw":
            try:
                fut.throw(TimeoutError)
            except TimeoutError:
                pass
            else:
                raise AssertionError("throw() must raise the exception it was given")
        del fut  # "forget": the last reference goes here

    @precondition(lambda self: self.can("cancel_queued"))
    @rule(k=st.integers(0, N_TASKS - 1),
          how=st.sampled_from(["drop", "close", "throw", "forget"]))
    def cancel_queued(self, k: int, how: str) -> None:
        t = self.task_for("cancel_queued", k)
        with _Caught() as c:
            self._drop(t, how)
        self.fire("cancel_queued", c.raised, t=t)

    @precondition(lambda self: self.can("cancel_chosen"))
    @rule(k=st.integers(0, N_TASKS - 1),
          how=st.sampled_from(["drop", "close", "throw", "forget"]))
    def cancel_chosen(self, k: int, how: str) -> None:
        t = self.task_for("cancel_chosen", k)
        with _Caught() as c:
            self._drop(t, how)
        self.fire("cancel_chosen", c.raised, t=t)

    # -- invariants ----------------------------------------------------------------------------

    @initialize()
    def start(self) -> None:
        self.check()

    @invariant()
    def refines_the_model(self) -> None:
        self.check()

    def check(self) -> None:
        got = abstraction(self.wq, self.futs, self.held)
        want = {k: self.s[k] for k in got}
        assert got == want, f"abstraction {got} != model {want}"
        for t in range(N_TASKS):
            got_wakes = self.counters[t].wakes - self.base_wakes[t]
            assert got_wakes == self.s["wakes"][t] or self.s["ws"][t] == model.OUT, (
                f"task {t}: its waker got {got_wakes} wakes, the model {self.s['wakes'][t]}")
            assert self.counters[t].live == (1 if self.s["ws"][t] == model.QUEUED else 0), t
        assert self.m.check(self.s) == []
        self.wq.check_invariants()


class SemaphoreWaitQueueLockstep(WaitQueueLockstep):
    """The same machine with two permits."""

    permits = 2


class ExecutorSemaphoreLockstep(_ModelLockstep):
    """``refexec.Semaphore`` used by tasks of a real :class:`refexec.Executor`, against the model.

    Task t runs ``await sem.acquire()`` and finishes holding the permit; the machine releases
    it later from outside (``release``). Polls happen only in ``ex.step()``, one per rule or a
    short run of them, each fired in the model as what it was: a fresh task's first poll is
    ``acquire(t)`` (it finished) or ``park(t)`` (it waits); a chosen task's poll is
    ``poll_chosen(t)``. ``JoinHandle.cancel()`` is ``cancel_queued`` / ``cancel_chosen``. The
    abstraction reads the semaphore's queue (a queued entry's waker is the task's own
    JoinHandle) and the tasks' states.
    """

    permits = 1

    def __init__(self) -> None:
        from refexec import Executor, Semaphore  # noqa: PLC0415

        super().__init__()
        self.ex = Executor()
        self.sem = Semaphore(self.permits)
        self.handles: list[Any] = [None] * N_TASKS
        self.held = [0] * N_TASKS

    def task_of(self, handle: Any) -> int:
        return next(t for t, h in enumerate(self.handles) if h is handle)

    def step_once(self) -> int:
        """One ``ex.step()``; fire what the polled task did; return the task."""
        before = [h.poll_count if h is not None else 0 for h in self.handles]
        assert self.ex.step()
        after = [h.poll_count if h is not None else 0 for h in self.handles]
        (t,) = [t for t in range(N_TASKS) if after[t] != before[t]]
        h = self.handles[t]
        if after[t] == 1:
            self.fire("acquire" if h.done() else "park", t=t)
        else:
            assert h.done()
            self.fire("poll_chosen", t=t)
        if h.done():
            h.result()
            self.held[t] = 1
        return t

    def chosen(self) -> list[int]:
        return [t for t in range(N_TASKS) if self.s["ws"][t] >= model.GRANTED]

    @precondition(lambda self: self.can("acquire", "park"))
    @rule(k=st.integers(0, N_TASKS - 1))
    def spawn_waiter(self, k: int) -> None:
        t = self.pick("acquire", k, "park")
        assert t is not None
        self.handles[t] = self.ex.spawn(self.sem.acquire())
        while self.step_once() != t:  # chosen tasks queued before it are polled first
            pass

    @precondition(lambda self: bool(self.chosen()))
    @rule()
    def step(self) -> None:
        self.step_once()

    @precondition(lambda self: self.can("release"))
    @rule(k=st.integers(0, N_TASKS - 1))
    def release(self, k: int) -> None:
        t = self.pick("release", k)
        assert t is not None
        self.held[t] = 0
        self.handles[t] = None
        self.sem.release()
        self.fire("release", t=t)

    @precondition(lambda self: self.can("cancel_queued", "cancel_chosen"))
    @rule(k=st.integers(0, N_TASKS - 1))
    def cancel(self, k: int) -> None:
        t = self.pick("cancel_queued", k, "cancel_chosen")
        assert t is not None
        queued = self.s["ws"][t] == model.QUEUED
        assert self.handles[t].cancel()
        self.handles[t] = None
        self.fire("cancel_queued" if queued else "cancel_chosen", t=t)

    @invariant()
    def refines_the_model(self) -> None:
        wq = self.sem._q
        q = [self.task_of(w._raw.data) for w in wq.waiters()]  # type: ignore[union-attr]
        ws = []
        for t, h in enumerate(self.handles):
            if h is None or h.done():
                ws.append(model.OUT)
            elif t in q:
                ws.append(model.QUEUED)
            else:
                ws.append(model.GRANTED)  # woken by a release, not yet polled
        got = {
            "ws": tuple(ws), "held": tuple(self.held), "permits": wq.permits,
            "q": tuple(q + [N_TASKS] * (N_TASKS - len(q))), "qlen": len(q), "closed": False,
        }
        want = {k: self.s[k] for k in got}
        assert got == want, f"abstraction {got} != model {want}"
        assert self.m.check(self.s) == []
        wq.check_invariants()
        self.ex.check_invariants()


class ExecutorSemaphore2Lockstep(ExecutorSemaphoreLockstep):
    """Two permits."""

    permits = 2


class _PrimitiveLockstep(_HandPolled):
    """A primitive of ``refexec.sync`` against the wait-queue model: tasks wait on it through
    its public API (futures polled by hand with counting wakers), and the machine checks that
    the primitive's queue refines the model after every step. Subclasses say what waiting,
    the wake and the bookkeeping are."""

    def __init__(self) -> None:
        super().__init__()
        self.futs: list[Any] = [None] * N_TASKS

    def queue(self) -> WaitQueue:
        raise NotImplementedError

    def _cancel(self, t: int, how: str) -> None:
        fut, self.futs[t] = self.futs[t], None
        if how == "drop":
            fut.drop()
        elif how == "close":
            fut.close()
        del fut

    @precondition(lambda self: self.can("cancel_queued"))
    @rule(k=st.integers(0, N_TASKS - 1), how=st.sampled_from(["drop", "close", "forget"]))
    def cancel_queued(self, k: int, how: str) -> None:
        t = self.pick("cancel_queued", k)
        assert t is not None
        self._cancel(t, how)
        self.fire("cancel_queued", t=t)

    @precondition(lambda self: self.can("cancel_chosen"))
    @rule(k=st.integers(0, N_TASKS - 1), how=st.sampled_from(["drop", "close", "forget"]))
    def cancel_chosen(self, k: int, how: str) -> None:
        t = self.pick("cancel_chosen", k)
        assert t is not None
        self._cancel(t, how)
        self.fire("cancel_chosen", t=t)

    @invariant()
    def refines_the_model(self) -> None:
        wq = self.queue()
        owner = {id(f._node): t for t, f in enumerate(self.futs) if f is not None}
        q = [owner[id(w)] for w in wq.waiters()]
        got = {
            "ws": tuple(model.OUT if f is None else _WS.get(f.state, model.OUT)
                        for f in self.futs),
            "held": tuple(self.held), "permits": wq.permits,
            "q": tuple(q + [N_TASKS] * (N_TASKS - len(q))), "qlen": len(q),
            "closed": wq.closed,
        }
        want = {k: self.s[k] for k in got}
        assert got == want, f"abstraction {got} != model {want}"
        for t in range(N_TASKS):
            assert self.counters[t].live == (1 if self.s["ws"][t] == model.QUEUED else 0), (
                f"task {t}: {self.counters[t].live} live waker clones; the model's "
                f"{WS_NAMES[self.s['ws'][t]]} holds {int(self.s['ws'][t] == model.QUEUED)}")
        assert self.m.check(self.s) == []
        wq.check_invariants()


class EventLockstep(_PrimitiveLockstep):
    """``refexec.Event``: ``wait()`` parks while the flag is clear (``park``, or
    ``park_faulty`` through a foreign waker whose wake and drop raise); ``set()`` with
    waiters is ``notify_all`` (a broadcast, never passed on by a cancelled waiter: the set
    takes effect and wakes every other waiter, the fault reaching set()'s caller); a set
    flag lets later waits end at once and ``clear()`` re-arms it (the Event's bookkeeping:
    no queue action)."""

    faults = 1

    def __init__(self) -> None:
        from refexec.sync import Event  # noqa: PLC0415

        super().__init__()
        self.ev = Event()
        self.foreign: list[FaultyWaker] = []
        self.base_wakes = [0] * N_TASKS  # wakes before the current wait

    def queue(self) -> WaitQueue:
        return self.ev._shared.waiters

    def fire(self, name: str, raised: bool = False, **params: int) -> None:  # type: ignore[override]
        """As the model's step, and (waiters through raising foreign wakers: the bound
        ``faults``) the caller got the wakers' exception exactly when the model says."""
        super().fire(name, **params)
        assert raised == bool(self.s["raised"]), (
            f"{name}{params}: Event's caller {'got' if raised else 'did not get'} the raising "
            "waker's exception (WQ-FAULT-REPORTED)")

    def teardown(self) -> None:
        for f in self.foreign:
            f.quiet = True

    @invariant()
    def wakes_follow_the_model(self) -> None:
        for t in range(N_TASKS):
            got = self.counters[t].wakes - self.base_wakes[t]
            assert got == self.s["wakes"][t] or self.s["ws"][t] == model.OUT, (
                f"task {t}: its waker got {got} wakes, the model {self.s['wakes'][t]}")

    @rule(k=st.integers(0, N_TASKS - 1), faulty=st.booleans())
    def wait(self, k: int, faulty: bool) -> None:
        t = self.pick("park", k) if not self.ev.is_set() else None
        if t is not None:
            fut = self.ev.wait()
            if faulty:  # through a foreign waker whose wake and drop raise
                f = FaultyWaker(self.counters[t])
                self.foreign.append(f)
                handle = f.waker()
                assert fut.poll(Context(handle)) is Pending
                f.end(handle)
            else:
                assert fut.poll(self.cx(t)) is Pending
            self.futs[t] = fut
            self.base_wakes[t] = self.counters[t].wakes
            self.fire("park_faulty" if faulty else "park", t=t)
        elif self.ev.is_set():
            assert self.ev.wait().poll(self.cx(0)) == Ready(None)  # no queue action

    @precondition(lambda self: not self.ev.is_set())
    @rule()
    def set(self) -> None:
        some = self.s["qlen"] > 0 and not self.ev.is_set()
        with _Caught() as c:
            self.ev.set()
        assert self.ev.is_set(), "set() took effect even when a waker raised"
        if some:
            self.fire("notify_all", c.raised)
        else:
            assert not c.raised

    @precondition(lambda self: self.can("cancel_queued"))
    @rule(k=st.integers(0, N_TASKS - 1), how=st.sampled_from(["drop", "close", "forget"]))
    def cancel_queued(self, k: int, how: str) -> None:
        self._cancel_rule("cancel_queued", k, how)

    @precondition(lambda self: self.can("cancel_chosen"))
    @rule(k=st.integers(0, N_TASKS - 1), how=st.sampled_from(["drop", "close", "forget"]))
    def cancel_chosen(self, k: int, how: str) -> None:
        self._cancel_rule("cancel_chosen", k, how)

    def _cancel_rule(self, action: str, k: int, how: str) -> None:
        """A queued or a chosen waiter's task gives its wait up (``how``); the model's
        ``action`` follows, with whether a waker's vtable raised on the way."""
        t = self.pick(action, k)
        assert t is not None
        with _Caught() as c:
            self._cancel(t, how)
        self.fire(action, c.raised, t=t)

    @precondition(lambda self: self.ev.is_set())
    @rule()
    def clear(self) -> None:
        self.ev.clear()

    @precondition(lambda self: self.can("poll_chosen"))
    @rule(k=st.integers(0, N_TASKS - 1))
    def poll_chosen(self, k: int) -> None:
        t = self.pick("poll_chosen", k)
        if t is None:
            return
        assert self.futs[t].poll(self.cx(t)) == Ready(None)
        self.futs[t] = None
        self.fire("poll_chosen", t=t)


class _CountingLockstep(_PrimitiveLockstep):
    """A counting queue of a primitive (items or free slots as the model's ``P`` permits)
    with ``P`` permits circulating among the tasks: a task takes one (``acquire``, or ``park``
    then ``poll_chosen`` once one is handed to it) and holds it; giving it back is
    ``release`` (the permit goes to the oldest parked waiter, else to the pool). So the
    model's conservation is the primitive's own count. Subclasses say what taking and giving
    back are, and check the primitive's bookkeeping (:meth:`book`) after every step."""

    permits = 2

    def take(self) -> Any:
        raise NotImplementedError

    def give(self) -> None:
        raise NotImplementedError

    def book(self) -> None:
        """The primitive's bookkeeping beside its queue (the buffer, the size)."""

    def chosen(self) -> int:
        return sum(1 for w in self.s["ws"] if w == model.GRANTED)

    @rule(k=st.integers(0, N_TASKS - 1))
    def take_one(self, k: int) -> None:
        t = self.pick("acquire", k)
        if t is not None:
            p = self.take().poll(self.cx(t))
            assert type(p) is Ready
            self.held[t] = 1
            self.fire("acquire", t=t)
            return
        t = self.pick("park", k)
        if t is not None:
            fut = self.take()
            assert fut.poll(self.cx(t)) is Pending
            assert fut.poll(self.cx(t)) is Pending  # a spurious re-poll keeps its place
            self.futs[t] = fut
            self.fire("park", t=t)

    @precondition(lambda self: self.can("release"))
    @rule(k=st.integers(0, N_TASKS - 1))
    def give_back(self, k: int) -> None:
        t = self.pick("release", k)
        if t is None:
            return
        self.give()
        self.held[t] = 0
        self.fire("release", t=t)

    @precondition(lambda self: self.can("poll_chosen"))
    @rule(k=st.integers(0, N_TASKS - 1))
    def poll_chosen(self, k: int) -> None:
        t = self.pick("poll_chosen", k)
        if t is None:
            return
        p = self.futs[t].poll(self.cx(t))
        assert type(p) is Ready
        self.held[t] = 1
        self.futs[t] = None
        self.fire("poll_chosen", t=t)

    @invariant()
    def bookkeeping(self) -> None:
        self.book()


class ChannelLockstep(_CountingLockstep):
    """The receiving side of ``refexec.channel`` (its receivers' queue, a permit per item nobody
    was promised): ``P = 2`` items circulate; receiving one is taking a permit, sending it
    back (``try_send``) is ``release``: the item goes to the oldest parked receiver, else to
    the buffer. Items buffered and free, promised to a woken receiver, or held by a task:
    always ``P``."""

    def __init__(self) -> None:
        from refexec.sync import channel  # noqa: PLC0415

        super().__init__()
        self.tx: Any
        self.rx: Any
        self.tx, self.rx = channel()
        for i in range(self.permits):
            self.tx.try_send(i)

    def queue(self) -> WaitQueue:
        q: WaitQueue = self.rx._shared.recv_waiters
        return q

    def take(self) -> Any:
        return self.rx.recv()

    def give(self) -> None:
        self.tx.try_send(None)

    def book(self) -> None:
        assert len(self.rx._shared.buffer) == self.queue().permits + self.chosen()


class ChannelSendLockstep(_CountingLockstep):
    """The sending side of a bounded ``refexec.channel(2)`` (its senders' queue, a permit per
    free slot nobody was promised): sending takes a slot (at once, or parked until one is
    handed over), the receiver's ``try_recv`` frees one (``release``)."""

    def __init__(self) -> None:
        from refexec.sync import channel  # noqa: PLC0415

        super().__init__()
        self.tx: Any
        self.rx: Any
        self.tx, self.rx = channel(self.permits)

    def queue(self) -> WaitQueue:
        q: WaitQueue = self.tx._shared.send_waiters
        return q

    def take(self) -> Any:
        return self.tx.send(None)

    def give(self) -> None:
        self.rx.try_recv()

    def book(self) -> None:  # a task that holds a slot has its item in the buffer
        assert len(self.rx._shared.buffer) == sum(self.held)


class QueueGetLockstep(_CountingLockstep):
    """``refexec.Queue()``'s getters (a permit per item nobody was promised), items
    circulating as for :class:`ChannelLockstep`; ``put_nowait`` gives one back."""

    def __init__(self) -> None:
        from refexec import Queue  # noqa: PLC0415

        super().__init__()
        self.q: Any = Queue()
        for i in range(self.permits):
            self.q.put_nowait(i)

    def queue(self) -> WaitQueue:
        q: WaitQueue = self.q._getters
        return q

    def take(self) -> Any:
        return self.q.get()

    def give(self) -> None:
        self.q.put_nowait(None)

    def book(self) -> None:
        assert self.q.qsize() == self.queue().permits + self.chosen()


class QueuePutLockstep(_CountingLockstep):
    """``refexec.Queue(2)``'s putters (a permit per free slot nobody was promised): ``put``
    takes a slot, ``get_nowait`` frees one."""

    def __init__(self) -> None:
        from refexec import Queue  # noqa: PLC0415

        super().__init__()
        self.q: Any = Queue(self.permits)

    def queue(self) -> WaitQueue:
        q: WaitQueue = self.q._putters
        return q

    def take(self) -> Any:
        return self.q.put(None)

    def give(self) -> None:
        self.q.get_nowait()

    def book(self) -> None:
        assert self.q.qsize() == sum(self.held)
        assert self.q.full() == (self.queue().permits == 0)


class OneshotLockstep(_PrimitiveLockstep):
    """``refexec.oneshot``: its one receiver against the model with one task. Polling it
    parks (``park``); ``send`` closes the queue (``close``: a oneshot fires once, later polls
    end at once) and so does the sender's ``close``; the woken receiver's poll is
    ``poll_chosen`` (the value, or ``ChannelClosed``); dropping it is a cancel, and a
    receiver given up by ``drop()`` (a timeout) may be polled again."""

    N = 1

    def __init__(self) -> None:
        from refexec.sync import oneshot  # noqa: PLC0415

        RuleBasedStateMachine.__init__(self)
        self.system = model.build(model.default_bounds(self.N, permits=0))
        self.m = ConcreteModel(self.system)
        self.s = self.m.initial()
        self.counters = [CountingWaker()]
        self.owners = [self.counters[0].waker()]
        self.held = [0]
        self.tx: Any
        self.rx: Any
        self.tx, self.rx = oneshot()
        self.futs: list[Any] = [None]
        self.sent = False
        self.spent = False

    def queue(self) -> WaitQueue:
        q: WaitQueue = self.tx._shared.waiters
        return q

    @rule()
    def poll(self) -> None:
        if self.rx is None or not self.enabled("park", t=0):
            return
        assert self.rx.poll(self.cx(0)) is Pending
        self.futs[0] = _RxView(self.rx)
        self.fire("park", t=0)

    @rule(send=st.booleans())
    def fire_sender(self, send: bool) -> None:
        if self.spent or not self.enabled("close"):
            return
        self.spent = True  # a oneshot sender acts once (a later close() is a no-op)
        if send:
            try:
                self.tx.send(42)
            except Exception:  # the receiver was dropped: ChannelClosed, the queue unchanged
                assert self.rx is None
                return
            self.sent = True
        else:
            self.tx.close()
        self.fire("close")

    @rule()
    def poll_chosen(self) -> None:
        if not self.enabled("poll_chosen", t=0):
            return
        if self.sent:
            assert self.rx.poll(self.cx(0)) == Ready(42)
        else:
            from refexec.sync import ChannelClosed  # noqa: PLC0415

            try:
                self.rx.poll(self.cx(0))
            except ChannelClosed:
                pass
            else:
                raise AssertionError("a receiver woken by the sender's close must raise")
        self.futs[0] = None
        self.fire("poll_chosen", t=0)

    cancel_queued = None  # type: ignore[assignment]  # one task: the rule below instead
    cancel_chosen = None  # type: ignore[assignment]

    @precondition(lambda self: self.rx is not None and (
        self.enabled("cancel_queued", t=0) or self.enabled("cancel_chosen", t=0)))
    @rule(how=st.sampled_from(["drop", "forget"]))
    def cancel(self, how: str) -> None:
        name = "cancel_queued" if self.s["ws"][0] == model.QUEUED else "cancel_chosen"
        self.futs[0] = None
        if how == "drop":
            self.rx._forget()  # what a timeout does: the waiter goes, the receiver stays
        else:
            self.rx = None  # the receiver dropped: it closes
        self.fire(name, t=0)

    @invariant()
    def refines_the_model(self) -> None:
        wq = self.queue()
        q = [0 for _ in wq.waiters()]
        got = {
            "ws": (model.OUT if self.futs[0] is None else _WS.get(self.futs[0].state,
                                                                  model.OUT),),
            "held": (0,), "permits": wq.permits,
            "q": tuple(q + [1] * (1 - len(q))), "qlen": len(q), "closed": wq.closed,
        }
        want = {k: self.s[k] for k in got}
        assert got == want, f"abstraction {got} != model {want}"
        assert self.counters[0].live == (1 if self.s["ws"][0] == model.QUEUED else 0)
        assert self.m.check(self.s) == []
        wq.check_invariants()
        assert self.tx.is_closed() == (self.rx is None)


class _RxView:
    """The state of the receiver's current waiter, read as a Waiting handle's."""

    def __init__(self, rx: Any) -> None:
        self._node = rx._node

    @property
    def state(self) -> int:
        return int(self._node.state)


class ConditionLockstep(_PrimitiveLockstep):
    """``refexec.Condition`` (its queue of notification waiters) against the model, with its
    bookkeeping checked beside: ``wait()`` (holding the lock) parks and releases the lock
    (``park``); ``notify(1)`` / ``notify_all()`` (holding it) are ``notify_one`` /
    ``notify_all``; a woken waiter's poll re-takes the lock (``poll_chosen``; the machine
    then releases it, as the end of its ``async with`` would); a cancelled waiter passes a
    ``notify`` on, and its owner's ``release()`` is skipped (it left without the lock). After
    every step the lock is free and no skip is owed."""

    def __init__(self) -> None:
        from refexec import Condition  # noqa: PLC0415

        super().__init__()
        self.cond: Any = Condition()

    def queue(self) -> WaitQueue:
        q: WaitQueue = self.cond._q
        return q

    def _lock(self, t: int) -> None:
        assert self.cond.acquire().poll(self.cx(t)) == Ready(True)

    @rule(k=st.integers(0, N_TASKS - 1))
    def wait(self, k: int) -> None:
        t = self.pick("park", k)
        if t is None:
            return
        self._lock(t)
        fut = self.cond.wait()
        assert fut.poll(self.cx(t)) is Pending
        assert not self.cond.locked()  # wait() released the lock
        self.futs[t] = fut
        self.fire("park", t=t)

    @rule(all_=st.booleans())
    def notify(self, all_: bool) -> None:
        name = "notify_all" if all_ else "notify_one"
        if not self.enabled(name):
            return
        self._lock(0)
        n = self.cond.notify_all() if all_ else self.cond.notify(1)
        assert n == (self.s["qlen"] if all_ else 1)
        self.cond.release()
        self.fire(name)

    @precondition(lambda self: self.can("poll_chosen"))
    @rule(k=st.integers(0, N_TASKS - 1))
    def poll_chosen(self, k: int) -> None:
        t = self.pick("poll_chosen", k)
        if t is None:
            return
        assert self.futs[t].poll(self.cx(t)) == Ready(True)
        assert self.cond.locked()
        self.cond.release()
        self.futs[t] = None
        self.fire("poll_chosen", t=t)

    def _cancel(self, t: int, how: str) -> None:
        super()._cancel(t, how)
        self.cond.release()  # the `async with` exit of the cancelled waiter: skipped
        assert not self.cond.locked()

    @invariant()
    def bookkeeping(self) -> None:
        assert not self.cond.locked() and self.cond._unheld == 0


class BarrierLockstep(_PrimitiveLockstep):
    """``refexec.Barrier(N + 1)`` (its queue of arrivals) against the model: an arrival that
    is not the last parks (``park``); the machine's own arrival, the last one, trips it
    (``notify_all``); a woken waiter's poll returns its arrival index (``poll_chosen``); a
    cancelled arrival no longer counts. Bookkeeping: ``n_waiting`` is the queue's length, and
    each round's indices are ``0..N`` in arrival order."""

    def __init__(self) -> None:
        from refexec import Barrier  # noqa: PLC0415

        super().__init__()
        self.b: Any = Barrier(N_TASKS + 1)
        self.order: list[int] = []  # the queued tasks in arrival order
        self.index: dict[int, int] = {}  # expected index of each woken task

    def queue(self) -> WaitQueue:
        q: WaitQueue = self.b._q
        return q

    @rule(k=st.integers(0, N_TASKS - 1))
    def arrive(self, k: int) -> None:
        t = self.pick("park", k)
        if t is None:
            return
        fut = self.b.wait()
        assert fut.poll(self.cx(t)) is Pending
        self.futs[t] = fut
        self.order.append(t)
        self.fire("park", t=t)

    @precondition(lambda self: self.s["qlen"] == N_TASKS)
    @rule()
    def trip(self) -> None:
        """The last arrival: only when all N tasks are queued (then it trips the barrier)."""
        if self.s["qlen"] != N_TASKS:
            return
        assert self.b.wait().poll(self.cx(0)) == Ready(N_TASKS)
        self.index = {t: i for i, t in enumerate(self.order)}
        self.order = []
        self.fire("notify_all")

    @precondition(lambda self: self.can("poll_chosen"))
    @rule(k=st.integers(0, N_TASKS - 1))
    def poll_chosen(self, k: int) -> None:
        t = self.pick("poll_chosen", k)
        if t is None:
            return
        assert self.futs[t].poll(self.cx(t)) == Ready(self.index[t])
        self.futs[t] = None
        self.fire("poll_chosen", t=t)

    def _cancel(self, t: int, how: str) -> None:
        if t in self.order:
            self.order.remove(t)
        super()._cancel(t, how)

    @invariant()
    def bookkeeping(self) -> None:
        assert self.b.n_waiting == len(self.queue()) == len(self.order)
