"""The threads parts (rounds, posted cancels, the drive calls, close()) for every number of
tasks (models/param_round.py, param_rcancel.py, param_drive.py, param_close.py).

The target is the ``threads`` variant's bounds with ``join = 0`` (joins are another part).
Each proof must be able to fail: without an auxiliary invariant, without the head lemma, or
with a mutant's edge, a named (property, action) query fails; a wrong parametric reading of
close's queue operations disagrees with the concrete model.
"""

from __future__ import annotations

from typing import Any

import pytest
import z3  # type: ignore[import-untyped]
from refexec.models import param_close, param_drive
from refexec.models import reference_parametric as rp
from refexec.models.mutants import MUTANT_SPECS
from refexec.models.reference import default_bounds
from refexec.models.system import Ops, View

THREADS = default_bounds(1, round=1, rcancel=1, drive=1, close=1, join=0)
SPECS = {m.slug: m for m in MUTANT_SPECS}
QUICK = 4000  # ms per query: the proof's take milliseconds; a failing one may be slow

PART_IDS = {"EX-INBOX-PROMPT", "EX-CANCEL-APPLIED", "EX-STALLED-EXACT", "EX-STEP-ONE",
            "EX-BLOCK-ON-RETURN", "EX-CLOSE-FINAL", "EX-CLOSE-NO-POLL", "EX-CLOSED-NO-SPAWN"}
CORE_IDS = {"EX-ONE-POLLER", "EX-NO-LOST-WAKE", "EX-QUEUE-EXACT", "EX-SLEEP-SAFE",
            "EX-LOST-REPORTED", "EX-POLL-COUNT", "EX-FINAL", "EX-RUN-END", "EX-FIFO",
            "EX-PROGRESS", "EX-TERMINATES"}


def _failed_pairs(report: rp.EveryNReport) -> set[tuple[str, str]]:
    return {(q.prop, q.action) for q in report.failed}


def test_the_threads_parts_are_interpreted() -> None:
    assert {"round", "rcancel", "drive", "close"} <= rp.INTERPRETED
    assert rp.interprets(THREADS)
    ids = {i.id for i in rp.invariants_for(THREADS)}
    assert {"AUX-ROUND", "AUX-CPOST", "AUX-DRIVE", "AUX-POLLS-LEFT", "AUX-CLOSED"} <= ids


def test_threads_is_proved_for_every_n() -> None:
    report = rp.prove_every_n(bounds=THREADS, name="threads")
    assert report.ok, report.summary()
    assert set(report.properties) == CORE_IDS | PART_IDS
    labels = {q.action for q in report.queries}
    # every action of the parts is read from the model and checked
    assert {"round_end", "cancel(remote=1)", "cancel_drain", "close_start", "close_drain",
            "close_cancel_drain", "close_drop", "close_end", "closed_wake",
            "step_return"} <= labels
    assert report.summary().startswith("threads proved for every N (19 properties")
    # the head lemma, by induction on N, is part of the proof
    head = {q.action: q.status for q in report.queries if q.prop == "AUX-HEAD"}
    assert head == {"induction: N = 0": "unsat", "induction: N = k to k + 1": "unsat"}


def test_the_parametric_threads_agree_with_the_concrete_ones() -> None:
    report = rp.agreement((1, 2), bounds=THREADS)
    assert report.ok, report.failures


@pytest.mark.deep  # ~15 s
def test_the_parametric_threads_agree_up_to_four_tasks() -> None:
    report = rp.agreement((1, 2, 3, 4), bounds=THREADS)
    assert report.ok, report.failures
    assert set(report.checked) == {1, 2, 3, 4}


def _progress(core: rp.ParamCore, assume: tuple[rp.PInvariant, ...]) -> str:
    s = core.state("@0")
    pre = [rp.N >= 1, *(i.formula(core, s) for i in assume)]
    status, _ = rp._solve_either([*pre, rp.progress_stuck(core, s, core.actions())], QUICK)
    return status


def test_progress_needs_the_head_lemma(monkeypatch: pytest.MonkeyPatch) -> None:
    """With the drive calls the loop must poll the head; without the lemma "a non-empty queue
    has a head" (proved by induction on N, not first-order with N free) z3 cannot show
    progress."""
    invs = rp.invariants_for(THREADS)
    assert [lem.id for lem in rp.lemmas_for(THREADS)] == ["AUX-HEAD"]
    assert _progress(rp.ParamCore(rp.N, THREADS), invs) == "unsat"
    monkeypatch.setattr(param_drive, "LEMMAS", ())
    monkeypatch.setattr(param_close, "LEMMAS", ())
    assert rp.lemmas_for(THREADS) == ()
    assert _progress(rp.ParamCore(rp.N, THREADS), invs) != "unsat"


def _lemma_queries(formula: Any) -> tuple[str, str, str]:
    """A lemma's two induction queries (base N = 0, step k to k + 1) and the lemma asked
    with N free, directly."""
    free = rp.ParamCore(rp.N, THREADS)
    s = free.state("@0")
    base, step = (rp._solve(q, QUICK)[0]
                  for q in rp.induction_queries(formula, THREADS, s).values())
    return base, step, rp._solve([rp.N >= 1, z3.Not(formula(free, s))], QUICK)[0]


def test_the_head_lemma_is_proved_by_induction_on_n() -> None:
    """Base and step unsat (in the threads proof too: test_threads_is_proved_for_every_n);
    asked directly with N free, z3 cannot prove it (it needs induction: the reason it is a
    lemma and not an invariant)."""
    base, step, free = _lemma_queries(param_drive.HEAD.formula)
    assert (base, step) == ("unsat", "unsat")
    assert free != "unsat"


def test_a_false_lemma_fails_its_induction_step() -> None:
    """"Some queued task has a timestamp strictly below every other queued one" is false (two
    tasks may share a timestamp in an arbitrary state): the step is sat (so the induction does
    not prove just anything); its base holds."""

    def strict(m: rp.ParamCore, s: rp.PState) -> Any:
        some = m.exists_task(lambda x: s.st[x] == rp.SCHED)
        least = m.exists_task(lambda h: z3.And(s.st[h] == rp.SCHED, m.forall_tasks(
            lambda x: z3.Implies(z3.And(s.st[x] == rp.SCHED, x != h), s.ts[h] < s.ts[x]))))
        return z3.Implies(some, least)

    base, step, _ = _lemma_queries(strict)
    assert base == "unsat" and step == "sat"


def test_progress_needs_a_poll_left_for_the_head() -> None:
    """Without AUX-POLLS-LEFT a queued task may have used its polls: a stuck
    run_until_stalled() is a counterexample."""
    invs = tuple(i for i in rp.invariants_for(THREADS) if i.id != "AUX-POLLS-LEFT")
    assert _progress(rp.ParamCore(rp.N, THREADS), invs) == "sat"


class _AnyHeadBuilder(rp.ParamBuilder):
    """Wrong encoding: the head is any SCHEDULED task, not the least timestamp."""

    def is_head(self, s: View, o: Ops, t: Any) -> Any:
        return s.st[t] == rp.SCHED


class _AnyHead(rp.ParamCore):
    builder_class = _AnyHeadBuilder


def test_a_wrong_head_disagrees_at_close_drop() -> None:
    """close() cancels the head of the queue first: read with a wrong head, close_drop is
    enabled where the concrete one is not (two tasks queued)."""
    report = rp.agreement((1, 2), bounds=THREADS, core_class=_AnyHead)
    assert not report.ok
    assert any(f.startswith("n=2: close_drop(") and "enabled" in f for f in report.failures)
    assert not any(f.startswith("n=1") for f in report.failures)


def _pair(prop: str, action: str, *, without: str = "", edges: Any = None) -> str:
    """The one query of ``(prop, action)`` in :func:`rp.prove_every_n` (an invariant's
    induction step, or a step property), with the invariant ``without`` not assumed and the
    mutant ``edges``: its status ("unsat": the pair holds)."""
    core = (rp.ParamCore(rp.N, THREADS) if edges is None
            else rp.ParamCore(rp.N, THREADS, edges))
    s, s2, t = core.state("@0"), core.state("@1"), z3.Int("t")
    invs = rp.invariants_for(THREADS)
    pre = [rp.N >= 1, *(i.formula(core, s) for i in invs if i.id != without)]
    acts = [a for a in core.actions() if a.label == action]
    assert len(acts) == 1, action
    a = acts[0]
    goals = [z3.Not(i.formula(core, s2)) for i in invs if i.id == prop]
    for sp in rp.steps_for(THREADS):
        if sp.id == prop and a.name in sp.actions:
            goal = sp.formula(core, s, t)
            if sp.after is not None:
                goal = z3.And(goal, sp.after(core, s, s2, t))
            goals.append(z3.Not(goal))
    assert goals, (prop, action)
    status, _ = rp._solve_either([*pre, core.trans(a, s, s2, t), z3.Or(*goals)], QUICK)
    return status


NEEDED = [
    ("AUX-ROUND", "EX-INBOX-PROMPT", "poll"),
    ("AUX-CPOST", "EX-CANCEL-APPLIED", "close_cancel_drain"),
    ("AUX-CLOSED", "EX-CLOSE-NO-POLL", "poll"),
    ("AUX-CLOSED", "EX-SLEEP-SAFE", "closed_wake"),
    ("AUX-DRIVE", "EX-STALLED-EXACT", "close_end"),
]


@pytest.mark.parametrize(("removed", "prop", "action"), NEEDED)
def test_each_auxiliary_invariant_is_needed(removed: str, prop: str, action: str) -> None:
    assert _pair(prop, action) == "unsat"
    assert _pair(prop, action, without=removed) == "sat"


MUTANTS = [
    ("inbox-drained-when-idle", "AUX-ROUND", "round_end"),
    ("stalled-returns-early", "EX-STALLED-EXACT", "step_return"),
    ("step-polls-twice", "EX-STEP-ONE", "poll"),
    ("stalled-sleeps", "AUX-DRIVE", "idle_check"),  # a stalled drive call decides
    ("close-skips-inbox", "EX-CLOSE-FINAL", "close_end"),
    ("close-skips-idle", "EX-CLOSE-FINAL", "close_end"),
    ("spawn-after-close", "EX-CLOSED-NO-SPAWN", "spawn(remote=1)"),
]


@pytest.mark.parametrize(("slug", "prop", "action"), MUTANTS)
def test_a_mutant_of_the_parts_fails_a_named_pair(slug: str, prop: str, action: str) -> None:
    assert _pair(prop, action) == "unsat"
    # the proof fails at this pair, with a counterexample
    assert _pair(prop, action, edges=SPECS[slug].edges) == "sat"


def test_verify_proves_the_threads_variant_itself_joins_included() -> None:
    from refexec.models.verify import every_n_bounds  # noqa: PLC0415

    bounds = default_bounds(1, round=1, rcancel=1, drive=1, close=1)  # the variant's: join = 1
    assert every_n_bounds("threads", bounds) == (bounds, "threads")
