"""``refexec check-trace FILE``: check a saved trace (JSON lines) against the model.

Save a trace with ``Trace.dump(path)`` (or ``refexec run NAME --save-trace`` where available),
then ``refexec check-trace trace.jsonl`` replays it on the ``reference`` model (the design of
``refexec.Executor``) or, with ``--variant seed``, on the seed's model (``SimpleExecutor``).

Exit status: 0 the trace is a behaviour of the model (properties it violates are listed: a
SimpleExecutor trace can be valid *and* show the seed's deadlock), 1 it is not (the report names
the first event nothing in the model explains), 2 usage errors (missing or malformed file,
unknown variant).
"""

from __future__ import annotations

import argparse
import json
import sys

from refexec.models.trace_check import VARIANTS, TraceCheckError, check_trace

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE", help="a trace saved as JSON lines ('-': stdin)")
    parser.add_argument(
        "--variant", choices=VARIANTS, default="reference",
        help="the model to check against: reference (Executor, default) or seed "
        "(SimpleExecutor)")
    parser.add_argument(
        "--capacity", type=int, default=100, metavar="N",
        help="channel capacity of the SimpleExecutor that recorded a seed trace (default 100)")
    parser.add_argument("--json", action="store_true", help="print the verdict as JSON")


def run(args: argparse.Namespace) -> int:
    try:
        if args.file == "-":
            from refexec.trace import Trace  # noqa: PLC0415

            source: object = Trace.from_jsonl(sys.stdin.read())
        else:
            source = args.file
        result = check_trace(source, args.variant, capacity=args.capacity)  # type: ignore[arg-type]
    except FileNotFoundError:
        print(f"refexec check-trace: no such file: {args.file}", file=sys.stderr)
        return 2
    except (TraceCheckError, ValueError) as e:
        print(f"refexec check-trace: {e}", file=sys.stderr)
        return 2
    if args.json:
        v = result.violation
        print(json.dumps({
            "valid": result.ok,
            "variant": result.variant,
            "events": result.events,
            "tasks": len(result.tasks),
            "violation": None if v is None else {
                "index": v.index, "event": v.event._asdict(), "reason": v.reason,
                "state": v.state,
            },
            "properties_violated": [
                {"id": p.id, "event": p.index, "title": p.title} for p in result.properties
            ],
            "notes": list(result.notes),
        }, indent=2))
    else:
        print(result.report())
    return 0 if result.ok else 1
