"""The model-based checks must fail on every injected executor bug, and only because of it.

For each bug of ``tests/injected_bugs.py`` (the catalogue of issue 12), with the bug in, one of
the model-based checks fails — no hand-written test is involved:

1. the door exploration (``refexec.testing.lockstep.explore_door``): the lockstep machine runs
   a few short programs whose last rule runs threads (``run()``, ``close()``) under *every*
   interleaving within 2 preemptions (``refexec.testing.threads_control``); or else
2. the lockstep machine's Hypothesis hunt, derandomized, threads under the controlled
   scheduler with the interleaving drawn by Hypothesis.

Both are deterministic: the same seed gives the same verdict after the same number of steps
(tested). A hunt's counterexample replayed on the correct executor passes. No timer decides
anything: a lost wake is the state "the loop parked, nobody left to wake it".
``python tests/test_injected_bugs.py`` prints the catalogue's table (README).
"""

from __future__ import annotations

import gc
import importlib
import re
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st
from hypothesis.database import InMemoryExampleDatabase
from hypothesis.errors import Unsatisfiable
from hypothesis.stateful import run_state_machine_as_test

sys.path.insert(0, str(Path(__file__).parent))

from injected_bugs import BUGS, injected
from refexec.testing.determinism import stable_generation
from refexec.testing.lockstep import (
    ROUND_PROGRAMS,
    explore_door,
    sweep_close_interrupts,
    sweep_interrupts,
)
from refexec.testing.lockstep_settings import lockstep_settings
from refexec.testing.machines import ROUNDS, reference_machine
from refexec.testing.waitqueue_lockstep import EventLockstep, WaitQueueLockstep

# The hunt stops at the first failure, so a generous ceiling costs only the hard bugs. No timer
# anywhere: the threads run under refexec.testing.threads_control, a lost wake is a state (the
# loop parked, nobody left to wake it), and the same seed gives the same verdict.
BUG_EXAMPLES = 1000

CHECKS = (  # (what the failure says, the check that caught it), first match wins
    ("thread ownership", "thread ownership (controlled executor)"),
    ("EX-SLEEP-SAFE", "liveness: loop parked for ever (state)"),
    ("close() broke its contract", "close() contract (state)"),
    ("executor invariant violated", "executor check_invariants"),
    ("abstraction(executor) != model state", "refinement: abstraction != model"),
    ("which the model does not enable", "refinement: action not enabled"),
    ("the model state reached violates", "model invariant"),
    (" violates ", "model step property"),
    ("EX-FINAL", "log: polled after completion"),
    ("EX-ONE-POLLER", "log: two pollers"),
    ("WQ-FAULT-REPORTED", "wait queue: exception not at the caller"),
    ("abstraction {", "wait queue: abstraction != model"),
    ("Event's caller", "wait queue: exception not at the caller"),
    ("live waker clones", "wait queue: live wakers != model"),
    ("wakes, the model", "wait queue: wakes != model"),
)


def check_of(exc: BaseException) -> str:
    """Which of the machine's checks a failure came from (for the catalogue's report)."""
    text = str(exc)
    for needle, name in CHECKS:
        if needle in text:
            return name
    return f"executor raised {type(exc).__name__}"


@dataclass
class Verdict:
    caught: bool
    check: str
    rules: int
    schedule: str


def hunt(slug: str, *, budget: settings, db: InMemoryExampleDatabase) -> Verdict:
    """Run the machine with bug ``slug``: whether, how and after how many rules it was caught
    (rules over every example tried, including the catch), and the failing interleaving."""
    machine = reference_machine(name=f"bug_{slug}")
    # a bugged executor may warn about what its bug broke; that is not what is tested here
    try:
        with injected(slug), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # (before the entry's collection)
            with stable_generation():
                try:
                    run_state_machine_as_test(
                        machine, settings=settings(budget, database=db,
                                                   phases=[Phase.generate],
                                                   report_multiple_bugs=False))
                finally:
                    # what the bug left behind is collected here, where its warnings are
                    # ignored, not later inside another test that turns them into errors
                    gc.collect()
    except Exception as e:
        return Verdict(True, check_of(e), machine.totals["rules"], machine.last_interleaving)
    return Verdict(False, "-", machine.totals["rules"], "-")


def bug_settings() -> settings:
    # derandomized: CI sees the same examples every run, so a catch is a fact, not a chance
    # short examples: a run() ends the model's executor, so most races are in an example's
    # first 20 rules, and shorter examples try more of them in the same time
    return settings(lockstep_settings(max_examples=BUG_EXAMPLES, steps=20), derandomize=True)


def door_hunt(slug: str) -> Verdict:
    """The door programs under every interleaving within 2 preemptions, with bug ``slug``:
    caught or not, by which check, after how many runs (``rules`` counts runs here). The
    programs of a task ready for ever run on the machine with rounds."""
    runs = [0]
    machine = reference_machine(name=f"door_{slug}")
    rounds = reference_machine(name=f"door_rounds_{slug}", rounds=ROUNDS)
    with injected(slug), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # (before the entry's collection)
        try:
            with stable_generation():
                runs[0] = explore_door(machine)
                runs[0] += explore_door(rounds, programs=ROUND_PROGRAMS)
        except AssertionError as e:
            m = re.search(r"failed after (\d+) run", str(e))
            # (runs of the programs before the failing one are not counted: the first
            # program that fails, and after how many of its runs, is what replays)
            sched = re.search(r"replay=('[^']*')", str(e))
            prog = re.search(r"door program (['\"])(.*?)\1:", str(e))
            return Verdict(True, check_of(e), int(m.group(1)) if m else -1,
                           f"{prog.group(2) if prog else '?'}: "
                           f"{sched.group(1) if sched else '-'}")
        finally:
            gc.collect()
    return Verdict(False, "-", runs[0], "-")


class _CountedWaitQueueLockstep(WaitQueueLockstep):
    """The wait-queue machine, counting its rules across examples (for the catalogue)."""

    rules = 0

    def fire(self, name: str, raised: bool = False, **params: int) -> None:  # type: ignore[override]
        type(self).rules += 1
        super().fire(name, raised, **params)


class _CountedEventLockstep(EventLockstep):
    """The Event machine (refexec.sync's own waker loop), counting its rules likewise."""

    rules = 0

    def fire(self, name: str, raised: bool = False, **params: int) -> None:  # type: ignore[override]
        type(self).rules += 1
        super().fire(name, raised, **params)


def wq_machine(slug: str) -> type[_CountedWaitQueueLockstep] | type[_CountedEventLockstep]:
    """The machine whose queue runs the patched code: ``refexec.sync``'s for its own loop."""
    return _CountedEventLockstep if BUGS[slug].name == "_act_all" else _CountedWaitQueueLockstep


def wq_hunt(slug: str, db: InMemoryExampleDatabase) -> Verdict:
    """A bug of kind ``waitqueue``: the wait-queue lockstep machine (its foreign wakers raise,
    the model ``waitqueue`` with faults follows), derandomized."""
    machine = wq_machine(slug)
    machine.rules = 0
    try:
        with injected(slug), stable_generation():
            run_state_machine_as_test(
                machine,
                settings=settings(bug_settings(), database=db, phases=[Phase.generate],
                                  report_multiple_bugs=False))
    except Exception as e:
        return Verdict(True, check_of(e), machine.rules, "(Hypothesis program)")
    return Verdict(False, "-", machine.rules, "-")


def interrupt_hunt(slug: str) -> Verdict:
    """A bug of kind ``interrupt``: ``sweep_interrupts`` (every line position of its programs,
    deterministic), then ``sweep_close_interrupts`` (close() interrupted at each of its lines,
    then close() again): caught or not, by which check, after how many interrupted runs."""
    with injected(slug), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            n = sweep_interrupts(reference_machine(name=f"interrupt_{slug}"))
            n += sweep_close_interrupts(reference_machine(name=f"interrupt_close_{slug}"))
        except AssertionError as e:
            m = re.search(r"interrupted in (\w+) at line event (\d+) \(([^)]*)\)", str(e))
            prog = re.search(r"interrupt program (['\"])(.*?)\1", str(e))
            return Verdict(True, check_of(e), int(m.group(2)) if m else -1,
                           f"{prog.group(2) if prog else '?'}: "
                           f"{m.group(1) + ' ' + m.group(3) if m else '-'}")
        finally:
            gc.collect()
    return Verdict(False, "-", n, "-")


def catch(slug: str, db: InMemoryExampleDatabase | None = None) -> tuple[str, Verdict]:
    """How the model-based checks catch ``slug``: the door exploration first (exhaustive,
    fast), else the Hypothesis lockstep hunt (derandomized; its failing example saved in
    ``db``). A hunt's replayable interleaving is Hypothesis' printed program."""
    if BUGS[slug].kind == "interrupt":
        return "interrupt sweep", interrupt_hunt(slug)
    if BUGS[slug].kind == "waitqueue":
        return "wait-queue lockstep hunt", wq_hunt(
            slug, InMemoryExampleDatabase() if db is None else db)
    v = door_hunt(slug)
    if v.caught:
        return "door exploration", v
    v = hunt(slug, budget=bug_settings(), db=InMemoryExampleDatabase() if db is None else db)
    return "lockstep hunt", Verdict(v.caught, v.check, v.rules, "(Hypothesis program)")


def test_door_exploration_passes_on_the_correct_executor() -> None:
    assert explore_door(reference_machine(name="door_correct")) > 100
    assert explore_door(reference_machine(name="door_rounds", rounds=ROUNDS),
                        programs=ROUND_PROGRAMS) > 10


@pytest.mark.parametrize("slug", sorted(BUGS))
def test_model_checks_catch_injected_bug(slug: str) -> None:
    """Each bug is caught by the model-based checks alone: the door programs explored
    exhaustively (2 preemptions), or the lockstep machine's Hypothesis hunt; deterministically."""
    db = InMemoryExampleDatabase()
    how, verdict = catch(slug, db)
    assert verdict.caught, f"the model-based checks missed injected bug {slug}: {BUGS[slug].what}"
    if how in ("door exploration", "interrupt sweep"):  # both exhaustive and deterministic
        return
    if how == "wait-queue lockstep hunt":  # replayed on the correct wait queue: it passes
        assert [v for k in list(db.data) for v in db.fetch(k)], "the example was not saved"
        machine = wq_machine(slug)
        machine.rules = 0
        try:  # (a failing example ends where the bug failed; the correct queue may run on
            # past its recorded draws: then the replay is reported unsatisfiable)
            run_state_machine_as_test(machine, settings=settings(
                bug_settings(), derandomize=False, database=db, phases=[Phase.reuse]))
        except Unsatisfiable:
            return
        assert machine.rules > 0, "the counterexample was not replayed"
        return
    # The hunt's counterexample, replayed on the correct executor, passes: the bug failed.
    saved = [v for k in list(db.data) for v in db.fetch(k)]
    assert saved, "the failing example was not saved"
    # (Unless the program cannot be replayed at all: the machine's guards follow the executor,
    # so a bug can open a path the correct executor never offers — then Hypothesis reports the
    # replay unsatisfiable, and the correct executor's own lockstep test stands for it.)
    machine = reference_machine(name=f"bug_{slug}")
    try:
        run_state_machine_as_test(
            machine, settings=settings(lockstep_settings(), database=db, phases=[Phase.reuse]))
    except Unsatisfiable:
        return
    assert machine.totals["rules"] > 0, "the counterexample was not replayed"


@pytest.mark.parametrize("slug", ["post-append-after-unlock", "sleep-race", "lost-notified"])
def test_same_seed_same_verdict(slug: str) -> None:
    """Determinism: the threads run under the controlled scheduler, so the door exploration
    and a hunt are functions of the program and Hypothesis' seed: the same check catches the
    bug after the same number of runs / rules, with the same interleaving."""
    first = catch(slug)
    second = catch(slug)
    assert first[1].caught and first == second
    hunts = [hunt(slug, budget=bug_settings(), db=InMemoryExampleDatabase()) for _ in (0, 1)]
    assert hunts[0].caught and hunts[0] == hunts[1]


@pytest.mark.parametrize("slug", ["wq-raising-wake-stops-the-rest",
                                  "sync-raising-wake-stops-the-rest"])
def test_wait_queue_hunt_same_seed_same_verdict(slug: str) -> None:
    """The wait-queue machines' hunt (raising foreign wakers) is deterministic too."""
    first, second = catch(slug), catch(slug)
    assert first[0] == "wait-queue lockstep hunt" and first[1].caught and first == second


def _history(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tag: str) -> None:
    """What an earlier test can leave in the process: a newly imported local module (its
    integer literals join Hypothesis' pool of local constants) and cyclic garbage (the
    collector's next run moves)."""
    mod = f"hunt_history_{tag}"
    literals = ", ".join(str(40_000 + 97 * i) for i in range(60))
    (tmp_path / f"{mod}.py").write_text(f"VALUES = ({literals})\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.import_module(mod)
    junk: list[list[object]] = []
    for _ in range(5000):
        cell: list[object] = []
        cell.append(cell)
        junk.append(cell)
    del junk


def _draws() -> list[int]:
    """A derandomized Hypothesis run's draws (the same test each call, so the same seed)."""
    seen: list[int] = []

    @settings(derandomize=True, database=None, max_examples=300, phases=[Phase.generate])
    @given(st.integers(0, 2**16))
    def record(x: int) -> None:
        seen.append(x)

    record()
    return seen


def test_history_reaches_a_run_outside_stable_generation(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Why the hunt needs ``stable_generation``: without it, the same derandomized run draws
    other values once the process has imported one more local module; with it, the same."""
    from hypothesis.internal.conjecture import providers  # noqa: PLC0415

    with stable_generation():
        stable_before = _draws()
    plain_before = _draws()
    _history(tmp_path, monkeypatch, "draws")
    plain_after = _draws()
    with stable_generation():
        stable_after = _draws()
    assert stable_before == stable_after
    # (a Hypothesis without the local-constant pool never read the imported modules)
    assert (plain_before != plain_after) == hasattr(providers, "_get_local_constants")


def test_hunt_verdict_independent_of_what_ran_before(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 12: the hunt is a function of its seed, not of the process' history. The same
    hunt, before and after the process imports a new local module and leaves cyclic garbage,
    catches the bug by the same check after the same number of rules."""
    slug = "deferred-cancel-ignored"  # about 1,500 rules into the hunt

    def once() -> Verdict:
        return hunt(slug, budget=bug_settings(), db=InMemoryExampleDatabase())

    first = once()
    _history(tmp_path, monkeypatch, "hunt")
    second = once()
    assert first.caught and first.rules > 100
    assert first == second


def test_every_injected_bug_patches_the_executor() -> None:
    """Each bug's fragment occurs in the executor (a stale one raises, never tests nothing)."""
    for slug in BUGS:
        with injected(slug) as bug:
            assert bug.slug == slug


def catalogue() -> None:  # pragma: no cover - the report, run by hand
    """The catalogue's table (README): per bug, its kind, the check that caught it, the rules
    run until the catch (all examples tried included) and the seconds it took."""
    print("| bug | kind | found by | check | runs / rules to catch | interleaving | s |")
    print("|---|---|---|---|---:|---|---:|")
    n = 0
    for slug in sorted(BUGS, key=lambda k: (BUGS[k].kind, k)):
        t0 = time.perf_counter()
        how, v = catch(slug)
        n += v.caught
        print(f"| {slug} | {BUGS[slug].kind} | {how} | {v.check if v.caught else 'MISSED'} | "
              f"{v.rules} | {v.schedule} | {time.perf_counter() - t0:.1f} |", flush=True)
    print(f"caught {n} of {len(BUGS)}")


if __name__ == "__main__":  # pragma: no cover
    catalogue()
