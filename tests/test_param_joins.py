"""Joins for every N (models/param_joins.py): the ``reference`` variant itself proved with N
free, and each piece of the proof shown to matter.

The proofs must be able to fail: without AUX-JOIN, with the join mutant's edge, with a guard
removed from ``join``, without the await cycle as EX-PROGRESS's resting state, the named
(action, property) queries fail with a counterexample; a wrong parametric reading of the join
waker disagrees with the concrete model.
"""

from __future__ import annotations

from typing import Any

import pytest
import z3  # type: ignore[import-untyped]
from refexec.models import param_joins as pj
from refexec.models import reference_parametric as rp
from refexec.models.mutants import MUTANT_SPECS
from refexec.models.reference import REFERENCE_EDGES, Edges, default_bounds
from refexec.models.system import Ops, View

SPECS = {m.slug: m for m in MUTANT_SPECS}
B = default_bounds(2)  # the reference variant's bounds: joins on
QUICK = 4000


def _pair(prop: str, action: str, *, without: tuple[str, ...] = (),
          edges: Edges = REFERENCE_EDGES, core_class: type[rp.ParamCore] = rp.ParamCore,
          ) -> tuple[str, str]:
    """One (action, invariant) query of the every-N proof, as prove_every_n asks it, with the
    invariants ``without`` left out of the assumption: z3 as the proof runs it and, if that
    says "unknown", with E-matching off (model-based instantiation finds a counterexample of a
    quantified formula where E-matching gives up)."""
    core = core_class(rp.N, B, edges)
    invs = rp.invariants_for(B)
    s, s2, t, u = core.state("@0"), core.state("@1"), z3.Int("t"), z3.Int("u")
    a = next(a for a in core.actions() if a.label == action)
    inv = next(i for i in invs if i.id == prop)
    pre = [rp.N >= 1, *(i.formula(core, s) for i in invs if i.id not in without)]
    query = [*pre, core.trans(a, s, s2, t, u), z3.Not(inv.formula(core, s2))]
    status, model = rp._solve_either(query, QUICK)
    return status, rp._show(model, s, a.tasks(t, u), core) if model is not None else ""


def test_the_reference_is_proved_for_every_n() -> None:
    report = rp.prove_every_n(bounds=B, name="reference")
    assert report.ok, report.summary()
    assert set(report.properties) == {
        "EX-ONE-POLLER", "EX-NO-LOST-WAKE", "EX-QUEUE-EXACT", "EX-SLEEP-SAFE",
        "EX-LOST-REPORTED", "EX-POLL-COUNT", "EX-FINAL", "EX-RUN-END", "EX-FIFO",
        "EX-JOIN-RELEASED", "EX-PROGRESS", "EX-TERMINATES"}
    assert report.summary().startswith("reference proved for every N (12 properties")
    # join(t, u) is proved against every invariant, with both tasks free
    joins = {q.prop for q in report.queries if q.action == "join"}
    assert {i.id for i in rp.invariants_for(B)} <= joins
    assert {"AUX-JOIN", "EX-JOIN-RELEASED"} <= {q.prop for q in report.queries}


def test_the_join_action_has_two_free_task_parameters() -> None:
    core = rp.ParamCore(rp.N, B)
    (join,) = [a for a in core.actions() if a.name == "join"]
    assert join.pair and join.task
    t, u = z3.Ints("t u")
    assert set(join.tasks(t, u)) == {"t", "u"}
    with pytest.raises(ValueError, match="two tasks"):
        core.trans(join, core.state("@a"), core.state("@b"), t)
    # the core without joins has no join action
    assert "join" not in {a.name for a in rp.ParamCore(rp.N).actions()}


class _SelfJoin(rp.ParamCore):
    """A guard removed: a task may await its own JoinHandle (``u != t`` dropped)."""

    def actions(self) -> tuple[rp.PAction, ...]:
        def guard(s: rp.PState, t: Any, u: Any) -> Any:
            return z3.And(self.polling(s, u), s.st[t] != rp.UNSP,
                          z3.Not(self.final(s.st[t])), s.join[t] == self.N)

        return tuple(rp.PAction(a.name, guard, a.effect, True, a.fixed, pair=True)
                     if a.name == "join" else a for a in super().actions())


def test_a_removed_join_guard_fails_at_join_naming_both_tasks() -> None:
    status, cex = _pair("AUX-JOIN", "join", core_class=_SelfJoin)
    assert status == "sat"
    assert cex.startswith("counterexample: N=") and " t=" in cex and " u=" in cex


@pytest.mark.parametrize(("prop", "action"), [
    ("AUX-UNSPAWNED", "ready"),  # releasing a join waker held for an UNSPAWNED slot wakes it
    ("AUX-UNSPAWNED", "pending"),
])
def test_aux_join_is_needed(prop: str, action: str) -> None:
    assert _pair(prop, action)[0] == "unsat"
    status, cex = _pair(prop, action, without=("AUX-JOIN",))
    assert status == "sat", cex
    assert cex.startswith("counterexample: N=")


@pytest.mark.parametrize("action", ["ready", "cancel(remote=0)"])
def test_the_join_waker_leak_mutant_fails_ex_join_released(action: str) -> None:
    """``release_join`` off: a finished task keeps the join waker of its awaiter."""
    edges = SPECS["join-waker-leak"].edges
    assert _pair("EX-JOIN-RELEASED", action, edges=edges)[0] == "sat"


@pytest.mark.deep  # the whole proof with a mutant: its failing pairs spend their budget
def test_the_join_waker_leak_mutant_fails_the_whole_proof() -> None:
    report = rp.prove_every_n(bounds=B, edges=SPECS["join-waker-leak"].edges,
                              timeout_ms=QUICK)
    assert not report.ok
    failed = {(q.prop, q.action) for q in report.failed}
    assert ("EX-JOIN-RELEASED", "ready") in failed
    assert {q.prop for q in report.failed} == {"EX-JOIN-RELEASED"}


def test_the_await_cycle_proved_is_the_fixed_n_one() -> None:
    """may_rest (the form EX-PROGRESS is proved with) implies run_final's await cycle, and is
    not vacuous: two tasks each awaiting the other, the loop asleep, satisfy it with every
    invariant."""
    core = rp.ParamCore(rp.N, B)
    s = core.state("@r")
    implied, _ = rp._solve([rp.N >= 1, pj.may_rest(core, s),
                            z3.Not(pj.await_cycle(core, s))], QUICK)
    assert implied == "unsat"
    invs = [i.formula(core, s) for i in rp.invariants_for(B)]
    pinned = [rp.N == 2, s.join[0] == 1, s.join[1] == 0, s.st[0] == rp.IDLE,
              s.st[1] == rp.IDLE]
    status, _ = rp._solve([*pinned, *invs, pj.may_rest(core, s)], QUICK, ematching=False)
    assert status == "sat"


def test_progress_needs_the_await_cycle(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the resting state, a sleeping loop whose tasks await each other is stuck."""

    def stuck() -> str:
        core = rp.ParamCore(rp.N, B)
        s = core.state("@p")
        pre = [rp.N >= 1, *(i.formula(core, s) for i in rp.invariants_for(B))]
        # two tasks each awaiting the other, the loop asleep
        pinned = [rp.N == 2, s.join[0] == 1, s.join[1] == 0, s.st[0] == rp.IDLE,
                  s.st[1] == rp.IDLE, s.loop == rp.Loop.ASLEEP]
        query = [*pre, *pinned, rp.progress_stuck(core, s, core.actions())]
        status, _ = rp._solve_either(query, QUICK, ematching=False)
        return status

    assert stuck() == "unsat"  # an await cycle: the loop may rest there
    monkeypatch.delattr(pj, "may_rest")
    assert stuck() == "sat"


def test_join_is_an_environment_action() -> None:
    """A program may await JoinHandles for ever (join leaves every rank unchanged): which is
    why join is assumed to happen finitely often, as spawn is."""
    report = rp.prove_every_n(bounds=B, fair=(*rp.FAIR_ACTIONS, "join"), timeout_ms=QUICK)
    assert {(q.prop, q.action) for q in report.failed} == {("EX-TERMINATES", "join")}


def test_the_reference_agrees_with_the_concrete_model_for_1_to_4_tasks() -> None:
    report = rp.agreement((1, 2, 3, 4), bounds=B)
    assert report.ok, report.failures
    assert sorted(report.checked) == [1, 2, 3, 4]


class _NoJoinWakerBuilder(rp.ParamBuilder):
    """Wrong encoding: the parametric reading forgets that a join waker is a live waker."""

    def has_waker(self, s: View, o: Ops, t: Any, timers: bool = True, io: bool = True) -> Any:
        return s.wakers[t] > 0


class _NoJoinWaker(rp.ParamCore):
    builder_class = _NoJoinWakerBuilder


def test_a_wrong_join_waker_encoding_disagrees() -> None:
    report = rp.agreement((2,), core_class=_NoJoinWaker, bounds=B)
    assert not report.ok
    assert any(f.startswith("n=2: lost(") and "enabled" in f for f in report.failures)


def test_a_join_without_a_concrete_instance_must_never_be_enabled() -> None:
    """With one task the concrete model has no join (it needs two distinct tasks); a reading
    whose join could act on one task alone disagrees at N = 1."""
    report = rp.agreement((1,), core_class=_SelfJoin, bounds=B)
    assert report.failures == ["n=1: join has no concrete instance but is enabled (sat)"]
