"""``refexec bench``: run the side-by-side benchmarks of a source checkout.

The benchmarks are not part of the installed package: they live in the ``benchmarks/`` folder of
the repository, next to ``impl/``. This subcommand finds that folder from where ``refexec`` is
installed (an editable install of a checkout), checks that the ``bench`` extra is installed, and
runs ``benchmarks.runner`` with the options below. The same options drive
``python -m benchmarks`` from the repository root: they are defined here, once.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import shlex
import sys
from pathlib import Path

from refexec.cli import positive_seconds

__all__ = ["BENCH_EXTRA", "add_arguments", "checkout_root", "missing_extra", "run"]

#: The import names the ``bench`` extra provides (uvloop does not exist on Windows).
BENCH_EXTRA: tuple[str, ...] = ("trio", "matplotlib") + (
    () if sys.platform == "win32" else ("uvloop",)
)

_INSTALL_HINT = "pip install -e '.[bench]'"
#: Where the ``refexec`` package is installed (``impl/`` in an editable install of a checkout).
_PACKAGE_DIR = Path(__file__).resolve().parent


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The benchmark options (shared by ``refexec bench`` and ``python -m benchmarks``)."""
    size = parser.add_mutually_exclusive_group()
    size.add_argument(
        "--quick",
        action="store_true",
        help="one size (N=1,000), for a run of seconds: checks that everything works",
    )
    size.add_argument(
        "--full",
        action="store_true",
        help="sizes 10^3..10^6 (the RESULTS.md run; tens of minutes)",
    )
    size.add_argument(
        "--sizes",
        type=_sizes,
        metavar="N,N,...",
        help="comma-separated sizes, e.g. 1e3,1e4,1e5 (default: 10^3..10^5)",
    )
    parser.add_argument(
        "--reps",
        type=_positive_int,
        default=3,
        metavar="R",
        help="fresh-process repetitions per measurement; the median is reported (default 3)",
    )
    parser.add_argument(
        "--runtimes",
        metavar="A,B,...",
        help="only these runtimes (refexec, refexec-traced, refexec-nohooks, simple, asyncio, "
        "uvloop, trio, bare, bare-task)",
    )
    parser.add_argument(
        "--workloads",
        metavar="A,B,...",
        help="only these workloads (spawn, pingpong, prodcons, xthread, memory)",
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="write every figure as JSON")
    parser.add_argument(
        "--plots", type=Path, metavar="DIR", help="write PNG plots of cost vs size (matplotlib)"
    )
    parser.add_argument(
        "--results-md",
        type=Path,
        metavar="FILE",
        help="write the Markdown report (machine, command, tables, plots) to FILE; plots go to "
        "FILE's folder/plots unless --plots says otherwise",
    )
    parser.add_argument(
        "--verify",
        action="store_true",
        help="also time the verification tools (refexec verify, BMC, exploration, lockstep)",
    )
    parser.add_argument(
        "--verify-budget",
        type=positive_seconds,
        default=30.0,
        metavar="S",
        help="seconds each bounded verification probe may run (default 30)",
    )
    parser.add_argument(
        "--instructions",
        type=_size,
        default=0,
        metavar="N",
        help="also count instructions per op under valgrind's callgrind (exact and repeatable, "
        "unlike time), each runtime at sizes N and 2N, for spawn, pingpong and prodcons "
        "(e.g. 1e4; needs valgrind)",
    )
    parser.add_argument(
        "--timeout",
        type=positive_seconds,
        default=900.0,
        metavar="S",
        help="give up on one measurement after S seconds (default 900)",
    )
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="measure in this process instead of a fresh one each (debugging, smoke tests; "
        "memory figures are then not meaningful)",
    )
    parser.add_argument(
        "--from-json",
        type=Path,
        metavar="FILE",
        help="measure nothing: re-render the report (and plots, RESULTS.md) of a saved --json run",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    parser.add_argument("--command-line", default=None, help=argparse.SUPPRESS)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _size(text: str) -> int:
    sizes = _sizes(text)
    if len(sizes) != 1:
        raise argparse.ArgumentTypeError(f"one size, such as 1e4: {text!r}")
    return sizes[0]


def _sizes(text: str) -> list[int]:
    try:
        sizes = sorted({int(float(part)) for part in text.split(",") if part.strip()})
    except (ValueError, OverflowError):  # "x", "nan"; "inf"
        raise argparse.ArgumentTypeError(f"sizes are numbers such as 1e3,1e4: {text!r}") from None
    if not sizes or sizes[0] < 1:
        raise argparse.ArgumentTypeError(f"sizes must be positive: {text!r}")
    return sizes


def checkout_root() -> Path | None:
    """The repository root refexec was installed from, if it is a checkout with benchmarks/."""
    root = _PACKAGE_DIR.parent
    if (root / "benchmarks" / "runner.py").is_file() and (root / "pyproject.toml").is_file():
        return root
    return None


def missing_extra() -> list[str]:
    """The packages of the ``bench`` extra that are not installed."""
    return [name for name in BENCH_EXTRA if importlib.util.find_spec(name) is None]


def run(args: argparse.Namespace) -> int:
    """Run the benchmarks; returns the exit status (2 if they cannot run here)."""
    root = checkout_root()
    if root is None:
        print(
            "refexec bench: the benchmarks live in the benchmarks/ folder of a source checkout, "
            f"and refexec is installed from {_PACKAGE_DIR}, which is "
            "not one.\nClone the repository, run "
            f"`{_INSTALL_HINT}` in it, then `refexec bench` (or `python -m benchmarks` from the "
            "checkout's root).",
            file=sys.stderr,
        )
        return 2
    missing = missing_extra()
    if missing:
        print(
            f"refexec bench: the 'bench' extra is not installed (missing: {', '.join(missing)}).\n"
            f"Install it with `{_INSTALL_HINT}` in {root}; or run `python -m benchmarks` there, "
            "which skips the missing runtimes and plots with a note.",
            file=sys.stderr,
        )
        return 2
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    if args.command_line is None:
        args.command_line = "refexec bench " + shlex.join(sys.argv[2:])
    runner = importlib.import_module("benchmarks.runner")
    status: int = runner.run(args)
    return status
