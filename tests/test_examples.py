"""The bundled examples: each runs on the executors it supports and shows what it is meant to.

Assertions are on results, counters and trace rows (never on timing), and on the output and
exit status of ``refexec run``.
"""

from __future__ import annotations

import json

import pytest
from refexec.cli import main
from refexec.examples import cli_run
from refexec.examples.cli_run import EXAMPLES, format_table, load, run_example
from refexec.trace import TraceEvent

CASES = [(name, kind) for name in EXAMPLES for kind in load(name).EXECUTORS]


@pytest.mark.parametrize(("name", "kind"), CASES)
def test_every_example_runs_and_is_documented(name: str, kind: str) -> None:
    module = load(name)
    assert module.__doc__ and cli_run.describe(module)
    outcome = run_example(name, kind)
    assert outcome.error is None, outcome.error
    kinds = outcome.trace.kinds()
    assert kinds[0] == "spawn" or "run_start" in kinds
    assert "poll" in kinds


def test_every_example_supports_the_reference_executor() -> None:
    for name in EXAMPLES:
        assert "reference" in load(name).EXECUTORS


@pytest.mark.parametrize("kind", ["reference", "simple"])
def test_hello_interleaves_two_tasks_through_a_yield(kind: str) -> None:
    out = run_example("hello", kind)
    assert out.result == ["alice: hello", "bob: hello", "alice: goodbye", "bob: goodbye"]
    polls = [(e.task, e.poll) for e in out.trace if e.event == "poll"]
    assert polls == [(1, 1), (2, 1), (1, 2), (2, 2)]  # both first polls before either second
    life = [k for k in out.trace.kinds(1) if not k.startswith("waker_")]  # simple: per-poll wakers
    assert life == ["spawn", "poll", "wake_by_ref", "pending", "poll", "ready"]


@pytest.mark.parametrize("kind", ["reference", "simple"])
def test_pingpong_each_yield_is_wake_pending_repoll(kind: str) -> None:
    out = run_example("pingpong", kind)
    rounds = 3
    assert out.result == [f"{s} {n}" for n in range(1, rounds + 1) for s in ("ping", "pong")]
    for task in (1, 2):
        kinds = out.trace.kinds(task)
        assert kinds.count("poll") == rounds + 1
        assert kinds.count("wake_by_ref") == kinds.count("pending") == rounds
        numbers = [e.poll for e in out.trace.of_task(task) if e.event == "poll"]
        assert numbers == list(range(1, rounds + 2))


@pytest.mark.parametrize("kind", ["reference", "simple"])
def test_channel_parks_producer_on_full_and_consumer_wakes_it(kind: str) -> None:
    out = run_example("channel", kind)
    assert out.result == [1, 2, 3, 4, 5]
    producer = out.trace.of_task(1)
    # the producer parked on a full channel: it was Pending and then woken by a plain wake
    # (the consumer consuming the clone the send future kept)
    assert any(e.event == "pending" for e in producer)
    assert any(e.event == "wake" for e in producer)
    assert any(e.event == "wake" for e in out.trace.of_task(2))


def test_channel_keeps_exactly_as_many_wakers_as_it_uses_on_the_reference_executor() -> None:
    out = run_example("channel", "reference")
    for task in (1, 2):
        kinds = out.trace.kinds(task)
        # every clone a future kept was consumed by a wake or dropped: none leaked
        assert kinds.count("waker_clone") == kinds.count("wake") + kinds.count("waker_drop")
    assert out.stats["tasks_lost"] == 0


def test_join_returns_results_and_catches_the_worker_exception() -> None:
    out = run_example("join", "reference")
    assert out.result == {"results": [4, 9], "caught": "ValueError: worker 3 failed on purpose"}
    assert out.stats["failed"] == 1
    failed = [e for e in out.trace if e.event == "ready" and e.detail == "ValueError"]
    assert len(failed) == 1
    coordinator = out.trace.kinds(1)
    assert "pending" in coordinator and coordinator[-1] == "ready"


@pytest.mark.parametrize("kind", ["reference", "simple"])
def test_threads_wake_comes_from_another_thread(kind: str) -> None:
    out = run_example("threads", kind)
    assert out.result == ["computed on a thread: 499500"]
    kinds = out.trace.kinds(1)
    assert kinds.count("wake") == 1
    assert kinds.count("poll") == 2
    if kind == "reference":
        wake = next(e for e in out.trace if e.event == "wake")
        assert wake.detail == "inbox"  # taken in through the cross-thread door


def test_lost_task_is_reported_by_the_reference_executor() -> None:
    out = run_example("lost", "reference")
    assert isinstance(out.result, str) and out.result.startswith("reported:")
    assert "was lost" in out.result
    assert out.trace.kinds(1) == ["spawn", "poll", "pending", "lost"]
    assert out.stats["tasks_lost"] == 1


def test_lost_task_is_dropped_in_silence_by_the_simple_executor() -> None:
    out = run_example("lost", "simple")
    assert out.result == "run() returned normally; the task never finished and nothing said so"
    assert out.stats["dropped_pending"] == 1
    assert out.stats["completed"] == 0


def test_deadlock_raises_on_the_simple_executor() -> None:
    out = run_example("deadlock", "simple")
    assert isinstance(out.result, str) and out.result.startswith("DeadlockError:")
    assert "full queue" in out.result


def test_deadlock_wakes_are_merged_on_the_reference_executor() -> None:
    out = run_example("deadlock", "reference")
    assert out.result == "101 wakes during one poll were merged into exactly one more poll"
    assert out.trace.kinds(1).count("wake_by_ref") == 101
    assert out.trace.kinds(1).count("poll") == 2  # exactly one more poll
    assert out.stats["wakes_during_poll"] == 101


# ---------------------------------------------------------------------------------------------
# refexec run


def test_run_without_example_lists_them(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run"]) == 0
    text = capsys.readouterr().out
    for name in EXAMPLES:
        assert name in text
        assert cli_run.describe(load(name)) in text


def test_run_unknown_example_exits_2_naming_the_valid_ones(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["run", "nosuch"]) == 2
    err = capsys.readouterr().err
    assert "unknown example 'nosuch'" in err
    for name in EXAMPLES:
        assert name in err


def test_run_example_on_an_unsupported_executor_exits_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["run", "join", "--executor", "simple"]) == 2
    assert "runs only on: reference" in capsys.readouterr().err


def test_run_prints_a_numbered_trace_table_result_and_counters(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["run", "hello"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    header = next(line for line in lines if "event" in line and "task" in line)
    assert header.split() == ["#", "event", "task", "poll", "detail"]
    assert any(line.split()[:4] == ["4", "poll", "1", "1"] for line in lines if line.strip())
    assert "result:   ['alice: hello', 'bob: hello', 'alice: goodbye', 'bob: goodbye']" in out
    assert "counters: spawned=2, polls=4" in out
    assert "wake_by_ref" in out


def test_run_simple_executor_shows_its_counters(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "lost", "--executor", "simple"]) == 0
    out = capsys.readouterr().out
    assert "executor: simple (SimpleExecutor)" in out
    assert "dropped_pending=1" in out


def test_run_json_is_machine_readable(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "pingpong", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["example"] == "pingpong" and doc["executor"] == "reference"
    assert doc["error"] is None
    assert doc["result"][:2] == ["ping 1", "pong 1"]
    assert doc["stats"]["polls"] == 8
    assert [e["event"] for e in doc["trace"]].count("poll") == 8
    assert {"event", "task", "poll"} <= set(doc["trace"][0])


def test_run_reports_a_failing_example_with_exit_1(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    module = load("hello")

    def broken(executor: object) -> None:
        raise ValueError("boom")

    monkeypatch.setattr(module, "main", broken)
    assert main(["run", "hello"]) == 1
    out = capsys.readouterr().out
    assert "ValueError: boom" in out


def test_format_table_collapses_repeated_rows() -> None:
    events = [TraceEvent("poll", 1, 1)] + [TraceEvent("wake_by_ref", 1, 1)] * 3
    rows = format_table(events)
    assert rows[1].split() == ["1", "poll", "1", "1"]
    assert rows[2].split() == ["2-4", "wake_by_ref", "1", "1", "(x3)"]
