"""The z3 interpretation on a toy model of its own: a FIFO ring-buffer run queue.

The toy is small enough to check by hand and exercises what the real models use: arrays with a
symbolic index (``select``/``store`` on the queue), counts, a ghost counter, step properties, and
an auxiliary invariant that plain induction needs. A tiny breadth-first search over the same
definition (with :data:`CONCRETE` ops) is the independent oracle; a deliberately broken encoding
must disagree with it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
import z3  # type: ignore[import-untyped]
from refexec.models.symbolic import (
    TYPE_OK,
    SymbolicMisuse,
    Unroller,
    Z3Ops,
    bmc,
    check_ranking,
    k_induction,
    prove,
    type_ok_property,
)
from refexec.models.system import (
    CONCRETE,
    Action,
    Bounds,
    Ops,
    Property,
    Sort,
    TransitionSystem,
    Var,
    View,
)

IDLE, QUEUED, RUNNING, DONE = range(4)
NAMES = ("IDLE", "QUEUED", "RUNNING", "DONE")


def toy(n: int = 2, budget: int = 1, *, buggy_wake: bool = False) -> TransitionSystem:
    """``n`` tasks, a FIFO queue of capacity ``n``; each task returns Pending ``budget`` times.

    ``buggy_wake`` lets ``wake`` enqueue a task that is already queued (a double enqueue).
    """
    cap = n
    none = n  # ``cur == n``: nobody is running

    def slot(s: View, o: Ops, i: Any) -> Any:
        return o.If(s.head + i >= cap, s.head + i - cap, s.head + i)

    def poll_g(s: View, o: Ops) -> Any:
        return o.And(s.qlen > 0, s.cur == none)

    def poll_e(s: View, o: Ops) -> dict[str, Any]:
        t = o.select(s.queue, s.head)
        return {
            "st": o.store(s.st, t, RUNNING),
            "head": o.If(s.head + 1 == cap, 0, s.head + 1),
            "qlen": s.qlen - 1,
            "cur": t,
            "polls": o.store(s.polls, t, o.select(s.polls, t) + 1),
        }

    def pending_g(s: View, o: Ops, t: int) -> Any:
        return o.And(s.cur == t, s.budget[t] > 0)

    def pending_e(s: View, o: Ops, t: int) -> dict[str, Any]:
        return {
            "st": o.store(s.st, t, IDLE),
            "budget": o.store(s.budget, t, s.budget[t] - 1),
            "cur": none,
        }

    def ready_g(s: View, o: Ops, t: int) -> Any:
        return s.cur == t

    def ready_e(s: View, o: Ops, t: int) -> dict[str, Any]:
        return {"st": o.store(s.st, t, DONE), "cur": none}

    def wake_g(s: View, o: Ops, t: int) -> Any:
        ok = o.Or(s.st[t] == IDLE, s.st[t] == QUEUED) if buggy_wake else s.st[t] == IDLE
        return o.And(ok, s.qlen < cap)

    def wake_e(s: View, o: Ops, t: int) -> dict[str, Any]:
        return {
            "st": o.store(s.st, t, QUEUED),
            "queue": o.store(s.queue, slot(s, o, s.qlen), t),
            "qlen": s.qlen + 1,
        }

    tasks = range(n)
    actions = (
        Action("poll", {}, poll_g, poll_e, frozenset({"st", "head", "qlen", "cur", "polls"})),
        Action("pending", {"t": tasks}, pending_g, pending_e, frozenset({"st", "budget", "cur"})),
        Action("ready", {"t": tasks}, ready_g, ready_e, frozenset({"st", "cur"})),
        Action("wake", {"t": tasks}, wake_g, wake_e, frozenset({"st", "queue", "qlen"})),
    )

    def init(o: Ops) -> dict[str, Any]:
        return {
            "st": (QUEUED,) * n,
            "queue": tuple(range(n)),
            "head": 0,
            "qlen": n,
            "cur": none,
            "polls": (0,) * n,
            "budget": (budget,) * n,
        }

    def q_count(s: View, o: Ops) -> Any:
        return s.qlen == o.count([x == QUEUED for x in s.st])

    def mutex(s: View, o: Ops) -> Any:
        return o.count([x == RUNNING for x in s.st]) <= 1

    def once(s: View, o: Ops) -> Any:
        return o.And(*[p <= 1 for p in s.polls])

    def never_done(s: View, s2: View, o: Ops, action: Action, params: Mapping[str, int]) -> Any:
        if action.name != "poll":
            return True
        return o.select(s.st, o.select(s.queue, s.head)) != DONE

    props = (
        Property("Q-COUNT", "qlen counts the queued tasks", "invariant", q_count),
        Property("MUTEX", "at most one task runs", "invariant", mutex),
        Property("NO-POLL-DONE", "a finished task is never polled", "step", never_done),
        Property("ONCE", "each task is polled at most once (false)", "invariant", once),
    )
    variables = (
        Var("st", Sort.int_(0, 3, NAMES), n),
        Var("queue", Sort.int_(0, n - 1), cap),
        Var("head", Sort.int_(0, cap - 1)),
        Var("qlen", Sort.int_(0, cap)),
        Var("cur", Sort.int_(0, n)),
        Var("polls", Sort.int_(0, budget + 1), n, ghost=True),
        Var("budget", Sort.int_(0, budget), n),
    )
    return TransitionSystem("toy", Bounds(n), variables, init, actions, props)


def toy_aux(n: int = 2, budget: int = 1) -> list[Property]:
    """The auxiliary invariants the toy's induction needs (queue contents, who runs, budgets)."""
    cap = n

    def queue_ok(s: View, o: Ops) -> Any:
        def slot(i: int) -> Any:
            return o.If(s.head + i >= cap, s.head + i - cap, s.head + i)

        parts = []
        for i in range(cap):
            qi = o.select(s.queue, slot(i))
            parts.append(o.Implies(i < s.qlen, o.select(s.st, qi) == QUEUED))
            for j in range(i + 1, cap):
                qj = o.select(s.queue, slot(j))
                parts.append(o.Implies(j < s.qlen, qi != qj))
        return o.And(*parts)

    def cur_ok(s: View, o: Ops) -> Any:
        return o.And(*[(s.st[t] == RUNNING) == (s.cur == t) for t in range(n)])

    def polls_ok(s: View, o: Ops) -> Any:
        return o.And(
            *[
                s.polls[t] + s.budget[t] + o.If(o.Or(s.st[t] == RUNNING, s.st[t] == DONE), 0, 1)
                <= budget + 1
                for t in range(n)
            ]
        )

    return [
        Property("AUX-QUEUE", "the queue holds distinct queued tasks", "invariant", queue_ok),
        Property("AUX-CUR", "cur names the running task", "invariant", cur_ok),
        Property("AUX-POLLS", "polls + budget bounded", "invariant", polls_ok),
    ]


# ---------------------------------------------------------------------------------------------
# An independent oracle: breadth-first search over the concrete interpretation
# ---------------------------------------------------------------------------------------------


def _freeze(s: Mapping[str, Any]) -> tuple[Any, ...]:
    return tuple(sorted(s.items()))


def bfs(ts: TransitionSystem, max_depth: int) -> dict[str, int | None]:
    """The shortest violation depth of every property (None: none within ``max_depth``)."""
    init = dict(ts.init(CONCRETE))
    found: dict[str, int | None] = {p.id: None for p in ts.properties}

    def check_state(s: Mapping[str, Any], d: int) -> None:
        for p in ts.properties:
            if p.kind == "invariant" and found[p.id] is None and not p.formula(View(s), CONCRETE):
                found[p.id] = d

    seen = {_freeze(init)}
    frontier: deque[tuple[dict[str, Any], int]] = deque([(init, 0)])
    check_state(init, 0)
    while frontier:
        s, d = frontier.popleft()
        if d == max_depth:
            continue
        for a in ts.actions:
            for params in a.instances():
                if not a.guard(View(s), CONCRETE, **params):
                    continue
                s2 = ts.apply(a, params, s, CONCRETE)
                for p in ts.properties:
                    if (
                        p.kind == "step"
                        and found[p.id] is None
                        and not p.formula(View(s), View(s2), CONCRETE, a, params)
                    ):
                        found[p.id] = d + 1
                key = _freeze(s2)
                if key not in seen:
                    seen.add(key)
                    check_state(s2, d + 1)
                    frontier.append((s2, d + 1))
    return found


def symbolic_depths(
    ts: TransitionSystem, max_depth: int, ops: Z3Ops | None = None
) -> dict[str, int | None]:
    res = bmc(ts, max_depth=max_depth, ops=ops, include_type_ok=False)
    return {pid: (r.depth if r.status == "violated" else None) for pid, r in res.items()}


# ---------------------------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------------------------


def test_bmc_returns_the_shortest_counterexample_naming_each_action() -> None:
    res = bmc(toy(), max_depth=8)
    assert bfs(toy(), 8)["ONCE"] == 6
    once = res["ONCE"]
    assert once.status == "violated"
    # FIFO: task 0 polled, returns Pending, is woken behind task 1, which must go first
    assert once.depth == 6
    assert once.trace is not None
    names = [s.action_name for s in once.trace.steps[1:]]
    assert names[0] == names[-1] == "poll"
    assert "pending" in names
    assert "wake" in names
    assert max(once.trace.steps[-1].state["polls"]) == 2
    assert "ONCE" in once.trace.format(toy())
    for pid in ("Q-COUNT", "MUTEX", "NO-POLL-DONE", TYPE_OK):
        assert res[pid].status == "holds", pid
        assert res[pid].depth == 8


def test_trace_replays_in_the_concrete_interpretation() -> None:
    ts = toy()
    trace = bmc(ts, max_depth=6)["ONCE"].trace
    assert trace is not None
    s = dict(ts.init(CONCRETE))
    assert s == dict(trace.steps[0].state)
    for step in trace.steps[1:]:
        assert step.action_name is not None
        a = ts.action(step.action_name)
        assert a.guard(View(s), CONCRETE, **step.params)
        s = ts.apply(a, step.params, s, CONCRETE)
        assert s == dict(step.state)


def test_double_enqueue_bug_is_found_with_its_shortest_trace() -> None:
    ts = toy(buggy_wake=True)
    res = bmc(ts, max_depth=6)
    # the queue is full at the start; after one poll a wake of the queued task 1 double-enqueues
    assert res["Q-COUNT"].status == "violated"
    assert res["Q-COUNT"].depth == 2
    assert res["Q-COUNT"].trace is not None
    assert res["Q-COUNT"].trace.actions == ["poll()", "wake(t=1)"]


def test_plain_induction_fails_and_auxiliary_invariants_prove_the_toy() -> None:
    ts = toy()
    safe = [p for p in ts.properties if p.id != "ONCE"]
    plain = prove(ts, safe, max_k=1)
    assert "Q-COUNT" in plain.dropped  # not inductive on its own
    report = prove(ts, safe, toy_aux(), max_k=1)
    for pid in ("Q-COUNT", "MUTEX", "NO-POLL-DONE", TYPE_OK, "AUX-QUEUE", "AUX-CUR"):
        assert report.results[pid].status == "proved", (pid, report.dropped)


def test_prove_never_proves_a_false_property() -> None:
    ts = toy()
    report = prove(ts, list(ts.properties), toy_aux(), max_k=3)
    assert report.results["ONCE"].status == "holds"  # k-induction: base case only to k=3
    assert "ONCE" not in report.inductive
    report = prove(ts, list(ts.properties), toy_aux(), max_k=6)
    assert report.results["ONCE"].status == "violated"
    assert report.results["ONCE"].depth == 6
    bug = toy(buggy_wake=True)
    report = prove(bug, list(bug.properties), toy_aux(), max_k=3)
    assert report.results["Q-COUNT"].status == "violated"
    assert "AUX-QUEUE" not in report.inductive


def test_k_induction_proves_what_one_step_cannot() -> None:
    ts = toy()
    strengthen = [type_ok_property(), *toy_aux()]
    res = k_induction(ts, ts.property("MUTEX"), strengthen, max_k=3)
    assert res.status == "proved"


def test_ranking_function_proves_termination_of_the_toy() -> None:
    ts = toy(budget=2)
    report = prove(ts, [p for p in ts.properties if p.id != "ONCE"], toy_aux(budget=2))
    inv = [type_ok_property(), *toy_aux(budget=2), ts.property("Q-COUNT")]
    assert set(report.inductive) >= {p.id for p in inv}

    def rank(s: View, o: Ops) -> list[Any]:
        # each task: budget * 4 + (3 if queued/idle-ish, 2 queued, 1 running, 0 done)
        per = [
            s.budget[t] * 4
            + o.If(s.st[t] == IDLE, 3, o.If(s.st[t] == QUEUED, 2, o.If(s.st[t] == RUNNING, 1, 0)))
            for t in range(2)
        ]
        return [o.Sum(per)]

    def final(s: View, o: Ops) -> Any:
        return o.And(*[o.Or(x == DONE, x == IDLE) for x in s.st])

    ok = check_ranking(ts, rank, inv, final=final)
    assert ok.ok, ok.failures
    # waking is the environment: with it the rank can go up (wake after pending)
    bad = check_ranking(ts, lambda s, o: [o.Sum([s.budget[t] for t in range(2)])], inv)
    assert not bad.ok
    assert any("does not decrease" in f for f in bad.failures)


@pytest.mark.parametrize("n,budget", [(1, 1), (2, 1), (2, 2), (3, 1)])
def test_symbolic_agrees_with_breadth_first_search(n: int, budget: int) -> None:
    ts = toy(n, budget)
    assert symbolic_depths(ts, 7) == bfs(ts, 7)
    bug = toy(n, budget, buggy_wake=True)
    assert symbolic_depths(bug, 7) == bfs(bug, 7)


class _OffByOneSelect(Z3Ops):
    """A deliberately wrong encoding: a symbolic ``select`` reads the next element."""

    def select(self, seq: Sequence[Any], i: Any) -> Any:
        if isinstance(i, int):
            return seq[i]
        return super().select(seq, i + 1)


class _ForgetfulStore(Z3Ops):
    """A deliberately wrong encoding: a symbolic ``store`` leaves the last element unchanged."""

    def store(self, seq: Sequence[Any], i: Any, v: Any) -> tuple[Any, ...]:
        out = super().store(seq, i, v)
        if isinstance(i, int):
            return out
        return (*out[:-1], seq[-1])


@pytest.mark.parametrize("broken", [_OffByOneSelect, _ForgetfulStore])
def test_agreement_detects_a_wrong_encoding(broken: type[Z3Ops]) -> None:
    ts = toy(2, 1)
    assert symbolic_depths(ts, 7) == bfs(ts, 7)
    assert symbolic_depths(ts, 7, ops=broken()) != bfs(ts, 7)


def test_python_boolean_operators_on_symbolic_values_raise() -> None:
    def sneaky_g(s: View, o: Ops) -> Any:
        return s.qlen > 0 and s.cur == 2  # forbidden: Python `and` on a state value

    ts = toy()
    bad = TransitionSystem(
        "sneaky",
        ts.bounds,
        ts.variables,
        ts.init,
        (Action("sneaky", {}, sneaky_g, lambda s, o: {}, frozenset()),),
    )
    with pytest.raises(SymbolicMisuse):
        Unroller(bad).trans(0)

    def index_g(s: View, o: Ops) -> Any:
        return s.st[s.cur] == IDLE  # forbidden: a symbolic Python index

    bad2 = TransitionSystem(
        "index",
        ts.bounds,
        ts.variables,
        ts.init,
        (Action("index", {}, index_g, lambda s, o: {}, frozenset()),),
    )
    with pytest.raises(SymbolicMisuse):
        Unroller(bad2).trans(0)


def test_z3ops_agrees_with_concrete_ops_on_constants() -> None:
    o = Z3Ops()
    x = z3.Int("x")
    assert o.And(True, True) is True
    assert o.And(True, False) is False
    assert o.Or(False, False) is False
    assert o.If(True, 1, 2) == 1
    assert o.count([True, False, True]) == 2
    assert o.Sum([1, 2, 3]) == 6
    sel = o.select((10, 20, 30), x)
    s = z3.Solver()
    s.add(x == 1, sel.t != 20)
    assert s.check() == z3.unsat
    st = o.store((1, 2, 3), x, 9)
    s = z3.Solver()
    s.add(x == 2, z3.Or(*[(_t(a) != b) for a, b in zip(st, (1, 2, 9), strict=True)]))
    assert s.check() == z3.unsat


def _t(x: Any) -> Any:
    return x.t if hasattr(x, "t") else z3.IntVal(x)
