"""The command line's edges: --version, closed pipes, Ctrl-C, SIGTERM and worker processes,
verify's progress and table, explain's verdicts and names, one event numbering, bench."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import refexec
from refexec import cli
from refexec.cli import main
from refexec.examples.cli_run import format_table
from refexec.models.trace_check import check_trace
from refexec.models.verify import Heartbeat

REFEXEC = [sys.executable, "-c", "import sys; from refexec.cli import main; sys.exit(main())"]


def _run_closed_pipe(argv: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Run ``refexec argv`` with stdout a pipe whose reader is already gone (as ``| head -0``
    after head exited): every write fails with EPIPE, deterministically."""
    r, w = os.pipe()
    os.close(r)
    try:
        return subprocess.run([*REFEXEC, *argv], stdout=w, stderr=subprocess.PIPE, text=True,
                              timeout=600, check=False, cwd=tmp_path)
    finally:
        os.close(w)


def _trace_file(tmp_path: Path) -> Path:
    ex = refexec.Executor(trace=refexec.Trace())

    async def hello() -> int:
        await refexec.yield_now()
        return 1

    ex.spawn(hello())
    ex.run()
    assert ex.trace is not None
    path = tmp_path / "t.jsonl"
    ex.trace.dump(path)
    return path


def test_version() -> None:
    out = subprocess.run([*REFEXEC, "--version"], capture_output=True, text=True, check=False)
    assert out.returncode == 0 and out.stdout.strip() == f"refexec {refexec.__version__}"


@pytest.mark.parametrize("argv", [
    ["run", "hello"],
    ["explain", "unlocked-decision", "EX-RUN-END"],
    ["verify", "--variant", "lost-unreported", "--jobs", "1", "-q", "--no-symbolic"],
    ["--help"],
])
def test_closed_pipe_ends_quietly_with_status_141(argv: list[str], tmp_path: Path) -> None:
    res = _run_closed_pipe(argv, tmp_path)
    assert "Traceback" not in res.stderr and "BrokenPipeError" not in res.stderr, res.stderr
    assert res.returncode in (0, 141) if argv == ["--help"] else res.returncode == 141


def test_closed_pipe_check_trace_keeps_its_verdict_status(tmp_path: Path) -> None:
    res = _run_closed_pipe(["check-trace", str(_trace_file(tmp_path))], tmp_path)
    assert res.returncode == 0 and "Traceback" not in res.stderr, res.stderr


def _children(pid: int) -> set[int]:
    """Pids whose parent is ``pid`` (from /proc: no extra dependency)."""
    out = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.add(int(entry.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _start_verify_and_wait_for_workers() -> tuple[subprocess.Popen[str], set[int]]:
    """``refexec verify`` (two worker processes), once a worker has reported progress."""
    proc = subprocess.Popen([*REFEXEC, "verify"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    assert proc.stderr is not None
    seen = []
    started = set()
    for line in proc.stderr:  # a worker's own line proves it is running: wait for both
        seen.append(line)
        if "exhaustive exploration" in line:
            started.add(line.split("]", 1)[1].split(":")[0])
            if len(started) == 2:
                break
    else:
        pytest.fail(f"verify ended before a worker reported: {''.join(seen)}")
    workers = {pid for pid in _children(proc.pid) if "resource_tracker" not in _cmdline(pid)}
    assert len(workers) == 2, workers
    return proc, workers


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize(("sig", "status", "word"), [
    (signal.SIGTERM, 143, "terminated"),
    (signal.SIGINT, 130, "interrupted"),
])
def test_signal_ends_verify_and_its_workers_with_one_line(
    sig: signal.Signals, status: int, word: str
) -> None:
    proc, workers = _start_verify_and_wait_for_workers()
    if sig == signal.SIGINT:
        os.killpg(proc.pid, sig)  # Ctrl-C reaches the whole foreground process group
    else:
        proc.send_signal(sig)  # kill / a CI timeout signals the parent only
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == status, err
    assert "Traceback" not in err, err
    last = [line for line in err.splitlines() if not line.startswith("[")]
    assert last == [f"refexec verify: {word}" + (" (SIGTERM)" if status == 143 else "")]
    # The workers are ended and reaped by verify itself before it exits: no wait is needed.
    # (multiprocessing's resource tracker, not a worker, leaves by itself on its pipe's EOF.)
    assert not [pid for pid in workers if _alive(pid)], "worker processes outlived verify"


def test_heartbeat_speaks_after_silence_and_names_the_running_variants() -> None:
    now = [0.0]
    said: list[str] = []
    beat = Heartbeat(said.append, every=5.0, clock=lambda: now[0])
    beat.say("reference: exhaustive exploration ...", "reference")
    now[0] = 4.9
    beat.tick(["reference"])
    assert said == ["reference: exhaustive exploration ..."]
    now[0] = 5.0
    beat.tick(["reference", "seed"])
    assert said[-1] == ("still checking 2 variant(s): reference: exhaustive exploration ...; "
                        "seed: starting")
    beat.tick(["reference"])  # just spoke: silent again for another 5 s
    assert len(said) == 2


def test_verify_table_fits_100_columns_with_a_legend_for_blank_cells(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["verify", "--variant", "seed", "--variant", "reference", "--no-symbolic",
                 "--bound", "2", "-q"]) in (0, 1)
    out = capsys.readouterr().out
    assert max(len(line) for line in out.splitlines()) <= 100
    assert "(blank)  not checked" in out


def test_verify_says_when_a_property_is_not_checked_by_a_variant(
    capsys: pytest.CaptureFixture[str],
) -> None:
    main(["verify", "--variant", "seed", "--property", "EX-NO-LOST-WAKE", "--no-symbolic",
          "--bound", "2", "-q"])
    err = capsys.readouterr().err
    assert "EX-NO-LOST-WAKE is not a property of seed" in err


def test_explain_accepts_mutant_names_with_and_without_prefix(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["explain", "lost-unreported", "EX-LOST-REPORTED", "--no-mermaid"]) == 0
    short = capsys.readouterr().out
    assert main(["explain", "mutant:lost-unreported", "EX-LOST-REPORTED", "--no-mermaid"]) == 0
    assert capsys.readouterr().out == short and short.startswith("mutant:lost-unreported")


def test_check_trace_numbers_events_as_run_does(tmp_path: Path) -> None:
    """Event #n in check-trace is row n of ``refexec run``'s table: both count from 1."""
    ex = refexec.Executor(trace=refexec.Trace())

    async def hello() -> None:
        await refexec.yield_now()

    ex.spawn(hello())
    ex.run()
    assert ex.trace is not None
    events = list(ex.trace)
    k = next(i for i, e in enumerate(events) if e.event == "pending")
    broken = events[:k] + events[k + 1:]  # drop the first pending: the re-poll is unexplained
    report = check_trace(broken, "reference").report()
    bad = broken[k]
    row = next(line for line in format_table(broken) if line.split()[0] == str(k + 1))
    assert f"event #{k + 1}:" in report and bad.event in row


def test_bench_is_not_offered_without_a_checkout(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "bench" in capsys.readouterr().out  # this is a checkout: offered
    monkeypatch.setattr(cli, "_bench_available", lambda: False)
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "bench" not in capsys.readouterr().out


def test_verify_help_says_how_long_the_default_run_takes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from refexec.models import cli_verify, verify  # noqa: PLC0415

    with pytest.raises(SystemExit):
        main(["verify", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "takes one to two minutes on 2 cores" in out
    assert cli_verify.HEARTBEAT_SECONDS == verify.HEARTBEAT_SECONDS


def test_verify_accepts_a_mutant_without_its_prefix(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", "--variant", "lost-unreported", "--jobs", "1", "-q",
                 "--no-symbolic", "--bound", "5"]) != 2
    assert "mutant:lost-unreported" in capsys.readouterr().out
