"""Instructions per operation, counted by valgrind's callgrind: the noise-free side of the suite.

Wall-clock ratios on a shared 2-core machine move by tens of percent from run to run (the
spreads in RESULTS.md). The number of instructions a program executes does not: callgrind counts
them exactly, the same total for the same binary and input whatever else the machine is doing.
So each (workload, runtime) is also run under callgrind at sizes N and 2N, each in a fresh
worker process, and

    instructions per op = (I(2N) - I(N)) / (ops(2N) - ops(N))

which cancels the interpreter's start-up, the imports and every other fixed cost. Instructions
are not time (cache misses, branch mispredictions and the GIL's hand-offs cost time and no
instructions), so this complements the timed tables; it does not replace them.

Only the workloads whose instruction count is a function of N alone are counted: spawn,
pingpong, prodcons, timeouts (nothing parks) and the two virtual-clock workloads (the clock
jumps, nothing waits). xthread's count depends on how the two threads interleave, sleepers' and
echo's on how long the kernel takes, and the memory workloads are not time measurements.
``PYTHONHASHSEED=0`` fixes string hashing, so dict probing is the same in every process.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from benchmarks.worker import answer_of, run_fresh

#: The workloads whose instruction count depends on N alone.
WORKLOADS = (
    "spawn", "pingpong", "prodcons", "timeouts", "sleepers-virtual", "timeouts-virtual",
)

_COLLECTED = re.compile(r"Collected\s*:\s*(\d+)")


def unavailable() -> str | None:
    """Why instructions cannot be counted here (no valgrind), or None."""
    if shutil.which("valgrind") is None:
        return "valgrind is not installed (Debian: apt install valgrind)"
    return None


#: What the worker runs under: callgrind, counting and discarding its per-function profile.
CALLGRIND = ("valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null")


def parse(stdout: str, stderr: str) -> dict[str, Any]:
    """The worker's JSON answer plus ``ir``, the instructions callgrind collected."""
    return with_count(answer_of(stdout, stderr, "the worker"), stderr)


def with_count(answer: dict[str, Any], stderr: str) -> dict[str, Any]:
    """``answer`` with ``ir`` added from callgrind's summary on ``stderr`` (if it succeeded)."""
    if not answer.get("ok"):
        return answer
    found = _COLLECTED.findall(stderr)
    if not found:
        return {"ok": False, "error": f"callgrind printed no instruction count:\n{stderr[-2000:]}"}
    return {**answer, "ir": int(found[-1])}


def count(runtime: str, workload: str, size: int, root: Path, timeout: float) -> dict[str, Any]:
    """One worker run under callgrind: ``{"ok": True, "ir": ..., "sample": ...}`` or a
    skip/error answer, as :mod:`benchmarks.worker` gives them."""
    answer, stderr = run_fresh(
        runtime, workload, size, root=root, timeout=timeout, prefix=CALLGRIND,
        env={"PYTHONHASHSEED": "0"},
    )
    return with_count(answer, stderr)


def per_op(small: dict[str, Any], large: dict[str, Any]) -> float:
    """Instructions per op from the answers at N and 2N (fixed costs cancel)."""
    d_ops = int(large["sample"]["ops"]) - int(small["sample"]["ops"])
    if d_ops <= 0:
        raise ValueError(f"the larger run did no more ops ({d_ops}); pick a larger N")
    return (int(large["ir"]) - int(small["ir"])) / d_ops


def collect(
    size: int,
    runtimes: Sequence[str],
    workloads: Sequence[str],
    root: Path,
    timeout: float,
    log: Callable[[str], None],
) -> tuple[list[dict[str, Any]], dict[tuple[str, str], str], list[dict[str, Any]]]:
    """Count every (workload, runtime) at ``size`` and ``2 * size``.

    Returns the rows ``{"workload", "runtime", "size", "ir_per_op"}``, the skips
    ``{(runtime, workload): reason}`` and the errors (same shape as the timed run's)."""
    rows: list[dict[str, Any]] = []
    skipped: dict[tuple[str, str], str] = {}
    errors: list[dict[str, Any]] = []
    for workload in (w for w in WORKLOADS if w in workloads):
        for runtime in runtimes:
            answers = [count(runtime, workload, n, root, timeout) for n in (size, 2 * size)]
            bad = next((a for a in answers if not a.get("ok")), None)
            if bad is not None and "skip" in bad:
                skipped[(runtime, workload)] = bad["skip"]
                log(f"[instructions] {workload:9s} {runtime:15s} skipped: {bad['skip']}")
                continue
            if bad is not None:
                errors.append(
                    {
                        "runtime": runtime,
                        "workload": workload,
                        "size": size,
                        "rep": 0,
                        "error": "instruction count: " + str(bad.get("error")),
                    }
                )
                log(f"[instructions] {workload:9s} {runtime:15s} ERROR (see the report)")
                continue
            ir = per_op(*answers)
            rows.append({"workload": workload, "runtime": runtime, "size": size, "ir_per_op": ir})
            log(f"[instructions] {workload:9s} {runtime:15s} {ir:10.0f} instructions/op")
    return rows, skipped, errors
