"""Trace-check throughput (issue 10 §4): events per second, memory, and the 100 MB trace.

Each case records a real run of an executor to a JSON-lines file, then checks the file with
``check_trace`` (streamed) in a fresh process, on one core, and reports wall time, events per
second, peak RSS of the checking process and the file size. The workloads keep at most
``alive`` tasks alive at once while spawning many more over the run, so a checker whose cost
grows with the tasks ever spawned shows it directly.

    python -m benchmarks.trace_check                 # the report's cases (minutes)
    python -m benchmarks.trace_check --quick         # small cases (seconds)
    python -m benchmarks.trace_check --json FILE     # figures as JSON (read by benchmarks.report)
    python -m benchmarks.trace_check --repeat 3      # each check 3 times: the median
    python -m benchmarks.trace_check --instructions  # callgrind: instructions per event

The machine these figures come from is shared, so besides wall time each check reports its CPU
time (``events_per_cpu_s``: what the checker costs, whatever else runs), ``--repeat`` takes the
median of several fresh processes, and ``--instructions`` counts, with valgrind's callgrind,
the instructions per event of the steady state: the checker is run on the trace's first N and
first 2N events (a prefix is checked event by event like a whole trace) and

    instructions per event = (I(2N) - I(N)) / N

which cancels start-up, imports and the warm-up of the memo; it does not move with the load.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def record(executor: str, tasks: int, alive: int, yields: int, path: Path) -> int:
    """Run ``tasks`` tasks of ``yields`` yields each, at most ``alive`` at once, tracing to
    ``path``; return the number of events."""
    from refexec import Executor, SimpleExecutor, Trace, yield_now

    async def work() -> None:
        for _ in range(yields):
            await yield_now()

    n = 0
    with path.open("w", encoding="utf-8") as out:
        if executor == "reference":
            left = tasks
            tr = Trace()
            ex = Executor(trace=tr)
            while left:
                for _ in range(min(alive, left)):
                    ex.spawn(work())
                left -= min(alive, left)
                ex.run_until_stalled()
                n += _flush(tr, out)
            ex.run()
            n += _flush(tr, out)
        else:
            tr = Trace()
            sx = SimpleExecutor(trace=tr)

            async def feeder() -> None:
                # spawns from inside a task (the seed's exercise 1), keeping <= alive tasks
                left = tasks
                while left:
                    k = min(alive - 1, left)
                    for _ in range(k):
                        sx.spawn(work())
                    left -= k
                    for _ in range(yields + 1):
                        await yield_now()
                    n_out = _flush(tr, out)
                    counter[0] += n_out

            counter = [0]
            sx.spawn(feeder())
            sx.run()
            n = counter[0] + _flush(tr, out)
    return n


def _flush(tr: Any, out: Any) -> int:
    events = tr.events
    k = len(events)
    out.write("".join(e.to_json() + "\n" for e in events[:k]))
    del events[:k]
    return k


def check_file(path: Path, variant: str) -> dict[str, Any]:
    """Check a trace file in this process as ``refexec check-trace`` does (the streaming
    reader, then the checker); wall and CPU time, events/s and peak RSS."""
    from refexec.models.trace_file import check_trace_file

    t0, c0 = time.perf_counter(), time.process_time()
    r = check_trace_file(path, variant=variant).result
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {
        "valid": r.ok and r.complete, "events": r.events, "tasks": r.spawned,
        "slots": r.slots, "seconds": dt, "events_per_s": r.events / dt if dt else 0.0,
        "cpu_seconds": cpu, "events_per_cpu_s": r.events / cpu if cpu else 0.0,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "violated": r.violated(),
    }


CASES: dict[str, dict[str, Any]] = {
    # the old figures: 7.6 s and 127 s
    "100-tasks-one-yield": {"executor": "reference", "tasks": 100, "alive": 100, "yields": 1},
    "400-tasks-batches-of-10": {"executor": "reference", "tasks": 400, "alive": 10,
                                "yields": 1},
    # one million events, <= 16 alive; once per executor
    "1M-reference-16-alive": {"executor": "reference", "tasks": 100_000, "alive": 16,
                              "yields": 3},
    "1M-seed-16-alive": {"executor": "seed", "tasks": 90_000, "alive": 16, "yields": 1},
    # the 100 MB trace (about 2.25 M events in the measurement)
    "100MB-reference": {"executor": "reference", "tasks": 230_000, "alive": 16, "yields": 3},
    # 100 tasks alive at once (the model holds 128 slots): no verdict in 400 s before
    "100-alive-5-yields": {"executor": "reference", "tasks": 100, "alive": 100, "yields": 5},
}
QUICK = {
    "100-tasks-one-yield": CASES["100-tasks-one-yield"],
    "400-tasks-batches-of-10": CASES["400-tasks-batches-of-10"],
    "20k-reference-16-alive": {"executor": "reference", "tasks": 2_000, "alive": 16,
                               "yields": 3},
    "20k-seed-16-alive": {"executor": "seed", "tasks": 2_000, "alive": 16, "yields": 1},
}


def _check_fresh(path: Path, variant: str, prefix: tuple[str, ...] = ()
                 ) -> tuple[dict[str, Any], str]:
    """Check ``path`` in a fresh process (one core); its figures and its stderr."""
    env = dict(os.environ, PYTHONHASHSEED="0")
    cmd = [*prefix, sys.executable, "-m", "benchmarks.trace_check", "--check", str(path),
           variant]
    if sys.platform.startswith("linux"):  # one core, as the target says
        cmd = ["taskset", "-c", "0", *cmd]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1]), out.stderr


def run_case(name: str, case: dict[str, Any], tmp: Path, repeat: int = 1) -> dict[str, Any]:
    path = tmp / f"{name}.jsonl"
    n = record(case["executor"], case["tasks"], case["alive"], case["yields"], path)
    variant = case["executor"]
    runs = [_check_fresh(path, variant)[0] for _ in range(repeat)]
    fig = dict(runs[0])
    for k in ("seconds", "events_per_s", "cpu_seconds", "events_per_cpu_s"):
        fig[k] = statistics.median(r[k] for r in runs)
    fig["repeat"] = repeat
    # the machine is shared: the load average says how far to trust the absolute figures
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    fig.update(name=name, recorded=n, file_mb=path.stat().st_size / 1e6, alive=case["alive"],
               variant=variant, load_avg_1m=load)
    path.unlink()
    return fig


_COLLECTED = re.compile(r"Collected\s*:\s*(\d+)")


def instructions(name: str, case: dict[str, Any], tmp: Path, n: int) -> dict[str, Any]:
    """Instructions per event of the steady state: callgrind on the first N and 2N events."""
    path = tmp / f"{name}.jsonl"
    record(case["executor"], case["tasks"], case["alive"], case["yields"], path)
    counts = []
    with path.open(encoding="utf-8") as f:
        lines = f.readlines()
    if len(lines) < 2 * n:
        raise SystemExit(f"{name}: {len(lines)} events, fewer than 2N = {2 * n}")
    for k in (n, 2 * n):
        part = tmp / f"{name}-{k}.jsonl"
        part.write_text("".join(lines[:k]), encoding="utf-8")
        _, err = _check_fresh(part, case["executor"], (
            "valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"))
        found = _COLLECTED.findall(err)
        if not found:
            raise SystemExit(f"callgrind printed no count:\n{err[-2000:]}")
        counts.append(int(found[-1]))
        part.unlink()
    path.unlink()
    return {"name": name, "variant": case["executor"], "n": n,
            "instructions_per_event": (counts[1] - counts[0]) / n}


def table(figs: list[dict[str, Any]]) -> str:
    head = ("| case | variant | events | tasks spawned | most alive (model slots) | file | "
            "check time | events/s | events per CPU-s | peak RSS | load avg | verdict |")
    rows = [head, "|" + "---|" * 12]
    for f in figs:
        rows.append(
            f"| {f['name']} | {f['variant']} | {f['events']:,} | {f['tasks']:,} | "
            f"{f['alive']} ({f['slots']}) | {f['file_mb']:.1f} MB | {f['seconds']:.2f} s | "
            f"{f['events_per_s']:,.0f} | {f.get('events_per_cpu_s', 0.0):,.0f} | "
            f"{f['peak_rss_mb']:.0f} MB | "
            f"{f.get('load_avg_1m', 0.0):.1f} | "
            f"{'VALID' if f['valid'] else 'NOT VALID'} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.trace_check", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small cases (seconds)")
    ap.add_argument("--only", default="", help="comma-separated case names")
    ap.add_argument("--json", type=Path, help="write the figures as JSON")
    ap.add_argument("--repeat", type=int, default=1, help="checks per case (the median)")
    ap.add_argument("--instructions", type=int, nargs="?", const=40_000, default=0,
                    metavar="N", help="callgrind instructions per event on N and 2N events "
                    "(default N: 40,000) instead of the timed table")
    ap.add_argument("--check", nargs=2, metavar=("FILE", "VARIANT"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.check:
        print(json.dumps(check_file(Path(args.check[0]), args.check[1])))
        return 0
    cases = QUICK if args.quick else CASES
    if args.only:
        cases = {k: v for k, v in cases.items() if k in args.only.split(",")}
    figs = []
    if args.instructions:
        with tempfile.TemporaryDirectory() as d:
            for name, case in cases.items():
                got = instructions(name, case, Path(d), args.instructions)
                print(json.dumps(got), file=sys.stderr)
                figs.append(got)
        print("| case | variant | N | instructions per event |\n|---|---|---|---|")
        for g in figs:
            print(f"| {g['name']} | {g['variant']} | {g['n']:,} | "
                  f"{g['instructions_per_event']:,.0f} |")
        if args.json:
            args.json.write_text(json.dumps(figs, indent=1) + "\n", encoding="utf-8")
        return 0
    with tempfile.TemporaryDirectory() as d:
        for name, case in cases.items():
            fig = run_case(name, case, Path(d), args.repeat)
            print(json.dumps(fig), file=sys.stderr)
            figs.append(fig)
    print(table(figs))
    if args.json:
        args.json.write_text(json.dumps(figs, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
