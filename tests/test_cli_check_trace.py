"""``refexec check-trace``: no flags for a file with a header, exit status 2 and one line for every
input it cannot check, file line numbers in errors, quiet on a closed pipe, stdin streamed."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from refexec import Executor, SimpleExecutor, Trace, TraceEvent
from refexec.cli import main

PROG = "refexec check-trace: "


def _hello(executor: Any) -> Trace:
    hello = importlib.import_module("refexec.examples.hello")
    tr = Trace()
    hello.main(executor(tr))
    return tr


@pytest.fixture
def ref_file(tmp_path: Path) -> Path:
    path = tmp_path / "ref.jsonl"
    _hello(lambda tr: Executor(trace=tr)).dump(path)
    return path


@pytest.fixture
def seed_file(tmp_path: Path) -> Path:
    path = tmp_path / "seed.jsonl"
    _hello(lambda tr: SimpleExecutor(trace=tr)).dump(path)
    return path


def _check(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(["check-trace", *args])
    out, err = capsys.readouterr()
    return status, out, err


def _refused(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """Run check-trace; assert exit 2 with exactly one line on stderr and nothing on stdout;
    return that line."""
    status, out, err = _check(capsys, *args)
    assert status == 2, (out, err)
    assert out == ""
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert err.startswith(PROG) and "Traceback" not in err
    return err.rstrip("\n")


def _with_line(tmp_path: Path, ref_file: Path, lineno: int, text: str) -> Path:
    """``ref_file`` with line ``lineno`` (1-based) replaced by ``text``."""
    lines = ref_file.read_text().splitlines()
    lines[lineno - 1] = text
    path = tmp_path / "edited.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


# ---------------------------------------------------------------------------------------------
# The header makes flags unnecessary, and wrong flags are refused
# ---------------------------------------------------------------------------------------------


def test_a_file_with_a_header_needs_no_flags(capsys: pytest.CaptureFixture[str], ref_file: Path,
                                             seed_file: Path) -> None:
    for path, variant in ((ref_file, "reference"), (seed_file, "seed")):
        status, out, _ = _check(capsys, str(path))
        assert status == 0, out
        assert f"trace VALID against the '{variant}' model" in out


def test_flags_that_disagree_with_the_header_are_refused(capsys: pytest.CaptureFixture[str],
                                                         ref_file: Path,
                                                         seed_file: Path) -> None:
    line = _refused(capsys, str(seed_file), "--variant", "reference")
    assert "recorded for model 'seed'; checking it against 'reference' is refused" in line
    line = _refused(capsys, str(seed_file), "--capacity", "50")
    assert "recorded at capacity 100; checking it at capacity 50 is refused" in line
    line = _refused(capsys, str(ref_file), "--capacity", "50")
    assert "capacity is a parameter of the seed model only" in line
    status, _, _ = _check(capsys, str(seed_file), "--variant", "seed", "--capacity", "100")
    assert status == 0


def test_a_headerless_file_needs_the_variant(capsys: pytest.CaptureFixture[str],
                                             tmp_path: Path, seed_file: Path) -> None:
    old = tmp_path / "old.jsonl"
    old.write_text("".join(line + "\n" for line in seed_file.read_text().splitlines()[1:]))
    line = _refused(capsys, str(old))
    assert "has no header" in line and "--variant" in line
    status, out, _ = _check(capsys, str(old), "--variant", "seed")
    assert status == 0 and "no header; checked against model 'seed' (capacity=100)" in out


# ---------------------------------------------------------------------------------------------
# Every input that cannot be checked: exit 2, one line, no traceback
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "reason"), [
    ('{"event": {}, "task": 1, "poll": 0}', "line 3: 'event' must be a string naming the event"),
    ('{"event": 7, "task": 1, "poll": 0}', "line 3: 'event' must be a string"),
    ('{"event": ["poll"], "task": 1, "poll": 1}', "line 3: 'event' must be a string"),
    ("[" * 30_000, "line 3: JSON nested too deeply"),
    ('{"event": "poll", "task": true, "poll": 1}', "line 3: 'task' of a poll event"),
    ('{"event": "poll", "task": 1, "poll": false}', "line 3: 'poll' must be"),
    ('{"event": "poll", "task": 1, "poll": 1, "thread": 2}', "line 3: unknown field(s) 'thread'"),
    ('{"event": "poll" "task": 1}', "line 3: not JSON: Expecting ',' delimiter"),
])
def test_a_malformed_line_is_exit_2_and_one_line_naming_it(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, ref_file: Path, text: str,
        reason: str) -> None:
    path = _with_line(tmp_path, ref_file, 3, text)
    line = _refused(capsys, str(path))
    assert line.startswith(f"{PROG}{path}: {reason}"), line


def test_a_json_error_names_the_file_line_not_line_1(capsys: pytest.CaptureFixture[str],
                                                     tmp_path: Path, ref_file: Path) -> None:
    path = _with_line(tmp_path, ref_file, 9, "{not json")
    line = _refused(capsys, str(path))
    assert ": line 9: not JSON" in line and "line 1" not in line


@pytest.mark.parametrize(("name", "reason"), [
    ("", "an empty file name"),
    (".", "is a directory, not a trace file"),
    ("missing.jsonl", "no such file"),
])
def test_a_name_that_is_no_trace_file_is_exit_2_and_one_line(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        name: str, reason: str) -> None:
    monkeypatch.chdir(tmp_path)
    assert reason in _refused(capsys, name)


def test_a_directory_named_by_path_is_refused(capsys: pytest.CaptureFixture[str],
                                              tmp_path: Path) -> None:
    assert _refused(capsys, str(tmp_path)) == f"{PROG}{tmp_path}: is a directory, not a trace file"


@pytest.mark.parametrize(("text", "reason"), [
    ("", "is empty"),
    ("\n\n   \n", "has only blank lines"),
    ('{"format": "refexec-trace", "version": 1, "variant": "reference"}\n', "has a header but "
                                                                           "no events"),
])
def test_a_file_without_events_is_refused_saying_so(capsys: pytest.CaptureFixture[str],
                                                    tmp_path: Path, text: str,
                                                    reason: str) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text(text)
    assert f"{reason}: there is no run to check" in _refused(capsys, str(path), "--variant",
                                                              "reference")


@pytest.mark.parametrize("value", ["0", "-1", "abc", "1.5", ""])
def test_a_capacity_that_is_not_positive_is_refused_naming_the_option(
        capsys: pytest.CaptureFixture[str], seed_file: Path, value: str) -> None:
    line = _refused(capsys, str(seed_file), "--capacity", value)
    assert line == f"{PROG}--capacity must be a positive integer (a channel capacity), got " \
                   f"{value!r}"


def test_json_mode_reports_an_error_as_one_json_object(capsys: pytest.CaptureFixture[str],
                                                       tmp_path: Path, ref_file: Path) -> None:
    path = _with_line(tmp_path, ref_file, 4, '{"event": {}, "task": 1, "poll": 0}')
    status, out, err = _check(capsys, str(path), "--json")
    assert status == 2 and err.count("\n") == 1
    data = json.loads(out)
    assert data["valid"] is None and data["line"] == 4 and "'event' must be" in data["error"]


def test_json_mode_gives_the_line_of_the_violation(capsys: pytest.CaptureFixture[str],
                                                   tmp_path: Path, ref_file: Path) -> None:
    lines = ref_file.read_text().splitlines()
    wake = next(n for n, x in enumerate(lines) if '"wake_by_ref"' in x)
    del lines[wake]
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n")
    status, out, _ = _check(capsys, str(path), "--json")
    data = json.loads(out)
    assert status == 1 and data["valid"] is False
    line = data["violation"]["line"]
    assert TraceEvent.from_json(lines[line - 1])._asdict() == data["violation"]["event"]
    assert data["header"]["producer"] == "refexec.Executor"


def test_a_valid_prefix_exits_3_and_says_incomplete(capsys: pytest.CaptureFixture[str],
                                                    tmp_path: Path, ref_file: Path) -> None:
    """A real run's trace cut inside the run: every event valid, but no run_end."""
    lines = ref_file.read_text().splitlines()
    cut = tmp_path / "cut.jsonl"
    cut.write_text("\n".join(lines[:4]) + "\n")  # header, spawn, run_start, poll
    status, out, _ = _check(capsys, str(cut))
    assert status == 3 and "trace INCOMPLETE against the 'reference' model" in out
    assert "VALID" not in out


# ---------------------------------------------------------------------------------------------
# Pipes: stdin streamed, a closed stdout ends quietly
# ---------------------------------------------------------------------------------------------

CLI = [sys.executable, "-m", "refexec.cli"]


def test_stdin_is_read_as_a_stream(ref_file: Path) -> None:
    """A malformed first line on stdin is refused while stdin is still open: the command reads
    line by line instead of waiting for the end of the input."""
    p = subprocess.Popen([*CLI, "check-trace", "-"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert p.stdin is not None and p.stderr is not None
    try:
        p.stdin.write('{"event": {}, "task": 1, "poll": 0}\n')
        p.stdin.flush()
        status = p.wait(timeout=120)  # a generous bound: a reader that waits for EOF never ends
        err = p.stderr.read()
    finally:
        p.kill()
        p.communicate()
    assert status == 2
    assert err == f"{PROG}<stdin>: line 1: 'event' must be a string naming the event, got an " \
                  "object\n"
    whole = subprocess.run([*CLI, "check-trace", "-"], input=ref_file.read_text(),
                           capture_output=True, text=True, timeout=120, check=False)
    assert whole.returncode == 0 and "<stdin>: recorded by refexec.Executor" in whole.stdout


@pytest.mark.parametrize(("args", "status"), [
    (["check-trace", "{file}"], 0),
    (["check-trace", "{file}", "--json"], 0),
    (["run", "hello"], 141),
])
def test_a_closed_pipe_ends_quietly(ref_file: Path, args: list[str], status: int) -> None:
    """``refexec check-trace FILE | head -1``: the reader is gone before the output is written
    (here: before the command starts). No BrokenPipeError, nothing on stderr; check-trace keeps
    its verdict's status, other commands end as a SIGPIPE would."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        p = subprocess.run([*CLI, *(a.format(file=ref_file) for a in args)], stdout=write_end,
                           stderr=subprocess.PIPE, text=True, timeout=120, check=False)
    finally:
        os.close(write_end)
    assert p.stderr == ""
    assert p.returncode == status


def _timer_file(tmp_path: Path, body: Any, name: str) -> Path:
    from refexec import VirtualClock  # noqa: PLC0415

    tr = Trace()
    ex = Executor(trace=tr, clock=VirtualClock(autojump=True))
    ex.spawn(body())
    ex.run()
    path = tmp_path / name
    tr.dump(path)
    return path


def test_a_run_that_sleeps_is_valid_and_a_fire_at_the_wrong_deadline_names_its_line(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from refexec import sleep  # noqa: PLC0415

    async def nap() -> None:
        await sleep(1)
        await sleep(2)

    path = _timer_file(tmp_path, nap, "nap.jsonl")
    status, out, _ = _check(capsys, str(path))
    assert status == 0, out
    lines = path.read_text(encoding="utf-8").splitlines()
    fire = next(i for i, line in enumerate(lines) if '"timer_fire"' in line)
    lines[fire] = lines[fire].replace('"detail": "1000000000"', '"detail": "900000000"')
    assert '"900000000"' in lines[fire]
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")
    status, out, _ = _check(capsys, str(bad), "--json")
    assert status == 1, out
    got = json.loads(out)
    assert got["violation"]["line"] == fire + 1
    assert "was armed for 1000000000" in got["violation"]["reason"]


def test_a_cancel_among_several_armed_timers_is_placed_by_its_deadline_else_exit_2(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """A timer_cancel names its deadline: the checker knows which timer went (exit 0); an older
    trace without it cannot be checked (exit 2, one line)."""
    import contextlib  # noqa: PLC0415

    from refexec import sleep, timeout  # noqa: PLC0415

    async def deep() -> None:
        with contextlib.suppress(TimeoutError):
            async with timeout(3), timeout(1):
                await sleep(2)

    path = _timer_file(tmp_path, deep, "deep.jsonl")
    status, out, err = _check(capsys, str(path))
    assert status == 0, (out, err)
    old = tmp_path / "old.jsonl"
    lines = []
    for text in path.read_text().splitlines():
        d = json.loads(text)
        if d.get("event") == "timer_cancel":
            d.pop("detail", None)
        lines.append(json.dumps(d))
    old.write_text("\n".join(lines) + "\n")
    line = _refused(capsys, str(old))
    assert "does not say which" in line
