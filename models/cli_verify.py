"""``refexec verify``: check every property of every model variant with both checkers.

With no arguments: the reference design, the seed and every mutant, each through the exhaustive
checker and the z3 checker (BMC, and for the reference an unbounded proof plus termination);
progress on stderr (at least every few seconds: which variant, which phase), then a table
variant x property -> ``proved`` / ``<=k`` (holds up to bound k) / ``viol@n`` (violated,
shortest counterexample has n steps), wrapped to 100 columns, with a legend, and a summary
line. The default run takes one to two minutes on 2 cores (``--deep``: many minutes). Exit
status 0 exactly when the reference design and the wait queue are proved, every mutant is caught
by both checkers, the seed's findings are as expected and the two checkers agree everywhere; 1
otherwise; 2 for a usage error.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
import time

from refexec.cli import positive_int

HEARTBEAT_SECONDS = 5.0  # refexec.models.verify.HEARTBEAT_SECONDS (not imported: that loads z3)

__all__ = ["add_arguments", "render_table", "run"]


DURATION = ("The default run (every variant, both checkers, 2 workers) takes one to two minutes on "
            "2 cores; --deep takes many minutes. Progress goes to stderr at least every "
            f"{HEARTBEAT_SECONDS:g} seconds; Ctrl-C or SIGTERM stops it and its workers.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = DURATION
    parser.add_argument("--variant", action="append", metavar="NAME",
                        help="check only this variant (repeatable); see --list")
    parser.add_argument("--property", action="append", metavar="ID",
                        help="check only this property ID (repeatable), e.g. EX-FIFO")
    parser.add_argument("--bound", "--depth", dest="depth", type=positive_int, metavar="K",
                        help="BMC depth of the symbolic checker and depth limit of the "
                             "exhaustive one (default: per variant, see PROOFS.md)")
    parser.add_argument("--deep", action="store_true",
                        help="larger instances (3 tasks) and deeper bounds: minutes, not seconds")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--no-exhaustive", action="store_true", help="skip the exhaustive checker")
    parser.add_argument("--no-symbolic", action="store_true", help="skip the z3 checker")
    parser.add_argument("--jobs", "-j", type=positive_int, default=2,
                        help="worker processes (default 2; 1 runs everything in-process)")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress on stderr")
    parser.add_argument("--list", action="store_true", help="list variants and properties")


def _progress(quiet: bool, t0: float) -> object:
    def report(msg: str) -> None:
        if not quiet:
            print(f"[{time.perf_counter() - t0:6.1f}s] {msg}", file=sys.stderr, flush=True)

    return report


def render_table(report: object) -> str:
    """The variant x property table of a :class:`refexec.models.verify.Report`."""
    from refexec.models.verify import Report  # noqa: PLC0415

    assert isinstance(report, Report)
    pids: list[str] = []
    for v in report.variants.values():
        for pid in v.cells:
            if pid not in pids:
                pids.append(pid)
    heads = [p.removeprefix("EX-") for p in pids]
    rows: list[list[str]] = []
    for v in report.variants.values():
        row = [v.name]
        for pid in pids:
            c = v.cells.get(pid)
            if c is None:
                row.append("")
                continue
            text = c.text()
            if (c.expected is False and not c.violated) or (c.expected is True and c.violated):
                text += "!"
            row.append(text)
        row.append(v.status_text())
        rows.append(row)
    header = ["variant", *heads, "verdict"]
    lines = _blocks(header, rows, WIDTH)
    lines.append("")
    lines += LEGEND
    extras = []
    for v in report.variants.values():
        if v.disagreements():
            extras.append(f"{v.name}: checkers disagree on {', '.join(v.disagreements())}")
        if v.termination is not None:
            extras.append(
                f"{v.name}: termination {'proved' if v.termination.ok else 'NOT proved'} "
                f"(ranking function; {v.termination.assumption})"
            )
        if v.inductive and v.kind == "reference":
            aux = [x for x in v.inductive if x.startswith("AUX-")]
            extras.append(f"{v.name}: inductive invariant = TYPE-OK + properties + "
                          f"{len(aux)} auxiliary invariants ({', '.join(aux)})")
        chc = {pid: c.chc.text() for pid, c in v.cells.items()
               if c.chc.status != "skipped" and "capacity theorem" not in c.chc.method}
        if chc:
            extras.append(f"{v.name}: z3 CHC/Spacer (unbounded): "
                          + ", ".join(f"{pid} {t}" for pid, t in chc.items()))
        if v.any_n:
            ok = all(v.any_n_side_conditions.values())
            extras.append(
                f"{v.name}: for ANY number of tasks (z3 CHC on the counter abstraction, N "
                f"symbolic; side conditions {'checked' if ok else 'FAILED'}): "
                + ", ".join(f"{pid} {t}" for pid, t in v.any_n.items()))
        if v.every_n:
            extras.append(f"{v.every_n}; {v.every_n_agreement}")
        if v.capacity:
            at = [f"; at this instance's {c.chc.method.rsplit(', at ', 1)[-1]}: "
                  f"{pid} {c.chc.text()}, shortest (exhaustive: {c.exhaustive.text()})"
                  for pid, c in v.cells.items() if "capacity theorem" in c.chc.method]
            extras.append(f"{v.name}: {v.capacity}{''.join(at)}")
        if v.never_fired:
            extras.append(f"{v.name}: actions never fired: {', '.join(v.never_fired)}")
        if v.witnesses_missing:
            extras.append(f"{v.name}: witnesses not reached: {', '.join(v.witnesses_missing)}")
    wrapped = [textwrap.fill(x, WIDTH, subsequent_indent="    ", break_on_hyphens=False)
               for x in extras]
    return "\n".join(lines + wrapped)


WIDTH = 100
"""The table and its notes fit a terminal of this many columns (wider tables are wrapped into
blocks of property columns, each repeating the variant column)."""

LEGEND = [
    "proved   holds for unbounded depth (z3 inductive invariant / k-induction)",
    "<=k      no violation within k steps (z3 BMC)",
    "holds    true in every reachable state of the instance (exhaustive checker)",
    "viol@n   violated; the shortest counterexample has n steps (both checkers)",
    "  *      ... found by the exhaustive checker only, deeper than the z3 bound",
    "  c      z3 confirms the verdict beyond the BMC bound: its unbounded CHC engine (Spacer),",
    "         or a parametric theorem (the seed's 104-step EX-NO-SELF-BLOCK: for every C)",
    "  !      differs from what the variant is expected to show",
    "(blank)  not checked: the variant's model does not define this property (spec/SPEC.md),",
    "         or --property left it out",
    "DISAGREE the two checkers contradict each other",
    "Details: refexec explain VARIANT PROPERTY; spec/PROOFS.md (section 11: the capacity theorem)",
]
"""One short line per mark, so the legend reads as a list, not a paragraph."""


def _blocks(header: list[str], rows: list[list[str]], width: int) -> list[str]:
    """Lay out the table in blocks of columns no wider than ``width``: column 0 (the variant)
    starts every block, the other columns are packed in order."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    blocks: list[list[int]] = []
    cur: list[int] = []
    used = widths[0]
    for i in range(1, len(header)):
        if cur and used + 2 + widths[i] > width:
            blocks.append(cur)
            cur, used = [], widths[0]
        cur.append(i)
        used += 2 + widths[i]
    blocks.append(cur)
    out: list[str] = []
    for b, cols in enumerate(blocks):
        if b:
            out.append("")
        idx = [0, *cols]
        out.append("  ".join(header[i].ljust(widths[i]) for i in idx).rstrip())
        out.append("  ".join("-" * widths[i] for i in idx))
        out += ["  ".join(r[i].ljust(widths[i]) for i in idx).rstrip() for r in rows]
    return out


def run(args: argparse.Namespace) -> int:
    from refexec.models import variants as registry  # noqa: PLC0415
    from refexec.models.properties import ALL_IDS as EX_IDS  # noqa: PLC0415
    from refexec.models.verify import verify  # noqa: PLC0415
    from refexec.models.waitqueue import WQ_IDS  # noqa: PLC0415

    ALL_IDS = (*EX_IDS, *WQ_IDS)
    if args.list:
        print("variants:  " + ", ".join(registry.VARIANTS))
        print("properties: " + ", ".join(ALL_IDS))
        return 0
    from refexec.models.cli_explain import resolve_variant  # noqa: PLC0415

    chosen = []
    for v in args.variant or []:
        name = resolve_variant(v, tuple(registry.VARIANTS))
        if name is None:
            print(f"refexec verify: unknown variant {v!r}; valid: {', '.join(registry.VARIANTS)}"
                  " (a mutant also without 'mutant:')", file=sys.stderr)
            return 2
        chosen.append(name)
    args.variant = chosen or None
    for p in args.property or []:
        if p not in ALL_IDS:
            print(f"refexec verify: unknown property {p!r}; valid: {', '.join(ALL_IDS)}",
                  file=sys.stderr)
            return 2
    if args.no_exhaustive and args.no_symbolic:
        print("refexec verify: nothing to do with both --no-exhaustive and --no-symbolic",
              file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    progress = _progress(args.quiet, t0)
    report = verify(
        args.variant,
        properties=args.property,
        depth=args.depth,
        exhaustive=not args.no_exhaustive,
        symbolic=not args.no_symbolic,
        deep=args.deep,
        jobs=max(1, args.jobs),
        progress=progress,  # type: ignore[arg-type]
    )
    for pid in args.property or []:
        skipped = [v.name for v in report.variants.values() if pid not in v.cells]
        if skipped:
            print(f"refexec verify: {pid} is not a property of {', '.join(skipped)} (its model "
                  "does not define it), so it was not checked there: the cell is blank",
                  file=sys.stderr)
    if args.json:
        print(report.to_json())
    else:
        print(render_table(report))
        print(report.summary())
    return 0 if report.ok else 1
