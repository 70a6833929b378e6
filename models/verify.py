"""``refexec verify``'s engine: every property of every variant, through both checkers.

For each variant of :data:`refexec.models.variants.VARIANTS` (or a selection) this runs

* the **exhaustive** checker (:func:`refexec.models.exhaustive.explore`): every reachable state
  of the finite instance, breadth first, shortest counterexamples; and
* the **symbolic** checker (:mod:`refexec.models.symbolic`): incremental BMC with shortest
  counterexamples, then, for the reference design, an unbounded proof (inductive strengthening
  with the auxiliary invariants :data:`AUX_INVARIANTS`, then k-induction);
* for the seed, z3's **CHC engine** (Spacer, :mod:`refexec.models.chc`): every property for
  unbounded depth (proof with a re-checked invariant, or a counterexample), and the properties
  that hold for **any number of tasks** (:mod:`refexec.models.parametric`);

and returns, per (variant, property), both verdicts — ``proved`` / ``holds <= k`` /
``violated at n`` — with their agreement checked:

* both violated: at the same depth (both return shortest counterexamples);
* one violated at ``n``, the other holds up to ``k``: consistent only if ``k < n`` (the other
  checker did not look that deep), or the exhaustive exploration was complete;
* symbolic ``proved`` and exhaustive violated: a disagreement (an unsound proof or a wrong
  encoding), always reported.

A mutant is *caught* when both checkers find a violation of a property that
:data:`refexec.models.variants.EXPECTED` marks as violated; the reference design is *proved*
when every property it must satisfy is proved for unbounded depth by the symbolic checker (and
holds on every reachable state in the exhaustive one); the seed's findings are *as expected*
when every expected violation is found (by both checkers where the symbolic bound reaches it,
with no contradiction otherwise) and every expected-to-hold property holds.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from refexec.models import variants as registry
from refexec.models import waitqueue
from refexec.models.properties import (
    ENVIRONMENT_ACTIONS,
    SEED_ENVIRONMENT_ACTIONS,
    Witness,
    run_final,
)
from refexec.models.reference import Drive
from refexec.models.symbolic import (
    TYPE_OK,
    CheckResult,
    bmc,
    check_ranking,
    prove,
    type_ok_property,
)
from refexec.models.system import Bounds, Ops, Property, TransitionSystem, Value, View
from refexec.state import TaskState

__all__ = [
    "AUX_INVARIANTS",
    "Cell",
    "Report",
    "VariantReport",
    "Verdict",
    "aux_invariants",
    "reference_rank",
    "termination",
    "verify",
]

S = TaskState
SCHED, RUNNING, NOTIFIED, IDLE = int(S.SCHEDULED), int(S.RUNNING), int(S.NOTIFIED), int(S.IDLE)
FINAL = (int(S.COMPLETE), int(S.CANCELLED))
UNSPAWNED = 6
# run-loop control states of the reference model (refexec.models.reference.Loop)
NOT_STARTED, DISPATCH, POLLING, DECIDING, ASLEEP, RETURNED, CLOSING = range(7)

ProgressFn = Callable[[str], None]


def _noop(_msg: str) -> None:
    return None


# ---------------------------------------------------------------------------------------------
# Auxiliary invariants of the reference design (each is itself proved inductive, see PROOFS.md)
# ---------------------------------------------------------------------------------------------


def _inv(pid: str, title: str, formula: Callable[[View, Ops], Value]) -> Property:
    return Property(pid, title, "invariant", formula, title)


def aux_invariants(ts: TransitionSystem) -> list[Property]:
    """The auxiliary invariants that make the reference's properties inductive.

    Written over the reference model's variables, for ``ts.bounds.n_tasks`` tasks; they state
    facts of the design (who is polled, what the queue holds, what a lock protects) that the
    properties rely on without saying. Each is a candidate of the Houdini strengthening in
    :func:`refexec.models.symbolic.prove`, so it is used only if it is proved inductive together
    with the others; one that is not would be reported as dropped.
    """
    n = ts.bounds.n_tasks
    names = {v.name for v in ts.variables}
    C = ts.var("q").length
    EMPTY = n
    T = range(n)
    tm = "armed" in names  # the driver (timers) is part of this instance
    io = "reg" in names  # and its I/O readiness
    cp = "cpost" in names  # other threads' cancels are part of this instance

    def running(s: View, o: Ops, t: int) -> Value:
        return o.Or(s.st[t] == RUNNING, s.st[t] == NOTIFIED)

    def final(o: Ops, x: Value) -> Value:
        return o.Or(*[x == f for f in FINAL])

    def live_waker(s: View, o: Ops, t: int) -> Value:
        timer = [s.armed[t]] if tm else []
        if io:
            timer.append(s.reg[t] != 0)
        return o.Or(s.wakers[t] > 0, *[s.join[u] == t for u in T], *timer)

    def poll_loop(s: View, o: Ops) -> Value:
        # exactly one task is being polled iff the loop is POLLING
        k = o.count([running(s, o, t) for t in T])
        return k == o.If(s.loop == POLLING, 1, 0)

    def queue_shape(s: View, o: Ops) -> Value:
        # the live prefix holds task ids, the tail is empty; qlen counts the SCHEDULED tasks
        cells = [
            o.If(i < s.qlen, s.q[i] != EMPTY, s.q[i] == EMPTY) for i in range(C)
        ]
        return o.And(*cells, s.qlen == o.count([x == SCHED for x in s.st]))

    def unspawned(s: View, o: Ops) -> Value:
        parts = []
        for t in T:
            facts = [
                s.polls[t] == 0, s.done[t] == 0, o.Not(s.woken[t]), o.Not(s.ended[t]),
                o.Not(s.creq[t]), s.wakers[t] == 0, s.join[t] == EMPTY, s.waited[t] == 0,
                *[s.join[u] != t for u in T],
                *([o.Not(s.armed[t])] if tm else []),
                *([o.Not(s.cpost[t])] if cp else []),
            ]
            parts.append(o.Implies(s.st[t] == UNSPAWNED, o.And(*facts)))
        return o.And(*parts)

    def ended_final(s: View, o: Ops) -> Value:
        return o.And(*[s.ended[t] == final(o, s.st[t]) for t in T])

    def creq_running(s: View, o: Ops) -> Value:
        return o.And(*[o.Implies(s.creq[t], running(s, o, t)) for t in T])

    joins = any(a.name == "join" for a in ts.actions)

    def join_ok(s: View, o: Ops) -> Value:
        if not joins:  # an instance without JoinHandle awaits: no join waker is ever held
            return o.And(*[s.join[t] == EMPTY for t in T])
        parts = []
        for t in T:
            parts.append(s.join[t] != t)
            for u in T:
                if u != t:
                    parts.append(o.Implies(s.join[t] == u, o.And(
                        s.st[u] != UNSPAWNED, o.Not(final(o, s.st[t])))))
        return o.And(*parts)

    def waited_ok(s: View, o: Ops) -> Value:
        # reset by the task's poll, counted only while it is SCHEDULED
        return o.And(*[
            o.Implies(o.Or(s.st[t] == UNSPAWNED, s.st[t] == IDLE, running(s, o, t)),
                      s.waited[t] == 0)
            for t in T
        ])

    def running_unwoken(s: View, o: Ops) -> Value:
        # a wake of the task being polled is remembered in its state (NOTIFIED) or the inbox
        return o.And(*[
            o.Implies(o.And(s.st[t] == RUNNING, s.woken[t]), s.inbox[t] > 0) for t in T
        ])

    def inbox_ok(s: View, o: Ops) -> Value:
        # a posted spawn is one entry; nothing is posted for a finished... only while run() lives
        return o.And(*[
            o.Implies(s.st[t] == UNSPAWNED, s.inbox[t] <= 1) for t in T
        ])

    def lock_ok(s: View, o: Ops) -> Value:
        # the lock is held exactly while deciding; deciding saw an empty queue and inbox, no
        # poll in progress and no unreported lost task, and nothing can change that under lock
        no_lost = o.Not(o.Or(*[
            o.And(s.st[t] == IDLE, o.Not(live_waker(s, o, t)), s.inbox[t] == 0) for t in T
        ]))
        deciding = o.And(
            s.lock, s.qlen == 0, *[s.inbox[t] == 0 for t in T], no_lost,
            o.Not(s.signal), *([o.Not(s.cpost[t]) for t in T] if cp else []),
        )
        return o.And(
            s.lock == (s.loop == DECIDING),
            o.Implies(s.loop == DECIDING, deciding),
        )

    def returned_ok(s: View, o: Ops) -> Value:
        # after run() returned: nothing queued or posted, no sender, nothing can start again
        # (a closed executor may have live Spawners: their spawns are refused)
        spawners = o.If(s.closed, 0, s.spawners) if "closed" in names else s.spawners
        senders = spawners + o.count(
            [o.And(o.Not(final(o, s.st[t])), live_waker(s, o, t)) for t in T])
        return o.Implies(
            s.loop == RETURNED,
            o.And(s.qlen == 0, senders == 0,
                  *[o.Implies(o.Not(final(o, s.st[t])), s.inbox[t] == 0) for t in T],
                  *[o.Not(running(s, o, t)) for t in T], o.Not(s.signal),
                  # every task taken in has ended (an IDLE one was reported lost, a queued one
                  # polled), so no other thread can post a cancel any more
                  *([o.And(o.Not(s.cpost[t]),
                           o.Implies(s.st[t] != UNSPAWNED, final(o, s.st[t]))) for t in T]
                    if cp else [])),
        )

    def signal_ok(s: View, o: Ops) -> Value:
        # a signal is posted only to a sleeping loop, and unpark consumes it
        return o.Implies(s.signal, s.loop == ASLEEP)

    P = ts.var("done").sort.hi - 1  # a future returns Ready by its P-th poll

    def budget_ok(s: View, o: Ops) -> Value:
        # a task that can still be polled has polls left; one being polled has used at most P
        return o.And(*[
            o.And(o.Implies(o.Or(s.st[t] == SCHED, s.st[t] == IDLE), s.done[t] < P),
                  o.Implies(running(s, o, t), s.done[t] <= P))
            for t in T
        ])

    out = [
        _inv("AUX-BUDGET", "a task that can be polled again has polls left", budget_ok),
        _inv("AUX-POLL-LOOP", "one task is polled exactly while the loop is POLLING", poll_loop),
        _inv("AUX-QUEUE-SHAPE", "the queue's live prefix holds the SCHEDULED tasks", queue_shape),
        _inv("AUX-UNSPAWNED", "a task not yet spawned has no history and no waker", unspawned),
        _inv("AUX-ENDED", "ended[t] iff t is COMPLETE or CANCELLED", ended_final),
        _inv("AUX-CREQ", "a deferred cancel exists only during the task's poll", creq_running),
        _inv("AUX-JOIN", "a join waker is held by an unfinished task for a spawned other task",
             join_ok),
        _inv("AUX-WAITED", "the FIFO ghost counter is zero while the task is not queued",
             waited_ok),
        _inv("AUX-RUNNING-WOKEN", "a wake of a RUNNING task is in the inbox", running_unwoken),
        _inv("AUX-INBOX", "a posted spawn is a single inbox entry", inbox_ok),
        _inv("AUX-LOCK", "the lock is held exactly while deciding, on a quiet executor",
             lock_ok),
        _inv("AUX-RETURNED", "after run() returns nothing is queued, posted or live",
             returned_ok),
        _inv("AUX-SIGNAL", "a pending signal is for a sleeping loop",
             signal_ok),
    ]
    if "rnd" in names:
        R = ts.var("rnd").sort.hi

        def round_ok(s: View, o: Ops) -> Value:
            # the ghost counts polls since the inbox was last empty, the round counts polls
            # since it was last seen empty at a round's end: pw <= rnd <= R
            empty = o.And(*[s.inbox[t] == 0 for t in T],
                          *([o.Not(s.cpost[t]) for t in T] if cp else []))
            return o.And(s.pw <= s.rnd, s.rnd <= R, o.Implies(empty, s.pw == 0))
        out.append(_inv("AUX-ROUND", "a message waits no longer than the round has run",
                        round_ok))
    if "mode" in names:
        def drive_ok(s: View, o: Ops) -> Value:
            # only run() parks or ends the loop; run_until_stalled() decides only to jump
            run, step = Drive.RUN, Drive.STEP
            idle = [s.loop == v for v in (NOT_STARTED, ASLEEP, RETURNED)]
            if "closed" in names:
                idle.append(s.loop == CLOSING)
            # run_until_stalled() decides only to jump: a timer stays armed (due, or later
            # with the clock below its bound) and no spawner can open meanwhile
            jumping = (o.And(s.spawners == 0, o.Or(*[s.armed[t] for t in T]))
                       if "armed" in names else False)
            # block_on(): a target exactly in that mode, taken in, and not final while the loop
            # decides or sleeps (it returns instead)
            block, none = s.mode == Drive.BLOCK_ON, s.target == len(T)
            held = o.And(*[o.Implies(s.target == t, s.st[t] != UNSPAWNED) for t in T])
            done = o.Or(*[o.And(s.target == t, final(o, s.st[t])) for t in T])
            waiting = o.Or(s.loop == DECIDING, s.loop == ASLEEP)
            return o.And(o.Implies(o.Or(*idle), o.Or(s.mode == run, o.And(
                             block, o.Not(s.loop == NOT_STARTED)))),
                         o.Implies(s.loop == DECIDING, s.mode != step),
                         o.Implies(o.And(s.loop == DECIDING, s.mode == Drive.UNTIL_STALLED),
                                   jumping),
                         block == o.Not(none), held,
                         o.Implies(o.And(block, waiting), o.Not(done)))
        out.append(_inv("AUX-DRIVE", "between drive calls the mode is RUN; only run() and "
                        "block_on() sleep or return; step() never decides; block_on() decides "
                        "only while its target is unfinished", drive_ok))
    if "closed" in names:
        def closed_ok(s: View, o: Ops) -> Value:
            # close() acts as the loop while CLOSING and leaves every taken-in task final
            settled = [o.Or(s.st[t] == UNSPAWNED, final(o, s.st[t])) for t in T]
            return o.And(
                o.Implies(s.closed, o.Or(s.loop == CLOSING, s.loop == RETURNED)),
                o.Implies(s.loop == CLOSING, s.closed),
                o.Implies(o.And(s.closed, s.loop == RETURNED),
                          o.And(*settled, *[s.inbox[t] == 0 for t in T])))
        out.append(_inv("AUX-CLOSED", "closed: close() acts as the loop, then all is final",
                        closed_ok))
    if tm:
        def timer_ok(s: View, o: Ops) -> Value:
            # an armed timer's deadline is within the clock's range (the sort says so) and a
            # timer is armed only for a task that can still be woken
            return o.And(*[o.Implies(s.armed[t], o.Or(s.st[t] == SCHED, s.st[t] == IDLE,
                                                       running(s, o, t))) for t in T])
        out.append(_inv("AUX-TIMER", "an armed timer belongs to an unfinished, spawned task",
                        timer_ok))
        out.append(_inv("AUX-SLEEPING", "a sleep is pending exactly while its timer is armed",
                        lambda s, o: o.And(*[s.sleeping[t] == s.armed[t] for t in T])))
    if io:
        def io_ok(s: View, o: Ops) -> Value:
            return o.And(*[o.Implies(s.reg[t] != 0, o.Or(s.st[t] == SCHED, s.st[t] == IDLE,
                                                          running(s, o, t))) for t in T])
        out.append(_inv("AUX-IO", "a registration belongs to an unfinished, spawned task",
                        io_ok))
    return [p for p in out if _uses_known(p, names)]


def _uses_known(p: Property, names: set[str]) -> bool:
    required = {"st", "q", "qlen", "loop", "lock", "join", "wakers", "inbox", "woken", "waited"}
    return required <= names


def seed_aux_invariants(ts: TransitionSystem) -> list[Property]:
    """The seed's counting invariant: every task is in exactly one place (a class, not yet
    spawned, lost, or freed). With it ``TYPE-OK`` is inductive; the CHC engine then assumes
    both (:func:`refexec.models.chc.chc_check`'s ``assume``)."""
    n = ts.bounds.n_tasks
    return [_inv(
        "AUX-SEED-TASKS", "the tasks per class, unspawned, lost and freed add up to N",
        lambda s, o: o.Sum([*s.cnt, s.unspawned, s.lost, s.freed]) == n,
    )]


AUX_INVARIANTS: dict[str, Callable[[TransitionSystem], list[Property]]] = {
    "reference": aux_invariants,
    "waitqueue": waitqueue.aux_invariants,
    "driver": aux_invariants,
    "threads": aux_invariants,
    "reference-any": aux_invariants,
    "driver-any": aux_invariants,
}
"""variant -> its auxiliary invariants (the models proved unbounded: the reference design and
the wait queue)."""

PROVED_MODELS = ("reference", "driver", "threads", "reference-any", "driver-any", "waitqueue")
"""Variants that must be proved for unbounded depth (reported with kind ``"reference"``)."""


# ---------------------------------------------------------------------------------------------
# Termination of the reference design: a ranking function
# ---------------------------------------------------------------------------------------------

# ENVIRONMENT_ACTIONS: refexec.models.properties.ENVIRONMENT_ACTIONS (EX-PROGRESS uses it too)


def reference_rank(ts: TransitionSystem) -> Callable[[View, Any], Sequence[Value]]:
    """A lexicographic ranking function ``(work, loop)`` for the reference design.

    ``work`` sums, over tasks, ``4 * (P + 1 - done[t]) + stage(st[t]) + 2 * wakers[t] +
    inbox[t] + [join[t] set] + [cpost[t]]``, plus ``spawners`` and ``rnd``, with ``stage``:
    RUNNING/NOTIFIED 3,
    SCHEDULED/IDLE/UNSPAWNED 2, COMPLETE/CANCELLED 0. ``loop`` orders the run loop's control
    states between two units of work: ASLEEP with a signal 4 > DISPATCH 3 > DECIDING 2 >
    ASLEEP without one 1 = CLOSING 1 > POLLING, RETURNED, NOT_STARTED 0 (close_start is the
    environment's; close_drain and close_drop lower ``work``, close_end lowers ``loop``).

    Per action: a poll spends budget (-4, +1 stage); pending and ready lower the stage; a wake
    consumes a waker (-2) and at most posts an inbox entry (+1), which the drain consumes; a
    drop lowers ``wakers`` or ``spawners``; lost and finishing lower the stage and release the
    join waker; ``idle_check``, ``sleep``, ``run_end`` and ``unpark`` keep ``work`` and lower
    ``loop`` (the signal that allows ``unpark`` was posted by an action that lowered ``work``).
    With the driver, an armed timer adds 2 and the clock's distance to its horizon adds its
    value (``tick`` and ``clock_jump`` lower it); a registration adds 2 while ARMED and 1 while
    READY (``fd_ready`` and ``io_ready`` lower it; a due timer or ready fd makes DECIDING 4,
    above the DISPATCH that ``park_due`` goes to).
    """
    n = ts.bounds.n_tasks
    top = ts.var("done").sort.hi
    T = range(n)
    tm = any(v.name == "armed" for v in ts.variables)
    io = any(v.name == "reg" for v in ts.variables)
    horizon = ts.var("clock").sort.hi if tm else 0

    def stage(o: Ops, x: Value) -> Value:
        return o.If(o.Or(x == RUNNING, x == NOTIFIED), 3, o.If(o.Or(*[x == f for f in FINAL]),
                                                            0, 2))

    def rank(s: View, o: Ops) -> list[Value]:
        per = [
            4 * (top - s.done[t]) + stage(o, s.st[t]) + 2 * s.wakers[t] + s.inbox[t]
            + o.If(s.join[t] != n, 1, 0)
            for t in T
        ]
        if hasattr(s, "cpost"):  # a posted cancel: the drain consumes it
            per = [p + o.If(s.cpost[t], 1, 0) for t, p in zip(T, per, strict=True)]
        if tm:  # an armed timer is a held waker; time still to pass is work left
            per = [p + 2 * o.If(s.armed[t], 1, 0) for t, p in zip(T, per, strict=True)]
            if io:  # a registration is a held waker; ARMED 2 > READY 1 > NONE 0
                per = [p + o.If(s.reg[t] == 1, 2, o.If(s.reg[t] == 2, 1, 0))
                       for t, p in zip(T, per, strict=True)]
            per.append(horizon - s.clock)
        if hasattr(s, "rnd"):  # a poll spends more than it adds; round_end lowers it
            per.append(s.rnd)
        work = o.Sum([*per, s.spawners])
        due = o.Or(*[o.And(s.armed[t], s.deadline[t] <= s.clock) for t in T],
                   *[s.reg[t] == 2 for t in T if io]) if tm else False
        loop = o.If(s.loop == DISPATCH, 3, o.If(s.loop == DECIDING, o.If(due, 4, 2),
                    o.If(s.loop == ASLEEP, o.If(s.signal, 4, 1),
                         o.If(s.loop == CLOSING, 1, 0))))  # close_end: CLOSING -> RETURNED
        return [work, loop]

    return rank


TERM = "EX-TERMINATES"


def _primary_catches(variant: str, expected: dict[str, bool]) -> list[str]:
    """What the z3 BMC of a variant deepens for: a mutant's own catch (``MutantSpec.catches``:
    it stops once one of them is found, so a consequence found sooner does not hide it),
    otherwise every expected violation."""
    from refexec.models.mutants import MUTANT_SPECS  # noqa: PLC0415

    catches: dict[str, tuple[str, ...]] = {
        **{f"mutant:{m.slug}": m.catches for m in MUTANT_SPECS},
        **{f"mutant:{w.slug}": w.catches for w in waitqueue.WQ_MUTANTS},
    }
    if variant in catches:
        return list(catches[variant])
    return [pid for pid, holds in expected.items() if not holds]


def has_termination(variant: str) -> bool:
    """Variants with a run loop (every one but the wait queue and its mutants: a component with
    no loop of its own) are checked for EX-TERMINATES."""
    return not (variant == "waitqueue" or variant in registry.WQ_MUTANTS)


def run_end_states(ts: TransitionSystem) -> Callable[[View, Ops], Value]:
    """Where a fair run may end: :func:`refexec.models.properties.run_final` for the reference
    family; for the seed, run() returned or not yet called."""
    n = ts.bounds.n_tasks
    if ts.name == "seed":
        return lambda s, o: o.Or(s.loop == RETURNED, s.loop == NOT_STARTED)
    remote = bool(ts.bounds.extra.get("remote", 1))
    return lambda s, o: run_final(s, o, n, remote)


def _exhaustive_termination(ts: TransitionSystem, res: Any,
                            final: Callable[[View, Ops], Value]) -> Verdict:
    from refexec.models.exhaustive import FastView  # noqa: PLC0415
    from refexec.models.system import CONCRETE  # noqa: PLC0415
    from refexec.models.termination import fair_cycle  # noqa: PLC0415

    names = [v.name for v in ts.variables]

    def is_final(key: Any) -> bool:
        view: Any = FastView(dict(zip(names, key, strict=True)))
        return bool(final(view, CONCRETE))

    lasso = fair_cycle(res.graph or {}, res.depth_of or {}, is_final)
    if lasso is not None:
        return Verdict("violated", lasso, method="fair cycle in the reachable graph")
    return Verdict("holds", res.depth, complete=res.complete, method="no fair cycle")


def await_deadlock(s: View, o: Ops, n: int) -> Value:
    """The program's own deadlock, which no executor can resolve: the loop sleeps, no spawner
    and no held waker or posted wake of an unfinished task is left, so every remaining sender
    is a join waker held by a task that is itself waiting (an await cycle)."""
    tm = hasattr(s, "armed")
    io = hasattr(s, "reg")
    return o.And(
        s.loop == ASLEEP, o.Not(s.signal), s.spawners == 0,
        *[o.Implies(o.Not(o.Or(*[s.st[t] == f for f in FINAL])),
                    o.And(s.wakers[t] == 0, s.inbox[t] == 0,
                          *([o.Not(s.armed[t])] if tm else []),
                          *([s.reg[t] == 0] if io else []))) for t in range(n)],
    )


@dataclass
class TerminationReport:
    ok: bool
    failures: list[str]
    actions: list[str]
    assumption: str


def termination(
    ts: TransitionSystem, invariants: Sequence[Property], progress: ProgressFn = _noop
) -> TerminationReport:
    """Check :func:`reference_rank` on every action except :data:`ENVIRONMENT_ACTIONS`, and that
    a state with no such action enabled is one where ``run()`` has returned (or everything
    left is the environment's move)."""
    fair = [a.name for a in ts.actions if a.name not in ENVIRONMENT_ACTIONS]

    n = ts.bounds.n_tasks
    remote = bool(ts.bounds.extra.get("remote", 1))

    def final(s: View, o: Ops) -> Value:
        return run_final(s, o, n, remote)

    res = check_ranking(ts, reference_rank(ts), invariants, actions=fair, final=final)
    progress(f"{ts.name}: termination by ranking function: {'ok' if res.ok else res.failures}")
    return TerminationReport(
        res.ok, res.failures, fair,
        "finitely many spawns, spawner creations, waker clones, joins, cancels"
        + (", timer arms" if any(x.name == "timer_arm" for x in ts.actions) else "")
        + (", I/O registrations" if any(x.name == "io_register" for x in ts.actions) else "")
        + " and wake_by_ref calls; every future returns Ready by its P-th poll (the model's "
        "bound); "
        + ("time passes (tick is in the fair set) up to the clock's horizon; "
           if any(x.name == "tick" for x in ts.actions) else "")
        + ("every registered fd eventually becomes ready or its wait is dropped (fd_ready is "
           "in the fair set); " if any(x.name == "fd_ready" for x in ts.actions) else "")
        + "every held waker is eventually woken or dropped and every spawner dropped (these are "
        "actions of the fair set); run() is called. Then run() returns, or the program is in "
        "an await cycle (run_final)",
    )


# ---------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------


@dataclass
class Verdict:
    """One checker's answer for one (variant, property)."""

    status: str  # "proved" | "holds" | "violated" | "unknown" | "skipped"
    depth: int = 0  # violation step n, or the bound k up to which it holds
    complete: bool = False  # exhaustive: the whole reachable state space was explored
    method: str = ""
    trace: list[dict[str, Any]] | None = None

    def text(self) -> str:
        if self.status == "proved":
            return "proved"
        if self.status == "holds":
            return "holds (all states)" if self.complete else f"holds <={self.depth}"
        if self.status == "violated":
            return f"violated at {self.depth}"
        return self.status

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status, "depth": self.depth, "complete": self.complete,
            "method": self.method, "text": self.text(),
            **({"trace": self.trace} if self.trace is not None else {}),
        }


@dataclass
class Cell:
    variant: str
    pid: str
    expected: bool | None  # True: must hold; False: must be violated; None: no expectation
    exhaustive: Verdict
    symbolic: Verdict
    chc: Verdict = field(default_factory=lambda: Verdict("skipped"))
    """z3's unbounded CHC engine (Spacer), run on the seed: see :mod:`refexec.models.chc`."""

    @property
    def agree(self) -> bool:
        return (_agree(self.exhaustive, self.symbolic) and _agree_chc(self.exhaustive, self.chc)
                and _agree_sym(self.symbolic, self.chc))

    @property
    def violated(self) -> bool:
        return "violated" in (self.exhaustive.status, self.symbolic.status)

    def text(self) -> str:
        """The table's entry: the strongest agreed verdict."""
        if not self.agree:
            return "DISAGREE"
        e, s, c = self.exhaustive, self.symbolic, self.chc
        if s.status == "violated":
            return f"viol@{s.depth}"
        if e.status == "violated" and c.status == "violated":
            return f"viol@{c.depth}c"  # z3 confirms through CHC/Spacer, deeper than BMC
        if e.status == "violated":
            return f"viol@{e.depth}*"  # symbolic bound did not reach it
        if s.status == "proved":
            return "proved"
        if c.status == "proved":
            return "provedc"
        if s.status == "holds":
            return f"<={s.depth}"
        if e.status == "holds":
            return "holds" if e.complete else f"<={e.depth}"
        return "-"

    def to_json(self) -> dict[str, Any]:
        return {
            "expected": self.expected, "agree": self.agree, "text": self.text(),
            "exhaustive": self.exhaustive.to_json(), "symbolic": self.symbolic.to_json(),
            **({"chc": self.chc.to_json()} if self.chc.status != "skipped" else {}),
        }


def _agree(e: Verdict, s: Verdict) -> bool:
    if "skipped" in (e.status, s.status) or "unknown" in (e.status, s.status):
        return True
    if e.status == "violated" and s.status == "violated":
        return e.depth == s.depth
    if e.status == "violated":
        return s.status == "holds" and s.depth < e.depth
    if s.status == "violated":
        return e.status == "holds" and not e.complete and e.depth < s.depth
    return True  # both hold / proved


def _agree_chc(e: Verdict, c: Verdict) -> bool:
    """Exhaustive against the CHC engine. Its proof is for unbounded depth, so any exhaustive
    violation contradicts it; its violation is a real path, never shorter than the exhaustive
    checker's shortest (equal once minimised, see :func:`refexec.models.chc.chc_check`), and
    contradicts a complete exhaustive "holds"."""
    if "skipped" in (e.status, c.status) or "unknown" in (e.status, c.status):
        return True
    if c.status == "proved":
        return e.status != "violated"
    if c.status == "violated":
        if e.status == "violated":
            return e.depth == c.depth if "not minimised" not in c.method else e.depth <= c.depth
        return not e.complete and e.depth < c.depth
    return True


def _agree_sym(s: Verdict, c: Verdict) -> bool:
    """BMC against the CHC engine: a proof contradicts any violation; two violations must have
    the same length (both shortest), and a BMC bound must lie below a CHC violation."""
    if "skipped" in (s.status, c.status) or "unknown" in (s.status, c.status):
        return True
    if s.status == "violated" and c.status == "violated":
        return s.depth == c.depth if "not minimised" not in c.method else s.depth <= c.depth
    if c.status == "violated":
        return s.status == "holds" and s.depth < c.depth
    return s.status != "violated"  # c proved it


@dataclass
class VariantReport:
    name: str
    bounds: Bounds
    cells: dict[str, Cell]
    exhaustive_states: int = 0
    exhaustive_complete: bool = False
    seconds: float = 0.0
    inductive: list[str] = field(default_factory=list)
    dropped: dict[str, str] = field(default_factory=dict)
    termination: TerminationReport | None = None
    never_fired: list[str] = field(default_factory=list)
    witnesses_missing: list[str] = field(default_factory=list)
    type_ok: Verdict | None = None
    chc_invariants: dict[str, str] = field(default_factory=dict)
    """property -> the inductive invariant Spacer found for it (re-checked by z3)."""
    any_n: dict[str, str] = field(default_factory=dict)
    """property -> verdict for every number of tasks (:mod:`refexec.models.parametric`)."""
    any_n_side_conditions: dict[str, bool] = field(default_factory=dict)
    capacity: str = ""
    """The seed's self-deadlock threshold for every capacity (:mod:`refexec.models.seed_capacity`):
    its headline, or empty when not run."""
    capacity_ok: bool | None = None
    capacity_lemmas: dict[str, str] = field(default_factory=dict)
    every_n: str = ""
    """The variant (or the reference's core) proved for every number of tasks
    (:mod:`refexec.models.reference_parametric`): its headline, or empty when not run."""
    every_n_name: str = ""
    """What ``every_n`` is about: the variant's name, or ``"reference core"``."""
    every_n_ok: bool | None = None
    every_n_agreement: str = ""

    @property
    def kind(self) -> str:
        if self.name in PROVED_MODELS:
            return "reference"
        if self.name == "seed":
            return "seed"
        return "mutant"

    def disagreements(self) -> list[str]:
        out = [pid for pid, c in self.cells.items() if not c.agree]
        # a property proved for every N cannot be violated at this N
        out += [pid for pid, text in self.any_n.items()
                if text == "proved" and pid in self.cells and self.cells[pid].violated]
        return out

    @property
    def caught(self) -> bool:
        """Mutants: both checkers violate some property expected to be violated."""
        return any(
            c.expected is False
            and c.exhaustive.status == "violated"
            and c.symbolic.status == "violated"
            for c in self.cells.values()
        )

    @property
    def proved(self) -> bool:
        """Reference: every property expected to hold is proved unbounded (and holds in the
        exhaustive exploration)."""
        return all(
            c.symbolic.status == "proved" and c.exhaustive.status in ("holds", "skipped")
            for c in self.cells.values()
            if c.expected is not False
        )

    @property
    def as_expected(self) -> bool:
        """Every expectation met (violations found, holds held), with no disagreement."""
        if self.disagreements():
            return False
        for c in self.cells.values():
            if c.expected is False and not c.violated:
                return False
            if c.expected is True and c.violated:
                return False
        return True

    @property
    def ok(self) -> bool:
        if self.kind == "reference":
            return self.proved and self.as_expected and self.every_n_ok is not False
        if self.kind == "mutant":
            return self.caught and not self.disagreements()
        return (self.as_expected and all(self.any_n_side_conditions.values())
                and self.capacity_ok is not False)

    def status_text(self) -> str:
        if self.kind == "reference":
            return "proved" if self.ok else "NOT PROVED"
        if self.kind == "mutant":
            return "caught" if self.ok else "NOT CAUGHT"
        return "findings as expected" if self.ok else "UNEXPECTED"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.kind, "ok": self.ok, "status": self.status_text(),
            "bounds": {"n_tasks": self.bounds.n_tasks, **dict(self.bounds.extra)},
            "exhaustive_states": self.exhaustive_states,
            "exhaustive_complete": self.exhaustive_complete,
            "seconds": round(self.seconds, 2),
            "properties": {pid: c.to_json() for pid, c in self.cells.items()},
            "never_fired": self.never_fired, "witnesses_missing": self.witnesses_missing,
        }
        if self.inductive:
            out["inductive_invariant"] = self.inductive
        if self.dropped:
            out["not_inductive"] = self.dropped
        if self.termination is not None:
            out["termination"] = {
                "ok": self.termination.ok, "failures": self.termination.failures,
                "assumption": self.termination.assumption,
            }
        if self.type_ok is not None:
            out["type_ok"] = self.type_ok.to_json()
        if self.chc_invariants:
            out["chc_invariants"] = self.chc_invariants
        if self.any_n:
            out["any_number_of_tasks"] = {
                "results": self.any_n, "side_conditions": self.any_n_side_conditions}
        if self.capacity:
            out["every_capacity"] = {"ok": self.capacity_ok, "headline": self.capacity,
                                     "lemmas": self.capacity_lemmas}
        if self.every_n:
            out["every_number_of_tasks"] = {"ok": self.every_n_ok, "headline": self.every_n,
                                            "agreement": self.every_n_agreement}
        return out


@dataclass
class Report:
    variants: dict[str, VariantReport]
    seconds: float
    options: dict[str, Any]

    @property
    def ok(self) -> bool:
        return all(v.ok for v in self.variants.values())

    def summary(self) -> str:
        parts = []
        for name in PROVED_MODELS:
            ref = self.variants.get(name)
            if ref is not None:
                parts.append(f"{name} {ref.status_text()}")
                if ref.every_n_ok:
                    parts.append(f"{ref.every_n_name} proved for every N")
        muts = [v for v in self.variants.values() if v.kind == "mutant"]
        if muts:
            parts.append(f"{sum(v.ok for v in muts)}/{len(muts)} mutants caught")
        seed = self.variants.get("seed")
        if seed is not None:
            parts.append(f"seed {seed.status_text()}")
        dis = sum(len(v.disagreements()) for v in self.variants.values())
        parts.append(f"{dis} disagreements" if dis else "checkers agree")
        return f"{'OK' if self.ok else 'FAILED'}: " + "; ".join(parts) + (
            f" ({self.seconds:.1f}s)")

    def to_json(self) -> str:
        return json.dumps(
            {
                "ok": self.ok, "summary": self.summary(), "seconds": round(self.seconds, 2),
                "options": self.options,
                "variants": {k: v.to_json() for k, v in self.variants.items()},
            },
            indent=2,
        )


# ---------------------------------------------------------------------------------------------
# Running the checks
# ---------------------------------------------------------------------------------------------


def _steps_json(steps: Sequence[Any]) -> list[dict[str, Any]]:
    out = []
    for st in steps:
        label = getattr(st, "label", None) or getattr(st, "action", None) or "init"
        out.append({"action": label, "state": {k: _jsonable(v) for k, v in st.state.items()}})
    return out


def _jsonable(v: Any) -> Any:
    return list(v) if isinstance(v, tuple) else v


def _from_symbolic(r: CheckResult) -> Verdict:
    trace = None
    if r.trace is not None:
        trace = [
            {"action": s.action or "init", "state": {k: _jsonable(v) for k, v in s.state.items()}}
            for s in r.trace.steps
        ]
    return Verdict(r.status, r.depth, method=r.method, trace=trace)


CHC_VARIANTS = ("seed",)
"""Variants also checked by the unbounded CHC engine (:mod:`refexec.models.chc`): the seed, whose
deepest finding (EX-NO-SELF-BLOCK, 104 steps) is far beyond the BMC bound. That one is
confirmed by z3 on every run through the capacity theorem (:mod:`refexec.models.seed_capacity`)
instead."""

CHC_DEEP_ONLY: dict[str, tuple[str, ...]] = {"seed": ("EX-PROGRESS",)}
"""(variant, property) pairs whose CHC check takes minutes: run with ``--deep`` only."""

CHC_NEVER: dict[str, tuple[str, ...]] = {"seed": ("EX-NO-SELF-BLOCK",)}
"""(variant, property) pairs Spacer is not asked at all: at capacity 100 it does not finish
within 15 minutes (the record is spec/PROOFS.md section 9), and the capacity theorem
(:func:`_capacity_theorem`) decides the property on every run, ``--deep`` included. Smaller
capacities, where Spacer does finish, are checked by ``check_variant(..., properties=...)``
in the tests."""


ANY_N_DEFAULT = ("EX-FINAL", "EX-ONE-POLLER", "EX-RUN-END")
"""The seed properties proved for any number of tasks in the default run (under a second each,
with TYPE-OK and AUX-SEED-TASKS proved for every N and assumed:
:func:`refexec.models.parametric.counting_invariants`)."""


def chc_timeout(variant: str, pid: str, deep: bool) -> float:
    """Seconds Spacer may spend on one property before it reports ``unknown``."""
    if pid in CHC_DEEP_ONLY.get(variant, ()):
        return 900.0
    return 120.0 if deep else 30.0


def bmc_bound(variant: str, deep: bool) -> int:
    """The default BMC depth of the symbolic checker for ``variant``."""
    if variant in PROVED_MODELS:
        return 12 if deep else 6
    if variant == "seed":
        return 12 if deep else 6
    return 16 if deep else 12


def check_variant(
    variant: str,
    *,
    properties: Sequence[str] | None = None,
    bounds: Bounds | None = None,
    depth: int | None = None,
    exhaustive: bool = True,
    symbolic: bool = True,
    deep: bool = False,
    progress: ProgressFn = _noop,
) -> VariantReport:
    """Both checkers on one variant (see the module docstring)."""
    from refexec.models.exhaustive import explore  # noqa: PLC0415

    t0 = time.perf_counter()
    if bounds is None:
        bounds = registry.deep_bounds(variant) if deep else registry.default_bounds(variant)
    ts = registry.VARIANTS[variant](bounds)
    props = [p for p in ts.properties if properties is None or p.id in properties]
    expected = registry.EXPECTED.get(variant, {})
    want_term = has_termination(variant) and (properties is None or TERM in properties)
    env = SEED_ENVIRONMENT_ACTIONS if variant == "seed" else ENVIRONMENT_ACTIONS
    final = run_end_states(ts)
    cells: dict[str, Cell] = {}
    report = VariantReport(variant, bounds, cells)

    ex: dict[str, Verdict] = {}
    if exhaustive:
        progress(f"{variant}: exhaustive exploration ...")
        witnesses: list[Witness] = (
            registry.witnesses_for(variant) if bounds == registry.default_bounds(variant) else []
        )
        res = explore(
            ts, max_depth=depth, witnesses=witnesses,
            progress=lambda n, d: progress(
                f"{variant}: exhaustive: {n} states so far, depth {d} ..."),
            record=(lambda a: a not in env) if want_term else None,
        )
        report.exhaustive_states = res.states
        report.exhaustive_complete = res.complete
        report.never_fired = [
            a for a in res.never_fired if a not in registry.MAY_NOT_FIRE.get(variant, ())
        ]
        report.witnesses_missing = [w for w, path in res.witnesses.items() if path is None]
        if want_term:
            ex[TERM] = _exhaustive_termination(ts, res, final)
        for p in props:
            pr = res.properties[p.id]
            if pr.holds:
                ex[p.id] = Verdict("holds", res.depth, complete=res.complete,
                                   method="exhaustive")
            else:
                ex[p.id] = Verdict(
                    "violated", pr.steps or 0, method="exhaustive",
                    trace=_steps_json(pr.counterexample or []),
                )
        progress(f"{variant}: exhaustive: {res.states} states, "
                 f"{len(res.violated())} properties violated ({res.seconds:.1f}s)")

    sym: dict[str, Verdict] = {}
    if symbolic:
        k = depth if depth is not None else bmc_bound(variant, deep)
        want = [pid for pid in _primary_catches(variant, expected) if pid in {
            p.id for p in props}]
        if variant == "reference":
            want = []
        progress(f"{variant}: symbolic BMC to depth {k} ...")
        bres = bmc(
            ts, props, max_depth=k, progress=progress,
            stop_when=want or None, stop_on_any=not deep and variant != "seed",
        )
        report.type_ok = _from_symbolic(bres[TYPE_OK])
        for p in props:
            sym[p.id] = _from_symbolic(bres[p.id])
        if variant in AUX_INVARIANTS:
            progress(f"{variant}: symbolic proof (inductive invariant, k-induction) ...")
            aux = AUX_INVARIANTS[variant](ts)
            # With --property, the other invariant properties still strengthen the induction
            # (Houdini drops any that is not inductive): the reference's invariant needs them.
            chosen = {p.id for p in props}
            aux = [*aux, *[q for q in ts.properties
                           if q.kind == "invariant" and q.id not in chosen]]
            proof = prove(ts, [p for p in props if bres[p.id].status != "violated"], aux,
                          max_k=3 if not deep else 5, progress=progress)
            report.inductive = proof.inductive
            report.dropped = proof.dropped
            for p in props:
                r = proof.results.get(p.id)
                if r is not None and r.status == "proved":
                    sym[p.id] = Verdict("proved", r.depth, method=r.method)
            if TYPE_OK in proof.inductive:
                report.type_ok = Verdict("proved", 1, method="inductive invariant")
            if variant in PROVED_MODELS and want_term:
                inv = [q for q in [type_ok_property(), *props, *aux]
                       if q.kind == "invariant" and q.id in proof.inductive]
                report.termination = termination(ts, inv, progress)
                sym[TERM] = (Verdict("proved", 1, method="ranking function")
                             if report.termination.ok else
                             Verdict("unknown", method="; ".join(report.termination.failures)))

        if properties is None:
            _every_n(report, variant, bounds, progress, deep=deep)

    chc: dict[str, Verdict] = {}
    seed_assumed: list[Property] = []  # TYPE-OK and AUX-SEED-TASKS once proved (CHC branch)
    if symbolic and variant in CHC_VARIANTS:
        from refexec.models.chc import chc_check  # noqa: PLC0415

        aux = seed_aux_invariants(ts) if variant == "seed" else []
        pre = prove(ts, [], aux, max_k=1)
        assume = [q for q in [type_ok_property(), *aux] if q.id in pre.inductive]
        seed_assumed = assume
        if TYPE_OK in pre.inductive:
            report.type_ok = Verdict("proved", 1, method="inductive invariant + AUX-SEED-TASKS")
        progress(f"{variant}: proved first, assumed by CHC: {', '.join(q.id for q in assume)}")
        for p in props:
            if p.id in CHC_DEEP_ONLY.get(variant, ()) and not deep:
                continue
            if p.id in CHC_NEVER.get(variant, ()):
                continue
            progress(f"{variant}: {p.id}: z3 CHC/Spacer (unbounded) ...")
            cres = chc_check(ts, p, timeout=chc_timeout(variant, p.id, deep), assume=assume,
                             progress=progress)
            chc[p.id] = _from_symbolic(cres.result)
            if cres.invariant:
                report.chc_invariants[p.id] = cres.invariant
        if variant == "seed":
            from refexec.models.parametric import seed_any_n  # noqa: PLC0415

            pids = [p.id for p in props if expected.get(p.id) is not False
                    and (deep or p.id in ANY_N_DEFAULT)]
            progress(f"{variant}: any number of tasks (parametric CHC): {', '.join(pids)} ...")
            par = seed_any_n(pids, timeout=chc_timeout(variant, "", deep), progress=progress,
                             **dict(bounds.extra))
            report.any_n = {pid: r.summary() for pid, r in par.results.items()}
            report.any_n_side_conditions = par.side_conditions
            if "EX-NO-SELF-BLOCK" in {p.id for p in props}:
                _capacity_theorem(report, bounds, chc, progress)

    if symbolic and want_term and TERM not in sym:
        if variant == "seed":
            from refexec.models.termination import seed_rank  # noqa: PLC0415

            progress(f"{variant}: termination by ranking function ...")
            rres = check_ranking(ts, seed_rank(ts), seed_assumed,
                                 actions=[a.name for a in ts.actions if a.name not in env])
            sym[TERM] = (Verdict("proved", 1, method="ranking function") if rres.ok else
                         Verdict("unknown", method="; ".join(rres.failures)))
        elif deep:  # the lasso search costs tens of seconds per mutant: --deep only
            from refexec.models.termination import lasso_bmc  # noqa: PLC0415

            k = depth if depth is not None else bmc_bound(variant, deep)
            progress(f"{variant}: termination: z3 lasso search to depth {k} ...")
            n_lasso = lasso_bmc(ts, [a.name for a in ts.actions if a.name not in env],
                                final, k)
            sym[TERM] = (Verdict("holds", k, method="lasso BMC") if n_lasso is None else
                         Verdict("violated", n_lasso, method="lasso BMC"))
    for p in props:
        cells[p.id] = Cell(
            variant, p.id, expected.get(p.id),
            ex.get(p.id, Verdict("skipped")), sym.get(p.id, Verdict("skipped")),
            chc.get(p.id, Verdict("skipped")),
        )
    if want_term:
        cells[TERM] = Cell(variant, TERM, registry.TERMINATES.get(variant),
                           ex.get(TERM, Verdict("skipped")),
                           sym.get(TERM, Verdict("skipped")))
    report.seconds = time.perf_counter() - t0
    progress(f"{variant}: {report.status_text()} ({report.seconds:.1f}s)")
    return report


def every_n_bounds(variant: str, bounds: Bounds) -> tuple[Bounds, str] | None:
    """The bounds a variant is proved with for every number of tasks, and the name of what is
    proved: the variant itself, with its own bounds (N free), when the parametric reading
    interprets every part they turn on (today: every part); None otherwise."""
    from refexec.models import reference_parametric as rp  # noqa: PLC0415

    return (bounds, variant) if rp.interprets(bounds) else None


AGREEMENT_N: Mapping[str, tuple[int, ...]] = {
    "reference": (1, 2, 3, 4), "reference-any": (1, 2, 3, 4)}
"""The sizes the parametric relation is checked against the concrete one in the default run:
N = 1..4 for the reference (every part's action definitions but the driver's, the rounds', the
posted cancels', the drive calls' and close()'s) and its ``any`` policy; N = 1..3 for the
variants with those parts (their N = 4 check costs about as much as the three smaller ones
together: ~30 s of CPU, which the 2-minute budget does not have). ``--deep``: N = 1..4 for
every variant."""


def _every_n(report: VariantReport, variant: str, bounds: Bounds,
             progress: ProgressFn, deep: bool = False) -> None:
    """A variant for every number of tasks: the inductive invariants and step properties with
    N free (one query per pair), and the parametric relation's agreement with the concrete one
    for N = 1..4 (1..3 for some variants in the default run: :data:`AGREEMENT_N`;
    :mod:`refexec.models.reference_parametric`)."""
    from refexec.models.reference_parametric import agreement, prove_every_n  # noqa: PLC0415

    if variant not in PROVED_MODELS or variant == "waitqueue":  # the reference's variants
        return
    target = every_n_bounds(variant, bounds)
    if target is None:
        return
    b, name = target
    progress(f"{variant}: {name} for every number of tasks (quantified invariants) ...")
    proof = prove_every_n(bounds=b, name=name)
    agree = agreement((1, 2, 3, 4) if deep else AGREEMENT_N.get(variant, (1, 2, 3)), bounds=b)
    report.every_n_name = name
    report.every_n = proof.summary()
    report.every_n_ok = proof.ok and agree.ok
    report.every_n_agreement = (
        f"parametric = concrete for N = {', '.join(map(str, agree.checked))} "
        f"({sum(agree.checked.values())} queries, {agree.seconds:.1f} s)" if agree.ok else
        "parametric and concrete DIFFER: " + "; ".join(agree.failures[:3]))
    progress(f"{variant}: {report.every_n}; {report.every_n_agreement}")


def _capacity_theorem(report: VariantReport, bounds: Bounds, chc: dict[str, Verdict],
                      progress: ProgressFn) -> None:
    """The seed's EX-NO-SELF-BLOCK threshold for every capacity (``seed_capacity``). At this
    instance's capacity c and N tasks it also gives z3's verdict: violated, shortest path
    exactly c + 4 steps for 1 <= N <= c (CAP-BASE/STEP/FINAL reach it, CAP-PHI* exclude a
    shorter one) and c + 1 for N > c (CAP-SPAWN), which then takes part in the agreement check
    against the exhaustive checker's length. Only for the instance the lemmas are about (the
    default wakers and spawners bounds)."""
    from refexec.models import seed  # noqa: PLC0415
    from refexec.models.seed_capacity import prove_capacity  # noqa: PLC0415

    progress("seed: EX-NO-SELF-BLOCK for every capacity (z3 lemmas, C symbolic) ...")
    cap = prove_capacity(progress)
    report.capacity = cap.headline()
    report.capacity_ok = cap.proved
    report.capacity_lemmas = {lid: lem.summary() for lid, lem in cap.lemmas.items()}
    c, n = dict(bounds.extra).get("capacity"), bounds.n_tasks
    pid = "EX-NO-SELF-BLOCK"
    if not (isinstance(c, int) and c >= 1 and n >= 1
            and dict(bounds.extra) == dict(seed.default_bounds(1, capacity=c).extra)):
        return
    if cap.proved and (pid not in chc or chc[pid].status in ("unknown", "skipped")):
        chc[pid] = Verdict("violated", c + 4 if n <= c else c + 1,
                           method=f"z3 capacity theorem (every C >= 1), at C = {c}")


SLOWEST = ("driver", "threads", "driver-any", "reference", "seed", "reference-any",
           "mutant:cancelled-wake-requeues", "mutant:inbox-drained-when-idle",
           "mutant:double-enqueue", "waitqueue")
"""Variants started first with worker processes (measured: the longest checks), so that the
workers finish together."""

HEARTBEAT_SECONDS = 5.0
"""With worker processes, the longest the parent stays silent: after this long without a
progress line it prints which variants are still being checked and their last step."""

_worker_queue: Any = None  # in a worker process: where its progress lines go


def _worker_init(queue: Any) -> None:
    """In each worker process: send progress to the parent, and leave Ctrl-C to the parent
    (which ends the workers itself), so an interrupt prints one line, not one per worker."""
    import signal  # noqa: PLC0415

    global _worker_queue
    _worker_queue = queue
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _worker_progress(msg: str) -> None:
    if _worker_queue is not None:
        _worker_queue.put(msg)


def _check_variant_job(args: tuple[str, dict[str, Any]]) -> VariantReport:
    variant, kw = args
    return check_variant(variant, progress=_worker_progress, **kw)


class Heartbeat:
    """What the parent says while workers run: their progress lines as they come, and, after
    ``every`` seconds of silence, one line naming the variants still running and the last step
    each reported. ``clock`` is injectable so the rule is tested without waiting."""

    def __init__(self, progress: ProgressFn, every: float = HEARTBEAT_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._progress = progress
        self._every = every
        self._clock = clock
        self._last_said = clock()
        self.last_step: dict[str, str] = {}

    def say(self, msg: str, variant: str | None = None) -> None:
        if variant is not None:
            self.last_step[variant] = msg
        self._progress(msg)
        self._last_said = self._clock()

    def tick(self, running: Sequence[str]) -> None:
        now = self._clock()
        if now - self._last_said >= self._every and running:
            steps = "; ".join(self.last_step.get(v, f"{v}: starting") for v in running)
            self._progress(f"still checking {len(running)} variant(s): {steps}")
            self._last_said = now


@contextlib.contextmanager
def _sigint_ignored_while_spawning() -> Iterator[None]:
    """The workers are started (at the first submit) while SIGINT is ignored, so they start
    with it ignored (an ignored signal stays ignored across exec, and Python then installs no
    handler): a Ctrl-C while a worker is still importing cannot print that worker's traceback.
    Only the main thread can change signal handlers; elsewhere this does nothing."""
    import signal  # noqa: PLC0415
    import threading  # noqa: PLC0415

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _end_pool(pool: Any) -> None:
    """Stop a ProcessPoolExecutor now: cancel what has not started and terminate the workers
    (``shutdown`` alone waits for the running jobs, which can take minutes). Called on every
    abnormal exit (Ctrl-C, SIGTERM as ``refexec.cli.Terminated``, an error), so no worker
    outlives ``refexec verify``."""
    procs = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in procs:
        if proc.is_alive():
            proc.terminate()
    for proc in procs:
        proc.join(5)
        if proc.is_alive():
            proc.kill()
            proc.join()


def verify(
    variants: Sequence[str] | None = None,
    *,
    properties: Sequence[str] | None = None,
    depth: int | None = None,
    exhaustive: bool = True,
    symbolic: bool = True,
    deep: bool = False,
    jobs: int = 1,
    progress: ProgressFn = _noop,
) -> Report:
    """Check ``variants`` (default: all) with both checkers; see :class:`Report`."""
    names = list(variants) if variants is not None else list(registry.VARIANTS)
    for v in names:
        if v not in registry.VARIANTS:
            raise KeyError(f"unknown variant {v!r}; known: {', '.join(registry.VARIANTS)}")
    t0 = time.perf_counter()
    kw: dict[str, Any] = {
        "properties": properties, "depth": depth, "exhaustive": exhaustive,
        "symbolic": symbolic, "deep": deep,
    }
    reports: dict[str, VariantReport] = {}
    progress(f"checking {len(names)} variants with the exhaustive and the z3 checker "
             f"({min(jobs, len(names))} worker{'s' if jobs > 1 else ''})")
    if jobs > 1 and len(names) > 1:
        import concurrent.futures as cf  # noqa: PLC0415
        import multiprocessing as mp  # noqa: PLC0415

        # the slowest first, so that the two workers finish together
        order = sorted(names, key=lambda v: SLOWEST.index(v) if v in SLOWEST else len(SLOWEST))
        import queue as queue_mod  # noqa: PLC0415

        ctx = mp.get_context("spawn")
        lines = ctx.Queue()
        beat = Heartbeat(progress)
        pool = cf.ProcessPoolExecutor(max_workers=jobs, mp_context=ctx,
                                      initializer=_worker_init, initargs=(lines,))
        try:
            with _sigint_ignored_while_spawning():
                futs = {pool.submit(_check_variant_job, (v, kw)): v for v in order}
            started: list[str] = []
            waiting = set(futs)
            while waiting:
                done, waiting = cf.wait(waiting, timeout=0.25,
                                        return_when=cf.FIRST_COMPLETED)
                while True:
                    try:
                        msg = lines.get_nowait()
                    except queue_mod.Empty:
                        break
                    name = next((v for v in order if msg.startswith(v + ":")), None)
                    beat.say(msg, name)
                    if name is not None and name not in started:
                        started.append(name)
                for fut in done:
                    rep = fut.result()
                    reports[rep.name] = rep
                running = [v for v in started if v not in reports]
                beat.tick(running)
        except BaseException:
            _end_pool(pool)
            raise
        else:
            pool.shutdown()
        finally:
            lines.close()
            lines.join_thread()
        reports = {v: reports[v] for v in names}
    else:
        import threading  # noqa: PLC0415

        beat = Heartbeat(progress)
        stop = threading.Event()
        current: list[str] = []

        def ticker() -> None:  # the same silence rule as with workers, from a thread
            while not stop.wait(0.5):
                beat.tick(list(current))

        thread = threading.Thread(target=ticker, name="refexec-verify-heartbeat", daemon=True)
        thread.start()
        try:
            for v in names:
                current[:] = [v]
                reports[v] = check_variant(
                    v, progress=lambda m, v=v: beat.say(m, v), **kw)  # type: ignore[misc]
        finally:
            stop.set()
            thread.join()
    opts = {**kw, "variants": names, "jobs": jobs}
    return Report(reports, time.perf_counter() - t0, opts)
