"""The seed's self-deadlock for every channel capacity (``models/seed_capacity.py``).

Three kinds of test: the lemmas are proved with C symbolic; the parametric model agrees with the
concrete builds and with the two independent checkers at small capacities (exhaustive BFS, BMC,
concrete replay); and each lemma *fails* on a mutated model or without its auxiliary invariant,
with a counterexample that shows the reason.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import pytest
import z3
from refexec.models import seed
from refexec.models.concrete import ConcreteModel
from refexec.models.exhaustive import explore
from refexec.models.seed_capacity import (
    CAP,
    NT,
    _before_run,
    _Ctx,
    _phi,
    _q,
    agreement,
    capacity_system,
    lemma_block_forever,
    lemma_block_step,
    lemma_final,
    lemma_phi_blocked,
    lemma_range,
    lemma_spawn,
    lemma_step,
    prove_capacity,
)
from refexec.models.symbolic import SymbolicMisuse, _z, bmc, encoding_width


def test_every_lemma_is_proved_for_every_capacity() -> None:
    rep = prove_capacity()
    assert rep.proved, rep.headline()
    assert set(rep.lemmas) == {
        "CAP-RANGE", "CAP-BLOCK-STEP", "CAP-BLOCK-FOREVER", "CAP-PHI", "CAP-BEFORE-RUN",
        "CAP-PHI-BLOCKED", "CAP-BASE", "CAP-STEP", "CAP-FINAL", "CAP-SPAWN"}
    assert "proved for every capacity C >= 1" in rep.headline()


def test_the_model_is_built_with_a_symbolic_capacity() -> None:
    """C enters where the model's code puts it: the sort bound of qlen, nothing is fixed."""
    ts = capacity_system()
    assert ts.var("qlen").sort.hi is CAP
    assert ts.bounds["capacity"] is CAP


def test_parametric_build_agrees_with_concrete_capacities() -> None:
    conds = agreement((2, 3, 5))
    assert len(conds) == 3 and all(conds.values()), conds


@pytest.mark.parametrize("mutant", ["remote-send-without-room", "full-means-overfull"])
def test_agreement_check_detects_a_different_relation(mutant: str) -> None:
    """The comparison is not vacuous: a mutated parametric build differs from the concrete one."""
    conds = agreement((2, 3), mutant=mutant)
    assert not any(conds.values()), conds


def _replay(c: int, wakes: int) -> list[dict[str, Any]]:
    """The lemmas' path on the concrete model: spawn, run_start, poll, ``wakes`` self-wakes."""
    m = ConcreteModel(capacity_system(c))
    s = m.initial()
    path = [s]
    s = m.step(s, "spawn", remote=0)
    path.append(s)
    s = m.step(s, "run_start")
    path.append(s)
    cls = seed.classes(1)
    s = m.step(s, "poll", c=seed.class_index(cls, seed.PENDING, 0, 1), k=0)
    path.append(s)
    for k in range(wakes):
        e = min(k, seed.E_MAX)
        s = m.step(s, "wake_by_ref", c=seed.class_index(cls, seed.RUNNING, 0, e), remote=0)
        path.append(s)
    return path


@pytest.mark.parametrize("c", [1, 2, 3, 5, 100])
def test_concrete_replay_blocks_at_step_c_plus_4(c: int) -> None:
    """What CAP-BASE/STEP/FINAL state, run concretely (at C = 100 too: 101 sends, step 104)."""
    path = _replay(c, c + 1)
    assert len(path) - 1 == c + 4
    assert path[-1]["blocked"] and path[-1]["qlen"] == c
    assert not any(s["blocked"] for s in path[:-1])  # the first C wakes never block


@pytest.mark.parametrize("c", [2, 3, 5])
def test_shortest_self_block_is_c_plus_4_for_both_checkers(c: int) -> None:
    """The exhaustive checker's and BMC's shortest counterexample at capacity c has the length
    the theorem gives for every C."""
    ts = capacity_system(c)
    ex = explore(ts, max_depth=c + 5).properties["EX-NO-SELF-BLOCK"]
    res = bmc(ts, [ts.property("EX-NO-SELF-BLOCK")], max_depth=c + 4,
              include_type_ok=False)["EX-NO-SELF-BLOCK"]
    assert ex.steps == c + 4
    assert res.status == "violated" and res.depth == c + 4


def _holds(ctx: _Ctx, formula: z3.ExprRef, state: dict[str, Any]) -> bool:
    """Evaluate a formula over ``s@0`` of ``ctx`` in a concrete state."""
    pairs = []
    for v in ctx.ts.variables:
        val = ctx.s0[v.name]
        xs = val if isinstance(val, tuple) else (val,)
        ys = state[v.name] if isinstance(val, tuple) else (state[v.name],)
        for x, y in zip(xs, ys, strict=True):
            pairs.append((_z(x), _z(y)))
    out = z3.simplify(z3.substitute(formula, *pairs))
    assert z3.is_true(out) or z3.is_false(out), out
    return bool(z3.is_true(out))


@pytest.mark.parametrize(("c", "n"), [(2, 1), (3, 1), (2, 2), (2, 3)])
def test_auxiliary_invariants_and_potential_on_every_reachable_state(c: int, n: int) -> None:
    """Independent of z3's proofs: breadth-first over the concrete model, every reachable state
    satisfies Q and BeforeRun, phi never exceeds the state's distance from the start, and a
    blocked state is at least C + 4 steps away when N <= C (C + 1 when N > C)."""
    ts = capacity_system(c, n_tasks=n)
    ctx = _Ctx(ts, "x.")
    inv = z3.And(_q(ctx, 0), _before_run(ctx, 0))
    phi = _phi(ctx, 0)
    m = ConcreteModel(ts)
    start = m.initial()
    dist = {m.freeze(start): 0}
    todo = deque([start])
    blocked_at: list[int] = []
    while todo:
        s = todo.popleft()
        d = dist[m.freeze(s)]
        assert _holds(ctx, inv, s), s
        assert _holds(ctx, phi <= d, s), (d, s)
        if s["blocked"]:
            blocked_at.append(d)
        for a, p in m.enabled(s):
            t = m.successor(s, a, p)
            key = m.freeze(t)
            if key not in dist:
                dist[key] = d + 1
                todo.append(t)
    assert blocked_at and min(blocked_at) == (c + 4 if n <= c else c + 1)


# -- each lemma fails when a guard or an auxiliary invariant is removed -----------------------


def test_range_fails_without_the_room_guard_of_remote_sends() -> None:
    """Drop ``qlen < C`` from sends by other threads: Q is no longer inductive, and the
    counterexample is a remote send into the full channel."""
    ctx = _Ctx(capacity_system(n_tasks=NT, mutant="remote-send-without-room"), "m.")
    lem = lemma_range(ctx)
    assert not lem.proved
    assert "remote=1" in lem.counterexample["action"]
    assert lem.counterexample["m.qlen@0"] == lem.counterexample["C"]


def test_block_step_fails_with_strict_full_test() -> None:
    """``>`` for ``>=`` in the loop's own send: a loop-thread send at qlen = C no longer blocks."""
    ctx = _Ctx(capacity_system(n_tasks=NT, mutant="full-means-overfull"), "m.")
    lem = lemma_block_step(ctx)
    assert not lem.proved
    cex = lem.counterexample
    assert "remote=0" in cex["action"]
    assert cex["m.qlen@0"] == cex["C"] and cex["m.blocked@1"] == "False"


def test_final_fails_with_strict_full_test() -> None:
    """With ``>`` the (C+1)-th wake does not block (it overfills the channel instead)."""
    lem = lemma_final(_Ctx(capacity_system(mutant="full-means-overfull"), "m."))
    assert not lem.proved and lem.failed == "k = C"


def test_spawn_lemma_fails_with_strict_full_test() -> None:
    """With ``>`` the (C+1)-th spawn before run() does not block."""
    lem = lemma_spawn(_Ctx(capacity_system(n_tasks=NT, mutant="full-means-overfull"), "m."))
    assert not lem.proved and lem.failed == "k = C < N"


def test_block_forever_fails_without_the_room_guard() -> None:
    """Without the guard another thread can send into the blocked loop's full channel."""
    lem = lemma_block_forever(_Ctx(capacity_system(n_tasks=NT,
                                                   mutant="remote-send-without-room"), "m."))
    assert not lem.proved and "remote=1" in lem.counterexample["action"]


def test_block_step_needs_the_range_invariant() -> None:
    """Without Q a loop-thread send at qlen > C also blocks: the "exactly at qlen = C" claim is
    not 1-inductive on its own."""
    lem = lemma_block_step(_Ctx(capacity_system(n_tasks=NT), "m."), with_range=False)
    assert not lem.proved
    cex = lem.counterexample
    assert int(cex["m.qlen@0"]) > int(cex["C"])


def test_phi_bound_needs_the_before_run_invariant() -> None:
    """Without CAP-BEFORE-RUN a blocked state before run() (phi = C + 1) is not excluded for
    N <= C."""
    lem = lemma_phi_blocked(_Ctx(capacity_system(n_tasks=NT), "m."), with_before_run=False)
    assert not lem.proved and lem.failed == "N <= C"
    assert lem.counterexample["m.loop@0"] != str(seed.POLLING)


def test_step_fails_beyond_the_capacity() -> None:
    """The step lemma's range ``k < C`` is exact: at k = C the wake blocks instead."""
    ctx = _Ctx(capacity_system(), "m.")
    assert lemma_step(ctx).proved
    lem = lemma_step(ctx, upto=lambda k, c: k <= c)
    assert not lem.proved
    assert lem.counterexample["k"] == lem.counterexample["C"]


@pytest.mark.parametrize("c", [2, 3])
def test_lemmas_hold_at_concrete_capacities(c: int) -> None:
    """The same lemma code at a concrete C (a Python int): nothing relies on C being symbolic."""
    ctx = _Ctx(capacity_system(c, n_tasks=1), "k.")
    for fn in (lemma_range, lemma_block_step, lemma_block_forever, lemma_step, lemma_final,
               lemma_spawn):
        lem = fn(ctx)
        assert lem.proved, lem.summary()


def test_bit_vector_encoding_refuses_a_symbolic_capacity() -> None:
    """The default bit-vector width is computed from the sort bounds; with C symbolic there is
    none, and the encoder says so instead of failing inside z3."""
    with pytest.raises(SymbolicMisuse, match="exact integers"):
        encoding_width(capacity_system())


@pytest.mark.parametrize(("n", "c", "shortest"), [
    (1, 2, 6),
    pytest.param(2, 3, 7, marks=pytest.mark.deep),
    pytest.param(4, 3, 4, marks=pytest.mark.deep),
])
def test_verify_enters_the_theorem_verdict_and_it_agrees(n: int, c: int, shortest: int) -> None:
    """refexec verify puts the theorem's length at the instance's capacity into the seed's
    EX-NO-SELF-BLOCK cell (C + 4 for N <= C, C + 1 for N > C), and the agreement check compares
    it with the exhaustive checker's shortest counterexample."""
    from refexec.models.verify import check_variant  # noqa: PLC0415

    rep = check_variant("seed", properties=["EX-NO-SELF-BLOCK"],
                        bounds=seed.default_bounds(n, capacity=c), depth=shortest + 1)
    cell = rep.cells["EX-NO-SELF-BLOCK"]
    assert rep.capacity_ok is True and "every capacity" in rep.capacity
    assert "capacity theorem" in cell.chc.method
    assert cell.chc.depth == cell.exhaustive.depth == shortest
    assert cell.agree
