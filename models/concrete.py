"""The concrete interpretation: a step function over plain Python values, the test oracle.

A state is a ``dict`` from variable name to a bool, an int, or a tuple of those (an array). The
same guards, effects and property formulas as the symbolic interpretation are evaluated with
:class:`~refexec.models.system.ConcreteOps`; the frame ("everything else unchanged") comes from
:meth:`TransitionSystem.apply`, and every value is checked against its sort on every step, so an
effect that leaves its type is an error here, not a silent wrap-around.

Used by the Hypothesis lockstep tests (issue 4) and by :mod:`refexec.models.exhaustive`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from refexec.models.system import CONCRETE, Action, Sort, TransitionSystem, Var, View

__all__ = ["ConcreteModel", "DisabledAction", "Frozen", "SortError", "StateDict"]

StateDict = dict[str, Any]
Frozen = tuple[Any, ...]


class DisabledAction(ValueError):
    """``step`` was asked to take an action whose guard is false in the given state."""


class SortError(ValueError):
    """An effect produced a value outside its variable's sort (a model bug)."""


def _check_scalar(var: Var, sort: Sort, value: Any) -> None:
    if sort.kind == "bool":
        if not isinstance(value, bool):
            raise SortError(f"{var.name}: expected a bool, got {value!r}")
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise SortError(f"{var.name}: expected an int, got {value!r}")
    if not sort.lo <= value <= sort.hi:
        raise SortError(f"{var.name}: {value} outside {sort.lo}..{sort.hi}")


class ConcreteModel:
    """``ConcreteModel(system)``: initial state, enabled actions, step, property checks."""

    def __init__(self, system: TransitionSystem) -> None:
        self.system = system
        self.names = tuple(v.name for v in system.variables)
        self.invariants = tuple(p for p in system.properties if p.kind == "invariant")
        self.step_properties = tuple(p for p in system.properties if p.kind == "step")
        self.instances: tuple[tuple[Action, dict[str, int]], ...] = tuple(
            (a, params) for a in system.actions for params in a.instances()
        )

    # -- states ---------------------------------------------------------------------------

    def initial(self) -> StateDict:
        values = dict(self.system.init(CONCRETE))
        missing = set(self.names) - set(values)
        if missing:
            raise ValueError(f"{self.system.name}: init leaves {sorted(missing)} unset")
        state = {name: values[name] for name in self.names}
        self.check_sorts(state)
        return state

    def check_sorts(self, state: Mapping[str, Any]) -> None:
        """Raise :class:`SortError` if any value is outside its declared sort or length."""
        for var in self.system.variables:
            value = state[var.name]
            if var.length:
                if not isinstance(value, tuple) or len(value) != var.length:
                    raise SortError(f"{var.name}: expected a tuple of {var.length}, got {value!r}")
                for x in value:
                    _check_scalar(var, var.sort, x)
            else:
                _check_scalar(var, var.sort, value)

    def freeze(self, state: Mapping[str, Any]) -> Frozen:
        """A hashable form of a state (values in variable order)."""
        return tuple(state[n] for n in self.names)

    def thaw(self, frozen: Frozen) -> StateDict:
        return dict(zip(self.names, frozen, strict=True))

    def show(self, state: Mapping[str, Any], *, ghosts: bool = True) -> str:
        """A stable, readable one-line repr: ``st=(IDLE,SCHEDULED) q=[t1] loop=DISPATCH …``."""
        parts = []
        for var in self.system.variables:
            if var.ghost and not ghosts:
                continue
            value = state[var.name]
            if var.length:
                inner = ",".join(var.sort.show(x) for x in value)
                parts.append(f"{var.name}=({inner})")
            else:
                parts.append(f"{var.name}={var.sort.show(value)}")
        return " ".join(parts)

    # -- transitions ----------------------------------------------------------------------

    def is_enabled(
        self, state: Mapping[str, Any], action: Action, params: Mapping[str, int]
    ) -> bool:
        return bool(action.guard(View(state), CONCRETE, **params))

    def enabled(self, state: Mapping[str, Any]) -> list[tuple[Action, dict[str, int]]]:
        """Every (action, parameters) whose guard holds, in a fixed order."""
        view = View(state)
        return [(a, p) for a, p in self.instances if a.guard(view, CONCRETE, **p)]

    def successor(
        self, state: Mapping[str, Any], action: Action, params: Mapping[str, int]
    ) -> StateDict:
        """The successor of an *enabled* action (the caller has checked the guard)."""
        nxt = self.system.apply(action, params, state, CONCRETE)
        self.check_sorts(nxt)
        return nxt

    def step(self, state: Mapping[str, Any], action_name: str, **params: int) -> StateDict:
        """Take ``action_name(**params)``; raise :class:`DisabledAction` if its guard is false."""
        action = self.system.action(action_name)
        if set(params) != set(action.params):
            raise TypeError(
                f"{action_name} takes parameters {sorted(action.params)}, got {sorted(params)}"
            )
        for k, v in params.items():
            if v not in action.params[k]:
                raise ValueError(f"{action_name}: {k}={v} outside {list(action.params[k])}")
        if not self.is_enabled(state, action, params):
            raise DisabledAction(
                f"{action.label(params)} is not enabled in {self.system.name} state "
                f"[{self.show(state)}]"
            )
        return self.successor(state, action, params)

    # -- properties -----------------------------------------------------------------------

    def check(self, state: Mapping[str, Any]) -> list[str]:
        """IDs of the invariants violated in ``state``."""
        view = View(state)
        return [p.id for p in self.invariants if not p.formula(view, CONCRETE)]

    def check_step(
        self,
        state: Mapping[str, Any],
        nxt: Mapping[str, Any],
        action: Action | str,
        params: Mapping[str, int],
    ) -> list[str]:
        """IDs of the step properties violated by the transition ``state -action-> nxt``."""
        name = action if isinstance(action, str) else action.name
        a, b = View(state), View(nxt)
        return [
            p.id for p in self.step_properties if not p.formula(a, b, CONCRETE, name, params)
        ]
