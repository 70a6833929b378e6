"""The properties of refexec's executors, each with the ID that ``spec/SPEC.md`` gives it.

A property is a :class:`~refexec.models.system.Property`: an *invariant* ``formula(s, o)`` that
must hold in every reachable state, or a *step* property ``formula(s, s2, o, action, params)``
that must hold for every transition taken (``action`` is the action's name or the
:class:`~refexec.models.system.Action`). Formulas obey the same discipline as guards and effects
(``o.And``/``o.If``…, concrete indexes only), so the concrete, exhaustive and z3 interpretations
all check the very same formula.

The formulas are written *independently* of the actions' guards: a property restates what the
design promises, not how the model achieves it, so that a mutant that breaks a guard is caught.

:func:`make_properties` builds the formulas over the reference model's variables (used by the
reference variant and every mutant); the seed variant (counter abstraction, other variables)
builds its own formulas for the same IDs in ``models/seed.py`` with :func:`prop`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from refexec.models.system import Action, Bounds, Ops, Property, Value, View
from refexec.state import FINAL_STATES, TaskState

__all__ = [
    "ALL_IDS", "CLOSE_IDS", "DRIVE_IDS", "DRIVER_IDS", "ENVIRONMENT_ACTIONS", "INFO", "IO_IDS",
    "SEED_ENVIRONMENT_ACTIONS",
    "TERMINATION_IDS", "Witness", "action_name", "make_properties", "progress_property", "prop",
    "close_properties", "run_final",
]

S = TaskState
_RUNNING = (int(S.RUNNING), int(S.NOTIFIED))
_FINAL = tuple(sorted(int(s) for s in FINAL_STATES))
# Loop control states (mirrors refexec.models.reference.Loop; restated to keep this module free
# of the model it judges).
_NOT_STARTED, _DECIDING, _ASLEEP, _RETURNED = 0, 3, 4, 5
_IO_NONE, _IO_READY = 0, 2  # refexec.models.reference.Io
_UNSPAWNED = 6  # refexec.models.reference.UNSPAWNED

INFO: dict[str, tuple[str, str]] = {
    "EX-FINAL": (
        "a task completes at most once and is never polled after it ended",
        "No poll starts, and no poll returns Ready, for a task whose future already returned "
        "Ready or was dropped (cancelled or lost). Step property on poll(t) and ready(t): "
        "not ended[t] before the step.",
    ),
    "EX-ONE-POLLER": (
        "a task is never polled by two threads at once; one poll at a time",
        "At most one task is being polled (RUNNING or NOTIFIED) in any state: the loop thread "
        "is the only poller and polls are not re-entered. Invariant: "
        "count(st[t] in {RUNNING, NOTIFIED}) <= 1.",
    ),
    "EX-NO-LOST-WAKE": (
        "no lost wake: a wake after a poll began leads to another poll",
        "If task t was woken since its last poll began (ghost woken[t]), then another poll of t "
        "is on its way (t is SCHEDULED, or NOTIFIED, or the wake is posted in the inbox) or t "
        "has ended. Invariant: woken[t] => st[t] in {SCHEDULED, NOTIFIED, COMPLETE, CANCELLED} "
        "or inbox[t] > 0.",
    ),
    "EX-QUEUE-EXACT": (
        "the ready queue holds exactly the SCHEDULED tasks, each once",
        "For every task t, the number of entries of t in the ready queue is 1 if t is SCHEDULED "
        "and 0 otherwise: no duplicate entry, no stale entry, no scheduled task missing. "
        "Invariant: sum_i [i < qlen and q[i] = t] = (1 if st[t] = SCHEDULED else 0).",
    ),
    "EX-RUN-END": (
        "run() returns only when no sender remains",
        "When run() returns, nothing is queued, nothing is posted in the inbox, no poll is in "
        "progress, no Spawner is alive and no unfinished task has a live waker. Step property "
        "on run_end (checked on the state the decision was taken in).",
    ),
    "EX-SLEEP-SAFE": (
        "the loop never sleeps past a wake, nor when it should return",
        "If the run loop is asleep with no signal pending then nothing is queued, nothing is "
        "posted in the inbox, and some sender remains (so that a wake can still come and run() "
        "need not return). Rules out the lost wake-up of the sleep/wake race and the missing "
        "return. Invariant: loop = ASLEEP and not signal => qlen = 0 and inbox = 0 and "
        "senders > 0.",
    ),
    "EX-NO-SELF-BLOCK": (
        "the executor never blocks on its own queue",
        "The loop thread never tries to enqueue into a full ready queue (it would wait for "
        "itself forever). Invariant: not blocked.",
    ),
    "EX-LOST-REPORTED": (
        "a task that can never be woken again is reported",
        "A task that is IDLE with no live waker and no wake in flight can never run again. "
        "Whenever the loop has decided to sleep or to return (DECIDING, RETURNED, or asleep "
        "with no signal pending) no such task remains unreported. Invariant: loop in {DECIDING, "
        "RETURNED} or (loop = ASLEEP and not signal) => no t with st[t] = IDLE and wakers[t] = "
        "0 and inbox[t] = 0.",
    ),
    "EX-FIFO": (
        "FIFO fairness: a scheduled task is polled within N-1 polls of other tasks",
        "A SCHEDULED task is polled before more than N-1 polls of other tasks happen (N = number "
        "of tasks; at most N-1 others can be queued ahead of it, each once). Invariant with the "
        "ghost waited[t] (polls of others since t was enqueued): st[t] = SCHEDULED => waited[t] "
        "+ ahead(t) <= N-1, where ahead(t) counts the entries before t in the queue.",
    ),
    "EX-POLL-COUNT": (
        "the poll counter equals the number of polls",
        "The executor's per-task poll counter equals the number of polls performed (ghost "
        "done[t]). Invariant: polls[t] = done[t].",
    ),
    "EX-JOIN-RELEASED": (
        "a finished task holds no join waker",
        "When a task ends, the join waker it held for the task awaiting it has been used (the "
        "waiter woken) and released. Invariant: st[t] in {COMPLETE, CANCELLED} => join[t] = "
        "none.",
    ),
    "EX-TIMER-EARLY": (
        "a timer never fires before its deadline",
        "The loop fires t's timer only when the clock has reached its deadline. Step property "
        "on timer_fire(t): clock >= deadline[t].",
    ),
    "EX-TIMER-PROMPT": (
        "a due timer is fired before the next round of polls",
        "No poll starts while an armed timer is due: the driver is consulted between rounds, "
        "not only when the ready queue is empty, so a task that wakes itself for ever cannot "
        "starve a due timer (its task is then polled within the FIFO bound). Step property on "
        "poll: not exists t. armed[t] and deadline[t] <= clock.",
    ),
    "EX-TIMER-RUN-END": (
        "run() never returns while a timer of an unfinished task is armed",
        "An armed timer holds its task's waker, so it is a sender. Step property on run_end: "
        "no t with armed[t] and t unfinished.",
    ),
    "EX-TIMER-PARK": (
        "the loop never parks past a due timer",
        "Asleep with no signal pending (the park's timeout has not come), no armed timer is "
        "due. Invariant: loop = ASLEEP and not signal => no t with armed[t] and deadline[t] <= "
        "clock.",
    ),
    "EX-CLOCK-JUMP": (
        "the virtual clock never jumps while something is runnable or in the inbox",
        "Step property on clock_jump: the queue is empty, the inbox is empty and no task is "
        "being polled.",
    ),
    "EX-TIMER-FINAL": (
        "a finished task has no armed timer",
        "Cancelling or finishing a task cancels its timer (the waker it holds is dropped). "
        "Invariant: st[t] in {COMPLETE, CANCELLED} => not armed[t].",
    ),
    "EX-TIMER-KEPT": (
        "a pending sleep keeps its timer until it fires or is cancelled",
        "While a task's future awaits its timer (ghost sleeping[t]: armed by the future, not yet "
        "fired, cancelled by the future, or dropped with it) the timer is armed in the driver, "
        "holding the task's waker: the driver never drops a timer on its own, so a sleeping "
        "task is never found unwakeable. Invariant: sleeping[t] => armed[t].",
    ),
    "EX-IO-RUN-END": (
        "run() never returns while an I/O registration of an unfinished task is armed",
        "A readiness registration holds its task's waker, so it is a sender. Step property on "
        "run_end: no t with reg[t] != NONE and t unfinished.",
    ),
    "EX-IO-PARK": (
        "the loop never parks past ready I/O",
        "Asleep with no signal pending (the park in select() has not returned), no registered "
        "fd is ready: readiness ends the park. With EX-SLEEP-SAFE (no delivered wake) and "
        "EX-TIMER-PARK (no due timer) the loop never parks past anything it should deliver. "
        "Invariant: loop = ASLEEP and not signal => no t with reg[t] = READY.",
    ),
    "EX-IO-PROMPT": (
        "a ready registration is reported before the next round of polls",
        "No poll starts while a registered fd is ready and unreported: the loop's select(0) runs "
        "between rounds, not only when the ready queue is empty, so its task is then polled "
        "within the FIFO bound. Step property on poll: no t with reg[t] = READY.",
    ),
    "EX-IO-FINAL": (
        "a finished task has no I/O registration",
        "Cancelling or finishing a task takes its registration out of the reactor (the waker "
        "it holds is dropped). Invariant: st[t] in {COMPLETE, CANCELLED} => reg[t] = NONE.",
    ),
    "EX-CANCEL-APPLIED": (
        "a requested cancel is applied before the task is polled again",
        "A cancel requested during t's own poll is applied when that poll returns: if it returns "
        "Pending, t is CANCELLED by that very step (also when t was woken during the poll); if "
        "it returns Ready the result stands. A cancel posted by another thread is applied when "
        "the loop takes it in: t is then COMPLETE or CANCELLED. Step property on pending(t): "
        "creq[t] => st'[t] in {COMPLETE, CANCELLED}; on cancel_drain(t): st'[t] in {COMPLETE, "
        "CANCELLED}.",
    ),
    "EX-INBOX-PROMPT": (
        "a posted wake, spawn or cancel is applied within R polls",
        "Other threads' messages are not starved by tasks that keep the ready queue full: while "
        "the inbox is non-empty, at most R polls start (R = the bounds key round; the "
        "implementation's _ROUND = 256). Invariant with the ghost pw (polls started since the "
        "inbox was last empty): pw <= R.",
    ),
    "EX-STALLED-EXACT": (
        "run_until_stalled() returns exactly when nothing is ready, and never sleeps",
        "Bounds key drive. When run_until_stalled() gives the thread back (step_return in mode "
        "UNTIL_STALLED), nothing is queued, nothing is posted by other threads, no timer is due "
        "and no fd ready, and no task is IDLE with no live waker and nothing in flight (a lost "
        "task not yet reported). Only run() sleeps or ends the loop: no transition leads to "
        "ASLEEP or RETURNED in another mode (the policy loop's run_until_stalled() may decide, "
        "under the lock, only to jump a virtual autojump clock). Step property.",
    ),
    "EX-STEP-ONE": (
        "step() polls at most one task, and polls none only when none is ready",
        "Bounds key drive. No poll starts in mode STEP once the call has polled a task "
        "(dpolls > 0); step() returning without a poll (dpolls = 0) finds nothing queued, "
        "nothing posted and nothing due. Step property on poll and step_return.",
    ),
    "EX-BLOCK-ON-RETURN": (
        "block_on() returns exactly when its target is final, and never sleeps past it",
        "Bounds key drive. When block_on(t) gives the thread back (step_return in mode "
        "BLOCK_ON), t is COMPLETE or CANCELLED (cancelled, or found lost and reported): never "
        "before. Once t is final the loop neither decides to sleep or return nor sleeps: no "
        "transition leads to DECIDING or ASLEEP in mode BLOCK_ON with t final; and "
        "(with the round bound) no poll starts a new round in mode BLOCK_ON once t is final "
        "(the round in progress may finish). Step property.",
    ),
    "EX-CLOSE-FINAL": (
        "when close() returns every task is final and nothing is queued or posted",
        "close() drains the inbox first (a spawn or wake posted before the closed flag is "
        "applied, not forgotten) and cancels every unfinished task, IDLE ones included, one at "
        "a time. Step property on close_end: every spawned task is COMPLETE or CANCELLED, the "
        "ready queue and the inbox are empty (and, with the driver, no timer is armed).",
    ),
    "EX-CLOSE-NO-POLL": (
        "no poll and no new drive call after close() began",
        "Step property on poll and run_start: the closed flag is not set.",
    ),
    "EX-CLOSED-NO-SPAWN": (
        "a closed executor accepts no spawn, from any thread",
        "Once close() has set the closed flag, spawn (local or posted by another thread) is "
        "refused with RuntimeError. Step property on spawn: the closed flag is not set.",
    ),
    "EX-PROGRESS": (
        "the run loop is never stuck short of its end",
        "In every reachable state either run() has returned or given the thread back (RETURNED, "
        "NOT_STARTED), or the program is in an await cycle (the loop sleeps, no spawner, no "
        "held waker, nothing posted, and some unfinished task's join waker is held by a task "
        "that itself waits), or some action of the fair set (the loop's, and every release: "
        "wake, drop, unpark, drain) is enabled. The first half of termination (EX-TERMINATES).",
    ),
    "EX-TERMINATES": (
        "every run of the fair actions is finite",
        "No infinite run consists only of fair actions (everything except the environment's "
        "spawn, spawner_new, waker_clone, join, cancel, run_start, wake_by_ref, timer_arm): with "
        "EX-PROGRESS, every drive call returns or ends in an await cycle once the environment "
        "stops adding work. Exhaustive: no cycle of fair transitions through non-final "
        "states; z3: a ranking function (proved models) or a lasso search to the BMC bound.",
    ),
}
"""ID -> (title, statement). The statements are the text spec/SPEC.md quotes."""

ENVIRONMENT_ACTIONS = (
    "spawn", "spawner_new", "waker_clone", "join", "cancel", "run_start", "wake_by_ref",
    "timer_arm", "io_register", "close_start", "block_on_start",
)
"""Actions of the program / other threads that *add* work or may repeat without bound (a
``wake_by_ref`` keeps its handle, so a thread could call it forever); termination assumes each
happens finitely often. Every other action is the run loop's or releases something (the *fair*
set: the loop's own actions and every wake, drop and drain)."""

SEED_ENVIRONMENT_ACTIONS = ("spawn", "spawner_new", "waker_clone", "run_start", "wake_by_ref")
"""The seed's environment actions (the same kinds as :data:`ENVIRONMENT_ACTIONS`)."""

TERMINATION_IDS = ("EX-PROGRESS", "EX-TERMINATES")

DRIVE_IDS = ("EX-STALLED-EXACT", "EX-STEP-ONE", "EX-BLOCK-ON-RETURN")
"""The drive calls' properties: present only in instances with ``drive`` = 1."""

DRIVER_IDS = ("EX-TIMER-EARLY", "EX-TIMER-PROMPT", "EX-TIMER-RUN-END", "EX-TIMER-PARK",
              "EX-CLOCK-JUMP", "EX-TIMER-FINAL", "EX-TIMER-KEPT")
"""The driver's properties: present only in instances with ``timers`` = 1."""

IO_IDS = ("EX-IO-RUN-END", "EX-IO-PARK", "EX-IO-PROMPT", "EX-IO-FINAL")
"""The reactor's properties: present only in instances with ``io`` = 1."""

CLOSE_IDS = ("EX-CLOSE-FINAL", "EX-CLOSE-NO-POLL", "EX-CLOSED-NO-SPAWN")
"""close()'s properties: present only in instances with ``close`` = 1."""

ALL_IDS = tuple(INFO)


@dataclass(frozen=True)
class Witness:
    """A named state predicate that must be *reachable* (a vacuity guard).

    ``formula(s, o)`` follows the same discipline as invariants, so the exhaustive checker can
    search for it and the symbolic checker can ask z3 for a path to it (BMC of ``formula``).
    """

    name: str
    doc: str
    formula: Callable[..., Value]


def action_name(action: Action | str) -> str:
    return action if isinstance(action, str) else action.name


def prop(pid: str, kind: str, formula: Callable[..., Value]) -> Property:
    """A :class:`Property` with the title and statement registered for ``pid``."""
    title, doc = INFO[pid]
    return Property(pid, title, kind, formula, doc)


def _final(o: Ops, st: Value) -> Value:
    return o.Or(*[st == f for f in _FINAL])


def _live_waker(s: View, o: Ops, n: int, t: int, timers: bool = False) -> Value:
    """A live waker of t exists: held by a future / thread, kept as another task's join waker,
    or held by t's armed timer or I/O registration (in instances with the driver)."""
    timer = [s.armed[t]] if timers else []
    if timers and _has(s, "reg"):
        timer.append(s.reg[t] != _IO_NONE)
    join = s.join
    return o.Or(s.wakers[t] > 0, *[join[u] == t for u in range(n)], *timer)


def _has(s: View, name: str) -> bool:
    try:
        getattr(s, name)
    except AttributeError:
        return False
    return True


def _senders(s: View, o: Ops, n: int, timers: bool = False) -> Value:
    held = [o.And(o.Not(_final(o, s.st[t])), _live_waker(s, o, n, t, timers)) for t in range(n)]
    return s.spawners + o.count(held)


def _inbox_empty(s: View, o: Ops, n: int) -> Value:
    posted = [o.Not(s.cpost[t]) for t in range(n)] if hasattr(s, "cpost") else []
    return o.And(*[s.inbox[t] == 0 for t in range(n)], *posted)


def run_final(s: View, o: Ops, n: int, remote: bool = True) -> Value:
    """Where a drive call legitimately ends: run() returned, the thread was given back, or an
    await cycle (the program's own deadlock, which no executor can resolve): the loop sleeps
    unsignalled, no spawner, no held waker, timer or posted message of an unfinished task, and
    some unfinished task's join waker is held (by a task that, with nothing to wake it, waits).
    In an instance without other threads (``remote`` off) the loop asleep is an end too: only
    another thread could wake it, and the instance has none.
    """
    tm = hasattr(s, "armed")

    def unfinished(t: int) -> Value:
        return o.Not(_final(o, s.st[t]))

    quiet = [
        o.Implies(unfinished(t), o.And(s.wakers[t] == 0, s.inbox[t] == 0,
                                       *([o.Not(s.armed[t])] if tm else [])))
        for t in range(n)
    ]
    joined = o.Or(*[o.And(unfinished(t), s.join[u] == t) for t in range(n) for u in range(n)])
    cycle = o.And(s.loop == _ASLEEP, o.Not(s.signal), s.spawners == 0, _inbox_empty(s, o, n),
                  *quiet, joined)
    alone = [] if remote else [s.loop == _ASLEEP]
    return o.Or(s.loop == _RETURNED, s.loop == _NOT_STARTED, cycle, *alone)


def progress_property(actions: Any, final: Callable[[View, Ops], Value],
                      environment: tuple[str, ...] = ENVIRONMENT_ACTIONS) -> Property:
    """EX-PROGRESS over a system's own actions: ``final(s)`` or some fair action's guard."""
    fair = [(a, p) for a in actions if a.name not in environment for p in a.instances()]

    def progress(s: View, o: Ops) -> Value:
        f = final(s, o)
        if isinstance(f, bool):  # concrete values: the same disjunction, evaluated lazily
            return f or any(bool(a.guard(s, o, **p)) for a, p in fair)
        return o.Or(f, *[a.guard(s, o, **p) for a, p in fair])

    return prop("EX-PROGRESS", "invariant", progress)


def _queued(s: View, o: Ops, n: int) -> list[Value]:
    """The queue with the slots past ``qlen`` read as ``n`` (no task): ``queued[i] == t`` is
    "t is the live entry i". Built once per state, so the per-task formulas below compare
    values only (O(queue length) each, cheap in every interpretation: a checker of 100 tasks
    alive at once evaluates them for every new state)."""
    return [o.If(i < s.qlen, x, n) for i, x in enumerate(s.q)]


def _ahead(o: Ops, queued: Sequence[Value], qlen: Value, t: int) -> Value:
    """Entries before the first entry of ``t`` in the queue (``qlen`` if t is not queued)."""
    acc: Value = qlen
    for i in reversed(range(len(queued))):
        acc = o.If(queued[i] == t, i, acc)
    return acc


def make_properties(bounds: Bounds, variant: str = "reference") -> tuple[Property, ...]:
    """The properties over the reference model's variables, for ``bounds.n_tasks`` tasks."""
    n = bounds.n_tasks
    T = range(n)
    tm = bool(bounds.extra.get("timers", 0))
    io = tm and bool(bounds.extra.get("io", 0))
    rounds = bounds.extra.get("round", 0) if bounds.extra.get("remote", 1) else 0
    any_policy = bounds.extra.get("policy", 0) == 1
    drive = bool(bounds.extra.get("drive", 0))

    def final_(s: View, s2: View, o: Ops, action: Any, params: Mapping[str, int]) -> Value:
        if action_name(action) in ("poll", "ready"):
            return o.Not(s.ended[params["t"]])
        return True

    def one_poller(s: View, o: Ops) -> Value:
        return o.count([o.Or(*[s.st[t] == r for r in _RUNNING]) for t in T]) <= 1

    def no_lost_wake(s: View, o: Ops) -> Value:
        ok = (int(S.SCHEDULED), int(S.NOTIFIED), *_FINAL)
        return o.And(*[
            o.Implies(s.woken[t], o.Or(s.inbox[t] > 0, *[s.st[t] == v for v in ok]))
            for t in T
        ])

    def queue_exact(s: View, o: Ops) -> Value:
        queued = _queued(s, o, n)
        return o.And(*[
            o.count([x == t for x in queued]) == o.If(s.st[t] == int(S.SCHEDULED), 1, 0)
            for t in T
        ])

    def run_end(s: View, s2: View, o: Ops, action: Any, params: Mapping[str, int]) -> Value:
        if action_name(action) != "run_end":
            return True
        return o.And(
            s.qlen == 0, _inbox_empty(s, o, n), _senders(s, o, n, tm) == 0,
            *[o.And(*[s.st[t] != r for r in _RUNNING]) for t in T],
        )

    def sleep_safe(s: View, o: Ops) -> Value:
        return o.Implies(
            o.And(s.loop == _ASLEEP, o.Not(s.signal)),
            o.And(s.qlen == 0, _inbox_empty(s, o, n), _senders(s, o, n, tm) > 0),
        )

    def no_self_block(s: View, o: Ops) -> Value:
        return o.Not(s.blocked)

    def lost_reported(s: View, o: Ops) -> Value:
        decided = o.Or(s.loop == _DECIDING, s.loop == _RETURNED,
                       o.And(s.loop == _ASLEEP, o.Not(s.signal)))
        lost = [o.And(s.st[t] == int(S.IDLE), o.Not(_live_waker(s, o, n, t, tm)),
                      s.inbox[t] == 0)
                for t in T]
        return o.Implies(decided, o.Not(o.Or(*lost)))

    def fifo(s: View, o: Ops) -> Value:
        queued = _queued(s, o, n)
        return o.And(*[
            o.Implies(s.st[t] == int(S.SCHEDULED),
                      s.waited[t] + _ahead(o, queued, s.qlen, t) <= n - 1)
            for t in T
        ])

    def poll_count(s: View, o: Ops) -> Value:
        return o.And(*[s.polls[t] == s.done[t] for t in T])

    def join_released(s: View, o: Ops) -> Value:
        return o.And(*[o.Implies(_final(o, s.st[t]), s.join[t] == n) for t in T])

    def due(s: View, o: Ops) -> Value:
        return o.Or(*[o.And(s.armed[t], s.deadline[t] <= s.clock) for t in T])

    def timer_early(s: View, s2: View, o: Ops, action: Any, params: Mapping[str, int]) -> Value:
        if action_name(action) != "timer_fire":
            return True
        return s.clock >= s.deadline[params["t"]]

    def timer_prompt(s: View, s2: View, o: Ops, action: Any, params: Mapping[str, int]) -> Value:
        if action_name(action) != "poll":
            return True
        return o.Not(due(s, o))

    def timer_run_end(s: View, s2: View, o: Ops, action: Any,
                      params: Mapping[str, int]) -> Value:
        if action_name(action) != "run_end":
            return True
        return o.Not(o.Or(*[o.And(s.armed[t], o.Not(_final(o, s.st[t]))) for t in T]))

    def timer_park(s: View, o: Ops) -> Value:
        return o.Implies(o.And(s.loop == _ASLEEP, o.Not(s.signal)), o.Not(due(s, o)))

    def clock_jump(s: View, s2: View, o: Ops, action: Any, params: Mapping[str, int]) -> Value:
        if action_name(action) != "clock_jump":
            return True
        return o.And(s.qlen == 0, _inbox_empty(s, o, n),
                     *[o.And(*[s.st[t] != r for r in _RUNNING]) for t in T])

    def timer_final(s: View, o: Ops) -> Value:
        return o.And(*[o.Implies(_final(o, s.st[t]), o.Not(s.armed[t])) for t in T])

    def timer_kept(s: View, o: Ops) -> Value:
        return o.And(*[o.Implies(s.sleeping[t], s.armed[t]) for t in T])

    def io_run_end(s: View, s2: View, o: Ops, action: Any, params: Mapping[str, int]) -> Value:
        if action_name(action) != "run_end":
            return True
        return o.Not(o.Or(*[o.And(s.reg[t] != _IO_NONE, o.Not(_final(o, s.st[t]))) for t in T]))

    def io_ready_any(s: View, o: Ops) -> Value:
        return o.Or(*[s.reg[t] == _IO_READY for t in T])

    def io_park(s: View, o: Ops) -> Value:
        return o.Implies(o.And(s.loop == _ASLEEP, o.Not(s.signal)), o.Not(io_ready_any(s, o)))

    def io_prompt(s: View, s2: View, o: Ops, action: Any, params: Mapping[str, int]) -> Value:
        if action_name(action) != "poll":
            return True
        return o.Not(io_ready_any(s, o))

    def io_final(s: View, o: Ops) -> Value:
        return o.And(*[o.Implies(_final(o, s.st[t]), s.reg[t] == _IO_NONE) for t in T])

    reactor = (
        prop("EX-IO-RUN-END", "step", io_run_end),
        prop("EX-IO-PARK", "invariant", io_park),
        # policy any: whether a poll goes before a ready fd or a due timer is the policy's choice
        *(() if any_policy else (prop("EX-IO-PROMPT", "step", io_prompt),)),
        prop("EX-IO-FINAL", "invariant", io_final),
    ) if io else ()
    def cancel_applied(s: View, s2: View, o: Ops, action: Any,
                       params: Mapping[str, int]) -> Value:
        name = action_name(action)
        if name == "pending":
            t = params["t"]
            return o.Implies(s.creq[t], _final(o, s2.st[t]))
        if name == "cancel_drain":
            return _final(o, s2.st[params["t"]])
        return True

    def inbox_prompt(s: View, o: Ops) -> Value:
        return s.pw <= rounds

    driver = (
        prop("EX-TIMER-EARLY", "step", timer_early),
        *(() if any_policy else (prop("EX-TIMER-PROMPT", "step", timer_prompt),)),
        prop("EX-TIMER-RUN-END", "step", timer_run_end),
        prop("EX-TIMER-PARK", "invariant", timer_park),
        prop("EX-CLOCK-JUMP", "step", clock_jump),
        prop("EX-TIMER-FINAL", "invariant", timer_final),
        prop("EX-TIMER-KEPT", "invariant", timer_kept),
        *reactor,
    ) if tm else ()

    return (
        prop("EX-FINAL", "step", final_),
        *(close_properties(n, tm) if bounds.extra.get("close", 0) else ()),
        prop("EX-ONE-POLLER", "invariant", one_poller),
        prop("EX-NO-LOST-WAKE", "invariant", no_lost_wake),
        prop("EX-QUEUE-EXACT", "invariant", queue_exact),
        prop("EX-RUN-END", "step", run_end),
        prop("EX-SLEEP-SAFE", "invariant", sleep_safe),
        prop("EX-NO-SELF-BLOCK", "invariant", no_self_block),
        prop("EX-LOST-REPORTED", "invariant", lost_reported),
        *(() if any_policy else (prop("EX-FIFO", "invariant", fifo),)),
        prop("EX-POLL-COUNT", "invariant", poll_count),
        prop("EX-JOIN-RELEASED", "invariant", join_released),
        *driver,
        prop("EX-CANCEL-APPLIED", "step", cancel_applied),
        *((prop("EX-INBOX-PROMPT", "invariant", inbox_prompt),) if rounds else ()),
        *(_drive_properties(n, tm, io, rounds) if drive else ()),
    )


# Drive modes (mirrors refexec.models.reference.Drive).
_RUN, _UNTIL_STALLED, _STEP, _BLOCK_ON = 0, 1, 2, 3
_IDLE = int(S.IDLE)


def _drive_properties(n: int, tm: bool, io: bool, rounds: int) -> tuple[Property, ...]:
    """EX-STALLED-EXACT, EX-STEP-ONE and EX-BLOCK-ON-RETURN (bounds key ``drive``), restated
    from the promises of run_until_stalled(), step() and block_on(), not from the model's
    guards."""
    T = range(n)

    def nothing_ready(s: View, o: Ops) -> Value:
        due = [o.And(s.armed[t], s.deadline[t] <= s.clock) for t in T] if tm else []
        due += [s.reg[t] == _IO_READY for t in T] if io else []
        return o.And(s.qlen == 0, _inbox_empty(s, o, n), o.Not(o.Or(*due)) if due else True)

    def unreported(s: View, o: Ops, t: int) -> Value:
        posted = [s.cpost[t]] if hasattr(s, "cpost") else []
        return o.And(s.st[t] == _IDLE, o.Not(_live_waker(s, o, n, t, tm)), s.inbox[t] == 0,
                     o.Not(o.Or(*posted)) if posted else True)

    def stalled_exact(s: View, s2: View, o: Ops, action: Any,
                      params: Mapping[str, int]) -> Value:
        parked = o.Or(s2.loop == _ASLEEP, s2.loop == _RETURNED)
        no_sleep = o.Implies(parked, o.Or(s2.mode == _RUN, s2.mode == _BLOCK_ON))
        if action_name(action) != "step_return":
            return no_sleep
        stalled = o.And(nothing_ready(s, o), *[o.Not(unreported(s, o, t)) for t in T])
        return o.And(no_sleep, o.Implies(s.mode == _UNTIL_STALLED, stalled))

    def step_one(s: View, s2: View, o: Ops, action: Any, params: Mapping[str, int]) -> Value:
        name = action_name(action)
        if name == "poll":
            return o.Implies(s.mode == _STEP, s.dpolls == 0)
        if name == "step_return":
            return o.Implies(o.And(s.mode == _STEP, s.dpolls == 0), nothing_ready(s, o))
        return True

    def target_final(s: View, o: Ops) -> Value:
        return o.Or(*[o.And(s.target == t, _final(o, s.st[t])) for t in T])

    def block_on_return(s: View, s2: View, o: Ops, action: Any,
                        params: Mapping[str, int]) -> Value:
        name = action_name(action)
        if name == "step_return":
            return o.Implies(s.mode == _BLOCK_ON, target_final(s, o))
        if name == "poll" and rounds:  # the round in progress may finish, no new one starts
            return o.Implies(o.And(s.mode == _BLOCK_ON, target_final(s, o)), s.rnd > 0)
        decided = o.Or(s2.loop == _DECIDING, s2.loop == _ASLEEP)
        return o.Implies(o.And(decided, s2.mode == _BLOCK_ON), o.Not(target_final(s2, o)))

    return (prop("EX-STALLED-EXACT", "step", stalled_exact),
            prop("EX-STEP-ONE", "step", step_one),
            prop("EX-BLOCK-ON-RETURN", "step", block_on_return))


def close_properties(n: int, tm: bool) -> tuple[Property, ...]:
    """:data:`CLOSE_IDS` over the reference model's variables (with the ``closed`` flag)."""

    def close_final(s: View, s2: View, o: Ops, action: Any, params: Mapping[str, int]) -> Value:
        if action_name(action) != "close_end":
            return True
        settled = [o.Or(s.st[t] == _UNSPAWNED, _final(o, s.st[t])) for t in range(n)]
        timers = [o.Not(s.armed[t]) for t in range(n)] if tm else []
        return o.And(*settled, s.qlen == 0, _inbox_empty(s, o, n), *timers)

    def close_no_poll(s: View, s2: View, o: Ops, action: Any,
                      params: Mapping[str, int]) -> Value:
        if action_name(action) not in ("poll", "run_start"):
            return True
        return o.Not(s.closed)

    def closed_no_spawn(s: View, s2: View, o: Ops, action: Any,
                        params: Mapping[str, int]) -> Value:
        if action_name(action) != "spawn":
            return True
        return o.Not(s.closed)

    return (
        prop("EX-CLOSE-FINAL", "step", close_final),
        prop("EX-CLOSE-NO-POLL", "step", close_no_poll),
        prop("EX-CLOSED-NO-SPAWN", "step", closed_no_spawn),
    )
