"""The ordering-bug examples (issue 15 section 4) under ``refexec.explore``.

For each example: the buggy program passes its FIFO run (the bug hides in the default order),
every strategy (seeded random, PCT, bounded DFS) finds the bug, the failing schedule replays to
the same failure, and the fixed program is explored exhaustively within a deviation bound with
no failure. Exploration is deterministic (seeded, virtual clock), so these do not flake.
"""

from __future__ import annotations

import inspect
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from refexec import Executor, TaskLost, VirtualClock
from refexec.examples import cancelled_waiter, check_then_act, lossy_channel, timeout_swallow
from refexec.explore import ExplorationFailed, Failure, explore, replay
from refexec.schedule import Replay, Schedule
from refexec.stall import LEGITIMATE_WAIT, LOST_WAKE, FrameInfo, Verdict

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # the benchmarks package lives beside tests/, not installed
    sys.path.insert(0, str(ROOT))

from benchmarks import explore_bench  # noqa: E402

EXAMPLES: dict[str, tuple[ModuleType, str]] = {
    "check_then_act": (check_then_act, "always"),
    "cancelled_waiter": (cancelled_waiter, "stall"),
    "lossy_channel": (lossy_channel, "lost"),
    "timeout_swallow": (timeout_swallow, "always"),
}
BUDGET = 500
"""Schedules per strategy: far more than any example needs (see benchmarks/explore_bench.py)."""
FIXED_BOUND = 2


@pytest.mark.parametrize("name", EXAMPLES)
def test_the_bug_hides_under_fifo(name: str) -> None:
    module, _kind = EXAMPLES[name]
    report = explore(module.buggy, strategy="fifo")
    assert report.failure is None, report
    assert report.schedules_run == 1


@pytest.mark.parametrize("strategy", ["random", "pct", "dfs"])
@pytest.mark.parametrize("name", EXAMPLES)
def test_every_strategy_finds_the_bug_and_the_schedule_replays(name: str, strategy: str) -> None:
    module, kind = EXAMPLES[name]
    report = explore(module.buggy, strategy=strategy, seed=1, max_schedules=BUDGET)
    failure = report.failure
    assert failure is not None, report
    assert failure.kind == kind, failure
    assert failure.schedule.deviations >= 1  # FIFO passes: it took a different order
    with pytest.raises(ExplorationFailed) as info:
        replay(module.buggy, failure.schedule)
    assert info.value.failure.kind == kind
    assert str(info.value.failure.schedule) == str(failure.schedule)


@pytest.mark.parametrize("name", EXAMPLES)
def test_the_fix_passes_every_schedule_within_the_bound(name: str) -> None:
    module, _kind = EXAMPLES[name]
    report = explore(module.fixed, strategy="dfs", bound=FIXED_BOUND, max_schedules=100_000)
    assert report.failure is None, report
    assert report.exhaustive, report
    assert report.coverage.startswith("exhaustive: all ")
    buggy = explore(module.buggy, strategy="dfs", bound=FIXED_BOUND, max_schedules=100_000)
    assert buggy.failure is not None  # the same bound does reach the bug


def _line(fn: Any, text: str) -> FrameInfo:
    lines, first = inspect.getsourcelines(fn)
    (i,) = [i for i, line in enumerate(lines) if text in line]
    return FrameInfo(inspect.getsourcefile(fn) or "", first + i, fn.__name__)


def test_lossy_channel_verdict_names_the_line_that_dropped_the_waker() -> None:
    failure = explore(lossy_channel.buggy, strategy="dfs").failure
    assert failure is not None
    ex = Executor(policy=Replay(failure.schedule), clock=VirtualClock(autojump=True))
    h = ex.spawn(lossy_channel.buggy())
    report = ex.run_until_stalled()
    assert isinstance(h.exception(), TaskLost)  # the main task awaited the lost receiver
    (v,) = report.verdicts
    assert v.kind == LOST_WAKE
    assert v.dropped_at is not None
    assert v.dropped_at.where == _line(lossy_channel._LossyGet.poll, "box.waker = cx.waker")
    assert v.chain == (_line(lossy_channel.receiver, "return await box.get()"),)
    ex.close()


def test_cancelled_waiter_stall_verdicts_through_on_failure() -> None:
    def why(ex: Executor, failure: Failure) -> tuple[Verdict, ...]:
        return ex.diagnose()

    failure = explore(cancelled_waiter.buggy, strategy="dfs", on_failure=why).failure
    assert failure is not None and failure.kind == "stall"
    verdicts = failure.verdict
    assert isinstance(verdicts, tuple)
    main, worker = sorted(verdicts, key=lambda v: v.task)
    assert main.kind == LEGITIMATE_WAIT
    assert "a refexec Event that is not set" in main.why
    assert _line(cancelled_waiter.service, "await pool.finished.wait()") in main.chain
    assert worker.kind == LEGITIMATE_WAIT  # the main task could still notify it
    assert worker.chain == (_line(cancelled_waiter.worker, "await pool.signal.wait()"),
                            _line(cancelled_waiter.Signal.wait, "await _Park(w)"))


def test_the_exploration_benchmark_runs_and_counts_schedules_to_each_bug() -> None:
    rows = explore_bench.failure_rows(seeds=2, budget=100)
    assert [r["example"] for r in rows] == list(explore_bench.EXAMPLES)
    for r in rows:
        assert isinstance(r["dfs"], int) and r["dfs"] >= 2  # FIFO (run 1) passes
        for strategy in ("random", "pct"):
            assert r[strategy]["found"] == "2/2"
    cost = explore_bench.cost_rows(tasks=2, yields=2, runs=2)
    assert {"refexec FIFO loop (exploration off)", "refexec.explore random"} <= {
        c["what"] for c in cost}
    assert all(c["steps_per_run"] == 6 and c["us_per_step"] > 0 for c in cost)


@pytest.mark.parametrize("name", EXAMPLES)
def test_dfs_targeted_runs_find_each_example_on_the_first_schedule_after_fifo(name: str) -> None:
    """Where the FIFO run's tasks touch each other (a poll waking, cancelling or dropping the
    waker of another task), DFS first switches to another ready task and lets it run on: each
    example's bug is right there. (Measured in benchmarks/EXPLORE_RESULTS.md: seeded random
    needs a median of 3 to 6.5 schedules on these.)"""
    module, kind = EXAMPLES[name]
    report = explore(module.buggy, strategy="dfs", max_schedules=BUDGET, shrink=False)
    assert report.failure is not None and report.failure.kind == kind
    assert report.failure.run == 1  # run 0 is FIFO


def test_targeted_runs_are_within_the_bound_and_not_counted_twice(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The targeted runs change the order, not the set: the same schedules as the DFS alone
    (targeted runs turned off), each counted once, all within the bound."""
    for name, (module, _kind) in EXAMPLES.items():
        for bound in (1, 2):
            report = explore(module.fixed, strategy="dfs", bound=bound, max_schedules=10_000)
            assert report.failure is None and report.exhaustive, name
            assert report.distinct == report.schedules_run
            assert all(Schedule.parse(s).deviations <= bound for s in report.schedules)
            with monkeypatch.context() as m:
                m.setitem(explore.__globals__, "MAX_TARGETED", 0)
                alone = explore(module.fixed, strategy="dfs", bound=bound, max_schedules=10_000)
            assert alone.reruns == 0
            assert set(alone.schedules) == set(report.schedules), name
