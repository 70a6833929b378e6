"""Trace validation (issue 4 §2): executor traces are behaviours of the model, and only those.

Three kinds of test. Every bundled example, run on each executor it supports, and a set of
scenarios covering each part of the executor's API (joins, cancels in every state, ``step``,
``run_until_stalled``, ``block_on``, other threads, lost tasks, ``close``) yield traces the
checker accepts. Hypothesis-generated programs do too, on both executors. And traces that are
*not* behaviours of the model — an event dropped, a poll out of FIFO order, a poll number off by
one, a lost report while a waker lives, the other executor's trace — are rejected, at the right
event and for the right reason: a checker that accepts everything would pass the first two.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from refexec import (
    Cancelled,
    Context,
    Executor,
    FutureBase,
    Pending,
    Poll,
    Ready,
    SimpleExecutor,
    TaskLost,
    Trace,
    TraceEvent,
    Waker,
    yield_now,
)
from refexec.models.trace_check import TraceCheckError, TraceCheckResult, check_trace

ROOT = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


class Park(FutureBase[None]):
    """Pending once, keeping a clone of the waker in ``slot``; Ready when polled again."""

    def __init__(self, slot: list[Waker], keep: bool = True) -> None:
        self.slot = slot
        self.keep = keep
        self.polled = False

    def poll(self, cx: Context) -> Poll[None]:
        if self.polled:
            return Ready(None)
        self.polled = True
        if self.keep:
            self.slot.append(cx.waker.clone())
        return Pending


class WakeSelfTwice(FutureBase[None]):
    """Woken twice during its own poll (wake_by_ref on the context waker), then Pending."""

    def __init__(self) -> None:
        self.polled = False

    def poll(self, cx: Context) -> Poll[None]:
        if self.polled:
            return Ready(None)
        self.polled = True
        cx.waker.wake_by_ref()
        cx.waker.wake_by_ref()
        return Pending


def valid(trace: Trace, variant: str = "reference", **kw: Any) -> TraceCheckResult:
    r = check_trace(trace, variant, **kw)
    assert r.ok, r.report()
    return r


def reference_run(body: Callable[[Executor], object]) -> Trace:
    tr = Trace()
    ex = Executor(trace=tr)
    body(ex)
    return tr


# ---------------------------------------------------------------------------------------------
# Every bundled example, on every executor it runs on
# ---------------------------------------------------------------------------------------------

cli_run = importlib.import_module("refexec.examples.cli_run")
EXAMPLE_CASES = [
    (name, exe)
    for name in cli_run.EXAMPLES
    for exe in importlib.import_module(f"refexec.examples.{name}").EXECUTORS
]

# What each example shows on the seed's design (the properties the seed model says it breaks).
SEED_EXPECTED: dict[str, set[str]] = {
    "lost": {"EX-LOST-REPORTED"},
    "deadlock": {"EX-NO-SELF-BLOCK", "EX-QUEUE-EXACT"},
}


@pytest.mark.parametrize(("name", "executor"), EXAMPLE_CASES)
def test_every_bundled_example_trace_is_valid(name: str, executor: str) -> None:
    module = importlib.import_module(f"refexec.examples.{name}")
    tr = Trace()
    ex = Executor(trace=tr) if executor == "reference" else SimpleExecutor(trace=tr)
    try:
        module.main(ex)
    except Exception:  # the deadlock example on SimpleExecutor ends in DeadlockError
        assert executor == "simple"
    variant = "reference" if executor == "reference" else "seed"
    r = valid(tr, variant)
    if variant == "reference":
        assert r.violated() == [], r.report()
    else:
        assert set(r.violated()) >= SEED_EXPECTED.get(name, set()), r.report()
    # and the same trace, saved as JSON lines, checks the same through the file path
    assert len(tr) > 0


def test_example_traces_are_rejected_by_the_other_model() -> None:
    """An Executor trace is no seed behaviour and vice versa (SimpleExecutor's per-poll waker
    and duplicate entries; Executor's wake merging): the two models are not interchangeable."""
    hello = importlib.import_module("refexec.examples.hello")
    tr = Trace()
    hello.main(Executor(trace=tr))
    assert not check_trace(tr, "seed").ok
    tr = Trace()
    hello.main(SimpleExecutor(trace=tr))
    bad = check_trace(tr, "reference")
    assert not bad.ok
    assert bad.violation is not None and bad.violation.event.detail == "make_waker"


# ---------------------------------------------------------------------------------------------
# Scenarios over the reference executor's API
# ---------------------------------------------------------------------------------------------


def test_wake_from_another_task() -> None:
    slot: list[Waker] = []

    async def sleeper() -> None:
        await Park(slot)

    async def waker() -> None:
        slot.pop().wake()

    tr = reference_run(lambda ex: (ex.spawn(sleeper()), ex.spawn(waker()), ex.run()))
    valid(tr)
    assert tr.kinds(1) == ["spawn", "poll", "waker_clone", "pending", "wake", "poll", "ready"]


def test_wakes_during_own_poll_give_exactly_one_more_poll() -> None:
    async def main() -> None:
        await WakeSelfTwice()

    tr = reference_run(lambda ex: (ex.spawn(main()), ex.run()))
    valid(tr)
    assert tr.kinds(1).count("poll") == 2


def test_join_and_failed_join() -> None:
    async def child(fail: bool) -> int:
        await yield_now()
        if fail:
            raise ValueError("boom")
        return 7

    async def parent(ex: Executor) -> None:
        assert await ex.spawn(child(False)) == 7
        with pytest.raises(ValueError):
            await ex.spawn(child(True))

    tr = reference_run(lambda ex: (ex.spawn(parent(ex)), ex.run()))
    r = valid(tr)
    assert r.spawned == 3


def test_cancel_in_every_state() -> None:
    """SCHEDULED (before run), IDLE (from another task), during its own poll (deferred until
    the poll returns Pending), and after completion (no event)."""
    slot: list[Waker] = []
    handles: dict[str, Any] = {}

    async def idle() -> None:
        await Park(slot)

    async def self_cancel() -> None:
        handles["self"].cancel()  # deferred: recorded after this poll's pending
        await yield_now()

    async def canceller() -> None:
        handles["idle"].cancel()

    def body(ex: Executor) -> None:
        queued = ex.spawn(yield_now())
        assert queued.cancel()
        handles["idle"] = ex.spawn(idle())
        handles["self"] = ex.spawn(self_cancel())
        ex.run_until_stalled()
        ex.spawn(canceller())
        ex.run()
        assert handles["self"].cancelled() and handles["idle"].cancelled()

    tr = reference_run(body)
    valid(tr)
    assert tr.kinds().count("cancel") == 3


def test_step_run_until_stalled_and_block_on() -> None:
    slot: list[Waker] = []

    async def parked() -> str:
        await Park(slot)
        return "woken"

    def body(ex: Executor) -> None:
        h = ex.spawn(parked())
        ex.spawn(yield_now())
        while ex.step():
            pass
        ex.run_until_stalled()
        slot.pop().wake()  # from outside the loop: posted, taken in by the next drive call
        assert ex.block_on(h) == "woken"
        assert ex.block_on(yield_now()) is None

    valid(reference_run(body))


def test_lost_task_is_reported() -> None:
    async def forgets() -> None:
        await Park([], keep=False)

    def body(ex: Executor) -> None:
        h = ex.spawn(forgets())
        report = ex.run()
        assert report.lost == (h,) or h in report.lost
        with pytest.raises(TaskLost):
            h.result()

    tr = reference_run(body)
    valid(tr)
    assert "lost" in tr.kinds()


def test_waker_dropped_later_makes_the_task_lost() -> None:
    slot: list[Waker] = []

    async def sleeper() -> None:
        await Park(slot)

    async def dropper() -> None:
        slot.pop().drop()

    tr = reference_run(lambda ex: (ex.spawn(sleeper()), ex.spawn(dropper()), ex.run()))
    valid(tr)
    assert tr.kinds(1)[-1] == "lost"


def test_cross_thread_wake_and_spawner() -> None:
    slot: list[Waker] = []
    parked = threading.Event()

    async def sleeper() -> None:
        parked.set()
        await Park(slot)

    def body(ex: Executor) -> None:
        ex.spawn(sleeper())
        spawner = ex.spawner()

        def other() -> None:
            parked.wait(5)
            spawner.spawn(yield_now())
            slot.pop().wake()
            spawner.close()

        th = threading.Thread(target=other)
        th.start()
        ex.run()
        th.join()

    tr = reference_run(body)
    valid(tr)
    assert ("spawn", "inbox") in [(e.event, e.detail) for e in tr]


def test_close_cancels_what_is_left() -> None:
    slot: list[Waker] = []

    async def parked() -> None:
        await Park(slot)

    def body(ex: Executor) -> None:
        h = ex.spawn(parked())
        ex.run_until_stalled()
        ex.close()
        assert h.cancelled()
        with pytest.raises(Cancelled):
            h.result()

    valid(reference_run(body))


# ---------------------------------------------------------------------------------------------
# Generated programs, on both executors
# ---------------------------------------------------------------------------------------------

# A program: per task, a list of steps; each step is what one await does.
STEP = st.sampled_from(["yield", "park", "forget", "wake_one", "drop_one", "self_wake", "spawn"])
PROGRAM = st.lists(st.lists(STEP, max_size=4), min_size=1, max_size=4)


def _run_program(ex: Executor | SimpleExecutor, program: list[list[str]]) -> None:
    slot: list[Waker] = []
    spawned = [0]

    async def task(steps: list[str], depth: int) -> None:
        for s in steps:
            if s == "yield":
                await yield_now()
            elif s == "park":
                await Park(slot)
            elif s == "forget":
                await Park(slot, keep=False)
            elif s == "wake_one" and slot:
                slot.pop(0).wake()
            elif s == "drop_one" and slot:
                slot.pop(0).drop()
            elif s == "self_wake":
                await WakeSelfTwice()
            elif s == "spawn" and depth == 0 and spawned[0] < 3:
                spawned[0] += 1
                ex.spawn(task(["yield", "wake_one"], depth + 1))

    for steps in program:
        ex.spawn(task(steps, 0))
    if isinstance(ex, SimpleExecutor):
        # the seed's run() waits for ever on a parked task whose waker is kept but never used;
        # release them from here once the loop has gone idle, as a test harness would
        done = threading.Event()

        def release() -> None:
            while not done.wait(0.01):
                snap = ex.snapshot()
                if snap.running and not snap.queue and slot:
                    with contextlib.suppress(IndexError):
                        slot.pop(0).drop()

        th = threading.Thread(target=release, daemon=True)
        th.start()
        try:
            ex.run()
        finally:
            done.set()
            th.join()
    else:
        # a parked task whose waker is kept keeps run() open: run until stalled, then drop the
        # wakers nobody used (from outside the loop: posted, taken in by run(), which then
        # reports those tasks lost) and run to the end
        ex.run_until_stalled()
        while slot:
            slot.pop().drop()
        ex.run()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(PROGRAM)
def test_generated_programs_on_executor_give_valid_traces(program: list[list[str]]) -> None:
    tr = Trace()
    ex = Executor(trace=tr)
    _run_program(ex, program)
    r = valid(tr)
    assert r.violated() == []


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(PROGRAM)
def test_generated_programs_on_simple_executor_give_valid_seed_traces(
    program: list[list[str]],
) -> None:
    tr = Trace()
    ex = SimpleExecutor(trace=tr)
    _run_program(ex, program)
    valid(tr, "seed")


# The Hypothesis find ``[['self_wake', 'park', 'park']]`` on SimpleExecutor: its third poll
# holds the per-poll waker, the clone kept from the second poll and a new clone, a task of class
# running/w2 that a seed model built for one held waker per task has no class for (the old
# checker crashed in ``seed.class_index`` with ``(1, 2, 0) is not in list``). Its trace, as
# recorded, pinned here so the test does not depend on the release thread's timing.
SELF_WAKE_PARK_PARK = [
    ("spawn", 1, 0, None), ("run_start", None, 0, "run"), ("waker_clone", 1, 0, "make_waker"),
    ("poll", 1, 1, None), ("wake_by_ref", 1, 1, None), ("wake_by_ref", 1, 1, None),
    ("pending", 1, 1, None), ("waker_drop", 1, 1, None), ("waker_clone", 1, 1, "make_waker"),
    ("poll", 1, 2, None), ("waker_clone", 1, 2, None), ("pending", 1, 2, None),
    ("waker_drop", 1, 2, None), ("waker_clone", 1, 2, "make_waker"), ("poll", 1, 3, None),
    ("waker_clone", 1, 3, None), ("pending", 1, 3, None), ("waker_drop", 1, 3, None),
    ("waker_drop", 1, 3, "thread"), ("waker_drop", 1, 3, "thread"), ("lost", 1, 3, "silent"),
    ("run_end", None, 0, "done"),
]


def test_seed_checker_grows_the_held_waker_bound_for_self_wake_park_park() -> None:
    events = [TraceEvent(e, t, p, d) for e, t, p, d in SELF_WAKE_PARK_PARK]
    for props in (True, False):
        r = check_trace(events, "seed", properties=props)
        assert r.ok and r.complete, r.report()


class CloneMany(FutureBase[None]):
    """Keeps ``k`` clones of its waker during one poll, drops them all at the next."""

    def __init__(self, k: int) -> None:
        self.k = k
        self.kept: list[Waker] = []

    def poll(self, cx: Context) -> Poll[None]:
        if self.kept:
            while self.kept:
                self.kept.pop().drop()
            return Ready(None)
        self.kept = [cx.waker.clone() for _ in range(self.k)]
        cx.waker.wake_by_ref()
        return Pending


@pytest.mark.parametrize("k", [1, 2, 3, 5, 9])
def test_seed_checker_grows_the_held_waker_bound_as_far_as_the_trace_needs(k: int) -> None:
    """A running task holding k clones needs classes up to w=k: the bound doubles on the way
    (1, 2, 4, 8, 16), never a crash."""
    tr = Trace()
    ex = SimpleExecutor(trace=tr)
    ex.spawn(CloneMany(k))
    ex.run()
    assert sum(e.event == "waker_clone" and e.detail is None for e in tr.events) == k
    valid(tr, "seed")


# ---------------------------------------------------------------------------------------------
# The checks must be able to fail: traces that are not behaviours of the model
# ---------------------------------------------------------------------------------------------


def _hello_trace() -> list[TraceEvent]:
    hello = importlib.import_module("refexec.examples.hello")
    tr = Trace()
    hello.main(Executor(trace=tr))
    return list(tr.events)


def _index(events: list[TraceEvent], kind: str, nth: int = 0) -> int:
    return [i for i, e in enumerate(events) if e.event == kind][nth]


def _rejected(events: list[TraceEvent], at: int, reason: str, variant: str = "reference") -> None:
    r = check_trace(events, variant)
    assert not r.ok, "the checker accepted a trace that is not a behaviour of the model"
    assert r.violation is not None
    assert r.violation.index == at, r.report()
    assert reason in r.violation.reason, r.report()
    assert f"event #{at + 1}" in r.report()  # events are shown numbered from 1


def test_rejects_a_missing_wake() -> None:
    """Without its wake_by_ref a yielding task is IDLE: polling it again is no row of the table."""
    ev = _hello_trace()
    del ev[_index(ev, "wake_by_ref")]
    _rejected(ev, _index(ev, "poll", 2), "TRANSITIONS has no row (IDLE, poll)")


def test_rejects_a_wrong_poll_number() -> None:
    ev = _hello_trace()
    i = _index(ev, "poll", 2)
    ev[i] = ev[i]._replace(poll=5)
    _rejected(ev, i, "poll number 5")


def test_rejects_polls_out_of_fifo_order() -> None:
    ev = _hello_trace()
    i, j = _index(ev, "poll", 0), _index(ev, "poll", 1)
    # poll task 2 first: swap the first two poll rounds (poll, wake_by_ref, pending each)
    ev[i:j + 3] = ev[j:j + 3] + ev[i:j]
    _rejected(ev, i, "not at the head of the FIFO ready queue")


def test_rejects_a_second_completion() -> None:
    ev = _hello_trace()
    i = _index(ev, "ready")
    ev.insert(i + 1, ev[i])
    _rejected(ev, i + 1, "no row (COMPLETE, ready)")


def test_rejects_a_lost_report_while_a_waker_lives() -> None:
    tr = Trace()
    slot: list[Waker] = []

    async def sleeper() -> None:
        await Park(slot)

    async def waker() -> None:
        slot.pop().wake()

    ex = Executor(trace=tr)
    ex.spawn(sleeper())
    ex.spawn(waker())
    ex.run()
    ev = list(tr.events)
    i = _index(ev, "pending")
    ev.insert(i + 1, TraceEvent("lost", 1, 1))
    _rejected(ev, i + 1, "1 live waker")


def test_rejects_run_end_while_a_task_is_queued() -> None:
    ev = _hello_trace()
    i = _index(ev, "run_start")
    ev.insert(i + 1, TraceEvent("run_end", None, 0, "done"))
    _rejected(ev, i + 1, "run_end")


def test_rejects_an_unknown_task_and_an_unknown_variant() -> None:
    ev = _hello_trace()
    ev.insert(1, TraceEvent("poll", 99, 1))
    _rejected(ev, 1, "never spawned")
    with pytest.raises(TraceCheckError, match="unknown variant"):
        check_trace(ev, "mutant:whatever")


def test_seed_rejects_a_missing_per_poll_waker_drop() -> None:
    hello = importlib.import_module("refexec.examples.hello")
    tr = Trace()
    hello.main(SimpleExecutor(trace=tr))
    ev = list(tr.events)
    i = _index(ev, "waker_drop")
    del ev[i]
    _rejected(ev, i, "per-poll waker", "seed")


def test_seed_rejects_a_silent_loss_that_did_not_happen() -> None:
    hello = importlib.import_module("refexec.examples.hello")
    tr = Trace()
    hello.main(SimpleExecutor(trace=tr))
    ev = list(tr.events)
    i = _index(ev, "waker_drop")
    ev.insert(i + 1, TraceEvent("lost", 1, 1, "silent"))
    _rejected(ev, i + 1, "not been freed while pending", "seed")


# ---------------------------------------------------------------------------------------------
# refexec check-trace
# ---------------------------------------------------------------------------------------------


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "refexec.cli", "check-trace", *args],
                          capture_output=True, text=True, timeout=120, check=False)


def test_cli_exit_codes_and_json(tmp_path: Path) -> None:
    good = tmp_path / "good.jsonl"
    Trace(_hello_trace()).dump(good)
    ok = _cli(str(good), "--variant", "reference")  # a header naming no variant
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "trace VALID" in ok.stdout

    bad_events = _hello_trace()
    del bad_events[_index(bad_events, "wake_by_ref")]
    bad = tmp_path / "bad.jsonl"
    Trace(bad_events).dump(bad)
    no = _cli(str(bad), "--variant", "reference")
    assert no.returncode == 1
    assert "trace INVALID" in no.stdout and "event #" in no.stdout

    js = _cli(str(bad), "--json", "--variant", "reference")
    assert js.returncode == 1
    data = json.loads(js.stdout)
    assert data["valid"] is False and data["violation"]["event_number"] >= 1

    assert _cli(str(good), "--variant", "seed").returncode == 1
    assert _cli(str(tmp_path / "missing.jsonl")).returncode == 2
    garbage = tmp_path / "garbage.jsonl"
    garbage.write_text('{"event": "teleport", "task": 1, "poll": 0}\n')
    assert _cli(str(garbage)).returncode == 2
    assert _cli(str(good), "--variant", "nope").returncode == 2


# ---------------------------------------------------------------------------------------------
# The executor's own test suite, traced and checked
# ---------------------------------------------------------------------------------------------
#
# This module doubles as a pytest plugin (``-p test_trace_check``, active only when the
# environment variable below names a results file). It makes every Executor and SimpleExecutor
# that a test creates record a trace (unless the test passes its own), and after each test checks
# every trace against its model and appends one JSON line per trace to the results file. The test
# below runs the executor's test files in a subprocess with the plugin, so the executor's tests
# stay as their authors wrote them.

TRACE_RESULTS_ENV = "REFEXEC_TRACE_CHECK_RESULTS"
SUITE = [
    "tests/test_executor.py",
    "tests/test_executor_threads.py",
    "tests/test_simple_executor.py",
    "tests/test_future.py",
    "tests/test_waker.py",
    "tests/test_misuse.py",
    "tests/test_sync.py",
    "tests/test_examples.py",
]
MAX_TASKS, MAX_EVENTS = 40, 4000  # larger traces (stress tests) are counted, not checked
_recorded: list[tuple[str, int, Trace]] = []


def _install_tracing() -> None:
    """Make every executor record a trace; one the test did not ask for stays invisible to it
    (``ex.trace`` is still None), so the executor's tests run exactly as written."""
    import refexec.executor as ex_mod  # noqa: PLC0415
    import refexec.simple as simple_mod  # noqa: PLC0415

    injected: set[int] = set()
    orig_ex = ex_mod.Executor.__init__
    orig_simple = simple_mod.SimpleExecutor.__init__

    def ex_init(self: Executor, *, trace: Trace | None = None, **kw: Any) -> None:
        if trace is None:
            injected.add(id(self))
        tr = Trace() if trace is None else trace
        orig_ex(self, trace=tr, **kw)
        _recorded.append(("reference", 0, tr))

    def simple_init(self: SimpleExecutor, capacity: int = 100, *,
                    trace: Trace | None = None) -> None:
        if trace is None:
            injected.add(id(self))
        tr = Trace() if trace is None else trace
        orig_simple(self, capacity, trace=tr)
        _recorded.append(("seed", capacity, tr))

    def visible(self: Any) -> Trace | None:
        return None if id(self) in injected else self._trace  # type: ignore[no-any-return]

    ex_mod.Executor.__init__ = ex_init  # type: ignore[method-assign]
    simple_mod.SimpleExecutor.__init__ = simple_init  # type: ignore[method-assign]
    ex_mod.Executor.trace = property(visible)  # type: ignore[assignment,method-assign]
    simple_mod.SimpleExecutor.trace = property(visible)  # type: ignore[assignment,method-assign]


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get(TRACE_RESULTS_ENV):
        _install_tracing()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    path = os.environ.get(TRACE_RESULTS_ENV)
    _recorded.clear()
    yield
    if not path:
        return
    with open(path, "a", encoding="utf-8") as out:
        for variant, capacity, tr in _recorded:
            row: dict[str, Any] = {"test": item.nodeid, "variant": variant, "events": len(tr)}
            tasks = len({e.task for e in tr if e.event == "spawn"})
            if not len(tr):
                row["skipped"] = "no events (the executor never ran)"
            elif tasks > MAX_TASKS or len(tr) > MAX_EVENTS:
                row["skipped"] = f"{tasks} tasks, {len(tr)} events"
            else:
                try:
                    r = check_trace(tr, variant, capacity=capacity or 100)
                    row.update(valid=r.ok, violated=r.violated(),
                               report=None if r.ok else r.report())
                except TraceCheckError as e:
                    row.update(valid=False, report=f"cannot check: {e}")
            out.write(json.dumps(row) + "\n")
    _recorded.clear()


FULL_CHANNEL_WAIT = ("tests/test_simple_executor.py::"
                     "test_send_from_another_thread_into_a_full_queue_waits_for_room")
"""A cross-thread send that waits for room: its trace was once outside the model (the send was
traced before the wait); it must be checked, and valid."""


def test_the_executor_test_suite_traces_are_valid(tmp_path: Path) -> None:
    results = tmp_path / "traces.jsonl"
    files = [f for f in SUITE if (ROOT / f).exists()]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(ROOT / "tests"), os.environ.get("PYTHONPATH", "")]))
    env[TRACE_RESULTS_ENV] = str(results)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "test_trace_check",
         "-p", "no:cacheprovider", "-p", "no:randomly", *files],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
    # 0: all passed, 1: some test failed (that is the suite's own business, reported by its own
    # run); anything else means the run itself broke (the plugin, collection)
    assert proc.returncode in (0, 1), proc.stdout[-4000:] + proc.stderr[-2000:]
    rows = [json.loads(line) for line in results.read_text().splitlines()]
    checked = [r for r in rows if "valid" in r]
    assert len(checked) >= 50, f"only {len(checked)} traces were checked"
    assert any(r["test"] == FULL_CHANNEL_WAIT for r in checked), FULL_CHANNEL_WAIT
    bad = [r for r in checked if not r["valid"]]
    assert not bad, "\n\n".join(f"{r['test']} ({r['variant']}):\n{r['report']}" for r in bad)
    # the reference executor's tests never break a property of the reference model
    broken = [r for r in checked if r["variant"] == "reference" and r["violated"]]
    assert not broken, broken


def test_rejects_malformed_executor_wide_events() -> None:
    ev = _hello_trace()
    i = _index(ev, "run_end")
    ev[i] = ev[i]._replace(poll=-1)
    _rejected(ev, i, "poll 0")


def test_a_cancel_from_another_thread_while_the_loop_runs_is_valid() -> None:
    """Posted by another thread while the loop sleeps, recorded when the loop drains it: the
    model's posted cancel (cancel remote=1, then cancel_drain). The checker's model had no
    posted cancels and called this real run INVALID."""
    from refexec.testing.threads_control import control_door, explore  # noqa: PLC0415

    def scenario(ctl: Any) -> None:
        tr = Trace()
        ex = control_door(Executor(trace=tr))
        slot: list[Waker] = []

        async def victim() -> None:
            await Park(slot)

        h = ex.spawn(victim())
        ex.run_until_stalled()
        with ctl.attached("loop"):
            ctl.start("canceller", h.cancel)
            ex.run()
        assert h.cancelled()
        slot.pop().drop()
        r = check_trace(list(tr))
        assert r.ok and r.violated() == [], r.report()

    assert explore(scenario, preemptions=2).complete
