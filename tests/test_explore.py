"""refexec.explore / replay / always / sometimes: finding ordering bugs in users' programs.

The programs here are small and have one real ordering bug each (or are the fixed version).
Every verdict is deterministic: same seed, same schedules, same failure.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
from typing import Any

import pytest
import refexec
from hypothesis import HealthCheck, find, given, settings
from refexec import Executor, Schedule
from refexec.explore import ExplorationFailed, Failure
from refexec.models.trace_check import check_trace
from refexec.testing import schedules


def bank(*, fixed: bool = False) -> Any:
    """Two withdrawals of 80 from 100: check-then-act over an await. FIFO happens to pass (the
    first withdrawal finishes before the second is spawned); other orders overdraw."""

    async def main() -> None:
        state = {"balance": 100}
        lock = refexec.Lock()

        async def withdraw(n: int) -> None:
            if fixed:
                await lock.acquire()
            try:
                if state["balance"] >= n:
                    await refexec.yield_now()
                    state["balance"] -= n
            finally:
                if fixed:
                    lock.release()

        a = refexec.spawn(withdraw(80))
        await refexec.yield_now()
        b = refexec.spawn(withdraw(80))
        await a
        await b
        refexec.always(state["balance"] >= 0, "balance never negative")

    return main


# -- finding the bug ----------------------------------------------------------------------------


def test_fifo_alone_misses_the_bug() -> None:
    report = refexec.explore(bank(), strategy="fifo")
    assert report.failure is None
    assert report.schedules_run == 1
    assert report.coverage == "the FIFO schedule only"


@pytest.mark.parametrize("strategy", ["random", "pct", "dfs"])
def test_each_strategy_finds_the_check_then_act_bug(strategy: str) -> None:
    report = refexec.explore(bank(), strategy=strategy, seed=7, max_schedules=200)
    f = report.failure
    assert f is not None, report
    assert f.kind == "always"
    assert "balance never negative" in f.message
    assert f.schedule.deviations >= 1
    assert f.run >= 1  # not the FIFO run
    with pytest.raises(ExplorationFailed) as info:
        refexec.replay(bank(), f.schedule)
    assert info.value.failure.kind == "always"
    assert info.value.failure.schedule == f.schedule


@pytest.mark.parametrize("strategy", ["random", "pct"])
def test_same_seed_same_verdict(strategy: str) -> None:
    r1 = refexec.explore(bank(), strategy=strategy, seed=3, max_schedules=100)
    r2 = refexec.explore(bank(), strategy=strategy, seed=3, max_schedules=100)
    assert r1.failure is not None and r2.failure is not None
    assert (r1.schedules_run, str(r1.failure.schedule), r1.schedules) == (
        r2.schedules_run, str(r2.failure.schedule), r2.schedules)


def test_failure_is_shrunk_towards_fifo() -> None:
    report = refexec.explore(bank(), strategy="random", seed=11, max_schedules=200)
    f = report.failure
    assert f is not None
    assert f.schedule.deviations == 1  # one reordering suffices
    assert f.original is None or f.original.deviations >= f.schedule.deviations
    text = str(f)
    assert "replay: refexec.replay(main, " in text and str(f.schedule) in text


def test_dfs_finds_it_within_one_deviation() -> None:
    report = refexec.explore(bank(), strategy="dfs", bound=1, max_schedules=1000)
    assert report.failure is not None and report.failure.kind == "always"
    assert report.failure.schedule.deviations == 1


# -- the fixed version: stated coverage, no failure ---------------------------------------------


def test_fixed_version_is_exhaustively_clean_within_the_bound() -> None:
    report = refexec.explore(bank(fixed=True), strategy="dfs", bound=2, max_schedules=10_000)
    assert report.failure is None, report
    assert report.exhaustive
    assert report.coverage.startswith(
        f"exhaustive: all {report.schedules_run} schedules with <= 2 deviation(s) from FIFO")
    assert report.distinct == report.schedules_run  # DFS never runs a schedule twice
    assert report.steps >= report.schedules_run * 5  # every run takes at least the FIFO steps


def test_pct_report_states_its_bound() -> None:
    report = refexec.explore(bank(fixed=True), strategy="pct", depth=2, max_schedules=50)
    assert report.failure is None
    n, k = report.max_tasks_seen, report.max_steps_seen
    assert n == 3 and k > 0  # main and two withdrawals
    assert f"p >= 1/(n*k^(d-1)) = {1 / (n * k):.3g}" in report.coverage
    assert "PCT d=2" in report.coverage


def _interleavings(a: int, b: int) -> set[tuple[str, ...]]:
    out = set()
    for pos in itertools.combinations(range(a + b), a):
        seq = ["b"] * (a + b)
        for p in pos:
            seq[p] = "a"
        out.add(tuple(seq))
    return out


def test_unbounded_dfs_sees_every_interleaving_exactly_once() -> None:
    """Two tasks of three steps each (yield between): C(6, 3) = 20 interleavings of their
    logs; unbounded DFS must produce every one, and no schedule twice."""
    logs: set[tuple[str, ...]] = set()
    runs: list[tuple[str, ...]] = []

    async def main() -> None:
        log: list[str] = []

        async def worker(name: str) -> None:
            for _ in range(3):
                log.append(name)
                await refexec.yield_now()

        a = refexec.spawn(worker("a"))
        b = refexec.spawn(worker("b"))
        await a
        await b
        logs.add(tuple(log))
        runs.append(tuple(log))

    report = refexec.explore(main, strategy="dfs", bound=None, max_schedules=100_000)
    assert report.failure is None and report.exhaustive
    assert logs == _interleavings(3, 3)
    assert report.distinct == report.schedules_run == len(runs) - report.reruns
    assert report.reruns <= refexec.explore.__globals__["MAX_TARGETED"]


def _leaf_deviations(main: Any) -> list[int]:
    """Every leaf of the tree of choices of ``main``, walked independently of explore's DFS
    (a policy that follows a prefix of indices, then FIFO): the deviations of each leaf."""

    class Prefix:
        def __init__(self, prefix: list[int]) -> None:
            self.prefix = prefix
            self.seen: list[int] = []  # the number of options at each step

        def choose(self, kind: str, options: Any) -> int:
            k = len(self.seen)
            self.seen.append(len(options))
            return self.prefix[k] if k < len(self.prefix) else 0

    leaves: list[int] = []
    stack: list[list[int]] = [[]]
    while stack:
        prefix = stack.pop()
        pol = Prefix(prefix)
        ex = Executor(policy=pol, clock=refexec.VirtualClock(autojump=True))
        ex.block_on(main())
        ex.close()
        leaves.append(sum(1 for i in prefix if i))
        for k in range(len(prefix), len(pol.seen)):  # branch off below the prefix
            stack.extend([*prefix, *([0] * (k - len(prefix))), i] for i in range(1, pol.seen[k]))
    return leaves


@pytest.mark.parametrize("bound", [0, 1, 2, 3, None])
def test_bounded_dfs_runs_exactly_the_schedules_within_the_bound(bound: int | None) -> None:
    main = bank(fixed=True)
    leaves = _leaf_deviations(main)
    expected = sum(1 for d in leaves if bound is None or d <= bound)
    report = refexec.explore(main, strategy="dfs", bound=bound, max_schedules=100_000)
    assert report.exhaustive
    assert report.schedules_run == report.distinct == expected


def test_deviation_bound_limits_the_search() -> None:
    counts = [
        refexec.explore(bank(fixed=True), strategy="dfs", bound=b, max_schedules=10_000)
        .schedules_run for b in (0, 1, 2)
    ]
    assert counts[0] == 1
    assert counts[0] < counts[1] < counts[2]


def test_max_schedules_cuts_dfs_short_and_says_so() -> None:
    report = refexec.explore(bank(fixed=True), strategy="dfs", bound=None, max_schedules=3)
    assert report.schedules_run == 3
    assert not report.exhaustive
    assert report.coverage.startswith("incomplete DFS: 3 schedules")


def test_time_budget_stops_between_runs() -> None:
    report = refexec.explore(bank(fixed=True), strategy="random", max_schedules=1000,
                             time_budget=0.0)
    assert report.schedules_run == 1  # the first run always happens


# -- kinds of failure ---------------------------------------------------------------------------


def _one(main: Any, **kw: Any) -> Failure:
    report = refexec.explore(main, strategy="fifo", **kw)
    assert report.failure is not None, report
    return report.failure


def test_deadlock_is_a_stall_and_the_hook_sees_the_executor() -> None:
    async def main() -> None:
        e1, e2 = refexec.Event(), refexec.Event()

        async def a() -> None:
            await e1.wait()
            e2.set()

        async def b() -> None:
            await e2.wait()
            e1.set()

        x, y = refexec.spawn(a()), refexec.spawn(b())
        await x
        await y

    seen: list[int] = []

    def verdict(ex: Executor, failure: Failure) -> str:
        seen.append(len(ex.snapshot().tasks))
        return f"{failure.kind}: {len(ex.snapshot().tasks)} stuck"

    f = _one(main, on_failure=verdict)
    assert f.kind == "stall"
    assert "3 unfinished task(s)" in f.message
    assert seen == [3]
    assert f.verdict == "stall: 3 stuck"
    assert "verdict: stall: 3 stuck" in str(f)


def test_lost_task() -> None:
    class Forgets(refexec.FutureBase[None]):
        def poll(self, cx: refexec.Context) -> refexec.Poll[None]:
            return refexec.Pending  # keeps no waker: nobody can wake the task

    async def main() -> None:
        await Forgets()

    f = _one(main)
    assert f.kind == "lost"
    assert "lost" in f.message


def test_exception_in_an_unawaited_task() -> None:
    async def boom() -> None:
        raise ValueError("bad")

    async def main() -> None:
        refexec.spawn(boom())
        await refexec.yield_now()

    f = _one(main)
    assert f.kind == "exception"
    assert "ValueError('bad')" in f.message


def test_assertion_in_main() -> None:
    async def main() -> None:
        await refexec.yield_now()
        raise AssertionError("nope")

    f = _one(main)
    assert f.kind == "assertion"


def test_always_counts_even_when_caught() -> None:
    async def main() -> None:
        with contextlib.suppress(AssertionError):
            refexec.always(False, "must hold")

    f = _one(main)
    assert f.kind == "always"
    assert "must hold" in f.message


def test_coroutine_never_awaited() -> None:
    async def helper() -> None:
        pass

    async def main() -> None:
        helper()  # forgot the await

    f = _one(main)
    assert f.kind == "never-awaited"
    assert "never awaited" in f.message


def test_livelock_hits_max_steps() -> None:
    async def main() -> None:
        while True:
            await refexec.yield_now()

    f = _one(main, max_steps=100)
    assert f.kind == "livelock"


def test_nondeterministic_program_is_reported_by_dfs() -> None:
    calls = itertools.count()

    async def main() -> None:
        # a different number of tasks each run: the same choices no longer mean the same thing
        hs = [refexec.spawn(refexec.yield_now()) for _ in range(next(calls) % 3 + 2)]
        for h in hs:
            await h

    report = refexec.explore(main, strategy="dfs", bound=None, max_schedules=50)
    assert report.failure is not None
    assert report.failure.kind == "nondeterministic"
    assert "not deterministic" in report.failure.message


def test_replay_records_the_failing_run_in_a_trace() -> None:
    found = refexec.explore(bank(), strategy="dfs", bound=1).failure
    assert found is not None
    tr = refexec.Trace()
    res = refexec.replay(bank(), found.schedule, check=False, trace=tr)
    assert res.failure is not None and res.failure.kind == "always"
    polls = [e.task for e in tr.events if e.event == "poll"]
    assert polls[:3] == [1, 2, 1]  # the run's polls, in the order the schedule took them
    assert len(polls) == res.steps


@pytest.mark.parametrize("program", ["bank", "thread-woken"])
def test_fifo_policy_runs_are_valid_reference_traces(program: str) -> None:
    """The policy-driven loop, taking option 0 every time, is the reference design: its trace
    (held thread messages included) is accepted by the model's trace checker, which holds
    polls to the FIFO rule. (The checker does not read timer events yet.)"""
    main = bank(fixed=True) if program == "bank" else _thread_woken_program([])
    tr = refexec.Trace()
    res = refexec.replay(main, "fifo", trace=tr)
    assert res.failure is None
    result = check_trace(tr)
    assert result.violation is None, result.violation
    assert result.spawned >= 3


def test_every_explored_run_can_be_checked_against_the_model() -> None:
    checked: list[int] = []

    def model(tr: refexec.Trace) -> str | None:
        checked.append(len(tr.events))
        res = check_trace(tr)
        return None if res.violation is None else res.violation.reason

    report = refexec.explore(bank(fixed=True), strategy="fifo", check_trace=model)
    assert report.failure is None
    assert len(checked) == 1 and checked[0] > 0

    def main_first(tr: refexec.Trace) -> str | None:  # a checker with an order of its own
        polls = [e.task for e in tr.events if e.event == "poll"]
        return "task 1 polled twice before task 2" if polls[:2] == [1, 1] else None

    report = refexec.explore(bank(fixed=True), strategy="dfs", bound=1, check_trace=main_first)
    f = report.failure
    assert f is not None and f.kind == "model"
    assert f.message == "task 1 polled twice before task 2"
    assert str(f.schedule) == "1:t1"


def test_replay_of_a_foreign_schedule_diverges() -> None:
    with pytest.raises(ExplorationFailed) as info:
        refexec.replay(bank(), "1:t9")
    assert info.value.failure.kind == "divergence"
    res = refexec.replay(bank(), "fifo")
    assert res.failure is None and str(res.schedule) == "fifo"


# -- sometimes ----------------------------------------------------------------------------------


def test_sometimes_never_true_is_reported() -> None:
    async def main() -> None:
        refexec.sometimes(False, "the rare case")
        refexec.sometimes(True, "the common case")

    report = refexec.explore(main, strategy="random", max_schedules=5)
    assert report.failure is None
    assert report.sometimes_missed == ("the rare case",)
    assert not report.ok


def test_sometimes_true_in_one_schedule_is_enough() -> None:
    async def main() -> None:
        order: list[str] = []

        async def w(name: str) -> None:
            order.append(name)

        a, b = refexec.spawn(w("a")), refexec.spawn(w("b"))
        await a
        await b
        refexec.sometimes(order == ["b", "a"], "b first")

    report = refexec.explore(main, strategy="dfs", bound=None, max_schedules=100)
    assert report.sometimes_missed == ()
    assert report.ok


def test_always_and_sometimes_outside_explore() -> None:
    refexec.sometimes(False, "ignored outside explore")
    refexec.always(True, "fine")
    with pytest.raises(refexec.AlwaysViolated, match="broken"):
        refexec.always(0, "broken")


# -- argument checks ----------------------------------------------------------------------------


def test_bad_arguments_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="strategy"):
        refexec.explore(bank(), strategy="bfs")
    with pytest.raises(TypeError, match="fresh coroutine"):
        refexec.explore(bank()(), strategy="fifo")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_schedules"):
        refexec.explore(bank(), max_schedules=0)
    with pytest.raises(ValueError, match="bound"):
        refexec.explore(bank(), strategy="dfs", bound=-1)


# -- Hypothesis -------------------------------------------------------------------------------


_HYP = settings(derandomize=True, database=None, max_examples=200,
                suppress_health_check=[HealthCheck.too_slow], deadline=None)


@_HYP
@given(schedules(max_deviations=4, max_step=12))
def test_fixed_bank_passes_every_drawn_schedule(schedule: Schedule) -> None:
    refexec.replay(bank(fixed=True), schedule)


def test_hypothesis_finds_and_shrinks_a_failing_schedule() -> None:
    def fails(s: Schedule) -> bool:
        return refexec.replay(bank(), s, check=False).failure is not None

    found = find(schedules(max_deviations=4, max_step=12), fails, settings=_HYP)
    assert found.deviations == 1  # shrunk to a single deviation
    res = refexec.replay(bank(), found, check=False)
    assert res.failure is not None and res.failure.kind == "always"
    # the run's concrete schedule (real labels) replays exactly
    with pytest.raises(ExplorationFailed):
        refexec.replay(bank(), res.schedule)


# -- threads ------------------------------------------------------------------------------------


def test_program_waiting_on_a_thread_is_explored_with_stall_timeout() -> None:
    async def main() -> None:
        got = await refexec.to_thread(lambda: 21 * 2)
        refexec.always(got == 42, "thread result")

    report = refexec.explore(main, strategy="dfs", bound=None, stall_timeout=30,
                             max_schedules=50)
    assert report.failure is None, report
    assert report.exhaustive


def _thread_woken_program(log: list[tuple[str, ...]]) -> Any:
    """b is woken by another thread, posted (and joined) inside a's first poll, so the message
    reaches the inbox at the same point in every run: a deterministic program with a thread."""

    async def main() -> None:
        order: list[str] = []
        box: dict[str, refexec.Waker] = {}

        class WaitForThread(refexec.FutureBase[None]):
            woken = False

            def poll(self, cx: refexec.Context) -> refexec.Poll[None]:
                if self.woken:
                    return refexec.Ready(None)
                self.woken = True
                box["w"] = cx.waker.clone()
                return refexec.Pending

        registered = refexec.Event()

        async def b() -> None:
            registered.set()  # a runs only after this poll, so after the waker is stored
            await WaitForThread()
            order.append("b")

        async def a() -> None:
            await registered.wait()  # (exploration found this one: b may not have run yet)
            th = threading.Thread(target=box.pop("w").wake)
            th.start()
            th.join()
            for i in range(2):
                order.append(f"a{i}")
                await refexec.yield_now()

        hb = refexec.spawn(b())
        await refexec.yield_now()
        ha = refexec.spawn(a())
        await ha
        await hb
        log.append(tuple(order))

    return main


def test_sleep_sets_skip_reordered_thread_wakes_and_keep_every_outcome() -> None:
    with_por: list[tuple[str, ...]] = []
    without: list[tuple[str, ...]] = []
    r1 = refexec.explore(_thread_woken_program(with_por), strategy="dfs", bound=None,
                         max_schedules=10_000)
    r2 = refexec.explore(_thread_woken_program(without), strategy="dfs", bound=None,
                         reduction=False, max_schedules=10_000)
    assert r1.failure is None and r2.failure is None
    assert r1.exhaustive and r2.exhaustive
    assert set(with_por) == set(without)  # the same outcomes ...
    assert r1.schedules_run < r2.schedules_run  # ... from fewer schedules
    assert r1.pruned > 0 and "sleep sets" in r1.coverage


# -- every explored run checked against the model (check_model) ---------------------------------


def test_a_policy_run_names_the_any_policy_model_in_its_trace_header() -> None:
    from refexec.schedule import Fifo, RandomPolicy, Recorder  # noqa: PLC0415

    headers = {}
    for name, policy in (("none", None), ("fifo", Recorder(Fifo())),
                         ("random", Recorder(RandomPolicy(3)))):
        tr = refexec.Trace()
        Executor(trace=tr, policy=policy).close()
        assert tr.header is not None
        headers[name] = tr.header.variant
    assert headers == {"none": "reference", "fifo": "reference", "random": "reference-any"}


def test_a_non_fifo_run_is_valid_for_the_any_policy_model_only() -> None:
    """The FIFO model rejects the deviation (EX-FIFO's rule: the loop polls the head of the
    queue); the reference-any model, the same model with the policy parameter at 'any', explains
    it. The file's header picks the model, with no flags."""
    from refexec.models.trace_file import check_trace_file  # noqa: PLC0415

    tr = refexec.Trace()
    refexec.replay(bank(fixed=True), "1:t1", trace=tr)
    assert tr.header is not None and tr.header.variant == "reference-any"
    assert check_trace(tr, "reference").violation is not None
    res = check_trace(tr, "reference-any")
    assert res.valid, res.report()
    assert res.violated() == []
    lines = "".join(tr._lines())
    from_file = check_trace_file(__import__("io").StringIO(lines))
    assert from_file.variant == "reference-any" and from_file.valid, from_file.report()


@pytest.mark.parametrize("strategy", ["random", "pct", "dfs"])
def test_check_model_accepts_every_run_of_a_correct_executor(strategy: str) -> None:
    checked: list[str] = []
    real = refexec.explore.__globals__["model_check"]

    def spy(tr: refexec.Trace) -> str | None:
        assert tr.header is not None
        checked.append(str(tr.header.variant))
        return real(tr)  # type: ignore[no-any-return]

    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(refexec.explore.__globals__, "model_check", spy)
        report = refexec.explore(bank(fixed=True), strategy=strategy, seed=2, max_schedules=12,
                                 check_model=True)
    assert report.failure is None, report
    assert len(checked) == report.schedules_run + report.reruns
    if strategy != "dfs":  # the first run's policy is Fifo: held to EX-FIFO too
        assert checked[0] == "reference"
    assert set(checked[1:]) == {"reference-any"}
    # a buggy program fails with its own kind: the executor's runs stay explained by the model
    found = refexec.explore(bank(), strategy=strategy, seed=2, max_schedules=50,
                            check_model=True).failure
    assert found is not None and found.kind == "always"


def test_a_broken_policy_seam_is_reported_by_the_model_check(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A seam that polls the chosen task but leaves it queued where it was polls a task that is
    not SCHEDULED later: the run is checked as it is explored, and the model names the event."""
    import refexec.schedule as sched  # noqa: PLC0415

    def leaves_it_queued(ready: Any, i: int) -> None:
        ready.appendleft(ready[i])

    monkeypatch.setattr(sched, "_to_front", leaves_it_queued)
    unchecked = refexec.explore(bank(fixed=True), strategy="random", seed=1, max_schedules=30)
    assert unchecked.failure is None or unchecked.failure.kind != "model"
    report = refexec.explore(bank(fixed=True), strategy="random", seed=1, max_schedules=30,
                             check_model=True)
    f = report.failure
    assert f is not None and f.kind == "model", report
    assert "INVALID against the 'reference-any' model" in f.message
    assert '"event": "poll"' in f.message and "TRANSITIONS has no row" in f.message
    with pytest.raises(ExplorationFailed) as info:
        refexec.replay(bank(fixed=True), f.schedule, check_model=True)
    assert info.value.failure.kind == "model"


def test_a_seam_that_starts_a_poll_inside_a_poll_is_reported_by_the_model_check(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Two polls at once: a seam whose choice point runs the next task from inside the running
    one's poll (a re-entrant poll). The trace shows a poll starting while another task is
    RUNNING, which the model (one poller) never allows."""
    ex_holder: list[Executor] = []

    async def nested() -> None:
        ex = ex_holder[0]
        other = refexec.spawn(refexec.yield_now())
        ex._run_ready(1)  # the broken seam: the next task polled while this one runs
        await other

    def main() -> Any:
        return nested()

    real_executor = refexec.explore.__globals__["Executor"]

    def capture(*a: Any, **kw: Any) -> Executor:
        ex = real_executor(*a, **kw)
        ex_holder[:] = [ex]
        return ex  # type: ignore[no-any-return]

    monkeypatch.setitem(refexec.explore.__globals__, "Executor", capture)
    report = refexec.explore(main, strategy="fifo", check_model=True)
    f = report.failure
    assert f is not None and f.kind == "model", report
    assert "INVALID" in f.message and '"event": "poll"' in f.message


@pytest.mark.parametrize("strategy", ["random", "dfs"])
def test_check_model_accepts_runs_that_sleep_and_wait_on_sockets(strategy: str) -> None:
    """The driver's events (timers, the reactor) are part of the refinement: every explored
    run of a program that sleeps and reads a socket is a behaviour of the model."""
    import socket  # noqa: PLC0415

    def main() -> Any:
        async def prog() -> None:
            a, b = socket.socketpair()
            a.setblocking(False)
            b.setblocking(False)

            async def reader() -> bytes:
                await refexec.wait_readable(a)
                return a.recv(10)

            async def writer() -> None:
                await refexec.sleep(0)
                b.send(b"x")

            h = refexec.spawn(reader())
            refexec.spawn(writer())
            try:
                assert await h == b"x"
            finally:
                a.close()
                b.close()

        return prog()

    report = refexec.explore(main, strategy=strategy, seed=1, max_schedules=30,
                             check_model=True)
    assert report.failure is None, report
    assert report.distinct > 1
