"""The driver's lockstep machine: sleeps, timeouts, virtual-clock advances and I/O readiness on a
real :class:`~refexec.Executor`, followed step by step by the reference model's ``driver``
instance (``timers`` = 1, ``io`` = 1).

The executor runs on a :class:`~refexec.VirtualClock` the machine advances by hand, so every run
is deterministic: a model clock unit is one virtual second (:data:`UNIT_NS`). Each task is a
:class:`DriverTask` running a small *program* of :class:`Op` (sleep ``k`` units; wait until a
socket is readable, with or without a timeout of ``k`` units). Each poll of a task logs what
the task did in it, in the kit's :class:`~refexec.testing.script.Event` vocabulary: ``poll``,
``timer_arm`` (``other`` = the deadline, in units), ``io_register``, ``timer_cancel``,
``io_cancel``, ``pending`` / ``ready``. The machine logs what the environment did:
``spawn``, ``stalled_start`` / ``step_end`` around ``run_until_stalled()``, one ``tick`` per unit
the clock advances, ``fd_ready`` when it writes to a registered socket's peer, ``cancel``, and
(``remote``: posted through the inbox) the ``wake`` another thread makes while ``run()`` is
parked, in ``select()`` or on the condition: the model is built with ``remote`` = 1.

Those events are turned into model actions by the one declaration,
:data:`refexec.models.refinement.REFERENCE` (its log stream), and followed by the shared
:class:`~refexec.testing.oracle.Oracle`: everything the executor does without a logged event
(firing a timer, reporting a ready fd, the loop's decisions) is one of the declaration's
implicit actions, which the oracle's closure takes. After every rule the executor's state —
task states, poll counters, the ready queue, live wakers (a timer's and a registration's clone
included), the clock, which tasks have an armed timer and for when, which have a registration
and whether its fd is ready — must equal the model's projection of some candidate state, and
every property the ``driver`` variant proves is checked on every model step taken.

The executor consults the driver before every round of polls, as the model does before every
poll (its round is one poll): a due timer fires and a ready fd is reported before the next poll
(EX-TIMER-PROMPT, EX-IO-PROMPT), at the start of a drive call too. So the rules place no
condition on the order of a due timer, a ready fd and a queued task: a spawn, a clock advance
and new readiness may meet at the start of any drive call, and the machine checks every order.
"""

from __future__ import annotations

import socket
import threading
import time
import weakref
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from refexec.clock import VirtualClock
from refexec.errors import Stalled
from refexec.executor import Executor, JoinHandle
from refexec.future import FutureBase
from refexec.models.concrete import ConcreteModel
from refexec.models.reference import Io, build, default_bounds
from refexec.models.system import TransitionSystem
from refexec.models.variants import EXPECTED
from refexec.net import wait_readable
from refexec.poll import Pending, Poll, Ready
from refexec.state import TaskState
from refexec.testing.adapter import Observation
from refexec.testing.oracle import Divergence, ModelStep, Oracle
from refexec.testing.refinement_reference import ReferenceRefinement
from refexec.testing.script import Event
from refexec.timers import sleep
from refexec.waker import Context

__all__ = [
    "HORIZON",
    "MAX_TASKS",
    "UNIT_NS",
    "DriverLockstep",
    "DriverRefinement",
    "DriverTask",
    "Op",
    "driver_system",
    "programs",
]

UNIT_NS = 1_000_000_000
"""One model clock unit, in the VirtualClock's nanoseconds."""
ADVANCE_TO = 2
"""The machine advances the clock by hand up to this many units."""
MAX_TASKS = 3
HORIZON = ADVANCE_TO + MAX_TASKS * 2 * 2
"""The model clock's bound D: every deadline is at most the hand-advanced clock plus every
task's sleeps (2 ops of at most 2 units each), however long a read waits in between."""
STALL_TIMEOUT = 30.0
"""Seconds of nothing happening after which ``run()`` counts as parked past a wake (a correct
executor never comes near it: the helper acts within a millisecond of the park)."""
MAX_POLLS = 4
"""A program has at most 2 ops; each ends in the poll after the one that started it, and that
poll starts the next op: at most 3 polls, plus one spare for a wake that finds nothing to do."""


@dataclass(frozen=True)
class Op:
    """One step of a task's program: ``Op("sleep", k)``, ``Op("read", k)`` (``k`` None: no
    timeout), or ``Op("remote")`` (keep a clone of the waker for another thread, which wakes
    it while ``run()`` is parked). The repr is Python, so a failing example prints a program
    that replays it."""

    kind: str
    k: int | None = None

    def __repr__(self) -> str:
        return f"Op({self.kind!r}, {self.k!r})"


Program = tuple[Op, ...]


def programs() -> st.SearchStrategy[Program]:
    """Programs of one or two ops."""
    op = st.one_of(
        st.builds(Op, st.just("sleep"), st.integers(1, 2)),
        st.builds(Op, st.just("read"), st.one_of(st.none(), st.integers(1, 2))),
        st.just(Op("remote")),
    )
    return st.lists(op, min_size=1, max_size=2).map(tuple)


def driver_system(n_tasks: int = MAX_TASKS) -> TransitionSystem:
    """The reference model with the driver, at the machine's bounds (no joins, no spawners;
    other threads: the helper of ``run()``, whose wakes are posted, ``remote`` = 1)."""
    bounds = default_bounds(n_tasks, timers=1, io=1, horizon=HORIZON, polls=MAX_POLLS,
                            wakers=1, inbox=1, remote=1, join=0, spawners=0, drive=1)
    return build(bounds, name="driver")


class DriverRefinement(ReferenceRefinement):
    """The reference refinement (:mod:`refexec.testing.refinement_reference`) plus the driver:
    a ``timer_arm`` event carries its deadline (``other``), and the projection adds the clock,
    the timers and the registrations. A timer's and a registration's waker clones are live
    wakers of the task in the executor; the model keeps them in ``armed`` and ``reg``."""

    def steps(self, ev: Event, s: Any) -> list[ModelStep]:
        out = list(super().steps(ev, s))
        return [(name, {**p, "d": ev.other}) if name == "timer_arm" else (name, p)
                for name, p in out]

    def project(self, s: Any, spawned: int) -> Observation:
        n = spawned
        armed = tuple(s["armed"][:n])
        held = tuple(w + int(a) + int(r != Io.NONE)
                     for w, a, r in zip(s["wakers"][:n], armed, s["reg"][:n], strict=True))
        return Observation(
            states=tuple(s["st"][:n]),
            polls=tuple(s["polls"][:n]),
            queue=tuple(s["q"][: s["qlen"]]),
            wakers=held,
            spawners=s["spawners"],
            extra=(
                ("clock", s["clock"]),
                ("timers", tuple(d if a else None
                                 for d, a in zip(s["deadline"][:n], armed, strict=True))),
                ("reg", tuple(s["reg"][:n])),
            ),
        )


class DriverTask(FutureBase[None]):
    """A task running a program of :class:`Op`, logging what each poll does (module doc)."""

    def __init__(self, machine: DriverLockstep, task: int, program: Program) -> None:
        self.m = machine
        self.task = task
        self.program = program
        self.i = 0
        self.sleep: Any = None  # the current op's refexec sleep future (a timer's owner)
        self.read: Any = None  # the current op's readiness future
        self.sock: socket.socket | None = None  # the read end of the current op's socketpair
        self.peer: socket.socket | None = None
        self.written = False  # the machine wrote to ``peer`` (the fd is ready)
        self.remote: Any = None  # the waker clone another thread is to wake (Op("remote"))
        self.woken = False  # that thread took the clone and woke it

    def log(self, kind: str, other: int = -1) -> None:
        self.m.log.append(Event(kind, self.task, other=other))

    def poll(self, cx: Context) -> Poll[None]:
        self.log("poll")
        while self.i < len(self.program):
            if not self._op(self.program[self.i], cx):
                self.log("pending")
                return Pending
            self.i += 1
        self.log("ready")
        return Ready(None)

    def _timer(self) -> Any:
        tm = self.sleep._timer if self.sleep is not None else None
        return tm if tm is not None and tm.vtable is not None else None

    def _poll_sleep(self, cx: Context) -> bool:
        before = self._timer()
        done = self.sleep.poll(cx) is not Pending
        after = self._timer()
        if before is not None and after is None and done:
            self.log("timer_cancel")  # due, not fired: the sleep cancels it (model forbids)
        if after is not None and after is not before:
            self.log("timer_arm", after.deadline // UNIT_NS)
        return bool(done)

    def _op(self, op: Op, cx: Context) -> bool:
        """Advance ``op``; True when it has finished (the next op starts in the same poll)."""
        if op.kind == "remote":
            if self.woken:
                self.woken = False
                return True
            if self.remote is None:  # the op starts: a clone for the other thread
                self.remote = cx.waker.clone()
                self.log("waker_clone")
            return False
        if self.sleep is None and self.read is None:  # the op starts
            if op.k is not None:
                self.sleep = sleep(op.k)
            if op.kind == "read":
                self.sock, self.peer = socket.socketpair()
                self.sock.setblocking(False)
                self.written = False
                self.read = wait_readable(self.sock)
        if self.read is not None:
            registered = self.read._reg is not None
            if self.read.poll(cx) is not Pending:
                self._finish(cancel_timer=True)
                return True
            if not registered:
                self.log("io_register")
        if self.sleep is not None and self._poll_sleep(cx):
            self.sleep = None
            if self.read is not None:  # the timeout came first: drop the readiness wait
                self.log("io_cancel")
            self._finish(cancel_timer=False)
            return True
        return False

    def _finish(self, cancel_timer: bool) -> None:
        if cancel_timer and self._timer() is not None:
            self.log("timer_cancel")
        self.sleep = None  # dropping the futures cancels the timer / unregisters (their __del__)
        self.read = None
        self.close_socket()

    def close_socket(self) -> None:
        for s in (self.sock, self.peer):
            if s is not None:
                s.close()
        self.sock = self.peer = None

    def __del__(self) -> None:
        self.close_socket()  # the executor dropped the future (it finished or was cancelled)
        w, self.remote = self.remote, None
        if w is not None:  # cancelled while it waited for the other thread: its clone goes
            self.m.log.append(Event("waker_drop", self.task, remote=True))  # no loop runs
            w.drop()

    def make_ready(self) -> None:
        """The environment: data arrives on the socket this task waits for. ``written`` is set
        before the byte is sent: once it is sent, a loop parked in ``select()`` on another
        thread may report it, finish this read and start the next op (resetting ``written``
        for its new socket) before this thread runs again."""
        peer = self.peer
        assert peer is not None
        self.written = True
        peer.send(b"x")

    @property
    def waiting_read(self) -> bool:
        """Registered for readiness, and the fd not made ready yet (read once: the helper
        thread asks while the loop may be ending the op)."""
        read = self.read
        return read is not None and read._reg is not None and not self.written

    def wake_remote(self) -> bool:
        """The other thread: wake the clone this task keeps for it (False if it keeps none)."""
        w = self.remote
        if w is None:
            return False
        self.remote = None
        self.woken = True
        self.m.log.append(Event("wake", self.task, remote=True))  # logged first: parked loop
        w.wake()
        return True

    @property
    def io_state(self) -> int:
        """The model's ``reg[t]`` as the executor has it: in the reactor (``_regs``) or not,
        READY when the machine wrote to the peer and ``select()`` has not reported it yet."""
        r = self.read._reg if self.read is not None else None
        if r is None or r.ready or r.waker is None:
            return Io.NONE
        return Io.READY if self.written else Io.ARMED


class DriverLockstep(RuleBasedStateMachine):
    """Rules: spawn a program, ``run_until_stalled()``, advance the clock, make a waited-for
    socket readable, cancel a task. The oracle follows; see the module docstring."""

    def __init__(self) -> None:
        super().__init__()
        self.clock = VirtualClock(autojump=True)  # jumps only in run(): the park
        self.returned = False
        self.ex = Executor(clock=self.clock)
        self.system = driver_system()
        self.refinement = DriverRefinement(self.system)
        claimed = frozenset(pid for pid, holds in EXPECTED["driver"].items() if holds)
        self.oracle = Oracle(ConcreteModel(self.system), self.refinement, self.system.action,
                             claimed)
        self.log: list[Event] = []
        # weakly: the executor owns each future, and dropping it (a cancel) must be what
        # cancels its timer and unregisters its fd, as for any task
        self.refs: list[weakref.ref[DriverTask]] = []
        self.handles: list[JoinHandle[None]] = []
        self.lost: set[int] = set()

    # -- rules --------------------------------------------------------------------------------

    @initialize(program=programs())
    def first(self, program: Program) -> None:
        self.spawn(program)

    @precondition(lambda self: len(self.refs) < MAX_TASKS and not self.returned)
    @rule(program=programs())
    def spawn(self, program: Program) -> None:
        t = len(self.refs)
        task = DriverTask(self, t, program)
        self.refs.append(weakref.ref(task))
        self.log.append(Event("spawn", t))
        self.handles.append(self.ex.spawn(task))
        del task
        self._sync()

    @property
    def tasks(self) -> list[DriverTask]:
        """The tasks whose future the executor still holds."""
        return [t for t in (r() for r in self.refs) if t is not None]

    @precondition(lambda self: not self.returned)
    @rule()
    def run(self) -> None:
        """``run()`` to the end. The virtual clock jumps to each deadline; when only fds are
        left to wait for, the loop parks in ``select()`` and a helper thread (the network)
        makes one waited-for fd ready at a time, *while the loop is parked there*: the park
        must end, the fd be reported, its task polled. While the loop is parked (in
        ``select()`` or on the condition) the helper also wakes, from its own thread, a task
        waiting for it (``Op("remote")``): the wake is posted, and the door writes the wakeup
        byte (a post during a ``select()`` park) or notifies the condition; the park must end
        and the task be polled. The helper acts on the executor's state
        (``DoorCondition.selecting``, ``Executor._sleeping``), never on a timer. The model's
        loop ends RETURNED."""
        stop = threading.Event()
        failed: list[BaseException] = []

        def network() -> None:
            try:
                self._network(stop)
            except BaseException as e:  # reported by run(), not lost in a thread's warning
                failed.append(e)

        helper = threading.Thread(target=network, daemon=True)
        self.log.append(Event("run_start", -1))
        helper.start()
        try:
            report = self.ex.run(stall_timeout=STALL_TIMEOUT)
        except Stalled as e:
            raise Divergence(f"EX-SLEEP-SAFE / EX-IO-PARK: run() parked {STALL_TIMEOUT} s past "
                             f"what should have woken it: {e}") from None
        finally:
            stop.set()
            helper.join()
            if failed:
                raise failed[0]
        self.lost |= {self.handles.index(h) for h in report.lost}
        self.log.append(Event("run_end", -1))
        self.returned = True
        self._sync()

    def _network(self, stop: threading.Event) -> None:
        lock = self.ex._lock
        while not stop.is_set():
            with lock:
                done = self._act_while_parked()
            if done is None:
                time.sleep(0.0005)  # wait for the loop to park (a state, polled)
                continue
            while not (done() or stop.is_set()):  # until the loop took it in
                time.sleep(0.0005)

    def _act_while_parked(self) -> Any:
        """Under the door's lock: if the loop is parked, act on a task and return what tells
        that the loop took it in; else None. The loop sets and clears ``_sleeping`` and
        ``selecting`` under that lock and cannot leave the park without it, so here they are
        true and no task moves (read without the lock they may be stale: the loop may be
        polling, ending the very wait the helper is about to act on)."""
        ex = self.ex
        if not ex._sleeping:
            return None
        # (what the returned test keeps is never the task: the executor must stay the one
        # owner of its future, so that dropping it is what ends its waits)
        for task in self.tasks:  # a wake from this thread: posted, the park must end
            if task.wake_remote():
                ref = weakref.ref(task)
                return lambda: not getattr(ref(), "woken", False)  # its poll took it in
        if not ex._cond.selecting:
            return None
        for task in self.tasks:
            if task.waiting_read:
                reg = task.read._reg
                self.log.append(Event("fd_ready", task.task))
                task.make_ready()
                return lambda: reg.ready or reg.waker is None  # reported (or dropped)
        return None

    @precondition(lambda self: not self.returned)
    @rule()
    def run_until_stalled(self) -> None:
        self.log.append(Event("stalled_start", -1))
        report = self.ex.run_until_stalled()
        self.lost |= {self.handles.index(h) for h in report.lost}
        self.log.append(Event("step_end", -1))
        self._sync()

    @precondition(lambda self: self.clock.now_ns() < ADVANCE_TO * UNIT_NS and not self.returned)
    @rule(k=st.integers(1, 2))
    def advance(self, k: int) -> None:
        k = min(k, ADVANCE_TO - self.clock.now_ns() // UNIT_NS)
        for _ in range(k):
            self.clock.advance_ns(UNIT_NS)
            self.log.append(Event("tick", -1))
        self._sync()

    @precondition(lambda self: any(t.waiting_read for t in self.tasks) and not self.returned)
    @rule(i=st.integers(0, MAX_TASKS - 1))
    def make_ready(self, i: int) -> None:
        waiting = [t for t in self.tasks if t.waiting_read]
        task = waiting[i % len(waiting)]
        task.make_ready()
        self.log.append(Event("fd_ready", task.task))
        self._sync()

    @precondition(lambda self: any(h.state == TaskState.IDLE for h in self.handles)
                  and not self.returned)
    @rule(i=st.integers(0, MAX_TASKS - 1))
    def cancel(self, i: int) -> None:
        """Cancel a task waiting for its timer or its fd (IDLE)."""
        live = [t for t, h in enumerate(self.handles) if h.state == TaskState.IDLE]
        t = live[i % len(live)]
        self.log.append(Event("cancel", t))
        self.handles[t].cancel()
        self._sync()

    @rule()
    def settle(self) -> None:
        """Look again without acting (after run() returned, the only rule left)."""
        self._sync()

    @invariant()
    def executor_invariants(self) -> None:
        self.ex.check_invariants()
        self.ex._driver.check_invariants()

    # -- observing ----------------------------------------------------------------------------

    def _sync(self) -> None:
        events, self.log[:] = list(self.log), []
        self.oracle.apply(events)
        self.oracle.sync(self.observe(), len(self.refs))

    def observe(self) -> Observation:
        """abstraction(executor): the refinement mapping of spec/SPEC.md 2.7-2.8."""
        ex = self.ex
        index = {id(h): i for i, h in enumerate(self.handles)}
        by_id = {h._id: i for i, h in enumerate(self.handles)}
        # a waker dropped while no loop runs (a cancel between drive calls) is posted to the
        # inbox: the model counts it at once (spec/SPEC.md 6), so the abstraction adds it
        delta = [0] * len(self.handles)
        for op, t in ex._inbox:
            if op == "waker_clone":
                delta[index[id(t)]] += 1
            elif op in ("waker_drop", "wake"):
                delta[index[id(t)]] -= 1
        timers: list[int | None] = [None] * len(self.handles)
        for deadline, _, tm in ex._driver._heap:
            if tm.vtable is not None:
                timers[by_id[tm.task]] = deadline // UNIT_NS
        return Observation(
            states=tuple(int(h.state) for h in self.handles if h.state is not None),
            polls=tuple(h.poll_count for h in self.handles),
            queue=tuple(index[id(t)] for t in ex._ready),
            wakers=tuple(h._wakers + d for h, d in zip(self.handles, delta, strict=True)),
            spawners=ex.snapshot().spawners,
            extra=(
                ("clock", self.clock.now_ns() // UNIT_NS),
                ("timers", tuple(timers)),
                ("reg", tuple(Io.NONE if t is None else t.io_state
                              for t in (r() for r in self.refs))),
                ("lost", tuple(sorted(self.lost))),
            ),
        )

    def teardown(self) -> None:
        for t in self.tasks:
            t.close_socket()
        self.ex.close()
