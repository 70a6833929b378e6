"""The reference core for every number of tasks: the reference's own definition read with N
free, and its proofs.

There is **one definition** of the reference design: the action definitions of
:mod:`refexec.models.reference` (``def poll(m) -> Action`` …) and the builder pieces they call.
They say "for every task", "some task", "how many tasks", "the whole array, task by task" and
every ready-queue operation only through the builder's task-collection and queue methods
(``m.forall``, ``m.exists``, ``m.count``, ``m.map_tasks``, ``m.slots``; ``m.queue_empty``,
``m.is_head``, ``m.queued``, ``m.dequeue``, ``m.enqueue``, ``m.remove``). The fixed-N builder
implements them with Python loops over ``range(n)`` and the queue array ``q[0..C)`` + ``qlen``
(read concretely, exhaustively and by z3 at fixed N, as before). This module's
:class:`ParamBuilder` is that same builder with the number of tasks a z3 integer ``N`` (free: a
proof holds for every value) and only those methods overridden:

* a task is an integer ``x`` with ``0 <= x < N``; per-task state is a z3 array over it
  (:class:`TaskArray`: ``st``, ``wakers``, ``polls``, ``done``, ``woken``, ``ended``,
  ``creq``, ``inbox``, ``waited``), read by ``s.st[t]`` and changed by ``o.store`` or a
  draft's ``d.st[t] = v`` (a z3 ``Store``);
* "for every task" / "some task" are quantifiers bounded by ``0 <= x < N``; a whole-array map
  is a ``z3.Lambda``; a count is compared with 0 only (``senders > 0``, ``senders == 0``), so it
  is "some task" / "no task" (:class:`TaskCount`: any other comparison raises);
* an action's task parameter ``t`` (domain ``m.T``) is one free z3 integer ``0 <= t < N``;
  ``m.T`` and the task arrays cannot be iterated (:class:`TaskDomain`), so a definition that
  loops over the tasks instead of using the methods above raises instead of mis-encoding;
* the FIFO ready queue is an **enqueue timestamp** per task (``ts``) and the next timestamp to
  hand out (``tail``): the queue is the set of SCHEDULED tasks ordered by ``ts``; the head is
  the SCHEDULED task with the least timestamp; an enqueue sets ``ts[t] := tail`` and
  increments ``tail``; a dequeue or a removal (cancel) is the task leaving SCHEDULED by its own
  row. It has no capacity, so the loop is never ``blocked`` (a constant of the core).

:class:`ParamCore` takes the actions from the builder's own ``actions()`` (each instance of the
other parameters, ``remote``, enumerated; an instance whose guard is the constant False left
out) and gives the builder's pieces (``polling``, ``lost``, ``senders`` …) to the invariants as
z3 formulas over a :class:`PState`; the initial condition is the builder's own ``init``
(per-task arrays by ``m.map_tasks``, the queue by ``m.queue_init``). What remains stated here
is the state (:class:`PState`) and the invariants, ranking and step properties, which are
statements about the state, not transitions.

**What the core includes.** Every action of the reference whose instance exists with the bounds
``join = 0`` (:func:`core_bounds`; otherwise the default bounds): ``spawn``, ``spawner_new``,
``spawner_drop``, ``run_start``, ``inbox_drain``, ``poll``, ``pending``, ``ready``, ``wake``,
``wake_by_ref``, ``waker_clone``, ``waker_drop``, ``cancel``, ``lost``, ``idle_check``,
``sleep``, ``unpark``, ``run_end``, ``step_return`` — the loop thread's whole protocol and other
threads' posts (remote wakes, spawns and drops, the inbox, the signal, the door's lock), with P
polls per future, W held wakers and I posted wakes per task and SP spawners as in the concrete
model. **It excludes** join wakers, the driver (timers, I/O), rounds, posted cancels
(``rcancel``: ``cancel(remote=1)`` is never enabled, as in the concrete core) and the ``any``
policy (refused bounds). Those parts stay proved at fixed N by ``refexec verify`` as before.
Edges that change the queue's shape (``merge_wakes``, ``fifo``, ``queue_capacity``) or add
state (``spawn_counts_waker``) are refused: the timestamp queue has no duplicates, no stack
order, no bound.

**One state declaration.** The parametric state (:func:`layout`) is the concrete builder's own
variable declarations (``variables()``) with the fixed-N queue replaced by the timestamps; its
type invariant (AUX-TYPE), the initial witness and the correspondence with the concrete state
are read from the same declarations. A part of the reference (a :data:`FEATURE_KEYS` key) is
interpreted for every N once it is in :data:`INTERPRETED`, with its auxiliary invariants and
properties in the module :data:`FEATURES` names; ``refexec verify`` proves every variant whose
parts are all interpreted for every N (and the reference's core otherwise).

**Protection against a wrong encoding** (:func:`agreement`): what still differs between the
two readings is the implementation of the task collection and the queue, so for N = n in 1..4
the parametric relation is checked by z3 to be a bisimulation of the concrete one (the same
action instance enabled in corresponding states, corresponding successors), under the state
correspondence ``R``: equal per-task fields and scalars, the concrete queue ``q[0..qlen)`` =
the SCHEDULED tasks in increasing ``ts`` (``qlen`` their number, empty slots the sentinel), not
blocked, no join waker.

**Proofs for every N** (:func:`prove_every_n`): the invariants :data:`INVARIANTS` are inductive
— each (action, invariant) pair is its own solver query ``Inv(s) /\\ T_a(s, s', t) /\\ ~J(s')``
with the task parameter ``t`` and N free, so a failure names the pair and z3's model is a
counterexample (printed with N and the tasks involved); each step property is a query per action
it constrains.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from itertools import product
from typing import Any

import z3  # type: ignore[import-untyped]
from refexec.models.properties import ENVIRONMENT_ACTIONS
from refexec.models.reference import (
    REFERENCE_EDGES,
    UNSPAWNED,
    Edges,
    Loop,
    _Builder,
    _Draft,
    build,
    default_bounds,
)
from refexec.models.symbolic import Sym, SymbolicMisuse, Unroller, Z3Ops, _z
from refexec.models.system import Action, Bounds, Ops, Value, View
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
    "spawn_signals", "drop_signals", "poster_locks", "drain_each_round",
    # fields that only act on parts the core excludes (joins, the driver, rounds): the core
    # reads them as the concrete core instance does, i.e. not at all
    "release_join", "driver_each_round", "timer_holds_sender", "jump_checks_inbox",
    "cancel_disarms", "timer_survives_unpark", "io_holds_sender", "cancel_deregisters",
    "io_parks_in_select",
    # the drive calls' and close()'s edges (models/param_drive.py, param_close.py)
    "stalled_return_exact", "step_polls_once", "stalled_never_sleeps", "close_drains_first",
    "close_cancels_idle", "close_refuses_spawn",
})
"""The :class:`Edges` fields the parametric core accepts (it reads them through the same action
definitions as the concrete builder). ``merge_wakes``, ``fifo``, ``queue_capacity`` and
``spawn_counts_waker`` change the queue's shape (duplicate entries, a stack, a bound) or add
state, which the timestamp queue does not represent: refused."""

CORE_ACTIONS = (
    "spawn", "spawner_new", "spawner_drop", "run_start", "inbox_drain", "poll", "pending",
    "ready", "wake",
    "wake_by_ref", "waker_clone", "waker_drop", "cancel", "lost", "idle_check", "sleep",
    "unpark", "run_end", "step_return",
)
"""The actions of the core, named and ordered as in :mod:`refexec.models.reference`."""

def core_bounds(n_tasks: int = 2, **extra: int) -> Bounds:
    """The concrete core instance: the reference's default bounds without joins."""
    return default_bounds(n_tasks, join=0, **extra)


# -- state -------------------------------------------------------------------------------------

FEATURE_KEYS = ("join", "timers", "io", "round", "rcancel", "policy", "drive", "close")
"""The bounds keys that add a part to the reference (joins, the driver, rounds, posted cancels,
the ``any`` policy, the drive calls, close()); 0 leaves the part out."""

INTERPRETED: frozenset[str] = frozenset({
    "join",
    "round", "rcancel", "drive", "close",  # models/param_{round,rcancel,drive,close}.py
    "timers", "io",  # the driver: models/param_driver.py, models/param_io.py
    "policy",  # the any policy: models/param_policy.py
})
"""The :data:`FEATURE_KEYS` the parametric reading interprets with N free (its invariants in
:data:`FEATURES`); bounds with another feature key on are refused. The core (all of them 0)
is always interpreted."""

FEATURES: Mapping[str, str] = {
    "join": "refexec.models.param_joins",
    "round": "refexec.models.param_round", "rcancel": "refexec.models.param_rcancel",
    "drive": "refexec.models.param_drive", "close": "refexec.models.param_close",
    "timers": "refexec.models.param_driver",
    "io": "refexec.models.param_io",
    "policy": "refexec.models.param_policy",
}
"""Feature key -> the module with that part's invariants and step properties for every N
(``INVARIANTS``, ``STEP_PROPERTIES``), added to the core's when the key is on."""

_PROBE_N = 97
"""The number of tasks of the concrete builder whose :meth:`variables` give the parametric
state's layout: a value no other bound takes, so an array of this length is per-task and a sort
ending at it ranges over the tasks (a task id, with the sentinel ``N`` for none)."""

_QUEUE = frozenset({"q", "qlen", "blocked"})
"""The fixed-N queue's variables, which the timestamp queue (``ts``, ``tail``) replaces."""

CONSTANTS: Mapping[str, Any] = {"blocked": False}
"""Variables of the concrete model the parametric reading reads but never changes: the
timestamp queue has no capacity, so the loop thread is never blocked on it."""


@dataclass(frozen=True)
class Slot:
    """One parametric state variable: a per-task z3 array ``Int -> Int/Bool`` or a scalar, and
    its range from the concrete declaration (``hi = None``: a task id or count up to ``N``)."""

    name: str
    kind: str  # "int" | "bool"
    array: bool
    lo: int = 0
    hi: int | None = 0
    bounded: bool = True  # False for the timestamps (only ``tail >= 0``, EX-QUEUE-EXACT)


def layout(bounds: Bounds, edges: Edges = REFERENCE_EDGES) -> tuple[Slot, ...]:
    """The parametric state for ``bounds``: every variable the concrete builder declares
    (:meth:`~refexec.models.reference._Builder.variables`) with the fixed-N queue replaced by
    the enqueue timestamps ``ts`` and the next one ``tail``. One declaration: a feature's new
    variable is in the parametric state as soon as the model declares it."""
    probe = _Builder(Bounds(_PROBE_N, dict(bounds.extra)), edges)
    out: list[Slot] = []
    for v in probe.variables():
        if v.name in _QUEUE:
            continue
        if v.length not in (0, _PROBE_N):
            raise ValueError(f"variable {v.name!r} has length {v.length}: the parametric "
                             "state has per-task arrays and scalars only")
        hi = None if v.sort.hi == _PROBE_N else v.sort.hi
        out.append(Slot(v.name, v.sort.kind, v.length == _PROBE_N, v.sort.lo, hi))
    out.append(Slot("ts", "int", True, bounded=False))
    out.append(Slot("tail", "int", False, bounded=False))
    return tuple(out)


CORE_LAYOUT = layout(Bounds(1, {"join": 0}))
"""The core's state (every feature key 0)."""


class PState:
    """One parametric state: z3 arrays ``Int -> Int/Bool`` for per-task variables, z3 scalars,
    one per :class:`Slot` of the layout (default: the core's)."""

    def __init__(self, tag: str, slots: Sequence[Slot] | None = None) -> None:
        II, IB = z3.ArraySort(z3.IntSort(), z3.IntSort()), z3.ArraySort(z3.IntSort(),
                                                                          z3.BoolSort())
        self.slots = tuple(slots) if slots is not None else CORE_LAYOUT
        self.v: dict[str, Any] = {}
        for sl in self.slots:
            if sl.array:
                self.v[sl.name] = z3.Const(f"{sl.name}{tag}", II if sl.kind == "int" else IB)
            else:
                self.v[sl.name] = (z3.Int if sl.kind == "int" else z3.Bool)(f"{sl.name}{tag}")

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["v"][name]
        except KeyError:
            raise AttributeError(name) from None


Updates = dict[str, Any]
"""An action's effect: new values of the variables it changes (arrays as ``z3.Store`` terms)."""


# -- the model language over a symbolic number of tasks ------------------------------------------

class TaskArray:
    """A per-task variable over the tasks ``0 <= x < N``: a z3 array read by ``a[t]`` (a
    :class:`~refexec.models.symbolic.Sym`, so the model's operators apply) and changed by
    ``o.store`` (:class:`ParamOps`). It cannot be iterated: "every task" is
    :meth:`ParamBuilder.forall`."""

    __slots__ = ("a",)

    def __init__(self, a: Any) -> None:
        self.a = a

    def __getitem__(self, i: Any) -> Any:
        return Sym(z3.Select(self.a, _z(i)))

    def __iter__(self) -> Any:
        raise SymbolicMisuse("a per-task array over N tasks cannot be iterated: use m.forall, "
                             "m.exists, m.count or m.map_tasks")

    def editable(self) -> _TaskCells:
        return _TaskCells(self.a)

    def frozen(self) -> TaskArray:
        return self


class _TaskCells(TaskArray):
    """:class:`TaskArray`'s editable form in a draft: ``d.st[t] = v`` is a store."""

    __slots__ = ()

    def __setitem__(self, i: Any, v: Any) -> None:
        self.a = z3.Store(self.a, _z(i), _z(v))

    def frozen(self) -> TaskArray:
        return TaskArray(self.a)


class ParamOps(Z3Ops):
    """:class:`~refexec.models.symbolic.Z3Ops` with ``select``/``store``/``If`` on
    :class:`TaskArray` (a symbolic index is a z3 ``Select``/``Store``, not an If-chain)."""

    def select(self, seq: Any, i: Any) -> Any:
        return seq[i] if isinstance(seq, TaskArray) else super().select(seq, i)

    def store(self, seq: Any, i: Any, v: Any) -> Any:
        if isinstance(seq, TaskArray):
            return TaskArray(z3.Store(seq.a, _z(i), _z(v)))
        return super().store(seq, i, v)

    def If(self, c: Any, a: Any, b: Any) -> Any:
        if isinstance(a, TaskArray) and isinstance(b, TaskArray):
            return TaskArray(z3.If(_z(c), a.a, b.a))
        return super().If(c, a, b)


class TaskDomain:
    """The domain of a task parameter over N tasks: one free z3 integer ``0 <= t < N`` per
    query, never a list (iterating it raises)."""

    def __iter__(self) -> Any:
        raise SymbolicMisuse("the tasks of the parametric core cannot be iterated: use "
                             "m.forall, m.exists, m.count or m.map_tasks")

    def __len__(self) -> int:
        raise SymbolicMisuse("the parametric core has a symbolic number of tasks")


class TaskCount:
    """``base + #{x | some(x)}`` over N tasks, comparable with 0 only (``> 0``, ``>= 1``,
    ``== 0``, ``!= 0``): "some task" is a quantifier, a count is not. ``base`` is a counter
    whose sort starts at 0 (``spawners``; AUX-TYPE), so the sum is positive iff one part is."""

    def __init__(self, some: Any, base: Any = 0) -> None:
        self.some, self.base = some, base

    def __add__(self, other: Any) -> TaskCount:
        return TaskCount(self.some, self.base + other)

    __radd__ = __add__

    def _zero(self, k: Any) -> None:
        if not (isinstance(k, int) and k == 0):
            raise SymbolicMisuse(f"a count of tasks over N tasks compares with 0 only, not {k}")

    def __gt__(self, k: Any) -> Any:
        self._zero(k)
        return Sym(z3.Or(_z(self.base > 0), _z(self.some)))

    def __ge__(self, k: Any) -> Any:
        if isinstance(k, int) and k == 1:
            return self > 0
        raise SymbolicMisuse(f"a count of tasks over N tasks compares with 0 only, not {k}")

    def __eq__(self, k: object) -> Any:
        self._zero(k)
        return Sym(z3.And(_z(self.base == 0), z3.Not(_z(self.some))))

    def __ne__(self, k: object) -> Any:
        return Sym(z3.Not((self == k).t))

    __hash__ = None  # type: ignore[assignment]


class ParamBuilder(_Builder):
    """The reference's builder with the number of tasks a z3 term ``N``: the task-collection
    and queue operations (the only part of :class:`~refexec.models.reference._Builder` that
    iterates over the tasks or reads the queue array) as quantifiers and the timestamp queue;
    every other piece and every action definition is the concrete builder's own."""

    def __init__(self, n: Any, bounds: Bounds, edges: Edges) -> None:
        super().__init__(Bounds(1, dict(bounds.extra)), edges)
        self.N = n
        self.n = Sym(_z(n))  # type: ignore[assignment]  # waited saturates at N
        self.EMPTY = self.n  # "no task" (a join waker's owner): the sentinel N
        self.T = TaskDomain()  # type: ignore[assignment]
        self._fresh = 0

    def var(self) -> Any:
        self._fresh += 1
        return z3.Int(f"x!{self._fresh}")

    def task(self, x: Any) -> Any:
        return z3.And(x >= 0, x < self.N)

    def forall(self, o: Ops, f: Any) -> Value:
        x = self.var()
        return Sym(z3.ForAll([x], z3.Implies(self.task(x), _z(f(Sym(x))))))

    def exists(self, o: Ops, f: Any) -> Value:
        x = self.var()
        return Sym(z3.Exists([x], z3.And(self.task(x), _z(f(Sym(x))))))

    def count(self, o: Ops, f: Any) -> Value:
        return TaskCount(self.exists(o, f))

    def map_tasks(self, o: Ops, f: Any) -> Value:
        x = self.var()
        return TaskArray(z3.Lambda([x], _z(f(Sym(x)))))

    def slots(self, who: Value) -> Sequence[Value]:
        return (who,)

    def several_tasks(self) -> bool:
        return True  # N free: an action of two distinct tasks (join) has instances for N > 1

    # the queue: the SCHEDULED tasks ordered by enqueue timestamp ``ts``; ``tail`` is the next
    # timestamp. A task is in the queue exactly while SCHEDULED (EX-QUEUE-EXACT's parametric
    # form), so dequeue and remove are the task leaving SCHEDULED by its own row.

    def queue_init(self, o: Ops) -> dict[str, Value]:
        return {"ts": self.map_tasks(o, lambda _x: 0), "tail": 0}

    def queue_empty(self, s: View, o: Ops) -> Value:
        return self.forall(o, lambda x: s.st[x] != SCHED)

    def is_head(self, s: View, o: Ops, t: Value) -> Value:
        return o.And(s.st[t] == SCHED, self.forall(
            o, lambda x: o.Implies(s.st[x] == SCHED, s.ts[t] <= s.ts[x])))

    def queued(self, s: View, o: Ops, t: Value) -> Value:
        return s.st[t] == SCHED

    def dequeue(self, s: View, o: Ops, t: Value) -> dict[str, Value]:
        return {}

    def enqueue(self, o: Ops, d: _Draft, who: Value, cond: Value) -> None:
        d.ts = o.store(d.ts, who, o.If(cond, d.tail, d.ts[who]))
        d.tail = o.If(cond, d.tail + 1, d.tail)
        d.touched |= {"ts", "tail"}

    def remove(self, o: Ops, d: _Draft, t: Value, cond: Value) -> None:
        return None


@dataclass(frozen=True)
class PAction:
    """A parametric action instance: ``guard(s, t)`` and ``effect(s, t)`` over a
    :class:`PState` with ``t`` a task term (unused by the loop's own actions), named as the
    concrete action whose definition it reads. An action of two tasks (``join(t, u)``) takes
    two task terms, ``guard(s, t, u)``: ``pair`` is set."""

    name: str
    guard: Callable[..., Any]
    effect: Callable[..., Updates]
    task: bool
    fixed: tuple[tuple[str, int], ...] = ()  # the other parameters' values (``remote`` …)
    pair: bool = False  # two task parameters (``task`` is then set too)

    def args(self, t: Any, u: Any) -> tuple[Any, ...]:
        """The task arguments of ``guard``/``effect`` out of a query's free tasks ``t``, ``u``
        (``t`` alone for an action of one task or none, which ignores it)."""
        return (t, u) if self.pair else (t,)

    def tasks(self, t: Any, u: Any) -> dict[str, Any]:
        """The free tasks this instance acts on (those a counterexample names)."""
        return {"t": t, "u": u} if self.pair else {"t": t} if self.task else {}

    def ranged(self, n: Any, t: Any, u: Any) -> Any:
        """Its task arguments are tasks: ``0 <= t, u < n``."""
        terms = self.tasks(t, u).values()
        return z3.And(*[z3.And(x >= 0, x < n) for x in terms]) if terms else z3.BoolVal(True)

    @property
    def label(self) -> str:
        if not self.fixed:
            return self.name
        return f"{self.name}({', '.join(f'{k}={v}' for k, v in self.fixed)})"


def _val(x: Any) -> Any:
    """A value of the model language as a z3 term (a task array as its z3 array)."""
    if isinstance(x, TaskArray):
        return x.a
    if isinstance(x, TaskCount):
        raise SymbolicMisuse("a count of tasks is not a state value")
    return _z(x)


class ParamCore:
    """The reference's actions (:func:`refexec.models.reference.build`'s own definitions) read
    over :class:`PState` by a :class:`ParamBuilder`, for ``N`` (a z3 term: ``Int('N')`` or a
    value); and the builder's pieces (``polling``, ``lost``, ``senders`` …) as z3 formulas
    over a :class:`PState`, for the invariants."""

    builder_class: type[ParamBuilder] = ParamBuilder

    def __init__(self, n: Any, bounds: Bounds | None = None,
                 edges: Edges = REFERENCE_EDGES) -> None:
        bad = [f.name for f in fields(Edges)
               if f.name not in CORE_EDGES
               and getattr(edges, f.name) != getattr(REFERENCE_EDGES, f.name)]
        if bad:
            raise ValueError(f"the parametric core does not interpret the edge(s) {bad}: the "
                             "timestamp queue has no duplicates, no stack order, no capacity")
        b = bounds if bounds is not None else core_bounds(1)
        refused = [k for k in FEATURE_KEYS
                   if b.extra.get(k, 1 if k == "join" else 0) and k not in INTERPRETED]
        if refused:
            raise ValueError(f"the parametric reading does not interpret the bounds key(s) "
                             f"{refused} yet (it interprets {sorted(INTERPRETED) or 'none'}): "
                             "use core_bounds() or a variant whose parts it interprets")
        self.N = n
        self.e = edges
        self.bounds = b
        self.m = self.builder_class(n, b, edges)
        self.o = ParamOps()
        self.slots = layout(b, edges)
        self.vars = tuple(sl.name for sl in self.slots)
        self.arrays = frozenset(sl.name for sl in self.slots if sl.array)
        self.P, self.W, self.SP, self.I = self.m.P, self.m.W, self.m.SP, self.m.I

    # -- the builder's pieces over a PState (raw z3 terms in, raw z3 terms out) -----------------

    def hooks(self, name: str) -> list[Callable[..., Any]]:
        """The function ``name`` of every part this reading's bounds turn on that defines one
        (:data:`FEATURES`): ``may_rest(m, s)`` (EX-PROGRESS: the loop may rest here),
        ``task_rank(m, s, x)`` and ``loop_rank(m, s)`` (EX-TERMINATES: added to the core's
        ranking terms)."""
        mods = [_feature_module(k) for k in features_on(self.bounds) if k in FEATURES]
        return [getattr(mod, name) for mod in mods if hasattr(mod, name)]

    def state(self, tag: str) -> PState:
        """A fresh parametric state of this core's layout, its z3 names suffixed by ``tag``."""
        return PState(tag, self.slots)

    def view(self, s: PState) -> View:
        values: dict[str, Any] = {k: TaskArray(v) if k in self.arrays else Sym(v)
                                  for k, v in s.v.items()}
        values.update(CONSTANTS)
        return View(values)

    def nxt(self, st: Any, event: TaskEvent) -> Any:
        """``next_state(st, event)``: the builder's nested ``If`` over the table's rows."""
        return _z(self.m.nxt(self.o, Sym(_z(st)), event))

    def has(self, st: Any, event: TaskEvent) -> Any:
        return _z(self.m.has(self.o, Sym(_z(st)), event))

    def task(self, x: Any) -> Any:
        return self.m.task(x)

    def var(self) -> Any:
        return self.m.var()

    def forall_tasks(self, f: Callable[[Any], Any]) -> Any:
        """``for every task x: f(x)``, by the builder's :meth:`ParamBuilder.forall`."""
        return _z(self.m.forall(self.o, lambda x: f(x.t)))

    def exists_task(self, f: Callable[[Any], Any]) -> Any:
        """``some task x: f(x)``, by the builder's :meth:`ParamBuilder.exists`."""
        return _z(self.m.exists(self.o, lambda x: f(x.t)))

    def polling(self, s: PState, t: Any) -> Any:
        return _z(self.m.polling(self.view(s), self.o, Sym(_z(t))))

    def final(self, st: Any) -> Any:
        return _z(self.m.final(self.o, Sym(_z(st))))

    def lost(self, s: PState, t: Any) -> Any:
        return _z(self.m.lost(self.view(s), self.o, Sym(_z(t))))

    def inbox_empty(self, s: PState) -> Any:
        return _z(self.m.inbox_empty(self.view(s), self.o))

    def queue_empty(self, s: PState) -> Any:
        return _z(self.m.queue_empty(self.view(s), self.o))

    def head(self, s: PState, t: Any) -> Any:
        return _z(self.m.is_head(self.view(s), self.o, Sym(_z(t))))

    def senders(self, s: PState) -> Any:
        """``senders > 0`` (the builder's count of senders, compared with 0)."""
        return _z(self.m.senders(self.view(s), self.o) > 0)

    # -- the actions -----------------------------------------------------------------------------

    def actions(self) -> tuple[PAction, ...]:
        """Every instance of the builder's actions over a task term ``t``: an action's task
        parameter is ``t``, its other parameters (``remote``) are enumerated; an instance whose
        guard is the constant False (``cancel(remote=1)`` without posted cancels) is left out."""
        out: list[PAction] = []
        probe = self.view(self.state("@probe"))
        t0 = Sym(z3.Int("t@probe"))
        for a in self.m.actions():
            tasks = tuple(k for k, dom in a.params.items() if isinstance(dom, TaskDomain))
            if len(tasks) > 2:
                raise ValueError(f"{a.name}: the parametric core has actions of two tasks "
                                 "at most")
            others = {k: dom for k, dom in a.params.items() if k not in tasks}
            names = list(others)
            probes = dict(zip(tasks, (t0, Sym(z3.Int("u@probe"))), strict=False))
            for combo in product(*(others[k] for k in names)):
                fixed = dict(zip(names, combo, strict=True))
                if a.guard(probe, self.o, **fixed, **probes) is False:
                    continue
                out.append(PAction(a.name, self._guard(a, fixed, tasks),
                                   self._effect(a, fixed, tasks), bool(tasks),
                                   tuple(fixed.items()), len(tasks) == 2))
        return tuple(out)

    def _args(self, fixed: Mapping[str, int], tasks: tuple[str, ...],
              terms: tuple[Any, ...]) -> dict[str, Any]:
        return {**fixed, **{k: Sym(_z(x)) for k, x in zip(tasks, terms, strict=False)}}

    def _guard(self, a: Action, fixed: Mapping[str, int],
               tasks: tuple[str, ...]) -> Callable[..., Any]:
        def guard(s: PState, *terms: Any) -> Any:
            return _z(a.guard(self.view(s), self.o, **self._args(fixed, tasks, terms)))
        return guard

    def _effect(self, a: Action, fixed: Mapping[str, int],
                tasks: tuple[str, ...]) -> Callable[..., Updates]:
        def effect(s: PState, *terms: Any) -> Updates:
            out = a.effect(self.view(s), self.o, **self._args(fixed, tasks, terms))
            # the concrete queue's variables stand for the timestamp queue's
            queue = {"ts", "tail"} if "qlen" in a.modifies else set()
            stray = set(out) - a.modifies - queue
            if stray:
                raise ValueError(f"{a.name} assigns {sorted(stray)} without declaring them")
            unknown = set(out) - set(self.vars)
            if unknown:
                raise ValueError(f"{a.name} assigns {sorted(unknown)}, which the parametric "
                                 "core does not have")
            return {k: _val(v) for k, v in out.items()}
        return effect

    # -- formulas ------------------------------------------------------------------------------

    def init(self, s: PState) -> Any:
        """``I(s)``: the builder's own initial state (every task UNSPAWNED with zero counters,
        the loop not started), at least one task."""
        values = self.m.init(self.o)
        unknown = set(values) - set(self.vars)
        if unknown:
            raise ValueError(f"the initial state sets {sorted(unknown)}, which the parametric "
                             "core does not have")
        return z3.And(self.N >= 1, *[s.v[k] == _val(values[k]) for k in self.vars])

    def trans(self, a: PAction, s: PState, s2: PState, t: Any, u: Any = None) -> Any:
        """``T_a(s, s', t[, u])``: a's guard with its task(s) t (and u, for an action of two
        tasks), its effect, and the frame for the rest."""
        if a.pair and u is None:
            raise ValueError(f"{a.name} acts on two tasks: pass u")
        args = a.args(t, u)
        out = a.effect(s, *args)
        eqs = [s2.v[name] == out.get(name, s.v[name]) for name in self.vars]
        return z3.And(a.ranged(self.N, t, u), a.guard(s, *args), *eqs)


# -- invariants and properties -------------------------------------------------------------------

Formula = Callable[[ParamCore, PState], Any]


def _type_ok(m: ParamCore, s: PState) -> Any:
    """Every integer variable in its declared sort's range (a task id or count up to N), read
    from the model's own declarations (:func:`layout`); the timestamps: ``tail >= 0``."""
    ints = [(sl, m.N if sl.hi is None else sl.hi) for sl in m.slots
            if sl.kind == "int" and sl.bounded]
    scalars = [z3.And(s.v[sl.name] >= sl.lo, s.v[sl.name] <= hi)
               for sl, hi in ints if not sl.array]
    cells = [(sl, hi) for sl, hi in ints if sl.array]
    return z3.And(s.tail >= 0, *scalars, m.forall_tasks(lambda x: z3.And(
        *[z3.And(s.v[sl.name][x] >= sl.lo, s.v[sl.name][x] <= hi) for sl, hi in cells])))


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
    # a closed executor (bounds key close) may keep a spawner: its spawns are refused
    no_spawner = z3.Or(s.spawners == 0, s.closed) if "closed" in s.v else s.spawners == 0
    return z3.Implies(s.loop == Loop.RETURNED, z3.And(
        no_spawner, z3.Not(s.signal), m.forall_tasks(lambda x: z3.Or(
            m.final(s.st[x]), z3.And(s.st[x] == UNSP, s.inbox[x] == 0)))))


def _poll_count(m: ParamCore, s: PState) -> Any:
    return m.forall_tasks(lambda x: s.polls[x] == s.done[x])


@dataclass(frozen=True)
class PInvariant:
    """An invariant proved for every N: a property ID of spec/SPEC.md, or an auxiliary one.

    ``witness``: the invariant claims that some task exists (``∃x``), so its induction step must
    find the pre-state's witness in the post-state: its queries run with z3's E-matching off
    (model-based instantiation alone tries the witness at once; E-matching, fed the ∀∃
    statements about join wakers, may loop on their Skolem terms for minutes instead)."""

    id: str
    statement: str
    formula: Formula
    witness: bool = False


@dataclass(frozen=True)
class PLemma:
    """A fact about every state, reachable or not, for every N: ``formula(m, s)`` over any
    values of the state's variables, proved by induction on N — base ``N = 0``, step
    ``N = k`` to ``N = k + 1`` over the same arrays (two queries). For what first-order
    reasoning cannot show with N free but induction on N can: a non-empty set of queued tasks
    has one with the least timestamp (:data:`param_drive.HEAD`). Lemmas are assumed where a
    part asks for them (EX-PROGRESS's query), never as an invariant of the reachable states."""

    id: str
    statement: str
    formula: Formula


INVARIANTS: tuple[PInvariant, ...] = (
    PInvariant("AUX-TYPE", "every variable in its sort's range", _type_ok),
    PInvariant("AUX-UNSPAWNED", "an UNSPAWNED slot has no waker, no poll, no flag",
               _unspawned_blank),
    PInvariant("AUX-ENDED", "ended[t] <-> st[t] final", _ended_final),
    PInvariant("AUX-POLL-LOOP", "a task being polled => loop = POLLING", _polling_loop),
    PInvariant("AUX-POLLED", "loop = POLLING => some task is being polled", _polled,
               witness=True),
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
    after: Callable[[ParamCore, PState, PState, Any], Any] | None = None
    """A condition on the step itself (pre-state, post-state, task), conjoined with
    ``formula``: a property of the state an action leaves (EX-CANCEL-APPLIED)."""


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
    """The negation of EX-PROGRESS: the loop neither returned nor gave the thread back
    (``run_final``; a part may add states where the loop may rest, ``may_rest``: an await
    cycle), and no fair action instance is enabled — for a task action, for no task. The
    parts' lemmas (:class:`PLemma`, proved by induction on N) hold in the state."""
    actions = tuple(actions)
    t = m.var()
    u = m.var() if any(a.pair for a in actions) else None
    parts = [s.loop != Loop.RETURNED, s.loop != Loop.NOT_STARTED,
             *[z3.Not(f(m, s)) for f in m.hooks("may_rest")],
             *[lem.formula(m, s) for lem in lemmas_for(m.bounds)]]
    for a in actions:
        if a.name in ENVIRONMENT_ACTIONS:
            continue
        g = a.guard(s, *a.args(t, u))
        if a.task:
            g = z3.Exists(list(a.tasks(t, u).values()), z3.And(a.ranged(m.N, t, u), g))
        parts.append(z3.Not(g))
    return z3.And(*parts)


def task_rank(m: ParamCore, s: PState, x: Any) -> Any:
    """A task's share of the work left (the fixed-N ranking's summand, PROOFS.md section 6):
    ``4 (P + 1 - done) + stage(st) + 2 wakers + inbox``, stage 3 while polled, 2 while
    SCHEDULED / IDLE / UNSPAWNED, 0 when finished."""
    st = s.st[x]
    stage = z3.If(m.polling(s, x), 3, z3.If(m.final(st), 0, 2))
    base = 4 * (m.P + 1 - s.done[x]) + stage + 2 * s.wakers[x] + s.inbox[x]
    return z3.Sum(base, *[f(m, s, x) for f in m.hooks("task_rank")])


def loop_rank(s: PState, m: ParamCore | None = None) -> Any:
    """The loop's share: ASLEEP with a signal 4, DISPATCH 3, DECIDING 2, ASLEEP 1, else 0;
    plus each part's ``loop_rank`` (its own scalars' share)."""
    base = z3.If(s.loop == Loop.ASLEEP, z3.If(s.signal, 4, 1),
                 z3.If(s.loop == Loop.DISPATCH, 3, z3.If(s.loop == Loop.DECIDING, 2, 0)))
    return z3.Sum(base, *[f(m, s) for f in (m.hooks("loop_rank") if m is not None else ())])


def rank_decreases(m: ParamCore, s: PState, s2: PState, t: Any, task: bool, *,
                   u: Any = None) -> Any:
    """``rank(s') < rank(s)`` for ``rank = (task ranks, spawners, loop)`` ordered
    lexicographically, the task ranks pointwise (every one <=, the acting task's <): a
    well-founded order, because every task rank is >= 0 (AUX-TYPE) and N is fixed along a run,
    so their sum decreases. A sum over the tasks is what the quantified encoding cannot
    express; the pointwise order needs none. An action of two tasks (``u``) may decrease
    either one's rank."""
    same = m.forall_tasks(lambda x: task_rank(m, s2, x) == task_rank(m, s, x))
    loop_down = z3.Or(s2.spawners < s.spawners, z3.And(s2.spawners == s.spawners,
                                                        loop_rank(s2, m) < loop_rank(s, m)))
    alternatives = [z3.And(same, loop_down)]
    if task:
        acting = [t] if u is None else [t, u]
        alternatives.append(z3.And(
            m.forall_tasks(lambda x: task_rank(m, s2, x) <= task_rank(m, s, x)),
            z3.Or(*[task_rank(m, s2, x) < task_rank(m, s, x) for x in acting]),
            s2.spawners <= s.spawners))
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
    name: str = "reference core"

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
            return (f"{self.name} proved for every N ({len(self.properties)} properties: "
                    f"{', '.join(self.properties)}; {len(self.queries)} queries, "
                    f"{self.seconds:.1f} s)")
        first = self.failed[0]
        return (f"{self.name} NOT proved for every N: {len(self.failed)} of "
                f"{len(self.queries)} queries fail, first {first.prop} / {first.action} "
                f"({first.status}) {first.counterexample}")


N = z3.Int("N")


RLIMIT_PER_MS = 10_000
"""z3 resource units per millisecond of a query's budget (about what this machine's z3 spends
per ms of CPU). A budget is a resource count, not a time, so a query's verdict ("unknown"
included) is the same on an idle machine and under load."""


def _solve(assertions: Iterable[Any], timeout_ms: int, ematching: bool = True,
           ctx: Any = None) -> tuple[str, Any]:
    """One query, in ``ctx`` (a context of its own if None), its verdict and model.

    The query is translated out of the process's shared context: z3's search depends on its
    context's history (the order its terms were created in), so in a shared context the same
    query said "sat" after some tests and "unknown" after others. In a context of its own, or
    in a proof's own context that sees the same queries in the same order every run, it is
    the same query every time, whatever else ran in the process."""
    if ctx is None:
        ctx = z3.Context()
    solver = z3.Solver(ctx=ctx)
    solver.set("rlimit", timeout_ms * RLIMIT_PER_MS)
    if not ematching:
        solver.set("ematching", False)
    solver.set("timeout", 20 * timeout_ms)  # a safety net only: far beyond the rlimit's time
    solver.add(*(a.translate(ctx) for a in assertions))
    r = solver.check()
    return str(r), (solver.model() if r == z3.sat else None)


SMALL_N = (1, 2, 3, 4)
"""Where a pair z3 could not decide for every N looks for its counterexample: with N pinned,
the quantifiers over tasks range over a few slots and z3 decides the query in milliseconds."""


def _solve_either(assertions: Iterable[Any], timeout_ms: int,
                  ematching: bool = True, ctx: Any = None) -> tuple[str, Any]:
    """``_solve``; if z3 says "unknown", a counterexample at the smallest N of ``SMALL_N`` that
    has one; if none has, the free-N query again with the other E-matching setting.

    A passing proof never gets past the first call: E-matching proves the pairs. A failing one
    often does, and there a counterexample is searched where it is cheap and small: a failing
    pair's verdict then does not hang on whether z3's instantiation heuristics happen to find
    a model of a quantified formula."""
    assertions = list(assertions)
    status, model = _solve(assertions, timeout_ms, ematching, ctx)
    if status != "unknown":
        return status, model
    for n in SMALL_N:
        small, model = _solve([*assertions, n == N], timeout_ms, ematching, ctx)
        if small == "sat":
            return small, model
    return _solve(assertions, timeout_ms, not ematching, ctx)


def _show(model: Any, s: PState, tasks: Mapping[str, Any], core: ParamCore) -> str:
    """A small counterexample: N, the named tasks, and the pre-state's scalars and their slots."""

    def ev(x: Any) -> Any:
        return model.eval(x.translate(model.ctx), model_completion=True)

    n = ev(core.N)
    parts = [f"N={n}"] + [f"{k}={ev(v)}" for k, v in tasks.items()]
    parts += [f"{sl.name}={ev(s.v[sl.name])}" for sl in core.slots if not sl.array]
    try:
        shown = range(min(int(str(n)), 4))
    except ValueError:
        shown = range(0)
    for i in shown:
        parts.append(f"t{i}:" + ",".join(f"{sl.name}={ev(s.v[sl.name][i])}"
                                         for sl in core.slots if sl.array))
    return "counterexample: " + " ".join(parts)


def _initial_witness(core: ParamCore, s: PState) -> Any:
    """The initial state for N = 1, every variable pinned (per-task ones as constant arrays of
    the builder's initial value)."""
    values = core.m.init(core.o)
    pinned = [core.N == 1]
    for sl in core.slots:
        v = _val(values[sl.name])
        if sl.array:
            v = z3.K(z3.IntSort(), z3.simplify(z3.Select(v, 0)))
        pinned.append(s.v[sl.name] == v)
    return z3.And(*pinned)


def features_on(bounds: Bounds | None) -> tuple[str, ...]:
    """The :data:`FEATURE_KEYS` that ``bounds`` turns on (``join`` is on unless set to 0)."""
    b = bounds if bounds is not None else core_bounds(1)
    return tuple(k for k in FEATURE_KEYS if b.extra.get(k, 1 if k == "join" else 0))


def _feature_module(key: str) -> Any:
    return importlib.import_module(FEATURES[key])


def invariants_for(bounds: Bounds | None) -> tuple[PInvariant, ...]:
    """The core's invariants and those of every part ``bounds`` turns on."""
    extra = [i for k in features_on(bounds) for i in _feature_module(k).INVARIANTS]
    return (*INVARIANTS, *extra)


def induction_queries(formula: Formula, bounds: Bounds | None, s: PState,
                      edges: Edges = REFERENCE_EDGES,
                      core_class: type[ParamCore] | None = None) -> dict[str, list[Any]]:
    """A lemma's proof by induction on N, over the state ``s`` (any values): the base
    ``N = 0`` and the step ``N = k`` to ``N = k + 1``, each a query that must be unsat, the
    formula read through cores whose N is 0, k and k + 1."""
    k = z3.Int("k")
    base, at_k, at_k1 = ((core_class or ParamCore)(n, bounds, edges)
                         for n in (z3.IntVal(0), k, k + 1))
    return {"induction: N = 0": [z3.Not(formula(base, s))],
            "induction: N = k to k + 1": [k >= 0, formula(at_k, s),
                                          z3.Not(formula(at_k1, s))]}


def lemmas_for(bounds: Bounds | None) -> tuple[PLemma, ...]:
    """The lemmas (``LEMMAS``) of every part ``bounds`` turns on, each once."""
    found = {lem.id: lem for k in features_on(bounds)
             for lem in getattr(_feature_module(k), "LEMMAS", ())}
    return tuple(found.values())


def steps_for(bounds: Bounds | None) -> tuple[PStep, ...]:
    """The core's step properties and those of every part ``bounds`` turns on; a part's
    ``REPLACES`` (property IDs) drops step properties that do not apply with it on (the
    ``any`` policy: EX-FIFO, and the driver's EX-TIMER-PROMPT, EX-IO-PROMPT)."""
    mods = [_feature_module(k) for k in features_on(bounds)]
    dropped = {i for mod in mods for i in getattr(mod, "REPLACES", ())}
    steps = [*STEP_PROPERTIES, *(p for mod in mods for p in mod.STEP_PROPERTIES)]
    return tuple(p for p in steps if p.id not in dropped)


def interprets(bounds: Bounds) -> bool:
    """The parametric reading interprets ``bounds`` (every part it turns on)."""
    return set(features_on(bounds)) <= INTERPRETED


def prove_every_n(
    invariants: tuple[PInvariant, ...] | None = None,
    *,
    steps: tuple[PStep, ...] | None = None,
    edges: Edges = REFERENCE_EDGES,
    bounds: Bounds | None = None,
    assume: tuple[PInvariant, ...] | None = None,
    timeout_ms: int = 20000,
    core_class: type[ParamCore] | None = None,
    fair: tuple[str, ...] | None = None,
    name: str = "reference core",
) -> EveryNReport:
    """Prove ``invariants`` inductive and ``steps`` for every N, one query per pair.

    ``invariants`` and ``steps`` default to those of ``bounds``'s parts
    (:func:`invariants_for`, :func:`steps_for`). ``assume`` (default: ``invariants``) is the
    strengthening assumed in the pre-state; tests pass a smaller set to show an auxiliary
    invariant is needed. ``fair``: the actions the ranking must decrease on (EX-TERMINATES;
    default every action but the environment's, which are assumed to act finitely often).
    """
    start = time.perf_counter()
    if invariants is None:
        invariants = invariants_for(bounds)
    if steps is None:
        steps = steps_for(bounds)
    core = (core_class or ParamCore)(N, bounds, edges)
    acts = core.actions()
    if fair is None:
        fair = tuple(dict.fromkeys(a.name for a in acts if a.name not in ENVIRONMENT_ACTIONS))
    hyp = invariants if assume is None else assume
    report = EveryNReport(name=name)
    s, s2, t, u = core.state("@0"), core.state("@1"), z3.Int("t"), z3.Int("u")
    ctx = z3.Context()  # the proof's own: the same queries in the same order every run
    trans = {a: core.trans(a, s, s2, t, u) for a in acts}

    def run(prop: str, action: str, assertions: list[Any], tasks: Mapping[str, Any],
            ematching: bool = True) -> None:
        t0 = time.perf_counter()
        status, model = _solve_either(assertions, timeout_ms, ematching, ctx)
        cex = _show(model, s, tasks, core) if model is not None else ""
        report.queries.append(Query(prop, action, status, time.perf_counter() - t0, cex))

    pre = [N >= 1, *(inv.formula(core, s) for inv in hyp)]  # N never changes; I says N >= 1
    # not vacuous: the initial state with one task (pinned, so no quantifier is left open)
    # satisfies the initial condition and every assumed invariant
    t0 = time.perf_counter()
    status, _ = _solve([_initial_witness(core, s), core.init(s), *pre], timeout_ms, ctx=ctx)
    report.queries.append(Query("AUX-CONSISTENT", "init", status, time.perf_counter() - t0,
                                expect="sat"))
    for inv in invariants:
        run(inv.id, "init", [core.init(s), z3.Not(inv.formula(core, s))], {})
        post = inv.formula(core, s2)
        for a in acts:
            run(inv.id, a.label, [*pre, trans[a], z3.Not(post)],
                a.tasks(t, u), not inv.witness)
    for lem in lemmas_for(bounds):  # by induction on N, over any values of the variables
        for label, assertions in induction_queries(lem.formula, bounds, s, edges,
                                                   type(core)).items():
            run(lem.id, label, assertions, {})
    run("EX-PROGRESS", "every fair action", [*pre, progress_stuck(core, s, acts)], {})
    for a in acts:  # EX-TERMINATES: every fair action decreases the ranking
        if a.name in fair:
            run("EX-TERMINATES", a.label, [*pre, trans[a], z3.Not(
                rank_decreases(core, s, s2, t, a.task, u=u if a.pair else None))],
                a.tasks(t, u))
    run("EX-TERMINATES", "rank >= 0", [*pre, core.exists_task(
        lambda x: task_rank(core, s, x) < 0)], {})
    for sp in steps:
        for a in acts:
            if a.name in sp.actions:
                goal = sp.formula(core, s, t)
                if sp.after is not None:
                    goal = z3.And(goal, sp.after(core, s, s2, t))
                run(sp.id, a.label, [*pre, trans[a], z3.Not(goal)],
                    a.tasks(t, u))
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
    """``R(s, p)``: the concrete state ``c`` (an Unroller state) and the parametric ``p``: every
    variable of the layout equal (per-task ones slot by slot, a task id's sentinel ``n`` being
    ``N``), the concrete queue ``q[0..qlen)`` the SCHEDULED tasks in increasing ``ts``, and the
    constants (not blocked)."""

    def z(x: Any) -> Any:
        return x.t if hasattr(x, "t") else x

    parts: list[Any] = [n == core.N]
    for sl in core.slots:
        if not sl.bounded:
            continue
        if sl.array:
            parts += [z(c[sl.name][i]) == p.v[sl.name][i] for i in range(n)]
        else:
            parts.append(z(c[sl.name]) == p.v[sl.name])
    parts += [z(c[k]) == v for k, v in CONSTANTS.items()]
    qlen, q = z(c["qlen"]), [z(x) for x in c["q"]]
    parts.append(qlen == z3.Sum(*[z3.If(p.st[i] == SCHED, 1, 0) for i in range(n)]))
    for i, qi in enumerate(q):
        earlier = [p.ts[q[j]] < p.ts[qi] for j in range(i)]
        parts.append(z3.If(i < qlen, z3.And(qi >= 0, qi < n, p.st[qi] == SCHED, *earlier),
                           qi == n))
    return z3.And(*parts)


def agreement(ns: Iterable[int] = (1, 2, 3, 4), edges: Edges = REFERENCE_EDGES,
              timeout_ms: int = 20000, core_class: type[ParamCore] | None = None,
              bounds: Bounds | None = None) -> AgreementReport:
    """For each n: the parametric reading with ``N = n`` and the concrete instance agree
    (``bounds``' other keys, default the core's).

    With ``R`` the correspondence (:func:`_correspond`) and ``Inv`` the parametric invariants
    (proved for every N, so for n): (1) ``I_c(s) /\\ I_p(p) => R(s, p)``; for every concrete
    action instance ``a(t)`` and ``TypeOK_c(s) /\\ R(s, p) /\\ Inv(p)``: (2) ``a(t)`` is enabled
    in s iff its parametric namesake is enabled in p, and (3) their successors correspond. Each
    is one query that must be unsat; a failure names n, the instance and the check.
    """
    start = time.perf_counter()
    report = AgreementReport()
    ctx = z3.Context()  # the check's own (see _solve)
    extra = dict((bounds if bounds is not None else core_bounds(1)).extra)
    for n in ns:
        b = Bounds(n, extra)
        ts = build(b, edges)
        u = Unroller(ts, Z3Ops(), tag=f"c{n}.")
        core = (core_class or ParamCore)(z3.IntVal(n), b, edges)
        pacts = {(a.name, a.fixed): a for a in core.actions()}
        concrete = {a.name for a in ts.actions}
        tparams = {a.name: [k for k, dom in a.params.items() if isinstance(dom, TaskDomain)]
                   for a in core.m.actions()}
        parametric = set(tparams)
        if not concrete <= parametric:
            report.failures.append(f"n={n}: the concrete actions {sorted(concrete)} are not "
                                   f"the parametric reading's {sorted(parametric)}")
            continue
        p, p2 = core.state(f"@p{n}.0"), core.state(f"@p{n}.1")
        r0, r1 = _correspond(core, n, u.state(0), p), _correspond(core, n, u.state(1), p2)
        inv = [i.formula(core, p) for i in invariants_for(b)]
        count = 1
        status, _ = _solve([u.init(0), core.init(p), z3.Not(r0)], timeout_ms, ctx=ctx)
        if status != "unsat":
            report.failures.append(f"n={n}: init ({status})")
        # an action the concrete instance does not have (join with one task: it needs two
        # distinct tasks) is never enabled in the parametric reading at N = n either
        fresh = z3.Ints(f"t@{n} u@{n}")
        for spare in (a for a in pacts.values() if a.name not in concrete):
            count += 1
            enabled = z3.And(spare.ranged(core.N, *fresh), spare.guard(p, *spare.args(*fresh)))
            status, _ = _solve([u.type_ok(0), r0, *inv, enabled], timeout_ms, ctx=ctx)
            if status != "unsat":
                report.failures.append(f"n={n}: {spare.label} has no concrete instance but is "
                                       f"enabled ({status})")
        for k, (action, params) in enumerate(u.instances):
            tasks = tparams[action.name]
            fixed = tuple((name, v) for name, v in params.items() if name not in tasks)
            pa = pacts.get((action.name, fixed))
            # the task parameters' values, in order (a second one for an action of two tasks)
            vals = [z3.IntVal(params[k]) for k in tasks] or [z3.IntVal(0)]
            t, t2 = vals[0], (vals[1] if len(vals) > 1 else None)
            base = [u.type_ok(0), r0, *inv]
            if pa is None:  # an instance the reading leaves out (its guard is constant False)
                checks = {"enabled": [*base, u.enabled(0, [k])]}
            else:
                checks = {
                    "enabled": [*base,
                                z3.Not(u.enabled(0, [k]) == pa.guard(p, *pa.args(t, t2)))],
                    "successor": [*base, u.trans(0, [k]), core.trans(pa, p, p2, t, t2),
                                  z3.Not(r1)],
                }
            for what, assertions in checks.items():
                count += 1
                # a guard's "no task x such that ... no task u such that ..." (idle_check: no
                # lost task, a join waker counting as a waker) compared with its concrete
                # disjunction: model-based instantiation over the N = n tasks at once;
                # E-matching may loop on the Skolem terms (PInvariant.witness)
                status, _ = _solve(assertions, timeout_ms, what != "enabled", ctx)
                if status != "unsat":
                    report.failures.append(
                        f"n={n}: {action.label(params)} {what} differs ({status})")
        report.checked[n] = count
    report.seconds = time.perf_counter() - start
    return report
