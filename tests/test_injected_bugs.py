"""The lockstep machine must fail on every injected executor bug, and only because of the bug.

For each bug of ``tests/injected_bugs.py``: with the bug in, the machine (CI budget) finds a
failure; that very counterexample, replayed from Hypothesis' example database on the correct
executor, passes. ``python tests/test_injected_bugs.py [RUNS]`` measures the catch rate, the
median number of steps to catch and the steps per second (the figures in the report).
"""

from __future__ import annotations

import gc
import statistics
import sys
import time
import warnings
from pathlib import Path

import pytest
from hypothesis import Phase, settings
from hypothesis.database import InMemoryExampleDatabase
from hypothesis.errors import Unsatisfiable
from hypothesis.stateful import run_state_machine_as_test

sys.path.insert(0, str(Path(__file__).parent))

from injected_bugs import BUGS, injected
from refexec.testing.adapter_refexec import ExecutorAdapter
from refexec.testing.lockstep_settings import lockstep_settings
from refexec.testing.machines import reference_machine

# A run() that a lost wake leaves asleep is found by its stall; keep that quick here.
FAST_STALL = 1.5
# The hunt stops at the first failure, so a generous ceiling costs only the hard bugs.
BUG_EXAMPLES = 1000


def hunt(slug: str, *, budget: settings, db: InMemoryExampleDatabase) -> tuple[bool, int]:
    """Run the machine with bug ``slug``: (caught, rules run until and including the catch)."""
    machine = reference_machine(name=f"bug_{slug}")
    old_stall = ExecutorAdapter.stall_timeout
    ExecutorAdapter.stall_timeout = FAST_STALL
    try:
        # a bugged executor may warn about what its bug broke; that is not what is tested here
        with injected(slug), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            try:
                run_state_machine_as_test(
                    machine, settings=settings(budget, database=db, phases=[Phase.generate]))
            finally:
                # what the bug left behind is collected here, where its warnings are ignored,
                # not later inside another test that turns them into errors
                gc.collect()
    except Exception:
        return True, machine.totals["rules"]
    finally:
        ExecutorAdapter.stall_timeout = old_stall
    return False, machine.totals["rules"]


@pytest.mark.parametrize("slug", sorted(BUGS))
def test_lockstep_catches_injected_bug(slug: str) -> None:
    db = InMemoryExampleDatabase()
    # derandomized: CI sees the same examples every run, so a catch is a fact, not a chance
    caught, _ = hunt(slug, budget=settings(lockstep_settings(max_examples=BUG_EXAMPLES),
                                           derandomize=True), db=db)
    assert caught, f"the lockstep machine missed injected bug {slug}: {BUGS[slug].what}"
    saved = [v for k in list(db.data) for v in db.fetch(k)]
    assert saved, "the failing example was not saved"
    # The same counterexample on the correct executor passes: the bug, not the test, failed.
    # (Unless the program cannot be replayed at all: the machine's guards follow the executor,
    # so a bug can open a path the correct executor never offers — then Hypothesis reports the
    # replay unsatisfiable, and the correct executor's own lockstep test stands for it.)
    machine = reference_machine(name=f"bug_{slug}")
    try:
        run_state_machine_as_test(
            machine, settings=settings(lockstep_settings(), database=db, phases=[Phase.reuse]))
    except Unsatisfiable:
        return
    assert machine.totals["rules"] > 0, "the counterexample was not replayed"


def test_every_injected_bug_patches_the_executor() -> None:
    """Each bug's fragment occurs in the executor (a stale one raises, never tests nothing)."""
    for slug in BUGS:
        with injected(slug) as bug:
            assert bug.slug == slug


def measure(runs: int) -> None:  # pragma: no cover - a measurement, run by hand
    """Catch rate, median steps to catch, and steps per second, over ``runs`` seeds per bug."""
    steps: list[int] = []
    caught_n = total = 0
    for slug in sorted(BUGS):
        per = []
        for _ in range(runs):
            ok, n = hunt(slug, budget=lockstep_settings(), db=InMemoryExampleDatabase())
            total += 1
            caught_n += ok
            if ok:
                per.append(n)
                steps.append(n)
        print(f"{slug:26} caught {len(per)}/{runs}  median steps {statistics.median(per or [0])}")
    print(f"catch rate {caught_n}/{total}; median steps to catch {statistics.median(steps)}")
    machine = reference_machine(name="speed")
    t0 = time.perf_counter()
    run_state_machine_as_test(machine, settings=settings(lockstep_settings(max_examples=200),
                                                         database=None))
    dt = time.perf_counter() - t0
    print(f"correct executor: {machine.totals['rules']} rules, {machine.totals['model_actions']}"
          f" model actions in {dt:.1f} s: {machine.totals['rules'] / dt:.0f} steps/s, "
          f"{machine.totals['model_actions'] / dt:.0f} model actions/s")


if __name__ == "__main__":  # pragma: no cover
    measure(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
