"""``refexec check-trace FILE``: check a saved trace file against the model it names.

Save a trace with ``Trace.dump(path)``: its first line, the header (``spec/TRACE-FORMAT.md``),
names the model variant and its parameters, so ``refexec check-trace trace.jsonl`` needs no
flags. ``--variant`` (and ``--capacity`` for ``seed``) are for files without a header (an older
producer's, or another executor's); given for a file whose header says otherwise, they are
refused, never obeyed: a verdict against the wrong model is a wrong verdict. ``-`` reads
standard input, as a stream.

Exit status: 0 the trace is a whole run the model allows (properties it violates are listed: a
SimpleExecutor trace can be valid *and* show the seed's deadlock), 1 it is not (the report names
the first event nothing in the model explains, and its line), 2 the file cannot be checked
(unreadable, malformed, empty, meant for another model, a bad option): one line on standard
error, never a traceback, 3 the events are valid but the trace stops inside a run (a prefix).

Output is written for pipes: ``refexec check-trace t.jsonl | head -1`` ends quietly when the
reader stops reading, with the verdict's exit status.
"""

from __future__ import annotations

import argparse
import json
import sys

from refexec.cli import emit as _emit
from refexec.cli import positive_int
from refexec.models.trace_check import TraceCheckError
from refexec.models.trace_file import MODEL_PARAMS, TraceFileError, check_trace_file

__all__ = ["add_arguments", "run"]

PROG = "refexec check-trace"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE", help="a trace file, JSON lines ('-': stdin)")
    parser.add_argument(
        "--variant", choices=tuple(MODEL_PARAMS), default=None,
        help="the model to check against, for a file whose header does not name it: reference "
        "(Executor) or seed (SimpleExecutor); must agree with the header when it does")
    parser.add_argument(
        "--capacity", default=None, metavar="N",
        help="channel capacity of the SimpleExecutor that recorded a seed trace, for a file "
        "whose header does not give it (default 100, the seed's own)")
    parser.add_argument("--json", action="store_true", help="print the verdict as JSON")


def _capacity(text: str | None) -> int | None:
    """``--capacity``, parsed here rather than by argparse so a bad value is one line."""
    if text is None:
        return None
    try:
        return positive_int(text)
    except argparse.ArgumentTypeError:
        raise ValueError(f"--capacity must be a positive integer (a channel capacity), got "
                         f"{text!r}") from None


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _fail(args: argparse.Namespace, message: str, line: int | None = None) -> int:
    """A file that cannot be checked: exit status 2, one line on stderr (and one JSON object
    on stdout with ``--json``, so a tool reading stdout sees the error too)."""
    message = _one_line(message)
    if getattr(args, "json", False):
        _emit(json.dumps({"file": args.file, "valid": None, "error": message, "line": line}))
    print(f"{PROG}: {message}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    try:
        capacity = _capacity(args.capacity)
    except ValueError as e:
        return _fail(args, str(e))
    try:
        if args.file == "-":
            if sys.stdin is None:
                return _fail(args, "'-' reads standard input, but there is none")
            result = check_trace_file(sys.stdin.buffer, args.variant, capacity=capacity,
                                      name="<stdin>")
        else:
            result = check_trace_file(args.file, args.variant, capacity=capacity)
    except TraceFileError as e:
        return _fail(args, str(e), e.line)
    except TraceCheckError as e:
        return _fail(args, f"{args.file}: {e}")
    status = result.exit_status()
    _emit(json.dumps(result.to_dict(), indent=2) if args.json else result.report())
    return status
