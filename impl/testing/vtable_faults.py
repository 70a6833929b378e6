"""A generator of programs whose foreign wakers raise from their vtable functions (issue 12).

refexec calls the vtable of a waker it was handed in a few places: a timer fires (``wake``) or
is cancelled (``drop``) holding the raw waker a ``sleep`` was polled with; a wait queue
(``Event``, a channel, ``Lock``) clones a parked waiter's waker and later wakes or drops it,
often as one of a group; a ``JoinHandle`` clones the waker of each poll that awaits it and wakes
them all when its task ends. A custom vtable is user code and may raise in any of these.

:func:`programs` draws a program: tasks that each wait on one of those paths, some through a
*foreign* waker (:class:`Via` polls the awaited future with a ``Context`` whose waker is a
:class:`FaultPlan` raw waker wrapping the task's own), a sequence of steps that drive them
(``run_until_stalled``, ``Event.set``, a send, a ``Lock`` release, the virtual clock moved, a
task cancelled), and one fault: the ``k``-th call of vtable function ``op`` made by refexec
raises :class:`VTableFault` (after doing its job, as a waker with a failing logging hook would:
the task it wraps is still woken or its handle ended, so every failure is the vtable's own).

:func:`run_program` runs one and checks, after every step, that:

* every fault raised so far reached someone: the caller of the step (``run_until_stalled()``,
  ``set()``, ``release()``, ``cancel()``...), the task whose poll made the call (its
  ``exception()``), the task whose cancellation closed the waiter that made the call (the
  ``__cause__`` of its ``Cancelled``: ``cancel()`` itself returns normally then), or
  ``sys.unraisablehook`` (a finalizer's drop) -- never swallowed;
* every other waiter of the same event was still woken: after ``Event.set()``, raising or not,
  no waiter of the event is IDLE;
* ``Executor.check_invariants()``, ``Driver.check_invariants()`` and every wait queue's
  ``check_invariants()`` hold, and ``Driver.fired`` counts every timer that fired (the trace's
  ``timer_fire`` events), also when a wake in the same ``fire_due()`` raised;

and at the end that later ``run_until_stalled()`` calls finish the remaining work: every task
is done, none is reported lost, and no timer is left armed.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st
from refexec.clock import VirtualClock
from refexec.executor import Executor, JoinHandle
from refexec.future import FutureBase, yield_now
from refexec.locks import Lock
from refexec.poll import Pending, Poll
from refexec.sync import ChannelClosed, Event, channel
from refexec.timers import sleep
from refexec.trace import Trace
from refexec.waker import Context, RawWaker, RawWakerVTable, Waker, noop_waker

__all__ = [
    "FAULT_OPS", "OPS", "FaultPlan", "Program", "VTableFault", "Via", "programs", "run_program",
]

OPS = ("clone", "wake", "wake_by_ref", "drop")
"""The vtable functions a foreign waker has (all four are counted)."""
FAULT_OPS = ("clone", "wake", "drop")
"""The ones refexec calls on a waker it holds (it never calls ``wake_by_ref`` on one, which
:attr:`FaultPlan.calls` confirms): a fault is injected into one of these."""
KINDS = ("sleep", "event", "recv", "lock", "join")
"""What a task waits for: a timer, an Event, a channel receive, a Lock, another task."""
STEPS = ("run", "set", "send", "release", "advance", "cancel", "cancel")
"""(``cancel`` twice: it is what makes refexec drop a held waker.)"""


class VTableFault(Exception):
    """Raised by a :class:`FaultPlan` vtable function at its planned call."""


class FaultPlan:
    """Counts the calls refexec makes to the foreign wakers' vtable functions; the ``k``-th
    call of ``op`` raises (``op`` None: none raises). Calls made by the harness itself (inside
    :meth:`quiet`) are neither counted nor failed."""

    def __init__(self, op: str | None, k: int) -> None:
        self.op = op
        self.k = k
        self.calls = dict.fromkeys(OPS, 0)
        self.raised: list[VTableFault] = []
        self._quiet = 0
        self.vtable = RawWakerVTable(self._clone, self._wake, self._wake_by_ref, self._drop)

    @contextmanager
    def quiet(self) -> Iterator[None]:
        self._quiet += 1
        try:
            yield
        finally:
            self._quiet -= 1

    def foreign(self, inner: Waker) -> Waker:
        """A foreign waker handle that wraps (and owns) ``inner``."""
        return Waker(RawWaker(inner, self.vtable))

    def _hit(self, op: str) -> None:
        if self._quiet:
            return
        self.calls[op] += 1
        if op == self.op and self.calls[op] == self.k:
            e = VTableFault(f"{op}() call {self.k} of a foreign waker raised")
            self.raised.append(e)
            raise e

    def _clone(self, inner: Waker) -> RawWaker:
        self._hit("clone")  # before: nothing was made
        return RawWaker(inner.clone(), self.vtable)

    def _wake(self, inner: Waker) -> None:
        inner.wake()
        self._hit("wake")

    def _wake_by_ref(self, inner: Waker) -> None:
        inner.wake_by_ref()
        self._hit("wake_by_ref")

    def _drop(self, inner: Waker) -> None:
        inner.drop()
        self._hit("drop")


class Via(FutureBase[Any]):
    """Polls ``inner`` with a foreign waker wrapping the task's (a combinator that builds its
    own waker, as ``select``/``join`` implementations do): the refexec structure ``inner``
    parks in holds, wakes and drops a :class:`FaultPlan` waker."""

    def __init__(self, plan: FaultPlan, inner: Any) -> None:
        self.plan = plan
        self.inner = inner

    def poll(self, cx: Context) -> Poll[Any]:
        with self.plan.quiet():
            w = self.plan.foreign(cx.waker.clone())
        try:
            return self.inner.poll(Context(w))  # type: ignore[no-any-return]
        finally:
            with self.plan.quiet():
                w.drop()


@dataclass(frozen=True)
class Program:
    """Tasks (what each waits for, and whether through a foreign waker), steps, one fault."""

    tasks: tuple[tuple[str, bool], ...]
    steps: tuple[tuple[str, int], ...]
    op: str | None
    k: int


@st.composite
def programs(draw: st.DrawFn) -> Program:
    foreign = st.sampled_from((True, True, False))  # mostly foreign: those make the calls
    tasks = draw(st.lists(st.tuples(st.sampled_from(KINDS), foreign), min_size=1, max_size=6))
    steps = draw(st.lists(st.tuples(st.sampled_from(STEPS), st.integers(0, 5)), max_size=10))
    op = draw(st.sampled_from((*FAULT_OPS, None)))
    k = draw(st.integers(1, 3))  # small: most programs make only a few calls of each
    return Program(tuple(tasks), tuple(steps), op, k)


@dataclass
class _World:
    plan: FaultPlan
    ex: Executor
    clock: VirtualClock
    trace: Trace
    ev: Event = field(default_factory=Event)
    lock: Lock = field(default_factory=Lock)
    handles: list[JoinHandle[Any]] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    seen: set[int] = field(default_factory=set)
    held: bool = True  # the harness holds the lock until a release step
    chan: tuple[Any, Any] = field(default_factory=channel)
    sent: int = 0
    closed: bool = False


async def _child() -> int:
    await yield_now()
    await yield_now()
    return 1


def _waiter(w: _World, kind: str, foreign: bool) -> Any:
    plan = w.plan

    def via(fut: Any) -> Any:
        return Via(plan, fut) if foreign else fut

    async def task() -> str:
        if kind == "sleep":
            await via(sleep(0.001))
        elif kind == "event":
            await via(w.ev.wait())
        elif kind == "recv":
            try:
                await via(w.chan[1].recv())
            except ChannelClosed:
                return "closed"
        elif kind == "lock":
            await via(w.lock.acquire())
            w.lock.release()
        else:
            await via(w.ex.spawn(_child()))
        return kind

    return task()


def _queues(w: _World) -> list[Any]:
    sh = w.chan[0]._shared
    return [w.ev._shared.waiters, sh.recv_waiters, sh.send_waiters, w.lock._q]


def _faults_in(e: BaseException | None) -> Iterator[BaseException]:
    while e is not None:
        yield e
        e = e.__cause__ or e.__context__


def _check(w: _World, unraisable: list[BaseException]) -> None:
    """The checks made after every step (see the module docstring)."""
    for e in unraisable:
        w.seen.add(id(e))
    for h in w.handles:
        if h.done():  # a cancelled task's close: the fault is the cause of its Cancelled
            for e in _faults_in(h.exception()):
                w.seen.add(id(e))
    lost = [e for e in w.plan.raised if id(e) not in w.seen]
    assert not lost, f"a vtable exception was swallowed: {lost!r}"
    w.ex.check_invariants()
    drv = w.ex._driver
    drv.check_invariants()
    fires = sum(1 for e in w.trace.events if e.event == "timer_fire")
    assert drv.fired == fires, f"Driver.fired is {drv.fired}, but {fires} timers fired"
    for q in _queues(w):
        q.check_invariants()


def _step(w: _World, name: str, arg: int) -> None:
    """One step; a VTableFault it raises is recorded as seen (it reached the caller)."""
    ops: dict[str, Callable[[], Any]] = {
        "run": w.ex.run_until_stalled,
        "set": w.ev.set,
        "send": lambda: _send(w),
        "release": lambda: _release(w),
        "advance": lambda: _advance(w, 0.001 * (arg + 1)),
        "cancel": lambda: _cancel(w, arg),
    }
    try:
        ops[name]()
    except VTableFault as e:
        w.seen.add(id(e))
    if name == "set":  # every waiter of the event was woken, whatever a waker raised
        posted = {id(t) for kind, t in w.ex._inbox if kind in {"wake", "wake_by_ref"}}
        for h, kind in zip(w.handles, w.kinds, strict=True):
            st_ = h.state
            assert kind != "event" or st_ is None or st_.name != "IDLE" or id(h) in posted, (
                f"{h!r} was not woken by Event.set()")


def _advance(w: _World, seconds: float) -> None:
    w.clock.advance(seconds)
    w.ex.run_until_stalled()


def _cancel(w: _World, arg: int) -> None:
    """Cancel one of the unfinished tasks (its parked waiter or timer drops the waker)."""
    live = [h for h in w.handles if not h.done()]
    if live:
        live[arg % len(live)].cancel()


def _send(w: _World) -> None:
    w.chan[0].try_send(w.sent)
    w.sent += 1


def _release(w: _World) -> None:
    if w.held:
        w.held = False
        w.lock.release()


def run_program(p: Program, *, rounds: int = 20) -> FaultPlan:
    """Run ``p``, making the checks of the module docstring; returns the plan (its calls and
    the faults raised) for the caller to inspect."""
    plan = FaultPlan(p.op, p.k)
    clock = VirtualClock()
    trace = Trace()
    w = _World(plan, Executor(clock=clock, trace=trace), clock, trace)
    unraisable: list[BaseException] = []
    old_hook = sys.unraisablehook

    def hook(u: Any) -> None:
        if isinstance(u.exc_value, VTableFault):
            unraisable.append(u.exc_value)
        else:
            old_hook(u)

    sys.unraisablehook = hook
    try:
        assert w.lock.acquire().poll(Context(noop_waker())) is not Pending
        for kind, foreign in p.tasks:
            w.handles.append(w.ex.spawn(_waiter(w, kind, foreign)))
            w.kinds.append(kind)
        _check(w, unraisable)
        for name, arg in (("run", 0), *p.steps):  # first every task parks
            _step(w, name, arg)
            _check(w, unraisable)
        _finish(w, unraisable, rounds)
    finally:
        sys.unraisablehook = old_hook
    return plan


def _finish(w: _World, unraisable: list[BaseException], rounds: int) -> None:
    """Release everything, then run until no call raises: the remaining work must finish."""
    tx = w.chan[0]
    for _ in range(rounds):
        before = len(w.plan.raised)
        for name in ("set", "release"):
            _step(w, name, 0)
        if not w.closed:
            w.closed = True
            try:
                tx.close()
            except VTableFault as e:
                w.seen.add(id(e))
        report = None
        for move in (False, True):
            if move:
                w.clock.advance(1.0)
            try:
                report = w.ex.run_until_stalled()
            except VTableFault as e:
                w.seen.add(id(e))
            _check(w, unraisable)
        if len(w.plan.raised) == before and report is not None and all(
                h.done() for h in w.handles):
            break
    else:
        raise AssertionError(f"work left or run_until_stalled() raising after {rounds} rounds")
    assert report is not None
    assert report.lost == (), report.lost
    pending = [h for h in w.handles if not h.done()]
    assert not pending, f"tasks left unfinished: {pending!r}"
    assert w.ex._driver.armed == 0, "a timer leaked"
    for h in w.handles:
        failure = h.exception() if not h.cancelled() else None
        assert failure is None or isinstance(failure, VTableFault), failure
