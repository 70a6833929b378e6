"""Exploration benchmark (issue 15 section 4): what exploring costs, and how fast it finds bugs.

``python -m benchmarks.explore_bench [--quick] [--instructions] [--json FILE]`` prints these
tables (``--instructions`` adds instructions per scheduled step counted by valgrind's
callgrind, which load does not disturb):

1. **Cost per scheduled step**, exploration off and on, on one comparable program: ``tasks``
   tasks each yielding ``yields`` times (``refexec.yield_now()`` / ``asyncio.sleep(0)``), so a
   run is ``tasks * (yields + 1)`` scheduled steps. Rows: refexec's own FIFO loop (no policy:
   exploration off), ``Executor(policy=RandomPolicy)`` (the policy seam on, one run), and
   ``refexec.explore`` (random and PCT: a fresh executor, recorder and checks per run), and,
   when they are installed (they need Python >= 3.12), ``simloop.explore`` and
   ``simloom.explore`` on the asyncio version of the same program, plus plain ``asyncio.run``.
   Cost per step = wall time / (runs * steps per run); schedules/s = runs / wall time.
2. **Schedules to the first failure**, per example (``refexec.examples``: check_then_act,
   cancelled_waiter, lossy_channel, timeout_swallow) and strategy: DFS (deterministic: one
   number), and the median / mean / worst over ``--seeds`` seeds for random and PCT. The
   count includes the first (FIFO) run, as ``Failure.run + 1``.
3. The same for simloop and simloom (random, PCT) on the asyncio port of ``check_then_act``
   (the other three examples hand-write futures and wakers, which asyncio has no equivalent
   of), when installed.

Wall-clock figures on a shared machine are noisy: compare rows of one run, not runs.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import refexec
from refexec import Executor, VirtualClock
from refexec.schedule import RandomPolicy

EXAMPLES = ("check_then_act", "cancelled_waiter", "lossy_channel", "timeout_swallow")
Main = Callable[[], Coroutine[Any, Any, Any]]


# -- the comparable program ----------------------------------------------------------------


def refexec_program(tasks: int, yields: int) -> Main:
    async def worker() -> None:
        for _ in range(yields):
            await refexec.yield_now()

    async def main() -> None:
        hs = [refexec.spawn(worker()) for _ in range(tasks - 1)]
        await worker()
        for h in hs:
            await h

    return main


def asyncio_program(tasks: int, yields: int) -> Main:
    async def worker() -> None:
        for _ in range(yields):
            await asyncio.sleep(0)

    async def main() -> None:
        hs = [asyncio.ensure_future(worker()) for _ in range(tasks - 1)]
        await worker()
        for h in hs:
            await h

    return main


def timed(fn: Callable[[], int]) -> tuple[float, int]:
    """(seconds, runs) for ``fn`` (which returns how many runs it made)."""
    t0 = time.perf_counter()
    runs = fn()
    return time.perf_counter() - t0, runs


def cost_rows(tasks: int, yields: int, runs: int) -> list[dict[str, Any]]:
    steps = tasks * (yields + 1)
    main = refexec_program(tasks, yields)
    rows: list[tuple[str, Callable[[], int]]] = []

    def fifo() -> int:
        for _ in range(runs):
            ex = Executor()
            ex.spawn(main())
            ex.run()
            ex.close()
        return runs

    def policy() -> int:
        for i in range(runs):
            ex = Executor(policy=RandomPolicy(i), clock=VirtualClock(autojump=True))
            ex.spawn(main())
            ex.run()
            ex.close()
        return runs

    def explore(strategy: str) -> Callable[[], int]:
        def go() -> int:
            r = refexec.explore(main, strategy=strategy, max_schedules=runs, shrink=False)
            assert r.failure is None, r
            return r.schedules_run
        return go

    calls = iter(range(1, 1 << 30))

    def checked() -> int:  # every run checked against the model: far slower, fewer runs
        # a new seed per call: the warm-up builds the model, but its schedules (and the model
        # states they reach, which the checker caches) are not the measured ones
        n = max(runs // 20, 2)
        r = refexec.explore(main, strategy="random", seed=next(calls), max_schedules=n,
                            shrink=False, check_model=True)
        assert r.failure is None, r
        return r.schedules_run

    rows += [("refexec FIFO loop (exploration off)", fifo),
             ("refexec Executor(policy=RandomPolicy) (policy on)", policy),
             ("refexec.explore random", explore("random")),
             ("refexec.explore pct", explore("pct")),
             ("refexec.explore random, check_model=True", checked)]
    amain = asyncio_program(tasks, yields)

    def plain_asyncio() -> int:
        for _ in range(runs):
            asyncio.run(amain())
        return runs

    rows.append(("asyncio.run (no exploration)", plain_asyncio))
    simloop = _optional("simloop")
    if simloop is not None:
        for pol in ("random", "pct"):
            def go_simloop(pol: str = pol) -> int:
                assert simloop.explore(amain, range(runs), policy=pol) is None
                return runs
            rows.append((f"simloop.explore {pol}", go_simloop))
    simloom = _optional("simloom")
    if simloom is not None:
        for pol in ("random", "pct"):
            def go_simloom(pol: str = pol) -> int:
                r = simloom.explore(amain, runs=runs, scheduler=pol, virtual_time=True)
                assert not r.failed, r.summary()
                return runs
            rows.append((f"simloom.explore {pol}", go_simloom))
    out = []
    for name, fn in rows:
        timed(fn)  # warm-up: imports, caches
        seconds, n = timed(fn)
        out.append({"what": name, "runs": n, "steps_per_run": steps, "seconds": seconds,
                    "schedules_per_s": n / seconds, "us_per_step": 1e6 * seconds / (n * steps)})
    return out


# -- instructions per scheduled step (callgrind: exact, whatever the machine's load) ---------

IR_WHAT = ("fifo", "random", "pct", "random-checked", "simloop-random", "simloop-pct",
           "simloom-random", "simloom-pct")


def ir_worker(what: str, runs: int, tasks: int, yields: int) -> None:
    """One measured process: ``runs`` runs of the comparable program under ``what``."""
    main, amain = refexec_program(tasks, yields), asyncio_program(tasks, yields)
    if what == "fifo":
        for _ in range(runs):
            ex = Executor()
            ex.spawn(main())
            ex.run()
            ex.close()
    elif what in ("random", "pct"):
        r = refexec.explore(main, strategy=what, max_schedules=runs, shrink=False)
        assert r.failure is None and r.schedules_run == runs, r
    elif what == "random-checked":
        r = refexec.explore(main, strategy="random", max_schedules=runs, shrink=False,
                            check_model=True)
        assert r.failure is None and r.schedules_run == runs, r
    elif what.startswith("simloop-"):
        assert _optional("simloop").explore(amain, range(runs), policy=what[8:]) is None
    else:
        r = _optional("simloom").explore(amain, runs=runs, scheduler=what[8:], virtual_time=True)
        assert not r.failed, r.summary()


def instruction_rows(tasks: int, yields: int, runs: int) -> list[dict[str, Any]]:
    """Instructions per scheduled step: (I(2R) - I(R)) / (R * steps per run), each count in a
    fresh process under callgrind, so start-up and imports cancel (per-run set-up does not:
    it is part of what exploring costs)."""
    if shutil.which("valgrind") is None:
        return []
    root = str(Path(__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONHASHSEED": "0",
           "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    out = []
    for what in IR_WHAT:
        if what.startswith("sim") and _optional(what.split("-")[0]) is None:
            continue
        counts = []
        for n in (runs, 2 * runs):
            p = subprocess.run(
                ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable,
                 "-m", "benchmarks.explore_bench", "--ir-worker", what, "--runs", str(n),
                 "--tasks", str(tasks), "--yields", str(yields)],
                capture_output=True, text=True, env=env, cwd=root, check=False)
            found = re.findall(r"Collected\s*:\s*(\d+)", p.stderr)
            if p.returncode != 0 or not found:
                raise RuntimeError(f"callgrind run of {what} failed:\n{p.stderr[-2000:]}")
            counts.append(int(found[-1]))
        steps = tasks * (yields + 1)
        per_step = (counts[1] - counts[0]) / (runs * steps)
        out.append({"what": what, "instructions_per_step": per_step})
    return out


# -- schedules to the first failure ----------------------------------------------------------


def to_failure(main: Main, strategy: str, seed: int, budget: int) -> int | None:
    r = refexec.explore(main, strategy=strategy, seed=seed, max_schedules=budget, shrink=False)
    return None if r.failure is None else r.failure.run + 1


def summary(counts: list[int | None], budget: int) -> dict[str, Any]:
    found = [c for c in counts if c is not None]
    # the median counts a seed that found nothing as more than the budget
    ranked = sorted(c if c is not None else budget + 1 for c in counts)
    median = statistics.median(ranked) if ranked else None
    return {"found": f"{len(found)}/{len(counts)}",
            "median": median if median is None or median <= budget else f"> {budget}",
            "mean": statistics.mean(found) if found else None,
            "worst": max(found) if len(found) == len(counts) else f"> {budget}"}


def failure_rows(seeds: int, budget: int) -> list[dict[str, Any]]:
    out = []
    for name in EXAMPLES:
        buggy = importlib.import_module(f"refexec.examples.{name}").buggy
        dfs = to_failure(buggy, "dfs", 0, budget)
        row: dict[str, Any] = {"example": name, "dfs": dfs if dfs is not None else f"> {budget}"}
        for strategy in ("random", "pct"):
            row[strategy] = summary([to_failure(buggy, strategy, s, budget)
                                     for s in range(seeds)], budget)
        out.append(row)
    return out


def asyncio_check_then_act() -> Main:
    """check_then_act for asyncio: the same two customers, the same stale check."""

    async def main() -> None:
        acct = {"balance": 100}

        async def withdraw(amount: int) -> None:
            if acct["balance"] < amount:
                return
            await asyncio.sleep(0)  # the audit record
            acct["balance"] -= amount

        async def customer(amount: int, think: int) -> None:
            for _ in range(think):
                await asyncio.sleep(0)
            await withdraw(amount)

        first = asyncio.ensure_future(customer(80, 0))
        second = asyncio.ensure_future(customer(80, 2))
        await first
        await second
        assert acct["balance"] >= 0, f"overdrawn: {acct['balance']}"

    return main


def foreign_failure_rows(seeds: int, budget: int) -> list[dict[str, Any]]:
    main = asyncio_check_then_act()
    out = []
    simloop = _optional("simloop")
    if simloop is not None:
        for pol in ("random", "pct"):
            counts = []
            for s in range(seeds):
                rep = simloop.explore(main, range(s * budget, (s + 1) * budget), policy=pol)
                counts.append(None if rep is None else rep.seeds_passed + 1)
            out.append({"tool": f"simloop {pol}", **summary(counts, budget)})
    simloom = _optional("simloom")
    if simloom is not None:
        for pol in ("random", "pct"):
            counts = []
            for s in range(seeds):
                r = simloom.explore(main, runs=budget, start_seed=s * budget, scheduler=pol,
                                    virtual_time=True)
                counts.append(r.failures[0].seed - s * budget + 1 if r.failed else None)
            out.append({"tool": f"simloom {pol}", **summary(counts, budget)})
    return out


def _optional(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


# -- report ------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.explore_bench")
    ap.add_argument("--tasks", type=int, default=4)
    ap.add_argument("--yields", type=int, default=25)
    ap.add_argument("--runs", type=int, default=200, help="schedules per cost row")
    ap.add_argument("--seeds", type=int, default=20, help="seeds per random/PCT figure")
    ap.add_argument("--budget", type=int, default=2000, help="schedules before giving up")
    ap.add_argument("--quick", action="store_true", help="a smoke run: few runs and seeds")
    ap.add_argument("--instructions", action="store_true",
                    help="also count instructions per scheduled step under callgrind")
    ap.add_argument("--json", help="also write the figures to this file")
    ap.add_argument("--ir-worker", choices=IR_WHAT, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.ir_worker:
        ir_worker(a.ir_worker, a.runs, a.tasks, a.yields)
        return 0
    if a.quick:
        a.runs, a.seeds, a.budget = 10, 3, 200
    missing = [m for m in ("simloop", "simloom") if _optional(m) is None]
    print(f"Python {sys.version.split()[0]}; refexec {refexec.__version__}")
    if missing:
        print(f"not installed here: {', '.join(missing)} (they need Python >= 3.12; "
              "pip install '.[bench]' on 3.12+ brings them)")
    cost = cost_rows(a.tasks, a.yields, a.runs)
    print(f"\nCost per scheduled step: {a.tasks} tasks x {a.yields} yields "
          f"({a.tasks * (a.yields + 1)} steps per run), {a.runs} runs per row (wall clock)")
    print(f"| {'what':52} | schedules/s | us/step |")
    for r in cost:
        print(f"| {r['what']:52} | {r['schedules_per_s']:11,.0f} | {r['us_per_step']:7.2f} |")
    ir = instruction_rows(a.tasks, a.yields, 10) if a.instructions else []
    if ir:
        print("\nInstructions per scheduled step (callgrind, 10 vs 20 runs)")
        for r in ir:
            print(f"| {r['what']:16} | {r['instructions_per_step']:9,.0f} |")
    fails = failure_rows(a.seeds, a.budget)
    print(f"\nSchedules to the first failure (incl. the FIFO run); random/PCT: median, mean "
          f"and worst over {a.seeds} seeds")
    print(f"| {'example':16} | DFS | {'random med/mean/worst':22} | "
          f"{'PCT med/mean/worst':22} |")
    for r in fails:
        rnd, pct = r["random"], r["pct"]
        print(f"| {r['example']:16} | {r['dfs']!s:>3} | "
              f"{_fmt(rnd):22} | {_fmt(pct):22} |")
    foreign = foreign_failure_rows(a.seeds, a.budget)
    if foreign:
        print("\nasyncio port of check_then_act under simloop / simloom "
              f"(mean and worst over {a.seeds} seed ranges)")
        for r in foreign:
            print(f"| {r['tool']:16} | {_fmt(r):18} |")
    if a.json:
        with open(a.json, "w", encoding="utf-8") as f:
            json.dump({"python": sys.version.split()[0], "cost": cost, "instructions": ir,
                       "to_failure": fails,
                       "foreign_to_failure": foreign, "missing": missing, "args": vars(a)},
                      f, indent=2)
    return 0


def _fmt(s: dict[str, Any]) -> str:
    mean = "-" if s["mean"] is None else f"{s['mean']:.1f}"
    med = s.get("median")
    head = "" if med is None else f"{med} / "
    got, of = s["found"].split("/")
    return f"{head}{mean} / {s['worst']}" + ("" if got == of else f" ({s['found']})")


if __name__ == "__main__":
    raise SystemExit(main())
