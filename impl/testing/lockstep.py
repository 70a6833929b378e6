"""The lockstep machine: an executor and the model, driven side by side by Hypothesis.

Each rule is one of the model's actions — or one call the executor answers with a short,
deterministic run of them (a whole poll, ``step()``, ``run()``) — and its precondition is the
model's guard of that action in the current model state. After every rule the machine

1. translates what the scripted tasks logged into model actions and fires them in the model
   (:class:`~refexec.testing.oracle.Oracle`): an action the model does not enable is a failure,
   and so is a transition that breaks a step property the variant claims;
2. compares ``abstraction(executor)`` — the adapter's :class:`Observation` — with the model
   state's projection on the same fields: a difference is a failure;
3. checks every invariant the variant claims on the model state (now equal to the executor's
   abstraction), the kit's own log properties (never polled after completion, never polled by
   two threads at once), and the executor's ``check_invariants()`` if the adapter has one.

Other threads (a helper that wakes, drops and spawns while ``run()``, ``step()``,
``run_until_stalled()`` or ``close()`` runs) are managed threads of
:mod:`refexec.testing.threads_control` when the adapter's executor is ``controlled``: they run
one at a time and switch only where the rule's ``interleaving`` argument says, so every example
is deterministic, and a lost wake is a state (every managed thread blocked), never a timeout.
:func:`explore_door` drives the thread-running rules of a few short programs through every
interleaving within a preemption bound.

Arguments are small ints and scripts whose ``repr`` is Python, so a failure prints a program
that replays it. :func:`lockstep_machine` builds the machine for one adapter and one variant;
the README's section "Checking an executor against the model" walks a runtime author through it.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any, ClassVar

from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    precondition,
    rule,
)
from refexec.schedule import PCT, Policy, RandomPolicy, Replay, Schedule
from refexec.testing.adapter import Adapter
from refexec.testing.oracle import Divergence, Oracle
from refexec.testing.script import Event, Script, World
from refexec.testing.strategies import scripts
from refexec.testing.threads_control import ControlledRLock, Controller

__all__ = ["LockstepMachine", "MachineConfig", "SpawnerRef", "TaskRef", "lockstep_machine",
           "sweep_close_interrupts", "sweep_interrupts"]


Interleaving = Mapping[int, int] | tuple[str, int] | Controller
"""Which thread runs at each scheduling point of a controlled section, drawn by Hypothesis
(:data:`INTERLEAVINGS`) so that it replays and shrinks:

* ``{step: option}``: preempt at those choice steps (every other choice is option 0, "the
  running thread goes on"); a :class:`refexec.schedule.Schedule` with ``#i`` labels, replayed by
  :class:`refexec.schedule.Replay`; shrinks towards fewer, earlier preemptions;
* ``("pct", seed)``: :class:`refexec.schedule.PCT` (depth 3): finds an ordering bug of depth
  ``d`` with probability at least ``1 / (threads * steps ** (d - 1))`` per run;
* ``("random", seed)``: :class:`refexec.schedule.RandomPolicy`;
* a :class:`~refexec.testing.threads_control.Controller` (its policy decides): how
  :func:`explore_door` drives one rule through every interleaving within a bound.
"""

INTERLEAVINGS = st.one_of(
    st.dictionaries(st.integers(0, 23), st.integers(1, 3), max_size=3),
    st.tuples(st.sampled_from(["pct", "random"]), st.integers(0, 2**16)),
)
INTERRUPT_SITES = ("loop", "poll")
"""Where ``run_interrupted_inside`` interrupts the loop thread: at a line of the executor's
code, or inside a task's poll (see ``LockstepMachine._run_impl``)."""
MOVES = ("wake", "by_ref_then_drop", "drop", "cancel_then_drop")
"""What a helper thread does with a stored waker: wake it, wake it by reference then drop it,
drop it, or cancel its task (``JoinHandle.cancel()`` from that thread: posted to the inbox
while the loop runs, the model's ``cancel(remote=1)``) then drop it. An adapter without the
``remote_cancel`` capability drops instead of cancelling."""
PCT_STEPS = 16
"""PCT's estimate of the choices in one section (most have under 10, the longest ~20)."""


def _policy(interleaving: Interleaving | None) -> Policy:
    assert not isinstance(interleaving, Controller)
    if isinstance(interleaving, tuple):
        how, seed = interleaving
        if how == "pct":
            return PCT(seed, depth=3, max_steps_estimate=PCT_STEPS)
        return RandomPolicy(seed)
    entries = sorted((step, f"#{k}") for step, k in (interleaving or {}).items())
    return Replay(Schedule(entries), strict=False)


@dataclass(frozen=True)
class TaskRef:
    """A task in the ``tasks`` bundle: its kit id (spawn order)."""

    task: int

    def __repr__(self) -> str:
        return f"TaskRef({self.task})"


@dataclass(frozen=True)
class SpawnerRef:
    """A spawner handle in the ``spawners`` bundle."""

    index: int

    def __repr__(self) -> str:
        return f"SpawnerRef({self.index})"


@dataclass(frozen=True)
class MachineConfig:
    """What differs between machines: the executor, the model, and the shape of generated work.

    * ``adapter(world, rng)`` builds the executor's adapter; every scheduling choice the executor
      makes must come from ``rng``, which Hypothesis seeds (failures replay and shrink);
    * ``oracle()`` builds the model follower for the variant;
    * ``max_tasks``, ``max_polls``, ``max_held``: the model's bounds (tasks; polls by which a
      future returns Ready; held wakers per task), which the generated work stays within;
    """

    name: str
    adapter: Callable[[World, random.Random], Adapter]
    oracle: Callable[[], Oracle]
    max_tasks: int
    max_polls: int
    max_held: int
    script_steps: int = 3
    child_depth: int = 1
    joins: bool = True
    cancels: bool = True
    raises: bool = True
    self_wakes: bool = True
    threads: bool = True
    run_timeout: float = 10.0
    """A safety net for the uncontrolled adapters' real threads (a join that would hang fails);
    never a verdict: liveness is judged from states (see :meth:`LockstepMachine._run_impl`)."""


class LockstepMachine(RuleBasedStateMachine):
    """Base class; :func:`lockstep_machine` fills in ``config`` and the spawn rules."""

    config: ClassVar[MachineConfig]
    totals: ClassVar[Counter[str]]
    last_interleaving: ClassVar[str] = "-"
    """The schedule of the last controlled section run (``Replay`` replays it)."""
    """Per machine class: rules run, model actions fired, events by kind (for measurements)."""
    tasks = Bundle("tasks")
    spawners = Bundle("spawners")

    def __init__(self) -> None:
        super().__init__()
        cfg = self.config
        self.world = World(max_tasks=cfg.max_tasks, max_polls=cfg.max_polls,
                           max_held=cfg.max_held, self_wakes=cfg.self_wakes)
        self.adapter: Adapter | None = None
        self.oracle: Oracle | None = None
        self.spawner_objs: dict[int, Any] = {}
        self.rules_run = 0
        self.finished = False  # close() ended the example: no rule applies any more
        self.closing = False
        self.await_spawns = False  # the helper waits for each task it spawned to finish
        self.last_controller: Controller | None = None
        self.remote_cancelled: set[int] = set()  # tasks a helper thread cancelled

    # -- set-up, guards, and the check after every rule --------------------------------------------

    @initialize(seed=st.integers(0, 2**16))
    def setup(self, seed: int) -> None:
        """The scheduling seed: every choice the executor makes comes from it."""
        self.adapter = self.config.adapter(self.world, random.Random(seed))
        if self.controlled:
            # blocks (controlled) while another managed thread holds it; not a choice point
            self.world.lock = ControlledRLock("log", choice=False)
        self.oracle = self.config.oracle()
        self._sync()

    @property
    def a(self) -> Adapter:
        assert self.adapter is not None
        return self.adapter

    @property
    def o(self) -> Oracle:
        assert self.oracle is not None
        return self.oracle

    def can(self, action: str, **params: int) -> bool:
        """The model's guard of ``action(params)`` in some state of the current frontier.

        A parameter the action does not have is ignored (a counter-abstracted model names a
        class of tasks, not a task); one it has but the query leaves out ranges over its domain.
        """
        if self.oracle is None or self.finished:
            return False
        o = self.oracle
        try:
            act = o.action_lookup(action)
        except KeyError:
            return False
        given = {k: v for k, v in params.items() if k in act.params}
        if any(v not in act.params[k] for k, v in given.items()):
            return False
        insts = [p for p in act.instances() if all(p[k] == v for k, v in given.items())]
        states = o.states()
        return any(o.model.is_enabled(s, act, p) for s in states for p in insts)

    def has(self, capability: str) -> bool:
        return self.adapter is not None and capability in self.adapter.capabilities

    def _sync(self, *, run_end: bool = False, end_kind: str = "run_end") -> None:
        """Fire the logged events in the model, then compare and check (see the module doc).

        With ``run_end``, a drive call has just returned (``end_kind``: ``run_end`` for
        ``run()``, ``step_end`` for ``step()`` / ``run_until_stalled()``). The helper thread's
        moves that came after the loop thread's last logged event raced the loop's decision to
        return (run(): under its own lock; step() / run_until_stalled(): at their last look at
        the inbox), and the log cannot tell on which side of it they fell. So the end is tried
        at each position among those trailing moves, latest first; the check passes if one
        linearization is a model run (and the model's guard on the end, per drive call, is
        what judges it).
        """
        if run_end:
            events = self.world.drain()
            k = max((i + 1 for i, ev in enumerate(events) if not ev.remote), default=0)
            end = Event(end_kind, -1)
            first: Divergence | None = None
            for pos in range(len(events), k - 1, -1):
                saved = (set(self.o.frontier), list(self.o.history), self.o.fired)
                self.world.log[:0] = [*events[:pos], end, *events[pos:]]
                try:
                    self._sync()
                    return
                except Divergence as e:
                    first = first or e
                    self.world.drain()
                    self.o.frontier, self.o.history, self.o.fired = saved
            assert first is not None
            raise first
        events = self.world.drain()
        _check_log(events)
        totals = self.totals
        totals["rules"] += 1
        totals["model_actions"] += len(events)
        for ev in events:
            totals["event:" + ev.kind] += 1
            self.o.apply([ev])
        self.o.sync(self.a.observe(), self.world.spawned())

        checker = getattr(self.a, "check_invariants", None)
        if checker is not None:
            checker()
        self.rules_run += 1

    def teardown(self) -> None:
        if self.adapter is not None:
            self.adapter.close()

    # -- rules ------------------------------------------------------------------------------------

    def _spawn(self, script: Script) -> TaskRef:
        runner = self.world.new_runner(script)
        self.world.record("spawn", runner.task)
        self.world.handles.append(self.a.spawn(runner))
        self._sync()
        return TaskRef(runner.task)

    def _spawn_remote(self, script: Script) -> TaskRef:
        spawner = next(iter(self.spawner_objs.values()))
        runner = self.world.new_runner(script)
        out: list[Any] = []

        def go() -> None:
            self.world.record("spawn", runner.task,
                              locked_action=lambda: out.append(self.a.spawn_remote(spawner,
                                                                                   runner)))

        self._in_thread(go)
        self.world.handles.append(out[0])
        self._sync()
        return TaskRef(runner.task)

    # -- concurrency: every other thread runs under the controlled scheduler ------------------

    @property
    def controlled(self) -> bool:
        """Whether the adapter's executor has its door under control (``threads_control``):
        then every helper thread is managed and every example is deterministic."""
        return bool(getattr(self.adapter, "controlled", False))

    @contextmanager
    def _section(self, interleaving: Interleaving | None) -> Iterator[Controller | None]:
        """A controlled section (the test thread is managed thread ``loop``), or None for an
        adapter that is not controlled (its helpers are plain threads)."""
        if not self.controlled:
            yield None
            return
        ctl = interleaving if isinstance(interleaving, Controller) else Controller(
            _policy(interleaving))
        self.last_controller = ctl
        try:
            with ctl.attached("loop"):
                yield ctl
        finally:
            type(self).last_interleaving = str(ctl.schedule)

    def _helper(self, ctl: Controller | None, name: str, body: Callable[[], None]
                ) -> threading.Thread | None:
        """Run ``body`` on another thread: managed under ``ctl``, else a plain one."""
        if ctl is not None:
            ctl.start(name, body)
            return None
        thread = threading.Thread(target=body, name=name, daemon=True)
        thread.start()
        return thread

    def _moves(self, moves: list[str], spawns: list[Script], done: list[bool],
               ctl: Controller | None, *, until_done: bool, spawners: list[Any]) -> None:
        """What a helper thread does: spawn ``spawns`` through a live spawner, drop
        ``spawners``, then wake or drop stored wakers (``moves`` cycles through how), one per
        move, or (``until_done``) every waker as it appears until ``done[0]``."""
        world, adapter = self.world, self.a
        sp = spawners[0] if spawners else None
        for script in spawns:
            if sp is None:
                break
            with world.lock:  # numbered, logged and performed in one step (kit id order)
                if world.spawned() >= self.config.max_tasks:
                    break
                runner = world.new_runner(script)

                def go(runner: Any = runner) -> None:
                    try:
                        h = adapter.spawn_remote(sp, runner)
                    except RuntimeError:
                        if not self.closing:
                            raise
                        h = None  # refused by a closed executor, as it must be
                    world.handles.append(h)

                world.record("spawn", runner.task, locked_action=go)
            if self.await_spawns and ctl is not None:
                h: Any = world.handles[runner.task]

                def finished(h: Any = h) -> bool:
                    return h is None or bool(h.done())

                ctl.block_until(finished, "spawned task")
        for obj in spawners:
            world.record("spawner_drop", -1, locked_action=partial(adapter.drop_spawner, obj))
        plan = moves or ["drop"]
        i = 0
        while True:
            if not until_done and i >= len(moves):
                return
            w = world.pick_waker(0)
            if w is None:
                if not until_done or done[0]:
                    return
                if ctl is not None:
                    ctl.block_until(lambda: done[0] or bool(world.live_wakers()), "work")
                else:
                    time.sleep(0.0001)
                continue
            move = plan[i % len(plan)]
            i += 1
            if move == "cancel_then_drop":
                self._cancel_from_here(w.task)
                world.drop_stored(w)
            elif move == "wake":
                world.wake_stored(w, by_ref=False)
            elif move == "drop":
                world.drop_stored(w)
            else:
                world.wake_stored(w, by_ref=True)
                world.drop_stored(w)

    def _cancel_from_here(self, task: int) -> None:
        """``JoinHandle.cancel()`` of ``task`` from the calling (helper) thread, logged and
        performed in one step; at most once per task and example, and only while the task is
        taken in and unfinished (the model's ``cancel(remote=1)`` guard; a second posted cancel
        of a task would be the same request). The caller holds a stored waker of ``task``, so
        nothing the loop does without logging (reaping it as lost) can end it meanwhile."""
        world = self.world
        with world.lock:
            cancellable = getattr(self.a, "cancellable", None)
            if (not self.config.cancels or task in self.remote_cancelled or cancellable is None
                    or not cancellable(task)):
                return
            self.remote_cancelled.add(task)
            world.record("cancel", task, locked_action=partial(self.a.cancel, task))

    def _log_loop_event(self, kind: str) -> None:
        """Log the end of ``run()`` exactly (controlled sections only). No scheduling point lies
        between the loop's decision (under the door's lock) and here, so another thread moved
        in between only if it is suspended inside its logged action (at the door, holding the
        log's lock): that action takes effect after the decision (its door operation needs the
        lock the decision held, and nothing in an action follows the door), so the end goes
        before its event. (Taking the log's lock here would let it finish first.)"""
        ev = Event(kind, -1)
        pending = self.world.in_action
        if pending is not None:
            self.world.log.insert(pending, ev)
        else:
            with self.world.lock:
                self.world.log.append(ev)

    def _concurrent_ok(self) -> bool:
        return self.controlled and self.config.threads and self.has("threads")

    def _step_impl(self, call: Callable[[], object], moves: Sequence[str],
                   interleaving: Interleaving | None, start: str = "step_start") -> None:
        """``step()`` / ``run_until_stalled()`` while (controlled adapters) another thread
        wakes or drops stored wakers: its posts race the loop's drain, polls and return.

        ``start`` names the drive call in the log (``step_start``: step(), ``stalled_start``:
        run_until_stalled()), so the model's ``step_return`` judges the return by its mode
        (EX-STALLED-EXACT, EX-STEP-ONE): an early or a late return is a divergence."""
        if not self._concurrent_ok():
            moves = []
        done = [False]
        with self._section(interleaving) as ctl:
            self.world.record(start, -1)
            if moves and ctl is not None:
                self._helper(ctl, "other", lambda: self._moves(
                    list(moves), [], done, ctl, until_done=False, spawners=[]))
            call()
        # the end is placed by _sync among the helper's moves logged after the loop's last
        # event: a move in flight may have taken effect before the return or after it
        self._sync(run_end=True, end_kind="step_end")

    @precondition(lambda self: self.has("step") and self.can("run_start"))
    @rule(moves=st.lists(st.sampled_from(MOVES), max_size=2), interleaving=INTERLEAVINGS)
    def step(self, moves: Sequence[str] = (), interleaving: Interleaving | None = None) -> None:
        """One ``step()``: at most one poll, and whatever that poll did."""
        self._step_impl(self.a.step, list(moves), interleaving)

    @precondition(lambda self: self.has("run_until_stalled") and self.can("run_start"))
    @rule(moves=st.lists(st.sampled_from(MOVES), max_size=2), interleaving=INTERLEAVINGS)
    def run_until_stalled(self, moves: Sequence[str] = (),
                          interleaving: Interleaving | None = None) -> None:
        """``run_until_stalled()``: poll until nothing is ready."""
        self._step_impl(self.a.run_until_stalled, list(moves), interleaving, "stalled_start")

    @precondition(lambda self: self.adapter is not None and not self.finished
                  and bool(self.world.live_wakers()))
    @rule(slot=st.integers(0, 3), by_ref=st.booleans(), threaded=st.booleans())
    def wake(self, slot: int, by_ref: bool, threaded: bool) -> None:
        """``wake``/``wake_by_ref`` of a stored waker, from the test thread or another thread.

        A remote wake the model does not allow here (its inbox bound is full) is made locally;
        one neither allows is skipped: the guard decides, as for every rule.
        """
        w = self.world.pick_waker(slot)
        assert w is not None
        kind = "wake_by_ref" if by_ref else "wake"
        remote = self._where(kind, w.task, threaded)
        if remote is None:
            return
        self._maybe_threaded(remote, lambda: self.world.wake_stored(w, by_ref))
        self._sync()

    @precondition(lambda self: self.adapter is not None and not self.finished
                  and bool(self.world.live_wakers()))
    @rule(slot=st.integers(0, 3), threaded=st.booleans())
    def drop(self, slot: int, threaded: bool) -> None:
        """``drop()`` of a stored waker, from the test thread or another thread."""
        w = self.world.pick_waker(slot)
        assert w is not None
        remote = self._where("waker_drop", w.task, threaded)
        if remote is None:
            return
        self._maybe_threaded(remote, lambda: self.world.drop_stored(w))
        self._sync()

    @precondition(lambda self: self.has("cancel") and self.config.cancels)
    @rule(task=tasks)
    def cancel(self, task: TaskRef) -> None:
        """``cancel(t)`` from the test thread, whatever t's state."""
        if not self.can("cancel", t=task.task):
            return
        self.world.record("cancel", task.task)
        self.a.cancel(task.task)
        self._sync()

    @precondition(lambda self: self.has("spawner") and self.can("spawner_new"))
    @rule(target=spawners)
    def new_spawner(self) -> SpawnerRef:
        """``Executor.spawner()``: a handle that keeps ``run()`` open while it lives."""
        ref = SpawnerRef(len(self.spawner_objs) + 1000 * self.rules_run)
        self.world.record("spawner_new", -1)
        self.spawner_objs[ref.index] = self.a.new_spawner()
        self._sync()
        return ref

    @precondition(lambda self: not self.finished)
    @rule(spawner=consumes(spawners), threaded=st.booleans())
    def drop_spawner(self, spawner: SpawnerRef, threaded: bool) -> None:
        """Drop a spawner, from the test thread or another thread."""
        obj = self.spawner_objs.pop(spawner.index, None)
        if obj is None:
            return  # already dropped by run()'s helper thread
        remote = self._where("spawner_drop", None, threaded)
        if remote is None:
            self.spawner_objs[spawner.index] = obj
            return

        def go() -> None:
            self.world.record("spawner_drop", -1, locked_action=lambda: self.a.drop_spawner(obj))

        self._maybe_threaded(remote, go)
        self._sync()

    def _run_impl(self, plan: list[str], spawns: list[Script], interleaving: Interleaving,
                  later: int, interrupt: int = 0, *,
                  interrupt_in: tuple[str, int] | None = None) -> None:
        """``run()`` while another thread spawns through a live Spawner (``spawns``), drops
        every spawner, then wakes or drops every stored waker as it appears (``plan`` cycles
        through how): it races the loop's decision to sleep or to return, which is where
        executors lose wakes.

        For a controlled adapter both threads are managed (``threads_control``) and
        ``interleaving`` (drawn by Hypothesis, so it shrinks) says where the helper preempts the
        loop; the run is a function of the example. Liveness is a state: if every managed
        thread is blocked, the loop parked and the helper with nothing left to do, the executor
        slept through what should have woken it or let it return (EX-SLEEP-SAFE): the adapter
        reports it with the state (what is pending, which task waits on what), at once.

        ``run()`` ends the executor's life in the model (``run_end`` leads to RETURNED), so the
        rule runs it only when ``later`` is 0 and otherwise just looks again: a quarter of the
        draws, which leaves most of each example to the rules that keep it going.

        ``interrupt`` = k > 0 (controlled adapters with the ``interrupt`` capability): a
        ``KeyboardInterrupt`` hits the loop thread at its k-th inbox check between polls; the
        run then gave the thread back between polls (the model's ``step_return``), the state
        must still be the model's, and the example goes on (a later ``run()`` runs again).

        ``interrupt_in`` = (site, k): the ``KeyboardInterrupt`` hits the loop thread at the
        k-th line it executes (a ``sys.settrace`` hook, :class:`~refexec.testing.interrupts.
        LineInterrupter`: only lines where CPython can deliver a signal) of ``site``: "loop",
        the executor's own code (its transitions, the drive loop, the wakers; the adapter's
        ``loop_codes()``) run between polls (the adapter's ``outside_polls()``), or "poll", a
        task's poll right after it started or between two of its scripted effects. A poll
        cut short ends the task with the interrupt as its outcome (the model's ``ready``: the
        machine logs it as the interrupt is raised); then the run gave the thread back as
        above. If the run ends before the k-th line, nothing was interrupted.
        """
        if later:
            self._sync()
            return
        if not self._concurrent_ok() or not self.has("spawner"):
            spawns = []
        adapter, world = self.a, self.world
        spawners = list(self.spawner_objs.values())
        self.spawner_objs.clear()
        done = [False]
        thread = None
        interrupted = False
        with self._section(interleaving) as ctl:
            if interrupt and ctl is not None and self.has("interrupt"):
                ctl.interrupt_at = interrupt
            world.record("run_start", -1)
            thread = self._helper(ctl, "helper", lambda: self._moves(
                plan, spawns, done, ctl, until_done=True, spawners=spawners))
            liner = None
            if interrupt_in is not None and ctl is not None and self.has("interrupt"):
                liner = self._line_interrupter(*interrupt_in)
                self.last_liner = liner  # its ``where`` names the line it interrupted
            try:
                try:
                    if liner is None:
                        adapter.run()
                    else:
                        with liner:
                            adapter.run()
                except KeyboardInterrupt:
                    if ctl is None or not (ctl.interrupted or (
                            liner is not None and liner.where is not None)):
                        raise
                    interrupted = True
                    if liner is not None:  # (how often the drawn line was reached: not vacuous)
                        self.totals["interrupted:" + interrupt_in[0]] += 1  # type: ignore[index]
                    # given back between polls, without the door's lock: like step()'s end,
                    # logged after an action in flight (it took effect before or after, and
                    # the model drains it or keeps it either way)
                    world.record("step_end", -1)
                else:
                    if ctl is not None:
                        self._log_loop_event("run_end")
            finally:
                done[0] = True
        if thread is not None:
            thread.join(self.config.run_timeout)
            if thread.is_alive():
                raise Divergence("run()'s helper thread did not finish")
        if ctl is not None:
            self._sync()
        else:
            self._sync(run_end=True)
        if interrupted:
            return  # the executor goes on: its wakers stay with the example
        # How many wakers of finished tasks the helper got to before run() returned depends on
        # the interleaving; the rules that follow must not depend on it (their preconditions
        # would make Hypothesis's replays diverge), so the rest are dropped, from a thread
        # that is not the (finished) loop's.
        rest = self.world.live_wakers()
        if rest:
            def drop_rest() -> None:
                for w in rest:
                    self.world.drop_stored(w)

            self._in_thread(drop_rest)
            self._sync()

    def _block_on_impl(self, task: int, plan: list[str], interleaving: Interleaving | None
                       ) -> None:
        """``block_on(handle)`` of ``task`` while another thread wakes, drops and cancels every
        stored waker as it appears (``plan`` cycles through how), the others' tasks included
        (self-waking ones, ones woken from that thread): the model's ``block_on_start(t)``,
        whose ``step_return`` (the call's return) is enabled exactly once ``t`` is final
        (EX-BLOCK-ON-RETURN). A return before that, or a round started after it (with the
        round bound), is a divergence; a park nobody can end is a state (as for ``run()``)."""
        done = [False]
        with self._section(interleaving) as ctl:
            self.world.record("block_on_start", task)
            if ctl is not None and self._concurrent_ok():
                self._helper(ctl, "helper", lambda: self._moves(
                    plan, [], done, ctl, until_done=True, spawners=[]))
            try:
                self.a.block_on(task)  # type: ignore[attr-defined]
            finally:
                done[0] = True
        # the return is placed by _sync among the helper's moves logged after the loop's last
        # event (block_on() looks at its target without the door's lock)
        self._sync(run_end=True, end_kind="step_end")

    def _line_interrupter(self, site: str, at: int) -> Any:
        """The :class:`~refexec.testing.interrupts.LineInterrupter` of ``_run_impl``'s
        ``interrupt_in``. In a poll, the interrupt is the task's outcome: it is logged as its
        ``ready`` when raised (the poll it cuts short logged ``poll`` and not yet its end)."""
        from refexec.testing.interrupts import LineInterrupter, codes_of, line_of  # noqa: PLC0415
        from refexec.testing.script import ScriptRunner  # noqa: PLC0415

        if site == "poll":
            world = self.world

            def in_poll() -> BaseException:
                for r in world.runners:
                    if r.in_poll:
                        r.finished = True
                        world.record("ready", r.task)
                return KeyboardInterrupt("controlled interrupt inside a task's poll")

            # right after the poll is logged, or at the loop over a step's effects: between
            # two effects (each is done and logged as one), before the outcome is decided
            poll = ScriptRunner._poll
            return LineInterrupter(codes_of(poll), at, in_poll, line=(
                line_of(poll, "self.polls += 1"), line_of(poll, "for effect in step")))
        return LineInterrupter(self.a.loop_codes(), at,  # type: ignore[attr-defined]
                               lambda: KeyboardInterrupt("controlled interrupt in the loop"),
                               when=self.a.outside_polls)  # type: ignore[attr-defined]

    def _close_impl(self, moves: list[str], spawns: list[Script], interleaving: Interleaving,
                    interrupt_at: int = 0) -> None:
        """``close()`` while another thread wakes, drops, cancels (``moves``) and spawns through
        a live Spawner, switching at every controlled point inside close(); it ends the
        example. Checked twice: its contract directly on the state (afterwards every task the
        kit spawned is final or its spawn refused, nothing is queued or waiting, the inbox is
        empty, the executor's invariants hold), and step by step in the model: the adapter
        logs close()'s own steps as they happen (``close_start`` as the flag is set, each task
        it cancels, ``close_end``) among the other thread's moves, and the model follows them
        action by action (``refexec.models.refinement.CLOSE_EVENTS``: close_start, the
        take-ins, each close_drop in order — the head of the ready queue first, a dropped
        task's join waiter woken —, close_end, and the other thread's closed_wake / refused
        spawn / dropped cancel), then the state is compared with the model's.

        ``interrupt_at`` = k > 0 (adapters with the ``interrupt`` capability): a
        ``KeyboardInterrupt`` hits close() at the k-th line of the executor's code it runs
        (``loop_codes()``; ``self.last_liner.where`` names it, None if close() ran fewer); the
        model stays CLOSING, and close() is called again, which finishes the first one (the
        model going on from where it was); the same checks judge the end."""
        closer = getattr(self.a, "close_checked", None)
        if closer is None or not self._concurrent_ok():
            return
        spawners = list(self.spawner_objs.values())
        done = [False]
        self.closing = True
        with self._section(interleaving) as ctl:
            self._helper(ctl, "other", lambda: self._moves(
                moves, spawns, done, ctl, until_done=False, spawners=spawners[:1]))
            if interrupt_at and ctl is not None and self.has("interrupt"):
                from refexec.testing.interrupts import LineInterrupter  # noqa: PLC0415

                liner = self.last_liner = LineInterrupter(
                    self.a.loop_codes(), interrupt_at,  # type: ignore[attr-defined]
                    lambda: KeyboardInterrupt("controlled interrupt inside close()"))
                try:
                    with liner:
                        closer()
                except KeyboardInterrupt:
                    if liner.where is None:
                        raise
                    self.totals["interrupted:close"] += 1
                    self.a.close_interrupted()  # type: ignore[attr-defined]
                    closer()  # the second close() finishes the first
            else:
                closer()
            getattr(self.a, "close_returned", lambda: None)()
            done[0] = True
        problems = self.a.close_problems()  # type: ignore[attr-defined]
        if problems:
            self.finished = True
            self.world.drain()
            raise Divergence("close() broke its contract: " + "; ".join(problems))
        self._sync()  # the model follows close() (and the other thread) step by step
        self.finished = True

    @rule()
    def observe(self) -> None:
        """Do nothing and look again: the executor must not change on its own."""
        if not self.finished:  # after close() there is no model state to compare with
            self._sync()

    # -- helpers ----------------------------------------------------------------------------------

    def _where(self, action: str, task: int | None, threaded: bool) -> int | None:
        """1 to act from another thread, 0 from this one, None if the model allows neither."""
        params: dict[str, int] = {} if task is None else {"t": task}
        order = (1, 0) if threaded and self.config.threads and self.has("threads") else (0, 1)
        for remote in order:
            if remote and not (self.config.threads and self.has("threads")):
                continue
            if self.can(action, remote=remote, **params):
                return remote
        return None

    def _in_thread(self, action: Callable[[], None]) -> None:
        """Run ``action`` on another thread and wait for it (managed when controlled)."""
        errors: list[BaseException] = []

        def target() -> None:
            try:
                action()
            except BaseException as e:  # re-raised on the test thread
                errors.append(e)

        with self._section({}) as ctl:
            t = self._helper(ctl, "other", target)
        if t is not None:
            t.join(self.config.run_timeout)
            if t.is_alive():
                raise Divergence("an action on another thread did not return")
        if errors:
            raise errors[0]

    def _maybe_threaded(self, remote: int, action: Callable[[], None]) -> None:
        if remote:
            self._in_thread(action)
        else:
            action()


def _check_log(events: list[Event]) -> None:
    """Properties the kit checks on the log alone, independent of any model."""
    for ev in events:
        if ev.kind == "poll_after_complete":
            raise Divergence(f"EX-FINAL: task {ev.task} was polled after it completed")
        if ev.kind == "overlap":
            raise Divergence(f"EX-ONE-POLLER: task {ev.task} was polled by two threads at once")


def busy_script(max_polls: int) -> Script:
    """A task that wakes itself in each of its polls and returns Ready only at ``max_polls``
    (the environment's bound): ready for as long as a bounded model run can follow."""
    from refexec.testing.script import PendingStep, WakeSelf  # noqa: PLC0415

    return Script(*[PendingStep(WakeSelf(1)) for _ in range(max_polls - 1)])


def lockstep_machine(config: MachineConfig) -> type[LockstepMachine]:
    """Build the lockstep machine class for one adapter and one model variant.

    Use it as ``TestX = lockstep_machine(cfg).TestCase`` in a test module, or run it with
    ``hypothesis.stateful.run_state_machine_as_test(lockstep_machine(cfg), settings=...)``.
    """
    script_strategy = scripts(config.script_steps, config.child_depth, joins=config.joins,
                              cancels=config.cancels, raises=config.raises,
                              self_wakes=config.self_wakes)

    def spawn(self: LockstepMachine, script: Script) -> TaskRef:
        """``spawn(t)`` from the test thread (the loop thread when not running)."""
        return self._spawn(script)

    def spawn_remote(self: LockstepMachine, script: Script) -> TaskRef:
        """``spawn(t)`` through a Spawner, from a real other thread."""
        return self._spawn_remote(script)

    def guard_local(self: LockstepMachine) -> bool:
        return self.adapter is not None and self.can("spawn", t=self.world.spawned(), remote=0)

    def guard_remote(self: LockstepMachine) -> bool:
        return (self.has("spawner") and self.has("threads") and bool(self.spawner_objs)
                and self.can("spawn", t=self.world.spawned(), remote=1))

    moves = st.lists(st.sampled_from(MOVES), max_size=4)

    def run(self: LockstepMachine, plan: list[str], spawns: list[Script],
            interleaving: Interleaving, later: int) -> None:
        """``run()`` while another thread spawns, drops spawners and wakes or drops wakers
        (see ``LockstepMachine._run_impl``)."""
        self._run_impl(plan, spawns, interleaving, later)

    def close(self: LockstepMachine, moves: list[str], spawns: list[Script],
              interleaving: Interleaving, later: int) -> None:
        """``close()`` while another thread wakes, drops and spawns (ends the example; see
        ``LockstepMachine._close_impl``); drawn one time in eight."""
        if not later:
            self._close_impl(moves, spawns, interleaving)

    def spawn_busy(self: LockstepMachine) -> TaskRef:
        """A task ready for ever (as far as the model's poll bound lets it: it wakes itself in
        every poll until its last): the others, and what other threads post, must still be
        served within the bounds (EX-FIFO; with rounds, EX-INBOX-PROMPT)."""
        return self._spawn(busy_script(config.max_polls))

    def block_on(self: LockstepMachine, task: TaskRef, plan: list[str],
                 interleaving: Interleaving) -> None:
        """``block_on()`` of a spawned task while another thread wakes, drops and cancels (see
        ``LockstepMachine._block_on_impl``)."""
        if self.can("block_on_start", t=task.task):
            self._block_on_impl(task.task, plan, interleaving)

    def guard_block_on(self: LockstepMachine) -> bool:
        # controlled only: with the target waiting on a stored waker, the helper thread is
        # what wakes it, and a park nobody can end must be a state, not a hang
        return (self.has("block_on") and self.controlled and self.world.spawned() > 0
                and self.can("block_on_start"))

    def run_interrupted(self: LockstepMachine, plan: list[str], interleaving: Interleaving,
                        at: int) -> None:
        """``run()`` interrupted (``KeyboardInterrupt``) at the loop's ``at``-th inbox check
        between polls while another thread wakes, drops and cancels; then the example goes
        on, and a later ``run`` runs the executor again (see ``LockstepMachine._run_impl``)."""
        self._run_impl(plan, [], interleaving, 0, interrupt=at)

    def run_interrupted_inside(self: LockstepMachine, plan: list[str],
                               interleaving: Interleaving, site: str, at: int) -> None:
        """``run()`` interrupted at the ``at``-th line the loop thread executes in ``site``
        ("loop": the executor's code; "poll": a task's poll) while another thread wakes, drops
        and cancels; then the example goes on (see ``LockstepMachine._run_impl``)."""
        self._run_impl(plan, [], interleaving, 0, interrupt_in=(site, at))

    def guard_interrupt(self: LockstepMachine) -> bool:
        return guard_run(self) and self.has("interrupt") and self.controlled

    def guard_run(self: LockstepMachine) -> bool:
        return self.has("run") and self.world.spawned() > 0 and self.can("run_start")

    def guard_close(self: LockstepMachine) -> bool:
        return (not self.finished and self.world.spawned() > 0 and self.can("close_start")
                and getattr(self.adapter, "close_checked", None) is not None)

    namespace: dict[str, Any] = {
        "run": precondition(guard_run)(rule(
            plan=moves, spawns=st.lists(script_strategy, max_size=2),
            interleaving=INTERLEAVINGS, later=st.integers(0, 1),
        )(run)),
        "close": precondition(guard_close)(rule(
            moves=moves, spawns=st.lists(script_strategy, max_size=1),
            interleaving=INTERLEAVINGS, later=st.integers(0, 7),
        )(close)),
        "config": config,
        "totals": Counter(),
        "spawn": precondition(guard_local)(
            rule(target=LockstepMachine.tasks, script=script_strategy)(spawn)),
        "spawn_remote": precondition(guard_remote)(
            rule(target=LockstepMachine.tasks, script=script_strategy)(spawn_remote)),
    }
    namespace["block_on"] = precondition(guard_block_on)(rule(
        task=LockstepMachine.tasks, plan=moves, interleaving=INTERLEAVINGS)(block_on))
    namespace["run_interrupted"] = precondition(guard_interrupt)(rule(
        plan=moves, interleaving=INTERLEAVINGS, at=st.integers(1, 6))(run_interrupted))
    # a run executes hundreds of loop lines but only a few polls (often none: the tasks ran
    # in earlier steps), so each site has its own range of positions
    namespace["run_interrupted_in_loop"] = precondition(guard_interrupt)(rule(
        plan=moves, interleaving=INTERLEAVINGS, site=st.just("loop"),
        at=st.integers(1, 400))(run_interrupted_inside))
    namespace["run_interrupted_in_poll"] = precondition(guard_interrupt)(rule(
        plan=moves, interleaving=INTERLEAVINGS, site=st.just("poll"),
        at=st.integers(1, 3))(run_interrupted_inside))
    if config.self_wakes:
        namespace["spawn_busy"] = precondition(guard_local)(
            rule(target=LockstepMachine.tasks)(spawn_busy))
    name = f"Lockstep_{config.name.replace(':', '_').replace('-', '_')}"
    return type(name, (LockstepMachine,), namespace)



# ------------------------------------------------------------------------------------------
# The door's races, explored exhaustively: a few short programs, each ending in one rule that
# runs threads (run(), close()), driven through every interleaving within a preemption bound.

Program = Callable[[LockstepMachine, Controller], None]


def _door_programs() -> dict[str, Program]:
    from refexec.testing.script import (  # noqa: PLC0415
        AwaitJoin,
        CancelTask,
        Keep,
        PendingStep,
        ReadyStep,
        SpawnChild,
        WakeSelf,
    )

    waiting = Script(PendingStep(Keep()))
    # pending after waking itself and spawning a child during its poll, then ready
    busy = Script(PendingStep(WakeSelf(1), SpawnChild(Script(ReadyStep()))), ReadyStep())

    def wake(m: LockstepMachine, c: Controller, how: str = "wake") -> None:
        m._spawn(waiting)
        m._run_impl([how], [], c, 0)

    def remote_cancel(m: LockstepMachine, c: Controller, awaited: bool = False) -> None:
        m._spawn(waiting)
        if awaited:
            m._spawn(Script(AwaitJoin(0)))  # task 1 awaits task 0's JoinHandle
        m._run_impl(["cancel_then_drop"], [], c, 0)

    def remote_cancel_during_drive(m: LockstepMachine, c: Controller) -> None:
        m._spawn(waiting)
        m.step()  # task 0 waits, its waker stored
        m._step_impl(m.a.run_until_stalled, ["cancel_then_drop"], c, "stalled_start")

    def drive_call(m: LockstepMachine, c: Controller, stalled: bool) -> None:
        # step() / run_until_stalled() polling a task that wakes itself and spawns a child,
        # while another thread wakes (then drops) the waiting task's stored waker: the model's
        # step_return judges when each returns (EX-STEP-ONE, EX-STALLED-EXACT)
        m._spawn(waiting)
        m._spawn(busy)
        m.step()  # task 0 waits, its waker stored
        if stalled:
            m._step_impl(m.a.run_until_stalled, ["wake", "drop"], c, "stalled_start")
        else:
            m._step_impl(m.a.step, ["wake"], c)

    def after_post(m: LockstepMachine, c: Controller, stalled: bool) -> None:
        # another thread's message waits in the inbox when the drive call starts: step()
        # must take the wake in and poll (not return False), run_until_stalled() must report
        # the task whose last waker the other thread dropped (not return with it IDLE)
        m._spawn(waiting)
        m.step()  # task 0 waits, its waker stored
        if stalled:
            m.drop(0, threaded=True)
            m._step_impl(m.a.run_until_stalled, [], c, "stalled_start")
        else:
            m.wake(0, by_ref=False, threaded=True)
            m._step_impl(m.a.step, [], c)

    def cancel_while_notified(m: LockstepMachine, c: Controller) -> None:
        # woken (by itself, and by the helper through the stored clone) and cancelled during
        # its own poll: the deferred cancel must survive the NOTIFIED state
        m._spawn(Script(PendingStep(Keep(), WakeSelf(1), CancelTask(0)), ReadyStep()))
        m._run_impl(["wake"], [], c, 0)

    def interrupted(m: LockstepMachine, c: Controller, at: int) -> None:
        # interrupted between polls while another thread cancels, then run() again
        m._spawn(waiting)
        m._spawn(Script(PendingStep(Keep())))
        m._run_impl(["cancel_then_drop"], [], c, 0, interrupt=at)
        m._run_impl(["drop"], [], {}, 0)

    def two_wakes(m: LockstepMachine, c: Controller) -> None:
        # two wakers of one task woken from another thread: the second finds it SCHEDULED
        m._spawn(Script(PendingStep(Keep(), Keep())))
        m._run_impl(["wake", "wake"], [], c, 0)

    def spawn_while_asleep(m: LockstepMachine, c: Controller) -> None:
        m.await_spawns = True
        m.new_spawner()
        m._spawn(waiting)
        m._run_impl(["wake"], [Script(ReadyStep())], c, 0)

    def last_spawner(m: LockstepMachine, c: Controller) -> None:
        m.new_spawner()
        m._spawn(Script(ReadyStep()))
        m._run_impl([], [], c, 0)

    def close(m: LockstepMachine, c: Controller) -> None:
        m.new_spawner()
        m._spawn(waiting)
        m.step()
        m._close_impl(["wake"], [Script(ReadyStep())], c)

    def close_joined(m: LockstepMachine, c: Controller) -> None:
        # close() with a waiting task, a task awaiting it and a queued one: the queued first,
        # then the waiting one, whose drop wakes its waiter, cancelled in turn; another thread
        # wakes, cancels and drops the stored waker at every point inside close()
        m._spawn(waiting)
        m._spawn(Script(AwaitJoin(0)))
        m.run_until_stalled()
        m._spawn(Script(ReadyStep()))
        m._close_impl(["wake", "cancel_then_drop"], [], c)

    def close_queued(m: LockstepMachine, c: Controller) -> None:
        # two queued tasks and a waiting one: the head of the ready queue first
        m._spawn(waiting)
        m.step()
        m._spawn(Script(ReadyStep()))
        m._spawn(Script(ReadyStep()))
        m._close_impl(["by_ref_then_drop"], [], c)

    return {  # the cheapest first: a bug's exploration stops at its first failure
        "remote wake while the loop parks": wake,
        "remote drop of the last waker": lambda m, c: wake(m, c, "drop"),
        "last spawner closed while the loop sleeps": last_spawner,
        "close() while another thread wakes and spawns": close,
        "close() of queued, waiting and joined tasks while another thread wakes and cancels":
            close_joined,
        "close() of two queued tasks and a waiting one while another thread wakes": close_queued,
        "remote cancel during run_until_stalled()": remote_cancel_during_drive,
        "a task woken and cancelled during its own poll": cancel_while_notified,
        "remote wake_by_ref then drop": lambda m, c: wake(m, c, "by_ref_then_drop"),
        "remote cancel while the loop runs or sleeps": remote_cancel,
        "remote cancel of an awaited task": lambda m, c: remote_cancel(m, c, awaited=True),
        "two remote wakes of one task": two_wakes,
        "remote spawn while the loop sleeps": spawn_while_asleep,
        **{f"interrupted at the loop's inbox check {k}, then run() again":
           partial(interrupted, at=k) for k in range(1, 6)},
        "step() polling a self-waking, spawning task while another thread wakes":
            partial(drive_call, stalled=False),
        "run_until_stalled() with self-wakes and spawns while another thread wakes":
            partial(drive_call, stalled=True),
        "step() with another thread's wake posted": partial(after_post, stalled=False),
        "run_until_stalled() after another thread dropped the last waker":
            partial(after_post, stalled=True),
    }


DOOR_PROGRAMS: dict[str, Program] = _door_programs()
"""Short programs whose last rule runs threads (see :func:`explore_door`)."""


def _round_programs() -> dict[str, Program]:
    from refexec.testing.script import Keep, PendingStep, ReadyStep, WakeSelf  # noqa: PLC0415

    def busy_while_posted(m: LockstepMachine, c: Controller) -> None:
        m._spawn(busy_script(m.config.max_polls))
        m._spawn(Script(PendingStep(Keep())))
        m._run_impl(["wake", "drop"], [], c, 0)

    def block_on(m: LockstepMachine, c: Controller, how: str) -> None:
        # block_on() of a task that waits for another thread's wake (or cancel, or the drop
        # of its last waker: lost) while a self-waking task fills the rounds: it returns
        # exactly when its target is final, and starts no round after (EX-BLOCK-ON-RETURN)
        m._spawn(Script(PendingStep(Keep()), ReadyStep()))
        m._spawn(Script(*[PendingStep(WakeSelf(1))] * 3, ReadyStep()))
        m._block_on_impl(0, [how], c)

    return {
        "remote wakes while a task is ready for ever": busy_while_posted,
        "block_on() of a task another thread wakes, beside a self-waking one":
            partial(block_on, how="wake"),
        "block_on() of a task another thread cancels": partial(block_on, how="cancel_then_drop"),
        "block_on() of a task whose last waker another thread drops":
            partial(block_on, how="drop"),
    }


ROUND_PROGRAMS: dict[str, Program] = _round_programs()
"""Door programs for a machine with rounds (``reference_machine(rounds=R)``): a task ready for
ever while another thread posts, the inbox drained between rounds (EX-INBOX-PROMPT); block_on()
of a task beside a self-waking one, returning exactly when its target is final and starting no
round after it (EX-BLOCK-ON-RETURN)."""


def _interrupt_programs() -> dict[str, Callable[[LockstepMachine, tuple[str, int]], None]]:
    from refexec.testing.script import (  # noqa: PLC0415
        AwaitJoin,
        Keep,
        PendingStep,
        ReadyStep,
        WakeSelf,
    )

    def wakes(m: LockstepMachine, where: tuple[str, int], plan: tuple[str, ...] = ("wake",)
              ) -> None:
        m._spawn(Script(PendingStep(Keep()), ReadyStep()))
        m._spawn(Script(PendingStep(WakeSelf(0), Keep()), ReadyStep()))
        m._spawn(Script(ReadyStep()))
        m._run_impl(list(plan), [], {}, 0, interrupt_in=where)

    def joined(m: LockstepMachine, where: tuple[str, int]) -> None:
        m._spawn(Script(PendingStep(Keep()), ReadyStep()))
        m._spawn(Script(AwaitJoin(0), ReadyStep()))
        m._run_impl(["by_ref_then_drop", "cancel_then_drop"], [], {}, 0, interrupt_in=where)

    return {
        "remote wakes and a self-wake": wakes,
        "remote drops": partial(wakes, plan=("drop",)),
        "remote cancels": partial(wakes, plan=("cancel_then_drop",)),
        "a join waiter woken by a completion and a cancel": joined,
    }


INTERRUPT_PROGRAMS = _interrupt_programs()
"""Short programs whose last rule is ``run()`` interrupted at a given line (see
:func:`sweep_interrupts`)."""


def sweep_interrupts(machine: type[LockstepMachine], *, max_lines: int = 2000,
                     where: list[str] | None = None) -> int:
    """Run each program of :data:`INTERRUPT_PROGRAMS` once per line position: for each site of
    :data:`INTERRUPT_SITES` and k = 1, 2, ..., ``run()`` is interrupted at its k-th line there
    (until a run ends before it), then, if the executor can run again, ``run()`` again while
    another thread drops the rest; the machine's checks judge every step, the model following.
    The "loop" site's lines include every line of a poll's own transition (the take, the
    count, the send, filing the outcome, waking the awaiters of a task that finished).
    Raises ``AssertionError`` naming the program, the site, k and the line on the first
    failure; returns the number of interrupted runs (``where`` collects the line of each)."""
    total = 0
    for name, program in INTERRUPT_PROGRAMS.items():
        for site in INTERRUPT_SITES:
            for k in range(1, max_lines + 1):
                line = _interrupted_run(machine, _at(program, (site, k)), _run_again,
                                        f"interrupt program {name!r}: interrupted in {site} "
                                        f"at line event {k}")
                if line is None:
                    break
                total += 1
                if where is not None:
                    where.append(f"{site}: {line}")
    return total


def _at(program: Callable[[Any, Any], None], at: Any) -> Callable[[Any], None]:
    """``program`` interrupting at ``at``."""
    return lambda m: program(m, at)


def _run_again(m: LockstepMachine) -> None:
    """After an interrupted run(): run() again, if the executor can, while the other thread
    drops the rest."""
    if m.can("run_start"):
        m._run_impl(["drop", "drop"], [], {}, 0)


def _interrupted_run(machine: type[LockstepMachine], program: Callable[[Any], None],
                     after: Callable[[Any], None] | None, what: str) -> str | None:
    """One interrupted run of a sweep: a fresh machine runs ``program`` (which interrupts at a
    given line); if the interrupt was taken (the machine's last liner hit its line), ``after``
    runs. Returns the line interrupted, or None when the run ended before reaching it; a
    failure of any check is an ``AssertionError`` starting with ``what`` and naming the line."""
    m = machine()
    try:
        m.setup(seed=0)
        program(m)
        liner = getattr(m, "last_liner", None)
        line = liner.where if liner is not None else None
        if line is not None and after is not None:
            after(m)
        return line
    except Exception as e:
        line = getattr(getattr(m, "last_liner", None), "where", None)
        raise AssertionError(f"{what} ({line}): {e}") from e
    finally:
        m.teardown()


def _close_interrupt_programs() -> dict[str, Callable[[LockstepMachine, int], None]]:
    from refexec.testing.script import AwaitJoin, Keep, PendingStep, ReadyStep  # noqa: PLC0415

    waiting = Script(PendingStep(Keep()))

    def joined(m: LockstepMachine, at: int, first: Interleaving) -> None:
        # a waiting task, a task awaiting it, a queued one (as the door program)
        m.new_spawner()
        m._spawn(waiting)
        m._spawn(Script(AwaitJoin(0)))
        m.run_until_stalled()
        m._spawn(Script(ReadyStep()))
        m._close_impl(["wake", "cancel_then_drop"], [Script(ReadyStep())], first,
                      interrupt_at=at)

    return {
        "close() of queued, waiting and joined tasks (the other thread after it)":
            partial(joined, first={}),
        "close() of queued, waiting and joined tasks (the other thread first: posted wake, "
        "spawn)": partial(joined, first={0: 1}),
    }


CLOSE_INTERRUPT_PROGRAMS = _close_interrupt_programs()
"""Short programs whose last rule is close() interrupted at a given line, then close() again
(see :func:`sweep_close_interrupts`)."""


def sweep_close_interrupts(machine: type[LockstepMachine], *, max_lines: int = 2000,
                           programs: Sequence[str] | None = None) -> int:
    """Run each program of :data:`CLOSE_INTERRUPT_PROGRAMS` once per line position k = 1, 2,
    ...: close() is interrupted (``KeyboardInterrupt``) at the k-th line of the executor's
    code it runs, then close() again, while another thread wakes, cancels and spawns; the
    model follows both, step by step, and close()'s contract is checked at the end. Raises
    ``AssertionError`` naming the program, k and the line on the first failure; returns the
    number of interrupted closes (``programs``: only those)."""
    total = 0
    for name, program in CLOSE_INTERRUPT_PROGRAMS.items():
        if programs is not None and name not in programs:
            continue
        for k in range(1, max_lines + 1):
            line = _interrupted_run(machine, _at(program, k), None,
                                    f"close interrupt program {name!r}: interrupted in close "
                                    f"at line event {k}")
            if line is None:
                break
            total += 1
    return total


def explore_door(machine: type[LockstepMachine], *, preemptions: int = 2,
                 programs: Mapping[str, Program] | None = None) -> int:
    """Run each program of :data:`DOOR_PROGRAMS` on a fresh ``machine`` under every
    interleaving with at most ``preemptions`` preemptions (``threads_control.explore``); the
    machine's checks (model, liveness state, close contract) judge each run. Raises
    ``InterleavingFailure`` (naming the program and the schedule that replays it) on the first
    failure; returns the number of runs."""
    from refexec.testing.threads_control import explore  # noqa: PLC0415

    total = 0
    for name, program in (DOOR_PROGRAMS if programs is None else programs).items():
        def scenario(ctl: Controller, program: Program = program) -> None:
            m = machine()
            try:
                m.setup(seed=0)
                program(m, ctl)
            finally:
                m.teardown()

        try:
            total += explore(scenario, preemptions=preemptions).exhaustive
        except AssertionError as e:
            raise AssertionError(f"door program {name!r}: {e}") from e
    return total
