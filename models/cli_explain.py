"""``refexec explain VARIANT PROPERTY``: the shortest counterexample, for a newcomer.

Prints the counterexample as a numbered table of steps (action, task, ready queue, task states,
wakers, inbox, run-loop state, and whatever else changed) and as a Mermaid ``sequenceDiagram``
with the run loop, the tasks and another thread as participants. The trace comes from the
exhaustive checker (breadth-first, so shortest) and, with ``--checker z3``, from z3's BMC (also
shortest; the two have the same length, which ``refexec verify`` checks). Rows are numbered as
events are everywhere (``refexec run``, ``check-trace``): row 0 is the initial state, row n the
state after the n-th step. A mutant is named with or without its ``mutant:`` prefix.

Exit status 0 when a counterexample was printed, and 0 too when the property holds for the
variant (a verdict, not a mistake: "nothing to explain (holds)" on stdout), 2 when the names are
unknown.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from refexec.cli import positive_int

__all__ = ["add_arguments", "mermaid", "resolve_variant", "run", "step_table"]


def resolve_variant(name: str, known: Sequence[str]) -> str | None:
    """``name`` as the registry spells it: mutants are accepted without ``mutant:`` (as the
    mutants' own list and the docs name them) and with it; ``None`` if unknown."""
    if name in known:
        return name
    if not name.startswith("mutant:") and f"mutant:{name}" in known:
        return f"mutant:{name}"
    return None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("variant", help="a variant, e.g. seed, double-enqueue or "
                        "mutant:double-enqueue")
    parser.add_argument("property", help="a property ID, e.g. EX-QUEUE-EXACT")
    parser.add_argument("--checker", choices=("exhaustive", "z3"), default="exhaustive",
                        help="where the trace comes from (default: exhaustive)")
    parser.add_argument("--bound", "--depth", dest="depth", type=positive_int, default=30,
                        metavar="K", help="z3 BMC depth, at least 1 (default 30)")
    parser.add_argument("--no-mermaid", action="store_true", help="only the table")


# A step: (label, action name or None, params, state)
StepT = tuple[str, str | None, Mapping[str, int], Mapping[str, Any]]


def _show(ts: Any, name: str, value: Any) -> str:
    try:
        var = ts.var(name)
    except KeyError:
        return str(value)
    sort = var.sort
    if isinstance(value, tuple) and var.index_names is not None:
        # a counter array (the seed's tasks per class): name the non-empty slots
        parts = [f"{var.index_names[i]}:{sort.show(x)}" for i, x in enumerate(value) if x]
        return "{" + ", ".join(parts) + "}"
    if isinstance(value, tuple):
        return "[" + " ".join(sort.show(x) for x in value) + "]"
    return str(sort.show(value))


def _queue(ts: Any, state: Mapping[str, Any]) -> str:
    if "q" in state and "qlen" in state:
        live = state["q"][: state["qlen"]]
        return "[" + " ".join(_show(ts, "q", x) for x in live) + "]"
    if "qlen" in state:
        return f"{state['qlen']} entries"
    return ""


KNOWN = ("st", "q", "qlen", "wakers", "inbox", "loop")


def step_table(ts: Any, steps: Sequence[StepT]) -> str:
    """The numbered table of a path."""
    header = ["#", "action", "task", "queue", "task states", "wakers", "inbox", "run loop",
              "also changed"]
    rows: list[list[str]] = []
    prev: Mapping[str, Any] | None = None
    ghosts = {v.name for v in ts.variables if v.ghost}
    for i, (label, _name, params, state) in enumerate(steps):
        task = ""
        if "t" in params:
            task = f"t{params['t']}"
            if params.get("remote"):
                task += " (other thread)"
        other = []
        for v in ts.variables:
            if v.name in KNOWN or v.name in ghosts or prev is None:
                continue
            if prev[v.name] != state[v.name]:
                other.append(f"{v.name}={_show(ts, v.name, state[v.name])}")
        rows.append([
            str(i), label, task, _queue(ts, state),
            _show(ts, "st", state["st"]) if "st" in state else "",
            _show(ts, "wakers", state["wakers"]) if "wakers" in state else "",
            _show(ts, "inbox", state["inbox"]) if "inbox" in state else "",
            _show(ts, "loop", state["loop"]) if "loop" in state else "",
            ", ".join(other),
        ])
        prev = state
    keep = [j for j in range(len(header)) if j < 2 or any(r[j] for r in rows)]
    header = [header[j] for j in keep]
    rows = [[r[j] for j in keep] for r in rows]
    widths = [max(len(r[j]) for r in [header, *rows]) for j in range(len(header))]
    out = [" | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    out.append("-+-".join("-" * w for w in widths))
    out += [" | ".join(x.ljust(w) for x, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(out)


def mermaid(ts: Any, steps: Sequence[StepT], pid: str) -> str:
    """A Mermaid sequence diagram of a path."""
    n = ts.bounds.n_tasks
    lines = ["sequenceDiagram", "    participant L as run loop"]
    lines += [f"    participant T{t} as task t{t}" for t in range(n)]
    lines.append("    participant O as other thread")
    for i, (label, name, params, _state) in enumerate(steps):
        if name is None:
            continue
        t = params.get("t")
        what = f"{i}. {label}"
        if params.get("remote"):
            lines.append(f"    O->>L: {what}")
        elif name == "poll" and t is not None:
            lines.append(f"    L->>T{t}: {what}")
        elif name in ("pending", "ready") and t is not None:
            lines.append(f"    T{t}-->>L: {what}")
        elif name == "join" and t is not None and "u" in params:
            lines.append(f"    T{params['u']}->>T{t}: {what}")
        elif t is not None and 0 <= t < n:
            lines.append(f"    L->>T{t}: {what}")
        else:
            lines.append(f"    Note over L: {what}")
    last = steps[-1][3] if steps else {}
    lines.append(f"    Note over L: violates {pid} "
                 f"(loop={_show(ts, 'loop', last.get('loop', '?'))})")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from refexec.models import variants as registry  # noqa: PLC0415

    variant = resolve_variant(args.variant, tuple(registry.VARIANTS))
    if variant is None:
        print(f"refexec explain: unknown variant {args.variant!r}; valid: "
              f"{', '.join(registry.VARIANTS)} (a mutant also without 'mutant:')",
              file=sys.stderr)
        return 2
    args.variant = variant
    ts = registry.build(args.variant)
    ids = [p.id for p in ts.properties]
    if args.property not in ids:
        print(f"refexec explain: {args.variant} has no property {args.property!r}; valid: "
              f"{', '.join(ids)}", file=sys.stderr)
        return 2
    prop = ts.property(args.property)
    steps: list[StepT] = []
    if args.checker == "z3":
        from refexec.models.symbolic import bmc  # noqa: PLC0415

        res = bmc(ts, [prop], max_depth=args.depth, include_type_ok=False)[prop.id]
        if res.trace is not None:
            steps = [(s.action or "init", s.action_name, s.params, s.state)
                     for s in res.trace.steps]
        holds_text = f"holds up to depth {res.depth} (z3 BMC)"
    else:
        from refexec.models.exhaustive import explore  # noqa: PLC0415

        ex = explore(ts)
        pr = ex.properties[prop.id]
        if pr.counterexample is not None:
            steps = [(s.label, s.action, s.params, s.state) for s in pr.counterexample]
        holds_text = (f"holds in all {ex.states} reachable states" if ex.complete
                      else f"holds up to depth {ex.depth}")
    if not steps:
        print(f"nothing to explain (holds): {prop.id} ({prop.title}) {holds_text} of "
              f"{args.variant}, so there is no counterexample.")
        return 0
    print(f"{args.variant}: {prop.id} — {prop.title}")
    print(f"shortest counterexample: {len(steps) - 1} steps ({args.checker})")
    print()
    print(step_table(ts, steps))
    for var in ts.variables:
        if var.index_names is not None:
            print(f"\n{var.name}{{...}}: {var.doc}")
    if prop.doc:
        print(f"\n{prop.id}: {prop.doc}")
    if not args.no_mermaid:
        print()
        print("```mermaid")
        print(mermaid(ts, steps, prop.id))
        print("```")
    return 0
