"""The ``refexec`` command: a thin dispatcher over subcommands that live beside what they drive.

Each subcommand is a module with ``add_arguments(parser)`` and ``run(args) -> int`` (the exit
status). Modules are imported only when their subcommand runs, so ``refexec run`` never imports
z3 and ``refexec --help`` stays fast.

How every subcommand ends, handled here once rather than in each module:

* the reader of our output went away (``refexec verify | head -1``): no traceback, stdout is
  pointed at /dev/null and the status is 141, as a shell reports a program killed by SIGPIPE
  (a subcommand whose status matters more, such as check-trace's verdict, writes through
  :func:`emit`, which swallows the closed pipe and lets it return its own status);
* Ctrl-C (SIGINT): one line on stderr, status 130 (128 + SIGINT), no traceback;
* SIGTERM (``kill``, a CI timeout): raised as :class:`Terminated` in the main thread, so the
  ``finally`` blocks and ``except BaseException`` clean-ups of the subcommand run (``refexec
  verify`` ends its worker processes there); one line, status 143 (128 + SIGTERM).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import math
import os
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Protocol

__all__ = ["Terminated", "emit", "main", "positive_int", "positive_seconds"]

SUBCOMMANDS: dict[str, tuple[str, str]] = {
    # name: (module, one-line help)
    "verify": ("refexec.models.cli_verify", "check every property of every model variant (z3)"),
    "explain": ("refexec.models.cli_explain", "print a counterexample as a table and a diagram"),
    "check-trace": ("refexec.models.cli_check_trace", "check a saved trace against the model"),
    "run": ("refexec.examples.cli_run", "run a bundled example program and show its trace"),
    "bench": ("refexec.bench_cli", "run the side-by-side benchmarks (needs the 'bench' extra)"),
}


VERIFY_EXTRA = frozenset({"z3", "hypothesis"})
"""Import names the ``verify`` extra provides: the executor runs without them (``refexec run``
does), the checkers do not."""


def _bench_available() -> bool:
    """``refexec bench`` runs the benchmarks/ folder of a source checkout; an installed wheel has
    none, so there the subcommand is not offered (calling it still explains why)."""
    root = Path(__file__).resolve().parent.parent
    return (root / "benchmarks" / "runner.py").is_file()


class Terminated(BaseException):
    """SIGTERM arrived. A ``BaseException``, as ``KeyboardInterrupt`` is, so ``except
    Exception`` in a subcommand does not swallow it while its clean-ups still run."""


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise Terminated


def emit(text: str) -> None:
    """Print ``text`` and flush, so a closed pipe shows up here rather than at interpreter exit;
    then point stdout at /dev/null, so nothing later (the exit-time flush) fails on it again.
    For subcommands whose exit status must survive a reader that stops early."""
    try:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        _silence_stdout()


def _silence_stdout() -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


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
    """Entry point of the ``refexec`` console script; returns the exit status.

    Every way a run can end early (closed pipe, Ctrl-C, SIGTERM) is handled here, once, for
    all subcommands and for the top-level help and version too (see the module docstring).
    """
    args_list = sys.argv[1:] if argv is None else argv
    what = "refexec" + (f" {args_list[0]}" if args_list and args_list[0] in SUBCOMMANDS else "")
    on_main_thread = _is_main_thread()
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if on_main_thread else None
    try:
        status = _dispatch(args_list)
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader of our output went away (``refexec run hello | head -1``): the rest was
        # not wanted. Point stdout at /dev/null so the flush at exit cannot fail again, and end
        # with the status a shell gives a program killed by SIGPIPE.
        _silence_stdout()
        return 128 + 13
    except ModuleNotFoundError as e:
        if e.name not in VERIFY_EXTRA:
            raise
        _last_words(f"{what}: needs the 'verify' extra (z3-solver and hypothesis), which is not "
                    f"installed: pip install 'refexec[verify]' (a checkout: pip install -e "
                    "'.[dev]', which includes it)")
        return 2
    except KeyboardInterrupt:
        _last_words(f"{what}: interrupted")
        return 128 + signal.SIGINT
    except Terminated:
        _last_words(f"{what}: terminated (SIGTERM)")
        return 128 + signal.SIGTERM
    finally:
        if on_main_thread:
            signal.signal(signal.SIGTERM, previous)
    return status


def _dispatch(args_list: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="refexec",
        description="A reference async executor whose semantics are a checked state machine.",
    )
    from refexec import __version__  # noqa: PLC0415 (light: never imports z3)

    parser.add_argument("--version", action="version", version=f"refexec {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_text) in SUBCOMMANDS.items():
        if name != "bench" or _bench_available():
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
    return command.run(args)


def _is_main_thread() -> bool:
    import threading  # noqa: PLC0415

    return threading.current_thread() is threading.main_thread()


def _last_words(text: str) -> None:
    """One line on stderr; a stderr that is gone too is not worth a traceback."""
    try:
        sys.stdout.flush()
    except (BrokenPipeError, ValueError):
        _silence_stdout()
    with contextlib.suppress(BrokenPipeError, ValueError):
        print(text, file=sys.stderr, flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
