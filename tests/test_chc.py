"""The unbounded CHC engine (z3 Spacer) over the same transition relation as BMC."""

from __future__ import annotations

import pytest
from refexec.models import seed
from refexec.models.chc import chc_check
from refexec.models.concrete import ConcreteModel
from refexec.models.exhaustive import explore
from refexec.models.symbolic import TYPE_OK, prove, type_ok_property
from refexec.models.verify import seed_aux_invariants


def _seed(capacity: int = 100):  # type: ignore[no-untyped-def]
    return seed.build(seed.default_bounds(capacity=capacity))


def _assume(ts):  # type: ignore[no-untyped-def]
    aux = seed_aux_invariants(ts)
    pre = prove(ts, [], aux, max_k=1)
    assert TYPE_OK in pre.inductive and "AUX-SEED-TASKS" in pre.inductive
    return [type_ok_property(), *aux]


def _replays(ts, trace) -> None:  # type: ignore[no-untyped-def]
    model = ConcreteModel(ts)
    state = model.initial()
    assert trace.steps[0].state == state
    for st in trace.steps[1:]:
        state = model.step(state, st.action_name, **st.params)
        assert dict(state) == dict(st.state)


def test_seed_lost_task_found_shortest_and_replays() -> None:
    ts = _seed()
    res = chc_check(ts, ts.property("EX-LOST-REPORTED"), timeout=60)
    assert res.result.status == "violated"
    assert res.result.depth == 4
    assert res.result.trace is not None
    _replays(ts, res.result.trace)


@pytest.mark.parametrize("pid", ["EX-ONE-POLLER", "EX-FINAL"])
def test_seed_properties_proved_with_a_rechecked_invariant(pid: str) -> None:
    ts = _seed()
    res = chc_check(ts, ts.property(pid), timeout=60)
    assert res.result.status == "proved"
    assert res.certificate_checked


def test_seed_run_end_proved_assuming_proved_type_ok() -> None:
    ts = _seed()
    res = chc_check(ts, ts.property("EX-RUN-END"), timeout=60, assume=_assume(ts))
    assert res.result.status == "proved" and res.certificate_checked


@pytest.mark.parametrize("capacity", [2, 3])
def test_self_block_at_small_capacity_agrees_with_exhaustive(capacity: int) -> None:
    """The deep finding's mechanics at a capacity where it is shallow: the same length as the
    exhaustive checker's shortest counterexample (capacity + 4 steps)."""
    ts = _seed(capacity)
    res = chc_check(ts, ts.property("EX-NO-SELF-BLOCK"), timeout=60, assume=_assume(ts))
    ex = explore(ts, max_depth=capacity + 6).properties["EX-NO-SELF-BLOCK"]
    assert res.result.status == "violated"
    assert ex.steps == res.result.depth == capacity + 4
    assert res.result.trace is not None
    _replays(ts, res.result.trace)


def test_a_false_invariant_is_not_proved() -> None:
    """Soundness guard: the seed's EX-QUEUE-EXACT is false; Spacer must find it, and a proof of
    it would have to pass the certificate re-check."""
    ts = _seed()
    res = chc_check(ts, ts.property("EX-QUEUE-EXACT"), timeout=60, assume=_assume(ts))
    assert res.result.status == "violated" and res.result.depth == 5


@pytest.mark.deep
def test_seed_self_block_at_capacity_10_found_by_spacer() -> None:
    """Deeper (14 steps). At capacity 100 (104 steps) Spacer does not finish in 15 minutes on
    our machine: see spec/PROOFS.md section 9."""
    ts = _seed(10)
    res = chc_check(ts, ts.property("EX-NO-SELF-BLOCK"), timeout=600, assume=_assume(ts),
                    shorten_below=0)
    assert res.result.status == "violated"
    assert res.result.depth >= 14  # the shortest has 14 steps (exhaustive)
    assert res.result.trace is not None
    _replays(ts, res.result.trace)
