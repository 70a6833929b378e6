"""Vacuity guards and the seed's findings, each with its smallest counterexample."""

from __future__ import annotations

import functools

import pytest
from refexec.models.exhaustive import ExhaustiveResult, Step, explore
from refexec.models.variants import MAY_NOT_FIRE, WITNESSES, build, witnesses_for


@functools.cache
def result(variant: str) -> ExhaustiveResult:
    return explore(build(variant), witnesses=witnesses_for(variant))


@pytest.mark.parametrize("variant", ["reference", "seed", "waitqueue"])
def test_every_action_fires_and_every_witness_is_reachable(variant: str) -> None:
    r = result(variant)
    system = build(variant)
    assert r.never_fired == [] and not MAY_NOT_FIRE[variant]
    assert set(r.fired) == {a.name for a in system.actions}
    ws = witnesses_for(variant)
    assert len(ws) >= 5
    missing = [name for name, path in r.witnesses.items() if path is None]
    assert missing == []


def test_witness_registry_covers_reference_and_mutants() -> None:
    names = {w.name for w in WITNESSES["reference"]}
    assert {"woken-while-running", "asleep-with-wake-in-flight", "unwakeable-task"} <= names


def test_reference_asleep_with_wake_in_flight() -> None:
    path = result("reference").witnesses["asleep-with-wake-in-flight"]
    assert path is not None
    last = path[-1].state
    assert last["loop"] == 4 and last["signal"] and any(last["inbox"])


def names(path: list[Step] | None) -> list[str]:
    assert path is not None
    return [s.action or "init" for s in path]


def test_seed_finding_silent_loss() -> None:
    path = result("seed").properties["EX-LOST-REPORTED"].counterexample
    assert names(path) == ["init", "spawn", "run_start", "poll", "pending"]
    assert path is not None and path[-1].state["lost"] == 1


def test_seed_finding_finished_task_keeps_run_open() -> None:
    path = result("seed").properties["EX-SLEEP-SAFE"].counterexample
    assert names(path) == ["init", "spawn", "run_start", "poll", "waker_clone", "ready"]


def test_seed_finding_duplicate_or_stale_entry() -> None:
    r = result("seed")
    path = r.properties["EX-QUEUE-EXACT"].counterexample
    assert names(path) == ["init", "spawn", "run_start", "poll", "wake_by_ref", "ready"]
    dup = r.witnesses["duplicate-entry"]
    assert names(dup) == ["init", "spawn", "run_start", "poll", "wake_by_ref", "wake_by_ref"]


def test_seed_finding_deadlock_on_its_own_full_queue() -> None:
    path = result("seed").properties["EX-NO-SELF-BLOCK"].counterexample
    assert path is not None
    assert names(path) == ["init", "spawn", "run_start", "poll"] + ["wake_by_ref"] * 101
    assert path[-2].state["qlen"] == 100 and path[-1].state["blocked"]


def test_seed_never_polls_a_completed_task() -> None:
    assert result("seed").properties["EX-FINAL"].holds
