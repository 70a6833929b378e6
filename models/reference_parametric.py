"""The reference core for every number of tasks: a parametric interpretation, and its proofs.

:mod:`refexec.models.reference` builds the reference design for a fixed number of tasks n: its
per-task state is n-tuples, "for every task" is a Python loop over ``range(n)``, and its ready
queue is an array of n + 1 task ids. This module states the **core** of the same design with
the number of tasks a z3 integer ``N`` (free: a proof holds for every value):

* a task is an integer ``x`` with ``0 <= x < N``; per-task state is a z3 array over it
  (``st``, ``wakers``, ``polls``, ``done``, ``woken``, ``ended``, ``creq``, ``inbox``);
* "for every task" / "some task" are quantifiers (:func:`forall_tasks`, :func:`exists_task`);
  the model needs counts only compared with 0 (``qlen = 0``, ``senders > 0``), so the counts
  become quantified terms too;
* the FIFO ready queue is an **enqueue timestamp** per task (``ts``) and the next timestamp to
  hand out (``tail``): the queue is the set of SCHEDULED tasks ordered by ``ts``; ``poll`` takes
  the SCHEDULED task with the least timestamp; an enqueue sets ``ts[t] := tail`` and
  increments ``tail``; a dequeue or a removal (cancel) is the task leaving SCHEDULED.

**What the core includes.** Every action of the reference whose instance exists with the bounds
``join = 0`` (:func:`core_bounds`; otherwise the default bounds): ``spawn``, ``spawner_new``,
``spawner_drop``, ``run_start``, ``inbox_drain``, ``poll``, ``pending``, ``ready``, ``wake``,
``wake_by_ref``, ``waker_clone``, ``waker_drop``, ``cancel``, ``lost``, ``idle_check``,
``sleep``, ``unpark``, ``run_end``, ``step_return`` — the loop thread's whole protocol and other
threads' posts (remote wakes, spawns and drops, the inbox, the signal, the door's lock), with P
polls per future, W held wakers and I posted wakes per task and SP spawners as in the concrete
model. **It excludes** join wakers, the driver (timers, I/O), rounds, posted cancels
(``rcancel``: ``cancel(remote=1)`` is never enabled, as in the concrete core), the ``any``
policy, and the ghost ``waited`` (EX-FIFO's counter; its parametric form is below). Those parts
stay proved at fixed N by ``refexec verify`` as before.

**One table.** Every task-state update reads the same :data:`refexec.state.TRANSITIONS` rows
(through the concrete builder's, so a mutant's overridden row is read too); the design choices
come from the same :class:`~refexec.models.reference.Edges` (the core's fields; a mutant of a
field the core does not interpret is refused). The actions themselves are a **second
statement** of the core's guards and effects, written over z3 arrays rather than in the model
language of :mod:`refexec.models.system` (which has no quantified operations yet); each mirrors
its namesake in :mod:`refexec.models.reference`, and the agreement below is what ties the two.

**Protection against a wrong encoding** (:func:`agreement`): for N = n in 1..4 the parametric
relation is checked by z3 to be a bisimulation of the concrete one (the same action instance
enabled in corresponding states, corresponding successors), under the state correspondence
``R``: equal per-task fields and scalars, the concrete queue ``q[0..qlen)`` = the SCHEDULED
tasks in increasing ``ts`` (``qlen`` their number, empty slots the sentinel), not blocked, no
join waker.

**Proofs for every N** (:func:`prove_every_n`): the invariants :data:`INVARIANTS` are inductive
— each (action, invariant) pair is its own solver query ``Inv(s) /\\ T_a(s, s', t) /\\ ~J(s')``
with the task parameter ``t`` and N free, so a failure names the pair and z3's model is a
counterexample (printed with N and the tasks involved); each step property is a query per action
it constrains.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

import z3  # type: ignore[import-untyped]
from refexec.models.properties import ENVIRONMENT_ACTIONS
from refexec.models.reference import (
    REFERENCE_EDGES,
    UNSPAWNED,
    Edges,
    Loop,
    _Builder,
    build,
    default_bounds,
)
from refexec.models.symbolic import Unroller, Z3Ops
from refexec.models.system import Bounds
from refexec.state import TaskEvent, TaskState

__all__ = [
    "CORE_ACTIONS",
    "CORE_EDGES",
    "INVARIANTS",
    "STEP_PROPERTIES",
    "EveryNReport",
    "ParamCore",
    "PState",
    "agreement",
    "core_bounds",
    "prove_every_n",
]

S, E = TaskState, TaskEvent
SCHED, RUN, NOTIF, IDLE, COMP, CANC = (int(x) for x in TaskState)
UNSP = UNSPAWNED

CORE_EDGES = frozenset({
    "table_override", "count_repolls", "decide_after_pending", "decide_locked",
    "report_lost_before_deciding", "single_poller", "cancel_when_notified",
    # fields that only act on parts the core excludes (other threads, joins, the driver): the
    # core reads them as the concrete core instance does, i.e. not at all
    "spawn_signals", "drop_signals", "release_join", "driver_each_round", "timer_holds_sender",
    "jump_checks_inbox", "cancel_disarms", "poster_locks", "timer_survives_unpark",
    "io_holds_sender", "cancel_deregisters", "io_parks_in_select", "drain_each_round",
})
"""The :class:`Edges` fields the parametric core interprets. ``merge_wakes``, ``fifo``,
``queue_capacity`` and ``spawn_counts_waker`` change the queue's shape (duplicate entries, a
stack, a bound) or add state, which the timestamp queue does not represent: refused."""

CORE_ACTIONS = (
    "spawn", "spawner_new", "spawner_drop", "run_start", "inbox_drain", "poll", "pending",
    "ready", "wake",
    "wake_by_ref", "waker_clone", "waker_drop", "cancel", "lost", "idle_check", "sleep",
    "unpark", "run_end", "step_return",
)
"""The actions of the core, named and ordered as in :mod:`refexec.models.reference`."""

TASK_ACTIONS = frozenset({"spawn", "poll", "pending", "ready", "wake", "wake_by_ref",
                          "waker_clone", "waker_drop", "cancel", "lost"})


def core_bounds(n_tasks: int = 2, **extra: int) -> Bounds:
    """The concrete core instance: the reference's default bounds without joins."""
    return default_bounds(n_tasks, join=0, **extra)


# -- state -------------------------------------------------------------------------------------

_INT_ARRAYS = ("st", "wakers", "polls", "done", "inbox", "ts")
_BOOL_ARRAYS = ("woken", "ended", "creq")
_INT_SCALARS = ("tail", "spawners", "loop")
_BOOL_SCALARS = ("lock", "signal")
VARS = (*_INT_ARRAYS, *_BOOL_ARRAYS, *_INT_SCALARS, *_BOOL_SCALARS)


class PState:
    """One parametric state: z3 arrays ``Int -> Int/Bool`` for per-task variables, z3 scalars."""

    def __init__(self, tag: str) -> None:
        II, IB = z3.ArraySort(z3.IntSort(), z3.IntSort()), z3.ArraySort(z3.IntSort(),
                                                                          z3.BoolSort())
        self.v: dict[str, Any] = {}
        for name in _INT_ARRAYS:
            self.v[name] = z3.Const(f"{name}{tag}", II)
        for name in _BOOL_ARRAYS:
            self.v[name] = z3.Const(f"{name}{tag}", IB)
        for name in _INT_SCALARS:
            self.v[name] = z3.Int(f"{name}{tag}")
        for name in _BOOL_SCALARS:
            self.v[name] = z3.Bool(f"{name}{tag}")

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["v"][name]
        except KeyError:
            raise AttributeError(name) from None


Updates = dict[str, Any]
"""An action's effect: new values of the variables it changes (arrays as ``z3.Store`` terms)."""


@dataclass(frozen=True)
class PAction:
    """A parametric action: ``guard(s, t)`` and ``effect(s, t)`` with ``t`` a task term (unused
    by the loop's own actions), named as the concrete action it interprets."""

    name: str
    guard: Callable[[PState, Any], Any]
    effect: Callable[[PState, Any], Updates]
    task: bool
    remote: int | None = None  # the concrete ``remote`` parameter, for the actions that have it

    @property
    def label(self) -> str:
        return self.name if self.remote is None else f"{self.name}(remote={self.remote})"


class ParamCore:
    """The core's actions over :class:`PState`, for ``N`` (a z3 term: ``Int('N')`` or a value)."""

    def __init__(self, n: Any, bounds: Bounds | None = None,
                 edges: Edges = REFERENCE_EDGES) -> None:
        bad = [f.name for f in fields(Edges)
               if f.name not in CORE_EDGES
               and getattr(edges, f.name) != getattr(REFERENCE_EDGES, f.name)]
        if bad:
            raise ValueError(f"the parametric core does not interpret the edge(s) {bad}: the "
                             "timestamp queue has no duplicates, no stack order, no capacity")
        self.N = n
        self.e = edges
        b = bounds if bounds is not None else core_bounds(1)
        if (b.extra.get("join", 1) or b.extra.get("timers", 0) or b.extra.get("round", 0)
                or b.extra.get("rcancel", 0) or b.extra.get("policy", 0)):
            raise ValueError("the parametric core has no joins, driver, rounds, posted cancels "
                             "or policy: use core_bounds()")
        self.remote = bool(b.extra.get("remote", 1))
        self.table = _Builder(core_bounds(1, **{k: v for k, v in b.extra.items()
                                                if k not in ("remote", "join")}), edges).rows
        self.P, self.W, self.SP, self.I = (b.extra.get("polls", 2), b.extra.get("wakers", 1),
                                           b.extra.get("spawners", 1), b.extra.get("inbox", 1))
        self._fresh = 0

    # -- the task-state table and the quantified operations -----------------------------------

    def nxt(self, st: Any, event: TaskEvent) -> Any:
        """``next_state(st, event)``: a nested ``If`` over the table's rows (unchanged if none)."""
        out = st
        for before, after in self.table[event]:
            out = z3.If(st == before, after, out)
        return out

    def has(self, st: Any, event: TaskEvent) -> Any:
        return z3.Or(*[st == before for before, _ in self.table[event]])

    def task(self, x: Any) -> Any:
        return z3.And(x >= 0, x < self.N)

    def var(self) -> Any:
        self._fresh += 1
        return z3.Int(f"x!{self._fresh}")

    def forall_tasks(self, f: Callable[[Any], Any]) -> Any:
        """``for every task x: f(x)`` — ``range(n)`` in the concrete model."""
        x = self.var()
        return z3.ForAll([x], z3.Implies(self.task(x), f(x)))

    def exists_task(self, f: Callable[[Any], Any]) -> Any:
        """``some task x: f(x)`` — ``count(...) > 0`` in the concrete model."""
        x = self.var()
        return z3.Exists([x], z3.And(self.task(x), f(x)))

    # -- shared pieces (as in the concrete builder) --------------------------------------------

    @staticmethod
    def polling(s: PState, t: Any) -> Any:
        return z3.Or(s.st[t] == RUN, s.st[t] == NOTIF)

    @staticmethod
    def final(st: Any) -> Any:
        return z3.Or(st == COMP, st == CANC)

    @staticmethod
    def local_ok(s: PState) -> Any:
        return z3.Or(s.loop == Loop.NOT_STARTED, s.loop == Loop.POLLING)

    @staticmethod
    def lost(s: PState, t: Any) -> Any:
        """IDLE, no live waker (no join waker, timer or registration in the core), nothing
        posted."""
        return z3.And(s.st[t] == IDLE, s.wakers[t] == 0, s.inbox[t] == 0)

    def inbox_empty(self, s: PState) -> Any:
        return self.forall_tasks(lambda x: s.inbox[x] == 0)

    @staticmethod
    def signalled(s: PState) -> Any:
        """Another thread's post signals the loop if it sleeps."""
        return z3.Or(s.signal, s.loop == Loop.ASLEEP)

    def queue_empty(self, s: PState) -> Any:
        """``qlen = 0``: no task is SCHEDULED."""
        return self.forall_tasks(lambda x: s.st[x] != SCHED)

    def head(self, s: PState, t: Any) -> Any:
        """``q[0] = t``: t is SCHEDULED with the least timestamp."""
        return z3.And(s.st[t] == SCHED, self.forall_tasks(
            lambda x: z3.Implies(s.st[x] == SCHED, s.ts[t] <= s.ts[x])))

    def senders(self, s: PState) -> Any:
        """``senders > 0``: a live spawner, or an unfinished task with a held waker."""
        return z3.Or(s.spawners > 0, self.exists_task(
            lambda x: z3.And(z3.Not(self.final(s.st[x])), s.wakers[x] > 0)))

    @staticmethod
    def enqueue(s: PState, out: Updates, t: Any, cond: Any) -> None:
        """Append t to the queue if ``cond``: it gets the next timestamp."""
        ts = out.get("ts", s.ts)
        out["ts"] = z3.Store(ts, t, z3.If(cond, s.tail, ts[t]))
        out["tail"] = z3.If(cond, s.tail + 1, s.tail)

    def wake_local(self, s: PState, out: Updates, t: Any, hit: Any = True) -> None:
        """A wake of t on the loop thread (if ``hit``): the WAKE row; enqueued when it enters
        SCHEDULED."""
        before = s.st[t]
        after = self.nxt(before, E.WAKE)
        out["st"] = z3.Store(s.st, t, z3.If(hit, after, before))
        out["woken"] = z3.Store(s.woken, t, z3.Or(s.woken[t], hit))
        self.enqueue(s, out, t, z3.And(hit, after == SCHED, before != SCHED))

    # -- the actions (each as its concrete namesake in models/reference.py) --------------------

    def actions(self) -> tuple[PAction, ...]:
        e, P, W, SP = self.e, self.P, self.W, self.SP

        def st(s: PState, t: Any, v: Any) -> Any:
            return z3.Store(s.st, t, v)

        def spawn_eff(s: PState, t: Any) -> Updates:
            out: Updates = {"st": st(s, t, self.nxt(s.st[t], E.SPAWN))}
            self.enqueue(s, out, t, True)
            return out

        def poll_eff(s: PState, t: Any) -> Updates:
            counted = s.polls[t] + 1 if e.count_repolls else z3.If(
                s.done[t] == 0, s.polls[t] + 1, s.polls[t])
            return {"st": st(s, t, self.nxt(s.st[t], E.POLL)), "loop": Loop.POLLING,
                    "polls": z3.Store(s.polls, t, counted),
                    "done": z3.Store(s.done, t, s.done[t] + 1),
                    "woken": z3.Store(s.woken, t, False)}

        def pending_eff(s: PState, t: Any) -> Updates:
            after = self.nxt(s.st[t], E.PENDING)
            apply = z3.And(s.creq[t], self.has(after, E.CANCEL))
            if not e.cancel_when_notified:
                apply = z3.And(apply, s.st[t] == RUN)
            new = z3.If(apply, self.nxt(after, E.CANCEL), after)
            out: Updates = {"st": st(s, t, new),
                            "ended": z3.Store(s.ended, t, z3.Or(s.ended[t], apply)),
                            "creq": z3.Store(s.creq, t, False),
                            "loop": Loop.DECIDING if e.decide_after_pending else Loop.DISPATCH}
            self.enqueue(s, out, t, new == SCHED)
            if e.decide_after_pending:
                out["lock"] = True
            return out

        def ready_eff(s: PState, t: Any) -> Updates:
            return {"st": st(s, t, self.nxt(s.st[t], E.READY)),
                    "ended": z3.Store(s.ended, t, True), "creq": z3.Store(s.creq, t, False),
                    "loop": Loop.DISPATCH}

        def wake_eff(consume: bool, remote: int) -> Callable[[PState, Any], Updates]:
            def eff(s: PState, t: Any) -> Updates:
                out: Updates = {}
                if remote:  # posted to the inbox; the sleeping loop is signalled
                    out.update(inbox=z3.Store(s.inbox, t, s.inbox[t] + 1),
                               signal=self.signalled(s), woken=z3.Store(s.woken, t, True))
                else:
                    self.wake_local(s, out, t)
                if consume:
                    out["wakers"] = z3.Store(s.wakers, t, s.wakers[t] - 1)
                return out
            return eff

        def where_wake(s: PState, t: Any, remote: int) -> Any:
            if not remote:
                return self.local_ok(s)
            return z3.And(z3.Not(s.lock) if e.poster_locks else True, s.inbox[t] < self.I)

        def wbr_guard(remote: int) -> Callable[[PState, Any], Any]:
            def guard(s: PState, t: Any) -> Any:
                held = z3.And(s.wakers[t] > 0, where_wake(s, t, remote))
                return held if remote else z3.Or(held, self.polling(s, t))
            return guard

        def spawn_guard(remote: int) -> Callable[[PState, Any], Any]:
            def guard(s: PState, t: Any) -> Any:
                where = z3.And(s.spawners > 0, z3.Not(s.lock)) if remote else self.local_ok(s)
                order = self.forall_tasks(lambda x: z3.Implies(
                    x < t, z3.Or(s.st[x] != UNSP, s.inbox[x] > 0)))
                return z3.And(s.st[t] == UNSP, s.inbox[t] == 0, order, where,
                              s.loop != Loop.RETURNED)
            return guard

        def spawn_remote_eff(s: PState, t: Any) -> Updates:
            return {"inbox": z3.Store(s.inbox, t, 1),
                    "signal": self.signalled(s) if e.spawn_signals else s.signal}

        def drop_eff(remote: int, task: bool) -> Callable[[PState, Any], Updates]:
            def eff(s: PState, t: Any) -> Updates:
                out: Updates = ({"wakers": z3.Store(s.wakers, t, s.wakers[t] - 1)} if task else
                                {"spawners": s.spawners - 1})
                if remote and e.drop_signals:
                    out["signal"] = self.signalled(s)
                return out
            return eff

        def drop_where(s: PState, remote: int) -> Any:
            return z3.Not(s.lock) if remote else self.local_ok(s)

        def drop_guard(remote: int, task: bool) -> Callable[[PState, Any], Any]:
            def guard(s: PState, t: Any) -> Any:
                held = s.wakers[t] > 0 if task else s.spawners > 0
                return z3.And(held, drop_where(s, remote))
            return guard

        def wake_guard(remote: int) -> Callable[[PState, Any], Any]:
            def guard(s: PState, t: Any) -> Any:
                return z3.And(s.wakers[t] > 0, where_wake(s, t, remote))
            return guard

        def drain_eff(s: PState, t: Any) -> Updates:
            before = s.st[t]
            is_spawn = before == UNSP  # a posted spawn: the SPAWN row; a posted wake: WAKE
            woke = self.nxt(before, E.WAKE)
            out: Updates = {
                "st": st(s, t, z3.If(is_spawn, self.nxt(before, E.SPAWN), woke)),
                "woken": z3.Store(s.woken, t, z3.Or(s.woken[t], z3.Not(is_spawn))),
                "inbox": z3.Store(s.inbox, t, s.inbox[t] - 1)}
            self.enqueue(s, out, t, z3.Or(is_spawn, z3.And(woke == SCHED, before != SCHED)))
            return out

        def drain_guard(s: PState, t: Any) -> Any:
            when = [] if e.drain_each_round else [self.queue_empty(s)]
            return z3.And(s.loop == Loop.DISPATCH, s.inbox[t] > 0, z3.Not(s.lock), *when)

        def cancel_eff(s: PState, t: Any) -> Updates:
            now = self.has(s.st[t], E.CANCEL)
            new = self.nxt(s.st[t], E.CANCEL)
            finishing = z3.And(now, new == CANC, z3.Not(s.ended[t]))
            return {"st": st(s, t, new),
                    "ended": z3.Store(s.ended, t, z3.Or(s.ended[t], finishing)),
                    "creq": z3.Store(s.creq, t, z3.Or(s.creq[t], z3.Not(now)))}

        def idle_guard(s: PState, _t: Any) -> Any:
            conj = [s.loop == Loop.DISPATCH, self.queue_empty(s), self.inbox_empty(s),
                    z3.Not(s.lock)]
            if e.report_lost_before_deciding:
                conj.append(z3.Not(self.exists_task(lambda x: self.lost(s, x))))
            return z3.And(*conj)

        def poll_where(s: PState) -> Any:
            if e.single_poller:
                return s.loop == Loop.DISPATCH
            return z3.Or(s.loop == Loop.DISPATCH, s.loop == Loop.POLLING)

        A = PAction
        R = (0, 1) if self.remote else (0,)
        acts: list[PAction] = []
        acts += [A("spawn", spawn_guard(r), spawn_remote_eff if r else spawn_eff, True, r)
                 for r in R]
        acts.append(A("spawner_new", lambda s, t: z3.And(self.local_ok(s), s.spawners < SP),
                      lambda s, t: {"spawners": s.spawners + 1}, False))
        acts += [A("spawner_drop", drop_guard(r, task=False), drop_eff(r, task=False), False, r)
                 for r in R]
        acts.append(A("run_start", lambda s, t: s.loop == Loop.NOT_STARTED,
                      lambda s, t: {"loop": Loop.DISPATCH}, False))
        if self.remote:
            acts.append(A("inbox_drain", drain_guard, drain_eff, True))
        acts += [
            A("poll", lambda s, t: z3.And(poll_where(s), self.head(s, t),
                                          self.has(s.st[t], E.POLL), s.done[t] <= P),
              poll_eff, True),
            A("pending", lambda s, t: z3.And(self.polling(s, t), self.has(s.st[t], E.PENDING),
                                             s.done[t] < P), pending_eff, True),
            A("ready", lambda s, t: z3.And(self.polling(s, t), self.has(s.st[t], E.READY)),
              ready_eff, True),
        ]
        acts += [A("wake", wake_guard(r), wake_eff(True, r), True, r) for r in R]
        acts += [A("wake_by_ref", wbr_guard(r), wake_eff(False, r), True, r) for r in R]
        acts.append(A("waker_clone", lambda s, t: z3.And(s.wakers[t] < W, z3.Or(
            s.wakers[t] > 0, self.polling(s, t))),
            lambda s, t: {"wakers": z3.Store(s.wakers, t, s.wakers[t] + 1)}, True))
        acts += [A("waker_drop", drop_guard(r, task=True), drop_eff(r, task=True), True, r)
                 for r in R]
        # cancel(remote=1) exists only with posted cancels (``rcancel``), which the core excludes
        acts.append(A("cancel", lambda s, t: z3.And(self.local_ok(s), s.st[t] != UNSP, z3.Or(
            self.has(s.st[t], E.CANCEL), z3.And(self.polling(s, t), z3.Not(s.creq[t])))),
            cancel_eff, True, 0))
        acts += [
            A("lost", lambda s, t: z3.And(s.loop == Loop.DISPATCH, self.lost(s, t),
                                          self.has(s.st[t], E.LOST)),
              lambda s, t: {"st": st(s, t, self.nxt(s.st[t], E.LOST)),
                            "ended": z3.Store(s.ended, t, True)}, True),
            A("idle_check", idle_guard,
              lambda s, t: {"loop": Loop.DECIDING, "lock": z3.BoolVal(e.decide_locked)}, False),
            A("sleep", lambda s, t: z3.And(s.loop == Loop.DECIDING, self.senders(s)),
              lambda s, t: {"loop": Loop.ASLEEP, "lock": False}, False),
            A("unpark", lambda s, t: z3.And(s.loop == Loop.ASLEEP, s.signal),
              lambda s, t: {"loop": Loop.DISPATCH, "signal": False}, False),
            A("run_end", lambda s, t: z3.And(s.loop == Loop.DECIDING, z3.Not(self.senders(s))),
              lambda s, t: {"loop": Loop.RETURNED, "lock": False}, False),
            A("step_return", lambda s, t: z3.And(s.loop == Loop.DISPATCH, z3.Not(s.lock)),
              lambda s, t: {"loop": Loop.NOT_STARTED}, False),
        ]
        return tuple(acts)

    # -- formulas ------------------------------------------------------------------------------

    def init(self, s: PState) -> Any:
        """``I(s)``: every task UNSPAWNED with zero counters; the loop not started."""
        return z3.And(
            self.N >= 1,
            self.forall_tasks(lambda x: z3.And(
                s.st[x] == UNSP, s.wakers[x] == 0, s.polls[x] == 0, s.done[x] == 0,
                s.ts[x] == 0, s.inbox[x] == 0, z3.Not(s.woken[x]), z3.Not(s.ended[x]),
                z3.Not(s.creq[x]))),
            s.tail == 0, s.spawners == 0, s.loop == Loop.NOT_STARTED, z3.Not(s.lock),
            z3.Not(s.signal))

    def trans(self, a: PAction, s: PState, s2: PState, t: Any) -> Any:
        """``T_a(s, s', t)``: a's guard with task t, its effect, and the frame for the rest."""
        out = a.effect(s, t)
        eqs = [s2.v[name] == _val(out.get(name, s.v[name]), s.v[name]) for name in VARS]
        return z3.And(self.task(t) if a.task else z3.BoolVal(True), a.guard(s, t), *eqs)


def _val(x: Any, like: Any) -> Any:
    if isinstance(x, bool):
        return z3.BoolVal(x)
    if isinstance(x, int) and z3.is_int(like):
        return z3.IntVal(x)
    return x


# -- invariants and properties -------------------------------------------------------------------

Formula = Callable[[ParamCore, PState], Any]


def _type_ok(m: ParamCore, s: PState) -> Any:
    return z3.And(
        s.spawners >= 0, s.spawners <= m.SP, s.loop >= 0, s.loop <= Loop.RETURNED,
        s.tail >= 0,
        m.forall_tasks(lambda x: z3.And(
            s.st[x] >= 0, s.st[x] <= UNSP, s.wakers[x] >= 0, s.wakers[x] <= m.W,
            s.done[x] >= 0, s.done[x] <= m.P + 1, s.polls[x] >= 0, s.polls[x] <= m.P + 1,
            s.inbox[x] >= 0, s.inbox[x] <= m.I)))


def _unspawned_blank(m: ParamCore, s: PState) -> Any:
    return m.forall_tasks(lambda x: z3.Implies(s.st[x] == UNSP, z3.And(
        s.wakers[x] == 0, s.done[x] == 0, s.polls[x] == 0, z3.Not(s.woken[x]),
        z3.Not(s.ended[x]), z3.Not(s.creq[x]), s.inbox[x] <= 1)))


def _ended_final(m: ParamCore, s: PState) -> Any:
    return m.forall_tasks(lambda x: s.ended[x] == m.final(s.st[x]))


def _polling_loop(m: ParamCore, s: PState) -> Any:
    return m.forall_tasks(lambda x: z3.Implies(m.polling(s, x), s.loop == Loop.POLLING))


def _decided(m: ParamCore, s: PState) -> Any:
    decided = z3.Or(s.loop == Loop.DECIDING, s.loop == Loop.ASLEEP, s.loop == Loop.RETURNED)
    return z3.Implies(decided, m.queue_empty(s))


def _one_poller(m: ParamCore, s: PState) -> Any:
    x, y = m.var(), m.var()
    return z3.ForAll([x, y], z3.Implies(
        z3.And(m.task(x), m.task(y), m.polling(s, x), m.polling(s, y)), x == y))


def _no_lost_wake(m: ParamCore, s: PState) -> Any:
    return m.forall_tasks(lambda x: z3.Implies(s.woken[x], z3.Or(
        s.st[x] == SCHED, s.st[x] == NOTIF, s.st[x] == COMP, s.st[x] == CANC,
        s.inbox[x] > 0)))


def _queue_fifo(m: ParamCore, s: PState) -> Any:
    x, y = m.var(), m.var()
    below = m.forall_tasks(lambda z: z3.Implies(s.st[z] == SCHED, s.ts[z] < s.tail))
    distinct = z3.ForAll([x, y], z3.Implies(
        z3.And(m.task(x), m.task(y), s.st[x] == SCHED, s.st[y] == SCHED, s.ts[x] == s.ts[y]),
        x == y))
    return z3.And(below, distinct)


def _sleep_safe(m: ParamCore, s: PState) -> Any:
    return z3.Implies(z3.And(s.loop == Loop.ASLEEP, z3.Not(s.signal)),
                      z3.And(m.queue_empty(s), m.inbox_empty(s), m.senders(s)))


def _lost_reported(m: ParamCore, s: PState) -> Any:
    quiet = z3.Or(s.loop == Loop.DECIDING, s.loop == Loop.RETURNED,
                  z3.And(s.loop == Loop.ASLEEP, z3.Not(s.signal)))
    return z3.Implies(quiet, z3.Not(m.exists_task(lambda x: m.lost(s, x))))


def _polled(m: ParamCore, s: PState) -> Any:
    return z3.Implies(s.loop == Loop.POLLING, m.exists_task(lambda x: m.polling(s, x)))


def _lock(m: ParamCore, s: PState) -> Any:
    return z3.And(s.lock == (s.loop == Loop.DECIDING), z3.Implies(
        s.loop == Loop.DECIDING, z3.And(m.inbox_empty(s), z3.Not(s.signal))))


def _signal(m: ParamCore, s: PState) -> Any:
    return z3.Implies(s.signal, s.loop == Loop.ASLEEP)


def _returned(m: ParamCore, s: PState) -> Any:
    return z3.Implies(s.loop == Loop.RETURNED, z3.And(
        s.spawners == 0, z3.Not(s.signal), m.forall_tasks(lambda x: z3.Or(
            m.final(s.st[x]), z3.And(s.st[x] == UNSP, s.inbox[x] == 0)))))


def _poll_count(m: ParamCore, s: PState) -> Any:
    return m.forall_tasks(lambda x: s.polls[x] == s.done[x])


@dataclass(frozen=True)
class PInvariant:
    """An invariant proved for every N: a property ID of spec/SPEC.md, or an auxiliary one."""

    id: str
    statement: str
    formula: Formula


INVARIANTS: tuple[PInvariant, ...] = (
    PInvariant("AUX-TYPE", "every variable in its sort's range", _type_ok),
    PInvariant("AUX-UNSPAWNED", "an UNSPAWNED slot has no waker, no poll, no flag",
               _unspawned_blank),
    PInvariant("AUX-ENDED", "ended[t] <-> st[t] final", _ended_final),
    PInvariant("AUX-POLL-LOOP", "a task being polled => loop = POLLING", _polling_loop),
    PInvariant("AUX-POLLED", "loop = POLLING => some task is being polled", _polled),
    PInvariant("AUX-DECIDED", "loop in {DECIDING, ASLEEP, RETURNED} => no SCHEDULED task",
               _decided),
    PInvariant("AUX-LOCK", "the lock is held exactly while deciding, with the inbox empty and "
               "no signal", _lock),
    PInvariant("AUX-SIGNAL", "a pending signal is for a sleeping loop", _signal),
    PInvariant("AUX-RETURNED", "after run() returns: no spawner, no signal, every task "
               "finished or never spawned (nothing posted)", _returned),
    PInvariant("EX-ONE-POLLER", "at most one task is being polled", _one_poller),
    PInvariant("EX-NO-LOST-WAKE", "woken[t] => st[t] in {SCHEDULED, NOTIFIED, COMPLETE, "
               "CANCELLED} or a wake of t is in the inbox", _no_lost_wake),
    PInvariant("EX-QUEUE-EXACT", "parametric form: the queue is the SCHEDULED tasks ordered "
               "by ts; their timestamps are distinct and below tail (each queued once; a new "
               "entry goes behind every queued one)", _queue_fifo),
    PInvariant("EX-SLEEP-SAFE", "loop = ASLEEP and no signal => no SCHEDULED task, nothing "
               "posted, senders > 0",
               _sleep_safe),
    PInvariant("EX-LOST-REPORTED", "loop in {DECIDING, RETURNED}, or ASLEEP with no signal "
               "=> no lost task",
               _lost_reported),
    PInvariant("EX-POLL-COUNT", "polls[t] = done[t]", _poll_count),
)
"""Proved together (each one's induction step assumes all of them in the pre-state)."""


StepFormula = Callable[[ParamCore, PState, Any], Any]


@dataclass(frozen=True)
class PStep:
    """A step property: ``formula(s, t)`` must hold whenever one of ``actions`` is taken."""

    id: str
    statement: str
    actions: tuple[str, ...]
    formula: StepFormula


STEP_PROPERTIES: tuple[PStep, ...] = (
    PStep("EX-FINAL", "on poll(t), ready(t): not ended[t]", ("poll", "ready"),
          lambda m, s, t: z3.Not(s.ended[t])),
    PStep("EX-RUN-END", "on run_end: no SCHEDULED task, nothing posted, no sender, no task "
          "being polled", ("run_end",),
          lambda m, s, t: z3.And(m.queue_empty(s), m.inbox_empty(s), z3.Not(m.senders(s)),
                                 m.forall_tasks(lambda x: z3.Not(m.polling(s, x))))),
    PStep("EX-FIFO", "parametric form: on poll(t), t has the least timestamp of the SCHEDULED "
          "tasks, and every other SCHEDULED task's timestamp is greater (strict FIFO order)",
          ("poll",),
          lambda m, s, t: m.forall_tasks(lambda x: z3.Implies(
              z3.And(s.st[x] == SCHED, x != t), s.ts[t] < s.ts[x]))),
)


FAIR_ACTIONS = tuple(a for a in CORE_ACTIONS if a not in ENVIRONMENT_ACTIONS)
"""EX-PROGRESS's actions: the loop's own and those that release something (spec/SPEC.md 2.6)."""


def progress_stuck(m: ParamCore, s: PState, actions: Iterable[PAction]) -> Any:
    """The negation of EX-PROGRESS in the core: the loop neither returned nor gave the thread
    back (``run_final`` without joins: no await cycle), and no fair action instance is enabled
    — for a task action, for no task."""
    t = m.var()
    parts = [s.loop != Loop.RETURNED, s.loop != Loop.NOT_STARTED]
    for a in actions:
        if a.name not in FAIR_ACTIONS:
            continue
        g = z3.Exists([t], z3.And(m.task(t), a.guard(s, t))) if a.task else a.guard(s, t)
        parts.append(z3.Not(g))
    return z3.And(*parts)


def task_rank(m: ParamCore, s: PState, x: Any) -> Any:
    """A task's share of the work left (the fixed-N ranking's summand, PROOFS.md section 6):
    ``4 (P + 1 - done) + stage(st) + 2 wakers + inbox``, stage 3 while polled, 2 while
    SCHEDULED / IDLE / UNSPAWNED, 0 when finished."""
    st = s.st[x]
    stage = z3.If(m.polling(s, x), 3, z3.If(m.final(st), 0, 2))
    return 4 * (m.P + 1 - s.done[x]) + stage + 2 * s.wakers[x] + s.inbox[x]


def loop_rank(s: PState) -> Any:
    """The loop's share: ASLEEP with a signal 4, DISPATCH 3, DECIDING 2, ASLEEP 1, else 0."""
    return z3.If(s.loop == Loop.ASLEEP, z3.If(s.signal, 4, 1),
                 z3.If(s.loop == Loop.DISPATCH, 3, z3.If(s.loop == Loop.DECIDING, 2, 0)))


def rank_decreases(m: ParamCore, s: PState, s2: PState, t: Any, task: bool) -> Any:
    """``rank(s') < rank(s)`` for ``rank = (task ranks, spawners, loop)`` ordered
    lexicographically, the task ranks pointwise (every one <=, the acting task's <): a
    well-founded order, because every task rank is >= 0 (AUX-TYPE) and N is fixed along a run,
    so their sum decreases. A sum over the tasks is what the quantified encoding cannot
    express; the pointwise order needs none."""
    same = m.forall_tasks(lambda x: task_rank(m, s2, x) == task_rank(m, s, x))
    loop_down = z3.Or(s2.spawners < s.spawners, z3.And(s2.spawners == s.spawners,
                                                        loop_rank(s2) < loop_rank(s)))
    alternatives = [z3.And(same, loop_down)]
    if task:
        alternatives.append(z3.And(
            m.forall_tasks(lambda x: task_rank(m, s2, x) <= task_rank(m, s, x)),
            task_rank(m, s2, t) < task_rank(m, s, t), s2.spawners <= s.spawners))
    return z3.Or(*alternatives)


# -- the proofs ---------------------------------------------------------------------------------

@dataclass
class Query:
    """One solver query: an (action, property) pair, or a property's base case."""

    prop: str
    action: str
    status: str  # "unsat" (the pair holds), "sat" (a counterexample), "unknown"
    seconds: float
    counterexample: str = ""
    expect: str = "unsat"  # "sat" for the consistency query (the invariants are not vacuous)

    @property
    def ok(self) -> bool:
        return self.status == self.expect


@dataclass
class EveryNReport:
    """The proofs for every N: one :class:`Query` per (action, property) pair."""

    queries: list[Query] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def failed(self) -> list[Query]:
        return [q for q in self.queries if not q.ok]

    @property
    def ok(self) -> bool:
        return bool(self.queries) and not self.failed

    @property
    def properties(self) -> list[str]:
        ids = dict.fromkeys(q.prop for q in self.queries)
        return [p for p in ids if not p.startswith("AUX-")]

    def summary(self) -> str:
        if self.ok:
            return (f"reference core proved for every N ({len(self.properties)} properties: "
                    f"{', '.join(self.properties)}; {len(self.queries)} queries, "
                    f"{self.seconds:.1f} s)")
        first = self.failed[0]
        return (f"reference core NOT proved for every N: {len(self.failed)} of "
                f"{len(self.queries)} queries fail, first {first.prop} / {first.action} "
                f"({first.status}) {first.counterexample}")


N = z3.Int("N")


RLIMIT_PER_MS = 10_000
"""z3 resource units per millisecond of a query's budget (about what this machine's z3 spends
per ms of CPU). A budget is a resource count, not a time, so a query's verdict ("unknown"
included) is the same on an idle machine and under load."""


def _solve(assertions: Iterable[Any], timeout_ms: int) -> tuple[str, Any]:
    solver = z3.Solver()
    solver.set("rlimit", timeout_ms * RLIMIT_PER_MS)
    solver.set("timeout", 20 * timeout_ms)  # a safety net only: far beyond the rlimit's time
    solver.add(*assertions)
    r = solver.check()
    return str(r), (solver.model() if r == z3.sat else None)


def _show(model: Any, s: PState, tasks: Mapping[str, Any], core: ParamCore) -> str:
    """A small counterexample: N, the named tasks, and the pre-state's scalars and their slots."""

    def ev(x: Any) -> Any:
        return model.eval(x, model_completion=True)

    n = ev(core.N)
    parts = [f"N={n}"] + [f"{k}={ev(v)}" for k, v in tasks.items()]
    parts += [f"{k}={ev(s.v[k])}" for k in _INT_SCALARS + _BOOL_SCALARS]
    try:
        shown = range(min(int(str(n)), 4))
    except ValueError:
        shown = range(0)
    for i in shown:
        parts.append(f"t{i}:" + ",".join(f"{k}={ev(s.v[k][i])}" for k in _INT_ARRAYS
                                         + _BOOL_ARRAYS))
    return "counterexample: " + " ".join(parts)


def _initial_witness(core: ParamCore, s: PState) -> Any:
    """The initial state for N = 1, every variable pinned (per-task ones as constant arrays)."""

    def k(v: Any) -> Any:
        return z3.K(z3.IntSort(), v)

    return z3.And(
        core.N == 1, s.st == k(z3.IntVal(UNSP)),
        *[s.v[name] == k(z3.IntVal(0)) for name in ("wakers", "polls", "done", "inbox", "ts")],
        *[s.v[name] == k(z3.BoolVal(False)) for name in _BOOL_ARRAYS],
        s.tail == 0, s.spawners == 0, s.loop == Loop.NOT_STARTED, z3.Not(s.lock),
        z3.Not(s.signal))


def prove_every_n(
    invariants: tuple[PInvariant, ...] = INVARIANTS,
    *,
    steps: tuple[PStep, ...] = STEP_PROPERTIES,
    edges: Edges = REFERENCE_EDGES,
    bounds: Bounds | None = None,
    assume: tuple[PInvariant, ...] | None = None,
    timeout_ms: int = 20000,
    core_class: type[ParamCore] | None = None,
    fair: tuple[str, ...] = FAIR_ACTIONS,
) -> EveryNReport:
    """Prove ``invariants`` inductive and ``steps`` for every N, one query per pair.

    ``assume`` (default: ``invariants``) is the strengthening assumed in the pre-state; tests
    pass a smaller set to show an auxiliary invariant is needed. ``fair``: the actions the
    ranking must decrease on (EX-TERMINATES; the others are the environment's, assumed to act
    finitely often).
    """
    start = time.perf_counter()
    core = (core_class or ParamCore)(N, bounds, edges)
    acts = core.actions()
    hyp = invariants if assume is None else assume
    report = EveryNReport()
    s, s2, t = PState("@0"), PState("@1"), z3.Int("t")

    def run(prop: str, action: str, assertions: list[Any], tasks: Mapping[str, Any]) -> None:
        t0 = time.perf_counter()
        status, model = _solve(assertions, timeout_ms)
        cex = _show(model, s, tasks, core) if model is not None else ""
        report.queries.append(Query(prop, action, status, time.perf_counter() - t0, cex))

    pre = [N >= 1, *(inv.formula(core, s) for inv in hyp)]  # N never changes; I says N >= 1
    # not vacuous: the initial state with one task (pinned, so no quantifier is left open)
    # satisfies the initial condition and every assumed invariant
    t0 = time.perf_counter()
    status, _ = _solve([_initial_witness(core, s), core.init(s), *pre], timeout_ms)
    report.queries.append(Query("AUX-CONSISTENT", "init", status, time.perf_counter() - t0,
                                expect="sat"))
    for inv in invariants:
        run(inv.id, "init", [core.init(s), z3.Not(inv.formula(core, s))], {})
        post = inv.formula(core, s2)
        for a in acts:
            run(inv.id, a.label, [*pre, core.trans(a, s, s2, t), z3.Not(post)],
                {"t": t} if a.task else {})
    run("EX-PROGRESS", "every fair action", [*pre, progress_stuck(core, s, acts)], {})
    for a in acts:  # EX-TERMINATES: every fair action decreases the ranking
        if a.name in fair:
            run("EX-TERMINATES", a.label, [*pre, core.trans(a, s, s2, t),
                                           z3.Not(rank_decreases(core, s, s2, t, a.task))],
                {"t": t} if a.task else {})
    run("EX-TERMINATES", "rank >= 0", [*pre, core.exists_task(
        lambda x: task_rank(core, s, x) < 0)], {})
    for sp in steps:
        for a in acts:
            if a.name in sp.actions:
                run(sp.id, a.label, [*pre, core.trans(a, s, s2, t),
                                     z3.Not(sp.formula(core, s, t))],
                    {"t": t} if a.task else {})
    report.seconds = time.perf_counter() - start
    return report


# -- agreement with the concrete model ------------------------------------------------------------

@dataclass
class AgreementReport:
    """The bisimulation check of the parametric core against the concrete one, per N."""

    checked: dict[int, int] = field(default_factory=dict)  # n -> queries
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return bool(self.checked) and not self.failures


def _correspond(core: ParamCore, n: int, c: Mapping[str, Any], p: PState) -> Any:
    """``R(s, p)``: the concrete state ``c`` (an Unroller state) and the parametric ``p``."""

    def z(x: Any) -> Any:
        return x.t if hasattr(x, "t") else x

    parts: list[Any] = [n == core.N]
    for name in ("st", "wakers", "polls", "done", "woken", "ended", "creq", "inbox"):
        for i in range(n):
            parts.append(z(c[name][i]) == p.v[name][i])
    for i in range(n):
        parts.append(z(c["join"][i]) == n)
    parts += [z(c[k]) == p.v[k] for k in ("spawners", "loop", "lock", "signal")]
    parts.append(z3.Not(z(c["blocked"])))
    qlen, q = z(c["qlen"]), [z(x) for x in c["q"]]
    parts.append(qlen == z3.Sum(*[z3.If(p.st[i] == SCHED, 1, 0) for i in range(n)]))
    for i, qi in enumerate(q):
        earlier = [p.ts[q[j]] < p.ts[qi] for j in range(i)]
        parts.append(z3.If(i < qlen, z3.And(qi >= 0, qi < n, p.st[qi] == SCHED, *earlier),
                           qi == n))
    return z3.And(*parts)


def agreement(ns: Iterable[int] = (1, 2, 3, 4), edges: Edges = REFERENCE_EDGES,
              timeout_ms: int = 20000, core_class: type[ParamCore] | None = None
              ) -> AgreementReport:
    """For each n: the parametric core with ``N = n`` and the concrete core instance agree.

    With ``R`` the correspondence (:func:`_correspond`) and ``Inv`` the parametric invariants
    (proved for every N, so for n): (1) ``I_c(s) /\\ I_p(p) => R(s, p)``; for every concrete
    action instance ``a(t)`` and ``TypeOK_c(s) /\\ R(s, p) /\\ Inv(p)``: (2) ``a(t)`` is enabled
    in s iff its parametric namesake is enabled in p, and (3) their successors correspond. Each
    is one query that must be unsat; a failure names n, the instance and the check.
    """
    start = time.perf_counter()
    report = AgreementReport()
    for n in ns:
        b = core_bounds(n)
        ts = build(b, edges)
        u = Unroller(ts, Z3Ops(), tag=f"c{n}.")
        core = (core_class or ParamCore)(z3.IntVal(n), b, edges)
        pacts = {(a.name, a.remote or 0): a for a in core.actions()}
        concrete = {a.name for a in ts.actions}
        if concrete != set(CORE_ACTIONS):
            report.failures.append(f"n={n}: the concrete core's actions {sorted(concrete)} "
                                   f"are not the parametric core's")
            continue
        p, p2 = PState(f"@p{n}.0"), PState(f"@p{n}.1")
        r0, r1 = _correspond(core, n, u.state(0), p), _correspond(core, n, u.state(1), p2)
        inv = [i.formula(core, p) for i in INVARIANTS]
        count = 1
        status, _ = _solve([u.init(0), core.init(p), z3.Not(r0)], timeout_ms)
        if status != "unsat":
            report.failures.append(f"n={n}: init ({status})")
        for k, (action, params) in enumerate(u.instances):
            pa = pacts.get((action.name, params.get("remote", 0)))
            t = z3.IntVal(params.get("t", 0))
            base = [u.type_ok(0), r0, *inv]
            if pa is None:  # an instance the core leaves out (a posted cancel): never enabled
                checks = {"enabled": [*base, u.enabled(0, [k])]}
            else:
                checks = {
                    "enabled": [*base, z3.Not(u.enabled(0, [k]) == pa.guard(p, t))],
                    "successor": [*base, u.trans(0, [k]), core.trans(pa, p, p2, t),
                                  z3.Not(r1)],
                }
            for what, assertions in checks.items():
                count += 1
                status, _ = _solve(assertions, timeout_ms)
                if status != "unsat":
                    report.failures.append(
                        f"n={n}: {action.label(params)} {what} differs ({status})")
        report.checked[n] = count
    report.seconds = time.perf_counter() - start
    return report
