"""The reference core for every number of tasks (models/reference_parametric.py).

The proofs must be able to fail: without an auxiliary invariant, or with a guard removed (a
mutant's edge), the named (action, property) queries fail with a counterexample; a wrong
parametric encoding (the queue's head, the timestamps) disagrees with the concrete model.
"""

from __future__ import annotations

from typing import Any

import pytest
import z3  # type: ignore[import-untyped]
from refexec.models import reference_parametric as rp
from refexec.models.mutants import MUTANT_SPECS
from refexec.models.reference import REFERENCE_EDGES, Edges, build, default_bounds
from refexec.models.symbolic import SymbolicMisuse
from refexec.models.system import Ops, View
from refexec.models.verify import VariantReport, _every_n

SPECS = {m.slug: m for m in MUTANT_SPECS}


QUICK = 4000  # ms per query: the proof's queries take milliseconds; a failing one may be slow


def _without(inv_id: str) -> rp.EveryNReport:
    return rp.prove_every_n(assume=tuple(i for i in rp.INVARIANTS if i.id != inv_id),
                            timeout_ms=QUICK)


def _failed_pairs(report: rp.EveryNReport) -> set[tuple[str, str]]:
    return {(q.prop, q.action) for q in report.failed}


def test_the_core_is_proved_for_every_n() -> None:
    report = rp.prove_every_n()
    assert report.ok, report.summary()
    assert set(report.properties) == {
        "EX-ONE-POLLER", "EX-NO-LOST-WAKE", "EX-QUEUE-EXACT", "EX-SLEEP-SAFE",
        "EX-LOST-REPORTED", "EX-POLL-COUNT", "EX-FINAL", "EX-RUN-END", "EX-FIFO",
        "EX-PROGRESS", "EX-TERMINATES"}
    # one query per (action, invariant) pair plus each invariant's base case, one per
    # (constrained action, step property), and the consistency query
    acts = rp.ParamCore(z3.Int("N")).actions()  # an action with a remote parameter: twice
    pairs = len(rp.INVARIANTS) * (len(acts) + 1)
    steps = sum(a.name in sp.actions for sp in rp.STEP_PROPERTIES for a in acts)
    fair = sum(a.name in rp.FAIR_ACTIONS for a in acts)
    # + consistency, + progress, + the ranking's decrease per fair action and its lower bound
    assert len(report.queries) == pairs + steps + 2 + fair + 1
    assert report.summary().startswith("reference core proved for every N (11 properties")


def test_the_core_has_the_concrete_actions_in_order() -> None:
    concrete = build(rp.core_bounds(2))
    assert tuple(a.name for a in concrete.actions) == rp.CORE_ACTIONS
    core = rp.ParamCore(z3.Int("N"))
    assert tuple(dict.fromkeys(a.name for a in core.actions())) == rp.CORE_ACTIONS


@pytest.mark.deep  # ~8 min of CPU since a failing query is retried with the other E-matching
# setting (to return a counterexample); test_a_failed_pair_... keeps one case in the default run
@pytest.mark.parametrize(("removed", "fails"), [
    ("AUX-DECIDED", {("EX-RUN-END", "run_end"), ("EX-SLEEP-SAFE", "sleep")}),
    ("AUX-ENDED", {("EX-FINAL", "poll"), ("EX-FINAL", "ready")}),
    ("AUX-POLL-LOOP", {("EX-ONE-POLLER", "poll"), ("EX-RUN-END", "run_end")}),
    ("AUX-UNSPAWNED", {("EX-NO-LOST-WAKE", "wake(remote=0)"),
                       ("AUX-RETURNED", "wake(remote=1)")}),
    ("AUX-LOCK", {("EX-SLEEP-SAFE", "sleep"), ("EX-LOST-REPORTED", "waker_drop(remote=1)")}),
    ("AUX-SIGNAL", {("AUX-LOCK", "idle_check")}),
    ("AUX-RETURNED", {("EX-LOST-REPORTED", "waker_drop(remote=1)")}),
    ("EX-QUEUE-EXACT", {("EX-FIFO", "poll")}),
    ("EX-ONE-POLLER", {("AUX-POLL-LOOP", "pending"), ("AUX-POLL-LOOP", "ready")}),
])
def test_each_auxiliary_invariant_is_needed(removed: str, fails: set[tuple[str, str]]) -> None:
    report = _without(removed)
    others = {pair for pair in _failed_pairs(report) if pair[0] != removed}
    assert fails <= others
    for q in report.failed:  # each failed pair with its counterexample (free or small N)
        assert q.status == "sat"
        assert q.counterexample.startswith("counterexample: N=")


def test_progress_needs_a_polled_task_while_polling() -> None:
    report = _without("AUX-POLLED")
    assert {q.prop for q in report.failed} == {"AUX-POLLED", "EX-PROGRESS"}


class _NoUnpark(rp.ParamCore):
    """A guard removed: the sleeping loop is never woken by a signal."""

    def actions(self) -> tuple[rp.PAction, ...]:
        return tuple(
            rp.PAction("unpark", lambda s, t: z3.BoolVal(False), a.effect, False)
            if a.name == "unpark" else a for a in super().actions())


def test_the_core_reads_the_reference_action_definitions(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """One definition: an action definition of models/reference.py changed (unpark never
    enabled) changes the parametric core too, and its proof fails at EX-PROGRESS."""
    from refexec.models import reference  # noqa: PLC0415

    def unpark(m: Any) -> Any:
        return m.action(unpark, {}, lambda s, o: False,
                        lambda s, o: {"loop": reference.Loop.DISPATCH, "signal": False},
                        ("loop", "signal"))

    monkeypatch.setattr(reference, "unpark", unpark)
    assert "unpark" not in {a.label for a in rp.ParamCore(z3.Int("N")).actions()}
    report = rp.prove_every_n(timeout_ms=QUICK)
    assert {(q.prop, q.action) for q in report.failed} == {("EX-PROGRESS", "every fair action")}


def test_a_loop_over_the_tasks_fails_loudly_in_the_parametric_core() -> None:
    """An action that iterates over ``m.T`` or a per-task array (instead of m.forall, m.exists,
    m.count, m.map_tasks) cannot be read for a symbolic N: it raises, never mis-encodes."""
    core = rp.ParamCore(z3.Int("N"))
    with pytest.raises(SymbolicMisuse, match="cannot be iterated"):
        list(core.m.T)
    view = core.view(rp.PState("@x"))
    with pytest.raises(SymbolicMisuse, match="cannot be iterated"):
        tuple(view.st)


def test_a_count_of_tasks_compares_with_zero_only() -> None:
    core = rp.ParamCore(z3.Int("N"))
    view = core.view(rp.PState("@c"))
    senders = core.m.senders(view, core.o)
    with pytest.raises(SymbolicMisuse, match="compares with 0 only"):
        _ = senders > 1
    # senders = 0 is "no spawner and no unfinished task holds a waker", the negation of > 0
    solver = z3.Solver()
    solver.add(z3.Int("N") >= 1, view.spawners.t >= 0,
               z3.Not((senders == 0).t == z3.Not((senders > 0).t)))
    assert solver.check() == z3.unsat


def test_progress_fails_when_the_signalled_loop_cannot_wake() -> None:
    report = rp.prove_every_n(core_class=_NoUnpark, timeout_ms=QUICK)
    (q,) = report.failed
    assert (q.prop, q.action, q.status) == ("EX-PROGRESS", "every fair action", "sat")
    assert "loop=4" in q.counterexample and "signal=True" in q.counterexample


def test_termination_fails_when_the_environment_may_act_for_ever() -> None:
    """wake_by_ref keeps its handle: a thread calling it for ever keeps the loop busy, which is
    why it is an environment action (assumed finitely often), not a fair one."""
    report = rp.prove_every_n(fair=(*rp.FAIR_ACTIONS, "wake_by_ref"), timeout_ms=QUICK)
    assert {(q.prop, q.action) for q in report.failed} == {
        ("EX-TERMINATES", "wake_by_ref(remote=0)"), ("EX-TERMINATES", "wake_by_ref(remote=1)")}


class _NoBudget(rp.ParamCore):
    """The environment bound removed: a future may return Pending for ever."""

    def actions(self) -> tuple[rp.PAction, ...]:
        guards = {
            "pending": lambda s, t: z3.And(self.polling(s, t), self.has(s.st[t], rp.E.PENDING)),
            "poll": lambda s, t: z3.And(s.loop == rp.Loop.DISPATCH, self.head(s, t),
                                        self.has(s.st[t], rp.E.POLL)),
        }
        return tuple(rp.PAction(a.name, guards[a.name], a.effect, True) if a.name in guards
                     else a for a in super().actions())


def test_termination_needs_the_poll_budget() -> None:
    report = rp.prove_every_n(core_class=_NoBudget, timeout_ms=QUICK)
    assert {(q.prop, q.action) for q in report.failed} == {("AUX-TYPE", "poll")}
    rest = tuple(i for i in rp.INVARIANTS if i.id != "AUX-TYPE")
    report = rp.prove_every_n(rest, core_class=_NoBudget, timeout_ms=QUICK)
    assert ("EX-TERMINATES", "rank >= 0") in _failed_pairs(report)


def test_a_failed_pair_comes_with_a_small_counterexample() -> None:
    report = _without("AUX-DECIDED")
    q = next(q for q in report.failed if (q.prop, q.action) == ("EX-RUN-END", "run_end"))
    assert q.status == "sat"
    # N tasks, the loop deciding (3), and a task the proof cannot rule out as still queued
    assert q.counterexample.startswith("counterexample: N=")
    assert "loop=3" in q.counterexample
    assert "st=0" in q.counterexample


@pytest.mark.parametrize(("slug", "fails"), [
    ("lost-unreported", ("EX-LOST-REPORTED", "idle_check")),  # idle_check's "no lost task"
    ("reentrant-poll", ("EX-ONE-POLLER", "poll")),  # poll only between polls
    ("stall-on-poll-result", ("AUX-LOCK", "pending")),  # the decision after Pending
    ("unlocked-decision", ("AUX-LOCK", "idle_check")),  # the decision holds the lock
    ("wake-byte-unlocked", ("AUX-LOCK", "wake(remote=1)")),  # a poster takes the lock
    ("spawn-no-unpark", ("EX-SLEEP-SAFE", "spawn(remote=1)")),
    ("drop-no-unpark", ("EX-SLEEP-SAFE", "waker_drop(remote=1)")),
    ("running-wake-ignored", ("EX-NO-LOST-WAKE", "wake(remote=0)")),
    ("poll-count-first-only", ("EX-POLL-COUNT", "poll")),
    ("complete-rescheduled", ("AUX-ENDED", "wake(remote=0)")),
    ("cancelled-wake-requeues", ("AUX-ENDED", "wake(remote=0)")),
])
def test_a_removed_guard_or_a_mutated_edge_fails_the_proof(
        slug: str, fails: tuple[str, str]) -> None:
    report = rp.prove_every_n(edges=SPECS[slug].edges, timeout_ms=QUICK)
    assert not report.ok
    assert fails in _failed_pairs(report)
    assert "NOT proved" in report.summary()


@pytest.mark.parametrize("slug", ["join-waker-leak", "exit-with-timer-armed",
                                  "inbox-drained-when-idle", "cancel-lost-when-notified"])
def test_a_mutant_outside_the_core_leaves_the_core_proved(slug: str) -> None:
    """Their bug needs a join, the driver, a round or a posted cancel; the fixed-N checks catch
    them (mutants)."""
    assert rp.prove_every_n(edges=SPECS[slug].edges).ok


@pytest.mark.parametrize("slug", ["double-enqueue", "lifo-queue", "bounded-queue-blocking",
                                  "spawn-phantom-waker"])
def test_an_edge_the_timestamp_queue_cannot_express_is_refused(slug: str) -> None:
    with pytest.raises(ValueError, match="does not interpret"):
        rp.ParamCore(z3.Int("N"), edges=SPECS[slug].edges)


def test_the_parametric_core_agrees_with_the_concrete_one_for_1_to_4_tasks() -> None:
    report = rp.agreement((1, 2, 3, 4))
    assert report.ok, report.failures
    assert sorted(report.checked) == [1, 2, 3, 4]


def test_agreement_also_holds_for_a_mutant_the_core_interprets() -> None:
    edges = SPECS["lost-unreported"].edges
    assert rp.agreement((1, 2), edges=edges).ok


class _AnyHeadBuilder(rp.ParamBuilder):
    """Wrong encoding: poll takes any SCHEDULED task, not the least timestamp."""

    def is_head(self, s: View, o: Ops, t: Any) -> Any:
        return s.st[t] == rp.SCHED


class _AnyHead(rp.ParamCore):
    builder_class = _AnyHeadBuilder


class _SameStampBuilder(rp.ParamBuilder):
    """Wrong encoding: an enqueue does not advance the next timestamp."""

    def enqueue(self, o: Ops, d: Any, who: Any, cond: Any) -> None:
        d.ts = o.store(d.ts, who, o.If(cond, d.tail, d.ts[who]))
        d.touched |= {"ts", "tail"}


class _SameStamp(rp.ParamCore):
    builder_class = _SameStampBuilder


def test_a_wrong_queue_encoding_disagrees_with_the_concrete_model() -> None:
    report = rp.agreement((1, 2), core_class=_AnyHead)
    assert not report.ok
    assert any(f.startswith("n=2: poll(") and "enabled" in f for f in report.failures)
    assert not any(f.startswith("n=1") for f in report.failures)  # one task: no choice



def test_a_wrong_timestamp_encoding_fails_the_every_n_proof() -> None:
    """The agreement assumes the parametric invariants (ts below tail), so a queue that does
    not advance its timestamps is caught by their proof, which verify runs on the same core."""
    report = rp.prove_every_n(core_class=_SameStamp, timeout_ms=QUICK)
    assert ("EX-QUEUE-EXACT", "spawn(remote=0)") in _failed_pairs(report)


def test_a_mismatched_edge_between_the_two_sides_disagrees() -> None:
    class _Reentrant(rp.ParamCore):
        def __init__(self, n: Any, bounds: Any = None, edges: Edges = REFERENCE_EDGES) -> None:
            super().__init__(n, bounds, Edges(single_poller=False))

    report = rp.agreement((2,), core_class=_Reentrant)  # a second task polled during a poll
    assert any(f.startswith("n=2: poll(") and "enabled differs" in f for f in report.failures)


def test_verify_reports_the_every_n_proof() -> None:
    report = VariantReport("reference", default_bounds(2), {})
    _every_n(report, "reference", report.bounds, lambda _m: None)
    assert report.every_n_ok is True
    assert report.every_n.startswith("reference proved for every N")  # joins interpreted
    assert report.every_n_agreement.startswith("parametric = concrete for N = 1, 2, 3, 4")
    assert report.to_json()["every_number_of_tasks"]["ok"] is True


def test_verify_skips_a_variant_whose_parts_are_not_interpreted(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the variants of the reference whose every part the parametric reading interprets
    are proved for every N (today every part is: a reading without the driver's parts)."""
    monkeypatch.setattr(rp, "INTERPRETED", rp.INTERPRETED - {"timers", "io"})
    refused = default_bounds(1, timers=1, io=1)
    assert not rp.interprets(refused)
    report = VariantReport("threads", refused, {})
    _every_n(report, "threads", refused, lambda _m: None)
    assert report.every_n == "" and report.every_n_ok is None
    with pytest.raises(ValueError, match="does not interpret the bounds key"):
        rp.ParamCore(z3.Int("N"), refused)
