"""From counterexample to regression test: the seed model's findings, replayed on SimpleExecutor.

The model checkers find, for the ``seed`` variant (the design of ``refexec.SimpleExecutor``), the
shortest paths to each property it violates. This module turns each such path into a concrete
program and keeps it as a test, automatically:

1. :func:`derive` asks the checker for the seed's counterexamples (z3's bounded model checker,
   or the exhaustive explorer, whose shortest paths the project's agreement tests tie to z3's);
2. :func:`translate` turns a path (a list of model actions) into a :class:`Program`: one scripted
   future per task whose every poll performs, through the real ``Context`` and ``Waker`` API,
   exactly the actions the path takes during that poll (clone the waker, wake by reference 101
   times, spawn a child...), and returns Pending or Ready as the path says; actions outside any
   poll are done by the test's main thread before ``run()``, or by a helper thread once the run
   loop waits;
3. :func:`run_program` runs it on ``SimpleExecutor`` with tracing on and observes what happened
   (:class:`Outcome`): the exception ``run()`` raised, tasks freed in silence, entries the loop
   took without polling, whether the loop waited with only finished tasks keeping it open;
4. :func:`agreement` compares the model's prediction (the violated property) with that
   behaviour, and also checks the program's trace against the seed model
   (:func:`refexec.models.trace_check.check_trace`), which must report the same property;
5. :func:`write_tests` writes one pytest file per finding into ``tests/regressions/``;
   ``tests/test_repro_seed.py`` re-derives them and fails if the files are out of date.

Regenerate with ``python -m refexec.models.repro --write tests/regressions``.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from refexec.models import seed as seed_model
from refexec.models import variants
from refexec.models.system import TransitionSystem

__all__ = [
    "FINDINGS",
    "Counterexample",
    "Outcome",
    "Poll_",
    "Program",
    "Untranslatable",
    "agreement",
    "derive",
    "render_test",
    "run_program",
    "translate",
    "write_tests",
]

FINDINGS: dict[str, tuple[str, str]] = {
    # property id -> (file slug, what the seed's design does wrong)
    "EX-NO-SELF-BLOCK": (
        "self_block",
        "a task that wakes itself while the channel is full makes the loop's own thread send "
        "into its own full channel: the original blocks for ever; SimpleExecutor raises "
        "DeadlockError"),
    "EX-LOST-REPORTED": (
        "silent_loss",
        "a task that returns Pending without keeping its waker is freed with nobody told "
        "(the seed never reports a lost task)"),
    "EX-SLEEP-SAFE": (
        "finished_waker_keeps_run_open",
        "a finished task's stored waker still holds a sender, so run() waits on an empty "
        "channel although no unfinished task remains"),
    "EX-QUEUE-EXACT": (
        "stale_entry",
        "every wake enqueues: a wake during the poll that completes the task leaves an entry "
        "for a finished task in the channel (a spurious wake the loop must skip)"),
}
"""The seed findings this module reproduces (the IDs are those of ``spec/SPEC.md``)."""


class Untranslatable(ValueError):
    """A path uses something no single-threaded program can replay deterministically."""


# ---------------------------------------------------------------------------------------------
# Counterexamples
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Counterexample:
    """A shortest path of the seed model to a state (or step) violating ``property_id``."""

    property_id: str
    source: str  # "z3" or "exhaustive"
    actions: tuple[tuple[str, tuple[tuple[str, int], ...]], ...]
    """(action name, sorted parameters) per step."""
    capacity: int

    def labels(self) -> list[str]:
        return [f"{name}({', '.join(f'{k}={v}' for k, v in params)})"
                for name, params in self.actions]


def _seed_system() -> TransitionSystem:
    return variants.build("seed")


def derive(source: str = "exhaustive", *, z3_depth: int = 8) -> dict[str, Counterexample]:
    """The seed's shortest counterexample for each finding in :data:`FINDINGS`.

    ``source="z3"`` uses bounded model checking up to ``z3_depth`` steps and falls back to the
    exhaustive explorer for findings deeper than that (the self-block needs 100 wakes: 104
    steps, which breadth-first exploration of the counter abstraction reaches in a fraction of a
    second).
    """
    system = _seed_system()
    capacity = int(dict(system.bounds.extra).get("capacity", 100))
    out: dict[str, Counterexample] = {}
    if source == "z3":
        from refexec.models.symbolic import bmc  # noqa: PLC0415 (z3 only when asked)

        props = [p for p in system.properties if p.id in FINDINGS]
        for pid, r in bmc(system, props, max_depth=z3_depth, include_type_ok=False).items():
            if r.status == "violated" and r.trace is not None:
                acts = tuple((st.action_name or "", tuple(sorted(st.params.items())))
                             for st in r.trace.steps[1:])
                out[pid] = Counterexample(pid, "z3", acts, capacity)
    elif source != "exhaustive":
        raise ValueError(f"source must be 'z3' or 'exhaustive', not {source!r}")
    missing = [pid for pid in FINDINGS if pid not in out]
    if missing:
        from refexec.models.exhaustive import explore  # noqa: PLC0415

        res = explore(system)
        for pid in missing:
            pr = res.properties.get(pid)
            if pr is None or pr.counterexample is None:
                raise RuntimeError(f"the seed model no longer violates {pid}: update FINDINGS")
            acts = tuple((st.action or "", tuple(sorted(st.params.items())))
                         for st in pr.counterexample[1:])
            out[pid] = Counterexample(pid, "exhaustive", acts, capacity)
    return {pid: out[pid] for pid in FINDINGS}


# ---------------------------------------------------------------------------------------------
# Programs
# ---------------------------------------------------------------------------------------------

Op = tuple[str, int, int]
"""(operation, task index, times). Operations: ``clone`` (keep a clone of the task's waker:
of the context waker during its own poll, else of a held one), ``wake_by_ref``, ``wake`` and
``drop`` (of the context waker when the task is the one being polled and holds none, else of its
oldest held waker), ``spawn`` (spawn task ``index``)."""


@dataclass(frozen=True)
class Poll_:
    """What one poll of a task does: ``ops`` in order, then Pending or Ready."""

    ops: tuple[Op, ...]
    ready: bool

    def __repr__(self) -> str:
        return f"Poll_({self.ops!r}, ready={self.ready})"


@dataclass(frozen=True)
class Program:
    """A concrete program for ``SimpleExecutor(capacity)``: task scripts (one ``Poll_`` per poll;
    a poll past the script returns Ready), the main thread's operations before ``run()``, and a
    helper thread's operations once the run loop waits on an empty channel."""

    capacity: int
    tasks: tuple[tuple[Poll_, ...], ...]
    before_run: tuple[Op, ...]
    when_idle: tuple[Op, ...] = ()
    runs: bool = True

    def __repr__(self) -> str:
        tasks = ",\n        ".join(
            "(" + "".join(f"{p!r}, " for p in t) + ")" for t in self.tasks)
        return (f"Program(\n    capacity={self.capacity},\n    tasks=(\n        {tasks},\n    ),\n"
                f"    before_run={self.before_run!r},\n    when_idle={self.when_idle!r},\n"
                f"    runs={self.runs},\n)")


@dataclass
class _TShadow:
    phase: int  # seed PENDING / RUNNING / COMPLETE
    w: int
    e: int


def translate(cx: Counterexample) -> Program:
    """The program whose run on SimpleExecutor takes exactly the path's actions.

    The counter abstraction names classes, not tasks; the translator keeps the per-task view
    (as trace validation does) to know which task each action is about, and checks that the
    task the path polls is the one FIFO order polls. Actions from other threads while a poll
    runs, and a path that dequeues out of FIFO order, raise :class:`Untranslatable`.
    """
    cls = seed_model.classes(1)
    system = _seed_system()
    cls = seed_model.classes(int(dict(system.bounds.extra).get("wakers", 1)))
    tasks: list[_TShadow] = []
    scripts: list[list[Poll_]] = []
    cur_ops: list[Op] = []
    running: int | None = None
    queue: list[int] = []
    before: list[Op] = []
    idle_ops: list[Op] = []
    started = False

    def task_of(c: int, prefer: int | None = None) -> int:
        p, w, e = cls[c]
        cands = [i for i, t in enumerate(tasks)
                 if (t.phase, t.w, min(t.e, seed_model.E_MAX)) == (p, w, e)]
        if not cands:
            raise Untranslatable(f"no task is in class {seed_model.class_name(cls[c])}")
        return prefer if prefer in cands else cands[0]

    def emit(op: str, t: int, remote: int) -> None:
        if running is not None and not remote:
            if cur_ops and cur_ops[-1][:2] == (op, t):
                cur_ops[-1] = (op, t, cur_ops[-1][2] + 1)
            else:
                cur_ops.append((op, t, 1))
        elif not started and not remote:
            before.append((op, t, 1))
        elif started and running is None and remote:
            idle_ops.append((op, t, 1))
        else:
            raise Untranslatable(f"{op} of task {t} from {'another' if remote else 'this'} "
                                 "thread at this point cannot be replayed deterministically")

    for name, params_t in cx.actions:
        params = dict(params_t)
        if name == "spawn":
            if params.get("remote"):
                raise Untranslatable("a spawn from another thread")
            t = len(tasks)
            tasks.append(_TShadow(seed_model.PENDING, 0, 1))
            scripts.append([])
            queue.append(t)
            emit("spawn", t, 0)
        elif name in ("spawner_new", "spawner_drop"):
            continue  # SimpleExecutor's tasks may spawn without a separate sender handle
        elif name == "run_start":
            started = True
        elif name in ("poll", "discard"):
            t = task_of(params["c"], queue[0] if queue else None)
            if not queue or queue[0] != t:
                raise Untranslatable("the path dequeues out of FIFO order")
            queue.pop(0)
            tasks[t].e -= 1
            if name == "poll":
                tasks[t].phase = seed_model.RUNNING
                running = t
                cur_ops = []
        elif name in ("pending", "ready"):
            t = task_of(params["c"], running)
            tasks[t].phase = seed_model.PENDING if name == "pending" else seed_model.COMPLETE
            scripts[t].append(Poll_(tuple(cur_ops), ready=name == "ready"))
            running, cur_ops = None, []
        elif name in ("wake", "wake_by_ref", "waker_clone", "waker_drop"):
            t = task_of(params["c"], running)
            op = {"waker_clone": "clone", "waker_drop": "drop"}.get(name, name)
            emit(op, t, params.get("remote", 0))
            if name == "waker_clone":
                tasks[t].w += 1
            elif name in ("wake", "waker_drop"):
                tasks[t].w -= 1
            if name in ("wake", "wake_by_ref"):
                tasks[t].e += 1
                queue.append(t)
        elif name == "run_end":
            pass
        else:
            raise Untranslatable(f"unknown seed action {name!r}")
    if running is not None:  # the path ends inside a poll (e.g. the loop blocked): finish it
        scripts[running].append(Poll_(tuple(cur_ops), ready=True))
    return Program(cx.capacity, tuple(tuple(s) for s in scripts), tuple(before),
                   tuple(idle_ops), started)


# ---------------------------------------------------------------------------------------------
# Running a program on SimpleExecutor
# ---------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What SimpleExecutor did with a program."""

    raised: str | None = None
    """Type name of the exception ``run()`` (or a spawn before it) raised, if any."""
    dropped_pending: int = 0
    """Tasks freed in silence while Pending (``stats['dropped_pending']``)."""
    skipped_entries: int = 0
    """Channel entries the loop took without polling (stale entries of finished tasks)."""
    waited_on_finished: bool = False
    """The loop waited on an empty channel while only finished tasks were alive."""
    polls: dict[int, int] = field(default_factory=dict)
    trace: Any = None


def _perform(op: Op, held: list[list[Any]], cx: Any, me: int | None, *,
             spawn: Callable[[int], None]) -> None:
    name, t, times = op
    for _ in range(times):
        if name == "spawn":
            spawn(t)
        elif name == "clone":
            src = cx.waker if (t == me and cx is not None) else held[t][0]
            held[t].append(src.clone())
        elif t == me and cx is not None and not held[t]:
            getattr(cx.waker, {"wake": "wake_by_ref"}.get(name, name))()
        else:
            w = held[t][0] if name == "wake_by_ref" else held[t].pop(0)
            getattr(w, name)()


def run_program(program: Program, *, idle_grace: float = 0.2, timeout: float = 10.0) -> Outcome:
    """Run ``program`` on a traced ``SimpleExecutor`` and observe it (see :class:`Outcome`).

    A program whose run would wait for ever (a finished task's waker keeps run() open) is
    released by a helper thread: once the loop has waited on an empty channel for
    ``idle_grace`` seconds it records what kept the loop open, performs ``when_idle`` and then
    drops every stored waker, so ``run()`` returns.
    """
    from refexec import FutureBase, Pending, Ready, SimpleExecutor, Trace  # noqa: PLC0415

    trace = Trace()
    ex = SimpleExecutor(program.capacity, trace=trace)
    held: list[list[Any]] = [[] for _ in program.tasks]
    out = Outcome(trace=trace)
    lock = threading.Lock()

    class Scripted(FutureBase[None]):
        def __init__(self, index: int) -> None:
            self.index = index
            self.n = 0

        def poll(self, cx: Any) -> Any:
            script = program.tasks[self.index]
            step = script[self.n] if self.n < len(script) else Poll_((), True)
            self.n += 1
            with lock:
                for op in step.ops:
                    _perform(op, held, cx, self.index, spawn=spawn)
            return Ready(None) if step.ready else Pending

    def spawn(t: int) -> None:
        ex.spawn(Scripted(t))

    try:
        for op in program.before_run:
            _perform(op, held, None, None, spawn=spawn)
    except Exception as e:
        out.raised = type(e).__name__
    done = threading.Event()

    def watchdog() -> None:
        idle_since: float | None = None
        deadline = time.monotonic() + timeout
        while not done.wait(0.01) and time.monotonic() < deadline:
            snap = ex.snapshot()
            if snap.running and not snap.queue:
                idle_since = idle_since or time.monotonic()
                if time.monotonic() - idle_since >= idle_grace:
                    if snap.tasks and all(not t.future_present for t in snap.tasks):
                        out.waited_on_finished = True
                    with lock:
                        for op in program.when_idle:
                            _perform(op, held, None, None, spawn=spawn)
                        for ws in held:
                            while ws:
                                ws.pop().drop()
                    idle_since = None
            else:
                idle_since = None

    th = threading.Thread(target=watchdog, daemon=True)
    if program.runs and out.raised is None:
        th.start()
        try:
            ex.run()
        except Exception as e:
            out.raised = type(e).__name__
        finally:
            done.set()
            th.join()
    with lock:
        for ws in held:
            while ws:
                ws.pop().drop()
    out.dropped_pending = ex.stats["dropped_pending"]
    if out.raised is None:
        out.skipped_entries = ex.stats["spawned"] + ex.stats["wakes"] - ex.stats["polls"]
    out.polls = dict(ex.poll_counts)
    return out


# ---------------------------------------------------------------------------------------------
# Model prediction vs behaviour
# ---------------------------------------------------------------------------------------------

_BEHAVIOUR: dict[str, tuple[str, Callable[[Outcome], bool]]] = {
    "EX-NO-SELF-BLOCK": ("run() raises DeadlockError",
                         lambda o: o.raised == "DeadlockError"),
    "EX-LOST-REPORTED": ("a pending task is freed in silence and never completes",
                         lambda o: o.raised is None and o.dropped_pending >= 1),
    "EX-SLEEP-SAFE": ("run() waits on an empty channel with only finished tasks alive",
                      lambda o: o.raised is None and o.waited_on_finished),
    "EX-QUEUE-EXACT": ("the loop takes an entry of a finished task without polling it",
                       lambda o: o.raised is None and o.skipped_entries >= 1),
}


def agreement(property_id: str, outcome: Outcome) -> list[str]:
    """Disagreements between the model's prediction and SimpleExecutor's behaviour (empty if
    they agree): the behaviour the finding predicts must be observed, and the program's trace,
    checked against the seed model, must be valid and violate ``property_id``."""
    from refexec.models.trace_check import check_trace  # noqa: PLC0415

    problems = []
    what, seen = _BEHAVIOUR[property_id]
    if not seen(outcome):
        problems.append(f"the model predicts {property_id}: {what}; SimpleExecutor did not "
                        f"({outcome!r})")
    result = check_trace(outcome.trace, "seed")
    if not result.ok:
        problems.append(f"the program's trace is not a seed behaviour:\n{result.report()}")
    elif property_id not in result.violated():
        problems.append(f"the trace check does not see {property_id} violated:\n"
                        f"{result.report()}")
    return problems


# ---------------------------------------------------------------------------------------------
# Generating the regression tests
# ---------------------------------------------------------------------------------------------

HEADER = "# Generated by `python -m refexec.models.repro --write tests/regressions`; do not edit."


def _runs(labels: Sequence[str]) -> list[tuple[str, int]]:
    """Consecutive repeats collapsed: [(label, times)]."""
    out: list[tuple[str, int]] = []
    for lab in labels:
        if out and out[-1][0] == lab:
            out[-1] = (lab, out[-1][1] + 1)
        else:
            out.append((lab, 1))
    return out


def _steps_doc(cx: Counterexample) -> list[str]:
    labels = cx.labels()
    lines: list[str] = []
    i = 0
    while i < len(labels):
        j = i
        while j + 1 < len(labels) and labels[j + 1] == labels[i]:
            j += 1
        n = j - i + 1
        more = f"   (x{n}, to step {j + 1})" if n > 1 else ""
        lines.append(f"  {i + 1:>3}. {labels[i]}{more}")
        i = j + 1
    return lines


def render_test(cx: Counterexample) -> str:
    """The text of the regression test file for one counterexample."""
    slug, why = FINDINGS[cx.property_id]
    program = translate(cx)
    what = _BEHAVIOUR[cx.property_id][0]
    def wrap(text: str) -> list[str]:
        return textwrap.wrap(text, 96)

    doc = "\n".join([
        f'"""Seed finding {cx.property_id}, replayed on SimpleExecutor.',
        "",
        *wrap(f"The seed's design: {why}."),
        "",
        *wrap(f"The model's shortest counterexample ({cx.source}, {len(cx.actions)} steps, "
              f"channel capacity {cx.capacity}):"),
        "",
        *_steps_doc(cx),
        "",
        *wrap(f"Expected on SimpleExecutor: {what}; and its trace, checked against the seed "
              f"model, violates {cx.property_id}."),
        '"""',
    ])
    runs = "".join(f"    ({lab!r}, {n}),\n" for lab, n in _runs(cx.labels()))
    test_name = f"test_seed_{slug}_reproduces_on_simple_executor"
    return f'''{HEADER}
{doc}

from __future__ import annotations

from refexec.models.repro import Poll_, Program, agreement, run_program

PROPERTY = {cx.property_id!r}
COUNTEREXAMPLE = (  # (model action, times in a row)
{runs})
PROGRAM = {program!r}


def {test_name}() -> None:
    outcome = run_program(PROGRAM)
    assert agreement(PROPERTY, outcome) == []
'''


def expected_files(source: str = "exhaustive") -> dict[str, str]:
    """File name -> text of every regression test, as :func:`write_tests` would write them."""
    return {f"test_seed_{FINDINGS[pid][0]}.py": render_test(cx)
            for pid, cx in derive(source).items()}


def write_tests(folder: str | Path, source: str = "exhaustive") -> list[Path]:
    """Write the regression tests into ``folder`` (created if needed); returns the paths."""
    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in expected_files(source).items():
        p = root / name
        p.write_text(text, encoding="utf-8")
        paths.append(p)
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m refexec.models.repro",
        description="Turn the seed model's counterexamples into SimpleExecutor regression tests.")
    parser.add_argument("--write", metavar="DIR", help="write the tests into DIR")
    parser.add_argument("--source", choices=("exhaustive", "z3"), default="exhaustive")
    args = parser.parse_args(argv)
    failed = 0
    for pid, cx in derive(args.source).items():
        outcome = run_program(translate(cx))
        problems = agreement(pid, outcome)
        verdict = "reproduced" if not problems else "NOT reproduced"
        failed += bool(problems)
        print(f"{pid}: {len(cx.actions)} steps ({cx.source}) -> {verdict} on SimpleExecutor")
        for problem in problems:
            print(f"  {problem}")
    if args.write:
        for path in write_tests(args.write, args.source):
            print(f"wrote {path}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
