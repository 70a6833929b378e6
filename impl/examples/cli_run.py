"""``refexec run EXAMPLE``: run a bundled example with tracing on, and show what happened.

The trace is printed as a numbered table — event, task, poll number, detail — so a newcomer can
watch a task be spawned, polled, parked (``pending``), woken and polled again. Then come the
example's result and the executor's counters. ``--json`` prints the same as one JSON object.
With no EXAMPLE it lists the examples. Exit status: 0 on success, 1 if the example itself
failed, 2 for an unknown example or an executor the example does not run on.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import sys
import traceback
from collections import Counter
from collections.abc import Callable
from types import ModuleType
from typing import Any

from refexec.executor import Executor
from refexec.simple import SimpleExecutor
from refexec.trace import Trace, TraceEvent

__all__ = ["EXAMPLES", "add_arguments", "describe", "load", "run", "run_example"]

EXAMPLES: tuple[str, ...] = (
    "hello",
    "pingpong",
    "channel",
    "join",
    "threads",
    "lost",
    "deadlock",
    "echo",
    "check_then_act",
    "cancelled_waiter",
    "lossy_channel",
    "timeout_swallow",
)
"""The bundled examples, in the order a newcomer should read them."""

EXECUTOR_NAMES = ("reference", "simple")

LEGEND: dict[str, str] = {
    "run_start": "the run loop began",
    "run_end": "the run loop returned",
    "spawn": "a task entered the executor and was queued",
    "poll": "the executor polled the task (poll = its poll number)",
    "pending": "that poll returned Pending: the task waits for a wake",
    "ready": "that poll returned Ready (or raised): the task is complete",
    "wake": "a waker handle woke the task and was consumed",
    "wake_by_ref": "the task was woken; the waker handle survives (yield_now does this)",
    "waker_clone": "a new waker handle: a future kept cx.waker.clone() (the task stays "
    "wakeable), or SimpleExecutor built its per-poll waker (detail make_waker)",
    "waker_drop": "a waker handle ended without waking",
    "cancel": "the task was cancelled",
    "lost": "the task could never be woken again: Executor reports it (its handle raises "
    "TaskLost); SimpleExecutor drops it without a word (detail silent)",
    "timer_arm": "a sleep/timeout armed a timer (detail: deadline in ns); it holds a waker",
    "timer_fire": "the deadline came: the timer woke its task",
    "timer_cancel": "the timer was cancelled (its sleep dropped, its block left)",
    "clock_jump": "a virtual clock with autojump moved to the next deadline",
    "io_register": "the task waits for a socket to be readable (r) or writable (w)",
    "io_ready": "the reactor saw the socket ready and woke the task",
}


def load(name: str) -> ModuleType:
    """Import the example module ``name`` (one of :data:`EXAMPLES`)."""
    if name not in EXAMPLES:
        raise KeyError(name)
    return importlib.import_module(f"refexec.examples.{name}")


def describe(module: ModuleType) -> str:
    """The first line of an example's docstring: its one-line description."""
    return (module.__doc__ or "").strip().splitlines()[0]


def make_executor(kind: str, trace: Trace) -> Any:
    """A fresh executor of ``kind`` ("reference" or "simple") recording into ``trace``."""
    if kind == "reference":
        return Executor(trace=trace)
    return SimpleExecutor(trace=trace)


@dataclasses.dataclass
class Outcome:
    """What one run of an example produced."""

    example: str
    executor: str
    trace: Trace
    result: Any = None
    error: BaseException | None = None
    stats: dict[str, Any] = dataclasses.field(default_factory=dict)


def _stats_of(executor: Any) -> dict[str, Any]:
    """The executor's counters as a plain dict, whatever shape ``stats`` has."""
    stats = getattr(executor, "stats", None)
    if callable(stats):
        stats = stats()
    if stats is None:
        return {}
    if dataclasses.is_dataclass(stats) and not isinstance(stats, type):
        return dataclasses.asdict(stats)
    if isinstance(stats, dict):
        return dict(stats)
    as_dict: Callable[[], dict[str, Any]] | None = getattr(stats, "_asdict", None)
    if as_dict is not None:
        return dict(as_dict())
    slots = getattr(type(stats), "__slots__", ())
    if slots:
        return {name: getattr(stats, name) for name in slots if not name.startswith("_")}
    return {k: v for k, v in vars(stats).items() if not k.startswith("_")}


def run_example(name: str, executor: str = "reference") -> Outcome:
    """Run example ``name`` on a fresh traced executor; exceptions are kept in the outcome."""
    module = load(name)
    trace = Trace()
    ex = make_executor(executor, trace)
    outcome = Outcome(name, executor, trace)
    try:
        outcome.result = module.main(ex)
    except Exception as exc:
        outcome.error = exc
    outcome.stats = _stats_of(ex)
    return outcome


def format_table(events: list[TraceEvent]) -> list[str]:
    """The trace as aligned rows: ``#``, event, task, poll, detail.

    A run of identical consecutive events (say, 101 ``wake_by_ref`` in one poll) is shown as
    one row numbered ``first-last`` with ``(xN)`` added to its detail.
    """
    rows = [("#", "event", "task", "poll", "detail")]
    i = 0
    while i < len(events):
        e = events[i]
        j = i + 1
        while j < len(events) and events[j] == e:
            j += 1
        number = str(i + 1) if j == i + 1 else f"{i + 1}-{j}"
        detail = e.detail or ""
        if j - i > 1:
            detail = f"{detail} (x{j - i})".lstrip()
        task = "-" if e.task is None else str(e.task)
        rows.append((number, e.event, task, str(e.poll), detail))
        i = j
    widths = [max(len(row[c]) for row in rows) for c in range(4)]
    lines = []
    for row in rows:
        cells = [
            row[0].rjust(widths[0]),
            row[1].ljust(widths[1]),
            row[2].rjust(widths[2]),
            row[3].rjust(widths[3]),
            row[4],
        ]
        lines.append("  ".join(cells).rstrip())
    return lines


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``refexec run`` arguments."""
    parser.add_argument(
        "example",
        nargs="?",
        metavar="EXAMPLE",
        help="the example to run (omit to list them): " + ", ".join(EXAMPLES),
    )
    parser.add_argument(
        "--executor",
        choices=EXECUTOR_NAMES,
        default="reference",
        help="reference: refexec.Executor (default); simple: SimpleExecutor, the seed's design",
    )
    parser.add_argument(
        "--json", action="store_true", help="print the trace, result and counters as JSON"
    )


def _list_examples() -> int:
    print("Bundled examples (run one with: refexec run EXAMPLE [--executor reference|simple]):")
    width = max(map(len, EXAMPLES))
    for name in EXAMPLES:
        module = load(name)
        runs_on = "/".join(module.EXECUTORS)
        print(f"  {name.ljust(width)}  {describe(module)}  [{runs_on}]")
    return 0


def run(args: argparse.Namespace) -> int:
    """Run ``refexec run``; returns the exit status."""
    name: str | None = args.example
    if name is None:
        return _list_examples()
    if name not in EXAMPLES:
        print(
            f"refexec run: unknown example {name!r}; choose one of: {', '.join(EXAMPLES)}",
            file=sys.stderr,
        )
        return 2
    module = load(name)
    if args.executor not in module.EXECUTORS:
        print(
            f"refexec run: example {name!r} runs only on: {', '.join(module.EXECUTORS)} "
            f"(not {args.executor!r})",
            file=sys.stderr,
        )
        return 2
    outcome = run_example(name, args.executor)
    if args.json:
        _print_json(outcome)
    else:
        _print_text(outcome, module)
    return 1 if outcome.error is not None else 0


def _print_json(outcome: Outcome) -> None:
    doc = {
        "example": outcome.example,
        "executor": outcome.executor,
        "trace": [json.loads(e.to_json()) for e in outcome.trace],
        "result": _jsonable(outcome.result),
        "error": None if outcome.error is None else repr(outcome.error),
        "stats": {k: _jsonable(v) for k, v in outcome.stats.items()},
    }
    print(json.dumps(doc, indent=2))


def _print_text(outcome: Outcome, module: ModuleType) -> None:
    executor_class = "Executor" if outcome.executor == "reference" else "SimpleExecutor"
    print(f"example:  {outcome.example} - {describe(module)}")
    print(f"executor: {outcome.executor} ({executor_class})")
    print()
    events = list(outcome.trace)
    for line in format_table(events):
        print("  " + line)
    print()
    seen = Counter(e.event for e in events)
    print("events:")
    for event, meaning in LEGEND.items():
        if seen[event]:
            print(f"  {event:<12} x{seen[event]:<4} {meaning}")
    print()
    if outcome.error is None:
        print(f"result:   {outcome.result!r}")
    else:
        print("error:    the example raised")
        print("".join(traceback.format_exception_only(type(outcome.error), outcome.error)).rstrip())
    if outcome.stats:
        print("counters: " + ", ".join(f"{k}={v}" for k, v in outcome.stats.items()))
