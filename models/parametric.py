"""Proofs for any number of tasks, where the model allows them.

**The seed (counter abstraction).** The seed variant counts tasks per class instead of naming
them, so its state has the same shape for every number of tasks N. This module builds the seed
model with N a z3 integer *constant* — ``Bounds(n_tasks=z3.Int("N"))`` passed to the very same
builder, :func:`refexec.models.seed.build` — so N enters exactly where the model's own code puts
it (the sort bounds of the counters and the initial ``unspawned = N``) and nowhere else: any
Python use of N (``range(N)``, ``if N``, ``N * (..)`` into a tuple length) raises at build time,
because a z3 term cannot be iterated or truth-tested. The Horn clauses of
:mod:`refexec.models.chc` are then solved with N free in the initial clause::

    unspawned = N  /\\  (every other variable as in init)  /\\  TypeOK_N(s)  ->  Reach(s)
    Reach(s) /\\ T(s, s')  ->  Reach(s')        (T does not mention N: checked, see below)
    Reach(s) /\\ Bad_P(s)  ->  false

An answer ``unsat`` (with Spacer's invariant re-checked for a symbolic N) proves ``P`` for every
N >= 0 at once. The side condition "T does not depend on N" is checked by z3: the step formula of
the parametric build is compared with that of the concrete builds for N = 1, 2, 3 (validity of
``T_N <-> T_n``), and it is checked syntactically that N does not occur in ``T`` or ``Bad_P``.

What this proves is a fact about the counter abstraction, which over-approximates the seed for
every N (``models/seed.py``: the dequeued task is any task with an entry), so a property proved
here holds in the seed for every number of tasks; it is exact for one task.

**The reference design.** Its fixed-N builder is not parametric in this sense: its
task-collection operations iterate over ``range(n_tasks)`` and its queue is an array of
``n + 1`` task ids, so building it with a symbolic N fails. Its core's own action definitions
are read with N free by a builder that overrides exactly those operations (tasks as integers
below a free N, quantified "every task", a timestamp queue), proved for every N and checked
equal to the concrete model for N = 1..4: :mod:`refexec.models.reference_parametric`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import z3  # type: ignore[import-untyped]
from refexec.models import seed
from refexec.models.chc import chc_check
from refexec.models.symbolic import CheckResult, Unroller, Z3Ops, type_ok_property
from refexec.models.system import Bounds, Property, TransitionSystem

__all__ = ["ParametricReport", "seed_any_n", "seed_parametric", "transition_independent_of_n"]

ProgressFn = Callable[[str], None]

N = z3.Int("N")
"""The number of tasks, as a z3 constant."""


def _noop(_msg: str) -> None:
    return None


@dataclass
class ParametricReport:
    """What is proved about the seed for every number of tasks."""

    results: dict[str, CheckResult]
    side_conditions: dict[str, bool] = field(default_factory=dict)
    invariants: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def proved(self) -> list[str]:
        return [pid for pid, r in self.results.items() if r.status == "proved"]

    @property
    def sound(self) -> bool:
        return all(self.side_conditions.values())


def seed_parametric(**extra: int) -> TransitionSystem:
    """The seed model built by its own builder with the number of tasks a z3 constant ``N``."""
    bounds = Bounds(N, dict(seed.default_bounds(1, **extra).extra))
    return seed.build(bounds)


def _mentions(term: Any, const: Any) -> bool:
    seen: set[int] = set()
    stack = [term]
    while stack:
        e = stack.pop()
        if e.get_id() in seen:
            continue
        seen.add(e.get_id())
        if z3.is_const(e) and bool(e.eq(const)):
            return True
        stack.extend(e.children())
    return False


def transition_independent_of_n(
    ts_n: TransitionSystem, sizes: Sequence[int] = (1, 2, 3), **extra: int
) -> dict[str, bool]:
    """The side conditions of the parametric argument, each checked by z3.

    * ``T`` and every ``Bad_P`` of the parametric build do not mention ``N``;
    * for each concrete size ``n``, ``T_n(s, s') <-> T_N(s, s')`` is valid (the concrete build's
      step formula is the parametric one), and the initial states agree when ``N = n``.
    """
    u = Unroller(ts_n, Z3Ops(), tag="p.")
    out: dict[str, bool] = {
        "T does not mention N": not _mentions(u.trans(0), N),
        "no property mentions N": not any(
            _mentions(u.bad(p, 1), N) for p in ts_n.properties),
    }
    for n in sizes:
        ts = seed.build(seed.default_bounds(n, **extra))
        un = Unroller(ts, Z3Ops(), tag="p.")  # same tag: the same variable names
        sv = z3.Solver()
        sv.add(z3.Not(z3.And(
            un.trans(0) == u.trans(0),
            z3.Implies(n == N, un.init(0) == u.init(0)),
        )))
        out[f"T and I agree with the N={n} build"] = sv.check() == z3.unsat
    return out


def counting_invariants(
    ts_n: TransitionSystem, aux: Sequence[Property] | None = None
) -> tuple[list[Property], bool]:
    """``TYPE-OK`` and ``AUX-SEED-TASKS`` (``sum cnt + unspawned + lost + freed = N``), proved
    inductive with N symbolic, for :func:`refexec.models.chc.chc_check`'s ``assume``::

        N >= 0 /\\ I(s) /\\ not A(s)                 unsat   (initiation)
        A(s) /\\ T_a(s, s') /\\ not A(s')            unsat   for every action a (consecution)

    with ``A = TypeOK /\\ AUX-SEED-TASKS``. The CHC initial clause holds only for N >= 0 (it
    contains ``TypeOK``, and ``0 <= unspawned = N``), so ``A`` holds in every state that
    ``Reach`` can contain and assuming it changes no answer. Returns ``(A, proved)``; ``A`` is
    empty if a query fails. ``aux`` replaces AUX-SEED-TASKS (the test that TypeOK alone is not
    inductive: a class count could go negative while another exceeds N).
    """
    from refexec.models.verify import seed_aux_invariants  # noqa: PLC0415

    cands = [type_ok_property(), *(seed_aux_invariants(ts_n) if aux is None else aux)]
    u = Unroller(ts_n, Z3Ops(), tag="inv.")

    def holds(k: int) -> Any:
        return z3.And(*[z3.Not(u.bad(c, k)) for c in cands])

    queries = [z3.And(N >= 0, u.init(0), z3.Not(holds(0)))]
    queries += [z3.And(holds(0), u.trans(0, u.action_indices(a.name)), z3.Not(holds(1)))
                for a in ts_n.actions]
    for q in queries:
        sv = z3.Solver()
        sv.set("timeout", 60_000)
        sv.add(q)
        if sv.check() != z3.unsat:
            return [], False
    return cands, True


def seed_any_n(
    properties: Sequence[str] | None = None,
    *,
    timeout: float = 60.0,
    progress: ProgressFn = _noop,
    **extra: int,
) -> ParametricReport:
    """Prove the seed's properties for every number of tasks (see the module docstring).

    Properties that are violated already for one task are reported ``violated`` (with Spacer's
    trace, in which ``N`` is whatever the refutation chose).
    """
    t0 = time.perf_counter()
    ts = seed_parametric(**extra)
    report = ParametricReport({})
    report.side_conditions = transition_independent_of_n(ts, (1, 2, 3), **extra)
    assume, ok = counting_invariants(ts)
    report.side_conditions["TYPE-OK and AUX-SEED-TASKS inductive for every N"] = ok
    progress(f"seed, any N: side conditions {report.side_conditions}")
    for p in ts.properties:
        if properties is not None and p.id not in properties:
            continue
        res = chc_check(ts, p, timeout=timeout, params=[N], assume=assume, progress=progress)
        r = res.result
        if r.status == "proved":
            r.method = "CHC/Spacer, any number of tasks"
            report.invariants[p.id] = res.invariant
        report.results[p.id] = r
    report.seconds = time.perf_counter() - t0
    return report
