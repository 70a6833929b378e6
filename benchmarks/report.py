"""Tables, ratios and the issue-5 targets, as Markdown (printed, and written to RESULTS.md).

Ratios are throughput ratios within one run: ``x asyncio = asyncio's median time / this
runtime's median time`` for the same work (2.0 = twice asyncio's ops/s), ``x bare`` the same
against the bare coroutine loop (0.4 = 40% of the floor's throughput). For the memory workload
the ratio is of what the runtime adds per pending task, *excluding* the user's coroutine (the same
object under every runtime): ``overhead_bytes_per_task``; lower is better (0.5 = half of
asyncio's). The total bytes per pending task, coroutine included, are reported next to it.
"""

from __future__ import annotations

import importlib
import json
import math
import random
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks.registry import BYTES_METRIC, RUNTIMES, WORKLOADS

if TYPE_CHECKING:
    from benchmarks.runner import Cell, Results

REFEXEC = "refexec"
#: The largest growth exponent (time ~ N^k over the sizes run) still read as "linear".
LINEAR_MAX_EXPONENT = 1.10


def ratio(res: Results, workload: str, runtime: str, base: str, size: int) -> float | None:
    """``runtime`` against ``base`` at ``size``: throughput ratio, or bytes ratio for memory."""
    c, b = res.get(workload, runtime, size), res.get(workload, base, size)
    if c is None or b is None:
        return None
    name = BYTES_METRIC.get(workload)
    if name is not None:
        if workload == "memory" and (c.metric(name) is None or b.metric(name) is None):
            name = "bytes_per_task"  # a run saved before the overhead was measured
        cb, bb = c.metric(name), b.metric(name)
        return cb / bb if cb is not None and bb else None
    return b.median_seconds / c.median_seconds if c.median_seconds > 0 else None


def exponent(res: Results, workload: str, runtime: str) -> float | None:
    """Least-squares slope of log(median time) against log(N): 1.0 is linear growth."""
    pts = [
        (math.log(s), math.log(c.median_seconds))
        for s in res.sizes(workload)
        if (c := res.get(workload, runtime, s)) is not None and c.median_seconds > 0
    ]
    if len(pts) < 2:
        return None
    mx = sum(x for x, _ in pts) / len(pts)
    my = sum(y for _, y in pts) / len(pts)
    sxx = sum((x - mx) ** 2 for x, _ in pts)
    return sum((x - mx) * (y - my) for x, y in pts) / sxx if sxx else None


def ratio_rows(res: Results) -> list[dict[str, Any]]:
    rows = []
    for (workload, runtime, size), _ in sorted(res.cells.items()):
        rows.append(
            {
                "workload": workload,
                "runtime": runtime,
                "size": size,
                "vs_asyncio": ratio(res, workload, runtime, "asyncio", size),
                "vs_bare": ratio(res, workload, runtime, "bare", size),
            }
        )
    return rows


@dataclass
class Target:
    """One line of issue 5 §2, with what this run measured."""

    name: str
    goal: str
    measured: str
    ok: bool | None  # None: not measurable in this run (the measured text says why)

    @property
    def mark(self) -> str:
        return {True: "PASS", False: "FAIL", None: "n/a"}[self.ok]

    def to_json(self) -> dict[str, Any]:
        return {"target": self.name, "goal": self.goal, "measured": self.measured, "ok": self.ok}


def _largest_common(res: Results, workload: str, runtimes: Sequence[str]) -> int | None:
    sizes = [s for s in res.sizes(workload) if all(res.get(workload, r, s) for r in runtimes)]
    return max(sizes) if sizes else None


def _ratio_target(
    res: Results, name: str, workload: str, base: str, goal: float, at_least: bool = True
) -> Target:
    op = ">=" if at_least else "<="
    what = {
        "memory": "bytes added per pending task (coroutine excluded)",
        "timer-memory": "bytes per armed timer",
    }.get(workload, "throughput")
    goal_text = f"refexec {what} {op} {goal:g} x {base}"
    size = _largest_common(res, workload, [REFEXEC, base])
    if size is None:
        return Target(name, goal_text, f"not measured (needs {REFEXEC} and {base})", None)
    r = ratio(res, workload, REFEXEC, base, size)
    if r is None:
        return Target(name, goal_text, "not measured", None)
    ok = r >= goal if at_least else r <= goal
    return Target(name, goal_text, f"{r:.2f} x {base} at N={size:,}", ok)


#: Issue 14 §4: every timer workload >= 2 x asyncio (the virtual ones: asyncio under
#: looptime), TCP echo >= 1 x asyncio.
TIME_IO_TARGETS = (
    ("sleepers vs asyncio", "sleepers", "asyncio", 2.0),
    ("timeouts armed+cancelled vs asyncio", "timeouts", "asyncio", 2.0),
    ("virtual-clock sleepers vs asyncio+looptime", "sleepers-virtual", "asyncio", 2.0),
    ("virtual-clock timeouts vs asyncio+looptime", "timeouts-virtual", "asyncio", 2.0),
    ("TCP echo round trips vs asyncio", "echo", "asyncio", 1.0),
    ("TCP echo throughput vs asyncio", "echo-bulk", "asyncio", 1.0),
)


def targets(res: Results) -> list[Target]:
    """Issue 5 §2, each target next to this run's figure. A report, not a test."""
    out = []
    for name, workload, base, goal in (
        ("spawn+complete vs asyncio", "spawn", "asyncio", 5.0),
        ("spawn+complete vs bare loop", "spawn", "bare", 0.40),
        ("yield ping-pong vs asyncio", "pingpong", "asyncio", 4.0),
        ("cross-thread wakes vs asyncio", "xthread", "asyncio", 1.0),
    ):
        out.append(_ratio_target(res, name, workload, base, goal))
        by_ir = _instruction_target(res, name, workload, base, goal)
        if by_ir is not None:
            out.append(by_ir)
    out.append(
        _ratio_target(res, "memory per pending task", "memory", "asyncio", 0.5, at_least=False)
    )
    for name, workload, base, goal in TIME_IO_TARGETS:  # issue 14 §4
        out.append(_ratio_target(res, name, workload, base, goal))
        by_ir = _instruction_target(res, name, workload, base, goal)
        if by_ir is not None:
            out.append(by_ir)
    out.append(
        _ratio_target(res, "memory per armed timer", "timer-memory", "asyncio", 0.5,
                      at_least=False)
    )
    for workload in WORKLOADS:
        if workload == "timer-memory":  # bytes per timer: no time to grow
            continue
        k = exponent(res, workload, REFEXEC)
        sizes = res.sizes(workload)
        goal = f"time ~ N^k with k <= {LINEAR_MAX_EXPONENT:.2f}"
        if k is None:
            out.append(Target(f"linear growth: {workload}", goal, "needs >= 2 sizes", None))
        else:
            span = f"N={sizes[0]:,}..{sizes[-1]:,}"
            out.append(
                Target(
                    f"linear growth: {workload}",
                    goal,
                    f"k = {k:.2f} ({span})",
                    k <= LINEAR_MAX_EXPONENT,
                )
            )
    out.extend(_tracing_targets(res))
    return out


def ir_ratio(res: Results, workload: str, runtime: str, base: str) -> float | None:
    """``base``'s instructions per op / ``runtime``'s (higher: ``runtime`` does less work)."""
    mine, theirs = res.ir_per_op(workload, runtime), res.ir_per_op(workload, base)
    return theirs / mine if mine and theirs is not None else None


def _instruction_target(
    res: Results, name: str, workload: str, base: str, goal: float
) -> Target | None:
    """The same goal judged on instructions per op (``--instructions``), if they were counted."""
    r = ir_ratio(res, workload, REFEXEC, base)
    if r is None:
        return None
    mine, theirs = res.ir_per_op(workload, REFEXEC), res.ir_per_op(workload, base)
    unit = WORKLOADS[workload].unit
    return Target(
        f"{name}, by instructions",
        f"{base}'s instructions per {unit} / refexec's >= {goal:g}",
        f"{r:.2f} ({mine:,.0f} vs {theirs:,.0f} per {unit})",
        r >= goal,
    )


def hooks_cost(pairs: Sequence[Sequence[float]]) -> dict[str, float]:
    """The tracing-off cost from paired runs ``(with hooks, without)``: min-of-N, the median of
    the paired ratios, and a bootstrap 95% interval of that median (fixed seed: reproducible)."""
    ratios = [h / n for h, n in pairs if n > 0]
    rng = random.Random(5)
    meds = sorted(
        statistics.median(rng.choices(ratios, k=len(ratios))) for _ in range(2000)
    )
    return {
        "n": len(ratios),
        "min": min(h for h, _ in pairs) / min(n for _, n in pairs) - 1,
        "median": statistics.median(ratios) - 1,
        "lo": meds[int(0.025 * len(meds))] - 1,
        "hi": meds[int(0.975 * len(meds)) - 1] - 1,
    }


def _tracing_targets(res: Results) -> list[Target]:
    """Tracing off against a build without the hooks (``refexec-nohooks``); tracing on, stated.

    With ``--hooks-reps`` the paired comparison decides (min-of-N and the median paired ratio
    must both be under 5%; the 95% interval is shown); otherwise the medians of the main run."""
    out = []
    on_costs = []
    for workload in WORKLOADS:
        if workload in BYTES_METRIC:
            continue
        paired = res.hooks.get(workload)
        if paired and paired["pairs"]:
            h = hooks_cost(paired["pairs"])
            out.append(
                Target(
                    f"tracing off: {workload}",
                    "time with the hooks off / without hooks - 1 < 5%",
                    f"min-of-{h['n']:.0f} {h['min'] * 100:+.1f}%, median paired "
                    f"{h['median'] * 100:+.1f}% (95% CI {h['lo'] * 100:+.1f}%.."
                    f"{h['hi'] * 100:+.1f}%) at N={paired['size']:,}",
                    h["min"] < 0.05 and h["median"] < 0.05,
                )
            )
            size = _largest_common(res, workload, [REFEXEC, "refexec-traced"])
            if size is not None:
                r = ratio(res, workload, REFEXEC, "refexec-traced", size)
                if r is not None:
                    on_costs.append(f"{workload} {(r - 1) * 100:+.0f}%")
            continue
        size = _largest_common(res, workload, [REFEXEC, "refexec-nohooks"])
        if size is not None:
            r = ratio(res, workload, "refexec-nohooks", REFEXEC, size)
            if r is not None:
                cost = r - 1
                out.append(
                    Target(
                        f"tracing off: {workload}",
                        "time with the hooks off / without hooks - 1 < 5%",
                        f"{cost * 100:+.1f}% at N={size:,}",
                        cost < 0.05,
                    )
                )
        size = _largest_common(res, workload, [REFEXEC, "refexec-traced"])
        if size is not None:
            r = ratio(res, workload, REFEXEC, "refexec-traced", size)
            if r is not None:
                on_costs.append(f"{workload} {(r - 1) * 100:+.0f}%")
    for workload in WORKLOADS:
        r = ir_ratio(res, workload, "refexec-nohooks", REFEXEC)
        if r is not None:
            out.append(
                Target(
                    f"tracing off: {workload}, by instructions",
                    "instructions with the hooks off / without hooks - 1 < 5%",
                    f"{(r - 1) * 100:+.1f}%",
                    r - 1 < 0.05,
                )
            )
    if not out:
        out.append(
            Target(
                "tracing off",
                "< 5% vs a build without the hooks",
                "not measured (needs refexec and refexec-nohooks)",
                None,
            )
        )
    out.append(
        Target(
            "tracing on (stated, no goal)",
            "time with tracing on / off - 1",
            ", ".join(on_costs) + " (at the largest size)" if on_costs else "not measured",
            None,
        )
    )
    return out


def _rt_module(runtime: str) -> Any:
    try:
        return importlib.import_module(RUNTIMES[runtime].module)
    except Exception:  # a runtime module that cannot even import has no notes
        return None


def runtime_notes() -> dict[str, str]:
    """Each runtime module's ``NOTES`` (variant -> text): how it is driven, what it deviates in."""
    notes: dict[str, str] = {}
    for name, rt in RUNTIMES.items():
        mod = _rt_module(name)
        text = getattr(mod, "NOTES", {}).get(rt.variant) if mod is not None else None
        if text:
            notes[name] = text
    return notes


# --- formatting --------------------------------------------------------------------------------


def _si(x: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(x) >= scale:
            return f"{x / scale:.2f}{unit}"
    return f"{x:.0f}"


def _time(s: float) -> str:
    return f"{s * 1e3:.1f} ms" if s < 10 else f"{s:.2f} s"


def _r(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def _bytes(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x / 2**20:.0f} MiB" if x >= 2**20 else f"{x:.0f} B"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def workload_table(res: Results, workload: str) -> str:
    w = WORKLOADS[workload]
    rows: list[list[str]] = []
    cells: list[Cell] = [
        c
        for s in res.sizes(workload)
        for r in res.runtimes(workload)
        if (c := res.get(workload, r, s)) is not None
    ]
    if workload == "memory":
        header = [
            "runtime",
            "N",
            "total bytes/task (tracemalloc)",
            "coroutine",
            "runtime adds/task",
            "x asyncio (adds)",
            "x bare (adds)",
            "RSS growth/task",
            "peak RSS",
            "cycle time",
        ]
        for c in cells:
            rows.append(
                [
                    c.runtime,
                    f"{c.size:,}",
                    _bytes(c.metric("bytes_per_task")),
                    _bytes(c.metric("coroutine_bytes")),
                    _bytes(c.metric("overhead_bytes_per_task")),
                    _r(ratio(res, workload, c.runtime, "asyncio", c.size)),
                    _r(ratio(res, workload, c.runtime, "bare", c.size)),
                    _bytes(c.metric("rss_bytes_per_task")),
                    _bytes(c.metric("peak_rss_bytes")),
                    _time(c.median_seconds),
                ]
            )
    elif workload in BYTES_METRIC:
        header = ["runtime", "N", "bytes/" + w.unit, "x asyncio (bytes)", "time"]
        for c in cells:
            rows.append(
                [
                    c.runtime,
                    f"{c.size:,}",
                    _bytes(c.metric(BYTES_METRIC[workload])),
                    _r(ratio(res, workload, c.runtime, "asyncio", c.size)),
                    _time(c.median_seconds),
                ]
            )
    else:
        header = ["runtime", "N", "median", "spread", f"{w.unit}s/s", "x asyncio", "x bare"]
        for c in cells:
            rows.append(
                [
                    c.runtime,
                    f"{c.size:,}",
                    _time(c.median_seconds),
                    f"{c.spread * 100:.0f}%",
                    _si(c.ops_per_s),
                    _r(ratio(res, workload, c.runtime, "asyncio", c.size)),
                    _r(ratio(res, workload, c.runtime, "bare", c.size)),
                ]
            )
    ks = [
        f"{r} {k:.2f}"
        for r in res.runtimes(workload)
        if (k := exponent(res, workload, r)) is not None
    ]
    growth = f"\n\nGrowth exponent k (time ~ N^k): {', '.join(ks)}." if ks else ""
    return f"### {workload}: {w.about}\n\n{_table(header, rows)}{growth}"


def instructions_table(res: Results) -> str:
    """Instructions per op, and the same ratios as the timed tables, computed from them."""
    rows = []
    for row in res.instructions:
        w, r = row["workload"], row["runtime"]
        rows.append(
            [
                w,
                r,
                f"{row['ir_per_op']:,.0f}",
                _r(ir_ratio(res, w, r, "asyncio")),
                _r(ir_ratio(res, w, r, "bare")),
                _r(ir_ratio(res, w, r, "bare-task")),
            ]
        )
    size = res.instructions[0]["size"] if res.instructions else 0
    head = (
        f"Counted by callgrind at N={size:,} and N={2 * size:,} in fresh processes: "
        "(I(2N) - I(N)) / (ops(2N) - ops(N)), so start-up and imports cancel. Exact and "
        "repeatable on one machine, whatever its load; `x asyncio` = asyncio's instructions "
        "per op / this runtime's. Instructions are not time: cache misses and the GC's "
        "memory traffic cost time, not instructions."
    )
    table = _table(
        ["workload", "runtime", "instructions/op", "x asyncio", "x bare", "x bare-task"], rows
    )
    return f"{head}\n\n{table}"


def summary_table(res: Results) -> str:
    """One line per runtime: its ratio vs asyncio in each workload at the largest size."""
    workloads = [w for w in WORKLOADS if res.sizes(w)]
    header = ["runtime"] + [
        f"{w} x asyncio" + (" (bytes)" if w in BYTES_METRIC else "") for w in workloads
    ]
    rows = []
    for r in RUNTIMES:
        if not any(res.sizes(w) and r in res.runtimes(w) for w in workloads):
            continue
        row = [r]
        for w in workloads:
            size = _largest_common(res, w, [r, "asyncio"])
            x = ratio(res, w, r, "asyncio", size) if size is not None else None
            row.append(_r(x) + (f" @{size:,}" if x is not None and size is not None else ""))
        rows.append(row)
    return _table(header, rows)


def targets_table(res: Results) -> str:
    rows = [[t.name, t.goal, t.measured, t.mark] for t in targets(res)]
    return _table(["target (issue 5 §2)", "goal", "measured", ""], rows)


TRACE_CHECK_JSON = Path(__file__).resolve().parent / "trace_check.json"
"""The trace-checker figures (``python -m benchmarks.trace_check --json`` writes them)."""


def _trace_check_section() -> str:
    """The trace checker's throughput and memory (issue 10 §4), from :data:`TRACE_CHECK_JSON`."""
    if not TRACE_CHECK_JSON.exists():
        return ""
    from benchmarks.trace_check import table

    figs = json.loads(TRACE_CHECK_JSON.read_text(encoding="utf-8"))
    return ("## Trace checking\n\n`python -m benchmarks.trace_check --json "
            "benchmarks/trace_check.json`: one core, a fresh process, the trace streamed from "
            "its file.\n\n" + table(figs))


def render(res: Results, plot_files: Sequence[Path] = (), relative_to: Path | None = None) -> str:
    """The whole report as Markdown (what ``python -m benchmarks`` prints)."""
    parts = [
        "## Ratios vs asyncio (largest size run; memory: ratio of the bytes the runtime adds per "
        "pending task, coroutine excluded; lower is better)"
    ]
    parts.append(summary_table(res))
    parts.append("## Targets")
    parts.append(targets_table(res))
    if res.instructions:
        parts.append("## Instructions per operation (callgrind)")
        parts.append(instructions_table(res))
    parts.append("## Per workload")
    parts += [workload_table(res, w) for w in WORKLOADS if res.sizes(w)]
    if plot_files:
        parts.append("## Plots")
        for p in plot_files:
            shown = p.relative_to(relative_to) if relative_to is not None else p
            parts.append(f"![{p.stem}]({shown.as_posix()})")
    if res.verify:
        parts.append("## Verification throughput")
        parts.append(
            _table(
                ["probe", "result"],
                [[v["name"], v["result"]] for v in res.verify],
            )
        )
    trace_check = _trace_check_section()
    if trace_check:
        parts.append(trace_check)
    notes = runtime_notes()
    if notes:
        parts.append("## How each runtime is driven")
        parts.append("\n".join(f"- **{name}**: {text}" for name, text in notes.items()))
    if res.skipped:
        parts.append("## Skipped")
        parts.append("\n".join(f"- {r} / {w}: {why}" for (r, w), why in res.skipped.items()))
    if res.errors:
        parts.append("## Errors")
        for e in res.errors:
            parts.append(
                f"- {e['runtime']} / {e['workload']} n={e['size']} rep {e['rep'] + 1}:\n\n"
                f"```\n{e['error'].rstrip()}\n```"
            )
    return "\n\n".join(parts) + "\n"


def results_md(res: Results, plot_files: Sequence[Path], md_dir: Path) -> str:
    """``benchmarks/RESULTS.md``: the machine, the command, then :func:`render`."""
    m, cfg = res.machine, res.config
    head = f"""# refexec benchmark results

Generated by the command below on {m.get("date", "?")}; regenerate with the same command from
the repository root (`refexec bench` takes the same options). Every (workload, runtime, size,
repetition) ran in its own fresh interpreter; the runtimes ran interleaved, side by side, in one
run, on a shared machine: read the **ratios**, not the absolute times.

```
{cfg.get("command", "python -m benchmarks")}
```

| machine | |
|---|---|
| CPU | {m.get("cpu", "?")} |
| cores | {m.get("cores", "?")} |
| OS | {m.get("os", "?")} |
| Python | {m.get("python", "?")} |
| sizes | {", ".join(f"{s:,}" for s in cfg.get("sizes", []))} |
| repetitions | {cfg.get("reps", "?")} (median reported; spread = (max - min) / median) |

Ratios: `x asyncio` = asyncio's median time / this runtime's for the same work (higher is
faster); `x bare` the same against the bare coroutine loop (the pure-Python floor).
`bare-task` is the floor for executors with task objects: the bare loop plus one two-slot task
object per task made by a `spawn()` call. Where a target is not met, the profile that says why
is in [ANALYSIS.md](ANALYSIS.md) (hand-written; this file is generated).

Memory, defined: *total bytes per pending task* is the Python-heap growth (tracemalloc) from
before the first spawn to the moment every task is pending, divided by the number of tasks: the
task object, the user's coroutine with its frame, the await machinery, the waker or callback left
with the future it waits on, the queue/registry slots. *Runtime adds per task* is the same minus
the bytes of the user's coroutine object (`parked(...)`, measured on its own), which is the same
object under every runtime. The memory target is judged on what the runtime adds (the
coroutine is not the runtime's to shrink); both figures are in the memory table. Every runtime
parks its tasks on its cheapest wait: asyncio on one shared `Future`, refexec on one shared
poll-based future keeping one `cx.waker.clone()` per task, the bare loop by setting the
coroutine aside.

"""
    md_dir = md_dir.resolve()
    files = [p.resolve() for p in plot_files]
    return head + render(res, files, relative_to=md_dir)
