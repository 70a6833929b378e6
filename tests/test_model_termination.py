"""Issue 12's model gaps: a requested cancel is applied, other threads' messages are taken in
within R polls, termination (EX-PROGRESS + EX-TERMINATES) for every executor variant, cancels
from other threads; issue 15's scheduling policy as a parameter of the model."""

from __future__ import annotations

import pytest
from refexec.models import reference
from refexec.models.concrete import ConcreteModel
from refexec.models.exhaustive import explore
from refexec.models.mutants import MUTANT_SPECS, changed_edges
from refexec.models.properties import ENVIRONMENT_ACTIONS
from refexec.models.refinement import LOOP, REFERENCE, THREAD
from refexec.models.system import Action, Bounds, Ops, Sort, TransitionSystem, Value, Var, View
from refexec.models.termination import fair_cycle, lasso_bmc
from refexec.models.variants import EXPECTED, TERMINATES, build
from refexec.models.verify import check_variant
from refexec.state import TaskState

S = TaskState
NEW = {
    "cancel-lost-when-notified": "EX-CANCEL-APPLIED",
    "inbox-drained-when-idle": "EX-INBOX-PROMPT",
    "spawn-phantom-waker": "EX-PROGRESS",
}


@pytest.mark.parametrize("slug", sorted(NEW))
def test_new_mutant_is_one_edge_and_caught_by_both_checkers(slug: str) -> None:
    spec = next(m for m in MUTANT_SPECS if m.slug == slug)
    assert len(changed_edges(spec.edges)) == 1
    rep = check_variant(f"mutant:{slug}")
    cell = rep.cells[NEW[slug]]
    assert cell.exhaustive.status == "violated" and cell.symbolic.status == "violated"
    assert cell.exhaustive.depth == cell.symbolic.depth
    assert rep.ok and rep.disagreements() == []


@pytest.mark.parametrize("slug", sorted(NEW))
def test_the_reference_keeps_what_the_new_mutant_breaks(slug: str) -> None:
    """The same instance with the reference's edges: the property holds on every state."""
    spec = next(m for m in MUTANT_SPECS if m.slug == slug)
    r = explore(reference.build(spec.bounds))
    assert r.complete and r.violated() == []


def test_cancel_lost_when_notified_counterexample_is_a_wake_and_a_cancel_in_one_poll() -> None:
    r = explore(build("mutant:cancel-lost-when-notified"))
    path = r.properties["EX-CANCEL-APPLIED"].counterexample
    assert path is not None
    acts = [s.action for s in path[1:]]
    i = acts.index("poll")
    assert {"cancel", "wake_by_ref"} <= set(acts[i:]) and acts[-1] == "pending"
    assert path[-1].state["st"][0] == int(S.SCHEDULED)  # re-queued, not cancelled


def test_inbox_prompt_counts_polls_while_a_message_waits() -> None:
    path = explore(build("mutant:inbox-drained-when-idle")).properties[
        "EX-INBOX-PROMPT"].counterexample
    assert path is not None
    last = path[-1].state
    assert last["pw"] == 2 and sum(last["inbox"]) == 1 and last["qlen"] >= 0
    assert [s.params.get("remote") for s in path if s.action == "spawn"].count(1) == 1
    assert [s.action for s in path].count("round_end") >= 1


def test_phantom_waker_leaves_the_loop_asleep_with_nothing_enabled() -> None:
    system = build("mutant:spawn-phantom-waker")
    path = explore(system).properties["EX-PROGRESS"].counterexample
    assert path is not None
    last = path[-1].state
    assert last["loop"] == reference.Loop.ASLEEP and last["phantom"][0] == 1
    model = ConcreteModel(system)
    fair = [(a, p) for a, p in model.instances if a.name not in ENVIRONMENT_ACTIONS]
    assert not any(model.is_enabled(last, a, p) for a, p in fair)


def test_every_executor_variant_has_a_termination_verdict() -> None:
    assert "waitqueue" not in TERMINATES
    assert {"reference", "reference-any", "threads", "driver", "seed"} <= set(TERMINATES)
    assert all(f"mutant:{m.slug}" in TERMINATES for m in MUTANT_SPECS)
    assert EXPECTED["seed"]["EX-PROGRESS"] is False and TERMINATES["seed"] is True


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["threads", "reference-any"])
def test_new_proved_variants_prove_termination(variant: str) -> None:
    rep = check_variant(variant)
    assert rep.ok, {pid: c.text() for pid, c in rep.cells.items()}
    assert rep.cells["EX-TERMINATES"].symbolic.status == "proved"
    assert rep.cells["EX-TERMINATES"].exhaustive.complete
    assert rep.cells["EX-PROGRESS"].symbolic.status == "proved"


def test_seed_terminates_but_can_get_stuck() -> None:
    rep = check_variant("seed", properties=["EX-PROGRESS", "EX-TERMINATES"])
    assert rep.cells["EX-TERMINATES"].symbolic.status == "proved"  # its ranking function
    assert rep.cells["EX-TERMINATES"].exhaustive.status == "holds"
    assert rep.cells["EX-PROGRESS"].exhaustive.depth == 104  # blocked on its own channel


# -- the fair-cycle checkers on a system that has one -------------------------------------------


def _spinner() -> TransitionSystem:
    """x: 0 -> 1 (spawn: the environment), then 1 <-> 2 for ever (fair), or 1 -> 3 (an end)."""
    def act(name: str, frm: int, to: int) -> Action:
        return Action(name, {}, lambda s, o: s.x == frm, lambda s, o: {"x": to},
                      frozenset({"x"}), name)

    return TransitionSystem(
        name="spinner", bounds=Bounds(1, {}),
        variables=(Var("x", Sort.int_(0, 3), 0, "position"),),
        init=lambda o: {"x": 0},
        actions=(act("spawn", 0, 1), act("spin", 1, 2), act("back", 2, 1), act("stop", 1, 3)),
        properties=(), doc="",
    )


def _end(s: View, o: Ops) -> Value:
    return s.x == 3


def test_a_fair_cycle_is_found_by_both_checkers_at_the_same_length() -> None:
    system = _spinner()
    r = explore(system, record=lambda a: a != "spawn")
    assert r.graph is not None and r.depth_of is not None
    names = [v.name for v in system.variables]
    lasso = fair_cycle(r.graph, r.depth_of, lambda k: dict(zip(names, k, strict=True))["x"] == 3)
    assert lasso == 3  # spawn; spin; back (back to x = 1)
    assert lasso_bmc(system, ["spin", "back", "stop"], _end, 6) == 3
    assert lasso_bmc(system, ["spin", "back", "stop"], _end, 2) is None


def test_no_fair_cycle_when_the_loop_passes_through_an_end() -> None:
    def is_final(k: object) -> bool:
        return k in {2}

    assert fair_cycle({1: [2], 2: [1]}, {1: 1, 2: 2}, is_final) is None
    assert fair_cycle({1: [1]}, {1: 4}, lambda k: False) == 5
    assert lasso_bmc(_spinner(), ["stop"], _end, 6) is None  # spin/back are not fair


# -- cancels from other threads -------------------------------------------------------------------


def test_remote_cancel_is_posted_signals_and_is_applied_when_drained() -> None:
    system = build("threads")
    model = ConcreteModel(system)
    s = model.initial()
    for name, params in [("spawn", {"t": 0, "remote": 0}), ("run_start", {"mode": 0}),
                         ("poll", {"t": 0}), ("waker_clone", {"t": 0}),
                         ("pending", {"t": 0}), ("idle_check", {}), ("sleep", {}),
                         ("cancel", {"t": 0, "remote": 1})]:
        s = model.step(s, name, **params)
    assert s["cpost"][0] and s["signal"] and s["st"][0] == int(S.IDLE)
    assert not model.is_enabled(s, system.action("cancel_drain"), {"t": 0})  # asleep
    s = model.step(s, "unpark")
    s = model.step(s, "cancel_drain", t=0)
    assert s["st"][0] == int(S.CANCELLED) and not s["cpost"][0]


def test_refinement_reads_a_drained_cancel_as_a_remote_cancel() -> None:
    for origin in (LOOP, THREAD):
        labels = [r.label() for r in REFERENCE.readings("cancel", origin)]
        assert "cancel(remote=1); cancel_drain" in labels
    assert "cancel_drain" in REFERENCE.internal("log")
    assert REFERENCE.log_steps("cancel", remote=True) == [[("cancel", {"remote": 1})]]
    assert REFERENCE.log_steps("cancel", remote=False) == [[("cancel", {"remote": 0})]]


# -- the scheduling policy ------------------------------------------------------------------------


def test_policy_any_may_poll_behind_the_head_and_drops_only_ex_fifo() -> None:
    fifo, anyp = build("reference"), build("reference-any")
    assert "EX-FIFO" in {p.id for p in fifo.properties}
    assert "EX-FIFO" not in {p.id for p in anyp.properties}
    assert {p.id for p in fifo.properties} - {p.id for p in anyp.properties} == {"EX-FIFO"}
    for system, behind in ((fifo, False), (anyp, True)):
        model = ConcreteModel(system)
        s = model.initial()
        for name, params in [("spawn", {"t": 0, "remote": 0}), ("spawn", {"t": 1, "remote": 0}),
                             ("run_start", {})]:
            s = model.step(s, name, **params)
        assert s["q"][:2] == (0, 1)
        assert model.is_enabled(s, system.action("poll"), {"t": 1}) is behind
        if behind:
            s2 = model.step(s, "poll", t=1)
            assert s2["q"][0] == 0 and s2["qlen"] == 1


@pytest.mark.slow
def test_policy_any_at_reference_bounds_overtakes_and_keeps_every_property() -> None:
    """The any-policy instance with JoinHandle awaits (the default run leaves joins to the
    fifo reference): every property but EX-FIFO holds on every reachable state."""
    system = reference.build(reference.default_bounds(2, policy=1))
    r = explore(system)
    assert r.complete and r.violated() == [] and r.never_fired == []


@pytest.mark.slow
def test_inbox_prompt_needs_the_round_invariant() -> None:
    """EX-INBOX-PROMPT is proved with AUX-ROUND and is not inductive without it (the proof
    does not hold by accident)."""
    from refexec.models.symbolic import prove  # noqa: PLC0415
    from refexec.models.verify import aux_invariants  # noqa: PLC0415

    system = build("threads")
    target = [p for p in system.properties if p.kind == "invariant"]
    aux = aux_invariants(system)
    assert "AUX-ROUND" in {a.id for a in aux}
    with_round = prove(system, target, aux, max_k=3)
    assert with_round.results["EX-INBOX-PROMPT"].status == "proved"
    without = prove(system, target, [a for a in aux if a.id != "AUX-ROUND"], max_k=3)
    assert without.results["EX-INBOX-PROMPT"].status != "proved"
