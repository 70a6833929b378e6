"""Run one measurement and print it as one line of JSON: ``python -m benchmarks.worker R W N``.

The runner starts a fresh interpreter for every (runtime, workload, size, repetition), so no
measurement inherits another's heap, caches or peak RSS. The output line is one of::

    {"ok": true, "sample": {"seconds": ..., "ops": ..., ...}}
    {"ok": false, "skip": "why this runtime cannot run this workload"}
    {"ok": false, "error": "the traceback"}          (exit status 1)
"""

from __future__ import annotations

import gc
import importlib
import json
import os
import shlex
import subprocess
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks import common
from benchmarks.registry import RUNTIMES, WORKLOADS


def measure(runtime: str, workload: str, n: int) -> common.Sample:
    """Run ``workload`` at size ``n`` on ``runtime`` in this process; NotSupported if it can't."""
    rt = RUNTIMES[runtime]
    if workload not in WORKLOADS:
        raise KeyError(f"unknown workload {workload!r}; known: {', '.join(WORKLOADS)}")
    module: Any = importlib.import_module(rt.module)
    reason = module.available(rt.variant)
    if reason is not None:
        raise common.NotSupported(reason)
    gc.collect()
    if workload == "memory":

        def cycle(size: int, mark: common.Mark) -> None:
            module.park_cycle(rt.variant, size, mark)

        return common.memory(cycle, n)
    fn = getattr(module, workload.replace("-", "_"), None)
    if fn is None:
        raise common.NotSupported(f"{runtime} has no {workload} workload (not a runtime with "
                                  "timers or sockets)")
    sample: common.Sample = fn(rt.variant, n)
    return sample


def outcome(runtime: str, workload: str, n: int) -> dict[str, Any]:
    """:func:`measure`, with a skip or an error turned into the worker's JSON answer."""
    try:
        return {"ok": True, "sample": measure(runtime, workload, n)}
    except common.NotSupported as e:
        return {"ok": False, "skip": str(e)}
    except Exception:
        return {"ok": False, "error": traceback.format_exc()}


def answer_of(stdout: str, stderr: str, what: str) -> dict[str, Any]:
    """The JSON answer on the worker's last line of output, or an error that shows its output."""
    lines = stdout.strip().splitlines()
    try:
        answer: dict[str, Any] = json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        tail = f"{stdout[-2000:]}{stderr[-4000:]}"
        return {"ok": False, "error": f"no answer from {what}:\n{tail}"}
    return answer


def run_fresh(
    runtime: str,
    workload: str,
    size: int,
    *,
    root: Path,
    timeout: float,
    prefix: Sequence[str] = (),
    env: dict[str, str] | None = None,
) -> tuple[dict[str, Any], str]:
    """Run one measurement in a fresh interpreter (under ``prefix``, e.g. valgrind, if given):
    the worker's answer and its stderr."""
    cmd = [*prefix, sys.executable, "-m", "benchmarks.worker", runtime, workload, str(size)]
    full_env = dict(os.environ)
    full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), full_env.get("PYTHONPATH")]))
    full_env.update(env or {})
    try:
        proc = subprocess.run(
            cmd, cwd=root, env=full_env, capture_output=True, text=True, timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"ok": False, "error": f"timed out after {timeout:.0f} s: {shlex.join(cmd)}"}, ""
    what = f"{shlex.join(cmd)} (exit {proc.returncode})"
    return answer_of(proc.stdout, proc.stderr, what), proc.stderr


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 3:
        print("usage: python -m benchmarks.worker RUNTIME WORKLOAD N", file=sys.stderr)
        return 2
    runtime, workload, size = args
    result = outcome(runtime, workload, int(float(size)))
    sys.stdout.flush()
    print(json.dumps(result))
    return 1 if "error" in result else 0


if __name__ == "__main__":
    raise SystemExit(main())
