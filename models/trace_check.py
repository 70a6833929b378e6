"""Trace validation: is a recorded run of an executor a behaviour of the model?

An executor run with ``trace=Trace()`` records what it did, event by event (``refexec.trace``).
:func:`check_trace` replays those events on the model's concrete interpretation
(:class:`~refexec.models.concrete.ConcreteModel`) through the *refinement mapping* of
``spec/SPEC.md``: each event becomes one model action, or a short sequence of them, which must be
*enabled* in the state the model is in (its guard holds), and whose *effect* must match what the
event reports (the task's poll number, the task state the event implies). The first event that no
explanation accepts makes the trace invalid, and the report names the event index, the event,
the model state and the reason.

Why a search and not a single replay: some of what the model distinguishes is not in the trace.

* Unobserved actions. The run loop's sleep/return decision (``idle_check``, ``sleep``,
  ``unpark``) and the ``Spawner`` handles (``spawner_new``, ``spawner_drop``) leave no event;
  between two events the checker lets the model take any number of them.
* Which thread. A wake on the loop thread outside any poll (a join waiter woken when the task it
  awaits ends) is, in the model, a wake posted by another thread and drained at once
  (``wake(remote=1)``, then ``inbox_drain``): the trace does not say, so both readings are tried.
* Deferred effects. A cancel requested during the task's own poll is recorded only when the poll
  returns (``pending`` then ``cancel``); the model takes it earlier (``cancel`` while polling
  sets ``creq``), so ``pending`` is also read as "a cancel was requested during this poll".
* SimpleExecutor's per-poll waker is implicit in the seed model (the running task's context
  waker), and a ``wake`` during a poll may consume it or a held clone.

So the checker keeps the *set* of model states that explain the trace so far (usually one or
two; deduplicated) and advances all of them. A trace is valid when the set is non-empty after
the last event.

Beyond validity, the checker reports the properties (``spec/SPEC.md`` IDs) that every
explanation violates, and at which event: a trace of ``SimpleExecutor`` that ends in its
``DeadlockError`` is *valid* against the ``seed`` model (the model predicts exactly that block)
and is reported with ``EX-NO-SELF-BLOCK``; against the ``reference`` model it is invalid.

Drive calls. The model describes one ``run()``; the executor also has ``step()``,
``run_until_stalled()`` and ``block_on()``. They are checked as a ``run()`` cut short: when a
drive call returns for another reason than "no sender remains", the model's loop goes back to
``NOT_STARTED`` (an environment step of the checker, not a model action), and a ``step()``
outside any ``run_start``/``run_end`` pair enters and leaves the loop the same way.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, NamedTuple

from refexec.models import reference as ref_model
from refexec.models import seed as seed_model
from refexec.models.concrete import ConcreteModel, Frozen, StateDict
from refexec.models.reference import Loop
from refexec.models.system import TransitionSystem
from refexec.state import TRANSITIONS, TaskEvent, TaskState
from refexec.trace import Trace, TraceEvent

__all__ = [
    "VARIANTS",
    "PropertyHit",
    "TraceCheckError",
    "TraceCheckResult",
    "TraceViolation",
    "check_trace",
    "load_events",
]

VARIANTS = ("reference", "seed")
"""The model variants a trace can be checked against (the two executors' designs)."""

PROPERTY_TASKS = 8
"""Up to this many tasks the model's properties are evaluated on every step by default; some
formulas (FIFO fairness) grow with the cube of the task count, so larger traces are checked for
validity only unless ``properties=True`` is passed."""

MAX_EXPLANATIONS = 20_000
"""Bound on the set of explaining states; past it the check gives up (``TraceCheckError``)."""


class TraceCheckError(ValueError):
    """The trace cannot be checked at all (unknown variant, malformed events, too ambiguous)."""


# ---------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------


def _fmt_event(e: TraceEvent) -> str:
    return e.to_json()


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
        lines = [f"event #{self.index + 1}: {_fmt_event(self.event)}"]  # shown from 1, as run
        lines.append(f"  why: {self.reason}")
        lines.append(f"  model state before it: {self.state}")
        if self.explanations > 1:
            lines.append(f"  ({self.explanations} model states explained the trace so far; "
                         "none accepts this event; the reason is given for the first)")
        if self.before:
            lines.append("  preceding events:")
            lines.extend(f"    #{i + 1}: {_fmt_event(e)}" for i, e in self.before)
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
    """The verdict of :func:`check_trace`. Truthy exactly when the trace is valid."""

    variant: str
    events: int
    violation: TraceViolation | None
    properties: tuple[PropertyHit, ...] = ()
    notes: tuple[str, ...] = ()
    explanations: int = 0
    tasks: Mapping[int, int] = field(default_factory=dict)
    """Trace task id -> model task index (spawn order)."""
    final_state: str = ""

    @property
    def ok(self) -> bool:
        return self.violation is None

    def __bool__(self) -> bool:
        return self.ok

    def violated(self) -> list[str]:
        """IDs of the properties every explanation of the trace violates."""
        return [p.id for p in self.properties]

    def report(self) -> str:
        """A human-readable verdict (what ``refexec check-trace`` prints)."""
        head = (
            f"trace VALID against the '{self.variant}' model: {self.events} events, "
            f"{len(self.tasks)} task(s)"
            if self.ok
            else f"trace INVALID against the '{self.variant}' model"
        )
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
# The search
# ---------------------------------------------------------------------------------------------

# A candidate: (frozen model state, checker-side auxiliary data), both hashable.
Cand = tuple[Frozen, Any]
# Properties violated on a candidate's path: property id -> first event index.
Hits = tuple[tuple[str, int], ...]


def _merge_hits(a: Hits, b: Hits) -> Hits:
    """Two paths reach the same candidate: keep what both violate (the charitable reading)."""
    db = dict(b)
    return tuple(sorted((pid, min(i, db[pid])) for pid, i in a if pid in db))


def _add_hits(h: Hits, ids: Iterable[str], index: int) -> Hits:
    d = dict(h)
    for pid in ids:
        d.setdefault(pid, index)
    return tuple(sorted(d.items()))


class _Refinement:
    """One variant's refinement mapping: how each event advances a candidate."""

    variant = ""

    def __init__(self, system: TransitionSystem) -> None:
        self.system = system
        self.model = ConcreteModel(system)
        self.reasons: list[str] = []
        self.index = 0
        self.notes: list[str] = []
        self.check_properties = True

    # -- helpers shared by the variants ---------------------------------------------------------

    def take(self, state: StateDict, name: str, hits: list[Hits], **params: int
             ) -> StateDict | None:
        """Take a model action if enabled (recording why not otherwise) and check properties."""
        action = self.system.action(name)
        if not self.model.is_enabled(state, action, params):
            self.reasons.append(self.why_disabled(state, name, params))
            return None
        nxt = self.model.successor(state, action, params)
        if not self.check_properties:
            return nxt
        bad = self.model.check(nxt) + self.model.check_step(state, nxt, action, params)
        if bad:
            hits[0] = _add_hits(hits[0], bad, self.index)
        return nxt

    def why_disabled(self, state: StateDict, name: str, params: Mapping[str, int]) -> str:
        label = self.system.action(name).label(params)
        return f"the model's {label} is not enabled here (its guard is false)"

    def show(self, cand: Cand) -> str:
        return self.model.show(self.model.thaw(cand[0]), ghosts=False)

    # -- to be provided ---------------------------------------------------------------------------

    def initial(self) -> list[Cand]:
        raise NotImplementedError

    def advance(self, cand: Cand, hits: Hits, event: TraceEvent
                ) -> Iterator[tuple[Cand, Hits]]:
        raise NotImplementedError

    def closure(self, cands: dict[Cand, Hits]) -> dict[Cand, Hits]:
        return cands

    def before_event(self, event: TraceEvent) -> None:
        """Called before every event is advanced (for trace-wide context, e.g. drive calls)."""

    def after_event(self, event: TraceEvent) -> None:
        """Called after every event was accepted."""

    def task_map(self) -> dict[int, int]:
        return {}


def _malformed(ev: TraceEvent) -> str | None:
    """Executor-wide events carry no task and poll 0; task events name a task."""
    if ev.event in ("run_start", "run_end"):
        if ev.task is not None or ev.poll != 0:
            return f"an executor-wide event carries no task and poll 0, not {ev.task}/{ev.poll}"
    elif ev.task is None:
        return f"a '{ev.event}' event must name its task"
    elif ev.poll < 0:
        return f"a poll number cannot be negative ({ev.poll})"
    return None


def _run(ref: _Refinement, events: Sequence[TraceEvent]) -> TraceCheckResult:
    cands: dict[Cand, Hits] = dict.fromkeys(ref.initial(), ())
    cands = ref.closure(cands)
    for i, ev in enumerate(events):
        ref.index = i
        ref.reasons = []
        ref.before_event(ev)
        malformed = _malformed(ev)
        new: dict[Cand, Hits] = {}
        if malformed:
            ref.reasons.append(malformed)
            cands_now: dict[Cand, Hits] = {}
        else:
            cands_now = cands
        for cand, hits in cands_now.items():
            for nxt, h in ref.advance(cand, hits, ev):
                new[nxt] = _merge_hits(new[nxt], h) if nxt in new else h
        if not new:
            first = next(iter(cands))
            reason = ref.reasons[0] if ref.reasons else "no model action corresponds to it"
            before = tuple((j, events[j]) for j in range(max(0, i - 4), i))
            violation = TraceViolation(i, ev, ref.show(first), reason, len(cands), before)
            return _result(ref, len(events), violation, cands)
        ref.after_event(ev)
        cands = ref.closure(new)
        if len(cands) > MAX_EXPLANATIONS:
            raise TraceCheckError(
                f"more than {MAX_EXPLANATIONS} model states explain the trace up to event "
                f"#{i + 1}; "
                "the trace is too ambiguous to check (is it a trace of this executor?)"
            )
    return _result(ref, len(events), None, cands)


def _result(ref: _Refinement, n: int, violation: TraceViolation | None,
            cands: dict[Cand, Hits]) -> TraceCheckResult:
    # properties every explanation violates
    common: Hits | None = None
    for h in cands.values():
        common = h if common is None else _merge_hits(common, h)
    titles = {p.id: p.title for p in ref.system.properties}
    props = tuple(PropertyHit(pid, i, titles.get(pid, ""))
                  for pid, i in sorted(common or (), key=lambda x: (x[1], x[0])))
    final = ref.show(next(iter(cands))) if cands and violation is None else ""
    return TraceCheckResult(
        ref.variant, n, violation, props if violation is None else (), tuple(ref.notes),
        len(cands), dict(ref.task_map()), final,
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


def _task_ids(events: Sequence[TraceEvent]) -> dict[int, int]:
    """Trace task id -> model index, in the order the tasks were spawned."""
    out: dict[int, int] = {}
    for e in events:
        if e.event == "spawn" and e.task is not None and e.task not in out:
            out[e.task] = len(out)
    return out


def _max_wakers(events: Sequence[TraceEvent], extra: Callable[[TraceEvent], int]) -> int:
    """The most live waker handles any task has at once, counting as the trace reports them."""
    live: dict[int | None, int] = {}
    most = 1
    for e in events:
        d = {"waker_clone": 1, "wake": -1, "waker_drop": -1}.get(e.event, 0) + extra(e)
        if d:
            live[e.task] = live.get(e.task, 0) + d
            most = max(most, live[e.task])
    return most


class _ReferenceRefinement(_Refinement):
    """Event -> action(s) for ``refexec.Executor`` and the ``reference`` model.

    Candidate auxiliary data: the model index of a task whose cancel the model has applied when
    its poll returned (a cancel requested during its own poll) and whose ``cancel`` event must
    come next, or -1.
    """

    variant = "reference"

    def __init__(self, events: Sequence[TraceEvent]) -> None:
        self.ids = _task_ids(events)
        n = max(1, len(self.ids))
        polls = max([e.poll for e in events if e.task is not None] + [0]) + 1
        wakers = _max_wakers(events, lambda e: 0)
        bounds = ref_model.default_bounds(
            n, polls=polls, wakers=wakers, inbox=1, spawners=1, remote=1, join=0)
        super().__init__(ref_model.build(bounds))
        self.in_drive = False
        self.drive = ""
        self.hidden = [(a, p) for a, p in self.model.instances
                       if a.name in ("idle_check", "sleep", "unpark", "spawner_new",
                                     "spawner_drop")]

    def task_map(self) -> dict[int, int]:
        return self.ids

    def initial(self) -> list[Cand]:
        return [(self.model.freeze(self.model.initial()), _NONE)]

    # -- environment steps (not model actions; see the module docstring) ---------------------------

    @staticmethod
    def _leave(s: StateDict) -> StateDict | None:
        """A drive call returns from a loop state the model's ``step_return`` does not leave
        (deciding, asleep on a stall, returned): the loop goes back to NOT_STARTED."""
        if s["loop"] in (Loop.NOT_STARTED, Loop.POLLING):
            return None
        out = dict(s)
        out.update(loop=Loop.NOT_STARTED, lock=False, signal=False)
        return out

    @staticmethod
    def _enter(s: StateDict) -> StateDict | None:
        """``step()`` outside run(): the caller's thread polls, as the loop would."""
        if s["loop"] != Loop.NOT_STARTED:
            return None
        out = dict(s)
        out["loop"] = Loop.DISPATCH
        return out

    def closure(self, cands: dict[Cand, Hits]) -> dict[Cand, Hits]:
        """Add every state reachable by unobserved actions (the loop's decision, spawners)."""
        out = dict(cands)
        todo = list(cands)
        m = self.model
        while todo:
            key = todo.pop()
            state_key, aux = key
            if aux != _NONE:
                continue  # a deferred cancel must be reported by the very next event
            s = m.thaw(state_key)
            hits = out[key]
            succ: list[StateDict] = []
            for a, p in self.hidden:
                if m.is_enabled(s, a, p):
                    succ.append(m.successor(s, a, p))
            if not self.in_drive:
                for f in (self._enter, self._leave):
                    r = f(s)
                    if r is not None:
                        succ.append(r)
            for s2 in succ:
                k2 = (m.freeze(s2), aux)
                if k2 not in out:
                    out[k2] = hits
                    todo.append(k2)
                    if len(out) > MAX_EXPLANATIONS:
                        return out
        return out

    def why_disabled(self, state: StateDict, name: str, params: Mapping[str, int]) -> str:
        base = super().why_disabled(state, name, params)
        t = params.get("t")
        loop = ref_model.LOOP_NAMES[state["loop"]]
        if t is None:
            if name == "run_start":
                return f"{base}: run() is already running (loop {loop})"
            return f"{base} (loop {loop})"
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
        if name == "waker_clone":
            return (f"{base}: t{t} has {state['wakers'][t]} live waker(s) and is {st_name}: a "
                    "waker is cloned from a held one, or from the context during its poll")
        if name == "wake_by_ref":
            return f"{base}: t{t} is {st_name} with no live waker handle"
        if name == "lost":
            return (f"{base}: t{t} is {st_name} with {state['wakers'][t]} live waker(s); a task "
                    "is lost only when IDLE with none (loop must be between polls, is {loop})")
        if name in ("pending", "ready"):
            return f"{base}: t{t} is {st_name}, not being polled"
        return f"{base} (t{t} is {st_name}, loop {loop})"

    # -- the mapping ---------------------------------------------------------------------------

    def options(self, ev: TraceEvent, t: int, state: StateDict
                ) -> list[tuple[list[tuple[str, dict[str, int]]], Any]]:
        """Alternative action sequences for one event, each with the aux it leaves."""
        remote_only = ev.detail == "inbox"
        kind = ev.event

        def woken(name: str) -> list[tuple[list[tuple[str, dict[str, int]]], Any]]:
            remote = [(name, {"t": t, "remote": 1}), ("inbox_drain", {"t": t})]
            local = [(name, {"t": t, "remote": 0})]
            return [(remote, _NONE)] if remote_only else [(local, _NONE), (remote, _NONE)]

        if kind == "spawn":
            if remote_only:
                return [([("spawn", {"t": t, "remote": 1}), ("inbox_drain", {"t": t})], _NONE)]
            return [([("spawn", {"t": t, "remote": 0})], _NONE)]
        if kind == "poll":
            return [([("poll", {"t": t})], _NONE)]
        if kind == "pending":
            return [([("pending", {"t": t})], _NONE),
                    ([("cancel", {"t": t}), ("pending", {"t": t})], t)]
        if kind == "ready":
            return [([("ready", {"t": t})], _NONE)]
        if kind in ("wake", "wake_by_ref"):
            return woken(kind)
        if kind == "waker_clone":
            return [([("waker_clone", {"t": t})], _NONE)]
        if kind == "waker_drop":
            remote = [([("waker_drop", {"t": t, "remote": 1})], _NONE)]
            return remote if remote_only else [
                ([("waker_drop", {"t": t, "remote": 0})], _NONE), *remote]
        if kind == "cancel":
            return [([("cancel", {"t": t})], _NONE)]
        if kind == "lost":
            return [([("lost", {"t": t})], _NONE)]
        raise TraceCheckError(f"event {kind!r} has no refinement for the reference model")

    def advance(self, cand: Cand, hits: Hits, ev: TraceEvent) -> Iterator[tuple[Cand, Hits]]:
        m = self.model
        state_key, deferred = cand
        s = m.thaw(state_key)
        kind = ev.event
        if kind in ("run_start", "run_end"):
            if deferred != _NONE:
                self.reasons.append(f"the cancel of t{deferred} applied when its poll returned "
                                    "was not reported by a 'cancel' event")
                return
            yield from self._drive_event(s, hits, ev)
            return
        if ev.task is None or ev.task not in self.ids:
            self.reasons.append(f"task {ev.task} was never spawned in this trace")
            return
        t = self.ids[ev.task]
        if deferred != _NONE:
            if kind == "cancel" and deferred == t:
                yield from self._observe(s, hits, ev, t, _NONE)
            else:
                self.reasons.append(f"the cancel of t{deferred} applied when its poll returned "
                                    "was not reported by a 'cancel' event next")
            return
        for seq, aux in self.options(ev, t, s):
            h = [hits]
            cur: StateDict | None = s
            for i, (name, params) in enumerate(seq):
                assert cur is not None
                if i > 0 and name == "inbox_drain":
                    # the loop may have to wake up before it drains (the post signalled it)
                    cur = self._wake_loop(cur, h)
                cur = self.take(cur, name, h, **params)
                if cur is None:
                    break
            if cur is not None:
                yield from self._observe(cur, h[0], ev, t, aux)

    def _wake_loop(self, s: StateDict, h: list[Hits]) -> StateDict:
        if s["loop"] == Loop.ASLEEP and s["signal"]:
            nxt = self.take(s, "unpark", h)
            if nxt is not None:
                return nxt
        return s

    def _observe(self, s: StateDict, hits: Hits, ev: TraceEvent, t: int, aux: Any
                 ) -> Iterator[tuple[Cand, Hits]]:
        """The effect must match what the event reports: poll number and implied task state."""
        polls = s["polls"][t]
        if polls != ev.poll:
            self.reasons.append(
                f"the event reports poll number {ev.poll} but the model's poll counter of "
                f"t{t} is {polls}")
            return
        st = s["st"][t]
        want = {"poll": (S.RUNNING,), "pending": (S.IDLE, S.SCHEDULED, S.CANCELLED),
                "ready": (S.COMPLETE,), "cancel": (S.CANCELLED,), "lost": (S.CANCELLED,),
                "spawn": (S.SCHEDULED,)}.get(ev.event)
        if want is not None and st not in [int(w) for w in want]:
            self.reasons.append(f"after {ev.event} the model has t{t} {_ST_NAMES[st]}")
            return
        if ev.event == "pending" and aux == _NONE and st == int(S.CANCELLED):
            self.reasons.append("a cancel applied at the end of the poll must be reported")
            return
        yield (self.model.freeze(s), aux), hits

    def _drive_event(self, s: StateDict, hits: Hits, ev: TraceEvent
                     ) -> Iterator[tuple[Cand, Hits]]:
        h = [hits]
        if ev.event == "run_start":
            if s["loop"] == Loop.RETURNED:  # a later drive call: the loop may start again
                left = self._leave(s)
                assert left is not None
                s = left
            nxt = self.take(s, "run_start", h)
            if nxt is not None:
                yield (self.model.freeze(nxt), _NONE), h[0]
            return
        # run_end: only run() returns because no sender remains; other calls stop early
        if self.drive == "run" and ev.detail == "done":
            nxt = self.take(s, "run_end", h)
        elif s["loop"] == Loop.DISPATCH:  # step()/run_until_stalled() between polls
            nxt = self.take(s, "step_return", h)
        else:
            nxt = self._leave(s)
            if nxt is None:
                self.reasons.append(f"{self.drive}() cannot return while the model's loop is "
                                    f"{ref_model.LOOP_NAMES[s['loop']]}")
        if nxt is not None:
            yield (self.model.freeze(nxt), _NONE), h[0]

    def before_event(self, ev: TraceEvent) -> None:
        if ev.event == "run_start":
            self.drive = ev.detail or "run"
            self.in_drive = True

    def after_event(self, ev: TraceEvent) -> None:
        if ev.event == "run_end":
            self.in_drive = False


# ---------------------------------------------------------------------------------------------
# The seed variant (refexec.SimpleExecutor)
# ---------------------------------------------------------------------------------------------

_PENDING, _RUNNING, _COMPLETE = seed_model.PENDING, seed_model.RUNNING, seed_model.COMPLETE


class _Task(NamedTuple):
    """One task as a SimpleExecutor trace shows it (the exact view behind the seed's counters)."""

    phase: int  # _PENDING (future in its slot), _RUNNING, _COMPLETE
    w: int  # held waker handles (clones), not counting the per-poll waker
    e: int  # entries in the channel (exact; the model keeps 0, 1, 2+)
    polls: int
    ctx: bool  # the per-poll waker is live (only during a poll and until its drop)
    reported: bool = False  # a 'lost' event reported it freed

    def freed(self) -> bool:
        """No reference is left (the per-poll waker aside, which the model folds into the
        poll): the model has freed the task (``lost`` if pending, ``freed`` if complete)."""
        return self.phase != _RUNNING and self.w == 0 and self.e == 0


@dataclass(frozen=True)
class _SeedAux:
    """Per-candidate checker data for the seed."""

    tasks: tuple[_Task, ...]
    queue: tuple[int, ...]
    """The channel's entries, as model task indices, in FIFO order."""
    expect: tuple[str, int] | None = None
    """An event that must come next: ("poll", t) after make_waker; ("ctx_drop", t) after a poll
    ended with its per-poll waker still live."""
    aborted: str = ""
    """Why the run ended by an exception the model does not continue from (a DeadlockError the
    model predicts as ``blocked``, or a task's exception propagating like a panic)."""
    confirm: tuple[str, int] | None = None
    """The event that shows the executor really raised where the model blocks: ("lost", t) for
    the task whose spawn failed, ("raised", -1) for a poll ending in DeadlockError."""

    def with_task(self, t: int, task: _Task, **kw: Any) -> _SeedAux:
        tasks = list(self.tasks)
        tasks[t] = task
        return replace(self, tasks=tuple(tasks), **kw)


class _SeedRefinement(_Refinement):
    """Event -> action for ``refexec.SimpleExecutor`` and the counter-abstracted ``seed`` model.

    The seed model counts tasks per class ``(phase, held wakers, entries)``; a trace names tasks.
    The checker keeps the exact per-task view the trace implies (:class:`_SeedAux`), picks the
    class parameter of each action from it, and after every step checks that the model's
    counters equal the counts of that view: the abstraction function of the refinement mapping.
    The view also keeps the channel in FIFO order, which the model abstracts away, so the order
    of polls is checked too.

    * ``waker_clone`` with detail ``make_waker`` is the per-poll waker: no model action (the
      running task's context waker is implicit in the model); the ``waker_drop`` right after the
      poll ends is its drop.
    * Entries of completed tasks are skipped by ``recv()`` without an event: the model's
      ``discard`` is taken, in FIFO order, before the next poll and before ``run_end``.
    * ``lost`` (detail ``silent``) reports a task freed while pending, which the model has
      counted in its ghost ``lost`` already.
    * A spawn from inside a running task uses that task's sender (the model's local spawn
      while ``POLLING``). A spawn from another thread (detail ``thread``) traced after
      ``run_start`` began before ``run()`` dropped the executor's sender (SimpleExecutor
      refuses later ones) and waited for room holding a clone of it: the model's spawner,
      which SimpleExecutor does not trace, so the checker makes one just before ``run_start``
      and drops it right after the last such spawn.
    """

    variant = "seed"

    def __init__(self, events: Sequence[TraceEvent], capacity: int) -> None:
        self.ids = _task_ids(events)
        n = max(1, len(self.ids))
        wakers = _max_wakers(
            events, lambda e: -1 if e.event == "waker_clone" and e.detail == "make_waker" else 0)
        bounds = seed_model.default_bounds(n, capacity=capacity, wakers=wakers, spawners=1)
        super().__init__(seed_model.build(bounds))
        self.cls = seed_model.classes(wakers)
        self.n = n
        starts = [i for i, e in enumerate(events) if e.event == "run_start"]
        late = [i for i, e in enumerate(events)
                if e.event == "spawn" and e.detail == "thread" and starts and i > starts[0]]
        self.late_spawns = frozenset(late)
        self.needs_spawner = bool(late)
        self.last_late_spawn = late[-1] if late else -1

    def task_map(self) -> dict[int, int]:
        return self.ids

    def initial(self) -> list[Cand]:
        return [(self.model.freeze(self.model.initial()), _SeedAux((), ()))]

    def show(self, cand: Cand) -> str:
        s = self.model.thaw(cand[0])
        parts = [f"{s['cnt'][i]}x{seed_model.class_name(c)}"
                 for i, c in enumerate(self.cls) if s["cnt"][i]]
        aux: _SeedAux = cand[1]
        queue = ",".join(f"t{x}" for x in aux.queue)
        return (f"tasks=[{' '.join(parts)}] unspawned={s['unspawned']} qlen={s['qlen']} "
                f"spawners={s['spawners']} loop={seed_model.LOOP_NAMES[s['loop']]} "
                f"blocked={s['blocked']} lost={s['lost']} freed={s['freed']} | "
                f"channel=[{queue}]")

    def c(self, task: _Task) -> int:
        return seed_model.class_index(self.cls, task.phase, task.w,
                                      min(task.e, seed_model.E_MAX))

    def why_disabled(self, state: StateDict, name: str, params: Mapping[str, int]) -> str:
        base = super().why_disabled(state, name, params)
        loop = seed_model.LOOP_NAMES[state["loop"]]
        if name == "run_end":
            return (f"{base}: recv() fails only when the channel is empty and no sender is "
                    f"left (qlen={state['qlen']}, spawners={state['spawners']}, live tasks="
                    f"{sum(state['cnt'])})")
        if name == "spawn" and state["loop"] != seed_model.NOT_STARTED:
            return f"{base}: after run() a spawn needs a live sender (loop {loop})"
        return f"{base} (loop {loop}, blocked={state['blocked']})"

    # -- the abstraction function --------------------------------------------------------------

    def mismatch(self, s: StateDict, aux: _SeedAux) -> str | None:
        """The model's counters against the counts of the per-task view; None if equal."""
        cnt = [0] * len(self.cls)
        lost = freed = 0
        for task in aux.tasks:
            if task.freed():
                if task.phase == _PENDING:
                    lost += 1
                else:
                    freed += 1
            else:
                cnt[self.c(task)] += 1
        want = {"cnt": tuple(cnt), "qlen": len(aux.queue), "lost": lost, "freed": freed,
                "unspawned": self.n - len(aux.tasks)}
        for k, v in want.items():
            if s[k] != v:
                return (f"the model has {k}={s[k]} but the tasks as the trace shows them give "
                        f"{k}={v}")
        return None

    def _ok(self, s: StateDict, aux: _SeedAux, hits: Hits) -> Iterator[tuple[Cand, Hits]]:
        bad = self.mismatch(s, aux)
        if bad is not None:
            self.reasons.append(f"model and trace disagree: {bad}")
            return
        yield (self.model.freeze(s), aux), hits

    def _abort(self, s: StateDict, aux: _SeedAux, hits: Hits, why: str,
               confirm: tuple[str, int] | None = None) -> Iterator[tuple[Cand, Hits]]:
        """The model has no successor the executor takes: it blocks (SimpleExecutor raises
        DeadlockError instead) or the run ends by a task's exception. The trace is checked up
        to here; what follows is the executor going on beyond the model's horizon."""
        yield (self.model.freeze(s), replace(aux, expect=None, aborted=why, confirm=confirm)), hits

    def _after_abort(self, cand: Cand, hits: Hits, ev: TraceEvent, aux: _SeedAux
                     ) -> Iterator[tuple[Cand, Hits]]:
        if aux.confirm is None:
            yield cand, hits  # beyond the model's horizon: not checked
            return
        kind, t = aux.confirm
        t_ev = self.ids.get(ev.task) if ev.task is not None else None
        if (kind == "lost" and ev.event == "lost" and t_ev == t) or (
                kind == "raised" and ev.event == "ready" and ev.detail == "DeadlockError"):
            note = (f"event #{self.index + 1}: the model blocks on the executor's own full "
                    f"channel ({aux.aborted}); SimpleExecutor raised DeadlockError instead, and "
                    "the events after this one are beyond the model (not checked)")
            if note not in self.notes:
                self.notes.append(note)
            yield (cand[0], replace(aux, confirm=None)), hits
        elif ev.event in ("waker_drop", "lost"):
            yield cand, hits  # the exception unwinding frees what it held
        else:
            self.reasons.append(
                f"the model predicts the executor blocks on its own full channel ({aux.aborted})"
                f", but the trace goes on as if the send had waited or succeeded (a send from "
                "another thread is traced only once it has room; was its thread mislabelled?)")

    def _discard(self, s: StateDict, aux: _SeedAux, h: list[Hits]
                 ) -> tuple[StateDict, _SeedAux] | None:
        """recv() skips entries of completed tasks (no event): the model's ``discard``."""
        while aux.queue and aux.tasks[aux.queue[0]].phase == _COMPLETE:
            u = aux.queue[0]
            task = aux.tasks[u]
            k = 1 if task.e - 1 >= seed_model.E_MAX else 0
            nxt = self.take(s, "discard", h, c=self.c(task), k=k)
            if nxt is None:
                return None
            s, aux = nxt, aux.with_task(u, task._replace(e=task.e - 1), queue=aux.queue[1:])
        return s, aux

    @staticmethod
    def _phase(task: _Task) -> str:
        name = ("pending", "running", "complete")[task.phase]
        return f"{name}, {task.w} held waker(s), {task.e} entr{'y' if task.e == 1 else 'ies'}"

    # -- the mapping ---------------------------------------------------------------------------

    def advance(self, cand: Cand, hits: Hits, ev: TraceEvent) -> Iterator[tuple[Cand, Hits]]:
        s = self.model.thaw(cand[0])
        aux: _SeedAux = cand[1]
        if aux.aborted:
            yield from self._after_abort(cand, hits, ev, aux)
            return
        if aux.expect is not None:
            kind, t = aux.expect
            same = ev.task is not None and self.ids.get(ev.task) == t
            if kind == "poll" and not (same and ev.event == "poll"):
                self.reasons.append(f"SimpleExecutor makes a waker for t{t} and polls it at "
                                    "once: a 'poll' event must follow 'make_waker'")
                return
            if kind == "ctx_drop" and not (same and ev.event == "waker_drop"):
                self.reasons.append(f"the per-poll waker of t{t} is dropped when its poll ends: "
                                    "a 'waker_drop' must follow pending/ready")
                return
        if ev.event == "run_start":
            yield from self._run_start(s, aux, hits)
        elif ev.event == "run_end":
            yield from self._run_end(s, aux, hits)
        elif ev.task is None or ev.task not in self.ids:
            self.reasons.append(f"task {ev.task} was never spawned in this trace")
        elif ev.event == "spawn":
            # before run() any thread spawns with the executor's own sender (the model's local
            # spawn); after it, another thread's spawn is one that waited for room
            remote = int(self.index in self.late_spawns)
            yield from self._spawn(s, aux, hits, self.ids[ev.task], remote)
        else:
            t = self.ids[ev.task]
            if t >= len(aux.tasks):
                self.reasons.append(f"task {ev.task} is used before it was spawned")
                return
            yield from self._task_event(s, aux, hits, ev, t)

    def _run_start(self, s: StateDict, aux: _SeedAux, hits: Hits
                   ) -> Iterator[tuple[Cand, Hits]]:
        h = [hits]
        cur: StateDict | None = s
        if self.needs_spawner:
            cur = self.take(s, "spawner_new", h)
        if cur is not None:
            cur = self.take(cur, "run_start", h)
        if cur is not None:
            yield (self.model.freeze(cur), aux), h[0]

    def _run_end(self, s: StateDict, aux: _SeedAux, hits: Hits) -> Iterator[tuple[Cand, Hits]]:
        h = [hits]
        r = self._discard(s, aux, h)
        if r is None:
            return
        s, aux = r
        if aux.queue:
            self.reasons.append(f"run() returned with {len(aux.queue)} entries in the channel")
            return
        if s["spawners"]:
            nxt = self.take(s, "spawner_drop", h, remote=1)
            if nxt is None:
                return
            s = nxt
        nxt = self.take(s, "run_end", h)
        if nxt is not None:
            yield from self._ok(nxt, aux, h[0])

    def _spawn(self, s: StateDict, aux: _SeedAux, hits: Hits, t: int, remote: int
               ) -> Iterator[tuple[Cand, Hits]]:
        if t != len(aux.tasks):
            self.reasons.append(f"t{t} is spawned twice")
            return
        h = [hits]
        nxt = self.take(s, "spawn", h, remote=remote)
        if nxt is None:
            return
        if nxt["blocked"]:
            # the model blocks before the task is queued; SimpleExecutor raises instead
            a2 = replace(aux, tasks=(*aux.tasks, _Task(_PENDING, 0, 0, 0, False)))
            yield from self._abort(nxt, a2, h[0], f"spawn of t{t} into the full channel",
                                   ("lost", t))
            return
        a2 = replace(aux, tasks=(*aux.tasks, _Task(_PENDING, 0, 1, 0, False)),
                     queue=(*aux.queue, t))
        if self.index == self.last_late_spawn and nxt["spawners"]:
            dropped = self.take(nxt, "spawner_drop", h, remote=1)
            if dropped is None:
                return
            nxt = dropped
        yield from self._ok(nxt, a2, h[0])

    def _task_event(self, s: StateDict, aux: _SeedAux, hits: Hits, ev: TraceEvent, t: int
                    ) -> Iterator[tuple[Cand, Hits]]:
        task = aux.tasks[t]
        kind = ev.event
        h = [hits]
        if kind != "poll" and ev.poll != task.polls:
            self.reasons.append(f"the event reports poll number {ev.poll} but t{t} was polled "
                                f"{task.polls} time(s)")
            return
        if kind == "waker_clone" and ev.detail == "make_waker":
            r = self._discard(s, aux, h)
            if r is None:
                return
            s, aux = r
            if not aux.queue or aux.queue[0] != t:
                queue = [f"t{x}" for x in aux.queue]
                self.reasons.append(f"recv() returns the head of the channel {queue}, not t{t}")
                return
            if task.phase != _PENDING:
                self.reasons.append(f"t{t}'s future is not in its slot ({self._phase(task)})")
                return
            yield (self.model.freeze(s), replace(aux, expect=("poll", t))), h[0]
            return
        if kind == "poll":
            if ev.poll != task.polls + 1:
                self.reasons.append(f"the event reports poll number {ev.poll}; t{t} was polled "
                                    f"{task.polls} time(s) before")
                return
            if aux.expect != ("poll", t):
                self.reasons.append("SimpleExecutor builds a new waker (make_waker) before "
                                    "every poll; none was recorded")
                return
            k = 1 if task.e - 1 >= seed_model.E_MAX else 0
            nxt = self.take(s, "poll", h, c=self.c(task), k=k)
            if nxt is not None:
                new = task._replace(phase=_RUNNING, e=task.e - 1, polls=task.polls + 1, ctx=True)
                yield from self._ok(nxt, aux.with_task(t, new, queue=aux.queue[1:],
                                                       expect=None), h[0])
            return
        if kind in ("pending", "ready"):
            yield from self._poll_end(s, aux, h, ev, t=t, task=task)
            return
        if kind == "waker_drop":
            if aux.expect == ("ctx_drop", t):
                yield from self._ok(s, aux.with_task(t, task._replace(ctx=False), expect=None),
                                    hits)
                return
            if task.w == 0:
                self.reasons.append(f"t{t} has no held waker to drop ({self._phase(task)})")
                return
            for remote in (0, 1):
                h2 = [hits]
                nxt = self.take(s, "waker_drop", h2, c=self.c(task), remote=remote)
                if nxt is not None:
                    yield from self._ok(nxt, aux.with_task(t, task._replace(w=task.w - 1)), h2[0])
            return
        if kind == "waker_clone":
            if task.w == 0 and not (task.phase == _RUNNING and task.ctx):
                self.reasons.append(f"t{t} has no waker to clone ({self._phase(task)})")
                return
            nxt = self.take(s, "waker_clone", h, c=self.c(task))
            if nxt is not None:
                yield from self._ok(nxt, aux.with_task(t, task._replace(w=task.w + 1)), h[0])
            return
        if kind in ("wake", "wake_by_ref"):
            yield from self._wake(s, aux, hits, kind, t=t, task=task)
            return
        if kind == "lost":
            if task.phase == _PENDING and task.freed() and not task.reported:
                yield (self.model.freeze(s), aux.with_task(t, task._replace(reported=True))), hits
            else:
                self.reasons.append(f"t{t} has not been freed while pending "
                                    f"({self._phase(task)})")
            return
        self.reasons.append(f"SimpleExecutor has no '{kind}' event (the seed design has none)")

    def _poll_end(self, s: StateDict, aux: _SeedAux, h: list[Hits], ev: TraceEvent, *, t: int,
                  task: _Task) -> Iterator[tuple[Cand, Hits]]:
        if task.phase != _RUNNING:
            self.reasons.append(f"t{t} is not being polled ({self._phase(task)})")
            return
        nxt = self.take(s, ev.event, h, c=self.c(task))
        if nxt is None:
            return
        to = _PENDING if ev.event == "pending" else _COMPLETE
        new = task._replace(phase=to)
        if ev.event == "ready" and ev.detail is not None:
            why = (f"{ev.detail} raised by t{t}'s poll propagates out of run() (a panic: the "
                   "seed model does not continue from it)")
            self.notes.append(f"event #{self.index + 1}: {why}; the events after it are not "
                              "checked")
            yield from self._abort(nxt, aux.with_task(t, new), h[0], why)
            return
        expect = ("ctx_drop", t) if task.ctx else None
        yield from self._ok(nxt, aux.with_task(t, new, expect=expect), h[0])

    def _wake(self, s: StateDict, aux: _SeedAux, hits: Hits, kind: str, *, t: int, task: _Task
              ) -> Iterator[tuple[Cand, Hits]]:
        """Which handle woke: a held clone, or (during the poll) the per-poll waker."""
        readings: list[tuple[str, _Task]] = []
        if task.w >= 1:
            readings.append((kind, task._replace(w=task.w - (kind == "wake"), e=task.e + 1)))
        if task.phase == _RUNNING and task.ctx:
            readings.append(("wake_by_ref",
                             task._replace(e=task.e + 1, ctx=kind != "wake")))
        if not readings:
            self.reasons.append(f"t{t} has no live waker to wake it with ({self._phase(task)})")
        for name, new in readings:
            for remote in (0, 1):
                h = [hits]
                nxt = self.take(s, name, h, c=self.c(task), remote=remote)
                if nxt is None:
                    continue
                if nxt["blocked"]:
                    running = s["loop"] == seed_model.POLLING
                    yield from self._abort(nxt, aux, h[0], f"{kind} of t{t} into the full "
                                           "channel from the loop's own thread",
                                           ("raised", -1) if running else None)
                    continue
                yield from self._ok(nxt, aux.with_task(t, new, queue=(*aux.queue, t)), h[0])


# ---------------------------------------------------------------------------------------------
# Entry points
# ---------------------------------------------------------------------------------------------


def load_events(source: str | Path | Trace | Iterable[TraceEvent]) -> list[TraceEvent]:
    """Events from a :class:`Trace`, an iterable of events, or a JSON-lines file path."""
    if isinstance(source, Trace):
        return list(source.events)
    if isinstance(source, (str, Path)):
        try:
            return list(Trace.load(source).events)
        except (json.JSONDecodeError, ValueError) as e:
            raise TraceCheckError(f"{source}: not a refexec trace (JSON lines): {e}") from e
    return list(source)


def check_trace(
    events: Trace | Iterable[TraceEvent] | str | Path,
    variant: str = "reference",
    *,
    capacity: int = 100,
    properties: bool | None = None,
) -> TraceCheckResult:
    """Check a trace against the ``reference`` or ``seed`` model; see the module docstring.

    ``events``: a :class:`~refexec.trace.Trace`, its events, or the path of a JSON-lines file.
    ``capacity``: the channel capacity of the ``SimpleExecutor`` that recorded a ``seed`` trace
    (the trace does not record it; the seed's own is 100).
    ``properties``: evaluate the model's properties along the trace (default: when the trace
    has at most :data:`PROPERTY_TASKS` tasks).
    """
    evs = load_events(events)
    for i, e in enumerate(evs):
        if not isinstance(e, TraceEvent):
            raise TraceCheckError(f"event #{i + 1} is not a TraceEvent: {e!r}")
    ref: _Refinement
    if variant == "reference":
        ref = _ReferenceRefinement(evs)
    elif variant == "seed":
        ref = _SeedRefinement(evs, capacity)
    else:
        raise TraceCheckError(f"unknown variant {variant!r}: a trace is checked against one of "
                              f"{', '.join(VARIANTS)}")
    n = len(ref.task_map())
    ref.check_properties = n <= PROPERTY_TASKS if properties is None else properties
    if not ref.check_properties:
        ref.notes.append(f"properties not evaluated ({n} tasks > {PROPERTY_TASKS}; pass "
                         "properties=True to evaluate them)")
    return _run(ref, evs)

