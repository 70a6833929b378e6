"""The ``waitqueue`` variant: the wait queue every sync primitive of refexec is built on.

One FIFO of parked waiters plus a pool of permits, as :class:`refexec.waitqueue.WaitQueue`
implements it (the refinement mapping is in spec/SPEC.md, "The wait-queue model"). ``Lock`` is
a queue with 1 permit, ``Semaphore(n)`` one with ``n``; ``Condition``, ``Barrier`` and
``Queue.join`` park on queues without permits and are released by notifications; ``Queue``'s
``get``/``put`` are two counting queues (items and free slots). Each waiter is one task (N of
them); the primitive's bookkeeping above the queue (the deque of items, the barrier's count) is
the primitives' business and is tested against this model in the lockstep machine.

State (N tasks):

===============  ===========================================================================
``ws[t]``        waiter of t: OUT (not waiting), QUEUED (parked, holds a waker), GRANTED
                 (chosen by a release: owns a permit, its waker was woken, not yet polled),
                 NOTIFIED (chosen by notify_one, not yet polled), BROADCAST (woken by
                 notify_all or close, not yet polled)
``held[t]``      permits t holds (0..1): acquired and not yet released
``permits``      free permits (0..P)
``q``, ``qlen``  the FIFO of QUEUED waiters: task ids, oldest first (N = empty slot)
``closed``       the queue was closed: every waiter was woken, nobody parks again
``wakes[t]``     ghost: wakes delivered to t's current wait (0..2; 2 is a double wake)
``older``        ghost: ``older[t*N+u]`` says u was already queued when t parked
``faulty[t]``    (bound ``faults`` = 1 only) t parked with a foreign waker whose wake and drop
                 raise (after doing their job, or not: the model counts refexec's calls)
``raised``       (``faults`` = 1 only) the caller of the last step got a waker's exception
===============  ===========================================================================

Actions (named after what the implementation does): ``acquire(t)`` (a fresh wait takes a free
permit at once), ``park(t)`` (a fresh wait finds none and queues), ``release(t)`` (hand the
permit to the oldest waiter, or return it to the pool), ``notify_one``, ``notify_all``,
``close``, ``poll_chosen(t)`` (the chosen waiter's task is polled and consumes its grant),
``cancel_queued(t)`` and ``cancel_chosen(t)`` (the waiting task is cancelled: its future is
dropped; a chosen one passes its permit or its notify_one notification on to the next waiter;
a broadcast is not passed on: everyone queued at the time already got it, and a waiter that
parked later must not be released by an old broadcast).

With the bound ``faults`` = 1 (the default ``refexec verify`` instance; absent, the model is the
one above, unchanged), ``park_faulty(t)`` parks with a waker whose vtable raises, and every step
that wakes or drops a held waker records in ``raised`` whether one of them was faulty: the
exception reaches the caller of release/notify/close/cancel, and the step is otherwise the same
(every other chosen waiter is woken, the grant stays with the chosen waiter: no permit is
returned to the pool nor lost). WQ-FAULT-REPORTED and WQ-FAULT-ISOLATED state it.

Mutants are this builder with one field of :class:`WQEdges` changed (:data:`WQ_MUTANTS`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields

from refexec.models.properties import action_name
from refexec.models.system import (
    Action,
    Bounds,
    Ops,
    Property,
    Sort,
    TransitionSystem,
    Value,
    Var,
    View,
)

__all__ = [
    "BROADCAST",
    "GRANTED",
    "INFO",
    "NOTIFIED",
    "OUT",
    "QUEUED",
    "WQ_EDGES",
    "WQ_IDS",
    "WQ_MUTANTS",
    "WQEdges",
    "WQMutant",
    "aux_invariants",
    "build",
    "default_bounds",
]

OUT, QUEUED, GRANTED, NOTIFIED, BROADCAST = range(5)
WS_NAMES = ("OUT", "QUEUED", "GRANTED", "NOTIFIED", "BROADCAST")


@dataclass(frozen=True)
class WQEdges:
    """The design decisions a mutant may flip (the reference is ``WQEdges()``)."""

    pass_on: bool = True
    """A chosen waiter that is cancelled hands its grant (permit or notification) on."""
    lifo: bool = False
    """Choose the newest waiter instead of the oldest."""
    release_to_pool_too: bool = False
    """``release`` with waiters both hands the permit over and returns it to the pool."""
    notify_all_misses_newest: bool = False
    """``notify_all`` wakes every waiter but the one that parked last (a snapshot taken too
    early: a waiter added while the wake-up runs is missed)."""
    dequeue_on_wake: bool = True
    """A chosen waiter leaves the queue (else it stays and can be chosen again)."""
    report_faults: bool = True
    """A waker's exception reaches the caller (else it is swallowed)."""
    fault_stops_wakes: bool = False
    """notify_all/close stop waking at the first raising wake (the later waiters are chosen,
    out of the queue, but never woken)."""
    fault_returns_permit: bool = False
    """A release whose wake raises also puts the permit back in the pool (a "rollback")."""


WQ_EDGES = WQEdges()

INFO: dict[str, tuple[str, str]] = {
    "WQ-QUEUE-EXACT": (
        "the wait queue holds exactly the parked waiters, each once",
        "For every task t: t occurs in the live prefix of q once if ws[t] = QUEUED and not at "
        "all otherwise; the slots past qlen are empty. Invariant.",
    ),
    "WQ-PERMITS-CONSERVED": (
        "permits are conserved: never created, never lost",
        "permits + sum(held) + count(ws = GRANTED) = P: a permit is free, held by a task, or "
        "handed to a chosen waiter that has not run yet. Invariant. Implies mutual exclusion "
        "for P = 1 (at most one holder).",
    ),
    "WQ-NO-IDLE-PERMIT": (
        "no waiter waits while a permit is free",
        "permits > 0 => qlen = 0: a release with waiters hands the permit over (FIFO hand-off) "
        "instead of leaving it in the pool beside a parked task. Invariant.",
    ),
    "WQ-NO-LOST-NOTIFY": (
        "no lost notification",
        "Step property. A release or notify_one while some waiter is queued chooses exactly one "
        "more waiter; notify_all and close leave no waiter queued and choose every one; a "
        "cancelled waiter chosen by release or notify_one, while others are queued, leaves as "
        "many chosen as before (its grant passed on); in every other case cancelling a chosen "
        "waiter removes exactly that one (a broadcast is never passed on).",
    ),
    "WQ-NO-DOUBLE-WAKE": (
        "no waiter is woken twice",
        "wakes[t] <= 1 for every wait; a QUEUED or OUT waiter has no wake, a chosen one exactly "
        "one. Invariant.",
    ),
    "WQ-FIFO-HANDOFF": (
        "FIFO hand-off: the longest-waiting waiter is chosen first",
        "Step property. If a step moves t from QUEUED to chosen, then every u that was already "
        "queued when t parked (ghost older[t][u]) and is still QUEUED before the step is no "
        "longer QUEUED after it.",
    ),
    "WQ-CLOSED-EMPTY": (
        "a closed queue has no waiter",
        "closed => qlen = 0: close wakes everyone and nobody parks afterwards. Invariant.",
    ),
    "WQ-FAULT-REPORTED": (
        "a raising waker's exception reaches the caller",
        "Step property (bound faults = 1; trivially true without). raised' holds exactly when "
        "the step woke or dropped the held waker of a faulty waiter (a QUEUED t with "
        "faulty[t] is no longer QUEUED): never swallowed, never invented.",
    ),
    "WQ-FAULT-ISOLATED": (
        "a raising wake does not stop the other wakes",
        "Step property. Every waiter a step moves from QUEUED to chosen received exactly one "
        "wake in that step (wakes'[t] = 1), whether or not another waker of the same step "
        "raised.",
    ),
}
WQ_IDS = tuple(INFO)


def default_bounds(n_tasks: int = 3, permits: int = 1, faults: int = 0) -> Bounds:
    """3 tasks and 1 permit (a Lock; ``permits=2`` for a semaphore); ``faults=1`` adds
    waiters whose wakers raise."""
    return Bounds(n_tasks, {"permits": permits, "faults": faults} if faults else
                  {"permits": permits})


def _get(o: Ops, seq: tuple[Value, ...], i: Value) -> Value:
    """``seq[i]``, or the last element when ``i`` is out of range (the caller discards it)."""
    out = seq[-1]
    for j in range(len(seq) - 1):
        out = o.If(i == j, seq[j], out)
    return out


def _put(o: Ops, seq: tuple[Value, ...], i: Value, v: Value) -> tuple[Value, ...]:
    """``seq`` with ``seq[i] = v``; unchanged when ``i`` is out of range."""
    return tuple(o.If(i == j, v, x) for j, x in enumerate(seq))


def _choose(s: View, o: Ops, e: WQEdges, grant: Value,
            arrays: tuple[tuple[Value, ...], tuple[Value, ...]]) -> dict[str, Value]:
    """Choose one waiter (the oldest; the newest under ``lifo``), give it ``grant``, wake it.

    ``arrays`` are the ``ws`` and ``wakes`` to start from. Assumes ``qlen > 0`` (the caller
    discards the result otherwise). Returns the new ``ws``, ``wakes``, ``q`` and ``qlen``.
    """
    ws, wakes = arrays
    n = len(s.q)
    idx: Value = s.qlen - 1 if e.lifo else 0
    t = _get(o, s.q, idx)
    ws2 = _put(o, ws, t, grant)
    wakes2 = _put(o, wakes, t, o.Min(_get(o, wakes, t) + 1, 2))
    if not e.dequeue_on_wake:
        return {"ws": ws2, "wakes": wakes2, "q": s.q, "qlen": s.qlen}
    q2 = _put(o, s.q, s.qlen - 1, n) if e.lifo else (*s.q[1:], n)
    return {"ws": ws2, "wakes": wakes2, "q": q2, "qlen": s.qlen - 1}


def _remove(s: View, o: Ops, n: int, t: int) -> tuple[Value, ...]:
    """``q`` without task ``t`` (the later entries move up one slot)."""
    cap = len(s.q)
    out = []
    for i in range(cap):
        seen = o.Or(*[s.q[j] == t for j in range(i + 1)])
        nxt = s.q[i + 1] if i + 1 < cap else n
        out.append(o.If(seen, nxt, s.q[i]))
    return tuple(out)


def build(bounds: Bounds, edges: WQEdges = WQ_EDGES, *, name: str = "waitqueue") -> \
        TransitionSystem:
    """The wait-queue model for ``bounds`` (N tasks, ``permits`` P), with ``edges``."""
    n = bounds.n_tasks
    P = bounds["permits"]
    faults = bool(bounds.extra.get("faults", 0))
    e = edges
    T = range(n)
    tasks = {"t": range(n)}

    variables = (
        Var("ws", Sort.int_(0, 4, WS_NAMES), n, "waiter state of each task"),
        Var("held", Sort.int_(0, 1), n, "permits held"),
        Var("permits", Sort.int_(0, P + 1), 0, "free permits (P + 1: room for an over-release)"),
        Var("q", Sort.int_(0, n), n, "FIFO of queued waiters (N = empty)"),
        Var("qlen", Sort.int_(0, n), 0, "queued waiters"),
        Var("closed", Sort.bool_(), 0, "closed"),
        Var("wakes", Sort.int_(0, 2), n, "ghost: wakes of the current wait", ghost=True),
        Var("older", Sort.bool_(), n * n, "ghost: u queued when t parked", ghost=True),
    ) + ((
        Var("faulty", Sort.bool_(), n, "t's held waker raises when woken or dropped"),
        Var("raised", Sort.bool_(), 0, "the last step's caller got a waker's exception"),
    ) if faults else ())

    def init(o: Ops) -> Mapping[str, Value]:
        return {
            "ws": (OUT,) * n, "held": (0,) * n, "permits": P, "q": (n,) * n, "qlen": 0,
            "closed": False, "wakes": (0,) * n, "older": (False,) * (n * n),
            **({"faulty": (False,) * n, "raised": False} if faults else {}),
        }

    def acquire_g(s: View, o: Ops, t: int) -> Value:
        return o.And(s.ws[t] == OUT, s.held[t] == 0, s.permits > 0)

    def acquire_e(s: View, o: Ops, t: int) -> Mapping[str, Value]:
        return {"held": o.store(s.held, t, 1), "permits": s.permits - 1}

    def park_g(s: View, o: Ops, t: int) -> Value:
        return o.And(s.ws[t] == OUT, s.held[t] == 0, s.permits == 0, o.Not(s.closed),
                     s.qlen < n)

    def park_e(s: View, o: Ops, t: int) -> Mapping[str, Value]:
        older = list(s.older)
        for u in T:
            older[t * n + u] = s.ws[u] == QUEUED if u != t else False
            if u != t:
                older[u * n + t] = False
        return {
            "ws": o.store(s.ws, t, QUEUED), "q": o.store(s.q, s.qlen, t), "qlen": s.qlen + 1,
            "wakes": o.store(s.wakes, t, 0), "older": tuple(older),
        }

    def release_g(s: View, o: Ops, t: int) -> Value:
        return s.held[t] == 1

    def release_e(s: View, o: Ops, t: int) -> Mapping[str, Value]:
        held = o.store(s.held, t, 0)
        ch = _choose(s, o, e, GRANTED, (s.ws, s.wakes))
        some = s.qlen > 0
        pool = o.Min(s.permits + 1, P + 1)
        kept: Value = s.permits
        if faults and e.fault_returns_permit:
            kept = o.If(_get(o, s.faulty, _get(o, s.q, 0)), pool, s.permits)
        return {
            "held": held,
            "permits": o.If(some, pool if e.release_to_pool_too else kept, pool),
            **{k: o.If(some, v, getattr(s, k)) for k, v in ch.items()},
        }

    def notify_one_g(s: View, o: Ops) -> Value:
        return s.qlen > 0

    def notify_one_e(s: View, o: Ops) -> Mapping[str, Value]:
        return _choose(s, o, e, NOTIFIED, (s.ws, s.wakes))

    def notify_all_g(s: View, o: Ops) -> Value:
        return s.qlen > 0

    def _wake_all(s: View, o: Ops) -> dict[str, Value]:
        # the queue, oldest first; under the mutant the newest (slot qlen-1) is missed
        ws, wakes = list(s.ws), list(s.wakes)
        for t in T:
            qi = [o.And(s.q[i] == t, i < s.qlen) for i in range(n)]
            woken: Value = True
            if faults and e.fault_stops_wakes:  # a faulty waiter in an earlier slot stopped it
                woken = o.Not(o.Or(*[o.And(qi[i], j < i, _get(o, s.faulty, s.q[j]))
                                     for i in range(n) for j in range(i)]))
            if e.notify_all_misses_newest:
                hit = o.Or(*[o.And(qi[i], i < s.qlen - 1) for i in range(n)])
            else:
                hit = o.Or(*qi)
            ws[t] = o.If(hit, BROADCAST, ws[t])
            wakes[t] = o.If(o.And(hit, woken), o.Min(wakes[t] + 1, 2), wakes[t])
        if e.notify_all_misses_newest:
            last = _get(o, s.q, s.qlen - 1)
            q2 = tuple(o.If(i == 0, last, n) for i in range(n))
            qlen2: Value = 1
        else:
            q2, qlen2 = (n,) * n, 0
        return {"ws": tuple(ws), "wakes": tuple(wakes), "q": q2, "qlen": qlen2}

    def notify_all_e(s: View, o: Ops) -> Mapping[str, Value]:
        return _wake_all(s, o)

    def close_g(s: View, o: Ops) -> Value:
        return o.Not(s.closed)

    def close_e(s: View, o: Ops) -> Mapping[str, Value]:
        upd = _wake_all(s, o)
        some = s.qlen > 0
        return {"closed": True, **{k: o.If(some, v, getattr(s, k)) for k, v in upd.items()}}

    def poll_chosen_g(s: View, o: Ops, t: int) -> Value:
        return s.ws[t] >= GRANTED

    def poll_chosen_e(s: View, o: Ops, t: int) -> Mapping[str, Value]:
        got = s.ws[t] == GRANTED
        return {
            "ws": o.store(s.ws, t, OUT),
            "held": o.store(s.held, t, o.If(got, 1, s.held[t])),
            "wakes": o.store(s.wakes, t, 0),
        }

    def cancel_queued_g(s: View, o: Ops, t: int) -> Value:
        return s.ws[t] == QUEUED

    def cancel_queued_e(s: View, o: Ops, t: int) -> Mapping[str, Value]:
        return {"ws": o.store(s.ws, t, OUT), "q": _remove(s, o, n, t), "qlen": s.qlen - 1}

    def cancel_chosen_g(s: View, o: Ops, t: int) -> Value:
        return s.ws[t] >= GRANTED

    def cancel_chosen_e(s: View, o: Ops, t: int) -> Mapping[str, Value]:
        grant = s.ws[t]
        ws = o.store(s.ws, t, OUT)
        wakes = o.store(s.wakes, t, 0)
        if not e.pass_on:
            return {"ws": ws, "wakes": wakes}
        ch = _choose(s, o, e, grant, (ws, wakes))
        some = o.And(s.qlen > 0, grant != BROADCAST)
        # nobody to pass a permit to: back to the pool; a notification lapses (as asyncio's)
        return {
            "ws": o.If(some, ch["ws"], ws), "wakes": o.If(some, ch["wakes"], wakes),
            "q": o.If(some, ch["q"], s.q), "qlen": o.If(some, ch["qlen"], s.qlen),
            "permits": o.If(o.And(o.Not(some), grant == GRANTED),
                              o.Min(s.permits + 1, P + 1), s.permits),
        }

    def park_faulty_e(s: View, o: Ops, t: int) -> Mapping[str, Value]:
        return {**park_e(s, o, t), "faulty": o.store(s.faulty, t, True)}

    qmods = frozenset({"ws", "q", "qlen", "wakes"})
    actions: tuple[Action, ...] = (
        Action("acquire", tasks, acquire_g, acquire_e, frozenset({"held", "permits"}),
               "a fresh wait takes a free permit without parking"),
        Action("park", tasks, park_g, park_e, qmods | {"older"},
               "a fresh wait finds no permit: the task queues its waker at the back"),
        Action("release", tasks, release_g, release_e, qmods | {"held", "permits"},
               "the holder releases: the oldest waiter gets the permit, else the pool"),
        Action("notify_one", {}, notify_one_g, notify_one_e, qmods,
               "notify the oldest waiter"),
        Action("notify_all", {}, notify_all_g, notify_all_e, qmods, "notify every waiter"),
        Action("close", {}, close_g, close_e, qmods | {"closed"},
               "close: notify every waiter; nobody parks afterwards"),
        Action("poll_chosen", tasks, poll_chosen_g, poll_chosen_e,
               frozenset({"ws", "held", "wakes"}),
               "the chosen waiter's task is polled: it consumes its grant"),
        Action("cancel_queued", tasks, cancel_queued_g, cancel_queued_e,
               frozenset({"ws", "q", "qlen"}), "a queued waiter's task is cancelled"),
        Action("cancel_chosen", tasks, cancel_chosen_g, cancel_chosen_e,
               qmods | {"permits"},
               "a chosen waiter's task is cancelled before it ran: the grant passes on"),
    )
    if faults:
        actions = _with_faults(actions, e, n, park_g=park_g, park_faulty_e=park_faulty_e,
                               park_mods=qmods | {"older"})
    return TransitionSystem(name, bounds, variables, init, actions, _properties(n, P, faults),
                            __doc__ or "")


def _acted_on_faulty(s: View, s2: Mapping[str, Value], o: Ops, n: int) -> Value:
    """A step from ``s`` to ``s2`` woke or dropped the held waker of a faulty waiter."""
    ws2 = s2.get("ws", s.ws)
    return o.Or(*[o.And(s.faulty[t], s.ws[t] == QUEUED, ws2[t] != QUEUED) for t in range(n)])


def _with_faults(actions: tuple[Action, ...], e: WQEdges, n: int, *, park_g: object,
                 park_faulty_e: object, park_mods: frozenset[str]) -> tuple[Action, ...]:
    """``actions`` under the bound ``faults``: each also sets ``raised`` (a waker it woke or
    dropped raised), ``park`` records a well-behaved waker, and ``park_faulty`` is added."""

    def wrap(a: Action) -> Action:
        def eff(s: View, o: Ops, **p: int) -> Mapping[str, Value]:
            out = dict(a.effect(s, o, **p))
            if a.name == "park":
                out["faulty"] = o.store(s.faulty, p["t"], False)
            out["raised"] = _acted_on_faulty(s, out, o, n) if e.report_faults else False
            return out
        mods = a.modifies | {"raised"} | ({"faulty"} if a.name == "park" else set())
        return Action(a.name, a.params, a.guard, eff, frozenset(mods), a.doc, a.param_names)

    faulty = Action("park_faulty", {"t": range(n)}, park_g, park_faulty_e,  # type: ignore[arg-type]
                    park_mods | {"faulty", "raised"},
                    "a fresh wait parks with a foreign waker whose wake and drop raise")
    return (*[wrap(a) for a in actions], wrap(faulty))


def _prop(pid: str, kind: str, f: object) -> Property:
    title, doc = INFO[pid]
    return Property(pid, title, kind, f, doc)  # type: ignore[arg-type]


def _properties(n: int, P: int, faults: bool = False) -> tuple[Property, ...]:
    T = range(n)

    def queue_exact(s: View, o: Ops) -> Value:
        parts = []
        for t in T:
            occ = o.count([o.And(i < s.qlen, s.q[i] == t) for i in range(n)])
            parts.append(occ == o.If(s.ws[t] == QUEUED, 1, 0))
        parts += [o.Implies(s.qlen <= i, s.q[i] == n) for i in range(n)]
        return o.And(*parts)

    def conserved(s: View, o: Ops) -> Value:
        return s.permits + o.Sum(list(s.held)) + o.count([w == GRANTED for w in s.ws]) == P

    def no_idle_permit(s: View, o: Ops) -> Value:
        return o.Implies(s.permits > 0, o.count([w == QUEUED for w in s.ws]) == 0)

    def chosen(s: View, o: Ops) -> Value:
        return o.count([w >= GRANTED for w in s.ws])

    def queued(s: View, o: Ops) -> Value:
        return o.count([w == QUEUED for w in s.ws])

    def no_lost_notify(s: View, s2: View, o: Ops, action: object, params: object) -> Value:
        a = action_name(action)  # type: ignore[arg-type]
        some = queued(s, o) > 0
        if a in ("release", "notify_one"):
            return o.Implies(some, chosen(s2, o) == chosen(s, o) + 1)
        if a in ("notify_all", "close"):
            return o.And(queued(s2, o) == 0,
                         chosen(s2, o) == chosen(s, o) + queued(s, o))
        if a == "cancel_chosen":
            t = params["t"]  # type: ignore[index]
            passed = o.And(some, s.ws[t] != BROADCAST)
            return chosen(s2, o) == chosen(s, o) - o.If(passed, 0, 1)
        return True

    def no_double_wake(s: View, o: Ops) -> Value:
        return o.And(*[
            o.If(s.ws[t] >= GRANTED, s.wakes[t] == 1,
                 s.wakes[t] == 0)
            for t in T
        ])

    def fifo(s: View, s2: View, o: Ops, action: object, params: object) -> Value:
        parts = []
        for t in T:
            picked = o.And(s.ws[t] == QUEUED, s2.ws[t] >= GRANTED)
            for u in T:
                if u != t:
                    parts.append(o.Implies(
                        o.And(picked, s.older[t * n + u], s.ws[u] == QUEUED),
                        s2.ws[u] != QUEUED))
        return o.And(*parts)

    def closed_empty(s: View, o: Ops) -> Value:
        return o.Implies(s.closed, queued(s, o) == 0)

    def fault_reported(s: View, s2: View, o: Ops, action: object, params: object) -> Value:
        if not faults:
            return True
        hit = o.Or(*[o.And(s.faulty[t], s.ws[t] == QUEUED, s2.ws[t] != QUEUED) for t in T])
        return s2.raised == hit

    def fault_isolated(s: View, s2: View, o: Ops, action: object, params: object) -> Value:
        return o.And(*[o.Implies(o.And(s.ws[t] == QUEUED, s2.ws[t] >= GRANTED),
                                 s2.wakes[t] == 1) for t in T])

    return (
        _prop("WQ-QUEUE-EXACT", "invariant", queue_exact),
        _prop("WQ-PERMITS-CONSERVED", "invariant", conserved),
        _prop("WQ-NO-IDLE-PERMIT", "invariant", no_idle_permit),
        _prop("WQ-NO-LOST-NOTIFY", "step", no_lost_notify),
        _prop("WQ-NO-DOUBLE-WAKE", "invariant", no_double_wake),
        _prop("WQ-FIFO-HANDOFF", "step", fifo),
        _prop("WQ-CLOSED-EMPTY", "invariant", closed_empty),
        _prop("WQ-FAULT-REPORTED", "step", fault_reported),
        _prop("WQ-FAULT-ISOLATED", "step", fault_isolated),
    )


def aux_invariants(ts: TransitionSystem) -> list[Property]:
    """What makes the wait-queue properties inductive (each proved inductive with them).

    AUX-WQ-ORDER: the queue's order agrees with the ghost ``older`` (an earlier slot parked
    first, and of two queued waiters at most one parked before the other), which the FIFO step
    property needs; AUX-WQ-PREFIX: the slots below ``qlen`` hold task ids and ``qlen`` counts
    the QUEUED waiters; AUX-WQ-HELD-OUT: a task holding a permit is not
    waiting (a holder cannot park, a chosen waiter holds nothing until polled).
    """
    n = ts.bounds.n_tasks

    def order(s: View, o: Ops) -> Value:
        parts = []
        for i in range(n):
            for j in range(i + 1, n):
                for t in range(n):
                    for u in range(n):
                        if t != u:
                            parts.append(o.Implies(
                                o.And(j < s.qlen, s.q[j] == t, s.q[i] == u),
                                s.older[t * n + u]))
        for t in range(n):
            for u in range(t + 1, n):
                parts.append(o.Implies(
                    o.And(s.ws[t] == QUEUED, s.ws[u] == QUEUED),
                    o.Not(o.And(s.older[t * n + u], s.older[u * n + t]))))
        return o.And(*parts)

    def prefix(s: View, o: Ops) -> Value:
        return o.And(*[o.Implies(i < s.qlen, s.q[i] != n) for i in range(n)],
                     s.qlen == o.count([w == QUEUED for w in s.ws]))

    def held_out(s: View, o: Ops) -> Value:
        return o.And(*[o.Implies(s.held[t] == 1, s.ws[t] == OUT) for t in range(n)])

    return [
        Property("AUX-WQ-ORDER", "the queue's order is the parking order", "invariant", order),
        Property("AUX-WQ-PREFIX", "the queue's live prefix holds task ids, one per waiter",
                 "invariant", prefix),
        Property("AUX-WQ-HELD-OUT", "a permit holder is not waiting", "invariant", held_out),
    ]


@dataclass(frozen=True)
class WQMutant:
    """A one-edge mutant of the wait queue and the bug it stands for."""

    slug: str
    edges: WQEdges
    bug: str
    catches: tuple[str, ...]
    """Every property violated at ``bounds``: the bug's own first, then its consequences."""
    bounds: Bounds


WQ_MUTANTS: tuple[WQMutant, ...] = (
    WQMutant(
        "wq-cancel-swallows-grant", WQEdges(pass_on=False),
        "A waiter that was chosen and then cancelled before it ran keeps the grant: the permit "
        "(or notification) is lost and the next waiter parks for ever (asyncio's Lock before "
        "bpo-27585, Condition before 3.13).",
        ("WQ-PERMITS-CONSERVED", "WQ-NO-LOST-NOTIFY"), default_bounds(2),
    ),
    WQMutant(
        "wq-lifo", WQEdges(lifo=True),
        "The newest waiter is chosen first (a stack instead of a queue): old waiters starve.",
        ("WQ-FIFO-HANDOFF",), default_bounds(3),
    ),
    WQMutant(
        "wq-release-twice", WQEdges(release_to_pool_too=True),
        "release() hands the permit to a waiter and also returns it to the pool: two holders "
        "of a Lock.",
        ("WQ-PERMITS-CONSERVED",), default_bounds(2),
    ),
    WQMutant(
        "wq-notify-all-misses-newest", WQEdges(notify_all_misses_newest=True),
        "notify_all() works on a snapshot that misses the waiter that parked last (a waiter "
        "added while the wake-up runs): it sleeps through the broadcast.",
        ("WQ-NO-LOST-NOTIFY", "WQ-CLOSED-EMPTY"), default_bounds(2),
    ),
    WQMutant(
        "wq-wake-keeps-waiter", WQEdges(dequeue_on_wake=False),
        "A woken waiter is left in the queue, so the next wake goes to it again: one task is "
        "woken twice and another not at all.",
        ("WQ-NO-DOUBLE-WAKE", "WQ-QUEUE-EXACT", "WQ-PERMITS-CONSERVED", "WQ-NO-LOST-NOTIFY"),
        default_bounds(2),
    ),
    WQMutant(
        "wq-fault-swallowed", WQEdges(report_faults=False),
        "The exception of a raising waker is caught and dropped inside the queue: the caller "
        "of release/notify/close never learns its waker failed.",
        ("WQ-FAULT-REPORTED",), default_bounds(2, faults=1),
    ),
    WQMutant(
        "wq-fault-stops-wakes", WQEdges(fault_stops_wakes=True),
        "notify_all/close raise at the first waker that raises: the waiters behind it were "
        "taken out of the queue but are never woken (a lost wake for each).",
        ("WQ-FAULT-ISOLATED", "WQ-NO-DOUBLE-WAKE"), default_bounds(3, faults=1),
    ),
    WQMutant(
        "wq-fault-returns-permit", WQEdges(fault_returns_permit=True),
        "release() 'rolls back' when the chosen waiter's wake raises by putting the permit "
        "back in the pool, although the waiter keeps its grant: two holders of a Lock.",
        ("WQ-PERMITS-CONSERVED",), default_bounds(2, faults=1),
    ),
)


def changed_edges(edges: WQEdges) -> list[str]:
    """Names of the :class:`WQEdges` fields that differ from the reference wait queue."""
    return [f.name for f in fields(WQEdges) if getattr(edges, f.name) != getattr(WQ_EDGES, f.name)]
