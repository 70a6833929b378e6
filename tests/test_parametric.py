"""Proofs for any number of tasks: the seed's counter abstraction with N a z3 constant."""

from __future__ import annotations

import pytest
import z3
from refexec.models import reference
from refexec.models.chc import chc_check
from refexec.models.parametric import (
    N,
    counting_invariants,
    seed_any_n,
    seed_parametric,
    transition_independent_of_n,
)
from refexec.models.symbolic import Unroller, Z3Ops
from refexec.models.system import Bounds


def test_side_conditions_hold() -> None:
    conds = transition_independent_of_n(seed_parametric())
    assert conds and all(conds.values()), conds


def test_side_condition_check_detects_a_dependence_on_n() -> None:
    """The check is not vacuous: an initial state that differs from the concrete builds' is
    caught (N = 1 must give unspawned = 1)."""
    ts = seed_parametric()
    u = Unroller(ts, Z3Ops(), tag="p.")
    sv = z3.Solver()
    sv.add(N == 1, u.init(0), u.state(0)["unspawned"].t == 2)
    assert sv.check() == z3.unsat


@pytest.mark.parametrize("pid", ["EX-FINAL", "EX-ONE-POLLER", "EX-RUN-END"])
def test_seed_property_proved_for_any_number_of_tasks(pid: str) -> None:
    rep = seed_any_n([pid], timeout=60)
    assert rep.sound
    assert rep.results[pid].status == "proved"


def test_a_finding_is_not_proved_for_any_n() -> None:
    rep = seed_any_n(["EX-LOST-REPORTED"], timeout=60)
    assert rep.results["EX-LOST-REPORTED"].status == "violated"


def test_the_reference_model_is_not_parametric() -> None:
    """Why the reference's every-N proof reads the model through its own builder
    (models/reference_parametric.py's ParamBuilder, which overrides the task-collection and
    queue operations): the fixed-N builder iterates over the tasks, so a symbolic N is rejected
    at build time rather than silently mis-encoded."""
    with pytest.raises((TypeError, z3.Z3Exception)):
        reference.build(Bounds(N, dict(reference.default_bounds(2).extra)))  # type: ignore[arg-type]


def test_counting_invariants_are_inductive_for_every_n() -> None:
    assume, ok = counting_invariants(seed_parametric())
    assert ok and [p.id for p in assume] == ["TYPE-OK", "AUX-SEED-TASKS"]


def test_type_ok_alone_is_not_inductive_for_every_n() -> None:
    """The counting invariant does real work: without it TYPE-OK (0 <= cnt <= N) is not
    preserved (a task moved into a class already holding N)."""
    assume, ok = counting_invariants(seed_parametric(), aux=[])
    assert not ok and assume == []


@pytest.mark.deep
def test_run_end_for_every_n_is_not_found_without_the_counting_invariant() -> None:
    """Without the proved counting invariant Spacer does not prove EX-RUN-END for every N in
    20 s (it needs ``cnt >= 0`` and the sum with N a parameter): what the assumption buys."""
    ts = seed_parametric()
    res = chc_check(ts, ts.property("EX-RUN-END"), timeout=20, params=[N])
    assert res.result.status == "unknown"
