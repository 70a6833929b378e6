"""Smoke test of the benchmark suite: every workload on every available runtime, tiny sizes.

This checks that the benchmark code runs and that each workload does the work it claims (every
task completes, every message arrives: the workloads check their own counts). It never asserts
on timings: those belong in ``benchmarks/RESULTS.md``, not in a test.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from refexec import bench_cli  # noqa: E402
from refexec.cli import main  # noqa: E402

from benchmarks import instructions, report, verify, worker  # noqa: E402
from benchmarks.common import ECHO_CHUNK, bulk_chunks  # noqa: E402
from benchmarks.registry import RUNTIMES, WORKLOADS  # noqa: E402
from benchmarks.runner import Cell, Results  # noqa: E402

TINY = 20


@pytest.mark.parametrize("workload", list(WORKLOADS))
@pytest.mark.parametrize("runtime", list(RUNTIMES))
def test_workload_runs_on_runtime(runtime: str, workload: str) -> None:
    answer = worker.outcome(runtime, workload, TINY)
    if "skip" in answer:
        pytest.skip(f"{runtime}/{workload}: {answer['skip']}")
    assert answer.get("ok"), answer.get("error")
    sample = answer["sample"]
    assert sample["seconds"] >= 0
    if workload == "echo-bulk":  # N/16 chunks of 64 KiB, every byte echoed back
        assert sample["ops"] == bulk_chunks(TINY)
        assert sample["bytes"] == bulk_chunks(TINY) * ECHO_CHUNK
    else:
        assert sample["ops"] >= TINY
    if workload == "memory":
        assert {"bytes_per_task", "rss_bytes_per_task", "peak_rss_bytes"} <= sample.keys()
    if workload == "timer-memory":
        assert sample["bytes_per_timer"] > 0  # an armed timer is never free


#: The workloads of issue 5 (no time, no sockets): every runtime, the bare loop too.
CORE_WORKLOADS = ("spawn", "pingpong", "prodcons", "xthread", "memory")


def test_bare_loop_and_asyncio_are_never_skipped() -> None:
    # The two baselines every ratio is taken against need nothing beyond the standard library
    # (asyncio's virtual-clock rows need looptime, from the bench extra).
    for runtime in ("bare", "asyncio"):
        for workload in CORE_WORKLOADS:
            assert worker.outcome(runtime, workload, 3).get("ok"), (runtime, workload)
    for workload in WORKLOADS:
        if workload not in CORE_WORKLOADS and not workload.endswith("-virtual"):
            assert worker.outcome("asyncio", workload, 3).get("ok"), workload
            assert "bare has no" in worker.outcome("bare", workload, 3)["skip"]


def test_worker_process_answers_one_json_line() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.worker", "bare", "spawn", "10"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    answer = json.loads(proc.stdout.strip().splitlines()[-1])
    assert answer["ok"] and answer["sample"]["ops"] == 10


def test_unknown_runtime_or_workload_is_an_error_not_a_crash() -> None:
    assert "error" in worker.outcome("bare", "no-such-workload", 3)


def test_bench_command_writes_report_json_and_plots(tmp_path: Path) -> None:
    """``python -m benchmarks`` (what ``refexec bench`` runs once the bench extra is there)."""
    from benchmarks.runner import main as bench_main  # noqa: PLC0415

    md = tmp_path / "RESULTS.md"
    out = tmp_path / "results.json"
    status = bench_main(
        [
            "--in-process",
            "--quiet",
            "--sizes",
            "8,16",
            "--reps",
            "2",
            "--runtimes",
            "refexec,asyncio,bare",
            "--workloads",
            "spawn,memory",
            "--json",
            str(out),
            "--results-md",
            str(md),
        ]
    )
    assert status == 0
    data = json.loads(out.read_text())
    assert {(r["runtime"], r["size"]) for r in data["results"] if r["workload"] == "spawn"} >= {
        ("asyncio", 8),
        ("asyncio", 16),
        ("bare", 8),
        ("bare", 16),
    }
    assert all(len(r["samples"]) == 2 for r in data["results"])
    assert any(t["target"].startswith("spawn+complete") for t in data["targets"])
    text = md.read_text()
    assert "refexec bench" in text and "| CPU |" in text
    import importlib.util  # noqa: PLC0415

    if importlib.util.find_spec("matplotlib") is not None:
        assert (tmp_path / "plots" / "spawn.png").stat().st_size > 0
        assert "](plots/spawn.png)" in text
    else:  # without the bench extra (matplotlib) no plot is written, and the rest still works
        assert not (tmp_path / "plots" / "spawn.png").exists()
    # --from-json re-renders a saved run without measuring
    again = tmp_path / "again.md"
    assert bench_main(["--quiet", "--from-json", str(out), "--results-md", str(again)]) == 0
    assert again.read_text() == text


def test_refexec_bench_without_the_bench_extra_says_how_to_install_it(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bench_cli, "missing_extra", lambda: ["matplotlib"])
    assert main(["bench", "--quick", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "pip install -e '.[bench]'" in err and "matplotlib" in err


def test_ratios_and_growth_exponent_are_computed_from_medians() -> None:
    res = Results()
    for runtime, per_op in (("asyncio", 4.0), ("refexec", 1.0), ("bare", 0.5)):
        for size in (10, 100, 1000):
            res.cells[("spawn", runtime, size)] = Cell(
                "spawn",
                runtime,
                size,
                [{"seconds": per_op * size * f, "ops": size} for f in (1.0, 1.1, 0.9)],
            )
    assert report.ratio(res, "spawn", "refexec", "asyncio", 1000) == pytest.approx(4.0)
    assert report.ratio(res, "spawn", "refexec", "bare", 1000) == pytest.approx(0.5)
    assert report.exponent(res, "spawn", "refexec") == pytest.approx(1.0)
    marks = {t.name: t.ok for t in report.targets(res)}
    assert marks["spawn+complete vs asyncio"] is False  # 4.0 < 5
    assert marks["spawn+complete vs bare loop"] is True  # 0.5 >= 0.4
    assert marks["linear growth: spawn"] is True


def test_verification_probes_resolve_to_a_probe_or_a_reason() -> None:
    for spec in verify.probes():
        resolved = spec.resolve()
        assert callable(resolved) or resolved.startswith("not available yet"), spec.name


def test_time_command_and_time_callable() -> None:
    out = verify.time_command([sys.executable, "-c", "print('hi')"], timeout=60)
    assert out["returncode"] == 0 and "hi" in out["tail"] and out["seconds"] > 0
    assert verify.time_callable(lambda: 42, repeat=3)["value"] == 42


def test_bench_cli_finds_this_checkout() -> None:
    assert bench_cli.checkout_root() == ROOT


def test_bare_task_floor_runs_its_workloads_through_task_objects() -> None:
    from benchmarks import rt_bare  # noqa: PLC0415

    ex = rt_bare.MinimalExecutor()
    tasks = [ex.spawn(common_trivial()) for _ in range(3)]
    ex.run()
    assert all(t.done and t.coro is None for t in tasks) and not ex.ready
    for workload in ("xthread", "memory"):  # defined for the bare loop only: a reason, no crash
        assert "bare-task" in worker.outcome("bare-task", workload, 3)["skip"]


def common_trivial() -> object:
    from benchmarks.common import trivial  # noqa: PLC0415

    return trivial()


_CALLGRIND_TAIL = "==12== Events    : Ir\n==12== Collected : 123456789\n==12== \n"


def test_instruction_count_parses_the_worker_answer_and_callgrind_total() -> None:
    ok = json.dumps({"ok": True, "sample": {"seconds": 0.1, "ops": 40}})
    answer = instructions.parse(f"noise\n{ok}\n", _CALLGRIND_TAIL)
    assert answer["ir"] == 123456789 and answer["sample"]["ops"] == 40
    # a skip passes through; a missing count or a missing answer is an error, never a zero
    skip = json.dumps({"ok": False, "skip": "not here"})
    assert instructions.parse(skip, _CALLGRIND_TAIL) == {"ok": False, "skip": "not here"}
    assert "no instruction count" in instructions.parse(ok, "valgrind: oops")["error"]
    assert "no answer" in instructions.parse("", _CALLGRIND_TAIL)["error"]


def test_instructions_per_op_cancel_the_fixed_costs() -> None:
    small = {"ir": 1_000_000 + 50 * 100, "sample": {"ops": 100}}
    large = {"ir": 1_000_000 + 50 * 200, "sample": {"ops": 200}}
    assert instructions.per_op(small, large) == 50
    with pytest.raises(ValueError, match="no more ops"):
        instructions.per_op(large, large)


@pytest.mark.skipif(instructions.unavailable() is not None, reason="valgrind is not installed")
def test_instruction_count_under_callgrind_for_real() -> None:
    logged: list[str] = []
    rows, skipped, errors = instructions.collect(
        200, ["bare", "bare-task"], ["spawn", "memory"], ROOT, 600, logged.append
    )
    assert not errors and not skipped, errors
    got = {r["runtime"]: r["ir_per_op"] for r in rows}
    assert set(got) == {"bare", "bare-task"} and all(r["workload"] == "spawn" for r in rows)
    # a spawn costs instructions, and the task object and spawn() call cost some more
    assert 0 < got["bare"] < got["bare-task"]
    assert len(logged) == 2


def test_instruction_ratios_and_targets_in_the_report() -> None:
    res = Results()
    for runtime, ir in (("asyncio", 30_000.0), ("refexec", 10_000.0), ("bare", 5_000.0)):
        res.instructions.append(
            {"workload": "spawn", "runtime": runtime, "size": 10, "ir_per_op": ir}
        )
    res.instructions.append(
        {"workload": "spawn", "runtime": "refexec-nohooks", "size": 10, "ir_per_op": 9_800.0}
    )
    assert report.ir_ratio(res, "spawn", "refexec", "asyncio") == pytest.approx(3.0)
    marks = {t.name: t for t in report.targets(res)}
    assert marks["spawn+complete vs asyncio, by instructions"].ok is False  # 3 < 5
    assert marks["spawn+complete vs bare loop, by instructions"].ok is True  # 0.5 >= 0.4
    hooks = marks["tracing off: spawn, by instructions"]
    assert hooks.ok is True and hooks.measured == "+2.0%"
    text = report.render(res)
    assert "## Instructions per operation (callgrind)" in text
    assert "| spawn | refexec | 10,000 |" in text


def test_bench_without_valgrind_says_so_and_still_reports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from benchmarks.runner import main as bench_main  # noqa: PLC0415

    monkeypatch.setattr(instructions, "unavailable", lambda: "valgrind is not installed")
    out = tmp_path / "r.json"
    args = ["--in-process", "--quiet", "--sizes", "8", "--reps", "1", "--runtimes", "bare"]
    args += ["--workloads", "spawn", "--instructions", "10", "--json", str(out)]
    assert bench_main(args) == 0
    data = json.loads(out.read_text())
    assert data["instructions"] == []
    assert data["config"]["instructions_unavailable"] == "valgrind is not installed"


def test_instructions_option_takes_one_size() -> None:
    import argparse  # noqa: PLC0415

    parser = argparse.ArgumentParser()
    bench_cli.add_arguments(parser)
    assert parser.parse_args(["--instructions", "1e4"]).instructions == 10_000
    assert parser.parse_args([]).instructions == 0
    with pytest.raises(SystemExit):
        parser.parse_args(["--instructions", "1e3,1e4"])


def test_time_and_io_targets_in_the_report() -> None:
    """Issue 14 §4: each timer workload against asyncio (>= 2x), echo (>= 1x), and memory per
    armed timer (<= 0.5x, a bytes ratio: lower is better), judged from the medians."""
    res = Results()
    for workload, mine, theirs in (("timeouts", 1.0, 2.5), ("echo", 1.0, 0.9),
                                   ("sleepers-virtual", 1.0, 1.5)):
        for runtime, per_op in (("refexec", mine), ("asyncio", theirs)):
            res.cells[(workload, runtime, 100)] = Cell(
                workload, runtime, 100, [{"seconds": per_op, "ops": 100}])
    for runtime, nbytes in (("refexec", 100.0), ("asyncio", 300.0)):
        res.cells[("timer-memory", runtime, 100)] = Cell(
            "timer-memory", runtime, 100,
            [{"seconds": 1.0, "ops": 100, "bytes_per_timer": nbytes}])
    marks = {t.name: t for t in report.targets(res)}
    assert marks["timeouts armed+cancelled vs asyncio"].ok is True  # 2.5 >= 2
    assert marks["TCP echo round trips vs asyncio"].ok is False  # 0.9 < 1
    assert marks["virtual-clock sleepers vs asyncio+looptime"].ok is False  # 1.5 < 2
    assert marks["memory per armed timer"].ok is True  # 100 / 300 <= 0.5
    assert marks["sleepers vs asyncio"].ok is None  # not run: not judged
    assert "linear growth: timer-memory" not in marks
    text = report.render(res)
    assert "### timer-memory" in text and "| refexec | 100 | 100 B | 0.33 |" in text


def test_nohooks_build_strips_the_driver_too() -> None:
    """The tracing-off comparison runs the timers and the reactor without their hooks too."""
    from benchmarks import rt_refexec  # noqa: PLC0415

    cls = rt_refexec._nohooks_executor_class()
    driver = sys.modules["refexec._bench_driver_nohooks"]
    assert driver.HOOKS_STRIPPED >= 5
    ex = cls()
    assert type(ex._driver) is driver.Driver
    answer = worker.outcome("refexec-nohooks", "timeouts-virtual", 50)
    assert answer.get("ok"), answer
