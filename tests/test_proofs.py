"""Unbounded proofs of the reference design (z3): inductive invariant, step properties,
termination by a ranking function; and the auxiliary invariants cross-checked exhaustively."""

from __future__ import annotations

import functools
from typing import Any

import pytest
from refexec.models import reference
from refexec.models.concrete import ConcreteModel
from refexec.models.exhaustive import explore
from refexec.models.symbolic import TYPE_OK, check_ranking, prove, type_ok_property
from refexec.models.system import CONCRETE, Ops, View
from refexec.models.variants import build
from refexec.models.verify import (
    ENVIRONMENT_ACTIONS,
    aux_invariants,
    await_deadlock,
    reference_rank,
    termination,
)


@functools.cache
def _proof(n: int) -> tuple[Any, Any, list[Any]]:
    ts = build("reference", reference.default_bounds(n))
    aux = aux_invariants(ts)
    return ts, prove(ts, aux=aux, max_k=1), aux


@pytest.mark.parametrize("n", [1, 2])
def test_reference_properties_are_proved_for_unbounded_depth(n: int) -> None:
    ts, report, aux = _proof(n)
    assert report.dropped == {}
    for p in [*ts.properties, *aux, type_ok_property()]:
        assert report.results[p.id].status == "proved", p.id
    assert set(report.inductive) >= {TYPE_OK, *(a.id for a in aux)}


@pytest.mark.deep
@pytest.mark.parametrize("n", [3, 4])
def test_reference_properties_are_proved_for_more_tasks(n: int) -> None:
    ts, report, _ = _proof(n)
    assert report.dropped == {}
    assert all(report.results[p.id].status == "proved" for p in ts.properties)


def test_auxiliary_invariants_hold_in_every_reachable_state() -> None:
    """An independent check of the strengthening: the exhaustive checker visits every
    reachable state and evaluates each auxiliary invariant there (concrete interpretation)."""
    ts = build("reference", reference.default_bounds(2, remote=1, join=1))
    aux = aux_invariants(ts)
    from dataclasses import replace  # noqa: PLC0415

    res = explore(replace(ts, properties=tuple(aux)))
    assert res.complete
    assert res.violated() == []
    # and the concrete model agrees on the initial state
    init = ConcreteModel(ts).initial()
    assert all(a.formula(View(init), CONCRETE) for a in aux)


def test_proof_without_auxiliary_invariants_fails_honestly() -> None:
    ts = build("reference")
    report = prove(ts, [ts.property("EX-SLEEP-SAFE"), ts.property("EX-FIFO")], max_k=1)
    assert "EX-SLEEP-SAFE" in report.dropped  # plain induction is not enough
    assert report.results["EX-SLEEP-SAFE"].status != "proved"


@pytest.mark.parametrize("mutant", ["mutant:double-enqueue", "mutant:unlocked-decision"])
def test_auxiliary_invariants_do_not_prove_a_mutant(mutant: str) -> None:
    ts = build(mutant)
    report = prove(ts, aux=aux_invariants(ts), max_k=1)
    assert report.dropped
    assert any(r.status != "proved" for r in report.results.values())


@pytest.mark.parametrize("n", [2])
def test_reference_terminates_by_a_ranking_function(n: int) -> None:
    ts, report, aux = _proof(n)
    inv = [q for q in [type_ok_property(), *ts.properties, *aux]
           if q.kind == "invariant" and q.id in report.inductive]
    res = termination(ts, inv)
    assert res.ok, res.failures
    assert "wake" in res.actions and "spawn" not in res.actions


def test_ranking_fails_when_the_environment_is_not_restricted() -> None:
    ts, report, aux = _proof(2)
    inv = [q for q in [type_ok_property(), *ts.properties, *aux]
           if q.kind == "invariant" and q.id in report.inductive]
    res = check_ranking(ts, reference_rank(ts), inv)  # every action, spawns included
    assert not res.ok
    assert any(a in f for f in res.failures for a in ENVIRONMENT_ACTIONS)


def test_progress_fails_without_the_await_cycle_exception() -> None:
    """Two tasks awaiting each other's JoinHandle sleep forever: the only stuck states."""
    ts, report, aux = _proof(2)
    inv = [q for q in [type_ok_property(), *ts.properties, *aux]
           if q.kind == "invariant" and q.id in report.inductive]
    fair = [a.name for a in ts.actions if a.name not in ENVIRONMENT_ACTIONS]

    def final(s: View, o: Ops) -> Any:
        return o.Or(s.loop == 5, s.loop == 0)

    res = check_ranking(ts, reference_rank(ts), inv, actions=fair, final=final)
    assert not res.ok
    assert res.counterexample is not None
    st = {k: v for k, v in res.counterexample.items() if k.endswith("@0")}
    assert st["join@0"] == (1, 0)  # the await cycle
    ok = check_ranking(ts, reference_rank(ts), inv, actions=fair,
                       final=lambda s, o: o.Or(final(s, o), await_deadlock(s, o, 2)))
    assert ok.ok, ok.failures
