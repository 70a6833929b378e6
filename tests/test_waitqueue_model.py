"""The ``waitqueue`` model: its mutants are one-edge changes, its proof holds, and the races the
primitives promise to handle are reachable (and handled) in it."""

from __future__ import annotations

from refexec.models import waitqueue as wq
from refexec.models.concrete import ConcreteModel
from refexec.models.symbolic import prove
from refexec.models.variants import EXPECTED, MUTANTS, WQ_MUTANTS, build


def test_every_wait_queue_mutant_changes_exactly_one_edge_and_is_registered() -> None:
    assert len({m.slug for m in wq.WQ_MUTANTS}) == len(wq.WQ_MUTANTS) == 8
    for m in wq.WQ_MUTANTS:
        assert len(wq.changed_edges(m.edges)) == 1, m.slug
        assert f"mutant:{m.slug}" in MUTANTS
        assert [pid for pid, ok in EXPECTED[f"mutant:{m.slug}"].items() if not ok]
    assert set(WQ_MUTANTS) <= set(MUTANTS)
    assert all(EXPECTED["waitqueue"].values())


def test_wait_queue_properties_are_inductive_at_four_tasks_and_two_permits() -> None:
    """The proof does not depend on the default instance: N = 4, P = 2 (the --deep bounds)."""
    ts = wq.build(wq.default_bounds(4, permits=2, faults=1))
    report = prove(ts, None, wq.aux_invariants(ts), max_k=1)
    assert report.dropped == {}
    assert {pid for pid, r in report.results.items() if r.status == "proved"} >= set(wq.WQ_IDS)


def test_model_cancel_of_a_granted_waiter_passes_the_permit_to_the_next() -> None:
    m = ConcreteModel(build("waitqueue"))
    s = m.step(m.initial(), "acquire", t=0)
    s = m.step(s, "park", t=1)
    s = m.step(s, "park", t=2)
    s = m.step(s, "release", t=0)
    assert s["ws"] == (wq.OUT, wq.GRANTED, wq.QUEUED)
    s2 = m.step(s, "cancel_chosen", t=1)
    assert s2["ws"] == (wq.OUT, wq.OUT, wq.GRANTED) and s2["permits"] == 0
    assert m.check_step(s, s2, "cancel_chosen", {"t": 1}) == []


def test_model_broadcast_is_not_passed_to_a_waiter_that_parked_later() -> None:
    m = ConcreteModel(build("waitqueue"))
    s = m.step(m.initial(), "acquire", t=0)
    s = m.step(s, "park", t=1)
    s = m.step(s, "notify_all")
    s = m.step(s, "park", t=2)
    s = m.step(s, "cancel_chosen", t=1)
    assert s["ws"] == (wq.OUT, wq.OUT, wq.QUEUED)


def test_the_swallowing_mutant_loses_the_permit() -> None:
    spec = next(m for m in wq.WQ_MUTANTS if m.slug == "wq-cancel-swallows-grant")
    m = ConcreteModel(wq.build(spec.bounds, spec.edges))
    s = m.step(m.initial(), "acquire", t=0)
    s = m.step(s, "park", t=1)
    s = m.step(s, "release", t=0)
    s = m.step(s, "cancel_chosen", t=1)
    assert s["permits"] == 0 and s["held"] == (0, 0)
    assert "WQ-PERMITS-CONSERVED" in m.check(s)


def test_model_a_raising_wake_in_a_broadcast_reaches_the_caller_and_spares_the_others() -> None:
    """WQ-FAULT-*: t1's waker raises; notify_all still wakes t2 (and t1), and raised is set."""
    m = ConcreteModel(build("waitqueue"))
    s = m.step(m.initial(), "acquire", t=0)
    s = m.step(s, "park_faulty", t=1)
    s = m.step(s, "park", t=2)
    s2 = m.step(s, "notify_all")
    assert s2["ws"] == (wq.OUT, wq.BROADCAST, wq.BROADCAST) and s2["wakes"] == (0, 1, 1)
    assert s2["raised"] and m.check_step(s, s2, "notify_all", {}) == []
    assert not m.step(s2, "poll_chosen", t=2)["raised"]


def test_model_a_raising_wake_on_release_keeps_the_grant_with_the_waiter() -> None:
    m = ConcreteModel(build("waitqueue"))
    s = m.step(m.initial(), "acquire", t=0)
    s = m.step(s, "park_faulty", t=1)
    s = m.step(s, "release", t=0)
    assert s["ws"][1] == wq.GRANTED and s["permits"] == 0 and s["raised"]


def test_the_stop_at_fault_mutant_leaves_a_chosen_waiter_unwoken() -> None:
    spec = next(m for m in wq.WQ_MUTANTS if m.slug == "wq-fault-stops-wakes")
    m = ConcreteModel(wq.build(spec.bounds, spec.edges))
    s = m.step(m.initial(), "acquire", t=0)
    s = m.step(s, "park_faulty", t=1)
    s = m.step(s, "park", t=2)
    s2 = m.step(s, "notify_all")
    assert s2["ws"][2] == wq.BROADCAST and s2["wakes"][2] == 0
    assert "WQ-FAULT-ISOLATED" in m.check_step(s, s2, "notify_all", {})
