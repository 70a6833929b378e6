"""The seed's self-deadlock (EX-NO-SELF-BLOCK) proved for every channel capacity C >= 1.

The seed's model (:func:`refexec.models.seed.build`) is built by its own builder with the
capacity a z3 integer constant ``C`` (``seed.default_bounds(capacity=C)``): C then appears
exactly where the model's code puts it -- the sort bound ``qlen <= C``, the guard ``qlen < C`` of
a send from another thread (:meth:`~refexec.models.seed._Seed.room`) and the test ``qlen >= C``
of a send from the loop's own thread (:meth:`~refexec.models.seed._Seed.full`) -- and nowhere
else (a Python use of C such as ``range(C)`` or ``if C`` raises at build time). The integers are
z3's exact integers (``Z3Ops()``), so no width bounds C. Every lemma below is one z3 query (or one
per action) over the :class:`~refexec.models.symbolic.Unroller`'s own ``I(s)``, ``T(s, s')``
(nothing is re-encoded); a query is *unsatisfiable* exactly when its lemma holds for every value
of the free constants (``C``, and where stated the number of tasks ``N`` and a queue length
``k``). Notation: ``LS`` is the set of action instances that send from the loop's own thread
(``spawn``, ``wake``, ``wake_by_ref`` with ``remote = 0``), ``act`` the instance taken.

**Safety, for every C >= 1 and every number of tasks N** (``N`` a z3 constant too):

* ``CAP-RANGE`` (inductive): ``Q(s) = 0 <= qlen <= C  /\\  (blocked -> qlen = C)``.
  Queries: ``C >= 1 /\\ I(s) /\\ not Q(s)`` and, per action a,
  ``C >= 1 /\\ Q(s) /\\ T_a(s, s') /\\ not Q(s')``.
* ``CAP-BLOCK-STEP`` (the threshold): the loop blocks exactly at a loop-thread send that finds
  the channel full. Per action a:
  ``C >= 1 /\\ Q(s) /\\ T_a(s, s')
  /\\ not ((not blocked /\\ blocked') <-> (act in LS /\\ qlen = C))``.
* ``CAP-BLOCK-FOREVER`` (it is a deadlock): once blocked, always blocked, the channel stays
  full and the loop never moves again (no poll, discard, pending, ready, run_end, loop-thread
  send; other threads may still drop wakers and spawners, and ``run_start`` may fire for a
  loop blocked before ``run()``). Per action a:
  ``C >= 1 /\\ Q(s) /\\ blocked /\\ T_a(s, s')
  /\\ (act in LS u {poll, discard, pending, ready, run_end} \\/ not (blocked' /\\ qlen' = C))``.

**Reachability, for every C >= 1 and N >= 1** (acceleration of the repeated send). ``S(k)``
is the state "one task is being polled and has made k ``wake_by_ref`` calls": ``loop =
POLLING``, ``qlen = k``, one task in class ``running/w0/e min(k, 2)``, the other ``N - 1``
unspawned, ``blocked = false``, everything else 0. ``a(k)`` is the instance
``wake_by_ref(c = running/w0/e min(k, 2), remote = 0)``. With ``k`` a free integer too:

* ``CAP-BASE``: ``init --spawn(remote=0)--> p1 --run_start--> p2 --poll(pending/w0/e1)--> S(0)``,
  each step valid in ``T`` (``p1``, ``p2`` computed by the model's own effects; per step the
  query ``C >= 1 /\\ N >= 1 /\\ s = p /\\ act = i /\\ not (T(s, s') <-> s' = p')``: the step is
  enabled and leads exactly to ``p'``), and ``p3 = S(0)``;
* ``CAP-STEP``: ``C >= 1 /\\ N >= 1 /\\ 0 <= k < C /\\ s = S(k) /\\ act = a(k)
  /\\ not (T(s, s') <-> s' = S(k+1))`` (a wake into a channel with room enqueues, no block);
* ``CAP-FINAL``: ``C >= 1 /\\ N >= 1 /\\ s = S(C) /\\ act = a(C)
  /\\ not (T(s, s') <-> s' = S(C)[blocked := true])``.

Induction on k: ``S(0)`` is reachable in 3 steps (CAP-BASE); if ``S(k)`` is reachable in
``3 + k`` steps and ``k < C`` then ``S(k+1)`` is reachable in ``4 + k`` (CAP-STEP). So ``S(C)`` is
reached in ``C + 3`` steps with ``blocked = false`` all along (the first C wakes never block), and
the (C+1)-th wake blocks the loop at step ``C + 4`` (CAP-FINAL): 101 sends at capacity 100, step
104, as the exhaustive checker measures. ``CAP-SPAWN`` is the same argument for sends before
``run()``: ``P(k)`` = k tasks spawned by the executor, ``qlen = k``, ``loop = NOT_STARTED``;
``I = P(0)``; ``P(k) --spawn(remote=0)--> P(k+1)`` for ``0 <= k < C, k < N``; and for ``N > C``,
``P(C) --spawn(remote=0)--> P(C)[blocked := true]``: the (C+1)-th spawn blocks at step C + 1.

**No shorter path, for every C >= 1**: the potential
``phi(s) = qlen + [loop != NOT_STARTED] + 2 [loop = POLLING] + [blocked]`` starts at 0 and grows by
at most 1 per step (``CAP-PHI``, per action, any N), and every reachable blocked state has
``phi >= C + 4`` when ``N <= C`` (``CAP-PHI-BLOCKED``, by the inductive ``CAP-BEFORE-RUN``: before
``run()`` the channel holds one entry per spawned task and no waker exists, so with at most C
tasks a loop-thread send can find the channel full only inside a poll), ``phi >= C + 1`` for any
N. Hence with ``N <= C`` a blocked state is at least ``C + 4`` steps from the start (exactly
``C + 4`` by CAP-FINAL), and with ``N > C`` at least ``C + 1`` (exactly, by CAP-SPAWN).

The whole argument is re-checked against the concrete builds: for C = 2, 3, 5 the parametric
``T`` and ``I`` equal the concrete ones under ``C = c`` (:func:`agreement`), and the tests show that
each lemma fails on a mutated model (the ``qlen < C`` guard dropped, ``>`` for ``>=``) or with an
auxiliary invariant removed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import z3  # type: ignore[import-untyped]
from refexec.models import seed
from refexec.models.symbolic import Unroller, Z3Ops, _z
from refexec.models.system import Bounds, State, TransitionSystem, Value, View

__all__ = [
    "CAP",
    "MUTANTS",
    "CapacityReport",
    "Lemma",
    "agreement",
    "capacity_system",
    "prove_capacity",
]

Z3Term = Any
ProgressFn = Callable[[str], None]

CAP = z3.Int("C")
"""The channel capacity, as a z3 constant."""
NT = z3.Int("N")
"""The number of tasks, as a z3 constant (for the lemmas that hold for every N)."""

LOCAL_SENDS = ("spawn", "wake", "wake_by_ref")
LOOP_ACTIONS = ("poll", "discard", "pending", "ready", "run_end")


def _noop(_msg: str) -> None:
    return None


class _RemoteSendWithoutRoom(seed._Seed):
    """Mutant: a send from another thread does not wait for room (guard ``qlen < C`` dropped)."""

    def room(self, qlen: Value) -> Value:
        return True


class _FullMeansOverfull(seed._Seed):
    """Mutant: the loop's own send blocks only when ``qlen > C`` (``>`` for ``>=``)."""

    def full(self, qlen: Value) -> Value:
        return qlen > self.CAP


MUTANTS: Mapping[str, type[seed._Seed]] = {
    "remote-send-without-room": _RemoteSendWithoutRoom,
    "full-means-overfull": _FullMeansOverfull,
}
"""Mutated builds of the seed model (one changed method each), for the tests: each lemma must
fail on at least one of them."""


def capacity_system(cap: Any = CAP, n_tasks: Any = 1, mutant: str | None = None
                    ) -> TransitionSystem:
    """The seed model from its own builder with capacity ``cap`` (default the z3 constant C)."""
    bounds = seed.default_bounds(1, capacity=cap)
    bounds = Bounds(n_tasks, dict(bounds.extra))
    model = seed._Seed if mutant is None else MUTANTS[mutant]
    return model(bounds).system()


# ---------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------


@dataclass
class Lemma:
    """One lemma: proved (every query unsat) or the first query that is not, with its model."""

    id: str
    statement: str
    proved: bool
    seconds: float
    failed: str = ""  # which query (action / case) is satisfiable
    counterexample: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> str:
        return f"{self.id}: {'proved' if self.proved else 'FAILS at ' + self.failed}"


@dataclass
class CapacityReport:
    """The lemmas of the module docstring, and the agreement with concrete capacities."""

    lemmas: dict[str, Lemma]
    agreement: dict[str, bool]
    seconds: float

    @property
    def proved(self) -> bool:
        return all(lem.proved for lem in self.lemmas.values()) and all(self.agreement.values())

    def headline(self) -> str:
        if self.proved:
            return ("EX-NO-SELF-BLOCK threshold: proved for every capacity C >= 1 and every "
                    "number of tasks (the loop blocks exactly at a loop-thread send that finds "
                    "qlen = C, and forever; a task waking itself C+1 times in one poll blocks "
                    "at step C+4, C+1 spawns before run() at step C+1, the first C sends never "
                    f"block, no run blocks sooner; {len(self.lemmas)} z3 lemmas with C and N "
                    f"symbolic, {self.seconds:.1f}s)")
        bad = [lem.summary() for lem in self.lemmas.values() if not lem.proved]
        bad += [k for k, ok in self.agreement.items() if not ok]
        return "EX-NO-SELF-BLOCK threshold: NOT proved for every capacity: " + "; ".join(bad)


# ---------------------------------------------------------------------------------------------
# Building blocks
# ---------------------------------------------------------------------------------------------


class _Ctx:
    """One unrolling of one (possibly mutated) parametric build, with query helpers."""

    def __init__(self, ts: TransitionSystem, tag: str) -> None:
        self.ts = ts
        self.u = Unroller(ts, Z3Ops(), tag=tag)
        self.o = self.u.ops
        self.s0 = self.u.state(0)
        self.s1 = self.u.state(1)
        self.act = self.u.act(0)

    def v(self, k: int) -> View:
        return View(self.u.state(k))

    def indices(self, pred: Callable[[str, Mapping[str, int]], bool]) -> list[int]:
        return [i for i, (a, p) in enumerate(self.u.instances) if pred(a.name, p)]

    def index(self, label: str) -> int:
        for i, (a, p) in enumerate(self.u.instances):
            if a.label(p) == label:
                return i
        raise KeyError(label)

    def action_names(self) -> list[str]:
        return [a.name for a in self.ts.actions]

    def unsat(self, *fs: Z3Term) -> tuple[bool, dict[str, Any]]:
        sv = z3.Solver()
        sv.set("timeout", 60_000)
        sv.add(*fs)
        r = sv.check()
        if r == z3.unsat:
            return True, {}
        if r == z3.sat:
            return False, _model_dict(sv.model(), self.u)
        return False, {"z3": "unknown"}


def _model_dict(m: Any, u: Unroller) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for d in m.decls():
        out[d.name()] = str(m[d])
    try:
        i = m.eval(u.act(0), model_completion=True).as_long()
        a, p = u.instances[i]
        out["action"] = a.label(p)
    except (z3.Z3Exception, IndexError):
        pass
    return dict(sorted(out.items()))


def _t(x: Value) -> Z3Term:
    return _z(x)


def _q(ctx: _Ctx, k: int) -> Z3Term:
    """``Q(s@k) = 0 <= qlen <= C /\\ (blocked -> qlen = C)`` (CAP-RANGE)."""
    s = ctx.v(k)
    cap = ctx.ts.bounds["capacity"]
    return z3.And(_t(s.qlen) >= 0, _t(s.qlen) <= cap, z3.Implies(_t(s.blocked), _t(s.qlen) == cap))


def _before_run(ctx: _Ctx, k: int) -> Z3Term:
    """CAP-BEFORE-RUN at ``s@k``: every class count is >= 0 and every task is in one place
    (``sum cnt + unspawned + lost + freed = N``); and before ``run()`` the channel holds exactly one
    entry per spawned task, no task has a waker, an entry count above 1 or is not pending, and
    nothing was freed: ``loop = NOT_STARTED -> qlen + unspawned = N /\\ sum_{c != pending/w0/e1}
    cnt[c] = 0 /\\ lost = freed = 0``; and a blocked loop is polling, or before ``run()``
    with more than C tasks: ``blocked -> loop = POLLING \\/ N > C``."""
    s = ctx.v(k)
    n, cap = ctx.ts.bounds.n_tasks, ctx.ts.bounds["capacity"]
    cls = seed.classes(int(ctx.ts.bounds["wakers"]))
    fresh = seed.class_index(cls, seed.PENDING, 0, 1)
    cnt = [_t(x) for x in s.cnt]
    others = [x for i, x in enumerate(cnt) if i != fresh]
    counting = z3.And(*[x >= 0 for x in cnt], _t(s.unspawned) >= 0, _t(s.lost) >= 0,
                      _t(s.freed) >= 0,
                      z3.Sum(*cnt, _t(s.unspawned), _t(s.lost), _t(s.freed)) == n)
    before = z3.Implies(_t(s.loop) == seed.NOT_STARTED, z3.And(
        _t(s.qlen) + _t(s.unspawned) == n, z3.Sum(*others) == 0,
        _t(s.lost) == 0, _t(s.freed) == 0))
    blocked = z3.Implies(_t(s.blocked), z3.Or(_t(s.loop) == seed.POLLING, n > cap))
    return z3.And(counting, before, blocked)


def _phi(ctx: _Ctx, k: int) -> Z3Term:
    """``phi(s) = qlen + [loop != NOT_STARTED] + 2 [loop = POLLING] + [blocked]``."""
    s = ctx.v(k)
    loop = _t(s.loop)
    return (_t(s.qlen) + z3.If(loop != seed.NOT_STARTED, 1, 0)
            + z3.If(loop == seed.POLLING, 2, 0) + z3.If(_t(s.blocked), 1, 0))


def _per_action(ctx: _Ctx, lid: str, statement: str, *, hyp: Sequence[Z3Term],
                bad: Z3Term, init_bad: Z3Term | None = None) -> Lemma:
    """``hyp /\\ T_a(s, s') /\\ bad`` unsat for every action a, and (``init_bad`` given)
    ``hyp[0] /\\ I(s) /\\ init_bad`` unsat: one query each, the first satisfiable one named."""
    t0 = time.perf_counter()
    if init_bad is not None:
        ok, cex = ctx.unsat(*hyp[:1], ctx.u.init(0), init_bad)
        if not ok:
            return Lemma(lid, statement, False, time.perf_counter() - t0, "init", cex)
    for name in ctx.action_names():
        ok, cex = ctx.unsat(*hyp, ctx.u.trans(0, ctx.u.action_indices(name)), bad)
        if not ok:
            return Lemma(lid, statement, False, time.perf_counter() - t0, name, cex)
    return Lemma(lid, statement, True, time.perf_counter() - t0)


# ---------------------------------------------------------------------------------------------
# Safety lemmas: every C >= 1, every N
# ---------------------------------------------------------------------------------------------


def lemma_range(ctx: _Ctx) -> Lemma:
    """CAP-RANGE: ``Q`` is inductive (initiation and consecution per action)."""
    cap = ctx.ts.bounds["capacity"]
    return _per_action(
        ctx, "CAP-RANGE", "0 <= qlen <= C and (blocked -> qlen = C) is inductive",
        hyp=[cap >= 1, _q(ctx, 0)], bad=z3.Not(_q(ctx, 1)), init_bad=z3.Not(_q(ctx, 0)))


def _local_send(ctx: _Ctx) -> Z3Term:
    ls = ctx.indices(lambda n, p: n in LOCAL_SENDS and p.get("remote") == 0)
    return z3.Or(*[ctx.act == i for i in ls])


def lemma_block_step(ctx: _Ctx, *, with_range: bool = True) -> Lemma:
    """CAP-BLOCK-STEP: ``Q(s) /\\ T(s, s') -> ((not blocked /\\ blocked') <-> (act in LS /\\
    qlen = C))``; ``with_range=False`` drops ``Q`` (the test that it is needed)."""
    cap = ctx.ts.bounds["capacity"]
    s, s2 = ctx.v(0), ctx.v(1)
    becomes = z3.And(z3.Not(_t(s.blocked)), _t(s2.blocked))
    at_full = z3.And(_local_send(ctx), _t(s.qlen) == cap)
    hyp = [cap >= 1, _q(ctx, 0)] if with_range else [cap >= 1]
    return _per_action(
        ctx, "CAP-BLOCK-STEP",
        "blocked becomes true exactly at a loop-thread send that finds qlen = C",
        hyp=hyp, bad=z3.Not(becomes == at_full))


def lemma_block_forever(ctx: _Ctx) -> Lemma:
    """CAP-BLOCK-FOREVER: from a blocked state every step keeps ``blocked`` and ``qlen = C``,
    and no loop action (poll, discard, pending, ready, run_end) or loop-thread send is enabled."""
    cap = ctx.ts.bounds["capacity"]
    s, s2 = ctx.v(0), ctx.v(1)
    stuck = ctx.indices(lambda n, p: n in LOOP_ACTIONS
                        or (n in LOCAL_SENDS and p.get("remote") == 0))
    loop_moves = z3.Or(*[ctx.act == i for i in stuck])
    bad = z3.Or(loop_moves, z3.Not(z3.And(_t(s2.blocked), _t(s2.qlen) == cap)))

    return _per_action(
        ctx, "CAP-BLOCK-FOREVER",
        "once blocked: blocked forever, the channel stays full, the loop never moves",
        hyp=[cap >= 1, _q(ctx, 0), _t(s.blocked)], bad=bad)


def lemma_phi(ctx: _Ctx) -> Lemma:
    """CAP-PHI: ``phi(init) = 0`` and ``Q(s) /\\ T(s, s') -> phi(s') <= phi(s) + 1``."""
    cap = ctx.ts.bounds["capacity"]
    return _per_action(
        ctx, "CAP-PHI", "phi = qlen + [started] + 2 [polling] + [blocked] is 0 initially and "
        "grows by at most 1 per step",
        hyp=[cap >= 1, _q(ctx, 0)], bad=_phi(ctx, 1) > _phi(ctx, 0) + 1,
        init_bad=_phi(ctx, 0) != 0)


def lemma_before_run(ctx: _Ctx) -> Lemma:
    """CAP-BEFORE-RUN (see :func:`_before_run`) is inductive together with ``Q``."""
    cap, n = ctx.ts.bounds["capacity"], ctx.ts.bounds.n_tasks
    hyp = [z3.And(cap >= 1, n >= 0), _q(ctx, 0), _before_run(ctx, 0)]
    return _per_action(
        ctx, "CAP-BEFORE-RUN", "before run() one entry per spawned task and no waker; a "
        "blocked loop is polling unless N > C",
        hyp=hyp, bad=z3.Not(_before_run(ctx, 1)), init_bad=z3.Not(_before_run(ctx, 0)))


def lemma_phi_blocked(ctx: _Ctx, *, with_before_run: bool = True) -> Lemma:
    """CAP-PHI-BLOCKED: ``N <= C /\\ Q(s) /\\ BeforeRun(s) /\\ blocked -> phi(s) >= C + 4``, and
    for every N: ``Q(s) /\\ blocked -> phi(s) >= C + 1``."""
    t0 = time.perf_counter()
    cap, n = ctx.ts.bounds["capacity"], ctx.ts.bounds.n_tasks
    s = ctx.v(0)
    stmt = "a blocked state has phi >= C + 4 (N <= C), phi >= C + 1 (any N)"
    aux = [_before_run(ctx, 0)] if with_before_run else []
    ok, cex = ctx.unsat(cap >= 1, n >= 0, n <= cap, _q(ctx, 0), *aux, _t(s.blocked),
                        _phi(ctx, 0) < cap + 4)
    if not ok:
        return Lemma("CAP-PHI-BLOCKED", stmt, False, time.perf_counter() - t0, "N <= C", cex)
    ok, cex = ctx.unsat(cap >= 1, _q(ctx, 0), _t(s.blocked), _phi(ctx, 0) < cap + 1)
    if not ok:
        return Lemma("CAP-PHI-BLOCKED", stmt, False, time.perf_counter() - t0, "any N", cex)
    return Lemma("CAP-PHI-BLOCKED", stmt, True, time.perf_counter() - t0)


# ---------------------------------------------------------------------------------------------
# Reachability: acceleration of the repeated self-wake (one task)
# ---------------------------------------------------------------------------------------------

K = z3.Int("k")
"""The number of wakes made so far in the poll, a z3 constant."""


def _emin(k: Any) -> Any:
    return z3.If(k >= seed.E_MAX, seed.E_MAX, k)


def wake_state(ts: TransitionSystem, k: Any, *, blocked: bool = False) -> dict[str, Value]:
    """``S(k)``: one task being polled, its ``k`` wakes in the channel (``k``: int or z3 term)."""
    cls = seed.classes(int(ts.bounds["wakers"]))
    e = _emin(k)
    cnt = tuple(
        z3.If(e == ce, 1, 0) if (p, w) == (seed.RUNNING, 0) else 0 for (p, w, ce) in cls)
    return {"cnt": cnt, "unspawned": ts.bounds.n_tasks - 1, "qlen": k, "spawners": 0,
            "loop": seed.POLLING, "blocked": blocked, "lost": 0, "freed": 0}


def _wake_act(ctx: _Ctx, k: Any) -> Z3Term:
    """``a(k)``: ``wake_by_ref`` from the loop thread of the class ``running/w0/e min(k, 2)``."""
    ix = [ctx.index(f"wake_by_ref(c=running/w0/e{e}, remote=0)") for e in ("0", "1", "2+")]
    return z3.If(k == 0, ix[0], z3.If(k == 1, ix[1], ix[2]))


def _exact_step(ctx: _Ctx, pre: State, act: Z3Term, post: State) -> Z3Term:
    """The negation of "from ``pre`` the instance ``act`` is a step of ``T``, to ``post`` only":
    ``s = pre /\\ act@0 = act /\\ not (T(s, s') <-> s' = post)``."""
    u = ctx.u
    return z3.And(u.eq_state(ctx.s0, pre), ctx.act == act,
                  z3.Not(u.trans(0) == u.eq_state(ctx.s1, post)))


def lemma_base(ctx: _Ctx) -> Lemma:
    """CAP-BASE: ``init --spawn(remote=0)--> --run_start--> --poll(pending/w0/e1)--> S(0)``."""
    t0 = time.perf_counter()
    cap, ts = ctx.ts.bounds["capacity"], ctx.ts
    labels = ("spawn(remote=0)", "run_start()", "poll(c=pending/w0/e1, k=0)")
    cur: State = dict(ts.init(ctx.o))
    path = [cur]
    for lab in labels:
        a, p = ctx.u.instances[ctx.index(lab)]
        cur = ts.apply(a, p, cur, ctx.o)
        path.append(cur)
    stmt = "init reaches S(0) in 3 steps: spawn, run_start, poll"
    hyp = z3.And(cap >= 1, ctx.ts.bounds.n_tasks >= 1)
    ok, cex = ctx.unsat(hyp, ctx.u.eq_state(ctx.s0, path[0]), z3.Not(ctx.u.init(0)))
    if not ok:
        return Lemma("CAP-BASE", stmt, False, time.perf_counter() - t0, "init", cex)
    for lab, pre, post in zip(labels, path[:-1], path[1:], strict=True):
        ok, cex = ctx.unsat(hyp, _exact_step(ctx, pre, ctx.index(lab), post))
        if not ok:
            return Lemma("CAP-BASE", stmt, False, time.perf_counter() - t0, lab, cex)
    ok, cex = ctx.unsat(hyp, z3.Not(ctx.u.eq_state(path[-1], wake_state(ts, 0))))
    if not ok:
        return Lemma("CAP-BASE", stmt, False, time.perf_counter() - t0, "S(0)", cex)
    return Lemma("CAP-BASE", stmt, True, time.perf_counter() - t0)


def lemma_step(ctx: _Ctx, *, upto: Callable[[Any, Any], Any] = lambda k, c: k < c) -> Lemma:
    """CAP-STEP: ``0 <= k < C``: ``S(k) --a(k)--> S(k+1)``, the only successor by ``a(k)``.
    ``upto`` replaces ``k < C`` (the test that ``k <= C`` fails)."""
    t0 = time.perf_counter()
    cap, ts = ctx.ts.bounds["capacity"], ctx.ts
    ok, cex = ctx.unsat(cap >= 1, ctx.ts.bounds.n_tasks >= 1, K >= 0, upto(K, cap),
                        _exact_step(ctx, wake_state(ts, K), _wake_act(ctx, K),
                                    wake_state(ts, K + 1)))
    return Lemma("CAP-STEP", "for 0 <= k < C the (k+1)-th wake enqueues: S(k) -> S(k+1)", ok,
                 time.perf_counter() - t0, "" if ok else "0 <= k < C", cex)


def lemma_final(ctx: _Ctx) -> Lemma:
    """CAP-FINAL: ``S(C) --a(C)--> S(C)[blocked := true]``, the only successor by ``a(C)``."""
    t0 = time.perf_counter()
    cap, ts = ctx.ts.bounds["capacity"], ctx.ts
    ok, cex = ctx.unsat(cap >= 1, ctx.ts.bounds.n_tasks >= 1,
                        _exact_step(ctx, wake_state(ts, cap), _wake_act(ctx, cap),
                                              wake_state(ts, cap, blocked=True)))
    return Lemma("CAP-FINAL", "the (C+1)-th wake blocks: S(C) -> S(C) with blocked", ok,
                 time.perf_counter() - t0, "" if ok else "k = C", cex)


def spawn_state(ts: TransitionSystem, k: Any, *, blocked: bool = False) -> dict[str, Value]:
    """``P(k)``: before ``run()``, ``k`` tasks spawned by the executor, each with its one entry."""
    cls = seed.classes(int(ts.bounds["wakers"]))
    fresh = seed.class_index(cls, seed.PENDING, 0, 1)
    cnt = tuple(k if i == fresh else 0 for i in range(len(cls)))
    return {"cnt": cnt, "unspawned": ts.bounds.n_tasks - k, "qlen": k, "spawners": 0,
            "loop": seed.NOT_STARTED, "blocked": blocked, "lost": 0, "freed": 0}


def lemma_spawn(ctx: _Ctx) -> Lemma:
    """CAP-SPAWN, the "before run()" form, any N: ``I = P(0)``; for ``0 <= k < C, k < N``:
    ``P(k) --spawn(remote=0)--> P(k+1)`` only; for ``N > C``: ``P(C) --spawn(remote=0)-->
    P(C)[blocked := true]`` only. So C spawns before ``run()`` never block and the (C+1)-th
    blocks at step C + 1 (the shortest possible: CAP-PHI-BLOCKED's ``phi >= C + 1``)."""
    t0 = time.perf_counter()
    cap, ts, n = ctx.ts.bounds["capacity"], ctx.ts, ctx.ts.bounds.n_tasks
    stmt = "C spawns before run() never block; the (C+1)-th blocks (N > C): P(k) -> P(k+1)"
    spawn = ctx.index("spawn(remote=0)")
    queries = {
        "init = P(0)": [cap >= 1, n >= 0, ctx.u.eq_state(ctx.s0, spawn_state(ts, 0)),
                        z3.Not(ctx.u.init(0))],
        "0 <= k < C, k < N": [cap >= 1, K >= 0, cap > K, n > K, _exact_step(
            ctx, spawn_state(ts, K), spawn, spawn_state(ts, K + 1))],
        "k = C < N": [cap >= 1, n > cap, _exact_step(
            ctx, spawn_state(ts, cap), spawn, spawn_state(ts, cap, blocked=True))],
    }
    for case, q in queries.items():
        ok, cex = ctx.unsat(*q)
        if not ok:
            return Lemma("CAP-SPAWN", stmt, False, time.perf_counter() - t0, case, cex)
    return Lemma("CAP-SPAWN", stmt, True, time.perf_counter() - t0)


# ---------------------------------------------------------------------------------------------
# Agreement with concrete capacities
# ---------------------------------------------------------------------------------------------


def agreement(sizes: Sequence[int] = (2, 3, 5), mutant: str | None = None) -> dict[str, bool]:
    """For each capacity c: the parametric build's ``T`` and ``I`` (and TypeOK) are those of the
    concrete build under ``C = c``: ``C = c -> (T_C <-> T_c) /\\ (I_C <-> I_c) /\\ (TypeOK_C <->
    TypeOK_c)`` is valid. ``mutant`` builds the *parametric* side mutated (the test that the
    check can fail)."""
    par = Unroller(capacity_system(mutant=mutant), Z3Ops(), tag="a.")
    out: dict[str, bool] = {}
    for c in sizes:
        con = Unroller(capacity_system(c), Z3Ops(), tag="a.")  # same names
        sv = z3.Solver()
        sv.add(c == CAP, z3.Not(z3.And(con.trans(0) == par.trans(0), con.init(0) == par.init(0),
                                       con.type_ok(0) == par.type_ok(0))))
        out[f"T, I, TypeOK agree with the C={c} build"] = sv.check() == z3.unsat
    return out


# ---------------------------------------------------------------------------------------------
# Everything
# ---------------------------------------------------------------------------------------------


def prove_capacity(progress: ProgressFn = _noop, mutant: str | None = None) -> CapacityReport:
    """Every lemma of the module docstring, and :func:`agreement` for C = 2, 3, 5."""
    t0 = time.perf_counter()
    ctx = _Ctx(capacity_system(n_tasks=NT, mutant=mutant), "n.")  # C and N both free
    lemmas: dict[str, Lemma] = {}
    for fn in (lemma_range, lemma_block_step, lemma_block_forever, lemma_phi, lemma_before_run,
               lemma_phi_blocked, lemma_base, lemma_step, lemma_final, lemma_spawn):
        lem = fn(ctx)
        lemmas[lem.id] = lem
        progress(f"seed, any capacity: {lem.summary()} ({lem.seconds:.2f}s)")
    agree = agreement(mutant=mutant)
    progress(f"seed, any capacity: agreement with C = 2, 3, 5: {all(agree.values())}")
    return CapacityReport(lemmas, agree, time.perf_counter() - t0)
