"""The trace file format (``spec/TRACE-FORMAT.md``): header, strict parsing, streaming reads, and
checking a file end to end against the model its header names."""

from __future__ import annotations

import importlib
import io
import itertools
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from refexec import Executor, SimpleExecutor, Trace, TraceEvent
from refexec.models.trace_file import TraceFileError, TraceFileResult, check_trace_file
from refexec.trace import (
    MAX_LINE_BYTES,
    TraceFormatError,
    TraceHeader,
    TraceReader,
    attach_trace,
)

SPEC = Path(__file__).resolve().parent.parent / "spec" / "TRACE-FORMAT.md"
SPAWN = '{"event": "spawn", "task": 1, "poll": 0}'


def _hello(executor: Any) -> Trace:
    hello = importlib.import_module("refexec.examples.hello")
    tr = Trace()
    hello.main(executor(tr))
    return tr


def _reference(tr: Trace) -> Executor:
    return Executor(trace=tr)


def _seed(tr: Trace, capacity: int = 100) -> SimpleExecutor:
    return SimpleExecutor(capacity, trace=tr)


def _lines(tr: Trace) -> list[str]:
    return tr.to_jsonl().splitlines()


def _headerless(tr: Trace) -> str:
    return "".join(e.to_json() + "\n" for e in tr.events)


# ---------------------------------------------------------------------------------------------
# The header: written by the executors, read back
# ---------------------------------------------------------------------------------------------


def test_each_executor_names_itself_and_its_model_in_the_header(tmp_path: Path) -> None:
    ref = _hello(_reference)
    seed = _hello(lambda tr: _seed(tr, 7))
    assert ref.header == TraceHeader("refexec.Executor", "reference", {})
    assert seed.header == TraceHeader("refexec.SimpleExecutor", "seed", {"capacity": 7})
    path = tmp_path / "seed.jsonl"
    seed.dump(path)
    first = json.loads(path.read_text().splitlines()[0])
    assert first == {"format": "refexec-trace", "version": 1, "producer": "refexec.SimpleExecutor",
                     "variant": "seed", "params": {"capacity": 7}}
    back = Trace.load(path)
    assert back.header == seed.header and back.events == seed.events


def test_a_file_without_a_header_still_loads() -> None:
    tr = _hello(_reference)
    back = Trace.from_jsonl(_headerless(tr))
    assert back.header is None and back.events == tr.events


def test_a_trace_no_executor_recorded_gets_a_header_naming_no_model() -> None:
    tr = Trace([TraceEvent("spawn", 1, 0)])
    assert json.loads(_lines(tr)[0]) == {"format": "refexec-trace", "version": 1,
                                         "producer": None, "variant": None, "params": {}}


def test_the_header_keeps_the_producers_meta_and_refuses_other_fields() -> None:
    h = TraceHeader("toy", "seed", {"capacity": 3}, {"host": "x", "argv": ["a"]})
    assert TraceHeader.from_json(h.to_json()) == h
    with pytest.raises(TraceFormatError, match=r"unknown field.*'host'.*under 'meta'"):
        TraceHeader.from_json('{"format": "refexec-trace", "version": 1, "host": "x"}')


def test_one_trace_cannot_record_two_different_executors() -> None:
    tr = Trace()
    Executor(trace=tr)
    with pytest.raises(ValueError, match=r"already records refexec\.Executor.*own Trace"):
        SimpleExecutor(trace=tr)
    seed = Trace()
    SimpleExecutor(5, trace=seed)
    with pytest.raises(ValueError, match=r"capacity=5.*capacity=6"):
        SimpleExecutor(6, trace=seed)


@pytest.mark.parametrize("bad", [[], "trace.jsonl", object(), Trace])
def test_a_trace_argument_that_is_not_a_Trace_fails_at_construction(bad: object) -> None:
    for make in (lambda: Executor(trace=bad), lambda: SimpleExecutor(trace=bad)):  # type: ignore[arg-type]
        with pytest.raises(TypeError, match=r"trace= must be a refexec\.Trace or None, got"):
            make()
    assert attach_trace(None, "x", "reference") is None


# ---------------------------------------------------------------------------------------------
# Strict parsing: every refusal names the line
# ---------------------------------------------------------------------------------------------

BAD_LINES = [
    ('{"event": "poll", "task": true, "poll": 1}', "'task' of a poll event.*the boolean true"),
    ('{"event": "poll", "task": 1, "poll": false}', "'poll' must be.*the boolean false"),
    ('{"event": "poll", "task": 1, "poll": 1.0}', "'poll' must be.*the number 1.0"),
    ('{"event": "poll", "task": "1", "poll": 1}', "'task' of a poll event.*the string '1'"),
    ('{"event": "poll", "task": 1, "poll": -1}', "'poll' must be a non-negative"),
    ('{"event": "poll", "task": 1, "poll": 1, "thread": 3}', "unknown field.*'thread'"),
    ('{"event": "poll", "tsak": 1, "poll": 1}', "unknown field.*'tsak'"),
    ('{"event": "poll", "poll": 1}', "needs the field 'task'"),
    ('{"event": "poll", "task": 1, "task": 2, "poll": 1}', "'task' appears twice"),
    ('{"event": "poll", "task" : 1, "task" :2, "poll": 1}', "'task' appears twice"),
    ('{"event": "poll", "task": {"id": 1}, "poll": 1}', "'task' of a poll event.*an object"),
    ('{"event": {}, "task": 1, "poll": 0}', "'event' must be a string.*an object"),
    ('{"event": ["spawn"], "task": 1, "poll": 0}', "'event' must be a string.*an array"),
    ('{"event": 3, "task": 1, "poll": 0}', "'event' must be a string.*the number 3"),
    ('{"event": "teleport", "task": 1, "poll": 0}', "unknown trace event 'teleport'"),
    ('{"event": "poll", "task": 1, "poll": 1, "detail": 5}', "'detail' must be a string"),
    ('{"event": "run_end", "task": 1, "poll": 0}', "'task' of a run_end event must be null"),
    ('{"event": "poll", "task": null, "poll": 1}', "'task' of a poll event.*null"),
    ("[" * 100_000 + "]" * 100_000, "line longer than"),
    ("[" * 30_000, "nested too deeply"),
    ('{"event": "poll", "task": 1, "poll": 1} {}', "extra text after the JSON object"),
    ('{"event": "poll", "task": 1, "poll": 1', "not JSON: Expecting ',' delimiter"),
    ('["spawn", 1, 0]', "must be a JSON object, got an array"),
    ('{"format": "refexec-trace", "version": 1}', "header .* may only be the first line"),
]


@pytest.mark.parametrize(("line", "reason"), BAD_LINES)
def test_a_malformed_event_line_is_refused_naming_its_line(line: str, reason: str) -> None:
    text = f"{SPAWN}\n\n{line}\n{SPAWN}\n"
    with pytest.raises(TraceFormatError, match=reason) as info:
        Trace.from_jsonl(text)
    assert info.value.line == 3
    assert str(info.value).startswith("line 3: ")


BAD_HEADERS = [
    ('{"format": "refexec-trace", "version": 2}', "version 2 is newer.*upgrade refexec"),
    ('{"format": "refexec-trace", "version": true}', "'version' must be a positive integer"),
    ('{"format": "refexec-trace"}', "'version' must be a positive integer, got null"),
    ('{"format": "otf2", "version": 1}', "not a refexec trace"),
    ('{"format": "refexec-trace", "version": 1, "params": {"capacity": true}}',
     "parameter 'capacity' must be an integer"),
    ('{"format": "refexec-trace", "version": 1, "variant": 1}', "'variant' must be a non-empty"),
    ('{"format": "refexec-trace", "version": 1, "meta": []}', "'meta' must be an object"),
]


@pytest.mark.parametrize(("line", "reason"), BAD_HEADERS)
def test_a_malformed_header_is_refused_naming_its_line(line: str, reason: str) -> None:
    with pytest.raises(TraceFormatError, match=reason) as info:
        Trace.from_jsonl(f"\n{line}\n{SPAWN}\n")
    assert info.value.line == 2


def test_the_fast_path_reads_what_the_strict_parse_reads() -> None:
    """Well-formed lines take an inlined fast path; spacing, key order, colons inside strings
    and explicit nulls take the strict one. Both give the same events."""
    text = "\n".join([
        SPAWN,
        '{"poll": 1, "task": 1, "event": "poll"}',
        '{ "event" : "wake_by_ref" , "task" : 1 , "poll" : 1 , "detail" : null }',
        '{"event": "ready", "task": 1, "poll": 1, "detail": "Error: a:b"}',
        '{"event": "run_end", "task": null, "poll": 0, "detail": "done"}',
    ])
    reader = TraceReader(text.splitlines())
    assert list(reader) == [
        TraceEvent("spawn", 1, 0), TraceEvent("poll", 1, 1), TraceEvent("wake_by_ref", 1, 1),
        TraceEvent("ready", 1, 1, "Error: a:b"), TraceEvent("run_end", None, 0, "done")]
    assert all(type(e) is TraceEvent for e in Trace.from_jsonl(text))
    assert reader.unknown_details == {}


def test_bytes_that_are_not_utf8_are_refused_naming_the_line() -> None:
    data = (SPAWN + "\n").encode() + b'{"event": "spawn", "task": 2, "poll": 0, "detail": "\xff"}\n'
    with pytest.raises(TraceFormatError, match="not UTF-8") as info:
        list(TraceReader(io.BytesIO(data)))
    assert info.value.line == 2


def test_a_line_is_read_no_further_than_the_limit() -> None:
    """A 100 MB line is refused after reading about MAX_LINE_BYTES of it, not all of it."""

    class Endless(io.RawIOBase):
        served = 0

        def readable(self) -> bool:
            return True

        def readinto(self, b: Any) -> int:
            n = len(b)
            b[:n] = b"x" * n
            self.served += n
            return n

    raw = Endless()
    with pytest.raises(TraceFormatError, match="line longer than") as info:
        TraceReader(io.BufferedReader(raw))
    assert info.value.line == 1
    assert raw.served < 4 * MAX_LINE_BYTES


# ---------------------------------------------------------------------------------------------
# Streaming
# ---------------------------------------------------------------------------------------------


def test_the_reader_streams_events_from_an_endless_source() -> None:
    """The reader holds one line at a time: the first events of an endless trace come out
    (``Trace.from_jsonl`` or ``read()`` would never return)."""

    def endless() -> Iterator[str]:
        yield TraceHeader(variant="reference").to_json()
        for i in itertools.count(1):
            yield f'{{"event": "spawn", "task": {i}, "poll": 0}}'

    reader = TraceReader(endless())
    assert reader.header is not None and reader.header.variant == "reference"
    first = list(itertools.islice(reader, 5))
    assert [e.task for e in first] == [1, 2, 3, 4, 5]
    assert reader.line == 6 and reader.events_read == 5


def test_the_reader_maps_event_indices_to_file_lines_across_blank_lines() -> None:
    text = "\n" + TraceHeader().to_json() + "\n\n" + SPAWN + "\n\n\n" + SPAWN + "\n" + SPAWN + "\n"
    reader = TraceReader(io.StringIO(text))
    assert len(list(reader)) == 3
    assert [reader.line_of(i) for i in range(3)] == [4, 7, 8]


def test_a_reader_is_read_once() -> None:
    reader = TraceReader([SPAWN])
    list(reader)
    with pytest.raises(RuntimeError, match="read once"):
        iter(reader)


def test_unknown_detail_values_are_reported_with_their_line(tmp_path: Path) -> None:
    tr = _hello(_reference)
    lines = _lines(tr)
    i = next(n for n, line in enumerate(lines) if '"run_start"' in line)
    lines[i] = lines[i].replace('"detail": "run"', '"detail": "run_forever"')
    path = tmp_path / "t.jsonl"
    path.write_text("\n".join(lines) + "\n")
    result = check_trace_file(path)
    assert any(f"line {i + 1}: detail 'run_forever' of a run_start event" in n
               for n in result.notes), result.notes


# ---------------------------------------------------------------------------------------------
# Checking a file: the header picks the model; disagreements are refused
# ---------------------------------------------------------------------------------------------


def test_a_file_with_a_header_is_checked_against_its_model_with_no_arguments(
        tmp_path: Path) -> None:
    for make, variant in ((_reference, "reference"), (lambda tr: _seed(tr, 5), "seed")):
        path = tmp_path / f"{variant}.jsonl"
        _hello(make).dump(path)
        result = check_trace_file(path)
        assert result.ok and result.variant == variant, result.report()
        assert result.report().splitlines()[0].startswith(f"{path}: recorded by refexec.")
    assert check_trace_file(tmp_path / "seed.jsonl").params == {"capacity": 5}


def test_a_trace_checked_against_another_model_than_its_header_names_is_refused(
        tmp_path: Path) -> None:
    path = tmp_path / "seed.jsonl"
    _hello(_seed).dump(path)
    with pytest.raises(TraceFileError, match="recorded for model 'seed'; checking it against "
                                             "'reference' is refused"):
        check_trace_file(path, "reference")
    with pytest.raises(TraceFileError, match="recorded at capacity 100; checking it at "
                                             "capacity 8 is refused"):
        check_trace_file(path, capacity=8)
    ref = tmp_path / "ref.jsonl"
    _hello(_reference).dump(ref)
    with pytest.raises(TraceFileError, match="capacity is a parameter of the seed model only"):
        check_trace_file(ref, capacity=100)
    assert check_trace_file(path, "seed", capacity=100).ok


def test_a_headerless_file_is_checked_when_the_variant_is_named(tmp_path: Path) -> None:
    path = tmp_path / "old.jsonl"
    path.write_text(_headerless(_hello(lambda tr: _seed(tr, 4))))
    with pytest.raises(TraceFileError, match=r"has no header: name the model.*--variant"):
        check_trace_file(path)
    result = check_trace_file(path, "seed", capacity=4)
    assert result.ok and result.header is None and result.params == {"capacity": 4}
    assert "no header; checked against model 'seed' (capacity=4) as asked" in result.report()
    default = check_trace_file(path, "seed")
    assert default.params == {"capacity": 100}
    assert any("capacity not recorded" in n for n in default.notes)


@pytest.mark.parametrize(("header", "reason"), [
    ('{"format": "refexec-trace", "version": 1, "variant": "tokio"}',
     "names model variant 'tokio', which refexec does not know"),
    ('{"format": "refexec-trace", "version": 1, "variant": "reference", '
     '"params": {"capacity": 3}}', "parameter\\(s\\) 'capacity' it does not have"),
    ('{"format": "refexec-trace", "version": 1, "variant": "seed", "params": {"capacity": 0}}',
     "capacity must be positive, got 0"),
    ('{"format": "refexec-trace", "version": 1}', "a header that names no model variant"),
])
def test_a_header_naming_an_unknown_model_is_refused(tmp_path: Path, header: str,
                                                     reason: str) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text(f"{header}\n{SPAWN}\n")
    with pytest.raises(TraceFileError, match=reason):
        check_trace_file(path)


@pytest.mark.parametrize(("text", "reason"), [
    ("", "is empty"),
    ("\n  \n\n", "has only blank lines"),
    ('{"format": "refexec-trace", "version": 1, "variant": "reference"}\n\n',
     "has a header but no events"),
])
def test_a_file_with_no_events_is_refused_and_says_why(tmp_path: Path, text: str,
                                                       reason: str) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text(text)
    with pytest.raises(TraceFileError, match=f"{reason}: there is no run to check"):
        check_trace_file(path, "reference")


def test_a_name_that_is_no_file_is_refused_clearly(tmp_path: Path) -> None:
    with pytest.raises(TraceFileError, match="is a directory, not a trace file"):
        check_trace_file(tmp_path)
    with pytest.raises(TraceFileError, match="an empty file name"):
        check_trace_file("")
    with pytest.raises(TraceFileError, match="no such file"):
        check_trace_file(tmp_path / "missing.jsonl")


def test_a_malformed_line_in_a_file_is_named_by_file_and_line(tmp_path: Path) -> None:
    lines = _lines(_hello(_reference))
    lines[4] = lines[4].replace('"poll": 1', '"poll": true')
    path = tmp_path / "t.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(TraceFileError) as info:
        check_trace_file(path)
    assert info.value.line == 5
    assert str(info.value).startswith(f"{path}: line 5: 'poll' must be")


def test_an_invalid_trace_reports_the_file_line_of_its_first_unexplained_event(
        tmp_path: Path) -> None:
    lines = _lines(_hello(_reference))
    wake = next(n for n, line in enumerate(lines) if '"wake_by_ref"' in line)
    del lines[wake]
    lines.insert(1, "")  # a blank line: file lines and event indices part ways
    path = tmp_path / "t.jsonl"
    path.write_text("\n".join(lines) + "\n")
    result = check_trace_file(path)
    assert not result.ok and result.exit_status() == 1
    v = result.result.violation
    assert v is not None and result.violation_line is not None
    assert path.read_text().splitlines()[result.violation_line - 1] == v.event.to_json()
    assert f"line {result.violation_line} of {path}" in result.report()
    assert result.to_dict()["violation"]["line"] == result.violation_line


def test_a_valid_prefix_is_reported_as_incomplete() -> None:
    """The checker says whether the trace is a whole run (``complete``); a valid prefix must
    not read as a valid run: its report says INCOMPLETE and its exit status is 3."""
    lines = _hello(_reference).to_jsonl().splitlines()
    result = check_trace_file(io.StringIO("\n".join(lines[:4]) + "\n"))
    assert result.ok and not result.complete and not result and result.exit_status() == 3
    assert result.report().splitlines()[1].startswith("trace INCOMPLETE against")
    assert result.to_dict()["complete"] is False


# ---------------------------------------------------------------------------------------------
# The worked example of spec/TRACE-FORMAT.md
# ---------------------------------------------------------------------------------------------


def _worked_example() -> str:
    text = SPEC.read_text(encoding="utf-8")
    blocks = [b for b in re.findall(r"```python\n(.*?)```", text, re.S)
              if b.startswith("# toy_executor.py")]
    assert len(blocks) == 1
    ns: dict[str, Any] = {"__name__": "toy_executor"}
    exec(compile(blocks[0], str(SPEC), "exec"), ns)  # the spec's own code, as written
    out = io.StringIO()
    ns["main"](out)
    return out.getvalue()


def test_the_worked_example_of_the_trace_format_is_valid() -> None:
    """The producer in spec/TRACE-FORMAT.md section 6 shares no code with refexec; its trace is
    the one the spec prints, and is checked VALID with no flags. The spec's three claims about
    broken variants of it hold too."""
    trace = _worked_example()
    spec = SPEC.read_text(encoding="utf-8")
    shown = re.search(r"\$ python toy_executor.py > toy.jsonl && cat toy.jsonl\n(.*?)\$ ", spec,
                      re.S)
    assert shown is not None and shown.group(1) == trace
    result = check_trace_file(io.StringIO(trace), name="toy.jsonl")
    assert result.ok and result.complete and not result.notes, result.report()
    assert result.report().splitlines()[:2] == [
        "toy.jsonl: recorded by toy-executor 0.1, checked against model 'reference'",
        "trace VALID against the 'reference' model: 15 events, 2 task(s)",
    ]
    kinds = {json.loads(line).get("event") for line in trace.splitlines()[1:]}
    assert {"waker_clone", "wake", "wake_by_ref", "pending", "ready"} <= kinds

    lines = trace.splitlines()
    without_wake = [x for x in lines if x != '{"event": "wake", "task": 1, "poll": 1}']
    r1 = check_trace_file(io.StringIO("\n".join(without_wake)))
    assert not r1.ok and r1.violation_line == 13
    v1 = r1.result.violation
    assert v1 is not None and v1.event == TraceEvent("poll", 1, 2)
    without_clone = [x for x in lines if x != '{"event": "waker_clone", "task": 1, "poll": 1}']
    r2 = check_trace_file(io.StringIO("\n".join(without_clone)))
    assert not r2.ok and r2.violation_line == 11
    v2 = r2.result.violation
    assert v2 is not None and v2.event == TraceEvent("wake", 1, 1)
    lines[4] = lines[4].replace('"poll": 1', '"poll": true')
    with pytest.raises(TraceFileError, match="line 5: 'poll' must be"):
        check_trace_file(io.StringIO("\n".join(lines)))


def test_file_results_are_what_the_cli_prints() -> None:
    """``TraceFileResult`` is the public face of a file check; keep its JSON keys stable."""
    result = check_trace_file(io.StringIO(_worked_example()))
    assert isinstance(result, TraceFileResult)
    assert set(result.to_dict()) == {
        "file", "valid", "complete", "variant", "params", "header", "events", "tasks",
        "violation", "properties_violated", "notes"}


def test_a_timer_trace_is_read_back_and_checked(tmp_path: Path) -> None:
    """The timer driver's events (timers, the virtual clock's jump) are part of the format: a
    trace with them is written, read back and checked against the model's driver (exit 0)."""
    from refexec import VirtualClock, sleep  # noqa: PLC0415

    tr = Trace()
    ex = Executor(trace=tr, clock=VirtualClock(autojump=True))

    async def nap() -> None:
        await sleep(1)

    ex.spawn(nap())
    ex.run()
    kinds = [e.event for e in tr]
    assert {"timer_arm", "timer_fire", "clock_jump"} <= set(kinds)
    path = tmp_path / "driver.jsonl"
    tr.dump(path)
    assert [e.event for e in Trace.load(path)] == kinds
    proc = subprocess.run([sys.executable, "-m", "refexec.cli", "check-trace", str(path)],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "VALID" in proc.stdout and "INVALID" not in proc.stdout
