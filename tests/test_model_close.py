"""close() in the reference model (bounds key ``close``, models/reference_close.py): what it
proves, what its mutants break, and that instances without the key are unchanged."""

from __future__ import annotations

import pytest
from refexec.models import reference
from refexec.models.exhaustive import explore
from refexec.models.mutants import MUTANT_SPECS, changed_edges
from refexec.models.properties import CLOSE_IDS, ENVIRONMENT_ACTIONS, Witness
from refexec.models.reference import Loop
from refexec.models.system import Ops, Value, View
from refexec.state import TaskState

S = TaskState
CLOSE_MUTANTS = {
    "close-skips-inbox": "EX-CLOSE-FINAL",
    "close-skips-idle": "EX-CLOSE-FINAL",
    "spawn-after-close": "EX-CLOSED-NO-SPAWN",
}


def test_instances_without_the_key_are_unchanged() -> None:
    for extra in ({}, {"timers": 1, "io": 1}, {"round": 1, "rcancel": 1}):
        ts = reference.build(reference.default_bounds(2, **extra))
        assert not [a.name for a in ts.actions if "close" in a.name]
        assert "closed" not in {v.name for v in ts.variables}
        assert ts.var("loop").sort.hi == Loop.RETURNED
        assert not {p.id for p in ts.properties} & set(CLOSE_IDS)


def test_close_start_is_the_environments_and_the_rest_is_fair() -> None:
    ts = reference.build(reference.default_bounds(1, close=1, rcancel=1))
    names = [a.name for a in ts.actions if "close" in a.name]
    assert names == ["close_start", "close_drain", "close_cancel_drain", "close_drop",
                     "close_end", "closed_wake"]
    assert "close_start" in ENVIRONMENT_ACTIONS
    assert not set(names) - {"close_start"} & set(ENVIRONMENT_ACTIONS)


def _drop_wakes_the_joiner(s: View, o: Ops) -> Value:
    # close() cancelled task 1, which woke task 0 (awaiting its JoinHandle): 0 is queued
    return o.And(s.loop == Loop.CLOSING, s.st[1] == int(S.CANCELLED),
                 s.st[0] == int(S.SCHEDULED), s.done[0] > 0)


def test_close_with_joins_holds_and_a_drop_wakes_the_task_that_awaits_it() -> None:
    ts = reference.build(reference.default_bounds(2, close=1, remote=0, spawners=0))
    w = Witness("drop-wakes-joiner", "a close drop wakes its join waiter", _drop_wakes_the_joiner)
    res = explore(ts, witnesses=[w])
    assert res.complete and res.violated() == []
    assert set(CLOSE_IDS) <= set(res.properties)
    assert res.witnesses["drop-wakes-joiner"] is not None
    assert {"close_start", "close_drop", "close_end"} <= set(res.fired)


@pytest.mark.parametrize("slug", sorted(CLOSE_MUTANTS))
def test_close_mutant_is_one_edge_and_caught(slug: str) -> None:
    spec = next(m for m in MUTANT_SPECS if m.slug == slug)
    assert len(changed_edges(spec.edges)) == 1
    assert spec.catches == (CLOSE_MUTANTS[slug],)
    res = explore(reference.build(spec.bounds, spec.edges, name=f"mutant:{slug}"))
    assert CLOSE_MUTANTS[slug] in res.violated()
    ref = explore(reference.build(spec.bounds))  # the same instance of the reference design
    assert res.complete and ref.complete and ref.violated() == []


def test_a_wake_from_another_thread_after_close_is_dropped_not_posted() -> None:
    ts = reference.build(reference.default_bounds(1, close=1, join=0))
    res = explore(ts)
    assert res.violated() == []
    dropped = res.fired["closed_wake"]  # a path to the first closed_wake
    before, after = dropped[-2].state, dropped[-1].state
    assert before["closed"] and after["inbox"] == before["inbox"]
    assert after["wakers"][0] == before["wakers"][0] - 1


def test_the_default_verify_proves_close_in_the_threads_variant() -> None:
    from refexec.models.variants import EXPECTED, build  # noqa: PLC0415
    from refexec.models.verify import PROVED_MODELS  # noqa: PLC0415

    assert "threads" in PROVED_MODELS
    assert "close_start" in {a.name for a in build("threads").actions}
    assert all(EXPECTED["threads"][pid] for pid in CLOSE_IDS)
    for slug, pid in CLOSE_MUTANTS.items():
        assert EXPECTED[f"mutant:{slug}"][pid] is False
