"""The ``refexec`` command: a thin dispatcher over subcommands that live beside what they drive.

Each subcommand is a module with ``add_arguments(parser)`` and ``run(args) -> int`` (the exit
status). Modules are imported only when their subcommand runs, so ``refexec run`` never imports
z3 and ``refexec --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import math
import os
import sys
from typing import Protocol

__all__ = ["main", "positive_int", "positive_seconds"]

SUBCOMMANDS: dict[str, tuple[str, str]] = {
    # name: (module, one-line help)
    "verify": ("refexec.models.cli_verify", "check every property of every model variant (z3)"),
    "explain": ("refexec.models.cli_explain", "print a counterexample as a table and a diagram"),
    "check-trace": ("refexec.models.cli_check_trace", "check a saved trace against the model"),
    "run": ("refexec.examples.cli_run", "run a bundled example program and show its trace"),
    "bench": ("refexec.bench_cli", "run the side-by-side benchmarks (needs the 'bench' extra)"),
}


def positive_int(text: str) -> int:
    """An argparse ``type`` for counts and bounds (``--bound``, ``--jobs``): a whole number >= 1.

    Why not ``type=int``: a zero or negative bound was accepted and quietly meant something
    else (``--jobs -1`` ran one job; ``--bound -1`` checked nothing), where the user deserves
    a usage error (exit status 2) naming the option.
    """
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def positive_seconds(text: str) -> float:
    """An argparse ``type`` for durations in seconds: a finite number > 0 (not NaN or inf)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number of seconds > 0, got {text!r}")
    return value


class _Subcommand(Protocol):
    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace) -> int: ...


def _load(name: str) -> _Subcommand:
    module: _Subcommand = importlib.import_module(SUBCOMMANDS[name][0])
    return module


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``refexec`` console script; returns the exit status."""
    args_list = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(
        prog="refexec",
        description="A reference async executor whose semantics are a checked state machine.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_text) in SUBCOMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    if not args_list or args_list[0] in ("-h", "--help") or args_list[0] not in SUBCOMMANDS:
        args = parser.parse_args(args_list)
        if args.command is None:
            parser.print_help()
            return 2
    name = args_list[0]
    command = _load(name)
    sub_parser = argparse.ArgumentParser(prog=f"refexec {name}", description=SUBCOMMANDS[name][1])
    command.add_arguments(sub_parser)
    args = sub_parser.parse_args(args_list[1:])
    try:
        status = command.run(args)
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader of our output went away (``refexec run hello | head -1``): the rest was
        # not wanted. Point stdout at /dev/null so the flush at exit cannot fail again, and end
        # with the status a shell gives a program killed by SIGPIPE.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 128 + 13
    return status


if __name__ == "__main__":
    raise SystemExit(main())
