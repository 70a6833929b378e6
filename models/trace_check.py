"""Trace validation: is a recorded run of an executor a behaviour of the model?

An executor run with ``trace=Trace()`` records what it did, event by event (``refexec.trace``).
:func:`check_trace` replays those events on the model's concrete interpretation
(:class:`~refexec.models.concrete.ConcreteModel`) through the refinement mapping declared once
in :mod:`refexec.models.refinement` (the lockstep oracle reads the same declaration): each event
has one or more *readings* (model action sequences, each for the threads it may come from),
which must be *enabled* in the state the model is in, and whose effect must match what the
event reports (poll number, implied task state). The first event no reading accepts makes the
trace invalid; the report names the event, the model state, and for each reading tried, why its
guard failed.

Why a set of explanations: what the model distinguishes is not all in the trace (which handle
woke a task, whether a wake on the loop thread was posted, the loop's unrecorded sleep/return
decision, a cancel deferred to the end of a poll). The checker keeps the set of model states
that explain the trace so far (usually one or two) and advances all of them. Implicit actions
(the seed loop's ``recv()``: ``discard`` and the take that starts a poll; the reference loop's
``idle_check``/``sleep``/``unpark`` and the untraced ``Spawner`` handles) are interleaved where
the declaration says the executor can take them; the seed's are *urgent* (taken as soon as
enabled, which dominates taking them later; see :class:`~refexec.models.refinement.Implicit`).

Scale. The trace is consumed in one pass (any iterable, or a JSON-lines file read line by line)
and never held. Model states are interned and transitions memoized, and states are kept
*canonical*: a reference task slot is recycled once its task is finished and nothing (waker,
queue entry, posted wake) refers to it, and the seed's ghost counters are normalised (see
:meth:`_SeedChecker.canon`). So the model is as large as the tasks alive at once, not the tasks
ever spawned, and a long trace of a steady workload revisits the same few states: the cost per
event is a handful of dictionary look-ups once the states are known.

Beyond validity, the checker reports the properties (``spec/SPEC.md`` IDs) that every
explanation violates, and at which event. A trace of ``SimpleExecutor`` that ends in its
``DeadlockError`` is *valid* against the ``seed`` model (the model predicts exactly that block)
and reported with ``EX-NO-SELF-BLOCK``; against the ``reference`` model it is invalid.

Timers. The timer driver's events (``timer_arm``/``timer_fire``/``timer_cancel``,
``clock_jump``) are read as the reference model's driver actions, in a model with the driver
from the first such event on. The trace gives instants (deadlines, a jump's target), the model
a clock of levels: the checker keeps the instants that matter (armed deadlines, the latest the
clock is known to have reached) in order (:class:`_TimeLevels`) and renumbers every
explanation's clock and deadlines when one comes or goes; time passing (the model's ``tick``)
is taken only before the ``timer_fire`` that needs it. A task's later timers are held waker
clones in the model until its earliest has gone (refinement.REFERENCE.environment).

I/O. ``io_register`` / ``io_ready`` / ``io_cancel`` are the model's reactor actions (``reg``),
in a model with the reactor from the first such event on; the kernel's ``fd_ready`` is never
recorded and is taken only before the ``io_ready`` that needs it (as ``tick`` before a fire).

A trace that stops inside a run (a ``run_start`` without its ``run_end``) is checked as a
*prefix*: every event is checked, but the result is ``complete=False`` and reported INCOMPLETE,
never VALID; such a result is falsy.
"""

from __future__ import annotations

import itertools
import json
import threading
from bisect import bisect_left, bisect_right, insort
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from operator import add, itemgetter
from pathlib import Path
from typing import Any, cast

from refexec.models import reference as ref_model
from refexec.models import seed as seed_model
from refexec.models.concrete import ConcreteModel, Frozen
from refexec.models.reference import Drive, Io, Loop
from refexec.models.refinement import (
    DRIVE_MODES,
    LOOP,
    REFERENCE,
    SEED,
    THREAD,
    Declaration,
    Reading,
)
from refexec.models.system import TransitionSystem
from refexec.state import TRANSITIONS, TaskEvent, TaskState
from refexec.trace import CLOSE_EVENTS, DRIVER_EVENTS, Trace, TraceEvent

__all__ = [
    "VARIANTS",
    "PropertyHit",
    "TraceCheckError",
    "TraceCheckResult",
    "TraceViolation",
    "check_trace",
    "iter_events",
    "load_events",
]

VARIANTS = ("reference", "reference-any", "seed")
"""The model variants a trace can be checked against (the two executors' designs; and
``reference-any``: refexec.Executor under a scheduling policy, ``Executor(policy=...)``, whose
loop may poll any queued task, not only the head: the reference model with ``policy`` = 1, where
every property but EX-FIFO holds)."""

MAX_EXPLANATIONS = 20_000
"""Bound on the set of explaining states; past it the check gives up (``TraceCheckError``)."""

MAX_STATES = 400_000
"""Interned model states kept before the tables are rebuilt from the live explanations only
(bounds memory on traces that keep reaching new states)."""

_BIG = 1 << 40
"""The unbounded parameters (poll counts, held wakers, seed task supply): the concrete
interpretation only checks a value against its sort, so a large bound costs nothing."""


class TraceCheckError(ValueError):
    """The trace cannot be checked at all (unknown variant, malformed events, too ambiguous)."""


# ---------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TraceViolation:
    """Why the trace is not a behaviour of the model: the first event nothing explains."""

    index: int
    """0-based index of the offending event in the trace (reports show it as #index+1: events
    are numbered from 1 everywhere a person reads them, as ``refexec run`` numbers them)."""
    event: TraceEvent
    state: str
    """The model state before the event (the first of the explanations, shown readably)."""
    reason: str
    explanations: int
    """How many model states explained the trace up to the event (all were tried)."""
    before: tuple[tuple[int, TraceEvent], ...] = ()
    """The few events before the offending one, with their indices (context for the report)."""

    def format(self) -> str:
        lines = [f"event #{self.index + 1}: {self.event.to_json()}"]  # shown from 1, as run
        lines.append(f"  why: {self.reason}")
        lines.append(f"  model state before it: {self.state}")
        if self.explanations > 1:
            lines.append(f"  ({self.explanations} model states explained the trace so far; "
                         "none accepts this event; the reason is given for the first)")
        if self.before:
            lines.append("  preceding events:")
            lines.extend(f"    #{i + 1}: {e.to_json()}" for i, e in self.before)
        return "\n".join(lines)


@dataclass(frozen=True)
class PropertyHit:
    """A property violated on every explanation of the trace, first at event ``index``."""

    id: str
    index: int
    title: str

    def format(self) -> str:
        return f"{self.id} ({self.title}) violated at event #{self.index + 1}"


@dataclass(frozen=True)
class TraceCheckResult:
    """The verdict of :func:`check_trace`.

    ``ok``: no event contradicts the model (the trace is valid *as far as it goes*).
    ``complete``: the trace does not stop inside a run (every ``run_start`` has its
    ``run_end``). Truthy exactly when both hold: a cut trace is a valid prefix, not a valid run.
    """

    variant: str
    events: int
    violation: TraceViolation | None
    properties: tuple[PropertyHit, ...] = ()
    notes: tuple[str, ...] = ()
    explanations: int = 0
    tasks: Mapping[int, int] = field(default_factory=dict)
    """Trace task id -> model task index, for the tasks still live at the end (slots recycle)."""
    final_state: str = ""
    complete: bool = True
    spawned: int = 0
    """How many tasks the trace spawned."""
    slots: int = 0
    """The most tasks the model had to hold at once: the reference model's task slots (grown
    by doubling), the seed checker's most live tasks. Bounded by the tasks alive at once, not
    by the tasks ever spawned."""

    @property
    def ok(self) -> bool:
        return self.violation is None

    @property
    def valid(self) -> bool:
        return self.ok and self.complete

    def __bool__(self) -> bool:
        return self.valid

    def violated(self) -> list[str]:
        """IDs of the properties every explanation of the trace violates."""
        return [p.id for p in self.properties]

    def report(self) -> str:
        """A human-readable verdict (what ``refexec check-trace`` prints)."""
        what = f"{self.events} events, {self.spawned} task(s)"
        if not self.ok:
            head = f"trace INVALID against the '{self.variant}' model"
        elif not self.complete:
            head = (f"trace INCOMPLETE against the '{self.variant}' model: {what}; a run "
                    "started and the trace ends before its run_end, so only the prefix was "
                    "checked (valid as a prefix)")
        else:
            head = f"trace VALID against the '{self.variant}' model: {what}"
        lines = [head]
        if self.violation is not None:
            lines.append(self.violation.format())
        if self.properties:
            lines.append("properties violated along the trace (on every explanation):")
            lines.extend(f"  {p.format()}" for p in self.properties)
        elif self.ok:
            lines.append("no property of the model is violated along the trace")
        lines.extend(f"note: {n}" for n in self.notes)
        if self.ok and self.final_state:
            lines.append(f"final model state: {self.final_state}")
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Interned states and memoized transitions
# ---------------------------------------------------------------------------------------------

Hits = tuple[tuple[str, int], ...]
"""Properties violated on a candidate's path: (property id, first event index), sorted."""


def _merge_hits(a: Hits, b: Hits) -> Hits:
    """Two paths reach the same candidate: keep what both violate (the charitable reading)."""
    if a == b:
        return a
    db = dict(b)
    return tuple(sorted((pid, min(i, db[pid])) for pid, i in a if pid in db))


def _add_hits(h: Hits, ids: Iterable[str], index: int) -> Hits:
    d = dict(h)
    for pid in ids:
        d.setdefault(pid, index)
    return tuple(sorted(d.items()))


_CANON_IDS = itertools.count()

_MACHINES: dict[tuple[Any, ...], _Machine] = {}
"""Machines by (variant, bounds, properties), kept across checks: a later trace of the same
executor starts with the states and transitions the earlier ones taught (bounded by
:data:`MAX_STATES` per machine)."""


def _machine(key: tuple[Any, ...], build: Callable[[], TransitionSystem], props: bool,
             canon: Callable[[dict[str, Any]], dict[str, Any]], fresh: bool = False) -> _Machine:
    key = (threading.get_ident(), *key)  # a machine's tables are never shared by threads
    m = _MACHINES.get(key)
    if m is None or fresh or m.full():
        if len(_MACHINES) > 16:
            _MACHINES.clear()
        m = _MACHINES[key] = _Machine(build(), props, canon)
    return m


def _identity(s: dict[str, Any]) -> dict[str, Any]:
    return s


class _Machine:
    """One model's concrete interpretation with interned states and memoized steps.

    A state is an int (its index in ``states``); ``step(sid, ai)`` is the successor by action
    instance ``ai`` (an index into ``ConcreteModel.instances``) with the properties the
    transition violates, or None when the guard is false. Each distinct transition is evaluated
    once by the generic interpreter; after that it is a dictionary look-up.
    """

    def __init__(self, system: TransitionSystem, props: bool,
                 canon: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
        self.system = system
        self.model = ConcreteModel(system)
        self.props = props
        self.canon = canon
        self.pos = {name: i for i, name in enumerate(self.model.names)}
        self.ai: dict[tuple[Any, ...], int] = {}
        for i, (a, p) in enumerate(self.model.instances):
            key = (a.name, *p.values())
            self.ai[key] = i
        self.na = len(self.model.instances)
        self.states: list[Frozen] = []
        self.ids: dict[Frozen, int] = {}
        self.memo: dict[int, tuple[int, tuple[str, ...]] | None] = {}
        self.closure_memo: dict[tuple[int, bool], tuple[tuple[int, tuple[str, ...]], ...]] = {}
        self.reset_memo: dict[tuple[int, int], int] = {}
        self.inv_memo: dict[int, tuple[str, ...]] = {}
        self.event_memo: dict[tuple[Any, ...], Any] = {}
        """Whole events: (candidates, event shape) -> (candidates after, slot freed, the freed
        task's final state); see :meth:`_ReferenceChecker.recall`."""
        self.canon_ids: dict[tuple[Any, ...], int] = {}

    def canon_id(self, canon: tuple[Any, ...]) -> int:
        """A small int naming a renamed seed candidate set; ids are never reused (a cleared
        table only makes later look-ups miss)."""
        cid = self.canon_ids.get(canon)
        if cid is None:
            if len(self.canon_ids) > MAX_STATES:
                self.canon_ids.clear()
            cid = self.canon_ids[canon] = next(_CANON_IDS)
        return cid

    def full(self) -> bool:
        return len(self.states) > MAX_STATES

    def intern(self, frozen: Frozen) -> int:
        sid = self.ids.get(frozen)
        if sid is None:
            sid = self.ids[frozen] = len(self.states)
            self.states.append(frozen)
        return sid

    def intern_state(self, state: dict[str, Any]) -> int:
        return self.intern(self.model.freeze(self.canon(state)))

    def val(self, sid: int, name: str) -> Any:
        return self.states[sid][self.pos[name]]

    def thaw(self, sid: int) -> dict[str, Any]:
        return self.model.thaw(self.states[sid])

    def step(self, sid: int, ai: int) -> tuple[int, tuple[str, ...]] | None:
        key = sid * self.na + ai
        try:
            return self.memo[key]
        except KeyError:
            pass
        m = self.model
        s = m.thaw(self.states[sid])
        action, params = m.instances[ai]
        out: tuple[int, tuple[str, ...]] | None = None
        if m.is_enabled(s, action, params):
            nxt = m.successor(s, action, params)
            bad: tuple[str, ...] = ()
            nid = self.intern_state(nxt)
            if self.props:
                bad = self.invariants(nid) + tuple(m.check_step(s, nxt, action, params))
            out = (nid, bad)
        self.memo[key] = out
        return out

    def invariants(self, sid: int) -> tuple[str, ...]:
        """The invariants violated in a state: evaluated once per distinct state."""
        got = self.inv_memo.get(sid)
        if got is None:
            got = self.inv_memo[sid] = tuple(self.model.check(self.thaw(sid)))
        return got

    def label(self, ai: int) -> str:
        a, p = self.model.instances[ai]
        return a.label(p)

    def show(self, sid: int) -> str:
        return self.model.show(self.thaw(sid), ghosts=False)


# ---------------------------------------------------------------------------------------------
# The driver: one streaming pass
# ---------------------------------------------------------------------------------------------


class _Checker:
    """What both variants share: the candidate set, the failure report, the verdict."""

    variant = ""
    decl: Declaration

    def __init__(self) -> None:
        self.index = 0
        self.reasons: list[str] = []
        self.notes: list[str] = []
        self.spawned = 0
        self.open_drive = False

    # to be provided
    def initial(self) -> dict[Any, Hits]:
        raise NotImplementedError

    def advance(self, cand: Any, hits: Hits, ev: TraceEvent) -> Iterator[tuple[Any, Hits]]:
        raise NotImplementedError

    def before_event(self, ev: TraceEvent, cands: dict[Any, Hits]) -> dict[Any, Hits]:
        """Whole-set work before an event (a slot for a spawned task, a larger model)."""
        return cands

    def after_event(self, ev: TraceEvent, cands: dict[Any, Hits]) -> dict[Any, Hits]:
        return cands

    def grow(self, cands: dict[Any, Hits]) -> dict[Any, Hits]:
        """A larger model for an event that needs it (:class:`_Grow`)."""
        raise NotImplementedError

    def show(self, cand: Any) -> str:
        raise NotImplementedError

    def task_map(self) -> dict[int, int]:
        return {}

    def titles(self) -> dict[str, str]:
        raise NotImplementedError

    def slots(self) -> int:
        raise NotImplementedError

    def compact(self, cands: dict[Any, Hits]) -> dict[Any, Hits]:
        return cands

    def recall(self, ev: TraceEvent, cands: dict[Any, Hits]
               ) -> tuple[dict[Any, Hits] | None, tuple[Any, ...] | None]:
        """The candidates after ``ev`` from the whole-event memo, with the event's effects on
        the checker applied; else None and the memo key to :meth:`remember` under (or None
        when this event cannot be memoized)."""
        return None, None

    def snapshot(self, ev: TraceEvent) -> Any:
        """What :meth:`remember` needs from before the slow path."""
        return None

    def materialize(self, cands: Any) -> dict[Any, Hits]:
        """The candidate set as a dict of candidates: :meth:`recall` may return a compact
        form that only the memo reads (the seed's canonical set)."""
        return cast("dict[Any, Hits]", cands)

    def remember(self, key: tuple[Any, ...], ev: TraceEvent, before: Any,
                 new: dict[Any, Hits]) -> None:
        """Store the slow path's result for ``key`` (see :meth:`recall`)."""

    def reject(self, why: str) -> None:
        self.reasons.append(why)

    @staticmethod
    def origin(ev: TraceEvent) -> str:
        return THREAD if ev.detail in ("thread", "inbox") else LOOP


def _instant(ev: TraceEvent) -> int | None:
    """The deadline or instant a driver event gives in its detail (ns), or None."""
    d = ev.detail
    if d is None or not d.isdigit():
        return None
    return int(d)


def _malformed(ev: TraceEvent) -> str | None:
    """Executor-wide events carry no task and poll 0; task events name a task."""
    if ev.event in _NO_TASK:
        if ev.task is not None or ev.poll != 0:
            return f"an executor-wide event carries no task and poll 0, not {ev.task}/{ev.poll}"
    elif ev.task is None:
        return f"a '{ev.event}' event must name its task"
    elif ev.poll < 0:
        return f"a poll number cannot be negative ({ev.poll})"
    return None


def _run(ck: _Checker, events: Iterable[TraceEvent]) -> TraceCheckResult:
    cands = ck.initial()
    recent: list[tuple[int, TraceEvent]] = []
    n = 0
    for i, ev in enumerate(events):
        if not isinstance(ev, TraceEvent):
            raise TraceCheckError(f"event #{i + 1} is not a TraceEvent: {ev!r}")
        if ev.event in DRIVER_EVENTS and ev.event not in ck.decl.events:
            raise TraceCheckError(
                f"event #{i + 1} is '{ev.event}', an event of the time and I/O driver that the "
                f"refinement of the '{ck.variant}' model does not map yet, so the checker gives "
                "no verdict (rather than a wrong one)")
        n = i + 1
        ck.index = i
        ck.reasons = []
        malformed = _malformed(ev)
        if ev.event == "run_end" and not ck.open_drive and malformed is None:
            malformed = ("run_end with no run_start before it: no run of the executor is open "
                         "here (a trace starts before its run, not in the middle of one)")
        new: dict[Any, Hits] = {}
        key: tuple[Any, ...] | None = None
        before: Any = None
        if malformed:
            ck.reasons.append(malformed)
        else:
            fast, key = ck.recall(ev, cands)
            if fast is not None:
                # the whole event from the memo: its effects on the checker are applied
                cands = fast
                recent.append((i, ev))
                if len(recent) > 4:
                    del recent[0]
                continue
            cands = ck.materialize(cands)
            before = ck.snapshot(ev)
            cands = ck.before_event(ev, cands)
            while True:
                try:
                    for cand, hits in cands.items():
                        for nxt, h in ck.advance(cand, hits, ev):
                            old = new.get(nxt)
                            new[nxt] = h if old is None else _merge_hits(old, h)
                    break
                except _Grow:
                    cands = ck.grow(cands)
                    new = {}
                    ck.reasons = []
        if new:
            if ev.event in ("run_start", "close_start"):
                ck.open_drive = True  # (a trace cut inside close() is a prefix too)
            elif ev.event in ("run_end", "close_end"):
                ck.open_drive = False
            new = ck.after_event(ev, new)
            if key is not None:
                ck.remember(key, ev, before, new)
        if not new:
            cands = ck.materialize(cands)
            first = next(iter(cands))
            reason = ck.reasons[0] if ck.reasons else "no model action corresponds to it"
            violation = TraceViolation(i, ev, ck.show(first), reason, len(cands),
                                       tuple(recent))
            return _result(ck, n, violation, cands)
        cands = new
        if len(cands) > MAX_EXPLANATIONS:
            raise TraceCheckError(
                f"more than {MAX_EXPLANATIONS} model states explain the trace up to event "
                f"#{i + 1}; "
                "the trace is too ambiguous to check (is it a trace of this executor?)")
        cands = ck.compact(cands)
        recent.append((i, ev))
        if len(recent) > 4:
            del recent[0]
    if n == 0:
        raise TraceCheckError("the trace has no events: nothing to check (an executor's trace "
                              "has at least its run_start)")
    return _result(ck, n, None, ck.materialize(cands))


def _result(ck: _Checker, n: int, violation: TraceViolation | None,
            cands: dict[Any, Hits]) -> TraceCheckResult:
    common: Hits | None = None
    for h in cands.values():
        common = h if common is None else _merge_hits(common, h)
    titles = ck.titles()
    props = tuple(PropertyHit(pid, i, titles.get(pid, ""))
                  for pid, i in sorted(common or (), key=lambda x: (x[1], x[0])))
    final = ck.show(next(iter(cands))) if cands and violation is None else ""
    return TraceCheckResult(
        ck.variant, n, violation, props if violation is None else (), tuple(ck.notes),
        len(cands), dict(ck.task_map()), final, complete=not ck.open_drive,
        spawned=ck.spawned, slots=ck.slots(),
    )


# ---------------------------------------------------------------------------------------------
# The reference variant (refexec.Executor)
# ---------------------------------------------------------------------------------------------

S = TaskState
_ST_NAMES = ref_model.ST_NAMES
_EVENT_ROW = {
    "poll": TaskEvent.POLL, "pending": TaskEvent.PENDING, "ready": TaskEvent.READY,
    "wake": TaskEvent.WAKE, "wake_by_ref": TaskEvent.WAKE, "cancel": TaskEvent.CANCEL,
    "lost": TaskEvent.LOST,
}
_NONE = -1
_THEN = 1 << 20
"""A deferred candidate ``_THEN * code + t``: the event the reading's ``then`` names must come
next for t (codes in :data:`_THEN_CODE`)."""
_THEN_EVENTS = {1: "wake", 2: "waker_drop"}
_THEN_CODE = {v: k for k, v in _THEN_EVENTS.items()}
_TIMER_EVENTS = frozenset({"timer_arm", "timer_fire", "timer_cancel", "clock_jump"})
_IO_EVENTS = frozenset({"io_register", "io_ready", "io_cancel"})
_DRIVER = _TIMER_EVENTS | _IO_EVENTS
_NO_TASK = ("run_start", "run_end", "clock_jump", *CLOSE_EVENTS)

_IN_POLL = (int(S.RUNNING), int(S.NOTIFIED))


def _store(seq: tuple[Any, ...], i: int, v: Any) -> tuple[Any, ...]:
    return (*seq[:i], v, *seq[i + 1:])
_FINISHED_KEPT = 1024
_FINAL = (int(S.COMPLETE), int(S.CANCELLED))
_WANT = {"poll": (int(S.RUNNING),), "pending": (int(S.IDLE), int(S.SCHEDULED), int(S.CANCELLED)),
         "ready": (int(S.COMPLETE),), "cancel": (int(S.CANCELLED),),
         "lost": (int(S.CANCELLED),), "spawn": (int(S.SCHEDULED),)}


class _TimeLevels:
    """The trace's instants the model's clock is measured against (refinement.REFERENCE's
    environment): each armed timer's deadline (by trace task id), and ``low``, the latest
    instant the clock is known to have reached (a fired deadline, a clock_jump's instant).
    Sorted and distinct, they are the levels: the model's clock is how many of them the real
    clock has reached, a deadline its instant's rank (from 1)."""

    def __init__(self) -> None:
        self.deadline_of: dict[int, int] = {}
        """The model's timer of each task: its earliest armed one."""
        self.extra: dict[int, list[int]] = {}
        """A task's other armed timers, in firing order (refinement.REFERENCE.environment:
        each is a held waker clone in the model until it becomes the task's timer)."""
        self.low: int | None = None
        self.pinned: set[int] = set()
        """Instants kept as levels for the event being checked (a timer being demoted)."""

    def points(self) -> list[int]:
        pts = set(self.deadline_of.values()) | self.pinned
        if self.low is not None:
            pts.add(self.low)
        return sorted(pts)

    def armed(self, task: int) -> bool:
        return task in self.deadline_of or bool(self.extra.get(task))

    def level(self, at: int) -> int:
        return bisect_right(self.points(), at)


class _ReferenceChecker(_Checker):
    """Event -> action(s) for ``refexec.Executor`` and the ``reference`` model.

    A candidate is ``(state id, deferred)``: ``deferred`` is the slot of a task whose cancel the
    model applied when its poll returned (a cancel requested during its own poll) and whose
    ``cancel`` event must come next, or ``_THEN * code + slot`` when a reading's ``then`` event
    (the ``wake`` or ``waker_drop`` of a timer's clone) must come next, or -1.

    Trace task ids map to model slots, lowest free slot first; a slot is recycled once its
    task is finished and nothing refers to it in any explanation (then no action of the model
    can concern it again), and the model grows (twice the slots, states re-embedded) when more
    tasks are alive at once than it has slots.
    """

    variant = "reference"
    decl = REFERENCE

    def __init__(self, props: bool, any_policy: bool = False) -> None:
        super().__init__()
        self.props = props
        self.any_policy = any_policy
        if any_policy:
            self.variant = "reference-any"
        self.slot_of: dict[int, int] = {}
        self.finished: dict[int, str] = {}
        """The last few finished tasks' final states, for the message about a later event."""
        self.n = 0
        self.drive = ""
        self.closing = False
        """Between close_start and close_end (the memo is off there: see ``close_dropped``)."""
        self.close_dropped = False
        """close() has cancelled a task (a ``cancel`` with no detail since its close_start):
        then its inbox was taken in, and a message taken in now is out of order. A trace-level
        fact: inside close() a cancel with no detail is close()'s own drop in every reading."""
        self.hidden_names = sorted(i.action for i in self.decl.implicit
                                   if "trace" in i.unobserved_in and not i.on_demand)
        self.timers = False
        """The model has the driver (clock, timers): from the trace's first driver event on."""
        self.io = False
        """The model has the reactor (``reg``; with the timers): from the first I/O event on."""
        self.registered: set[int] = set()
        """The trace's tasks with an I/O registration (io_register, not yet io_ready or
        io_cancel): the registration's event is still to come, so the slot is kept."""
        self.timer_mode = ""
        """How the timer event being checked maps: "" (its readings), "extra" (a task's
        later timer: its clone stays a held waker), "demote" (an earlier timer than the
        task's: the model's timer becomes a held clone first)."""
        self.time = _TimeLevels()
        self._build(4)

    def _build(self, n: int, fresh: bool = False) -> None:
        extra = {"timers": 1, "horizon": n + 2, "io": int(self.io)} if self.timers else {}
        if self.any_policy:
            extra["policy"] = 1
        bounds = ref_model.default_bounds(
            n, polls=_BIG, wakers=_BIG, inbox=1, spawners=1, remote=1, rcancel=1, join=0,
            drive=1, close=1, **extra)
        self.n = n
        name = self.variant
        self.mach = _machine((name, n, self.props, self.timers, self.io),
                             lambda: ref_model.build(bounds, name=name), self.props, _identity,
                             fresh)
        self.hidden = [i for i, (a, _) in enumerate(self.mach.model.instances)
                       if a.name in self.hidden_names]
        self.closure_memo = self.mach.closure_memo
        self.reset_memo = self.mach.reset_memo

    def titles(self) -> dict[str, str]:
        return {p.id: p.title for p in self.mach.system.properties}

    def task_map(self) -> dict[int, int]:
        return dict(self.slot_of)

    def slots(self) -> int:
        return self.n

    def initial(self) -> dict[Any, Hits]:
        sid = self.mach.intern_state(self.mach.model.initial())
        return self.closure({(sid, _NONE): ()})

    def show(self, cand: Any) -> str:
        return self.mach.show(cand[0])

    # -- environment steps (not model actions; see refinement.REFERENCE.environment) ----------

    def _leave(self, sid: int) -> int | None:
        """A drive call returns from a loop state the model's ``step_return`` does not leave
        (deciding, asleep on a stall, returned): the loop goes back to NOT_STARTED."""
        if self.mach.val(sid, "loop") in (Loop.NOT_STARTED, Loop.POLLING) \
                or self.mach.val(sid, "closed"):  # a closed executor never runs again
            return None
        s = self.mach.thaw(sid)
        s.update(loop=Loop.NOT_STARTED, lock=False, signal=False, mode=Drive.RUN, dpolls=0)
        return self.mach.intern_state(s)

    def _enter(self, sid: int) -> int | None:
        """``step()`` outside run(): the caller's thread polls, as the loop would."""
        if self.mach.val(sid, "loop") != Loop.NOT_STARTED:
            return None
        s = self.mach.thaw(sid)
        s["loop"] = Loop.DISPATCH
        return self.mach.intern_state(s)

    def _closure_of(self, sid: int) -> tuple[tuple[int, tuple[str, ...]], ...]:
        """States reachable from ``sid`` by implicit actions, with the properties violated on
        the way (memoized per state and drive status)."""
        key = (sid, self.open_drive)
        got = self.closure_memo.get(key)
        if got is not None:
            return got
        seen: dict[int, tuple[str, ...]] = {sid: ()}
        todo = [sid]
        while todo:
            cur = todo.pop()
            bad0 = seen[cur]
            succ: list[tuple[int, tuple[str, ...]]] = []
            for ai in self.hidden:
                r = self.mach.step(cur, ai)
                if r is not None:
                    succ.append(r)
            if not self.open_drive:
                for f in (self._enter, self._leave):
                    r2 = f(cur)
                    if r2 is not None:
                        succ.append((r2, ()))
            for nxt, bad in succ:
                if nxt not in seen:
                    seen[nxt] = tuple(sorted(set(bad0) | set(bad)))
                    todo.append(nxt)
                    if len(seen) > MAX_EXPLANATIONS:
                        break
        out = tuple(seen.items())
        self.closure_memo[key] = out
        return out

    def closure(self, cands: dict[Any, Hits]) -> dict[Any, Hits]:
        out: dict[Any, Hits] = {}
        for (sid, deferred), hits in cands.items():
            if deferred >= 0:  # a deferred cancel must be reported by the very next event
                reach: tuple[tuple[int, tuple[str, ...]], ...] = ((sid, ()),)
            else:
                reach = self._closure_of(sid)
            for s2, bad in reach:
                h = _add_hits(hits, bad, self.index) if bad else hits
                k = (s2, deferred)
                old = out.get(k)
                out[k] = h if old is None else _merge_hits(old, h)
        return out

    # -- slots ---------------------------------------------------------------------------------

    def _slot_free_in(self, sid: int, t: int) -> bool:
        v = self.mach.val
        if v(sid, "st")[t] not in _FINAL or v(sid, "wakers")[t] or v(sid, "inbox")[t]:
            return False
        if v(sid, "creq")[t] or v(sid, "join")[t] != self.n:
            return False
        if self.timers and v(sid, "armed")[t]:
            return False
        if self.io and v(sid, "reg")[t] != Io.NONE:
            return False
        qlen = v(sid, "qlen")
        return t not in v(sid, "q")[:qlen] and t not in v(sid, "join")

    def _reset(self, sid: int, t: int) -> int:
        key = (sid, t)
        got = self.reset_memo.get(key)
        if got is not None:
            return got
        s = self.mach.thaw(sid)
        init = self.mach.model.initial()
        for name in ("st", "wakers", "polls", "done", "woken", "ended", "creq", "inbox", "join",
                     "waited", *(("deadline", "armed") if self.timers else ()),
                     *(("reg",) if self.io else ())):
            vals = list(s[name])
            vals[t] = init[name][t]
            s[name] = tuple(vals)
        out = self.reset_memo[key] = self.mach.intern_state(s)
        return out

    def _grow(self, cands: dict[Any, Hits], n: int | None = None) -> dict[Any, Hits]:
        """Twice the slots (or the driver added, ``n`` = the same slots): re-embed every
        explanation (empty-slot markers move to the new N, new variables start at their
        initial values)."""
        old_n, old = self.n, self.mach
        self._build(old_n * 2 if n is None else n)
        init = self.mach.model.initial()
        new_n = self.n
        out: dict[Any, Hits] = {}
        for (sid, deferred), hits in cands.items():
            s = old.thaw(sid)
            for var in self.mach.system.variables:
                if var.name not in s:
                    s[var.name] = init[var.name]
                elif var.name in ("q", "join"):
                    vals = tuple(new_n if x == old_n else x for x in s[var.name])
                    s[var.name] = vals + init[var.name][len(vals):]
                elif var.length:
                    s[var.name] = tuple(s[var.name]) + init[var.name][old_n:]
            out[(self.mach.intern_state(s), deferred)] = hits
        return out

    def compact(self, cands: dict[Any, Hits]) -> dict[Any, Hits]:
        if not self.mach.full():
            return cands
        old = self.mach
        frozen = {k: old.states[k[0]] for k in cands}
        self._build(self.n, fresh=True)
        return {(self.mach.intern(frozen[k]), k[1]): h for k, h in cands.items()}

    def after_event(self, ev: TraceEvent, cands: dict[Any, Hits]) -> dict[Any, Hits]:
        tm = self.time
        if ev.event == "timer_arm" and tm.pinned:
            old = tm.points()
            tm.pinned = set()
            cands = self._relevel(cands, old, tm.points())
        if ev.event == "timer_cancel" and self.timer_mode == "extra":
            assert ev.task is not None
            extra, at = tm.extra[ev.task], _instant(ev)
            if at in extra:  # the deadline says which (a task that ended: any, all go)
                extra.remove(at)
            else:
                extra.pop()
        elif ev.event in ("timer_fire", "timer_cancel", "clock_jump"):
            old = tm.points()
            at = _instant(ev)
            if ev.event != "clock_jump":
                tm.deadline_of.pop(ev.task, None)  # type: ignore[arg-type]
            if at is not None and ev.event != "timer_cancel":
                tm.low = at if tm.low is None else max(tm.low, at)
            later = tm.extra.get(ev.task) if ev.task is not None else None
            if later:
                assert ev.task is not None
                tm.deadline_of[ev.task] = later.pop(0)
            cands = self._relevel(cands, old, tm.points())
            if later is not None and ev.task in tm.deadline_of:
                cands = self._promote(cands, self.slot_of[ev.task],
                                      tm.level(tm.deadline_of[ev.task]))
        if ev.event == "io_register" and ev.task is not None:
            self.registered.add(ev.task)
        elif ev.event in ("io_ready", "io_cancel") and ev.task is not None:
            self.registered.discard(ev.task)
        if ev.task is not None and ev.event != "spawn" and not self._holds(ev.task):
            t = self.slot_of.get(ev.task)
            if t is not None and all(d < 0 and self._slot_free_in(sid, t)
                                     for sid, d in cands):
                del self.slot_of[ev.task]
                sid0 = next(iter(cands))[0]
                self._finish(ev.task, _ST_NAMES[self.mach.val(sid0, "st")[t]])
                cands = {(self._reset(sid, t), d): h for (sid, d), h in cands.items()}
        return self.closure(cands)

    # -- whole events, memoized -----------------------------------------------------------------

    def recall(self, ev: TraceEvent, cands: dict[Any, Hits]
               ) -> tuple[dict[Any, Hits] | None, tuple[Any, ...] | None]:
        """Why: once the states are interned, an event of a steady workload is a function of
        (the candidate set, the event's shape: kind, slot, poll number, detail, drive status),
        and a long trace repeats a few hundred such pairs. Evaluating the readings, the
        observation check and the implicit closure of every candidate again costs tens of
        microseconds; the memo makes the event one look-up. Only candidate sets with no
        property hit are memoized (a hit records the event index, which differs each time),
        and the memo lives with the machine (rebuilt, hence emptied, when the machine is)."""
        kind = ev.event
        if kind in DRIVER_EVENTS or self.closing:
            return None, None  # their details are instants, mapped to levels on the slow path
        if kind == "spawn":
            if ev.task in self.slot_of:
                return None, None
            used = set(self.slot_of.values())
            t = next((x for x in range(self.n) if x not in used), _NONE)
            if t == _NONE:  # the model grows: the slow path
                return None, None
        elif kind in ("run_start", "run_end"):
            t = _NONE
        else:
            got_t = self.slot_of.get(ev.task) if ev.task is not None else None
            if got_t is None:
                return None, None
            t = got_t
        for h in cands.values():
            if h:
                return None, None
        drive = (ev.detail or "run") if kind == "run_start" else self.drive
        key = (tuple(cands), kind, t, ev.poll, ev.detail, self.open_drive, drive,
               ev.task is not None and self._holds(ev.task))
        got = self.mach.event_memo.get(key)
        if got is None:
            return None, key
        keys, free, fin = got
        if kind == "spawn":
            assert ev.task is not None
            self.slot_of[ev.task] = t
            self.spawned += 1
        elif kind == "run_start":
            self.drive = drive
            self.open_drive = True
        elif kind == "run_end":
            self.open_drive = False
        elif free:
            assert ev.task is not None
            del self.slot_of[ev.task]
            self._finish(ev.task, fin)
        return dict.fromkeys(keys, ()), None

    def snapshot(self, ev: TraceEvent) -> Any:
        return ev.task is not None and ev.task in self.slot_of

    def remember(self, key: tuple[Any, ...], ev: TraceEvent, before: Any,
                 new: dict[Any, Hits]) -> None:
        if not new or len(new) > MAX_EXPLANATIONS or any(new.values()):
            return
        memo = self.mach.event_memo
        if len(memo) > MAX_STATES:
            memo.clear()
        free = ev.event not in ("spawn", "run_start", "run_end") and bool(before) \
            and ev.task not in self.slot_of
        fin = self.finished.get(ev.task, "") if free and ev.task is not None else ""
        memo[key] = (tuple(new), free, fin)

    def _holds(self, task: int) -> bool:
        """The trace still owes a driver event of ``task`` (a timer or a registration)."""
        return self.time.armed(task) or task in self.registered

    def _finish(self, task: int, st_name: str) -> None:
        self.finished[task] = st_name
        if len(self.finished) > _FINISHED_KEPT:
            del self.finished[next(iter(self.finished))]

    # -- the mapping ---------------------------------------------------------------------------

    def why_disabled(self, sid: int, ai: int) -> str:
        state = self.mach.thaw(sid)
        action, params = self.mach.model.instances[ai]
        name = action.name
        base = f"the model's {action.label(params)} is not enabled here (its guard is false)"
        t = params.get("t")
        loop = ref_model.LOOP_NAMES[state["loop"]]
        armed = [u for u in range(self.n) if self.timers and state["armed"][u]]
        due = [u for u in armed if state["deadline"][u] <= state["clock"]]
        if name in ("poll", "idle_check", "clock_jump") and due:
            return (f"{base}: the timer of t{due[0]} is due, and the loop fires due timers "
                    "before it polls or decides (EX-TIMER-PROMPT)")
        if t is None:
            if name == "run_start":
                return f"{base}: run() is already running (loop {loop})"
            if name == "run_end" and armed:
                return (f"{base}: the timer of t{armed[0]} is armed and holds its task's waker "
                        "(a sender), so run() cannot return (EX-TIMER-RUN-END)")
            regs = [u for u in range(self.n) if self.io and state["reg"][u] != ref_model.Io.NONE]
            if name == "run_end" and regs:
                return (f"{base}: t{regs[0]}'s I/O registration holds its task's waker (a "
                        "sender), so run() cannot return (EX-IO-RUN-END)")
            return f"{base} (loop {loop})"
        if name == "timer_arm" and state["clock"] > params["d"]:
            reached = self.time.points()[state["clock"] - 1]
            return (f"{base}: the deadline is in the past: the clock has reached {reached} (a "
                    "fired deadline or the virtual clock's instant), so a sleep or timeout "
                    "arming it now would be over already")
        st = state["st"][t]
        st_name = _ST_NAMES[st]
        row_event = _EVENT_ROW.get(name)
        before = None if st == ref_model.UNSPAWNED else TaskState(st)
        if row_event is not None and (before, row_event) not in TRANSITIONS:
            return (f"{base}: the task is {st_name}, and TRANSITIONS has no row "
                    f"({st_name}, {row_event.value})")
        if name == "poll":
            qlen = state["qlen"]
            queue = [f"t{x}" for x in state["q"][:qlen]]
            if loop != "DISPATCH":
                return f"{base}: the run loop is {loop}, not between polls"
            if not qlen or state["q"][0] != t:
                return f"{base}: t{t} is not at the head of the FIFO ready queue {queue}"
        if name in ("wake", "waker_drop") and state["wakers"][t] == 0:
            return f"{base}: t{t} has no live waker handle (the model counts 0)"
        if name in ("io_register", "io_cancel"):
            return (f"{base}: t{t} is {st_name}, registration "
                    f"{ref_model.IO_NAMES[state['reg'][t]]}: a readiness wait is registered "
                    "(once) and dropped during its task's poll")
        if name == "waker_clone":
            return (f"{base}: t{t} has {state['wakers'][t]} live waker(s) and is {st_name}: a "
                    "waker is cloned from a held one, or from the context during its poll")
        if name == "wake_by_ref":
            return f"{base}: t{t} is {st_name} with no live waker handle"
        if name == "lost":
            return (f"{base}: t{t} is {st_name} with {state['wakers'][t]} live waker(s); a task "
                    f"is lost only when IDLE with none (loop must be between polls, is {loop})")
        if name in ("pending", "ready"):
            return f"{base}: t{t} is {st_name}, not being polled"
        if name == "close_drop" and loop == "CLOSING":
            qlen = state["qlen"]
            queue = [f"t{x}" for x in state["q"][:qlen]]
            if st_name not in ("SCHEDULED", "IDLE"):
                return f"{base}: close() cancels unfinished tasks, t{t} is {st_name}"
            if qlen and state["q"][0] != t:
                return (f"{base}: close() cancels the head of the ready queue {queue} first, "
                        "then the waiting tasks")
            return f"{base}: close() takes in its inbox before it cancels anything"
        return f"{base} (t{t} is {st_name}, loop {loop})"

    def _owed(self, deferred: int) -> str:
        """What a deferred candidate waits for, as a rejection reason."""
        if deferred >= _THEN:
            what, t = _THEN_EVENTS[deferred // _THEN], deferred % _THEN
            return (f"t{t}'s timer held a waker, which the driver consumes or drops at once: "
                    f"a '{what}' of t{t} comes right after the timer's event, not this one")
        return (f"the cancel of t{deferred} applied when its poll returned was not reported by "
                "a 'cancel' event next")

    def advance(self, cand: Any, hits: Hits, ev: TraceEvent) -> Iterator[tuple[Any, Hits]]:
        sid, deferred = cand
        kind = ev.event
        if kind in _NO_TASK:
            if deferred >= 0:
                self.reject(self._owed(deferred))
                return
            if kind in CLOSE_EVENTS:
                yield from self._close_event(sid, deferred, hits, ev)
                return
            if kind == "clock_jump":
                yield from self._clock_jump(sid, hits, ev)
                return
            yield from self._drive_event(sid, hits, ev)
            return
        if ev.task is None or ev.task not in self.slot_of:
            st = self.finished.get(ev.task) if ev.task is not None else None
            row = _EVENT_ROW.get(kind)
            if st is not None:
                no_row = f": TRANSITIONS has no row ({st}, {row.value})" if row else ""
                self.reject(f"task {ev.task} is {st} with nothing left referring to it (no "
                            f"waker, no queue entry), so no model action can concern it{no_row}")
            else:
                self.reject(f"task {ev.task} was never spawned in this trace")
            return
        t = self.slot_of[ev.task]
        if deferred >= 0:
            if deferred >= _THEN:
                if (kind, t) == (_THEN_EVENTS[deferred // _THEN], deferred % _THEN) \
                        and self.origin(ev) == LOOP:
                    yield from self._observe(sid, hits, ev, t, _NONE)
                else:
                    self.reject(self._owed(deferred))
            elif kind == "cancel" and deferred == t:
                yield from self._observe(sid, hits, ev, t, _NONE)
            else:
                self.reject(self._owed(deferred))
            return
        closed = bool(self.mach.val(sid, "closed"))
        readings = self.decl.readings(kind, self.origin(ev), closed=closed)
        if not readings:
            self.reject(f"'{kind}' with detail {ev.detail!r} has no reading in the refinement "
                        "of the reference model")
            return
        extra: tuple[int, ...] = ()
        starts: list[tuple[int, Hits]] = [(sid, hits)]
        if kind in _TIMER_EVENTS:
            if self.timer_mode == "extra":  # the clone stays a held waker of the task
                if kind == "timer_arm" and self.mach.val(sid, "st")[t] not in _IN_POLL:
                    self.reject(f"a timer is armed during its task's poll; t{t} is "
                                f"{_ST_NAMES[self.mach.val(sid, 'st')[t]]}")
                    return
                yield from self._observe(sid, hits, ev, t, _NONE)
                return
            got = self._timer_event(sid, hits, ev, t)
            if got is None:
                return
            extra, starts = got
            if self.timer_mode == "demote":  # the earlier timer's waker becomes a held clone
                starts = [r for r in (self._steps(s0, h0, (("timer_cancel", t),
                                                           ("waker_clone", t)))
                                      for s0, h0 in starts) if r is not None]
        elif kind == "io_ready":
            starts = self._fd_ready(sid, hits, t)
        for r in readings:
            for sid0, h0 in starts:
                cur: int | None = sid0
                h = h0
                for i, (name, fixed) in enumerate(r.steps):
                    assert cur is not None
                    if name == "inbox_drain":
                        cur, h = self._wake_loop(cur, h)
                    key = (name, t, *(v for _, v in fixed)) if name != "inbox_drain" \
                        else (name, t)
                    if name == "timer_arm":
                        key = (*key, *extra)
                    if key not in self.mach.ai:  # declared, not in this checker's model (I/O)
                        raise TraceCheckError(
                            f"event {kind!r} reads as model action {name}, which the "
                            "checker's model does not have: this trace cannot be checked yet")
                    ai = self.mach.ai[key]
                    if i < r.before_close:
                        res = self._before_close(cur, ai)
                        if res is None:
                            why = self.why_not_before_close(cur, ai)
                            self.reject(f"as {r.label()}: {why}")
                            cur = None
                            break
                    else:
                        res = self.mach.step(cur, ai)
                    if res is None:
                        self.reject(f"as {r.label()}: {self.why_disabled(cur, ai)}")
                        cur = None
                        break
                    cur, bad = res
                    if bad:
                        h = _add_hits(h, bad, self.index)
                if cur is None:
                    continue
                if not r.steps and kind in ("timer_cancel", "io_cancel"):
                    st = self.mach.val(cur, "st")[t]
                    what, held = (("a timer", self.mach.val(cur, "armed")[t])
                                  if kind == "timer_cancel" else
                                  ("an I/O registration", self.mach.val(cur, "reg")[t] != Io.NONE))
                    if held or st not in _FINAL:
                        self.reject(f"as {r.label()}: t{t} is {_ST_NAMES[st]}; the model drops "
                                    f"{what} without its task's poll only with its future "
                                    "(the task ended)")
                        continue
                aux = t if r.names() == ("cancel", "pending") else _NONE
                if r.then:
                    aux = _THEN * _THEN_CODE[r.then] + t
                yield from self._observe(cur, h, ev, t, aux)

    # -- the driver: timers and the clock --------------------------------------------------------

    def _timer_event(self, sid: int, hits: Hits, ev: TraceEvent, t: int
                     ) -> tuple[tuple[int, ...], list[tuple[int, Hits]]] | None:
        """The checks a timer event's detail needs, the deadline level ``timer_arm`` takes, and
        the states the readings start from (after the fewest ticks, for ``timer_fire``)."""
        assert ev.task is not None
        kind, tm = ev.event, self.time
        armed_at = tm.deadline_of.get(ev.task)
        at = _instant(ev)
        if kind == "timer_cancel":
            if armed_at is None:
                self.reject(f"task {ev.task} has no armed timer to cancel")
                return None
            if at is not None and at != armed_at:
                self.reject(f"the timer of task {ev.task} was armed for {armed_at}; no timer of "
                            f"it is armed for {at} to cancel")
                return None
            return (), [(sid, hits)]
        if at is None:
            self.reject(f"a '{kind}' event gives the deadline in its detail, in the clock's "
                        f"nanoseconds (a non-negative integer), not {ev.detail!r}")
            return None
        if kind == "timer_arm":
            return (tm.level(at),), [(sid, hits)]
        if armed_at is None:
            self.reject(f"task {ev.task} has no armed timer: a timer fires only after its "
                        "timer_arm")
            return None
        if armed_at != at:
            self.reject(f"the timer of task {ev.task} was armed for {armed_at}; it cannot fire "
                        f"as the timer of deadline {at}")
            return None
        return (), self._ticked(sid, hits, t)

    def _steps(self, sid: int, hits: Hits, keys: tuple[tuple[Any, ...], ...]
               ) -> tuple[int, Hits] | None:
        """Model actions in sequence (their instance keys), or None with the reason."""
        for key in keys:
            ai = self.mach.ai[key]
            res = self.mach.step(sid, ai)
            if res is None:
                self.reject(self.why_disabled(sid, ai))
                return None
            sid = res[0]
            if res[1]:
                hits = _add_hits(hits, res[1], self.index)
        return sid, hits

    def _ticked(self, sid: int, hits: Hits, t: int) -> list[tuple[int, Hits]]:
        """Time passes until t's deadline is due (the fewest ticks: refinement.REFERENCE's
        on-demand ``tick``), then the loop's implicit actions (a timed park ends)."""
        m = self.mach
        want = m.val(sid, "deadline")[t]
        if not m.val(sid, "armed")[t] or m.val(sid, "clock") >= want:
            return [(sid, hits)]
        cur, h = sid, hits
        tick = m.ai[("tick",)]
        while m.val(cur, "clock") < want:
            res = m.step(cur, tick)
            if res is None:
                self.reject(self.why_disabled(cur, tick))
                return []
            cur = res[0]
            if res[1]:
                h = _add_hits(h, res[1], self.index)
        return [(s2, _add_hits(h, bad, self.index) if bad else h)
                for s2, bad in self._closure_of(cur)]

    def _fd_ready(self, sid: int, hits: Hits, t: int) -> list[tuple[int, Hits]]:
        """t's fd became ready (the on-demand ``fd_ready``: the kernel, unseen by a trace),
        then the loop's implicit actions (a select() park ends), before its ``io_ready``."""
        m = self.mach
        reg = m.val(sid, "reg")[t]
        if reg == Io.READY:
            return [(sid, hits)]
        if reg == Io.NONE:
            self.reject(f"t{t} has no I/O registration: select() reports a task's fd ready "
                        "only between its io_register and its io_cancel")
            return []
        res = self._steps(sid, hits, (("fd_ready", t),))
        if res is None:
            return []
        cur, h = res
        return [(s2, _add_hits(h, bad, self.index) if bad else h)
                for s2, bad in self._closure_of(cur)]

    def _clock_jump(self, sid: int, hits: Hits, ev: TraceEvent) -> Iterator[tuple[Any, Hits]]:
        at = _instant(ev)
        if at is None:
            self.reject("a 'clock_jump' event gives the instant the clock jumped to in its "
                        f"detail, in nanoseconds, not {ev.detail!r}")
            return
        if at not in self.time.deadline_of.values():
            self.reject(f"the virtual clock jumps to the next armed deadline; no timer is armed "
                        f"for {at}")
            return
        m = self.mach
        ai = m.ai[("clock_jump",)]
        res = m.step(sid, ai)
        if res is None:
            self.reject(self.why_disabled(sid, ai))
            return
        nxt, bad = res
        if m.val(nxt, "clock") != self.time.level(at):
            self.reject(f"the virtual clock jumps to the next armed deadline; {at} is not the "
                        "next one")
            return
        yield (nxt, _NONE), _add_hits(hits, bad, self.index) if bad else hits

    def _promote(self, cands: dict[Any, Hits], t: int, level: int) -> dict[Any, Hits]:
        """The task's next timer becomes the model's, once the earlier one has fired or been
        cancelled (refinement.REFERENCE.environment): the held clone it kept moves into the
        timer (wakers - 1, armed, its deadline's level)."""
        m = self.mach
        out: dict[Any, Hits] = {}
        for (sid, d), h in cands.items():
            s = m.thaw(sid)
            if s["wakers"][t] < 1 or s["armed"][t]:
                self.reject(f"t{t}'s next timer holds a waker clone the model does not count")
                continue
            s["wakers"] = _store(s["wakers"], t, s["wakers"][t] - 1)
            s["armed"] = _store(s["armed"], t, True)
            s["deadline"] = _store(s["deadline"], t, level)
            out[(m.intern_state(s), d)] = h
        return out

    def _relevel(self, cands: dict[Any, Hits], old: list[int], new: list[int]
                 ) -> dict[Any, Hits]:
        """Renumber every explanation's clock and armed deadlines when the instants change
        (refinement.REFERENCE.environment): a deadline keeps its instant; the clock, known to lie
        between two old instants, takes each level its interval allows among the new ones."""
        if old == new:
            return cands
        m = self.mach
        out: dict[Any, Hits] = {}
        for (sid, d), h in cands.items():
            s = m.thaw(sid)
            c = s["clock"]
            lo = old[c - 1] if c > 0 else None
            hi = old[c] if c < len(old) else None
            base = bisect_right(new, lo) if lo is not None else 0
            top = bisect_left(new, hi) if hi is not None else len(new)
            s["deadline"] = tuple(bisect_right(new, old[x - 1]) if on else 0
                                  for x, on in zip(s["deadline"], s["armed"], strict=True))
            for clock in range(base, max(base, top) + 1):
                s["clock"] = clock
                k = (m.intern_state(s), d)
                old_h = out.get(k)
                out[k] = h if old_h is None else _merge_hits(old_h, h)
        return out

    def _wake_loop(self, sid: int, h: Hits) -> tuple[int, Hits]:
        """The loop may have to wake up before it drains (the post signalled it)."""
        if self.mach.val(sid, "loop") == Loop.ASLEEP and self.mach.val(sid, "signal"):
            res = self.mach.step(sid, self.mach.ai[("unpark",)])
            if res is not None:
                return res[0], _add_hits(h, res[1], self.index) if res[1] else h
        return sid, h

    def _observe(self, sid: int, hits: Hits, ev: TraceEvent, t: int, aux: int
                 ) -> Iterator[tuple[Any, Hits]]:
        """The effect must match what the event reports: poll number and implied task state."""
        polls = self.mach.val(sid, "polls")[t]
        if polls != ev.poll and not (ev.event in _DRIVER and ev.poll == 0):
            self.reject(f"the event reports poll number {ev.poll} but the model's poll counter "
                        f"of t{t} is {polls}")
            return
        st = self.mach.val(sid, "st")[t]
        want = _WANT.get(ev.event)
        if want is not None and st not in want:
            self.reject(f"after {ev.event} the model has t{t} {_ST_NAMES[st]}")
            return
        if ev.event == "pending" and aux == _NONE and st == int(S.CANCELLED):
            self.reject("a cancel applied at the end of the poll must be reported")
            return
        yield (sid, aux), hits

    def _drive_event(self, sid: int, hits: Hits, ev: TraceEvent) -> Iterator[tuple[Any, Hits]]:
        m = self.mach
        if ev.event == "run_start":
            if m.val(sid, "loop") == Loop.RETURNED:  # a later drive call: the loop starts again
                left = self._leave(sid)
                assert left is not None
                sid = left
            # an unknown drive call (noted by the reader) returns freely, as run() may
            ai = m.ai[("run_start", DRIVE_MODES.get(ev.detail or "run", Drive.RUN))]
            res = m.step(sid, ai)
            if res is None:
                self.reject(self.why_disabled(sid, ai))
                return
            yield (res[0], _NONE), _add_hits(hits, res[1], self.index)
            return
        # run_end: only run() returns because no sender remains; other calls stop early
        nxt: int | None = None
        bad: tuple[str, ...] = ()
        if ev.detail in ("interrupted", "raised"):  # an exception: any point between polls
            nxt = self._leave(sid)
            if nxt is None:
                self.reject(f"{self.drive}() cannot raise while the model's loop is "
                            f"{ref_model.LOOP_NAMES[m.val(sid, 'loop')]}")
        elif self.drive == "run" and ev.detail == "done":
            ai = m.ai[("run_end",)]
            res = m.step(sid, ai)
            if res is None:
                self.reject(self.why_disabled(sid, ai))
            else:
                nxt, bad = res
        elif m.val(sid, "loop") == Loop.DISPATCH:  # step()/run_until_stalled() between polls
            ai = m.ai[("step_return",)]
            res = m.step(sid, ai)
            if res is None:
                self.reject(self.why_disabled(sid, ai))
            else:
                nxt, bad = res
        else:
            nxt = self._leave(sid)
            if nxt is None:
                self.reject(f"{self.drive}() cannot return while the model's loop is "
                            f"{ref_model.LOOP_NAMES[m.val(sid, 'loop')]}")
        if nxt is not None:
            yield (nxt, _NONE), _add_hits(hits, bad, self.index) if bad else hits


    # -- close() (refinement.CLOSE_EVENTS) -------------------------------------------------------

    def _close_event(self, sid: int, deferred: int, hits: Hits, ev: TraceEvent
                     ) -> Iterator[tuple[Any, Hits]]:
        """``close_start`` / ``close_end``: the model's action; a close() cut short by an
        interrupt and the one that finishes it leave the model CLOSING (the environment)."""
        m = self.mach
        if ev.detail in ("again", "interrupted"):
            if m.val(sid, "loop") != Loop.CLOSING:
                self.reject(f"{ev.event} {ev.detail!r} continues a close() cut short, but the "
                            f"model's loop is {ref_model.LOOP_NAMES[m.val(sid, 'loop')]}, "
                            "not CLOSING")
                return
            yield (sid, deferred), hits
            return
        ai = m.ai[(ev.event,)]
        res = m.step(sid, ai)
        if res is None:
            self.reject(self.why_disabled(sid, ai))
            return
        yield (res[0], _NONE), _add_hits(hits, res[1], self.index) if res[1] else hits

    def _before_close(self, sid: int, ai: int) -> tuple[int, tuple[str, ...]] | None:
        """Action ``ai`` (another thread's post) taken before close_start, in a CLOSING state
        where close() has cancelled nothing yet: it commutes with close_start and with the
        messages close() took in since (a post changes only its task's posted count, live
        wakers and the signal, which none of those read), so it is taken on the state with the
        flag not yet set, and the flag set again after it."""
        m = self.mach
        if m.val(sid, "loop") != Loop.CLOSING or self.close_dropped:
            return None
        s = m.thaw(sid)
        s.update(closed=False, loop=Loop.NOT_STARTED)
        res = m.step(m.intern_state(s), ai)
        if res is None:
            return None
        s2 = m.thaw(res[0])
        s2.update(closed=True, loop=Loop.CLOSING)
        return m.intern_state(s2), res[1]

    def why_not_before_close(self, sid: int, ai: int) -> str:
        m = self.mach
        if m.val(sid, "loop") != Loop.CLOSING:
            return (f"once close() returned nothing is taken in (the model's loop is "
                    f"{ref_model.LOOP_NAMES[m.val(sid, 'loop')]})")
        if self.close_dropped:
            return ("close() has cancelled a task already, and it takes in its inbox before "
                    "it cancels anything: a message taken in now was posted after the closed "
                    "flag, which _post refuses")
        s = m.thaw(sid)
        s.update(closed=False, loop=Loop.NOT_STARTED)
        return "before close() began: " + self.why_disabled(m.intern_state(s), ai)

    def before_event(self, ev: TraceEvent, cands: dict[Any, Hits]) -> dict[Any, Hits]:
        if ev.event == "close_start":
            self.closing = True
            if ev.detail is None:  # ("again": the close() cut short may have dropped some)
                self.close_dropped = False
        elif ev.event == "close_end":
            self.closing = False
        elif ev.event == "cancel" and ev.detail is None and self.closing:
            self.close_dropped = True
        if ev.event in _IO_EVENTS:
            self.timer_mode = ""
            if not self.io:  # the reactor enters the model (with the timers: one driver)
                self.timers = self.io = True
                cands = self._grow(cands, self.n)
        if ev.event in _TIMER_EVENTS:
            if not self.timers:
                self.timers = True  # the driver enters the model: clock 0, no timer armed
                cands = self._grow(cands, self.n)
            at = _instant(ev)
            self.timer_mode = ""
            tm = self.time
            if ev.event == "timer_arm" and ev.task in self.slot_of and at is not None:
                old = tm.points()
                first = tm.deadline_of.get(ev.task)
                if first is None:
                    tm.deadline_of[ev.task] = at
                elif at < first:  # the new timer fires first: it becomes the model's
                    self.timer_mode = "demote"
                    tm.pinned = {first}
                    tm.deadline_of[ev.task] = at
                    insort(tm.extra.setdefault(ev.task, []), first)
                else:
                    self.timer_mode = "extra"
                    insort(tm.extra.setdefault(ev.task, []), at)
                cands = self._relevel(cands, old, tm.points())
            elif ev.event == "timer_cancel" and ev.task is not None and tm.extra.get(ev.task) \
                    and cands:
                t = self.slot_of.get(ev.task)
                sid0 = next(iter(cands))[0]
                if t is not None and self.mach.val(sid0, "st")[t] not in _FINAL \
                        and at is not None:
                    # the deadline says which: a held clone's, or the model's timer (a
                    # deadline no timer has is refused there)
                    self.timer_mode = "extra" if at in tm.extra[ev.task] \
                        and at != tm.deadline_of.get(ev.task) else ""
                    return cands
                if t is None or self.mach.val(sid0, "st")[t] not in _FINAL:
                    raise TraceCheckError(
                        f"event #{self.index + 1}: task {ev.task} cancels one of its "
                        f"{1 + len(tm.extra[ev.task])} armed timers and the trace does not say "
                        "which (this timer_cancel gives no deadline), so the trace cannot be "
                        "checked "
                        "(no verdict rather than a wrong one)")
                self.timer_mode = "extra"  # the task ended: its timers go, one by one
        if ev.event == "run_start":
            self.drive = ev.detail or "run"
        if ev.event == "spawn" and ev.task is not None and ev.task not in self.slot_of:
            used = set(self.slot_of.values())
            free = [t for t in range(self.n) if t not in used]
            if not free:
                cands = self._grow(cands)
                free = [t for t in range(self.n) if t not in used]
            self.slot_of[ev.task] = free[0]
            self.spawned += 1
        return cands


# ---------------------------------------------------------------------------------------------
# The seed variant (refexec.SimpleExecutor)
# ---------------------------------------------------------------------------------------------

_PENDING, _RUNNING, _COMPLETE = seed_model.PENDING, seed_model.RUNNING, seed_model.COMPLETE
_PHASE = ("pending", "running", "complete")
_TASKS_KEPT = 4096
"""Interned per-task views kept (their poll counts grow with the trace: a bound keeps the
checker's memory that of the live tasks)."""


@dataclass(frozen=True)
class _Task:
    """One task as a SimpleExecutor trace shows it (the exact view behind the seed's counters)."""

    phase: int  # _PENDING (future in its slot), _RUNNING, _COMPLETE
    w: int  # held waker handles (clones), not counting the per-poll waker
    e: int  # entries in the channel (exact; the model keeps 0, 1, 2+)
    polls: int
    ctx: bool = False  # the per-poll waker is live

    def freed(self) -> bool:
        """No reference is left (the per-poll waker aside, which the model folds into the
        poll): the model has freed the task (``lost`` if pending, ``freed`` if complete)."""
        return self.phase != _RUNNING and self.w == 0 and self.e == 0

    def show(self) -> str:
        ent = "entry" if self.e == 1 else "entries"
        return f"{_PHASE[self.phase]}, {self.w} held waker(s), {self.e} {ent}"

    def re(self, **kw: Any) -> _Task:
        return replace(self, **kw)


@dataclass(frozen=True)
class _SeedAux:
    """Per-explanation checker data: the live tasks (by trace id) and the channel in order.

    Only live tasks are kept (a freed task is dropped once nothing more can be said of it), so
    the data is as large as the tasks alive at once.
    """

    tasks: Mapping[int, _Task]
    queue: tuple[int, ...]
    """The channel's entries, as trace task ids, in FIFO order."""
    taken: int | None = None
    """The task recv() took (the implicit poll), whose make_waker/poll events must follow."""
    made: bool = False
    """make_waker of ``taken`` was seen: its 'poll' event comes next from the loop."""
    ctx_out: int | None = None
    """A task whose poll ended with its per-poll waker live: the loop drops it next."""
    lost_unreported: frozenset[int] = frozenset()
    """Tasks freed while pending whose 'lost' event has not come yet."""
    aborted: str = ""
    confirm: tuple[str, int] | None = None

    def key(self) -> tuple[Any, ...]:
        return (tuple(sorted(self.tasks.items())), self.queue, self.taken, self.made,
                self.ctx_out, self.lost_unreported, self.aborted, self.confirm)

    def with_(self, **kw: Any) -> _SeedAux:
        return replace(self, **kw)

    def set_task(self, tid: int, task: _Task, **kw: Any) -> _SeedAux:
        tasks = dict(self.tasks)
        lost = self.lost_unreported
        if task.freed():
            del tasks[tid]
            if task.phase == _PENDING:
                lost = lost | {tid}
        else:
            tasks[tid] = task
        return self.with_(tasks=tasks, lost_unreported=lost, **kw)


class _SeedCand:
    """A seed explanation: a state id and the aux data; equal when both are."""

    __slots__ = ("_key", "aux", "sid")

    def __init__(self, sid: int, aux: _SeedAux) -> None:
        self.sid = sid
        self.aux = aux
        self._key: tuple[Any, ...] | None = None

    def key(self) -> tuple[Any, ...]:
        if self._key is None:
            self._key = (self.sid, self.aux.key())
        return self._key

    def __hash__(self) -> int:
        return hash(self.key())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _SeedCand) and self.key() == other.key()


def _picker(keep: tuple[int, ...]) -> Callable[[tuple[int, ...]], tuple[int, ...]]:
    """``seq -> tuple(seq[k] for k in keep)``, done in C where it can be."""
    if len(keep) > 1:
        return itemgetter(*keep)
    if keep:
        k = keep[0]
        return lambda seq: (seq[k],)
    return lambda seq: ()


@dataclass(frozen=True)
class _CanonSet:
    """A seed candidate set in the memo's renamed form: trace ids by rank (``ids``, sorted),
    poll counts relative to ``pbase`` (by rank); every candidate without property hits."""

    cid: int
    """The interned id of ``canon`` (:meth:`_Machine.canon_id`): the memo key hashes an int,
    not the nested tuple."""
    canon: tuple[Any, ...]
    ids: tuple[int, ...]
    pbase: tuple[int, ...]


class _SeedChecker(_Checker):
    """Event -> action for ``refexec.SimpleExecutor`` and the counter-abstracted ``seed`` model.

    The seed model counts tasks per class ``(phase, held wakers, entries)``; a trace names
    tasks. The checker keeps the exact per-task view the trace implies (:class:`_SeedAux`),
    picks the class parameter of each action from it, and after every step checks that the
    model's class counts and channel length equal the counts of that view: the abstraction
    function of the refinement mapping. The view keeps the channel in FIFO order, which the
    model abstracts away, so the order of polls is checked too.
    """

    variant = "seed"
    decl = SEED

    def __init__(self, capacity: int, props: bool) -> None:
        super().__init__()
        self.capacity = capacity
        self.props = props
        self.lookup: dict[tuple[int, int, int], int] = {}
        self.live_max = 0
        self._pending: tuple[Any, ...] | None = None
        self._tasks: dict[tuple[Any, ...], _Task] = {}
        """Interned per-task views (a frozen dataclass is slow to build)."""
        self._build(1)

    @staticmethod
    def canon(s: dict[str, Any]) -> dict[str, Any]:
        """Normalise what grows without bound but no guard or property reads: the supply of
        unspawned tasks stays unbounded, ``freed`` is reset (no property reads it), and ``lost``
        is kept as 0 or 1 (EX-LOST-REPORTED reads only ``lost == 0``)."""
        if s["unspawned"] != _BIG or s["freed"] or s["lost"] > 1:
            s = dict(s)
            s.update(unspawned=_BIG, freed=0, lost=min(s["lost"], 1))
        return s

    def _build(self, w: int, fresh: bool = False) -> None:
        bounds = seed_model.default_bounds(_BIG, capacity=self.capacity, wakers=w, spawners=1)
        self.W = w
        self.cls = seed_model.classes(w)
        self.lookup = {c: i for i, c in enumerate(self.cls)}
        self.mach = _machine(("seed", self.capacity, w, self.props),
                             lambda: seed_model.build(bounds), self.props, self.canon, fresh)

    def grow(self, cands: dict[Any, Hits]) -> dict[Any, Hits]:
        """More held wakers per task than the model's classes have: twice as many classes,
        counts moved to the same (phase, w, e) class of the larger model."""
        old, old_cls = self.mach, self.cls
        self._build(self.W * 2)
        out: dict[Any, Hits] = {}
        for c, hits in cands.items():
            s = old.thaw(c.sid)
            cnt = [0] * len(self.cls)
            for i, k in enumerate(old_cls):
                cnt[self.lookup[k]] += s["cnt"][i]
            s["cnt"] = tuple(cnt)
            out[_SeedCand(self.mach.intern_state(s), c.aux)] = hits
        return out

    def compact(self, cands: dict[Any, Hits]) -> dict[Any, Hits]:
        if not self.mach.full():
            return cands
        old = self.mach
        self._build(self.W, fresh=True)
        return {_SeedCand(self.mach.intern(old.states[c.sid]), c.aux): h
                for c, h in cands.items()}

    def titles(self) -> dict[str, str]:
        return {p.id: p.title for p in self.mach.system.properties}

    def before_event(self, ev: TraceEvent, cands: dict[Any, Hits]) -> dict[Any, Hits]:
        if ev.event == "spawn":
            self.spawned += 1
        return cands

    def slots(self) -> int:
        return self.live_max

    def c(self, task: _Task) -> int:
        return self.lookup[(task.phase, task.w, min(task.e, seed_model.E_MAX))]

    def initial(self) -> dict[Any, Hits]:
        sid = self.mach.intern_state(self.mach.model.initial())
        return {_SeedCand(sid, _SeedAux({}, ())): ()}

    def show(self, cand: Any) -> str:
        s = self.mach.thaw(cand.sid)
        parts = [f"{s['cnt'][i]}x{seed_model.class_name(c)}"
                 for i, c in enumerate(self.cls) if s["cnt"][i]]
        aux: _SeedAux = cand.aux
        queue = ",".join(f"t{x}" for x in aux.queue)
        return (f"tasks=[{' '.join(parts)}] qlen={s['qlen']} spawners={s['spawners']} "
                f"loop={seed_model.LOOP_NAMES[s['loop']]} blocked={s['blocked']} "
                f"lost={s['lost']} | channel=[{queue}]")

    def why_disabled(self, sid: int, ai: int) -> str:
        s = self.mach.thaw(sid)
        action, params = self.mach.model.instances[ai]
        base = f"the model's {action.label(params)} is not enabled here (its guard is false)"
        loop = seed_model.LOOP_NAMES[s["loop"]]
        name, remote = action.name, params.get("remote")
        if name == "run_end":
            return (f"{base}: recv() fails only when the channel is empty and no sender is "
                    f"left (qlen={s['qlen']}, spawners={s['spawners']}, live tasks="
                    f"{sum(s['cnt'])})")
        if remote == 1 and name in ("spawn", "wake", "wake_by_ref") and s["qlen"] >= self.capacity:
            return (f"{base}: the channel is full (qlen={s['qlen']} of capacity "
                    f"{self.capacity}); a send from another thread waits for room and is "
                    "traced only once it has it")
        if remote == 1 and name == "spawn":
            return (f"{base}: after run() a spawn from another thread needs a live sender clone "
                    f"(spawners={s['spawners']}, loop {loop})")
        if remote == 0:
            return (f"{base}: on the loop's own thread user code runs only before run() or "
                    f"inside a poll (loop {loop}, blocked={s['blocked']})")
        return f"{base} (loop {loop}, blocked={s['blocked']})"

    # -- model steps -----------------------------------------------------------------------------

    def take(self, sid: int, hits: Hits, name: str, *params: int, why: str = ""
             ) -> tuple[int, Hits] | None:
        key = (name, *params)
        ai = self.mach.ai[key]
        res = self.mach.step(sid, ai)
        if res is None:
            self.reject((f"as {why}: " if why else "") + self.why_disabled(sid, ai))
            return None
        nxt, bad = res
        return nxt, (_add_hits(hits, bad, self.index) if bad else hits)

    def mismatch(self, sid: int, aux: _SeedAux) -> str | None:
        """The model's counters against the counts of the per-task view; None if equal."""
        cnt = [0] * len(self.cls)
        for task in aux.tasks.values():
            cnt[self.c(task)] += 1
        for k, v in (("cnt", tuple(cnt)), ("qlen", len(aux.queue))):
            if self.mach.val(sid, k) != v:
                return (f"the model has {k}={self.mach.val(sid, k)} but the tasks as the trace "
                        f"shows them give {k}={v}")
        return None

    def _ok(self, sid: int, aux: _SeedAux, hits: Hits) -> Iterator[tuple[Any, Hits]]:
        bad = self.mismatch(sid, aux)
        if bad is not None:
            self.reject(f"model and trace disagree: {bad}")
            return
        yield _SeedCand(sid, aux), hits

    def urgent(self, sid: int, aux: _SeedAux, hits: Hits) -> tuple[int, _SeedAux, Hits] | None:
        """The loop's recv(), taken as soon as the executor can (refinement.SEED.implicit):
        entries of completed tasks are discarded, and the first entry of a pending task is
        taken for its poll."""
        m = self.mach
        while (aux.queue and not aux.aborted and aux.taken is None
               and m.val(sid, "loop") == seed_model.RECV and not m.val(sid, "blocked")):
            tid = aux.queue[0]
            task = aux.tasks[tid]
            k = 1 if task.e - 1 >= seed_model.E_MAX else 0
            if task.phase == _COMPLETE:
                r = self.take(sid, hits, "discard", self.c(task), k)
                if r is None:
                    return None
                sid, hits = r
                aux = aux.set_task(tid, task.re(e=task.e - 1), queue=aux.queue[1:])
            elif task.phase == _PENDING:
                r = self.take(sid, hits, "poll", self.c(task), k)
                if r is None:
                    return None
                sid, hits = r
                aux = aux.set_task(tid, task.re(phase=_RUNNING, e=task.e - 1),
                                   queue=aux.queue[1:], taken=tid, made=False)
            else:
                break
        return sid, aux, hits

    def after_event(self, ev: TraceEvent, cands: dict[Any, Hits]) -> dict[Any, Hits]:
        out: dict[Any, Hits] = {}
        for c, hits in cands.items():
            r = self.urgent(c.sid, c.aux, hits)
            if r is None:
                continue
            sid, aux, h = r
            self.live_max = max(self.live_max, len(aux.tasks))
            if not aux.aborted and (bad := self.mismatch(sid, aux)) is not None:
                self.reject(f"after the loop's recv(), model and trace disagree: {bad}")
                continue
            k = _SeedCand(sid, aux)
            old = out.get(k)
            out[k] = h if old is None else _merge_hits(old, h)
        return out

    # -- whole events, memoized -----------------------------------------------------------------

    def _canon(self, cands: dict[Any, Hits], ev: TraceEvent
               ) -> tuple[tuple[Any, ...], list[int], dict[int, int]] | None:
        """The candidates with trace task ids renamed to their rank among the ids they name
        (and the event's), and poll counts left out (they are the trace's, the same in every
        explanation); None when the set cannot be memoized (a property hit, an abort)."""
        idset: set[int] = set()
        polls: dict[int, int] = {}
        for c, h in cands.items():
            a: _SeedAux = c.aux
            if h or a.aborted or a.confirm is not None:
                return None
            for tid, task in a.tasks.items():
                if polls.setdefault(tid, task.polls) != task.polls:
                    return None
            idset.update(a.tasks)
            idset.update(a.queue)
            idset.update(a.lost_unreported)
            if a.taken is not None:
                idset.add(a.taken)
            if a.ctx_out is not None:
                idset.add(a.ctx_out)
        if ev.task is not None:
            idset.add(ev.task)
        ids = sorted(idset)
        rank = {tid: i for i, tid in enumerate(ids)}
        out = tuple(self._canon_one(c.sid, c.aux, rank, polls) for c in cands)
        return out, ids, polls

    @staticmethod
    def _canon_one(sid: int, a: _SeedAux, rank: dict[int, int], polls: dict[int, int]
                   ) -> tuple[Any, ...]:
        tasks = tuple(sorted((rank[tid], t.phase, t.w, t.e, t.ctx, t.polls - polls.get(tid, 0))
                             for tid, t in a.tasks.items()))
        return (sid, tasks, tuple(rank[q] for q in a.queue),
                None if a.taken is None else rank[a.taken], a.made,
                None if a.ctx_out is None else rank[a.ctx_out],
                frozenset(rank[x] for x in a.lost_unreported))

    def recall(self, ev: TraceEvent, cands: Any
               ) -> tuple[Any, tuple[Any, ...] | None]:
        """Why: as for the reference checker, a steady workload repeats a few hundred (model
        state, per-task view, event) shapes, once task ids are renamed by rank and poll
        counts are taken relative to the trace's. A hit returns the next candidate set in
        that renamed form (:class:`_CanonSet`), so a run of hits renames nothing: the next
        key is read off the set, and the per-task views are rebuilt (:meth:`materialize`)
        only when an event misses the memo."""
        if isinstance(cands, _CanonSet):
            cid, ids, pbase = cands.cid, cands.ids, cands.pbase
            r = -1
            if ev.task is not None:
                try:
                    r = ids.index(ev.task)
                except ValueError:
                    if ids and ev.task < ids[-1]:  # a new id among the old: rank anew
                        return self.recall(ev, self.materialize(cands))
                    r = len(ids)
                    ids, pbase = (*ids, ev.task), (*pbase, 0)
        else:
            got = self._canon(cands, ev)
            if got is None:
                return None, None
            canon, ids_l, polls = got
            cid = self.mach.canon_id(canon)
            ids = tuple(ids_l)
            pbase = tuple(polls.get(tid, 0) for tid in ids)
            r = -1 if ev.task is None else ids.index(ev.task)
        rel = ev.poll - pbase[r] if r >= 0 else ev.poll
        key = (cid, ev.event, ev.detail, r, rel, self.open_drive)
        hit = self.mach.event_memo.get(key)
        if hit is None:
            self._pending = (key, self.mach, ids, pbase)
            return None, key
        out_cid, results, pick, dpolls, live = hit
        if ev.event == "spawn":
            self.spawned += 1
        elif ev.event == "run_start":
            self.open_drive = True
        elif ev.event == "run_end":
            self.open_drive = False
        self.live_max = max(self.live_max, live)
        kept = pick(pbase)
        return _CanonSet(out_cid, results, pick(ids),
                         kept if dpolls is None else tuple(map(add, kept, dpolls))), None

    def materialize(self, cands: Any) -> dict[Any, Hits]:
        """The per-task views of a renamed set, rebuilt (interned :class:`_Task` values)."""
        if not isinstance(cands, _CanonSet):
            return cast("dict[Any, Hits]", cands)
        ids, pbase = cands.ids, cands.pbase
        out: dict[Any, Hits] = {}
        made_tasks = self._tasks
        for sid, tasks, queue, taken, made, ctx_out, lost in cands.canon:
            view: dict[int, _Task] = {}
            for r, ph, w, e, ctx, dp in tasks:
                tk = (ph, w, e, pbase[r] + dp, ctx)
                task = made_tasks.get(tk)
                if task is None:
                    if len(made_tasks) > _TASKS_KEPT:
                        made_tasks.clear()
                    task = made_tasks[tk] = _Task(*tk)
                view[ids[r]] = task
            aux = _SeedAux(
                view,
                tuple(ids[q] for q in queue), None if taken is None else ids[taken], made,
                None if ctx_out is None else ids[ctx_out], frozenset(ids[x] for x in lost))
            out[_SeedCand(sid, aux)] = ()
        return out

    def remember(self, key: tuple[Any, ...], ev: TraceEvent, before: Any,
                 new: dict[Any, Hits]) -> None:
        """Store the event's result in renamed form, renamed again for the ids it still names
        (``keep``: old rank of each new rank) with poll counts relative to the new bases
        (``dpolls``: each kept task's poll count moved by the event)."""
        pend, self._pending = self._pending, None
        if pend is None or pend[0] is not key or pend[1] is not self.mach:
            return  # the model grew on the way: the key names the old machine's states
        if not new or len(new) > MAX_EXPLANATIONS:
            return
        _, _, ids, pbase = pend
        rank = {tid: i for i, tid in enumerate(ids)}
        polls = dict(zip(ids, pbase, strict=True))
        results = []
        for c, h in new.items():
            a: _SeedAux = c.aux
            if h or a.aborted or a.confirm is not None:
                return
            named = set(a.tasks) | set(a.queue) | a.lost_unreported | {a.taken, a.ctx_out}
            if not named <= set(rank) | {None}:
                return
            results.append(self._canon_one(c.sid, a, rank, polls))
        named_r: set[int] = set()
        moved: dict[int, int] = {}
        for _, tasks, queue, taken, _, ctx_out, lost in results:
            named_r.update(queue, lost, (x for x in (taken, ctx_out) if x is not None))
            for r, *_rest, dp in tasks:
                named_r.add(r)
                if moved.setdefault(r, dp) != dp:
                    return  # explanations disagree on a poll count: not in renamed form
        keep = tuple(sorted(named_r))
        new_rank = {old: i for i, old in enumerate(keep)}
        # a rank with no task view (a queued entry of a freed task, a lost one) gets base 0,
        # as _canon gives it
        dpolls = tuple(moved.get(k, -pbase[k]) for k in keep)
        out = tuple(
            (sid, tuple((new_rank[r], ph, w, e, ctx, 0) for r, ph, w, e, ctx, _ in tasks),
             tuple(new_rank[q] for q in queue), None if taken is None else new_rank[taken],
             made, None if ctx_out is None else new_rank[ctx_out],
             frozenset(new_rank[x] for x in lost))
            for sid, tasks, queue, taken, made, ctx_out, lost in results)
        memo = self.mach.event_memo
        if len(memo) > MAX_STATES:
            memo.clear()
        memo[key] = (self.mach.canon_id(out), out, _picker(keep),
                     dpolls if any(dpolls) else None, max(len(c.aux.tasks) for c in new))

    # -- aborts: where the model blocks and SimpleExecutor raises ------------------------------

    def _abort(self, sid: int, aux: _SeedAux, hits: Hits, why: str,
               confirm: tuple[str, int] | None = None) -> Iterator[tuple[Any, Hits]]:
        """The model has no successor the executor takes: it blocks (SimpleExecutor raises
        DeadlockError instead) or the run ends by a task's exception. The trace is checked up
        to here; what follows is the executor going on beyond the model's horizon."""
        yield _SeedCand(sid, aux.with_(aborted=why, confirm=confirm)), hits

    def _after_abort(self, cand: _SeedCand, hits: Hits, ev: TraceEvent
                     ) -> Iterator[tuple[Any, Hits]]:
        aux = cand.aux
        if aux.confirm is None:
            yield cand, hits  # beyond the model's horizon: not checked
            return
        kind, t = aux.confirm
        if (kind == "lost" and ev.event == "lost" and ev.task == t) or (
                kind == "raised" and ev.event == "ready" and ev.detail == "DeadlockError"):
            note = (f"event #{self.index + 1}: the model blocks on the executor's own full channel "
                    f"({aux.aborted}); SimpleExecutor raised DeadlockError instead, and the "
                    "events after this one are beyond the model (not checked)")
            if note not in self.notes:
                self.notes.append(note)
            yield _SeedCand(cand.sid, aux.with_(confirm=None)), hits
        elif ev.event in ("waker_drop", "lost"):
            yield cand, hits  # the exception unwinding frees what it held
        else:
            self.reject(
                f"the model predicts the executor blocks on its own full channel ({aux.aborted})"
                ", but the trace goes on as if the send had waited or succeeded (a send from "
                "another thread is traced only once it has room; was its thread mislabelled?)")

    # -- the mapping ---------------------------------------------------------------------------

    def advance(self, cand: Any, hits: Hits, ev: TraceEvent) -> Iterator[tuple[Any, Hits]]:
        sid, aux = cand.sid, cand.aux
        if aux.aborted:
            yield from self._after_abort(cand, hits, ev)
            return
        origin = self.origin(ev)
        kind = "make_waker" if (ev.event, ev.detail) == ("waker_clone", "make_waker") else ev.event
        if aux.ctx_out is not None and origin == LOOP and kind != "lost" and not (
                kind == "waker_drop" and ev.task == aux.ctx_out):
            self.reject(f"the per-poll waker of task {aux.ctx_out} is dropped when its poll "
                        "ends, before the loop's next event; a 'waker_drop' of it must come "
                        f"before this '{kind}' from the loop's thread")
            return
        readings = self.decl.readings(kind, origin)
        if not readings:
            self.reject(f"SimpleExecutor has no '{kind}' event from the "
                        f"{'loop' if origin == LOOP else 'another'} thread (the seed design "
                        "has none)")
            return
        if kind == "run_start":
            for r in readings:
                cur: tuple[int, Hits] | None = (sid, hits)
                for name, _ in r.steps:
                    assert cur is not None
                    cur = self.take(cur[0], cur[1], name, why=r.label())
                    if cur is None:
                        break
                if cur is not None:
                    yield from self._ok(cur[0], aux, cur[1])
            return
        if kind == "run_end":
            yield from self._run_end(sid, aux, hits)
            return
        if ev.task is None:
            self.reject(f"a '{kind}' event must name its task")
            return
        if kind == "spawn":
            yield from self._spawn(sid, aux, hits, ev, readings)
            return
        task = aux.tasks.get(ev.task)
        if task is None:
            if kind == "waker_drop" and ev.task == aux.ctx_out and origin == LOOP:
                yield _SeedCand(sid, aux.with_(ctx_out=None)), hits  # the model freed it
                return
            if kind == "lost" and ev.task in aux.lost_unreported:
                yield _SeedCand(sid, aux.with_(
                    lost_unreported=aux.lost_unreported - {ev.task})), hits
                return
            why = ("has not been freed while pending" if kind == "lost"
                   else "was never spawned in this trace, or was freed")
            self.reject(f"task {ev.task} {why}")
            return
        yield from self._task_event(sid, aux, hits, ev, kind=kind, task=task, readings=readings)

    def _run_end(self, sid: int, aux: _SeedAux, hits: Hits) -> Iterator[tuple[Any, Hits]]:
        if aux.queue:
            self.reject(f"run() returned with {len(aux.queue)} entries in the channel")
            return
        r = self.take(sid, hits, "run_end")
        if r is not None:
            yield from self._ok(r[0], aux, r[1])

    def _spawn(self, sid: int, aux: _SeedAux, hits: Hits, ev: TraceEvent,
               readings: tuple[Reading, ...]) -> Iterator[tuple[Any, Hits]]:
        tid = ev.task
        assert tid is not None
        if tid in aux.tasks:
            self.reject(f"task {tid} is spawned twice")
            return
        before_run = self.mach.val(sid, "loop") == seed_model.NOT_STARTED
        for r in readings:
            remote = dict(r.steps[0][1])["remote"]
            if self.origin(ev) == THREAD and remote == 0 and not before_run:
                continue  # the executor's own sender lives only until run() drops it
            if self.origin(ev) == THREAD and remote == 1 and before_run:
                continue
            got = self.take(sid, hits, "spawn", remote, why=r.label())
            if got is None:
                continue
            nxt, h = got
            if self.mach.val(nxt, "blocked"):
                new = aux.with_(tasks={**aux.tasks, tid: _Task(_PENDING, 0, 0, 0)})
                yield from self._abort(nxt, new, h, f"spawn of task {tid} into the full "
                                       "channel", ("lost", tid))
                continue
            for name, fixed in r.steps[1:]:
                got = self.take(nxt, h, name, *(v for _, v in fixed), why=r.label())
                if got is None:
                    break
                nxt, h = got
            else:
                new = aux.with_(tasks={**aux.tasks, tid: _Task(_PENDING, 0, 1, 0)},
                                queue=(*aux.queue, tid))
                yield from self._ok(nxt, new, h)

    def _task_event(self, sid: int, aux: _SeedAux, hits: Hits, ev: TraceEvent, *, kind: str,
                    task: _Task, readings: tuple[Reading, ...]) -> Iterator[tuple[Any, Hits]]:
        tid = ev.task
        assert tid is not None
        if kind == "poll":
            if aux.taken != tid or not aux.made:
                self.reject(f"SimpleExecutor builds a new waker (make_waker) for the task recv() "
                            f"returned before every poll; none was recorded for task {tid}")
                return
            if ev.poll != task.polls + 1:
                self.reject(f"the event reports poll number {ev.poll}; task {tid} was polled "
                            f"{task.polls} time(s) before")
                return
            yield _SeedCand(sid, aux.set_task(tid, task.re(polls=task.polls + 1), taken=None,
                                              made=False)), hits
            return
        if ev.poll != task.polls:
            self.reject(f"the event reports poll number {ev.poll} but task {tid} was polled "
                        f"{task.polls} time(s)")
            return
        if kind == "make_waker":
            if aux.taken != tid or aux.made:
                queue = [f"t{x}" for x in aux.queue]
                head = (f"recv() returned task {aux.taken}" if aux.taken is not None
                        else f"recv() has not returned task {tid}")
                self.reject(f"{head} (channel {queue}; task {tid} is {task.show()})")
                return
            yield _SeedCand(sid, aux.set_task(tid, task.re(ctx=True), made=True)), hits
            return
        if kind in ("pending", "ready"):
            yield from self._poll_end(sid, aux, hits, ev, tid=tid, task=task)
            return
        if kind == "lost":
            self.reject(f"task {tid} has not been freed while pending ({task.show()})")
            return
        if kind == "waker_clone" and task.w + 1 > self.W:
            raise _Grow
        for r in readings:
            yield from self._reading(sid, aux, hits, kind=kind, tid=tid, task=task, r=r)

    def _reading(self, sid: int, aux: _SeedAux, hits: Hits, *, kind: str, tid: int, task: _Task,
                 r: Reading) -> Iterator[tuple[Any, Hits]]:
        name, fixed = r.steps[0] if r.steps else ("", ())
        params = tuple(v for _, v in fixed)
        label = f"{r.label()} [{r.handle or 'held'} waker]"
        if r.handle == "per_poll":
            if kind == "waker_drop":
                if aux.ctx_out != tid:
                    self.reject(f"as the per-poll waker's drop: task {tid}'s poll has not ended "
                                "with it live")
                    return
                yield from self._ok(sid, aux.set_task(tid, task.re(ctx=False), ctx_out=None),
                                    hits)
                return
            if not (task.phase == _RUNNING and task.ctx):
                self.reject(f"as {label}: task {tid} is not being polled with its per-poll "
                            f"waker live ({task.show()})")
                return
            new = task.re(e=task.e + 1, ctx=kind != "wake")
        else:
            if task.w == 0 and not (kind == "waker_clone" and task.phase == _RUNNING
                                    and task.ctx):
                self.reject(f"as {label}: task {tid} has no held waker ({task.show()})")
                return
            if kind == "waker_clone":
                new = task.re(w=task.w + 1)
            elif kind == "waker_drop":
                new = task.re(w=task.w - 1)
            else:
                new = task.re(w=task.w - (kind == "wake"), e=task.e + 1)
        got = self.take(sid, hits, name, self.c(task), *params, why=label)
        if got is None:
            return
        nxt, h = got
        if kind in ("wake", "wake_by_ref"):
            if self.mach.val(nxt, "blocked"):
                running = self.mach.val(sid, "loop") == seed_model.POLLING
                yield from self._abort(nxt, aux, h, f"{kind} of task {tid} into the full "
                                       "channel from the loop's own thread",
                                       ("raised", -1) if running else None)
                return
            yield from self._ok(nxt, aux.set_task(tid, new, queue=(*aux.queue, tid)), h)
            return
        yield from self._ok(nxt, aux.set_task(tid, new), h)

    def _poll_end(self, sid: int, aux: _SeedAux, hits: Hits, ev: TraceEvent, *, tid: int,
                  task: _Task) -> Iterator[tuple[Any, Hits]]:
        if task.phase != _RUNNING or aux.taken is not None:
            self.reject(f"task {tid} is not being polled ({task.show()})")
            return
        got = self.take(sid, hits, ev.event, self.c(task))
        if got is None:
            return
        nxt, h = got
        new = task.re(phase=_PENDING if ev.event == "pending" else _COMPLETE)
        if ev.event == "ready" and ev.detail is not None:
            why = (f"{ev.detail} raised by task {tid}'s poll propagates out of run() (a panic: "
                   "the seed model does not continue from it)")
            self.notes.append(f"event #{self.index + 1}: {why}; the events after it are not "
                              "checked")
            yield from self._abort(nxt, aux.set_task(tid, new), h, why)
            return
        yield from self._ok(nxt, aux.set_task(tid, new, ctx_out=tid if task.ctx else None), h)


class _Grow(Exception):
    """The seed model needs more held-waker classes for this event (raised, then retried)."""


# ---------------------------------------------------------------------------------------------
# Entry points
# ---------------------------------------------------------------------------------------------


def iter_events(source: str | Path | Trace | Iterable[TraceEvent]) -> Iterator[TraceEvent]:
    """Events one at a time from a :class:`Trace`, an iterable, or a JSON-lines file (read line
    by line, never whole)."""
    if isinstance(source, Trace):
        yield from source.events
        return
    if isinstance(source, (str, Path)):
        try:
            with Path(source).open(encoding="utf-8") as f:
                for lineno, line in enumerate(f, 1):
                    if line.strip():
                        try:
                            yield TraceEvent.from_json(line)
                        except (json.JSONDecodeError, ValueError) as e:
                            raise TraceCheckError(
                                f"{source}:{lineno}: not a refexec trace line: {e}") from e
        except OSError as e:
            raise TraceCheckError(f"{source}: cannot read the trace: {e}") from e
        return
    yield from source


def load_events(source: str | Path | Trace | Iterable[TraceEvent]) -> list[TraceEvent]:
    """Events from a :class:`Trace`, an iterable of events, or a JSON-lines file path, as a
    list (for callers that want them all; :func:`check_trace` streams instead)."""
    return list(iter_events(source))


def check_trace(
    events: Trace | Iterable[TraceEvent] | str | Path,
    variant: str = "reference",
    *,
    capacity: int = 100,
    properties: bool | None = None,
) -> TraceCheckResult:
    """Check a trace against the ``reference``, ``reference-any`` or ``seed`` model; see the
    module docstring. (``reference-any``: a run of ``Executor(policy=...)``, see VARIANTS.)

    ``events``: a :class:`~refexec.trace.Trace`, any iterable of events (consumed once, in one
    pass), or the path of a JSON-lines file (streamed).
    ``capacity``: the channel capacity of the ``SimpleExecutor`` that recorded a ``seed`` trace
    (the seed's own is 100).
    ``properties``: evaluate the model's properties along the trace (default: yes, for traces
    of any number of tasks; ``False`` checks validity only).
    """
    props = True if properties is None else properties
    ck: _Checker
    if variant in ("reference", "reference-any"):
        ck = _ReferenceChecker(props, any_policy=variant == "reference-any")
    elif variant == "seed":
        ck = _SeedChecker(capacity, props)
    else:
        raise TraceCheckError(f"unknown variant {variant!r}: a trace is checked against one of "
                              f"{', '.join(VARIANTS)}")
    return _run(ck, iter_events(events))
