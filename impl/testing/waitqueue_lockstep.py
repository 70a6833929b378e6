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

from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from refexec.models import waitqueue as model
from refexec.models.concrete import ConcreteModel
from refexec.poll import Pending, Ready
from refexec.waitqueue import Waiting, WaitQueue, Woken
from refexec.waker import Context, RawWaker, RawWakerVTable, Waker

__all__ = [
    "CountingWaker",
    "ExecutorSemaphore2Lockstep",
    "ExecutorSemaphoreLockstep",
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


class WaitQueueLockstep(RuleBasedStateMachine):
    """The machine; ``permits`` (class attribute) picks a Lock (1) or a semaphore (2)."""

    permits = 1

    def __init__(self) -> None:
        super().__init__()
        self.system = model.build(model.default_bounds(N_TASKS, permits=self.permits))
        self.m = ConcreteModel(self.system)
        self.s = self.m.initial()
        self.wq = WaitQueue(self.permits)
        self.counters = [CountingWaker() for _ in range(N_TASKS)]
        self.owners = [c.waker() for c in self.counters]
        self.futs: list[Waiting[Any] | None] = [None] * N_TASKS
        self.held = [0] * N_TASKS
        self.base_wakes = [0] * N_TASKS  # wakes before the current wait
        self.fired: list[str] = []

    # -- helpers ---------------------------------------------------------------------------

    def enabled(self, name: str, **params: int) -> bool:
        return bool(self.m.is_enabled(self.s, self.system.action(name), params))

    def any_enabled(self, name: str) -> bool:
        return any(self.enabled(name, t=t) for t in range(N_TASKS))

    def pick(self, name: str, k: int) -> int:
        """The ``k``-th task (cyclically) for which ``name`` is enabled: every draw is valid,
        so no example is rejected, and a printed ``k`` replays the same choice."""
        ts = [t for t in range(N_TASKS) if self.enabled(name, t=t)]
        return ts[k % len(ts)]

    def fire(self, name: str, **params: int) -> None:
        before = self.s
        self.s = self.m.step(before, name, **params)
        bad = self.m.check_step(before, self.s, name, params)
        assert not bad, f"{name}{params} breaks {bad}"
        self.fired.append(name)

    def cx(self, t: int) -> Context:
        return Context(self.owners[t])

    # -- rules: one per model action ---------------------------------------------------------

    @precondition(lambda self: self.any_enabled("acquire"))
    @rule(k=st.integers(0, N_TASKS - 1))
    def acquire(self, k: int) -> None:
        t = self.pick("acquire", k)
        fut = self.wq.acquire()
        assert fut.poll(self.cx(t)) == Ready(Woken.GRANTED)
        self.held[t] = 1
        self.fire("acquire", t=t)

    @precondition(lambda self: self.any_enabled("park"))
    @rule(k=st.integers(0, N_TASKS - 1), notify_style=st.booleans())
    def park(self, k: int, notify_style: bool) -> None:
        t = self.pick("park", k)
        fut = self.wq.wait() if notify_style else self.wq.acquire()
        assert fut.poll(self.cx(t)) is Pending
        assert fut.poll(self.cx(t)) is Pending  # a spurious re-poll keeps its place
        self.futs[t] = fut
        self.base_wakes[t] = self.counters[t].wakes
        self.fire("park", t=t)

    @precondition(lambda self: self.any_enabled("release"))
    @rule(k=st.integers(0, N_TASKS - 1))
    def release(self, k: int) -> None:
        t = self.pick("release", k)
        self.held[t] = 0
        self.wq.release()
        self.fire("release", t=t)

    @precondition(lambda self: self.enabled("notify_one"))
    @rule()
    def notify_one(self) -> None:
        assert self.wq.notify(1) == 1
        self.fire("notify_one")

    @precondition(lambda self: self.enabled("notify_all"))
    @rule()
    def notify_all(self) -> None:
        assert self.wq.notify_all() == self.s["qlen"]
        self.fire("notify_all")

    @precondition(lambda self: self.enabled("close"))
    @rule()
    def close(self) -> None:
        assert self.wq.close() == self.s["qlen"]
        self.fire("close")

    @precondition(lambda self: self.any_enabled("poll_chosen"))
    @rule(k=st.integers(0, N_TASKS - 1))
    def poll_chosen(self, k: int) -> None:
        t = self.pick("poll_chosen", k)
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

    @precondition(lambda self: self.any_enabled("cancel_queued"))
    @rule(k=st.integers(0, N_TASKS - 1),
          how=st.sampled_from(["drop", "close", "throw", "forget"]))
    def cancel_queued(self, k: int, how: str) -> None:
        t = self.pick("cancel_queued", k)
        self._drop(t, how)
        self.fire("cancel_queued", t=t)

    @precondition(lambda self: self.any_enabled("cancel_chosen"))
    @rule(k=st.integers(0, N_TASKS - 1),
          how=st.sampled_from(["drop", "close", "throw", "forget"]))
    def cancel_chosen(self, k: int, how: str) -> None:
        t = self.pick("cancel_chosen", k)
        self._drop(t, how)
        self.fire("cancel_chosen", t=t)

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
            assert self.counters[t].wakes - self.base_wakes[t] == self.s["wakes"][t] or (
                self.s["ws"][t] == model.OUT), t
            assert self.counters[t].live == (1 if self.s["ws"][t] == model.QUEUED else 0), t
        assert self.m.check(self.s) == []
        self.wq.check_invariants()


class SemaphoreWaitQueueLockstep(WaitQueueLockstep):
    """The same machine with two permits."""

    permits = 2


class ExecutorSemaphoreLockstep(RuleBasedStateMachine):
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
        self.system = model.build(model.default_bounds(N_TASKS, permits=self.permits))
        self.m = ConcreteModel(self.system)
        self.s = self.m.initial()
        self.ex = Executor()
        self.sem = Semaphore(self.permits)
        self.handles: list[Any] = [None] * N_TASKS
        self.held = [0] * N_TASKS

    def enabled(self, name: str, **params: int) -> bool:
        return bool(self.m.is_enabled(self.s, self.system.action(name), params))

    def fire(self, name: str, **params: int) -> None:
        before = self.s
        self.s = self.m.step(before, name, **params)
        bad = self.m.check_step(before, self.s, name, params)
        assert not bad, f"{name}{params} breaks {bad}"

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

    @precondition(lambda self: any(
        self.enabled("acquire", t=t) or self.enabled("park", t=t) for t in range(N_TASKS)))
    @rule(k=st.integers(0, N_TASKS - 1))
    def spawn_waiter(self, k: int) -> None:
        ts = [t for t in range(N_TASKS)
              if self.enabled("acquire", t=t) or self.enabled("park", t=t)]
        t = ts[k % len(ts)]
        self.handles[t] = self.ex.spawn(self.sem.acquire())
        while self.step_once() != t:  # chosen tasks queued before it are polled first
            pass

    @precondition(lambda self: bool(self.chosen()))
    @rule()
    def step(self) -> None:
        self.step_once()

    @precondition(lambda self: any(self.enabled("release", t=t) for t in range(N_TASKS)))
    @rule(k=st.integers(0, N_TASKS - 1))
    def release(self, k: int) -> None:
        ts = [t for t in range(N_TASKS) if self.enabled("release", t=t)]
        t = ts[k % len(ts)]
        self.held[t] = 0
        self.handles[t] = None
        self.sem.release()
        self.fire("release", t=t)

    @precondition(lambda self: any(
        self.enabled("cancel_queued", t=t) or self.enabled("cancel_chosen", t=t)
        for t in range(N_TASKS)))
    @rule(k=st.integers(0, N_TASKS - 1))
    def cancel(self, k: int) -> None:
        ts = [t for t in range(N_TASKS)
              if self.enabled("cancel_queued", t=t) or self.enabled("cancel_chosen", t=t)]
        t = ts[k % len(ts)]
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


class _PrimitiveLockstep(RuleBasedStateMachine):
    """A primitive of ``refexec.sync`` against the wait-queue model: tasks wait on it through
    its public API (futures polled by hand with counting wakers), and the machine checks that
    the primitive's queue refines the model after every step. Subclasses say what waiting,
    the wake and the bookkeeping are."""

    permits = 0

    def __init__(self) -> None:
        super().__init__()
        self.system = model.build(model.default_bounds(N_TASKS, permits=self.permits))
        self.m = ConcreteModel(self.system)
        self.s = self.m.initial()
        self.counters = [CountingWaker() for _ in range(N_TASKS)]
        self.owners = [c.waker() for c in self.counters]
        self.futs: list[Any] = [None] * N_TASKS
        self.held = [0] * N_TASKS

    def enabled(self, name: str, **params: int) -> bool:
        return bool(self.m.is_enabled(self.s, self.system.action(name), params))

    def pick(self, name: str, k: int) -> int | None:
        ts = [t for t in range(N_TASKS) if self.enabled(name, t=t)]
        return ts[k % len(ts)] if ts else None

    def fire(self, name: str, **params: int) -> None:
        before = self.s
        self.s = self.m.step(before, name, **params)
        bad = self.m.check_step(before, self.s, name, params)
        assert not bad, f"{name}{params} breaks {bad}"

    def cx(self, t: int) -> Context:
        return Context(self.owners[t])

    def queue(self) -> WaitQueue:
        raise NotImplementedError

    def _cancel(self, t: int, how: str) -> None:
        fut, self.futs[t] = self.futs[t], None
        if how == "drop":
            fut.drop()
        elif how == "close":
            fut.close()
        del fut

    @rule(k=st.integers(0, N_TASKS - 1), how=st.sampled_from(["drop", "close", "forget"]))
    def cancel(self, k: int, how: str) -> None:
        ts = [t for t in range(N_TASKS)
              if self.enabled("cancel_queued", t=t) or self.enabled("cancel_chosen", t=t)]
        if not ts:
            return
        t = ts[k % len(ts)]
        name = "cancel_queued" if self.s["ws"][t] == model.QUEUED else "cancel_chosen"
        self._cancel(t, how)
        self.fire(name, t=t)

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
            assert self.counters[t].live == (1 if self.s["ws"][t] == model.QUEUED else 0), t
        assert self.m.check(self.s) == []
        wq.check_invariants()


class EventLockstep(_PrimitiveLockstep):
    """``refexec.Event``: ``wait()`` parks while the flag is clear (``park``); ``set()`` with
    waiters is ``notify_all`` (a broadcast, never passed on by a cancelled waiter); a set
    flag lets later waits end at once and ``clear()`` re-arms it (the Event's bookkeeping:
    no queue action)."""

    def __init__(self) -> None:
        from refexec.sync import Event  # noqa: PLC0415

        super().__init__()
        self.ev = Event()

    def queue(self) -> WaitQueue:
        return self.ev._shared.waiters

    @rule(k=st.integers(0, N_TASKS - 1))
    def wait(self, k: int) -> None:
        t = self.pick("park", k) if not self.ev.is_set() else None
        if t is not None:
            fut = self.ev.wait()
            assert fut.poll(self.cx(t)) is Pending
            self.futs[t] = fut
            self.fire("park", t=t)
        elif self.ev.is_set():
            assert self.ev.wait().poll(self.cx(0)) == Ready(None)  # no queue action

    @rule()
    def set(self) -> None:
        some = self.s["qlen"] > 0 and not self.ev.is_set()
        self.ev.set()
        if some:
            self.fire("notify_all")

    @rule()
    def clear(self) -> None:
        self.ev.clear()

    @rule(k=st.integers(0, N_TASKS - 1))
    def poll_chosen(self, k: int) -> None:
        t = self.pick("poll_chosen", k)
        if t is None:
            return
        assert self.futs[t].poll(self.cx(t)) == Ready(None)
        self.futs[t] = None
        self.fire("poll_chosen", t=t)


class ChannelLockstep(_PrimitiveLockstep):
    """The receiving side of ``refexec.channel`` (its receivers' queue, a permit per item nobody
    was promised): ``P = 2`` items circulate among the tasks. A task that receives one
    (``acquire``, or ``park`` then ``poll_chosen`` once an item is handed to it) holds it, and
    sending it back (``try_send``) is ``release``: the item goes to the oldest parked receiver,
    else to the buffer. So the model's conservation is the channel's: items buffered and free,
    promised to a woken receiver, or held by a task, always ``P``."""

    permits = 2

    def __init__(self) -> None:
        from refexec.sync import channel  # noqa: PLC0415

        super().__init__()
        self.tx: Any
        self.rx: Any
        self.tx, self.rx = channel()
        for i in range(self.permits):
            self.tx.try_send(i)
        self.items: list[Any] = [None] * N_TASKS

    def queue(self) -> WaitQueue:
        q: WaitQueue = self.rx._shared.recv_waiters
        return q

    @rule(k=st.integers(0, N_TASKS - 1))
    def recv(self, k: int) -> None:
        t = self.pick("acquire", k)
        if t is not None:
            p = self.rx.recv().poll(self.cx(t))
            assert type(p) is Ready
            self.items[t], self.held[t] = p.value, 1
            self.fire("acquire", t=t)
            return
        t = self.pick("park", k)
        if t is not None:
            fut = self.rx.recv()
            assert fut.poll(self.cx(t)) is Pending
            self.futs[t] = fut
            self.fire("park", t=t)

    @rule(k=st.integers(0, N_TASKS - 1))
    def send_back(self, k: int) -> None:
        t = self.pick("release", k)
        if t is None:
            return
        self.tx.try_send(self.items[t])
        self.items[t], self.held[t] = None, 0
        self.fire("release", t=t)

    @rule(k=st.integers(0, N_TASKS - 1))
    def poll_chosen(self, k: int) -> None:
        t = self.pick("poll_chosen", k)
        if t is None:
            return
        p = self.futs[t].poll(self.cx(t))
        assert type(p) is Ready
        self.items[t], self.held[t] = p.value, 1
        self.futs[t] = None
        self.fire("poll_chosen", t=t)

    @invariant()
    def buffer_matches(self) -> None:
        chosen = sum(1 for w in self.s["ws"] if w == model.GRANTED)
        assert len(self.rx._shared.buffer) == self.queue().permits + chosen
