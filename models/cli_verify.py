"""``refexec verify``: check every property of every model variant with both checkers.

With no arguments: the reference design, the seed and every mutant, each through the exhaustive
checker and the z3 checker (BMC, and for the reference an unbounded proof plus termination);
progress on stderr, then a table variant x property -> ``proved`` / ``<=k`` (holds up to bound
k) / ``viol@n`` (violated, shortest counterexample has n steps), and a summary line. Exit status
0 exactly when the reference design and the wait queue are proved, every mutant is caught by
both checkers, the seed's findings are as expected and the two checkers agree everywhere; 1
otherwise; 2 for a usage error.
"""

from __future__ import annotations

import argparse
import sys
import time

from refexec.cli import positive_int

__all__ = ["add_arguments", "render_table", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
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
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    for r in rows:
        lines.append("  ".join(x.ljust(w) for x, w in zip(r, widths, strict=True)))
    lines.append("")
    lines.append(
        "proved: for unbounded depth (z3 inductive invariant / k-induction);  <=k: no violation "
        "within k steps (z3 BMC);  holds: every reachable state of the instance (exhaustive);  "
        "viol@n: shortest counterexample has n steps (both checkers; * = exhaustive only, "
        "deeper than the z3 bound);  c: z3 confirms it beyond the BMC bound, by its unbounded "
        "CHC engine Spacer or by a parametric theorem (viol@nc: its counterexample has n "
        "steps; provedc: Spacer's inductive invariant, re-checked by z3; the seed's 104-step "
        "EX-NO-SELF-BLOCK is confirmed by the z3 capacity theorem for every C instead: "
        "spec/PROOFS.md section 11);  "
        "!: differs from the expectation;  DISAGREE: the checkers contradict each other"
    )
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
        if v.capacity:
            at = [f"; at this instance's {c.chc.method.rsplit(', at ', 1)[-1]}: "
                  f"{pid} {c.chc.text()}, shortest (exhaustive: {c.exhaustive.text()})"
                  for pid, c in v.cells.items() if "capacity theorem" in c.chc.method]
            extras.append(f"{v.name}: {v.capacity}{''.join(at)}")
        if v.never_fired:
            extras.append(f"{v.name}: actions never fired: {', '.join(v.never_fired)}")
        if v.witnesses_missing:
            extras.append(f"{v.name}: witnesses not reached: {', '.join(v.witnesses_missing)}")
    return "\n".join(lines + extras)


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
    for v in args.variant or []:
        if v not in registry.VARIANTS:
            print(f"refexec verify: unknown variant {v!r}; valid: {', '.join(registry.VARIANTS)}",
                  file=sys.stderr)
            return 2
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
    if args.json:
        print(report.to_json())
    else:
        print(render_table(report))
        print(report.summary())
    return 0 if report.ok else 1
