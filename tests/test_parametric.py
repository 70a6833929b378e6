"""Proofs for any number of tasks: the seed's counter abstraction with N a z3 constant."""

from __future__ import annotations

import pytest
import z3
from refexec.models import reference
from refexec.models.parametric import (
    N,
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


@pytest.mark.parametrize("pid", ["EX-FINAL", "EX-ONE-POLLER"])
def test_seed_property_proved_for_any_number_of_tasks(pid: str) -> None:
    rep = seed_any_n([pid], timeout=60)
    assert rep.sound
    assert rep.results[pid].status == "proved"


def test_a_finding_is_not_proved_for_any_n() -> None:
    rep = seed_any_n(["EX-LOST-REPORTED"], timeout=60)
    assert rep.results["EX-LOST-REPORTED"].status == "violated"


def test_the_reference_model_is_not_parametric() -> None:
    """Why the reference is proved only for N = 1..4: its builder iterates over the tasks, so
    a symbolic N is rejected at build time rather than silently mis-encoded."""
    with pytest.raises((TypeError, z3.Z3Exception)):
        reference.build(Bounds(N, dict(reference.default_bounds(2).extra)))  # type: ignore[arg-type]
