"""Trace-check throughput (issue 10 §4): events per second, memory, and the 100 MB trace.

Each case records a real run of an executor to a JSON-lines file, then checks the file with
``check_trace`` (streamed) in a fresh process, on one core, and reports wall time, events per
second, peak RSS of the checking process and the file size. The workloads keep at most
``alive`` tasks alive at once while spawning many more over the run, so a checker whose cost
grows with the tasks ever spawned shows it directly.

    python -m benchmarks.trace_check                 # the report's cases (minutes)
    python -m benchmarks.trace_check --quick         # small cases (seconds)
    python -m benchmarks.trace_check --json FILE     # figures as JSON (read by benchmarks.report)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
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
    """Check a trace file in this process; wall time, events/s and peak RSS."""
    from refexec.models.trace_check import check_trace

    t0 = time.perf_counter()
    r = check_trace(path, variant)
    dt = time.perf_counter() - t0
    return {
        "valid": r.ok and r.complete, "events": r.events, "tasks": r.spawned,
        "slots": r.slots, "seconds": dt, "events_per_s": r.events / dt if dt else 0.0,
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
}
QUICK = {
    "100-tasks-one-yield": CASES["100-tasks-one-yield"],
    "400-tasks-batches-of-10": CASES["400-tasks-batches-of-10"],
    "20k-reference-16-alive": {"executor": "reference", "tasks": 2_000, "alive": 16,
                               "yields": 3},
    "20k-seed-16-alive": {"executor": "seed", "tasks": 2_000, "alive": 16, "yields": 1},
}


def run_case(name: str, case: dict[str, Any], tmp: Path) -> dict[str, Any]:
    path = tmp / f"{name}.jsonl"
    n = record(case["executor"], case["tasks"], case["alive"], case["yields"], path)
    variant = case["executor"]
    env = dict(os.environ, PYTHONHASHSEED="0")
    cmd = [sys.executable, "-m", "benchmarks.trace_check", "--check", str(path), variant]
    # one core, as the target says
    if sys.platform.startswith("linux"):
        cmd = ["taskset", "-c", "0", *cmd]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env, check=True)
    fig = json.loads(out.stdout.strip().splitlines()[-1])
    # the machine is shared: the load average says how far to trust the absolute figures
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    fig.update(name=name, recorded=n, file_mb=path.stat().st_size / 1e6, alive=case["alive"],
               variant=variant, load_avg_1m=load)
    path.unlink()
    return fig


def table(figs: list[dict[str, Any]]) -> str:
    head = ("| case | variant | events | tasks spawned | most alive (model slots) | file | "
            "check time | events/s | peak RSS | load avg | verdict |")
    rows = [head, "|" + "---|" * 11]
    for f in figs:
        rows.append(
            f"| {f['name']} | {f['variant']} | {f['events']:,} | {f['tasks']:,} | "
            f"{f['alive']} ({f['slots']}) | {f['file_mb']:.1f} MB | {f['seconds']:.2f} s | "
            f"{f['events_per_s']:,.0f} | {f['peak_rss_mb']:.0f} MB | "
            f"{f.get('load_avg_1m', 0.0):.1f} | "
            f"{'VALID' if f['valid'] else 'NOT VALID'} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.trace_check", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small cases (seconds)")
    ap.add_argument("--only", default="", help="comma-separated case names")
    ap.add_argument("--json", type=Path, help="write the figures as JSON")
    ap.add_argument("--check", nargs=2, metavar=("FILE", "VARIANT"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.check:
        print(json.dumps(check_file(Path(args.check[0]), args.check[1])))
        return 0
    cases = QUICK if args.quick else CASES
    if args.only:
        cases = {k: v for k, v in cases.items() if k in args.only.split(",")}
    figs = []
    with tempfile.TemporaryDirectory() as d:
        for name, case in cases.items():
            fig = run_case(name, case, Path(d))
            print(json.dumps(fig), file=sys.stderr)
            figs.append(fig)
    print(table(figs))
    if args.json:
        args.json.write_text(json.dumps(figs, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
