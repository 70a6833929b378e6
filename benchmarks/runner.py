"""The runner: every (workload, runtime, size, repetition) in a fresh process, then the report.

Order of runs: repetition-major, then size, workload, runtime. Every runtime of one (workload,
size) runs back to back, and each repetition sweeps all of them again, so the noise of a shared
machine (other processes, frequency changes) falls on all runtimes alike; only the ratios
between runtimes of the same run are meant to be read, never absolute times across runs.

The command-line options are defined once, in :func:`refexec.bench_cli.add_arguments`, and shared
by ``refexec bench`` and ``python -m benchmarks``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import instructions, report, verify
from benchmarks.registry import RUNTIMES, WORKLOADS

ROOT = Path(__file__).resolve().parent.parent

QUICK_SIZES = [1_000]
DEFAULT_SIZES = [1_000, 10_000, 100_000]
FULL_SIZES = [1_000, 10_000, 100_000, 1_000_000]


@dataclass
class Cell:
    """All repetitions of one (workload, runtime, size)."""

    workload: str
    runtime: str
    size: int
    samples: list[dict[str, Any]] = field(default_factory=list)

    @property
    def seconds(self) -> list[float]:
        return [float(s["seconds"]) for s in self.samples]

    @property
    def median_seconds(self) -> float:
        return statistics.median(self.seconds)

    @property
    def spread(self) -> float:
        """(max - min) / median of the repetitions' times: 0.05 means the runs lay within 5%."""
        secs = self.seconds
        med = statistics.median(secs)
        return (max(secs) - min(secs)) / med if med > 0 else 0.0

    @property
    def ops(self) -> int:
        return int(self.samples[0]["ops"])

    @property
    def ops_per_s(self) -> float:
        med = self.median_seconds
        return self.ops / med if med > 0 else math.inf

    def metric(self, name: str) -> float | None:
        values = [float(s[name]) for s in self.samples if name in s]
        return statistics.median(values) if values else None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "workload": self.workload,
            "runtime": self.runtime,
            "size": self.size,
            "ops": self.ops,
            "median_seconds": self.median_seconds,
            "spread": self.spread,
            "ops_per_s": self.ops_per_s,
            "samples": self.samples,
        }
        for name in (
            "bytes_per_task",
            "coroutine_bytes",
            "overhead_bytes_per_task",
            "rss_bytes_per_task",
            "peak_rss_bytes",
            "bytes_per_timer",
            "bytes",
        ):
            value = self.metric(name)
            if value is not None:
                out[name] = value
        return out


@dataclass
class Results:
    """Everything one run measured, in the shape the report and the JSON file use."""

    cells: dict[tuple[str, str, int], Cell] = field(default_factory=dict)
    skipped: dict[tuple[str, str], str] = field(default_factory=dict)  # (runtime, workload)
    errors: list[dict[str, Any]] = field(default_factory=list)
    verify: list[dict[str, Any]] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    machine: dict[str, str] = field(default_factory=dict)
    hooks: dict[str, dict[str, Any]] = field(default_factory=dict)
    """The paired tracing-hooks comparison (``--hooks-reps``): workload -> ``{"size": N,
    "pairs": [[refexec seconds, refexec-nohooks seconds], ...]}``."""
    instructions: list[dict[str, Any]] = field(default_factory=list)
    """Instructions per op under callgrind (``--instructions N``): rows ``{"workload",
    "runtime", "size", "ir_per_op"}`` (see :mod:`benchmarks.instructions`)."""

    def ir_per_op(self, workload: str, runtime: str) -> float | None:
        for row in self.instructions:
            if row["workload"] == workload and row["runtime"] == runtime:
                return float(row["ir_per_op"])
        return None

    def get(self, workload: str, runtime: str, size: int) -> Cell | None:
        return self.cells.get((workload, runtime, size))

    def sizes(self, workload: str) -> list[int]:
        return sorted({s for (w, _, s) in self.cells if w == workload})

    def runtimes(self, workload: str) -> list[str]:
        present = {r for (w, r, _) in self.cells if w == workload}
        return [r for r in RUNTIMES if r in present]

    def to_json(self) -> dict[str, Any]:
        return {
            "machine": self.machine,
            "config": self.config,
            "results": [c.to_json() for c in self.cells.values()],
            "ratios": report.ratio_rows(self),
            "targets": [t.to_json() for t in report.targets(self)],
            "skipped": [
                {"runtime": r, "workload": w, "reason": why} for (r, w), why in self.skipped.items()
            ],
            "errors": self.errors,
            "verify": self.verify,
            "hooks": self.hooks,
            "instructions": self.instructions,
        }


def machine_info() -> dict[str, str]:
    """CPU model and count, OS and Python: what RESULTS.md states about the machine."""
    model = platform.processor() or "unknown"
    try:
        lscpu = subprocess.run(
            ["lscpu"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
        for line in lscpu.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return {
        "cpu": model,
        "cores": str(os.cpu_count()),
        "os": f"{platform.system()} {platform.release()}",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
    }


def parse_names(text: str, known: dict[str, Any], what: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise SystemExit(f"unknown {what}: {', '.join(unknown)}; known: {', '.join(known)}")
    return names


def run_one(runtime: str, workload: str, size: int, *, in_process: bool, timeout: float) -> Any:
    """One measurement, as the worker's JSON answer (a dict)."""
    from benchmarks import worker

    if in_process:
        return worker.outcome(runtime, workload, size)
    return worker.run_fresh(runtime, workload, size, root=ROOT, timeout=timeout)[0]


def collect(args: argparse.Namespace, log: Any) -> Results:
    """Run every measurement the options ask for."""
    sizes: list[int] = args.sizes or (
        QUICK_SIZES if args.quick else FULL_SIZES if args.full else DEFAULT_SIZES
    )
    reps: int = args.reps
    runtimes = parse_names(args.runtimes, RUNTIMES, "runtime") if args.runtimes else list(RUNTIMES)
    workloads = (
        parse_names(args.workloads, WORKLOADS, "workload") if args.workloads else list(WORKLOADS)
    )
    res = Results(machine=machine_info())
    res.config = {
        "sizes": sizes,
        "reps": reps,
        "runtimes": runtimes,
        "workloads": workloads,
        "in_process": bool(args.in_process),
        "command": "python -m benchmarks " + shlex.join(sys.argv[1:])
        if args.command_line is None
        else args.command_line,
    }
    total = reps * len(sizes) * len(workloads) * len(runtimes)
    done = 0
    started = time.monotonic()
    for rep in range(reps):
        for size in sizes:
            for workload in workloads:
                for runtime in runtimes:
                    done += 1
                    if (runtime, workload) in res.skipped:
                        continue
                    answer = run_one(
                        runtime, workload, size, in_process=args.in_process, timeout=args.timeout
                    )
                    if answer.get("ok"):
                        cell = res.cells.setdefault(
                            (workload, runtime, size), Cell(workload, runtime, size)
                        )
                        cell.samples.append(answer["sample"])
                        status = f"{answer['sample']['seconds'] * 1e3:9.1f} ms"
                    elif "skip" in answer:
                        res.skipped[(runtime, workload)] = answer["skip"]
                        status = "skipped: " + answer["skip"]
                    else:
                        res.errors.append(
                            {
                                "runtime": runtime,
                                "workload": workload,
                                "size": size,
                                "rep": rep,
                                "error": answer["error"],
                            }
                        )
                        status = "ERROR (see the report)"
                    log(
                        f"[{done:4d}/{total} {time.monotonic() - started:6.0f}s] rep {rep + 1} "
                        f"{workload:9s} {runtime:15s} n={size:<8d} {status}"
                    )
    hooks_reps = int(getattr(args, "hooks_reps", 0) or 0)
    if hooks_reps:
        size = int(getattr(args, "hooks_size", 0) or min(max(sizes), 100_000))
        res.hooks = collect_hooks(hooks_reps, size, args, log)
    ir_size = int(getattr(args, "instructions", 0) or 0)
    if ir_size:
        why = instructions.unavailable()
        if why is not None:
            log(f"[instructions] not counted: {why}")
            res.config["instructions_unavailable"] = why
        else:
            rows, skipped, errors = instructions.collect(
                ir_size, runtimes, workloads, ROOT, args.timeout, log
            )
            res.instructions = rows
            res.errors += errors
            for key, reason in skipped.items():
                res.skipped.setdefault(key, reason)
    if args.verify:
        res.verify = verify.run_probes(log, budget=args.verify_budget)
    return res


#: The workloads of the tracing-off comparison (memory has no tracing cost to time).
HOOKS_WORKLOADS = ("spawn", "pingpong", "prodcons", "xthread")


def collect_hooks(
    reps: int, size: int, args: argparse.Namespace, log: Any
) -> dict[str, dict[str, Any]]:
    """The tracing-off cost, measured to resolve a few percent on a noisy machine: ``reps``
    *pairs* of fresh processes per workload, ``refexec`` and ``refexec-nohooks`` back to back,
    the order alternating (ABBA) so that a drift in the machine's load hits both alike."""
    out: dict[str, dict[str, Any]] = {}
    for workload in HOOKS_WORKLOADS:
        pairs: list[list[float]] = []
        for rep in range(reps):
            order = ["refexec", "refexec-nohooks"]
            if rep % 2:
                order.reverse()
            got: dict[str, float] = {}
            for runtime in order:
                answer = run_one(
                    runtime, workload, size, in_process=args.in_process, timeout=args.timeout
                )
                if not answer.get("ok"):
                    break
                got[runtime] = float(answer["sample"]["seconds"])
            if len(got) == 2:
                pairs.append([got["refexec"], got["refexec-nohooks"]])
                with_ms, without_ms = got["refexec"] * 1e3, got["refexec-nohooks"] * 1e3
                log(
                    f"[hooks {workload:9s} pair {rep + 1}/{reps}] refexec {with_ms:8.1f} ms, "
                    f"nohooks {without_ms:8.1f} ms"
                )
        if pairs:
            out[workload] = {"size": size, "pairs": pairs}
    return out


def load(path: Path) -> Results:
    """A run saved with ``--json``, to re-render its report and plots without measuring again."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    res = Results(machine=data["machine"], config=data["config"], errors=data["errors"])
    res.verify = data["verify"]
    for c in data["results"]:
        res.cells[(c["workload"], c["runtime"], c["size"])] = Cell(
            c["workload"], c["runtime"], c["size"], c["samples"]
        )
    for s in data["skipped"]:
        res.skipped[(s["runtime"], s["workload"])] = s["reason"]
    res.hooks = data.get("hooks", {})
    res.instructions = data.get("instructions", [])
    return res


def run(args: argparse.Namespace) -> int:
    """Run the suite as ``args`` (from :func:`refexec.bench_cli.add_arguments`) says."""
    quiet = bool(args.quiet)

    def log(msg: str) -> None:
        if not quiet:
            print(msg, file=sys.stderr, flush=True)

    res = load(args.from_json) if args.from_json is not None else collect(args, log)
    plot_files: list[Path] = []
    plots_dir = args.plots
    if plots_dir is None and args.results_md is not None:
        plots_dir = Path(args.results_md).parent / "plots"
    if plots_dir is not None:
        from benchmarks import plots

        plot_files, why = plots.write_plots(res, Path(plots_dir))
        if why:
            log(f"plots: {why}")
    text = report.render(res, plot_files=plot_files, relative_to=None)
    print(text)
    if args.json is not None:
        Path(args.json).write_text(json.dumps(res.to_json(), indent=1) + "\n", encoding="utf-8")
        log(f"wrote {args.json}")
    if args.results_md is not None:
        md = Path(args.results_md)
        md.write_text(report.results_md(res, plot_files, md.parent), encoding="utf-8")
        log(f"wrote {md}")
    return 1 if res.errors else 0


def main(argv: list[str] | None = None) -> int:
    from refexec.bench_cli import add_arguments

    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Side-by-side benchmarks of refexec against asyncio, uvloop, trio and the "
        "bare coroutine loop; every measurement in a fresh process.",
    )
    add_arguments(parser)
    parser.add_argument(
        "--hooks-reps",
        type=int,
        default=0,
        metavar="R",
        help="also measure the tracing-off cost precisely: R interleaved pairs of fresh "
        "processes (refexec, refexec-nohooks) per workload, reported as min-of-R and median "
        "paired ratio with a bootstrap 95%% interval",
    )
    parser.add_argument(
        "--hooks-size",
        type=int,
        default=0,
        metavar="N",
        help="size of the --hooks-reps comparison (default: the largest size run, at most 10^5)",
    )
    return run(parser.parse_args(argv))
