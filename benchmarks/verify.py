"""Verification throughput: how fast the checkers work, timed like any other workload.

Each probe is a name, a description and a ``resolve()`` that returns either a zero-argument
callable producing the probe's figures (a dict with a human-readable ``result``), or a string
saying why the probe is not available yet. Probes run one per fresh process
(``python -m benchmarks.verify PROBE BUDGET`` prints one JSON line), under a time budget.

Two general tools time anything: :func:`time_command` (an argv, in a subprocess) and
:func:`time_callable` (a function, in this process); new probes are a few lines on top of them.

Where ``refexec.models`` does not (yet) offer what a probe needs, the probe reports
``not available yet`` and names the entry point it looked for: :data:`LOCKSTEP_RUNNERS` lists
the candidates for the one such probe, so wiring it to the real API is one line there.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
VARIANTS = ("reference", "seed")
TASK_COUNTS = (2, 3, 4)

#: The lockstep machine's step runner, ``module:function(steps) -> steps run``: the one probe
#: whose entry point ``refexec`` does not offer yet.
LOCKSTEP_RUNNERS = ("refexec.testing:run_lockstep_steps",)

Probe = Callable[[float], dict[str, Any]]
#: ``refexec verify`` runs to the end (its wall time is the figure), up to this many seconds.
WALL_LIMIT = 1800.0


class _OutOfBudget(Exception):
    pass


def time_command(argv: list[str], timeout: float | None = None) -> dict[str, Any]:
    """Run ``argv`` from the repository root; its wall time, exit status and output's tail."""
    t0 = time.perf_counter()
    proc = subprocess.run(
        argv, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )
    seconds = time.perf_counter() - t0
    return {
        "seconds": seconds,
        "returncode": proc.returncode,
        "tail": (proc.stdout + proc.stderr)[-1500:],
    }


def time_callable(fn: Callable[[], Any], repeat: int = 1) -> dict[str, Any]:
    """Call ``fn`` ``repeat`` times; the median wall time and the last return value."""
    times = []
    value: Any = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - t0)
    times.sort()
    return {"seconds": times[len(times) // 2], "value": value}


def _find(candidates: tuple[str, ...]) -> Callable[..., Any] | None:
    for spec in candidates:
        module_name, attr = spec.split(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        fn = getattr(module, attr, None)
        if callable(fn):
            return fn  # type: ignore[no-any-return]
    return None


def _model_factory() -> Callable[[str, int], Any] | str:
    """``(variant, n_tasks) -> TransitionSystem``: the variant at its default bounds, n tasks."""
    try:
        from refexec.models import reference, seed, variants
    except ImportError as e:
        return f"not available yet: {e}"

    def build(variant: str, n_tasks: int) -> Any:
        mod = reference if variant == "reference" else seed
        return variants.build(variant, mod.default_bounds(n_tasks))

    return build


def _not_yet(what: str, candidates: tuple[str, ...]) -> str:
    return f"not available yet: refexec.models has no {what} (looked for {', '.join(candidates)})"


# --- the probes ---------------------------------------------------------------------------------


def _verify_wall() -> Probe | str:
    try:
        importlib.import_module("refexec.models.cli_verify")
    except ImportError:
        return "not available yet: `refexec verify` (refexec.models.cli_verify) does not exist"

    def probe(budget: float) -> dict[str, Any]:
        out = time_command([sys.executable, "-m", "refexec.cli", "verify"], timeout=WALL_LIMIT)
        status = "ok" if out["returncode"] == 0 else f"exit status {out['returncode']}"
        return {**out, "result": f"{out['seconds']:.1f} s wall ({status})"}

    return probe


def _bmc(variant: str, n_tasks: int) -> Probe | str:
    factory = _model_factory()
    if isinstance(factory, str):
        return factory
    try:
        from refexec.models.symbolic import bmc
    except ImportError:
        return "not available yet: refexec.models.symbolic.bmc does not exist"

    def probe(budget: float) -> dict[str, Any]:
        ts = factory(variant, n_tasks)
        depth = [-1]
        t0 = time.perf_counter()

        def progress(msg: str) -> None:
            if "bmc depth" in msg:
                depth[0] = int(msg.split("bmc depth", 1)[1].split(":", 1)[0])
            if time.perf_counter() - t0 > budget:
                raise _OutOfBudget

        try:
            bmc(ts, max_depth=10_000, progress=progress)
            finished = True
        except _OutOfBudget:
            finished = False
        seconds = time.perf_counter() - t0
        per_min = (depth[0] + 1) / seconds * 60
        state = "" if finished else f" (stopped at the {budget:.0f} s budget)"
        return {
            "seconds": seconds,
            "depth": depth[0],
            "result": f"depth {depth[0]} in {seconds:.1f} s"
            f" = {per_min:.1f} depth levels/min{state}",
        }

    return probe


def _explore(variant: str, n_tasks: int) -> Probe | str:
    factory = _model_factory()
    if isinstance(factory, str):
        return factory
    try:
        from refexec.models.exhaustive import explore
    except ImportError:
        return "not available yet: refexec.models.exhaustive.explore does not exist"

    def probe(budget: float) -> dict[str, Any]:
        ts = factory(variant, n_tasks)
        seen = [0]
        t0 = time.perf_counter()

        def progress(states: int, depth: int) -> None:
            seen[0] = states
            if time.perf_counter() - t0 > budget:
                raise _OutOfBudget

        try:
            states = explore(ts, progress=progress).states
            finished = ""
        except _OutOfBudget:
            states = seen[0]
            finished = f" (stopped at the {budget:.0f} s budget, not the whole space)"
        seconds = time.perf_counter() - t0
        rate = states / seconds if seconds else float("inf")
        return {
            "seconds": seconds,
            "states": states,
            "result": f"{states:,} states in {seconds:.1f} s = {rate:,.0f} states/s{finished}",
        }

    return probe


def _lockstep() -> Probe | str:
    runner = _find(LOCKSTEP_RUNNERS)
    if runner is None:
        return _not_yet("lockstep step runner", LOCKSTEP_RUNNERS)

    def probe(budget: float) -> dict[str, Any]:
        out = time_callable(lambda: runner(10_000))
        steps = int(out["value"])
        return {
            "seconds": out["seconds"],
            "steps": steps,
            "result": f"{steps / out['seconds']:,.0f} lockstep steps/s",
        }

    return probe


@dataclass(frozen=True)
class ProbeSpec:
    name: str
    resolve: Callable[[], Probe | str]


def probes() -> list[ProbeSpec]:
    out = [ProbeSpec("refexec verify: wall time", _verify_wall)]
    for v in VARIANTS:
        for n in TASK_COUNTS:
            out.append(ProbeSpec(f"z3 BMC depth/min: {v}, {n} tasks", lambda v=v, n=n: _bmc(v, n)))  # type: ignore[misc]
    for v in VARIANTS:
        for n in TASK_COUNTS:
            out.append(
                ProbeSpec(f"explicit states/s: {v}, {n} tasks", lambda v=v, n=n: _explore(v, n))
            )  # type: ignore[misc]
    out.append(ProbeSpec("lockstep machine steps/s", _lockstep))
    return out


def run_one(name: str, budget: float) -> dict[str, Any]:
    """Resolve and run one probe in this process."""
    spec = next(p for p in probes() if p.name == name)
    resolved = spec.resolve()
    if isinstance(resolved, str):
        return {"name": name, "result": resolved, "available": False}
    try:
        return {"name": name, "available": True, **resolved(budget)}
    except Exception as e:  # a probe failing is a finding for the report, not a crash
        return {"name": name, "available": True, "result": f"error: {type(e).__name__}: {e}"}


def run_probes(log: Callable[[str], None], budget: float) -> list[dict[str, Any]]:
    """Every probe, each in a fresh process, under ``budget`` seconds (plus start-up slack)."""
    results = []
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    limit = max(WALL_LIMIT, budget * 2) + 60
    for spec in probes():
        cmd = [sys.executable, "-m", "benchmarks.verify", spec.name, str(budget)]
        try:
            proc = subprocess.run(
                cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=limit, check=False
            )
            lines = proc.stdout.strip().splitlines()
            result = (
                json.loads(lines[-1])
                if lines
                else {"name": spec.name, "result": f"error: {proc.stderr[-500:]}"}
            )
        except subprocess.TimeoutExpired:
            result = {"name": spec.name, "result": f"error: no answer in {limit:.0f} s"}
        log(f"verify: {spec.name}: {result['result']}")
        results.append(result)
    return results


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m benchmarks.verify PROBE BUDGET_SECONDS", file=sys.stderr)
        print("probes: " + "; ".join(p.name for p in probes()), file=sys.stderr)
        return 2
    print(json.dumps(run_one(args[0], float(args[1])), default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
