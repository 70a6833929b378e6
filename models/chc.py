"""Unbounded checking with constrained Horn clauses, solved by z3's Spacer (PDR/IC3).

The clauses are built from the *same* formulas as BMC and the inductive proofs — the
:class:`~refexec.models.symbolic.Unroller`'s ``I(s@0)``, ``T(s@0, s@1)`` and ``Bad_P`` — never
from a re-encoding of the actions. With ``Reach`` an unknown predicate over the state's scalars::

    I(s)                       ->  Reach(s)          (init; TypeOK(s) is added, it holds there)
    Reach(s) /\\ T(s, s')       ->  Reach(s')         (step)
    Reach(s) /\\ not P(s)       ->  false             (query, an invariant P)
    Reach(s) /\\ T(s, s') /\\ not SP(s, s')  ->  false   (query, a step property SP)

Spacer answers

* **unsat** (the query is unreachable): it returns an interpretation of ``Reach`` — an
  inductive invariant that implies ``P``. That invariant is then *re-checked* here with a plain
  z3 solver (initiation, consecution per action, safety), so a "proved" never rests on Spacer
  alone, and it is printed with the model's own variable names;
* **sat** (a violation): a ground refutation, a derivation ``Reach(s_0), .., Reach(s_n)`` of
  concrete states. The states are read out of the refutation and chained by the *concrete*
  interpretation (every step is replayed with ``ConcreteOps``: the action instance that turns
  ``s_i`` into ``s_{i+1}`` is looked up and its guard checked), which gives a readable trace and
  validates it. If the chain cannot be rebuilt, BMC at the refutation's depth is the fallback.

Integers are exact (``Z3Ops()`` without ``bits``): Spacer's arithmetic generalisation works on
linear integer arithmetic, and the sort bounds are part of the check (``TYPE-OK``).

Spacer is a PDR engine: before it finds a counterexample at level ``n`` it has shown that none
exists at a smaller level, so its traces are shortest ones in practice; the length is compared
with the exhaustive checker's (shortest by construction) on every ``refexec verify`` run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import z3  # type: ignore[import-untyped]
from refexec.models.concrete import ConcreteModel
from refexec.models.symbolic import (
    TYPE_OK,
    CheckResult,
    Step,
    Sym,
    Trace,
    Unroller,
    Z3Ops,
    _wrap,
    _z,
    bmc,
    new_solver,
)
from refexec.models.system import CONCRETE, Property, TransitionSystem, Value, View

__all__ = ["ChcResult", "chc_check", "chc_check_all"]

Z3Term = Any
ProgressFn = Callable[[str], None]


def _noop(_msg: str) -> None:
    return None


@dataclass
class ChcResult:
    """Spacer's answer for one property, with its evidence."""

    result: CheckResult
    invariant: str = ""  # for "proved": the inductive invariant Spacer found, re-checked
    certificate_checked: bool = False
    levels: int = 0


class _Clauses:
    """The Horn clauses of one system, for one property."""

    def __init__(self, ts: TransitionSystem, ops: Z3Ops | None = None) -> None:
        self.ts = ts
        self.u = Unroller(ts, ops if ops is not None else Z3Ops(), tag="chc.")
        self.names: list[str] = []
        for v in ts.variables:
            if v.length:
                self.names += [f"{v.name}[{i}]" for i in range(v.length)]
            else:
                self.names.append(v.name)

    def flat(self, k: int) -> list[Z3Term]:
        out: list[Z3Term] = []
        for v in self.ts.variables:
            val = self.u.state(k)[v.name]
            out += [_z(x) for x in (val if isinstance(val, tuple) else (val,))]
        return out

    def unflat(self, values: Sequence[Value]) -> dict[str, Value]:
        out: dict[str, Value] = {}
        i = 0
        for v in self.ts.variables:
            if v.length:
                out[v.name] = tuple(values[i:i + v.length])
                i += v.length
            else:
                out[v.name] = values[i]
                i += 1
        return out


def _value(t: Z3Term) -> Value:
    v = _wrap(t)
    if isinstance(v, Sym):
        raise ValueError(f"not a ground value: {t}")
    return v


def _is_ground_value(t: Z3Term) -> bool:
    return bool(z3.is_true(t) or z3.is_false(t) or z3.is_int_value(t) or z3.is_bv_value(t))


def chc_check(
    ts: TransitionSystem,
    prop: Property,
    *,
    timeout: float = 60.0,
    assume: Sequence[Property] = (),
    ops: Z3Ops | None = None,
    shorten_below: int = 8,
    params: Sequence[Z3Term] = (),
    progress: ProgressFn = _noop,
) -> ChcResult:
    """Check one property of ``ts`` for unbounded depth with Spacer (see the module docstring).

    ``assume``: invariants *already proved* for ``ts`` (e.g. ``TYPE-OK`` and auxiliary
    invariants proved by :func:`refexec.models.symbolic.prove`). They restrict the step clause
    to ``Reach(s) /\\ A(s) /\\ T(s, s') -> Reach(s')``; since every reachable state satisfies
    ``A``, the least solution of ``Reach`` is still the set of reachable states, so the answers
    are unchanged — but Spacer need not rediscover ``A`` (it found the seed's counting
    invariant only after a minute without this help). A counterexample never depends on it (it
    is a path of the unrestricted system too), and the certificate check assumes ``A`` only
    in the pre-state, which is the same argument.
    ``timeout`` (seconds) bounds Spacer; on timeout the result is ``unknown``.
    ``params``: free constants of the system (the parametric seed's ``N``), universally
    quantified in every clause; with them a violation is reported without a rebuilt trace.
    A counterexample of at most ``shorten_below`` steps is replaced by BMC's shortest one
    (Spacer's path is not always shortest: the seed's EX-QUEUE-EXACT came back with 6 steps
    where 5 suffice); a longer one is reported as found, with ``(path not minimised)``.
    """
    t0 = time.perf_counter()
    c = _Clauses(ts, ops)
    u = c.u
    s0, s1 = c.flat(0), c.flat(1)
    reach = z3.Function("Reach", *[x.sort() for x in s0], z3.BoolSort())
    fp = z3.Fixedpoint()
    fp.set(engine="spacer")
    # keep the rules as written, so that the refutation speaks about Reach's own arguments
    fp.set("xform.slice", False)
    fp.set("xform.inline_linear", False)
    fp.set("xform.inline_eager", False)
    fp.set("timeout", max(1, int(timeout * 1000)))
    fp.declare_var(*s0, *s1, u.act(0), *params)
    fp.register_relation(reach)
    fp.rule(reach(*s0), [u.init(0), u.type_ok(0)])
    known = [z3.Not(u.bad(a, 0)) for a in assume]
    fp.rule(reach(*s1), [reach(*s0), *known, u.trans(0)])
    bad = z3.Bool(f"bad_{prop.id}")
    fp.register_relation(bad.decl())
    if prop.id == TYPE_OK:
        fp.rule(bad, [reach(*s0), z3.Not(u.type_ok(0))])
    elif prop.kind == "step":
        fp.rule(bad, [reach(*s0), u.trans(0), u.bad(prop, 1)])
    else:
        fp.rule(bad, [reach(*s0), u.bad(prop, 0)])
    try:
        r = fp.query(bad)
    except z3.Z3Exception as e:  # "canceled" on timeout
        secs = time.perf_counter() - t0
        progress(f"{ts.name}: {prop.id}: Spacer: unknown ({e}, {secs:.1f}s)")
        return ChcResult(CheckResult(prop.id, "unknown", 0, method="CHC/Spacer",
                                     detail=f"Spacer stopped: {e}", seconds=secs))
    secs = time.perf_counter() - t0
    if r == z3.unsat:
        inv = _invariant(fp, reach, c)
        checked = _check_certificate(c, prop, inv, known)
        text = _show_invariant(inv, c)
        status = "proved" if checked else "unknown"
        progress(f"{ts.name}: {prop.id}: Spacer: {status} ({secs:.1f}s)")
        return ChcResult(
            CheckResult(prop.id, status, 0, method="CHC/Spacer inductive invariant",
                        detail=text if checked else "Spacer's invariant failed the re-check",
                        seconds=secs),
            invariant=text, certificate_checked=checked,
        )
    if r == z3.sat:
        states = _refutation_states(fp.get_answer(), c)
        if params:
            return ChcResult(CheckResult(
                prop.id, "violated", max(0, len(states) - 1), method="CHC/Spacer refutation",
                detail="a parametric system: no concrete trace rebuilt", seconds=secs))
        trace = _chain(ts, c, states, prop)
        method = "CHC/Spacer"
        if trace is None:  # fall back to BMC at the refutation's depth
            depth = max(0, len(states) - 1 + (1 if prop.kind == "step" else 0))
            res = bmc(ts, [prop], max_depth=depth, include_type_ok=False)[prop.id]
            trace = res.trace
            method = "CHC/Spacer + BMC at its depth"
        elif len(trace) <= shorten_below:
            # Spacer's path need not be a shortest one: BMC to its length finds the shortest
            res = bmc(ts, [prop], max_depth=len(trace), include_type_ok=False)[prop.id]
            if res.trace is not None and len(res.trace) <= len(trace):
                trace = res.trace
                method = "CHC/Spacer, shortest by BMC"
        else:
            method = "CHC/Spacer (path not minimised)"
        secs = time.perf_counter() - t0
        if trace is None:
            return ChcResult(CheckResult(prop.id, "unknown", 0, method="CHC/Spacer",
                                         detail="no trace could be rebuilt", seconds=secs))
        progress(f"{ts.name}: {prop.id}: Spacer: violated at {len(trace)} ({secs:.1f}s)")
        return ChcResult(CheckResult(
            prop.id, "violated", len(trace), trace, method=method, seconds=secs,
            failed_action=trace.steps[-1].action_name if len(trace) else None,
        ))
    progress(f"{ts.name}: {prop.id}: Spacer: unknown ({fp.reason_unknown()}, {secs:.1f}s)")
    return ChcResult(CheckResult(prop.id, "unknown", 0, method="CHC/Spacer",
                                 detail=str(fp.reason_unknown()), seconds=secs))


def chc_check_all(
    ts: TransitionSystem,
    properties: Sequence[Property] | None = None,
    *,
    timeout: float = 60.0,
    assume: Sequence[Property] = (),
    progress: ProgressFn = _noop,
) -> dict[str, ChcResult]:
    """:func:`chc_check` for each property (each in its own Fixedpoint object)."""
    props = list(properties) if properties is not None else list(ts.properties)
    return {p.id: chc_check(ts, p, timeout=timeout, assume=assume, progress=progress)
            for p in props}


# -- proofs ------------------------------------------------------------------------------------


def _invariant(fp: Any, reach: Any, c: _Clauses) -> Z3Term:
    """Spacer's interpretation of ``Reach`` (its cover at every level) as a formula over
    ``s@0``; ``Var(i)`` in the cover is the i-th argument of ``Reach``."""
    cover = fp.get_cover_delta(-1, reach)
    return z3.substitute_vars(cover, *c.flat(0))


def _check_certificate(
    c: _Clauses, prop: Property, inv: Z3Term, known: Sequence[Z3Term] = ()
) -> bool:
    """Re-check Spacer's invariant with plain solvers: initiation, consecution (from states
    satisfying the already proved ``known``), safety."""
    u = c.u
    inv1 = z3.substitute(inv, *zip(c.flat(0), c.flat(1), strict=True))
    pre = z3.And(inv, *known)
    checks = [
        z3.And(u.init(0), z3.Not(inv)),
        z3.And(pre, u.trans(0), z3.Not(inv1)),
    ]
    if prop.id == TYPE_OK:
        checks.append(z3.And(pre, z3.Not(u.type_ok(0))))
    elif prop.kind == "step":
        checks.append(z3.And(pre, u.trans(0), u.bad(prop, 1)))
    else:
        checks.append(z3.And(pre, u.bad(prop, 0)))
    for f in checks:
        sv = new_solver(u.ops)
        sv.set("timeout", 60_000)
        sv.add(f)
        if sv.check() != z3.unsat:
            return False
    return True


def _show_invariant(inv: Z3Term, c: _Clauses) -> str:
    pretty = [z3.Const(n, x.sort()) for n, x in zip(c.names, c.flat(0), strict=True)]
    shown = z3.substitute(inv, *zip(c.flat(0), pretty, strict=True))
    shown = z3.simplify(shown)
    parts = shown.children() if z3.is_and(shown) else [shown]
    return " /\\ ".join(str(p).replace("\n", " ") for p in parts)


# -- counterexamples ---------------------------------------------------------------------------


def _refutation_states(answer: Z3Term, c: _Clauses) -> list[dict[str, Value]]:
    """Every ground ``Reach(v_1, .., v_m)`` in Spacer's refutation, as states (in any order)."""
    seen: set[int] = set()
    out: list[dict[str, Value]] = []
    keys: set[tuple[Value, ...]] = set()
    stack = [answer]
    while stack:
        e = stack.pop()
        if e.get_id() in seen:
            continue
        seen.add(e.get_id())
        if (z3.is_app(e) and e.decl().name() == "Reach" and e.num_args() == len(c.names)
                and all(_is_ground_value(x) for x in e.children())):
            vals = tuple(_value(x) for x in e.children())
            if vals not in keys:
                keys.add(vals)
                out.append(c.unflat(vals))
        stack.extend(e.children())
    return out


def _chain(
    ts: TransitionSystem, c: _Clauses, states: list[dict[str, Value]], prop: Property
) -> Trace | None:
    """Order the refutation's states into a path from the initial state by concrete replay.

    Each step is an enabled action instance whose concrete successor is another state of the
    refutation; the path ends where ``prop`` fails. ``None`` if that is not possible.
    """
    model = ConcreteModel(ts)
    init = model.initial()
    frozen = {model.freeze(s): s for s in states}
    if model.freeze(init) not in frozen:
        return None
    steps = [Step(0, None, None, {}, init)]
    cur = init
    used = {model.freeze(init)}
    for _ in range(len(states) + 1):
        if _fails_here(ts, prop, steps, cur):
            return Trace(ts.name, prop.id, tuple(steps))
        nxt = None
        for action, params in model.enabled(cur):
            succ = model.successor(cur, action, params)
            key = model.freeze(succ)
            if key in frozen and key not in used:
                nxt = (action, params, succ)
                break
            if prop.kind == "step" and not prop.formula(
                    View(cur), View(succ), CONCRETE, action, params):
                nxt = (action, params, succ)
                break
        if nxt is None:
            return None
        action, params, succ = nxt
        used.add(model.freeze(succ))
        steps.append(Step(len(steps), action.label(params), action.name, dict(params), succ))
        cur = succ
    return None


def _fails_here(
    ts: TransitionSystem, prop: Property, steps: list[Step], cur: dict[str, Value]
) -> bool:
    if prop.id == TYPE_OK:
        return False
    if prop.kind == "step":
        if len(steps) < 2:
            return False
        prev, last = steps[-2], steps[-1]
        action = ts.action(last.action_name or "")
        return not prop.formula(View(prev.state), View(cur), CONCRETE, action, last.params)
    return not prop.formula(View(cur), CONCRETE)

