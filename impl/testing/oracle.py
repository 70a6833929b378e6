"""The model side of the lockstep machine: the model's concrete interpretation, followed by log.

The executor does some things the test cannot see one by one — draining a cross-thread inbox,
deciding to sleep, declaring a task lost. The model has actions for those too (they are part
of the spec), but the log does not name them. So the oracle follows the executor the way a
refinement check follows an implementation with stuttering steps: it keeps the *set* of model
states consistent with everything observed so far (a frontier, as an NFA simulation does),

* closes it under the variant's *internal* actions (never the ones the log names),
* advances it by the model actions each logged event maps to — each must be enabled in at least
  one candidate, otherwise the executor did something the model forbids — checking the model's
  step properties on every transition taken, and
* at every observation point keeps only the candidates whose projection equals what the adapter
  observed; if none is left, ``abstraction(executor) != model state``: a failure.

With a deterministic executor the frontier is a handful of states at most; it grows only while
a cross-thread wake is in flight and the model allows it to land in several places.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Protocol

from refexec.testing.adapter import Observation
from refexec.testing.script import Event

__all__ = ["Divergence", "Model", "ModelStep", "Oracle", "Refinement"]

ModelStep = tuple[str, Mapping[str, int]]
Frozen = tuple[Any, ...]


class Divergence(AssertionError):
    """The executor did something, or reached a state, that the model does not allow."""


class Refinement(Protocol):
    """How one model variant speaks about the kit's events and observations (one per variant).

    * ``internal``: names of actions the executor takes without a logged event;
    * ``steps(event, state)``: the model actions a logged event stands for in ``state``; a
      refinement onto a counter abstraction, where an event names a task but an action names a
      class of tasks, may instead define ``alternatives(event, state)``: every sequence the
      event may stand for (the frontier keeps each one that is enabled, and the observations
      prune the wrong ones);
    * ``project(state, spawned)``: the model state in the :class:`Observation` vocabulary, for
      the first ``spawned`` kit tasks.
    """

    internal: frozenset[str]

    def steps(self, event: Event, state: Mapping[str, Any]) -> Sequence[ModelStep]: ...

    def project(self, state: Mapping[str, Any], spawned: int) -> Observation: ...


class Model(Protocol):
    """The slice of :class:`refexec.models.concrete.ConcreteModel` the oracle uses."""

    def initial(self) -> dict[str, Any]: ...

    def enabled(self, state: Mapping[str, Any]) -> list[tuple[Any, dict[str, int]]]: ...

    def step(self, state: Mapping[str, Any], action_name: str, **params: int) -> dict[str, Any]: ...

    def is_enabled(self, state: Mapping[str, Any], action: Any, params: Mapping[str, int]
                   ) -> bool: ...

    def successor(self, state: Mapping[str, Any], action: Any, params: Mapping[str, int]
                  ) -> dict[str, Any]: ...

    def freeze(self, state: Mapping[str, Any]) -> Frozen: ...

    def thaw(self, frozen: Frozen) -> dict[str, Any]: ...

    def show(self, state: Mapping[str, Any], *, ghosts: bool = True) -> str: ...

    def check(self, state: Mapping[str, Any]) -> list[str]: ...

    def check_step(self, state: Mapping[str, Any], nxt: Mapping[str, Any], action: Any,
                   params: Mapping[str, int]) -> list[str]: ...


Node = tuple[Frozen, frozenset[int]]
"""A frontier element: a model state, and the tasks the path to it declared ``lost``."""


@dataclass
class Oracle:
    """Follows the executor through the model; see the module docstring for the method.

    ``claimed`` is the set of property IDs the variant promises (a property the design does not
    promise, such as EX-NO-SILENT-LOSS for the seed, is not a failure of the executor). Each
    frontier element also remembers the tasks its path took the ``lost`` action for, compared
    with the tasks the executor *reported* lost (Observation ``extra["lost"]``): the model's
    state alone cannot tell a lost task from a cancelled one.
    """

    model: Model
    refinement: Refinement
    action_lookup: Callable[[str], Any]
    claimed: frozenset[str]
    internal_depth: int = 40
    max_frontier: int = 4096
    frontier: set[Node] = field(default_factory=set)
    history: list[str] = field(default_factory=list)
    fired: int = 0

    def __post_init__(self) -> None:
        self.frontier = {(self.model.freeze(self.model.initial()), frozenset())}
        instances = getattr(self.model, "instances", None)
        if instances is None:
            raise TypeError("the oracle needs a ConcreteModel (with .instances)")
        internal = self.refinement.internal
        self._internal = [(a, p) for a, p in instances if a.name in internal]

    # -- advancing ------------------------------------------------------------------------------

    @staticmethod
    def _mark(marks: frozenset[int], name: str, params: Mapping[str, int]) -> frozenset[int]:
        return marks | {params["t"]} if name == "lost" and "t" in params else marks

    def closure(self, frontier: Iterable[Node]) -> set[Node]:
        """Every node reachable by up to ``internal_depth`` internal actions."""
        m = self.model
        seen = set(frontier)
        layer = list(seen)
        for _ in range(self.internal_depth):
            nxt = []
            for f, marks in layer:
                s = m.thaw(f)
                for action, params in self._internal:
                    if not m.is_enabled(s, action, params):
                        continue
                    s2 = m.successor(s, action, params)
                    self._check_step(s, s2, action, params)
                    g = (m.freeze(s2), self._mark(marks, action.name, params))
                    if g not in seen:
                        seen.add(g)
                        nxt.append(g)
            if not nxt:
                break
            layer = nxt
        if len(seen) > self.max_frontier:
            raise Divergence(f"the model frontier exceeded {self.max_frontier} states")
        return seen

    def _check_step(self, s: Mapping[str, Any], s2: Mapping[str, Any], action: Any,
                    params: Mapping[str, int]) -> None:
        bad = [p for p in self.model.check_step(s, s2, action, params) if p in self.claimed]
        if bad:
            raise Divergence(f"{action.name}{dict(params)} violates {', '.join(bad)} "
                             f"from [{self.model.show(s)}]")

    def apply(self, events: Sequence[Event]) -> None:
        """Advance every candidate through the model actions the logged events stand for."""
        m = self.model
        alternatives = getattr(self.refinement, "alternatives", None)
        for ev in events:
            cands = self.closure(self.frontier)
            nxt: set[Node] = set()
            labels: set[str] = set()
            for f, marks0 in cands:
                s0 = m.thaw(f)
                options = (alternatives(ev, s0) if alternatives is not None
                           else [self.refinement.steps(ev, s0)])
                for steps in options:
                    s, marks = s0, marks0
                    ok = True
                    for name, params in steps:
                        action = self.action_lookup(name)
                        if not m.is_enabled(s, action, params):
                            ok = False
                            break
                        s2 = m.successor(s, action, params)
                        self._check_step(s, s2, action, params)
                        s, marks = s2, self._mark(marks, name, params)
                    if ok:
                        nxt.add((m.freeze(s), marks))
                    labels.add(" ".join(_label(n, p) for n, p in steps) or "-")
            if not nxt:
                sample = m.thaw(min(cands)[0])
                raise Divergence(
                    f"the executor did {ev} = model {' | '.join(sorted(labels))}, which the "
                    f"model does not enable in any of {len(cands)} candidate states.\n"
                    f"model actions so far: {' '.join(self.history[-40:])}\n"
                    f"a candidate model state: [{m.show(sample)}]"
                )
            self.history.append("/".join(sorted(labels)))
            self.fired += 1
            self.frontier = nxt

    # -- observing ------------------------------------------------------------------------------

    def _project(self, node: Node, spawned: int) -> Observation:
        f, marks = node
        obs = self.refinement.project(self.model.thaw(f), spawned)
        extra = (*(obs.extra or ()), ("lost", tuple(sorted(marks))))
        return dataclasses.replace(obs, extra=extra)

    def sync(self, obs: Observation, spawned: int) -> None:
        """Keep the candidates whose projection equals ``obs``; fail if none does."""
        m = self.model
        cands = self.closure(self.frontier)
        keep = {f for f in cands if _matches(self._project(f, spawned), obs)}
        if not keep:
            best = min(cands, key=lambda f: (_distance(self._project(f, spawned), obs), f))
            proj = self._project(best, spawned)
            raise Divergence(
                "abstraction(executor) != model state\n"
                f"  executor: {_show_obs(obs, proj)}\n"
                f"  model:    {_show_obs(proj, obs)}\n"
                f"  (the closest of {len(cands)} candidate model states)\n"
                f"model actions so far: {' '.join(self.history[-40:])}\n"
                f"model state: [{m.show(m.thaw(best[0]))}]"
            )
        self.frontier = keep
        for f, _ in keep:
            bad = [p for p in self.model.check(m.thaw(f)) if p in self.claimed]
            if bad:
                raise Divergence(f"the model state reached violates {', '.join(bad)}: "
                                 f"[{m.show(m.thaw(f))}]")

    def states(self) -> list[dict[str, Any]]:
        return [self.model.thaw(f) for f in sorted({f for f, _ in self.frontier})]


def _label(name: str, params: Mapping[str, int]) -> str:
    return f"{name}({','.join(f'{k}={v}' for k, v in params.items())})"


def _compared(a: Observation, b: Observation) -> list[str]:
    names = [f.name for f in fields(Observation) if f.name != "extra"]
    return [n for n in names if getattr(a, n) is not None and getattr(b, n) is not None]


def _extra(o: Observation) -> dict[str, Any]:
    return dict(o.extra) if o.extra is not None else {}


def _matches(model: Observation, obs: Observation) -> bool:
    for n in _compared(model, obs):
        if getattr(model, n) != getattr(obs, n):
            return False
    ea, eb = _extra(model), _extra(obs)
    return all(ea[k] == eb[k] for k in ea.keys() & eb.keys())


def _distance(model: Observation, obs: Observation) -> int:
    d = 0
    for n in _compared(model, obs):
        a, b = getattr(model, n), getattr(obs, n)
        if isinstance(a, tuple) and isinstance(b, tuple):
            d += sum(x != y for x, y in zip(a, b, strict=False)) + abs(len(a) - len(b))
        else:
            d += int(a != b)
    ea, eb = _extra(model), _extra(obs)
    return d + sum(int(ea[k] != eb[k]) for k in ea.keys() & eb.keys())


def _show_obs(o: Observation, other: Observation) -> str:
    parts = []
    for n in _compared(o, other):
        v = getattr(o, n)
        mark = "*" if v != getattr(other, n) else ""
        parts.append(f"{mark}{n}={list(v) if isinstance(v, tuple) else v}")
    eo, ex = _extra(o), _extra(other)
    for k in sorted(eo.keys() & ex.keys()):
        mark = "*" if eo[k] != ex[k] else ""
        parts.append(f"{mark}{k}={eo[k]}")
    return " ".join(parts)
