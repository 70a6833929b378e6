"""The symbolic interpretation: a :class:`~refexec.models.system.TransitionSystem` as z3 formulas.

This module never restates a model. It evaluates the model's own guards, effects, properties and
initial state over z3 terms (through :class:`Z3Ops` and :meth:`TransitionSystem.apply`, so the
frame condition is generated in exactly one place) and builds, in the style of pySMT's
``examples/model_checking.py``:

* time-indexed state variables ``v@k`` (an array variable of length ``n`` is the ``n`` scalars
  ``v[0]@k .. v[n-1]@k``) and one action-index variable ``act@k`` per step, so that every trace
  names the action instance that fired;
* ``I(0)``, ``T(k, k+1)``, ``P(k)`` and the sort bounds ``TypeOK(k)``;
* bounded model checking (:func:`bmc`), incremental, one step deeper at a time, returning the
  *shortest* counterexample of every property;
* inductive-invariant proofs by Houdini strengthening (:func:`prove`), each (action, candidate)
  pair in its own solver frame so that a failure names both, and k-induction with simple-path
  constraints for what the strengthening does not prove;
* ranking-function checks for termination (:func:`check_ranking`).

The encoding of one step, for the action instances ``(a_0, p_0) .. (a_{m-1}, p_{m-1})``::

    T(k, k+1) =  0 <= act@k < m
              /\\  AND_i  act@k = i  ->  guard_{a_i}(s@k, p_i)
                          /\\  AND_{v in modifies_{a_i}}      v@k+1 = effect_{a_i}(s@k, p_i)[v]
                          /\\  AND_{v not in modifies_{a_i}}  v@k+1 = v@k

Symbolic values are wrapped in :class:`Sym`, whose ``__bool__`` and ``__index__`` raise: a model
that uses Python ``and``/``or``/``if``/``in`` or a symbolic index on a state value fails loudly at
encoding time instead of being silently mis-encoded (z3's own ``BoolRef.__bool__`` would compare
``a == b`` *structurally* and return a wrong constant).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import z3  # type: ignore[import-untyped]
from refexec.models.system import (
    CONCRETE,
    Action,
    Property,
    State,
    TransitionSystem,
    Value,
    View,
)

__all__ = [
    "CheckResult",
    "Step",
    "Sym",
    "Trace",
    "Unroller",
    "Z3Ops",
    "bmc",
    "check_ranking",
    "k_induction",
    "prove",
    "type_ok_property",
]

Z3Term = Any  # z3.ExprRef; z3 ships no type information


class SymbolicMisuse(TypeError):
    """A model used a Python construct (``and``, ``if``, ``in``, ``t[i]``) on a symbolic value."""


# ---------------------------------------------------------------------------------------------
# Symbolic values
# ---------------------------------------------------------------------------------------------


INT = z3.IntSort()


def _const(x: int, sort: Any) -> Z3Term:
    return z3.BitVecVal(x, sort.size()) if z3.is_bv_sort(sort) else z3.IntVal(x)


def _z(x: Value, sort: Any = None) -> Z3Term:
    """The z3 term of a value (a :class:`Sym`, a Python bool or int, or a raw z3 term).

    A Python int becomes a constant of ``sort`` (mathematical integers by default, or the
    bit-vector sort of the encoding).
    """
    if isinstance(x, Sym):
        return x.t
    if isinstance(x, bool):
        return z3.BoolVal(x)
    if isinstance(x, int):
        return _const(x, INT if sort is None else sort)
    if isinstance(x, z3.ExprRef):
        return x
    raise SymbolicMisuse(f"cannot encode {x!r} ({type(x).__name__}) as a z3 scalar")


def _num_sort(*xs: Value) -> Any:
    """The numeric sort of the first non-Boolean symbolic operand (None if there is none)."""
    for x in xs:
        t = x.t if isinstance(x, Sym) else x
        if isinstance(t, z3.ExprRef) and not z3.is_bool(t):
            return t.sort()
    return None


def _num(x: Value, sort: Any = None) -> Z3Term:
    """A numeric term; a bool counts as 0/1, as it does in Python arithmetic."""
    srt = INT if sort is None else sort
    t = _z(x, srt)
    return z3.If(t, _const(1, srt), _const(0, srt)) if z3.is_bool(t) else t


def _bin(a: Value, b: Value) -> tuple[Z3Term, Z3Term]:
    srt = _num_sort(a, b)
    return _num(a, srt), _num(b, srt)


def _eq_terms(a: Value, b: Value) -> Z3Term:
    srt = _num_sort(a, b)
    ta, tb = _z(a, srt), _z(b, srt)
    if z3.is_bool(ta) != z3.is_bool(tb):
        ta, tb = _num(ta, srt), _num(tb, srt)
    return ta == tb


def _is_sym(x: Value) -> bool:
    return isinstance(x, Sym | z3.ExprRef)


class Sym:
    """A z3 term that behaves like a Python scalar under ``+ - * < <= > >= == !=``.

    Truth-testing or indexing with it raises :class:`SymbolicMisuse`: those are exactly the Python
    constructs (``and``/``or``/``not``/``if``/``in``/``seq[i]``) a model must express with
    :class:`Ops` instead.
    """

    __slots__ = ("t",)
    __hash__ = None  # type: ignore[assignment]

    def __init__(self, t: Z3Term) -> None:
        self.t = t

    def __repr__(self) -> str:
        return f"Sym({self.t})"

    def __bool__(self) -> bool:
        raise SymbolicMisuse(
            f"Python truth test on the symbolic value {self.t}: a guard, effect or property used "
            "`and`/`or`/`not`/`if`/`in`/min/max on a state value; use o.And/o.Or/o.Not/o.If/"
            "o.Min/o.Max instead"
        )

    def __index__(self) -> int:
        raise SymbolicMisuse(
            f"the symbolic value {self.t} was used as a Python index; use o.select / o.store"
        )

    # arithmetic
    def __add__(self, o: Value) -> Sym:
        a, b = _bin(self, o)
        return Sym(a + b)

    def __radd__(self, o: Value) -> Sym:
        a, b = _bin(o, self)
        return Sym(a + b)

    def __sub__(self, o: Value) -> Sym:
        a, b = _bin(self, o)
        return Sym(a - b)

    def __rsub__(self, o: Value) -> Sym:
        a, b = _bin(o, self)
        return Sym(a - b)

    def __mul__(self, o: Value) -> Sym:
        a, b = _bin(self, o)
        return Sym(a * b)

    def __rmul__(self, o: Value) -> Sym:
        a, b = _bin(o, self)
        return Sym(a * b)

    def __neg__(self) -> Sym:
        return Sym(-_num(self, _num_sort(self)))

    # comparisons
    def __lt__(self, o: Value) -> Sym:
        a, b = _bin(self, o)
        return Sym(a < b)

    def __le__(self, o: Value) -> Sym:
        a, b = _bin(self, o)
        return Sym(a <= b)

    def __gt__(self, o: Value) -> Sym:
        a, b = _bin(self, o)
        return Sym(a > b)

    def __ge__(self, o: Value) -> Sym:
        a, b = _bin(self, o)
        return Sym(a >= b)

    def __eq__(self, o: object) -> Sym:  # type: ignore[override]
        return Sym(_eq_terms(self, o))

    def __ne__(self, o: object) -> Sym:  # type: ignore[override]
        return Sym(z3.Not(_eq_terms(self, o)))


def _wrap(t: Z3Term) -> Value:
    """Fold a closed term back to a Python constant; keep everything else symbolic."""
    if z3.is_true(t):
        return True
    if z3.is_false(t):
        return False
    if z3.is_int_value(t):
        return t.as_long()
    if z3.is_bv_value(t):
        return t.as_signed_long()
    return Sym(t)


class Z3Ops:
    """:class:`~refexec.models.system.Ops` over z3 terms; falls back to Python when all is concrete.

    ``select`` and ``store`` with a symbolic index become If-chains over the fixed-length array::

        select(a, i)     = If(i = 0, a[0], If(i = 1, a[1], ... a[n-1]))
        store(a, i, v)[j] = If(i = j, v, a[j])

    Integers are z3's mathematical integers, or (``bits`` given) signed bit-vectors of that width,
    which bit-blast to SAT and make deep BMC much faster; :func:`encoding_width` picks a width
    with room to spare over every sort bound, and the sort bounds are checked (``TYPE-OK``), so
    no reachable computation wraps around.
    """

    def __init__(self, bits: int | None = None) -> None:
        self.bits = bits
        self.sort = INT if bits is None else z3.BitVecSort(bits)

    def _sort(self, *xs: Value) -> Any:
        srt = _num_sort(*xs)
        return self.sort if srt is None else srt

    def And(self, *xs: Value) -> Value:
        if any(x is False for x in xs):
            return False
        sym = [x for x in xs if _is_sym(x)]
        if len(sym) < len(xs) and not all(bool(x) for x in xs if not _is_sym(x)):
            return False
        if not sym:
            return True
        return _wrap(z3.And(*[_z(x) for x in sym])) if len(sym) > 1 else sym[0]

    def Or(self, *xs: Value) -> Value:
        if any(x is True for x in xs):
            return True
        sym = [x for x in xs if _is_sym(x)]
        if any(bool(x) for x in xs if not _is_sym(x)):
            return True
        if not sym:
            return False
        return _wrap(z3.Or(*[_z(x) for x in sym])) if len(sym) > 1 else sym[0]

    def Not(self, x: Value) -> Value:
        if not _is_sym(x):
            return not x
        return _wrap(z3.Not(_z(x)))

    def Implies(self, a: Value, b: Value) -> Value:
        return self.Or(self.Not(a), b)

    def If(self, c: Value, a: Value, b: Value) -> Value:
        if not _is_sym(c):
            return a if c else b
        if isinstance(a, tuple) or isinstance(b, tuple):
            if not (isinstance(a, tuple) and isinstance(b, tuple) and len(a) == len(b)):
                raise SymbolicMisuse("o.If over arrays needs two arrays of the same length")
            return tuple(self.If(c, x, y) for x, y in zip(a, b, strict=True))
        if not _is_sym(a) and not _is_sym(b) and a == b and type(a) is type(b):
            return a
        srt = self._sort(a, b)
        ta, tb = _z(a, srt), _z(b, srt)
        if z3.is_bool(ta) != z3.is_bool(tb):
            ta, tb = _num(ta, srt), _num(tb, srt)
        return _wrap(z3.If(_z(c), ta, tb))

    def select(self, seq: Sequence[Value], i: Value) -> Value:
        if not _is_sym(i):
            return seq[i]
        if not seq:
            raise SymbolicMisuse("o.select on an empty array")
        out = seq[-1]
        for j in range(len(seq) - 2, -1, -1):
            out = self.If(i == j, seq[j], out)
        return out

    def store(self, seq: Sequence[Value], i: Value, v: Value) -> tuple[Value, ...]:
        if not _is_sym(i):
            return tuple(CONCRETE.store(seq, i, v))
        return tuple(self.If(i == j, v, x) for j, x in enumerate(seq))

    def count(self, xs: Sequence[Value]) -> Value:
        return self.Sum([self.If(x, 1, 0) if _is_sym(x) else (1 if x else 0) for x in xs])

    def Sum(self, xs: Sequence[Value]) -> Value:
        const = sum(_as_int(x) for x in xs if not _is_sym(x))
        srt = self._sort(*xs)
        sym = [_num(x, srt) for x in xs if _is_sym(x)]
        if not sym:
            return const
        total = z3.Sum(*sym) if len(sym) > 1 else sym[0]
        return Sym(total + const) if const else Sym(total)

    def Min(self, a: Value, b: Value) -> Value:
        return self.If(a <= b, a, b)

    def Max(self, a: Value, b: Value) -> Value:
        return self.If(a >= b, a, b)


def _as_int(x: Value) -> int:
    return int(x)


# ---------------------------------------------------------------------------------------------
# Traces and results
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One state of a trace; ``action`` is the instance that led into it (None for the start)."""

    index: int
    action: str | None
    action_name: str | None
    params: Mapping[str, int]
    state: Mapping[str, Value]


@dataclass(frozen=True)
class Trace:
    """A path ``s_0 --a_1--> s_1 ... --a_n--> s_n``; its length is the number of actions."""

    system: str
    property_id: str
    steps: tuple[Step, ...]

    def __len__(self) -> int:
        return len(self.steps) - 1

    @property
    def actions(self) -> list[str]:
        return [s.action for s in self.steps[1:] if s.action is not None]

    def format(self, ts: TransitionSystem | None = None) -> str:
        """A compact text rendering: each step's action and the variables it changed."""
        lines = [f"counterexample to {self.property_id} in {self.system} ({len(self)} steps)"]
        prev: Mapping[str, Value] | None = None
        for st in self.steps:
            shown = {
                k: v for k, v in st.state.items() if prev is None or prev.get(k) != v
            }
            text = ", ".join(f"{k}={_show(ts, k, v)}" for k, v in shown.items())
            head = "init" if st.action is None else st.action
            lines.append(f"  {st.index:>3}. {head}: {text}")
            prev = st.state
        return "\n".join(lines)


def _show(ts: TransitionSystem | None, name: str, value: Value) -> str:
    if ts is None:
        return str(value)
    try:
        sort = ts.var(name).sort
    except KeyError:
        return str(value)
    if isinstance(value, tuple):
        return "[" + ", ".join(sort.show(x) for x in value) + "]"
    return sort.show(value)


@dataclass
class CheckResult:
    """The symbolic checker's answer for one property of one system.

    ``status`` is ``"proved"`` (every reachable state / transition, unbounded depth),
    ``"holds"`` (no violation within ``depth`` steps), ``"violated"`` (the shortest
    counterexample has ``depth`` steps, given in ``trace``) or ``"unknown"``.
    """

    property_id: str
    status: str
    depth: int
    trace: Trace | None = None
    method: str = ""
    detail: str = ""
    seconds: float = 0.0
    failed_action: str | None = None

    def summary(self) -> str:
        if self.status == "proved":
            return "proved"
        if self.status == "holds":
            return f"holds <={self.depth}"
        if self.status == "violated":
            return f"violated at {self.depth}"
        return "unknown"


TYPE_OK = "TYPE-OK"

ProgressFn = Callable[[str], None]


def _noop(_msg: str) -> None:
    return None


# ---------------------------------------------------------------------------------------------
# Unrolling
# ---------------------------------------------------------------------------------------------


class Unroller:
    """Time-indexed z3 variables and the formulas ``I(0)``, ``T(k, k+1)``, ``P(k)`` of one system.

    A fresh ``Unroller`` (or a ``tag``) gives fresh variable names, so several unrollings can
    share one z3 context without clashing.
    """

    def __init__(self, ts: TransitionSystem, ops: Z3Ops | None = None, tag: str = "") -> None:
        self.ts = ts
        self.ops = ops if ops is not None else Z3Ops(bits=encoding_width(ts))
        self.tag = tag
        self.instances: list[tuple[Action, dict[str, int]]] = [
            (a, p) for a in ts.actions for p in a.instances()
        ]
        self._states: dict[int, dict[str, Value]] = {}
        self._trans: dict[tuple[int, frozenset[int] | None], Z3Term] = {}
        self._act: dict[int, Z3Term] = {}

    # variables -------------------------------------------------------------------------------
    def _scalar(self, name: str, kind: str, k: int) -> Sym:
        full = f"{self.tag}{name}@{k}"
        if kind == "bool":
            return Sym(z3.Bool(full))
        return Sym(z3.Const(full, self.ops.sort))

    def state(self, k: int) -> dict[str, Value]:
        """``s@k``: a dict from variable name to a :class:`Sym` (or a tuple of them)."""
        if k not in self._states:
            values: dict[str, Value] = {}
            for v in self.ts.variables:
                if v.length:
                    values[v.name] = tuple(
                        self._scalar(f"{v.name}[{i}]", v.sort.kind, k) for i in range(v.length)
                    )
                else:
                    values[v.name] = self._scalar(v.name, v.sort.kind, k)
            self._states[k] = values
        return self._states[k]

    def act(self, k: int) -> Z3Term:
        """``act@k``: the index (into :attr:`instances`) of the action taken from ``s@k``."""
        if k not in self._act:
            width = max(8, len(self.instances).bit_length() + 2)
            name = f"{self.tag}act@{k}"
            self._act[k] = z3.Int(name) if self.ops.bits is None else z3.BitVec(name, width)
        return self._act[k]

    def action_indices(self, name: str) -> frozenset[int]:
        return frozenset(i for i, (a, _) in enumerate(self.instances) if a.name == name)

    # formulas --------------------------------------------------------------------------------
    def eq_state(self, a: State, b: State) -> Z3Term:
        return z3.And(*[_eq_value(a[v.name], b[v.name]) for v in self.ts.variables])

    def init(self, k: int = 0) -> Z3Term:
        """``I(s@k)``: every variable equals its initial value."""
        s = self.state(k)
        values = self.ts.init(self.ops)
        return z3.And(*[_eq_value(s[name], val) for name, val in values.items()])

    def type_ok(self, k: int) -> Z3Term:
        """``TypeOK(s@k) = AND_v lo_v <= v@k <= hi_v`` over every integer scalar."""
        s = self.state(k)
        out: list[Z3Term] = []
        for v in self.ts.variables:
            if v.sort.kind != "int":
                continue
            elems = s[v.name] if v.length else (s[v.name],)
            for x in elems:
                out.append(z3.And(_z(x) >= v.sort.lo, _z(x) <= v.sort.hi))  # signed for bit-vectors
        return z3.And(*out) if out else z3.BoolVal(True)

    def trans(self, k: int, only: Iterable[int] | None = None) -> Z3Term:
        """``T(s@k, s@k+1)``, optionally restricted to the instances ``only`` (their OR).

        The successor values come from :meth:`TransitionSystem.apply` (effect + generated frame).
        A scalar slot whose successor value *is* the very term of ``s@k`` (the frame, or an
        effect that passes it through) is framed once per slot rather than once per instance::

            AND_slot  (OR_{i in F_slot} act@k = i)  ->  slot@k+1 = slot@k

        which is the same formula as the per-instance equalities, only smaller.
        """
        key = (k, frozenset(only) if only is not None else None)
        if key in self._trans:
            return self._trans[key]
        s, s2, act = self.state(k), self.state(k + 1), self.act(k)
        m = len(self.instances)
        idx = sorted(key[1]) if key[1] is not None else list(range(m))
        if key[1] is None:
            parts: list[Z3Term] = [act >= 0, act < m]
        else:
            parts = [z3.Or(*[act == i for i in idx]) if idx else z3.BoolVal(False)]
        slots = [
            (v.name, j) for v in self.ts.variables for j in (range(v.length) if v.length else [-1])
        ]
        framed: dict[tuple[str, int], list[int]] = {slot: [] for slot in slots}
        live: list[int] = []
        for i in idx:
            action, params = self.instances[i]
            guard = action.guard(View(s), self.ops, **params)
            if guard is False:
                parts.append(act != i)
                continue
            live.append(i)
            nxt = self.ts.apply(action, params, s, self.ops)
            body = [_z(guard)]
            for name, j in slots:
                old = s[name] if j < 0 else s[name][j]
                new = nxt[name] if j < 0 else _elem(nxt[name], j, name)
                if new is old:
                    framed[(name, j)].append(i)
                else:
                    body.append(_eq_terms(s2[name] if j < 0 else s2[name][j], new))
            parts.append(z3.Implies(act == i, z3.And(*body)))
        for slot in slots:
            f = framed[slot]
            if not f:
                continue
            name, j = slot
            eq = _eq_terms(s2[name] if j < 0 else s2[name][j], s[name] if j < 0 else s[name][j])
            if len(f) == len(live):
                parts.append(eq)
            else:
                rest = [i for i in live if i not in set(f)]
                if len(rest) < len(f):
                    parts.append(z3.Or(*[act == i for i in rest], eq))
                else:
                    parts.append(z3.Implies(z3.Or(*[act == i for i in f]), eq))
        out = z3.And(*parts)
        self._trans[key] = out
        return out

    def enabled(self, k: int, only: Iterable[int] | None = None) -> Z3Term:
        """``OR_i guard_i(s@k)``: some action instance can fire in ``s@k``."""
        s = self.state(k)
        idx = list(only) if only is not None else range(len(self.instances))
        gs = []
        for i in idx:
            action, params = self.instances[i]
            gs.append(_z(action.guard(View(s), self.ops, **params)))
        return z3.Or(*gs) if gs else z3.BoolVal(False)

    def holds(self, prop: Property, k: int) -> Z3Term:
        """``P(s@k)`` for an invariant."""
        return _z(prop.formula(View(self.state(k)), self.ops))

    def step_holds(self, prop: Property, k: int, only: Iterable[int] | None = None) -> Z3Term:
        """``SP(s@k, s@k+1)`` for a step property: ``AND_i act@k = i -> SP_i(s@k, s@k+1)``."""
        s, s2, act = self.state(k), self.state(k + 1), self.act(k)
        idx = list(only) if only is not None else range(len(self.instances))
        parts = []
        for i in idx:
            action, params = self.instances[i]
            f = prop.formula(View(s), View(s2), self.ops, action, params)
            if f is True:
                continue
            parts.append(z3.Implies(act == i, _z(f)))
        return z3.And(*parts) if parts else z3.BoolVal(True)

    def bad(self, prop: Property, k: int) -> Z3Term:
        """The violation of ``prop`` *at* position ``k``: ``not P(s@k)`` for an invariant, the
        step ``k-1 -> k`` breaking a step property, ``not TypeOK(s@k)`` for ``TYPE-OK``."""
        if prop.id == TYPE_OK:
            return z3.Not(self.type_ok(k))
        if prop.kind == "step":
            return z3.BoolVal(False) if k == 0 else z3.Not(self.step_holds(prop, k - 1))
        return z3.Not(self.holds(prop, k))

    # models ----------------------------------------------------------------------------------
    def extract(self, model: Any, n: int, prop_id: str) -> Trace:
        """Read the path ``s@0 .. s@n`` and the actions ``act@0 .. act@n-1`` out of a z3 model."""
        steps: list[Step] = []
        for k in range(n + 1):
            s = self.state(k)
            values: dict[str, Value] = {}
            for v in self.ts.variables:
                if v.length:
                    values[v.name] = tuple(_concrete(model, x) for x in s[v.name])
                else:
                    values[v.name] = _concrete(model, s[v.name])
            if k == 0:
                steps.append(Step(0, None, None, {}, values))
            else:
                i = model.eval(self.act(k - 1), model_completion=True).as_long()
                action, params = self.instances[i]
                steps.append(Step(k, action.label(params), action.name, dict(params), values))
        return Trace(self.ts.name, prop_id, tuple(steps))


def encoding_width(ts: TransitionSystem) -> int:
    """A bit-vector width for ``ts``: signed, with room for any sum of its integer slots.

    Every linear term a model can build from its state (sums, counts, ``+ 1``) is bounded by
    the sum of the magnitudes of all integer slots plus small constants; the width holds four
    times that, so no value of a state within its sort bounds (TYPE-OK) overflows.
    """
    total = 64
    for v in ts.variables:
        if v.sort.kind == "int":
            if not (isinstance(v.sort.lo, int) and isinstance(v.sort.hi, int)):
                raise SymbolicMisuse(
                    f"{ts.name}: {v.name} has a symbolic sort bound ({v.sort.lo}..{v.sort.hi}); "
                    "a parametric model needs exact integers: pass ops=Z3Ops()")
            total += max(abs(v.sort.lo), abs(v.sort.hi), 1) * max(v.length, 1)
    return max(8, (4 * total).bit_length() + 1)


def new_solver(ops: Z3Ops) -> Any:
    """A solver for the encoding: z3's incremental SAT-based ``QF_FD`` solver for bit-vectors
    (an order of magnitude faster than the SMT core on deep unrollings), else the default."""
    return z3.SolverFor("QF_FD") if ops.bits is not None else z3.Solver()


def _elem(value: Value, j: int, name: str) -> Value:
    if not isinstance(value, tuple) or j >= len(value):
        raise SymbolicMisuse(f"{name}: an effect returned {value!r} for an array variable")
    return value[j]


def _eq_value(a: Value, b: Value) -> Z3Term:
    if isinstance(a, tuple) or isinstance(b, tuple):
        if not (isinstance(a, tuple) and isinstance(b, tuple)) or len(a) != len(b):
            raise SymbolicMisuse(f"array value of the wrong shape: {a!r} vs {b!r}")
        return z3.And(*[_eq_terms(x, y) for x, y in zip(a, b, strict=True)])
    return _eq_terms(a, b)


def _concrete(model: Any, x: Value) -> Value:
    val = model.eval(_z(x), model_completion=True)
    if z3.is_true(val):
        return True
    if z3.is_false(val):
        return False
    if z3.is_bv_value(val):
        return val.as_signed_long()
    return val.as_long()


def type_ok_property() -> Property:
    """The sort bounds as a pseudo-property (checked by BMC, proved with the invariants)."""
    return Property(TYPE_OK, "every integer stays within its sort's bounds", "invariant", _true)


def _true(*_args: Any) -> bool:
    return True


# ---------------------------------------------------------------------------------------------
# Bounded model checking
# ---------------------------------------------------------------------------------------------


def bmc(
    ts: TransitionSystem,
    properties: Sequence[Property] | None = None,
    max_depth: int = 10,
    *,
    progress: ProgressFn = _noop,
    include_type_ok: bool = True,
    ops: Z3Ops | None = None,
    stop_when: Collection[str] | None = None,
    stop_on_any: bool = False,
    time_budget: float | None = None,
) -> dict[str, CheckResult]:
    """Incremental BMC: the shortest counterexample of every property, or "holds <= k".

    One solver holds ``I(0) /\\ T(0,1) /\\ ... /\\ T(k-1,k)``, extended by one step per round.
    At depth ``k`` the unresolved properties ``P_1..P_m`` are checked in a frame of their own: a
    fresh literal ``l`` with ``l -> OR_j Bad_{P_j}(k)`` is checked as an assumption, where
    ``Bad_P(k) = not P(s@k)`` for an invariant and ``not SP(s@k-1, s@k)`` for a step property.
    Unsatisfiable: all hold at depth ``k`` (one query instead of ``m``). Satisfiable: every
    ``P_j`` whose ``Bad`` is true in the model is violated at ``k`` and gets that model as its
    trace; the rest are re-checked in a new frame. A frame is retired with ``not l``. Every
    shorter depth was already unsatisfiable, so each counterexample is a shortest one.

    ``stop_when``: stop deepening once every property named there is violated (with
    ``stop_on_any``: once one of them is); ``time_budget``:
    stop after the depth during which the budget ran out. Properties left get
    ``holds <= (last depth completed)``.
    """
    props = list(properties) if properties is not None else list(ts.properties)
    if include_type_ok:
        props.append(type_ok_property())
    u = Unroller(ts, ops)
    solver = new_solver(u.ops)
    solver.add(u.init(0))
    results: dict[str, CheckResult] = {}
    pending = list(props)
    start = time.perf_counter()
    reached = -1
    for k in range(max_depth + 1):
        if k > 0:
            solver.add(u.trans(k - 1))
        bads = {p.id: u.bad(p, k) for p in pending}
        while pending:
            lit = z3.FreshBool("frame")
            solver.add(z3.Implies(lit, z3.Or(*[bads[p.id] for p in pending])))
            r = solver.check(lit)
            if r == z3.unsat:
                solver.add(z3.Not(lit))
                break
            if r == z3.unknown:
                solver.add(z3.Not(lit))
                for p in pending:
                    results[p.id] = CheckResult(p.id, "unknown", k, method="bmc",
                                                detail="z3 returned unknown")
                pending = []
                break
            model = solver.model()
            hit = [p for p in pending if z3.is_true(model.eval(bads[p.id], model_completion=True))]
            trace = u.extract(model, k, "")
            solver.add(z3.Not(lit))  # retire the frame (after reading the model)
            for p in hit:
                results[p.id] = CheckResult(
                    p.id,
                    "violated",
                    k,
                    Trace(trace.system, p.id, trace.steps),
                    method="bmc",
                    seconds=time.perf_counter() - start,
                    failed_action=trace.steps[-1].action_name if k else None,
                )
                progress(f"{ts.name}: {p.id} violated at step {k}")
            pending = [p for p in pending if p not in hit]
        reached = k
        if not pending:
            break
        if stop_when is not None:
            found = [pid in results and results[pid].status == "violated" for pid in stop_when]
            if (any(found) if stop_on_any else all(found)):
                break
        if time_budget is not None and time.perf_counter() - start > time_budget:
            break
        progress(f"{ts.name}: bmc depth {k}: {len(pending)} properties hold")
    for p in pending:
        results[p.id] = CheckResult(
            p.id, "holds", reached, method="bmc", seconds=time.perf_counter() - start
        )
    return results


# ---------------------------------------------------------------------------------------------
# Proofs: Houdini strengthening + k-induction
# ---------------------------------------------------------------------------------------------


@dataclass
class ProofReport:
    """What :func:`prove` established for one system."""

    results: dict[str, CheckResult]
    inductive: list[str]  # the candidate ids whose conjunction is proved inductive
    dropped: dict[str, str] = field(default_factory=dict)  # candidate id -> why (action/init)


def prove(
    ts: TransitionSystem,
    properties: Sequence[Property] | None = None,
    aux: Sequence[Property] = (),
    *,
    max_k: int = 4,
    progress: ProgressFn = _noop,
    ops: Z3Ops | None = None,
) -> ProofReport:
    """Prove properties for unbounded depth.

    1. **Houdini.** The candidates ``C = {TypeOK} + invariant properties + aux`` are pruned to the
       largest subset ``S`` that is inductive as a conjunction:

           I(s) -> c(s)                                     for every c in S   (initiation)
           AND_{d in S} d(s) /\\ T_a(s, s') -> c(s')            for every c in S and
                                                            every action a   (consecution)

       Each (action, candidate) pair is its own solver query, so a dropped candidate names the
       action that breaks it. ``AND S`` is then an inductive invariant, so every ``c`` in ``S``
       holds in every reachable state: *proved*.
    2. **Step properties** ``SP`` are proved by ``AND S(s) /\\ T_a(s, s') -> SP_a(s, s')``.
    3. **k-induction** (k = 2..max_k) for what is left, strengthened with ``AND S`` at every
       position and simple-path constraints (all states pairwise distinct)::

           base:  I(s0) /\\ T(s0,s1) .. T(s_{k-2},s_{k-1}) /\\ OR_i Bad(s_i)      unsat
           step:  AND_i (S(s_i) /\\ not Bad(s_i))_{i<k} /\\ T.. /\\ S(s_k) /\\ Bad(s_k)
                  /\\ distinct(s_0..s_k)                                          unsat
    """
    props = list(properties) if properties is not None else list(ts.properties)
    cands = [type_ok_property()] + [p for p in props if p.kind == "invariant"] + list(aux)
    results: dict[str, CheckResult] = {}
    report = ProofReport(results, [])
    t0 = time.perf_counter()

    # initiation ---------------------------------------------------------------------------
    u = Unroller(ts, ops, tag="h.")
    s_init = new_solver(u.ops)
    s_init.add(u.init(0))
    alive: list[Property] = []
    for c in cands:
        if s_init.check(u.bad(c, 0)) == z3.unsat:
            alive.append(c)
        else:
            report.dropped[c.id] = "fails in the initial state"

    # consecution, per action ---------------------------------------------------------------
    action_names = [a.name for a in ts.actions]
    solvers: dict[str, Any] = {}
    hyp: dict[str, Z3Term] = {}
    for c in cands:
        hyp[c.id] = z3.Bool(f"__hyp_{c.id}")
    for name in action_names:
        sv = new_solver(u.ops)
        sv.add(u.trans(0, u.action_indices(name)))
        for c in cands:
            sv.add(z3.Implies(hyp[c.id], z3.Not(u.bad(c, 0))))
        solvers[name] = sv
    lits: dict[tuple[str, str], Z3Term] = {}
    rounds = 0
    while True:
        rounds += 1
        assumptions = [hyp[c.id] for c in alive]
        failing: list[Property] = []
        for c in alive:
            for name in action_names:
                sv = solvers[name]
                if sv.check(*assumptions, _bad_lit(lits, name, sv, u, c, k=1)) != z3.unsat:
                    failing.append(c)
                    report.dropped[c.id] = f"not preserved by {name}"
                    break
        if not failing:
            break
        alive = [c for c in alive if c not in failing]
    report.inductive = [c.id for c in alive]
    progress(
        f"{ts.name}: inductive strengthening keeps {len(alive)}/{len(cands)} candidates "
        f"({rounds} rounds)"
    )
    method = "inductive invariant" + (f" + {len(aux)} auxiliary" if aux else "")
    for c in alive:
        results[c.id] = CheckResult(
            c.id, "proved", 1, method=method, seconds=time.perf_counter() - t0
        )

    # step properties ----------------------------------------------------------------------
    assumptions = [hyp[c.id] for c in alive]
    for p in props:
        if p.kind != "step":
            continue
        ok = True
        for name in action_names:
            sv = solvers[name]
            lit = z3.Bool(f"__stepbad_{p.id}_{name}")
            sv.add(z3.Implies(lit, z3.Not(u.step_holds(p, 0, u.action_indices(name)))))
            if sv.check(*assumptions, lit) != z3.unsat:
                ok = False
                report.dropped[p.id] = f"step not proved for {name} under the invariant"
                break
        if ok:
            results[p.id] = CheckResult(
                p.id, "proved", 1, method=f"step under {method}",
                seconds=time.perf_counter() - t0,
            )

    # k-induction for the rest --------------------------------------------------------------
    strengthen = list(alive)
    for p in props:
        if p.id in results:
            continue
        res = k_induction(ts, p, strengthen, max_k=max_k, ops=ops)
        results[p.id] = res
        progress(f"{ts.name}: {p.id}: {res.summary()} ({res.method})")
    return report


def _bad_lit(
    cache: dict[tuple[str, str], Z3Term], name: str, sv: Any, u: Unroller, c: Property, *, k: int
) -> Z3Term:
    """A literal standing for ``Bad_c(s@k)`` in the solver ``sv`` of action ``name``."""
    key = (name, c.id)
    lit = cache.get(key)
    if lit is None:
        lit = z3.FreshBool(f"cbad_{c.id}@{k}")
        sv.add(z3.Implies(lit, u.bad(c, k)))
        cache[key] = lit
    return lit


def k_induction(
    ts: TransitionSystem,
    prop: Property,
    strengthen: Sequence[Property] = (),
    *,
    max_k: int = 4,
    ops: Z3Ops | None = None,
) -> CheckResult:
    """Prove ``prop`` by k-induction for k = 1..max_k (see :func:`prove` for the formulas).

    ``strengthen`` must already be proved invariants (it is assumed at every position). Returns
    ``violated`` with the shortest trace if the base case fails, ``proved`` if some step case
    is unsatisfiable, and ``holds <= max_k`` otherwise.
    """
    t0 = time.perf_counter()
    base = bmc(ts, [prop], max_depth=max_k, include_type_ok=False, ops=ops)[prop.id]
    if base.status == "violated":
        return base
    u = Unroller(ts, ops, tag="k.")
    for k in range(1, max_k + 1):
        sv = new_solver(u.ops)
        for i in range(k + 1):
            for c in strengthen:
                sv.add(z3.Not(u.bad(c, i)))
            if i < k:
                sv.add(u.trans(i))
                sv.add(z3.Not(u.bad(prop, i)))
        for i in range(k + 1):
            for j in range(i + 1, k + 1):
                sv.add(z3.Not(u.eq_state(u.state(i), u.state(j))))
        sv.add(u.bad(prop, k))
        if sv.check() == z3.unsat:
            return CheckResult(
                prop.id, "proved", k, method=f"{k}-induction", seconds=time.perf_counter() - t0
            )
    return CheckResult(
        prop.id,
        "holds",
        max_k,
        method=f"bmc (k-induction inconclusive up to k={max_k})",
        seconds=time.perf_counter() - t0,
    )


# ---------------------------------------------------------------------------------------------
# Termination: ranking functions
# ---------------------------------------------------------------------------------------------


@dataclass
class RankingResult:
    """The outcome of :func:`check_ranking`: ``ok`` or the first failing obligation."""

    ok: bool
    failures: list[str]
    counterexample: dict[str, Any] | None = None


Rank = Callable[[View, Any], Sequence[Value]]


def check_ranking(
    ts: TransitionSystem,
    rank: Rank,
    invariant: Sequence[Property],
    *,
    actions: Sequence[str] | None = None,
    final: Callable[[View, Any], Value] | None = None,
    ops: Z3Ops | None = None,
) -> RankingResult:
    """Check a lexicographic ranking function ``rank(s) = (r_1, .., r_m)`` (integers).

    With ``Inv`` the conjunction of the (already proved) ``invariant`` (include
    :func:`type_ok_property` there once ``TYPE-OK`` is proved), for every action ``a`` in
    ``actions`` (default: all)::

        Inv(s) /\\ T_a(s, s')  ->  rank(s) >=_lex 0  /\\  rank(s') <_lex rank(s)

    (bounded below, strictly decreasing), and, if ``final`` is given, progress::

        Inv(s) /\\ not final(s)  ->  OR_{a in actions} guard_a(s)

    Together: from every reachable state, every run of the restricted system reaches a
    ``final`` state after finitely many steps.
    """
    u = Unroller(ts, ops if ops is not None else Z3Ops(), tag="r.")  # exact integers
    names = list(actions) if actions is not None else [a.name for a in ts.actions]
    base = [z3.Not(u.bad(c, 0)) for c in invariant]
    r0 = [_num(x) for x in rank(View(u.state(0)), u.ops)]
    r1 = [_num(x) for x in rank(View(u.state(1)), u.ops)]
    failures: list[str] = []
    cex: dict[str, Any] | None = None
    for name in names:
        sv = new_solver(u.ops)
        sv.add(*base)
        sv.add(u.trans(0, u.action_indices(name)))
        sv.add(z3.Not(z3.And(z3.And(*[x >= 0 for x in r0]), _lex_less(r1, r0))))
        if sv.check() != z3.unsat:
            failures.append(f"{name} does not decrease the rank")
            if cex is None:
                cex = _state_dict(u, sv.model(), 2)
    if final is not None:
        idx: set[int] = set()
        for name in names:
            idx |= u.action_indices(name)
        sv = new_solver(u.ops)
        sv.add(*base)
        sv.add(z3.Not(_z(final(View(u.state(0)), u.ops))))
        sv.add(z3.Not(u.enabled(0, sorted(idx))))
        if sv.check() != z3.unsat:
            failures.append("a non-final state with no enabled action (stuck)")
            if cex is None:
                cex = _state_dict(u, sv.model(), 1)
    return RankingResult(not failures, failures, cex)


def _lex_less(a: Sequence[Z3Term], b: Sequence[Z3Term]) -> Z3Term:
    """``a <_lex b`` over integer tuples of equal length."""
    if not a:
        return z3.BoolVal(False)
    return z3.Or(a[0] < b[0], z3.And(a[0] == b[0], _lex_less(a[1:], b[1:])))


def _state_dict(u: Unroller, model: Any, n: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k in range(n):
        for name, val in u.state(k).items():
            out[f"{name}@{k}"] = (
                tuple(_concrete(model, x) for x in val)
                if isinstance(val, tuple)
                else _concrete(model, val)
            )
    return out
