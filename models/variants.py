"""The registry of model variants: what ``refexec verify`` checks and what every checker expects.

* :data:`VARIANTS` — name -> builder ``(Bounds) -> TransitionSystem``: ``"reference"`` (the design
  of ``refexec.Executor``), ``"seed"`` (the seed's design, counter-abstracted, at capacity 100),
  and one ``"mutant:<slug>"`` per mutant of :mod:`refexec.models.mutants`; ``"waitqueue"``
  (the wait queue of the sync primitives, :mod:`refexec.models.waitqueue`) and one
  ``"mutant:wq-<slug>"`` per wait-queue mutant.
* :data:`MUTANTS` — the mutant variant names, in a fixed order.
* :func:`default_bounds` — the small bounds the default ``refexec verify`` run uses.
* :data:`EXPECTED` — variant -> property ID -> ``True`` (expected to hold) / ``False`` (expected
  to be violated) at the default bounds. Every mutant expects at least one ``False``: that is
  how "caught" is judged. The seed expects its findings.
* :data:`WITNESSES` — variant -> states that must be reachable (vacuity guards). Every action
  firing somewhere is checked separately (``ExhaustiveResult.never_fired``), against
  :data:`MAY_NOT_FIRE`.
"""

from __future__ import annotations

from collections.abc import Callable

from refexec.models import reference, seed, waitqueue
from refexec.models.mutants import MUTANT_SPECS
from refexec.models.properties import CLOSE_IDS, DRIVE_IDS, DRIVER_IDS, IO_IDS, Witness
from refexec.models.reference import Loop
from refexec.models.system import Bounds, Ops, TransitionSystem, Value, View
from refexec.state import TaskState

__all__ = [
    "EXPECTED",
    "MAY_NOT_FIRE",
    "TERMINATES",
    "MUTANTS",
    "VARIANTS",
    "WITNESSES",
    "build",
    "default_bounds",
    "deep_bounds",
    "expected_violations",
]

S = TaskState


def _reference(bounds: Bounds) -> TransitionSystem:
    return reference.build(bounds)


def _seed(bounds: Bounds) -> TransitionSystem:
    return seed.build(bounds)


def _mutant_builder(i: int) -> Callable[[Bounds], TransitionSystem]:
    spec = MUTANT_SPECS[i]

    def build_mutant(bounds: Bounds) -> TransitionSystem:
        return reference.build(bounds, spec.edges, name=f"mutant:{spec.slug}")

    build_mutant.__doc__ = f"Mutant {spec.slug}: {spec.edge}. {spec.bug}"
    return build_mutant


def _waitqueue(bounds: Bounds) -> TransitionSystem:
    return waitqueue.build(bounds)


def _wq_mutant_builder(i: int) -> Callable[[Bounds], TransitionSystem]:
    spec = waitqueue.WQ_MUTANTS[i]

    def build_mutant(bounds: Bounds) -> TransitionSystem:
        return waitqueue.build(bounds, spec.edges, name=f"mutant:{spec.slug}")

    build_mutant.__doc__ = f"Wait-queue mutant {spec.slug}: {spec.bug}"
    return build_mutant


WQ_MUTANTS: list[str] = [f"mutant:{m.slug}" for m in waitqueue.WQ_MUTANTS]
"""The wait-queue mutants (:data:`refexec.models.waitqueue.WQ_MUTANTS`), also in MUTANTS."""

MUTANTS: list[str] = [f"mutant:{m.slug}" for m in MUTANT_SPECS] + WQ_MUTANTS

def _driver(bounds: Bounds) -> TransitionSystem:
    return reference.build(bounds, name="driver")


def _threads(bounds: Bounds) -> TransitionSystem:
    return reference.build(bounds, name="threads")


def _reference_any(bounds: Bounds) -> TransitionSystem:
    return reference.build(bounds, name="reference-any")


def _driver_any(bounds: Bounds) -> TransitionSystem:
    return reference.build(bounds, name="driver-any")


VARIANTS: dict[str, Callable[[Bounds], TransitionSystem]] = {
    "reference": _reference,
    "reference-any": _reference_any,
    "driver": _driver,
    "driver-any": _driver_any,
    "threads": _threads,
    "seed": _seed,
    **{f"mutant:{m.slug}": _mutant_builder(i) for i, m in enumerate(MUTANT_SPECS)},
    "waitqueue": _waitqueue,
    **{name: _wq_mutant_builder(i) for i, name in enumerate(WQ_MUTANTS)},
}


def default_bounds(variant: str) -> Bounds:
    """The bounds of the default ``refexec verify`` run for ``variant`` (small, a few seconds).

    reference: 2 tasks, every feature on (other threads, spawners, joins), 2 polls per task,
    1 held waker and 1 posted wake per task (about 24k states). Mutants: the smallest instance
    that exhibits the bug (often 1 task, only the features the bug needs). Seed: queue capacity
    100 as in the seed, 1 task (the findings need one), up to 101 wakes in one poll.
    """
    if variant == "reference":
        return reference.default_bounds(2)
    if variant == "reference-any":  # the scheduling policy 'any': joins left to 'reference'
        return reference.default_bounds(2, join=0, policy=1)
    if variant == "threads":  # other threads' cancels, the round bound R = 1, the drive calls,
        # and close()
        return reference.default_bounds(1, round=1, rcancel=1, drive=1, close=1)
    if variant == "driver":  # timers, I/O and the drive calls (stalled: nothing due)
        return reference.default_bounds(1, timers=1, io=1, drive=1)
    if variant == "driver-any":  # policy 'any' with timers and I/O: a poll before a due one
        return reference.default_bounds(1, timers=1, io=1, policy=1)
    if variant == "seed":
        return seed.default_bounds()
    if variant == "waitqueue":  # with waiters whose wakers raise (WQ-FAULT-*)
        return waitqueue.default_bounds(faults=1)
    for w in waitqueue.WQ_MUTANTS:
        if variant == f"mutant:{w.slug}":
            return w.bounds
    for m in MUTANT_SPECS:
        if variant == f"mutant:{m.slug}":
            return m.bounds
    raise KeyError(f"unknown variant {variant!r}; known: {sorted(VARIANTS)}")


def deep_bounds(variant: str) -> Bounds:
    """Larger bounds for ``--deep`` runs (3 tasks for the reference; minutes, not seconds)."""
    if variant == "driver":  # every feature on; the clock's horizon 1 keeps it to minutes
        return reference.default_bounds(2, timers=1, io=1, horizon=1)
    if variant == "driver-any":
        return reference.default_bounds(2, timers=1, io=1, horizon=1, policy=1)
    if variant == "waitqueue" or variant in WQ_MUTANTS:
        return waitqueue.default_bounds(4, permits=2, faults=1)
    if variant == "threads":
        return reference.default_bounds(2, round=1, rcancel=1, close=1)
    if variant == "reference-any":
        return reference.default_bounds(3, policy=1)
    if variant == "reference" or variant.startswith("mutant:"):
        base = default_bounds(variant)
        return reference.default_bounds(max(3, base.n_tasks), **dict(base.extra))
    if variant == "seed":
        return seed.default_bounds(n_tasks=3)
    raise KeyError(variant)


def build(variant: str, bounds: Bounds | None = None) -> TransitionSystem:
    """``VARIANTS[variant](bounds or default_bounds(variant))``."""
    return VARIANTS[variant](bounds if bounds is not None else default_bounds(variant))


# -- expectations -----------------------------------------------------------------------------

_REF_IDS = (
    "EX-FINAL", "EX-ONE-POLLER", "EX-NO-LOST-WAKE", "EX-QUEUE-EXACT", "EX-RUN-END",
    "EX-SLEEP-SAFE", "EX-NO-SELF-BLOCK", "EX-LOST-REPORTED", "EX-FIFO", "EX-POLL-COUNT",
    "EX-JOIN-RELEASED", "EX-CANCEL-APPLIED", "EX-PROGRESS",
)
_SEED_IDS = (
    "EX-FINAL", "EX-ONE-POLLER", "EX-QUEUE-EXACT", "EX-RUN-END", "EX-SLEEP-SAFE",
    "EX-NO-SELF-BLOCK", "EX-LOST-REPORTED", "EX-PROGRESS",
)
# The seed's findings: duplicate / stale entries, a finished task's waker keeping run() open, the
# loop blocking on its own full channel (stuck there for ever: EX-PROGRESS), a pending task freed
# in silence. Its fair runs are all finite (EX-TERMINATES holds).
_SEED_VIOLATES = ("EX-QUEUE-EXACT", "EX-SLEEP-SAFE", "EX-NO-SELF-BLOCK", "EX-LOST-REPORTED",
                  "EX-PROGRESS")

# Violations at the default bounds beyond the mutant's primary catch (``MutantSpec.catches``),
# each a consequence of the same bug found by the exhaustive checker and kept deliberately:
_ALSO_VIOLATED: dict[str, tuple[str, ...]] = {
    # the duplicate entry fills the queue array (blocking) and overtakes the other task
    "double-enqueue": ("EX-NO-SELF-BLOCK", "EX-FIFO"),
    # a task lost while the decision is unlocked / the loop sleeps unsignalled stays unreported
    "unlocked-decision": ("EX-LOST-REPORTED",),
    # the nested poll returns to DISPATCH while the outer poll is still running (and the loop
    # can then be left waiting with the outer poll never resumed: stuck)
    "reentrant-poll": ("EX-RUN-END", "EX-PROGRESS"),
    # the loop sleeps unsignalled with no sender left: for ever (a termination finding)
    "drop-no-unpark": ("EX-LOST-REPORTED", "EX-PROGRESS"),
    # the phantom waker is not a held one: the loop sleeps with an IDLE task it does not report
    "spawn-phantom-waker": ("EX-SLEEP-SAFE", "EX-LOST-REPORTED"),
    # EX-RUN-END counts an armed timer as a sender (it holds a waker): the same bug, seen twice
    "exit-with-timer-armed": ("EX-RUN-END",),
    "exit-with-io-registered": ("EX-RUN-END",),
    # the wake posted while the loop decided is in the inbox when it returns, or jumps the clock
    "wake-byte-unlocked": ("EX-RUN-END", "EX-CLOCK-JUMP"),
    # the IDLE task close() left is lost once the loop is RETURNED, and never reported
    "close-skips-idle": ("EX-LOST-REPORTED",),
    # block_on() shares the idle path too: it decides with its target final
    "stalled-sleeps": ("EX-BLOCK-ON-RETURN",),
}


def _expect(ids: tuple[str, ...], violated: tuple[str, ...]) -> dict[str, bool]:
    return {pid: pid not in violated for pid in ids}


def _ids(bounds: Bounds) -> tuple[str, ...]:
    ex = bounds.extra
    any_policy = ex.get("policy", 0) == 1  # FIFO and promptness are the policy's choice
    ids = tuple(p for p in _REF_IDS if not (p == "EX-FIFO" and any_policy))
    if ex.get("timers", 0):
        ids = (*ids, *DRIVER_IDS, *(IO_IDS if ex.get("io", 0) else ()))
        if any_policy:
            ids = tuple(p for p in ids if p not in ("EX-TIMER-PROMPT", "EX-IO-PROMPT"))
    if ex.get("round", 0) and ex.get("remote", 1):
        ids = (*ids, "EX-INBOX-PROMPT")
    if ex.get("drive", 0):
        ids = (*ids, *DRIVE_IDS)
    if ex.get("close", 0):
        ids = (*ids, *CLOSE_IDS)
    return ids


EXPECTED: dict[str, dict[str, bool]] = {
    "reference": _expect(_REF_IDS, ()),
    "reference-any": _expect(_ids(default_bounds("reference-any")), ()),
    "driver": _expect((*_REF_IDS, *DRIVER_IDS, *IO_IDS, *DRIVE_IDS), ()),
    "driver-any": _expect(_ids(default_bounds("driver-any")), ()),
    "threads": _expect(_ids(default_bounds("threads")), ()),
    "seed": _expect(_SEED_IDS, _SEED_VIOLATES),
    **{
        f"mutant:{m.slug}": _expect(_ids(m.bounds),
                                    (*m.catches, *_ALSO_VIOLATED.get(m.slug, ())))
        for m in MUTANT_SPECS
    },
    "waitqueue": _expect(waitqueue.WQ_IDS, ()),
    **{f"mutant:{m.slug}": _expect(waitqueue.WQ_IDS, m.catches) for m in waitqueue.WQ_MUTANTS},
}


TERMINATES: dict[str, bool] = {
    v: True for v in VARIANTS if not (v == "waitqueue" or v in WQ_MUTANTS)
}
"""variant -> EX-TERMINATES expected (no infinite run of fair actions). Every executor variant
has only finite fair runs at its default bounds, the seed included (its non-termination is a
stuck state, EX-PROGRESS: the loop blocked on its own channel); the wait queue has no run loop.
Kept apart from :data:`EXPECTED`, whose IDs are the systems' own state and step properties."""


def expected_violations(variant: str) -> list[str]:
    """The property IDs ``variant`` is expected to violate at its default bounds."""
    return [pid for pid, holds in EXPECTED[variant].items() if not holds]


# -- witnesses --------------------------------------------------------------------------------


def _any(n: int, o: Ops, f: Callable[[int], Value]) -> Value:
    return o.Or(*[f(t) for t in range(n)])


def _reference_witnesses(n: int) -> list[Witness]:
    idle, notified = int(S.IDLE), int(S.NOTIFIED)

    def inbox_any(s: View, o: Ops) -> Value:
        return _any(n, o, lambda t: s.inbox[t] > 0)

    return [
        Witness("woken-while-running", "a task is NOTIFIED: woken during its own poll",
                lambda s, o: _any(n, o, lambda t: s.st[t] == notified)),
        Witness("asleep-with-wake-in-flight",
                "the run loop is asleep while a wake posted by another thread waits in the "
                "inbox (the signal is on its way)",
                lambda s, o: o.And(s.loop == Loop.ASLEEP, inbox_any(s, o))),
        Witness("decision-holds-lock",
                "the loop is deciding (lock held) while a task still has a live waker that "
                "another thread could use",
                lambda s, o: o.And(s.loop == Loop.DECIDING, _any(n, o, lambda t: s.wakers[t] > 0))),
        Witness("unwakeable-task",
                "a task is IDLE with no live waker and nothing in flight (about to be reported)",
                lambda s, o: _any(n, o, lambda t: o.And(
                    s.st[t] == idle, s.wakers[t] == 0, s.inbox[t] == 0,
                    *[s.join[u] != t for u in range(n)]))),
        Witness("cancel-deferred", "a cancel was requested during the task's own poll",
                lambda s, o: _any(n, o, lambda t: s.creq[t])),
        Witness("join-waiting", "a task awaits another task's JoinHandle",
                lambda s, o: _any(n, o, lambda t: s.join[t] != n)),
        Witness("spawn-in-flight", "a spawn posted from another thread waits in the inbox",
                lambda s, o: _any(n, o, lambda t: o.And(s.st[t] == reference.UNSPAWNED,
                                                        s.inbox[t] > 0))),
        Witness("repolled", "a task was polled twice",
                lambda s, o: _any(n, o, lambda t: s.polls[t] == 2)),
        Witness("all-queued", "every task is in the ready queue at once",
                lambda s, o: s.qlen == n),
        Witness("returned-after-work", "run() returned after a task completed",
                lambda s, o: o.And(s.loop == Loop.RETURNED,
                                   _any(n, o, lambda t: s.st[t] == int(S.COMPLETE)))),
    ]


def _waitqueue_witnesses(n: int) -> list[Witness]:
    Q, G, N, B = waitqueue.QUEUED, waitqueue.GRANTED, waitqueue.NOTIFIED, waitqueue.BROADCAST
    return [
        Witness("granted-with-waiter", "a waiter holds a handed-over permit while another waits "
                "(the state in which cancelling it must pass the permit on)",
                lambda s, o: o.And(_any(n, o, lambda t: s.ws[t] == G),
                                   _any(n, o, lambda t: s.ws[t] == Q))),
        Witness("notified-with-waiter", "a notified waiter that has not run while another waits",
                lambda s, o: o.And(_any(n, o, lambda t: s.ws[t] == N),
                                   _any(n, o, lambda t: s.ws[t] == Q))),
        Witness("all-but-holder-queued", "every task but the permit's holder waits",
                lambda s, o: s.qlen == n - 1),
        Witness("closed-after-wake", "the queue was closed with a woken waiter not yet run",
                lambda s, o: o.And(s.closed, _any(n, o, lambda t: s.ws[t] == B))),
        Witness("raising-wake-among-others", "a broadcast whose caller got a waker's "
                "exception while the other waiters were woken",
                lambda s, o: o.And(s.raised,
                                   o.count([s.ws[t] == B for t in range(n)]) >= 2)),
        Witness("broadcast-then-parked", "a broadcast waiter has not run while a newer one waits "
                "(cancelling it must not release the newer one)",
                lambda s, o: o.And(_any(n, o, lambda t: s.ws[t] == B),
                                   _any(n, o, lambda t: s.ws[t] == Q))),
    ]


def _driver_witnesses() -> list[Witness]:
    def armed_idle(s: View, o: Ops) -> Value:
        return o.And(s.armed[0], s.st[0] == int(S.IDLE))

    return [
        Witness("asleep-timer-armed", "the loop parks (with a timeout) while a timer is armed",
                lambda s, o: o.And(s.loop == Loop.ASLEEP, s.armed[0])),
        Witness("timer-sleeper", "a task is IDLE with only its timer to wake it",
                lambda s, o: o.And(armed_idle(s, o), s.wakers[0] == 0)),
        Witness("timer-due-while-deciding",
                "time passed while the loop decided: a timer is due in the locked decision",
                lambda s, o: o.And(s.loop == Loop.DECIDING, s.armed[0],
                                   s.deadline[0] <= s.clock)),
        Witness("returned-after-sleep", "run() returned at the clock's horizon after a sleep",
                lambda s, o: o.And(s.loop == Loop.RETURNED, s.clock == 2,
                                   s.st[0] == int(S.COMPLETE))),
        Witness("parked-in-select", "the loop parks with only an I/O registration to wake it",
                lambda s, o: o.And(s.loop == Loop.ASLEEP, o.Not(s.armed[0]), s.wakers[0] == 0,
                                   s.reg[0] == reference.Io.ARMED)),
        Witness("io-with-timeout", "a task waits for its fd and its timer at once (a timeout "
                "around a readiness wait)",
                lambda s, o: o.And(armed_idle(s, o), s.reg[0] == reference.Io.ARMED)),
        Witness("ready-ends-park", "an fd became ready while the loop was parked: the park "
                "is signalled",
                lambda s, o: o.And(s.loop == Loop.ASLEEP, s.signal,
                                   s.reg[0] == reference.Io.READY)),
    ]


def _threads_witnesses() -> list[Witness]:
    return [
        Witness("cancel-posted-while-polled", "another thread's cancel waits in the inbox while "
                "its task is being polled (applied once the poll returns)",
                lambda s, o: o.And(s.cpost[0], s.st[0] == int(S.RUNNING))),
        Witness("asleep-with-cancel-posted", "the loop sleeps, signalled, with a posted cancel",
                lambda s, o: o.And(s.loop == Loop.ASLEEP, s.cpost[0])),
        Witness("round-full-inbox-waiting", "a round is full (R polls) while a message waits",
                lambda s, o: o.And(s.rnd == 1, s.pw == 1, s.inbox[0] > 0)),
        Witness("close-drains-posted-spawn", "close() finds a spawn another thread posted "
                "before the closed flag (it drains it, then cancels the task)",
                lambda s, o: o.And(s.loop == Loop.CLOSING, s.inbox[0] > 0,
                                   s.st[0] == reference.UNSPAWNED)),
        Witness("close-cancels-idle", "close() is about to cancel an IDLE task whose waker "
                "another thread holds",
                lambda s, o: o.And(s.loop == Loop.CLOSING, s.st[0] == int(S.IDLE),
                                   s.wakers[0] > 0)),
        Witness("closed-wake-dropped", "another thread holds a waker after close() ended (its "
                "wake will be dropped)",
                lambda s, o: o.And(s.closed, s.loop == Loop.RETURNED, s.wakers[0] > 0)),
    ]


def _any_witnesses() -> list[Witness]:
    return [
        Witness("second-polled-first", "the task behind the head of the queue is polled first "
                "(the policy 'any' overtakes)",
                lambda s, o: o.And(s.qlen == 1, s.st[0] == int(S.SCHEDULED), s.q[0] == 0,
                                   s.st[1] != int(S.SCHEDULED), s.done[0] == 0,
                                   s.done[1] == 1)),
    ]


WITNESSES: dict[str, list[Witness]] = {
    "reference": _reference_witnesses(2),
    "reference-any": _any_witnesses(),
    "driver": _driver_witnesses(),
    "driver-any": _driver_witnesses(),
    "threads": _threads_witnesses(),
    "waitqueue": _waitqueue_witnesses(waitqueue.default_bounds().n_tasks),
    "seed": seed.witnesses(seed.default_bounds()),
    **{name: [] for name in MUTANTS},
}
"""variant -> witnesses reachable at its default bounds (mutants: none required; their
vacuity is the reference's, and their catch is their counterexample)."""

def _may_not_fire(slug: str, local_only: bool) -> frozenset[str]:
    out = {"unpark"} if local_only else set()
    if slug == "stall-on-poll-result":
        out.add("lost")  # the mutant decides before the loop gets to report the lost task
    if slug == "inbox-drained-when-idle":  # its instance has no held wakers (wakers = 0)
        out |= {"wake", "waker_clone", "waker_drop"}
    return frozenset(out)


MAY_NOT_FIRE: dict[str, frozenset[str]] = {
    "reference": frozenset(),
    "reference-any": frozenset(),
    "driver": frozenset(),
    "driver-any": frozenset(),
    "threads": frozenset(),
    "seed": frozenset(),
    **{
        f"mutant:{m.slug}": _may_not_fire(m.slug, not m.bounds.extra.get("remote", 1))
        for m in MUTANT_SPECS
    },
    "waitqueue": frozenset(),
    **{name: frozenset() for name in WQ_MUTANTS},
}
"""Actions allowed never to fire at a variant's default bounds (with no other threads, nothing
signals the loop; a mutant that skips the loop's checks may never report a lost task)."""


def witnesses_for(variant: str) -> list[Witness]:
    """The witnesses of ``variant`` (``WITNESSES[variant]``)."""
    return WITNESSES[variant]
