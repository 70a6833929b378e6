"""The exhaustive checker: every variant's verdicts match EXPECTED, every mutant is caught with
a shortest counterexample that replays on the concrete oracle."""

from __future__ import annotations

import functools
import itertools

import pytest
from refexec.models import reference
from refexec.models.concrete import ConcreteModel
from refexec.models.exhaustive import ExhaustiveResult, explore, format_path
from refexec.models.variants import (
    EXPECTED,
    MAY_NOT_FIRE,
    MUTANTS,
    VARIANTS,
    build,
    expected_violations,
    witnesses_for,
)


@functools.cache
def result(variant: str) -> ExhaustiveResult:
    return explore(build(variant), witnesses=witnesses_for(variant))


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_verdicts_match_expected(variant: str) -> None:
    r = result(variant)
    assert r.complete
    got = {pid: pr.holds for pid, pr in r.properties.items()}
    assert got == EXPECTED[variant], {
        pid: (pr.steps, format_path(build(variant), pr.counterexample or []))
        for pid, pr in r.properties.items() if pr.holds != EXPECTED[variant][pid]
    }
    assert set(r.never_fired) <= MAY_NOT_FIRE[variant]


@pytest.mark.parametrize("variant", MUTANTS)
def test_every_mutant_is_caught_with_a_replayable_counterexample(variant: str) -> None:
    r = result(variant)
    system = build(variant)
    model = ConcreteModel(system)
    caught = expected_violations(variant)
    assert caught
    lengths = []
    for pid in caught:
        path = r.properties[pid].counterexample
        assert path is not None, pid
        lengths.append(len(path) - 1)
        # replay on the oracle: every step is enabled and yields the recorded state
        state = model.initial()
        assert path[0].state == state
        for prev, step in itertools.pairwise(path):
            assert step.action is not None
            nxt = model.step(prev.state, step.action, **step.params)
            assert nxt == step.state
        last = path[-1]
        if system.property(pid).kind == "invariant":
            assert pid in model.check(last.state)
            assert all(pid not in model.check(s.state) for s in path[:-1])
        else:
            assert pid in model.check_step(path[-2].state, last.state, last.action or "",
                                            last.params)
    assert min(lengths) <= 12, f"{variant} is caught only by counterexamples of {lengths} steps"


def test_reference_task_states_move_only_along_table_rows() -> None:
    """Every st change in every reachable reference transition is a TRANSITIONS row."""
    from refexec.state import TRANSITIONS, TaskEvent, TaskState  # noqa: PLC0415

    system = reference.build(reference.default_bounds(2, remote=0, spawners=0))
    model = ConcreteModel(system)
    rows = {(None if b is None else int(b), int(a)) for (b, _), a in TRANSITIONS.items()}
    # a cancel requested during a poll is applied as the poll returns: PENDING then CANCEL rows
    rows |= {(b, int(TRANSITIONS[(TaskState(a), TaskEvent.CANCEL)])) for b, a in rows
             if (TaskState(a), TaskEvent.CANCEL) in TRANSITIONS}
    seen, frontier = {model.freeze(model.initial())}, [model.initial()]
    while frontier:
        s = frontier.pop()
        for a, p in model.enabled(s):
            n = model.successor(s, a, p)
            for t, (x, y) in enumerate(zip(s["st"], n["st"], strict=False)):
                if x != y:
                    before = None if x == reference.UNSPAWNED else x
                    assert (before, y) in rows, (a.label(p), t, x, y)
            k = model.freeze(n)
            if k not in seen:
                seen.add(k)
                frontier.append(n)
    assert TaskEvent.LOST in {e for (_, e) in TRANSITIONS}
    assert len(seen) > 1000 and TaskState.NOTIFIED in {st for k in seen for st in k[0]}


def test_depth_limit_reports_incomplete() -> None:
    r = explore(build("reference"), max_depth=3)
    assert not r.complete and r.depth == 3
    assert all(pr.holds for pr in r.properties.values())
    assert r.states_per_second > 0


@pytest.mark.deep
def test_reference_holds_for_three_tasks() -> None:
    r = explore(reference.build(reference.default_bounds(3, join=0)))
    assert r.complete and not r.violated()
