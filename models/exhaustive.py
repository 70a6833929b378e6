"""The exhaustive interpretation: breadth-first exploration of every interleaving, as TLC does.

Every reachable state of the finite instance is visited once (or every state up to a depth
limit); every invariant is checked in every state and every step property on every transition.
Breadth-first order makes each reported counterexample a *shortest* one: the first violating
state (or transition) met lies at the least depth.

The same pass records, for vacuity, a shortest path on which each action fires and a shortest
path to each named witness state (``WITNESSES`` in :mod:`refexec.models.variants`).

Symmetry: the reference model spawns tasks in index order (a symmetry reduction built into the
model); the seed model is counter-abstracted (tasks are counted per local state), so both are
explored without a separate canonicalisation pass. ``canon`` lets a caller add one.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from refexec.models.concrete import ConcreteModel, Frozen, StateDict
from refexec.models.properties import Witness
from refexec.models.system import CONCRETE, TransitionSystem

__all__ = ["ExhaustiveResult", "FastView", "PropertyResult", "Step", "explore", "format_path"]


class FastView:
    """A read-only attribute view of a concrete state, faster than :class:`View` (plain
    attribute lookups instead of ``__getattr__``); used only with concrete values."""

    def __init__(self, values: StateDict) -> None:
        self.__dict__.update(values)


@dataclass(frozen=True)
class Step:
    """One step of a path: the action taken (``None`` for the initial state) and the state after."""

    label: str
    action: str | None
    params: dict[str, int]
    state: StateDict


@dataclass
class PropertyResult:
    """The verdict for one property: holds on the explored states, or a shortest counterexample."""

    id: str
    title: str
    kind: str
    holds: bool
    states: int = 0
    depth: int = 0
    counterexample: list[Step] | None = None

    @property
    def steps(self) -> int | None:
        """Number of actions in the counterexample (``None`` when the property holds)."""
        return None if self.counterexample is None else len(self.counterexample) - 1


@dataclass
class ExhaustiveResult:
    """Everything one exploration found."""

    system: str
    bounds: Any
    states: int
    transitions: int
    depth: int
    complete: bool
    seconds: float
    properties: dict[str, PropertyResult] = field(default_factory=dict)
    fired: dict[str, list[Step]] = field(default_factory=dict)
    never_fired: list[str] = field(default_factory=list)
    witnesses: dict[str, list[Step] | None] = field(default_factory=dict)
    graph: dict[Frozen, list[Frozen]] | None = None
    """With ``record=``: the recorded transitions, state -> successors (the termination check's
    fair graph, :mod:`refexec.models.termination`)."""
    depth_of: dict[Frozen, int] | None = None
    """With ``record=``: the breadth-first depth of every reachable state."""

    @property
    def states_per_second(self) -> float:
        return self.states / self.seconds if self.seconds > 0 else float("inf")

    def violated(self) -> list[str]:
        return [pid for pid, r in self.properties.items() if not r.holds]


def explore(
    system: TransitionSystem,
    *,
    max_depth: int | None = None,
    max_states: int | None = None,
    witnesses: Sequence[Witness] = (),
    canon: Callable[[Frozen], Frozen] | None = None,
    expand_violations: bool = True,
    progress: Callable[[int, int], None] | None = None,
    record: Callable[[str], bool] | None = None,
) -> ExhaustiveResult:
    """Explore ``system`` breadth-first; see the module docstring.

    ``expand_violations=False`` stops at states that violate an invariant (as TLC does); the
    default explores on, so every property gets a verdict on the whole reachable state space.
    ``progress(states, depth)`` is called every 20 000 states. ``record(action name)`` selects
    the transitions kept in ``graph`` (with every state's depth in ``depth_of``).
    """
    model = ConcreteModel(system)
    start = time.perf_counter()
    init = model.initial()
    key0 = model.freeze(init)
    if canon is not None:
        key0 = canon(key0)
    # parent pointers: key -> (parent key, action index) ; the initial state has None
    parent: dict[Frozen, tuple[Frozen, int] | None] = {key0: None}
    frontier: deque[tuple[Frozen, int]] = deque([(key0, 0)])
    instances = model.instances
    results = {
        p.id: PropertyResult(p.id, p.title, p.kind, True) for p in system.properties
    }
    first_bad: dict[str, tuple[Frozen, int | None, Frozen | None]] = {}
    fired_at: dict[str, tuple[Frozen, int]] = {}
    witness_at: dict[str, Frozen] = {}
    transitions = 0
    max_seen = 0
    complete = True
    invariants = model.invariants
    step_props = model.step_properties
    names = model.names
    graph: dict[Frozen, list[Frozen]] | None = None if record is None else {}
    depth_of: dict[Frozen, int] | None = None if record is None else {key0: 0}
    keep = {a.name: record(a.name) for a in system.actions} if record is not None else {}

    def check_state(key: Frozen, view: Any) -> bool:
        ok = True
        for p in invariants:
            if p.id not in first_bad and not p.formula(view, CONCRETE):
                first_bad[p.id] = (key, None, None)
                ok = False
        for w in witnesses:
            if w.name not in witness_at and w.formula(view, CONCRETE):
                witness_at[w.name] = key
        return ok

    checked: set[int] = set()
    check_state(key0, FastView(init))
    while frontier:
        key, depth = frontier.popleft()
        max_seen = max(max_seen, depth)
        if max_depth is not None and depth >= max_depth:
            complete = False
            continue
        state = dict(zip(names, key, strict=True))
        view = FastView(state)
        if not expand_violations and not all(p.formula(view, CONCRETE) for p in invariants):
            continue
        for idx, (action, params) in enumerate(instances):
            if not action.guard(view, CONCRETE, **params):
                continue
            updates = action.effect(view, CONCRETE, **params)
            if idx not in checked:  # the effect's key set never depends on values
                system.apply(action, params, state, CONCRETE)
                checked.add(idx)
            nkey = tuple(updates.get(n, v) for n, v in zip(names, key, strict=True))
            nxt = dict(zip(names, nkey, strict=True))
            transitions += 1
            if canon is not None:
                nkey = canon(nkey)
            if action.name not in fired_at:
                fired_at[action.name] = (key, idx)
            if graph is not None and keep[action.name]:
                graph.setdefault(key, []).append(nkey)
            if step_props:
                nview = FastView(nxt)
                for p in step_props:
                    if p.id not in first_bad and not p.formula(
                        view, nview, CONCRETE, action.name, params
                    ):
                        first_bad[p.id] = (key, idx, nkey)
            if nkey in parent:
                continue
            parent[nkey] = (key, idx)
            if depth_of is not None:
                depth_of[nkey] = depth + 1
            model.check_sorts(nxt)
            check_state(nkey, FastView(nxt))
            frontier.append((nkey, depth + 1))
            if max_states is not None and len(parent) >= max_states:
                complete = False
                frontier.clear()
                break
            if progress is not None and len(parent) % 20000 == 0:
                progress(len(parent), depth + 1)

    seconds = time.perf_counter() - start

    def path_to(key: Frozen) -> list[Step]:
        rev: list[Step] = []
        cur: Frozen | None = key
        while cur is not None:
            link = parent[cur]
            st = dict(zip(names, cur, strict=True))
            if link is None:
                rev.append(Step("init", None, {}, st))
                cur = None
            else:
                prev, idx = link
                a, p = instances[idx]
                rev.append(Step(a.label(p), a.name, dict(p), st))
                cur = prev
        rev.reverse()
        return rev

    def path_via(key: Frozen, idx: int) -> list[Step]:
        path = path_to(key)
        a, p = instances[idx]
        nxt = model.successor(path[-1].state, a, p)
        return [*path, Step(a.label(p), a.name, dict(p), nxt)]

    n_states = len(parent)
    for pid, res in results.items():
        res.states = n_states
        res.depth = max_seen
        if pid in first_bad:
            key, bad_idx, _ = first_bad[pid]
            res.holds = False
            res.counterexample = path_to(key) if bad_idx is None else path_via(key, bad_idx)
            res.depth = len(res.counterexample) - 1
    fired = {name: path_via(*fired_at[name]) for name in fired_at}
    never = sorted({a.name for a in system.actions} - set(fired))
    return ExhaustiveResult(
        system=system.name,
        bounds=system.bounds,
        states=n_states,
        transitions=transitions,
        depth=max_seen,
        complete=complete,
        seconds=seconds,
        properties=results,
        fired=fired,
        never_fired=never,
        witnesses={w.name: (path_to(witness_at[w.name]) if w.name in witness_at else None)
                   for w in witnesses},
        graph=graph,
        depth_of=depth_of,
    )


def format_path(system: TransitionSystem, path: Sequence[Step], *, ghosts: bool = False) -> str:
    """A numbered, one-line-per-step rendering of a path (see also :mod:`refexec.models.trace`)."""
    model = ConcreteModel(system)
    lines = []
    for i, step in enumerate(path):
        lines.append(f"{i:>3}. {step.label:<28} {model.show(step.state, ghosts=ghosts)}")
    return "\n".join(lines)
