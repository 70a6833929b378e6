"""The refinement mapping, declared once: which model actions each observed event stands for.

Two checkers follow an executor through the model: the trace checker
(:mod:`refexec.models.trace_check`, reading a recorded :class:`~refexec.trace.Trace`) and the
lockstep oracle (:mod:`refexec.testing.oracle`, reading the log of a driven run). Both read this
module and nothing else for the mapping, so the two cannot drift apart: for each event, its
*readings* (the sequences of model actions it may stand for, with the ``remote`` parameter each
reading fixes, and on which thread the event may have happened for that reading), and the
*implicit* actions (ones the executor takes without an event), with where they may be
interleaved. The task or class parameter of an action (``t`` for the reference model, ``c`` and
``k`` for the seed's counter abstraction) comes from the task the event names; only what the
event cannot say is declared here.

The two observation streams differ in what they see, and the declaration says so rather than
hiding it in either checker: a trace records the seed loop's ``recv()`` only through the
per-poll waker it builds (``waker_clone`` with detail ``make_waker``) and the ``poll`` event that
follows, while the lockstep log names ``poll`` directly; a trace of ``Executor`` does not record
``Spawner`` handles, while the lockstep log does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = [
    "DECLARATIONS",
    "CLOSE_EVENTS",
    "CLOSE_IMPLICIT",
    "DRIVE_MODES",
    "DRIVER_EVENTS",
    "DRIVER_IMPLICIT",
    "REFERENCE",
    "SEED",
    "Declaration",
    "EventMap",
    "Implicit",
    "Reading",
]

LOOP, THREAD = "loop", "thread"
"""Where an event happened: the executor's own thread (the loop's, or before ``run()`` the
creator's), or another thread (trace detail ``thread`` for SimpleExecutor, ``inbox`` for
Executor)."""

Step = tuple[str, tuple[tuple[str, int], ...]]
"""One model action of a reading and the parameters the declaration fixes (``remote``)."""


@dataclass(frozen=True)
class Reading:
    """One way an event is explained: model actions taken in order, atomically."""

    steps: tuple[Step, ...]
    origins: frozenset[str] = frozenset({LOOP, THREAD})
    """The threads the event may come from for this reading."""
    handle: str = ""
    """Which waker handle the reading consumes or drops: ``held`` (a clone counted by the
    model) or ``per_poll`` (the seed's per-poll waker, implicit in the model)."""
    doc: str = ""
    streams: frozenset[str] = frozenset({"trace", "log"})
    """The observation streams whose events this reading explains."""
    then: str = ""
    """An event that must come next, for the same task, and stands for no further model action
    (the driver's recording of the waker its timer consumes or drops: ``wake``, ``waker_drop``)."""
    closing: bool = False
    """The reading of the event once ``close()`` began (the model's ``closed``): there the
    event's closing readings replace its others (:data:`CLOSE_EVENTS`)."""
    before_close: int = 0
    """How many of the first steps were taken *before* ``close_start``: a message close()
    takes in was posted before the closed flag (nothing is posted after it), and the trace
    records it when it is taken in. The trace checker takes those steps as of before the flag,
    and only while close() has cancelled nothing yet (it takes in the inbox first)."""

    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.steps)

    def label(self) -> str:
        inner = "; ".join(
            f"{n}({', '.join(f'{k}={v}' for k, v in p)})" if p else n for n, p in self.steps)
        return inner or "no model action"


@dataclass(frozen=True)
class EventMap:
    event: str
    readings: tuple[Reading, ...]
    doc: str = ""


@dataclass(frozen=True)
class Implicit:
    """A model action the executor takes without an event, and where it may be interleaved."""

    action: str
    where: str
    urgent: bool = False
    """The executor's loop takes it as soon as it is enabled, and taking it at once *dominates*
    taking it later: it only removes an entry from the channel (more room for a send, nothing
    disabled that the trace can still show), so the checker need not keep the lazy
    alternatives."""
    unobserved_in: frozenset[str] = frozenset({"trace", "log"})
    """The observation streams that do not record it (``trace``, ``log``)."""
    on_demand: bool = False
    """Taken only where an event needs it, the fewest times: taking it earlier never enables an
    event the stream can show that taking it later would not (time passing: ``tick``)."""


@dataclass(frozen=True)
class Declaration:
    variant: str
    events: Mapping[str, EventMap]
    implicit: tuple[Implicit, ...]
    environment: tuple[str, ...] = ()
    """Checker steps that are not model actions (documented, never hidden)."""

    def readings(self, event: str, origin: str, stream: str = "trace",
                 closed: bool | None = None) -> tuple[Reading, ...]:
        """The readings of ``event`` from ``origin`` (LOOP or THREAD) in ``stream``; with
        ``closed`` (the model's ``closed`` in the state the event is read in) only the ones that
        apply there: once closed, the closing readings if the event has any from ``origin``."""
        em = self.events.get(event)
        if em is None:
            return ()
        out = tuple(r for r in em.readings if origin in r.origins and stream in r.streams)
        if closed is None:
            return out
        closing = tuple(r for r in out if r.closing)
        return closing if closed and closing else tuple(r for r in out if not r.closing)

    def log_steps(self, event: str, remote: bool, handle: str = "held", closed: bool = False
                  ) -> list[list[tuple[str, dict[str, int]]]]:
        """What a lockstep log event stands for: each reading's steps, without the implicit
        actions the oracle's closure takes on its own (:meth:`internal` of ``log``). ``closed``:
        the model's ``closed`` (the closing readings from the event's thread replace the
        others, see :meth:`readings`)."""
        internal = self.internal("log")
        out: list[list[tuple[str, dict[str, int]]]] = []
        em = self.events.get(event)
        readings = () if em is None else self.readings(event, THREAD if remote else LOOP, "log",
                                                        closed)
        if em is not None and not any(r.closing for r in readings):  # (origins: closing only)
            readings = tuple(r for r in em.readings if not r.closing)
        for r in readings:
            if "log" not in r.streams:
                continue
            if r.handle and r.handle != handle:
                continue
            if any(k == "remote" and v != int(remote) for _, p in r.steps for k, v in p):
                continue  # the log says which thread took the event in: no second reading
            steps = [(n, dict(p)) for n, p in r.steps if n not in internal]
            if steps not in out:
                out.append(steps)
        if event in self.events and not out:
            raise ValueError(f"{self.variant}: no reading of a log event {event!r} "
                             f"(remote={remote}, handle={handle})")
        return out

    def internal(self, stream: str) -> frozenset[str]:
        """Names of the implicit actions the given stream (``trace`` or ``log``) does not see."""
        return frozenset(i.action for i in self.implicit if stream in i.unobserved_in)

    def action_names(self, event: str) -> tuple[str, ...]:
        """The model actions an event's readings use, in declaration order (no duplicates)."""
        out: list[str] = []
        for r in self.events[event].readings:
            out.extend(n for n in r.names() if n not in out)
        return tuple(out)


def _r(*steps: tuple[str, dict[str, int]] | str, origins: tuple[str, ...] = (LOOP, THREAD),
       handle: str = "", doc: str = "", streams: tuple[str, ...] = ("trace", "log"),
       then: str = "", closing: bool = False, before_close: int = 0) -> Reading:
    out: list[Step] = []
    for s in steps:
        if isinstance(s, str):
            out.append((s, ()))
        else:
            out.append((s[0], tuple(sorted(s[1].items()))))
    return Reading(tuple(out), frozenset(origins), handle, doc, frozenset(streams), then,
                   closing, before_close)


TRACE_ONLY, LOG_ONLY = ("trace",), ("log",)


def _map(event: str, *readings: Reading, doc: str = "") -> tuple[str, EventMap]:
    return event, EventMap(event, readings, doc)


DRIVE_MODES: Mapping[str, int] = {"run": 0, "block_on": 0, "run_until_stalled": 1, "step": 2}
"""The drive call -> the reference model's ``mode`` (``refexec.models.reference.Drive``: RUN,
UNTIL_STALLED, STEP), in an instance with the bounds key ``drive``; read from the trace's
``run_start`` detail and from the lockstep log's ``run_start`` / ``stalled_start`` /
``step_start``. ``block_on()`` has its own mode, BLOCK_ON, entered by the model's
``block_on_start(t)`` with its target: the lockstep log names it (``block_on_start``, the
target's task), and its return is judged (EX-BLOCK-ON-RETURN). A trace does not name the target
(its ``run_start`` detail is ``block_on``, no task), so the trace checker reads it as RUN, the
mapping below (its return free between polls, as an interrupted ``run()``'s). A reading's
``mode`` is dropped for an instance without the key (its ``run_start`` has no parameter)."""

L, T_ = (LOOP,), (THREAD,)
"""Shorthands for a reading's origins: the executor's own thread only, another thread only."""

SEED = Declaration(
    variant="seed",
    events=dict([
        _map("spawn",
             _r(("spawn", {"remote": 0}), origins=L, streams=LOG_ONLY),
             _r(("spawn", {"remote": 1}), origins=T_, streams=LOG_ONLY,
                doc="the log's remote spawn goes through a spawner it logged"),
             _r(("spawn", {"remote": 0}), origins=(LOOP, THREAD), streams=TRACE_ONLY,
                doc="with the executor's own sender before run(), or the running task's "
                    "sender from inside a poll (the seed's exercise 1)"),
             _r(("spawn", {"remote": 1}), origins=T_, streams=TRACE_ONLY,
                doc="after run_start, from another thread: a spawn that began before run() "
                    "dropped the executor's sender and waited for room holding a clone of it "
                    "(the model's spawner, made at run_start)"),
             _r(("spawn", {"remote": 1}), ("spawner_drop", {"remote": 1}), origins=T_,
                streams=TRACE_ONLY,
                doc="the same, by the last such waiting spawn: its sender clone goes")),
        _map("spawner_new", _r("spawner_new", origins=L, streams=LOG_ONLY)),
        _map("spawner_drop", _r(("spawner_drop", {"remote": 0}), origins=L, streams=LOG_ONLY),
             _r(("spawner_drop", {"remote": 1}), origins=T_, streams=LOG_ONLY)),
        _map("make_waker", _r(origins=L, doc=(
            "the per-poll waker: observes that recv() took t (the implicit poll action) "))),
        _map("poll", _r(origins=L, streams=TRACE_ONLY,
                        doc="the poll starts: the poll counter of t is incremented (observed; "
                            "the model's poll action was the take)"),
             _r("poll", origins=L, streams=LOG_ONLY,
                doc="the log names the poll itself (recv() and the take)")),
        _map("pending", _r(("pending", {}), origins=L)),
        _map("ready", _r(("ready", {}), origins=L, doc="also a poll that raised")),
        _map("wake",
             _r(("wake", {"remote": 0}), origins=L, handle="held"),
             _r(("wake", {"remote": 1}), handle="held",
                doc="another thread, or the loop thread outside a poll"),
             _r(("wake_by_ref", {"remote": 0}), origins=L, handle="per_poll",
                doc="the per-poll waker consumed during the poll: the model's context waker "
                    "is not a held handle")),
        _map("wake_by_ref",
             _r(("wake_by_ref", {"remote": 0}), origins=L, handle="held"),
             _r(("wake_by_ref", {"remote": 1}), handle="held"),
             _r(("wake_by_ref", {"remote": 0}), origins=L, handle="per_poll")),
        _map("waker_clone", _r(("waker_clone", {}), handle="held")),
        _map("waker_drop",
             _r(("waker_drop", {"remote": 0}), origins=L, handle="held"),
             _r(("waker_drop", {"remote": 1}), handle="held",
                doc="another thread, or the loop thread outside a poll (a freed future's "
                    "frame dropping the wakers it kept)"),
             _r(origins=L, handle="per_poll",
                doc="the per-poll waker goes out of scope after pending/ready, before the "
                    "loop's next event; other threads' events may come in between")),
        _map("lost", _r(doc="a pending task freed in silence: the model freed it (ghost lost) "
                            "in the step that dropped its last reference")),
        _map("run_start", _r("run_start", origins=L),
             _r("spawner_new", "run_start", origins=L, streams=TRACE_ONLY,
                doc="a spawn from another thread is waiting for room with a clone of the "
                    "executor's sender (traced later, as a late spawn)")),
        _map("run_end", _r("run_end", origins=L)),
        _map("deadlock", _r(origins=L, streams=LOG_ONLY, doc="marker: the model's blocked")),
        _map("lost_reported", _r(origins=L, streams=LOG_ONLY, doc="marker")),
        _map("join_ready", _r(origins=L, streams=LOG_ONLY, doc="marker")),
    ]),
    implicit=(
        Implicit("discard", "the loop is in recv() and the channel's head is an entry of a "
                 "completed task: recv() returns it and it is dropped, unpolled", urgent=True),
        Implicit("poll", "the loop is in recv() and the channel's head is an entry of a pending "
                 "task: recv() returns it and the future is taken out of its slot; the trace "
                 "shows it by the make_waker and poll events that follow", urgent=True,
                 unobserved_in=frozenset({"trace"})),
    ),
    environment=(
        "a send from another thread into the full channel waits (guard qlen < capacity) and is "
        "traced once it has room; the loop thread's own send into the full channel is the "
        "model's blocked state, where SimpleExecutor raises DeadlockError instead",
        "a task's exception propagates out of run() like a panic: the events after it are "
        "beyond the model",
    ),
)

REFERENCE = Declaration(
    variant="reference",
    events=dict([
        _map("spawn", _r(("spawn", {"remote": 0}), origins=L),
             _r(("spawn", {"remote": 1}), "inbox_drain", origins=T_,
                doc="posted through a Spawner; the trace records it when the loop drains it")),
        _map("poll", _r("poll", origins=L)),
        _map("pending", _r("pending", origins=L),
             _r(("cancel", {"remote": 0}), "pending", origins=L, streams=TRACE_ONLY,
                doc="a cancel requested during the poll, recorded when the poll returns "
                    "(the 'cancel' event must come next)")),
        _map("ready", _r("ready", origins=L)),
        _map("wake", _r(("wake", {"remote": 0}), origins=L),
             _r(("wake", {"remote": 1}), "inbox_drain",
                doc="posted by another thread, recorded when drained; also a wake on the loop "
                    "thread outside a poll (a join waiter woken as the task it awaits ends)")),
        _map("wake_by_ref", _r(("wake_by_ref", {"remote": 0}), origins=L),
             _r(("wake_by_ref", {"remote": 1}), "inbox_drain")),
        _map("waker_clone", _r("waker_clone")),
        _map("waker_drop", _r(("waker_drop", {"remote": 0}), origins=L),
             _r(("waker_drop", {"remote": 1}))),
        _map("cancel", _r(("cancel", {"remote": 0}), origins=L),
             _r(("cancel", {"remote": 1}), "cancel_drain", streams=TRACE_ONLY,
                doc="posted by another thread (or for a task not yet accepted), recorded when the "
                    "loop drains and applies it (detail 'inbox'; an older trace may carry no "
                    "thread marker)"),
             _r(("cancel", {"remote": 1}), origins=T_, streams=LOG_ONLY)),
        _map("lost", _r("lost", origins=L)),
        _map("run_start", _r(("run_start", {"mode": DRIVE_MODES["run"]}), origins=L,
                             doc="the trace's detail names the drive call: its mode is "
                                 "DRIVE_MODES[detail]")),
        _map("run_end", _r("run_end", origins=L, doc="run() returns: no sender remains"),
             _r("step_return", origins=L, streams=TRACE_ONLY,
                doc="step(), run_until_stalled() or block_on() returns between polls")),
        _map("step_start", _r(("run_start", {"mode": DRIVE_MODES["step"]}), origins=L,
                              streams=LOG_ONLY)),
        _map("stalled_start", _r(("run_start", {"mode": DRIVE_MODES["run_until_stalled"]}),
                                 origins=L, streams=LOG_ONLY)),
        _map("step_end", _r("step_return", origins=L, streams=LOG_ONLY,
                            doc="step() / run_until_stalled() / block_on() returned, or run() "
                                "was interrupted: the model's guard says when each may")),
        _map("block_on_start", _r("block_on_start", origins=L, streams=LOG_ONLY,
                                  doc="block_on(handle) of the task the event names (its "
                                      "target): mode BLOCK_ON; it returns (step_end) exactly "
                                      "when the target is final")),
        _map("spawner_new", _r("spawner_new", origins=L, streams=LOG_ONLY)),
        _map("spawner_drop", _r(("spawner_drop", {"remote": 0}), origins=L, streams=LOG_ONLY),
             _r(("spawner_drop", {"remote": 1}), origins=T_, streams=LOG_ONLY)),
        _map("join_pending", _r("join", origins=L, streams=LOG_ONLY,
                                doc="the first time a waiter parks on a JoinHandle: the target "
                                    "holds the waiter's join waker (t=target, u=waiter)")),
        # the timer driver (trace only; the deadline / instant in the detail is mapped to the
        # model's clock level by the checker: see environment)
        _map("timer_arm", _r(("waker_drop", {"remote": 0}), "timer_arm", origins=L,
                             streams=TRACE_ONLY,
                             doc="the waker_clone recorded just before is the clone the timer "
                                 "keeps: it moves from the held count into the timer (armed[t]); "
                                 "d is the deadline's level")),
        _map("timer_fire", _r("timer_fire", origins=L, streams=TRACE_ONLY, then="wake",
                              doc="after the fewest ticks that make the deadline due; the 'wake' "
                                  "that follows is the timer's clone consumed")),
        _map("timer_cancel",
             _r("timer_cancel", origins=L, streams=TRACE_ONLY, then="waker_drop",
                doc="during the task's poll; the 'waker_drop' that follows is the timer's clone"),
             _r(origins=L, streams=TRACE_ONLY, then="waker_drop",
                doc="the task ended (ready, cancel) and the model dropped the timer with its "
                    "future: the executor records the cancel as the future is freed")),
        _map("clock_jump", _r("clock_jump", origins=L, streams=TRACE_ONLY,
                              doc="VirtualClock(autojump=True) jumps to the next deadline: one "
                                  "clock level up")),
        _map("deadlock", _r(origins=L, streams=LOG_ONLY, doc="marker")),
        _map("lost_reported", _r(origins=L, streams=LOG_ONLY, doc="marker: the lost action is "
                                 "internal in the log")),
        _map("join_ready", _r(origins=L, streams=LOG_ONLY, doc="marker")),
    ]),
    implicit=(
        Implicit("idle_check", "the loop is between polls with nothing queued or posted"),
        Implicit("sleep", "the loop decided and a sender remains"),
        Implicit("unpark", "the sleeping loop was signalled"),
        Implicit("inbox_drain", "right after the posted wake or spawn it applies (the trace "
                 "records a posted event when the loop drains it)",
                 unobserved_in=frozenset({"log"})),
        Implicit("cancel_drain", "the loop takes in a cancel posted by another thread (the log "
                 "sees only the post)", unobserved_in=frozenset({"log"})),
        Implicit("lost", "the loop finds an IDLE task no waker can reach (the log reports it "
                 "separately; a trace records it as the 'lost' event)",
                 unobserved_in=frozenset({"log"})),
        Implicit("spawner_new", "anywhere the loop thread runs (Spawner handles are not traced)",
                 unobserved_in=frozenset({"trace"})),
        Implicit("spawner_drop", "anywhere (Spawner handles are not traced)",
                 unobserved_in=frozenset({"trace"})),
        Implicit("tick", "anywhere: time passes (a real clock, VirtualClock.advance); the trace "
                 "checker takes the fewest before the timer_fire that needs them",
                 unobserved_in=frozenset({"trace"}), on_demand=True),
        Implicit("park_due", "the deciding loop finds a timer due and goes back to fire it",
                 unobserved_in=frozenset({"trace"})),
        # issue 12 (bounds key round): the lockstep machine drives rounds of R polls
        Implicit("round_end", "between rounds of polls, once the inbox is drained"),
    ),
    environment=(
        "a drive call (step, run_until_stalled, block_on) that returns for another reason than "
        "'no sender remains' puts the loop back to NOT_STARTED; a step() outside run_start/"
        "run_end enters and leaves the loop the same way",
        "the model's clock is a level: the trace's instants (armed deadlines, and the latest "
        "the clock is known to have reached: a fired deadline, a clock_jump's instant) in "
        "order, the clock's level being how many of them it has reached; when an instant comes "
        "or goes, every explanation's clock and deadlines are renumbered (an arm inside the "
        "clock's interval keeps both readings: before it, or at it)",
        "a task's second timer (a timeout around a sleep): the model's timer is the task's "
        "earliest, a later one stays the held waker clone recorded before its timer_arm; when "
        "the earlier fires or is cancelled the next becomes the model's timer (the clone moves "
        "into it); an earlier one armed later takes the model's timer, the other becoming a "
        "held clone (timer_cancel then waker_clone, during the poll)",
    ),
)

DRIVER_EVENTS: Mapping[str, EventMap] = dict([
    _map("io_register",
         _r("io_register", origins=L, streams=LOG_ONLY,
            doc="during t's poll a readiness wait registers its fd"),
         _r(("waker_drop", {"remote": 0}), "io_register", origins=L, streams=TRACE_ONLY,
            doc="the same; the waker_clone recorded just before is the clone the registration "
                "keeps: it moves from the held count into the registration (reg[t] = ARMED)")),
    _map("io_ready", _r("io_ready", origins=L, streams=TRACE_ONLY, then="wake",
                        doc="the loop's select() reported t's fd ready (the fd became ready "
                            "before: the on-demand fd_ready); the 'wake' that follows is the "
                            "registration's clone consumed")),
    _map("io_cancel",
         _r("io_cancel", origins=L, streams=LOG_ONLY,
            doc="during t's poll its readiness wait is dropped (a timeout ended it)"),
         _r("io_cancel", origins=L, streams=TRACE_ONLY, then="waker_drop",
            doc="the same, recorded by the driver's unregister; the 'waker_drop' that follows "
                "is the registration's clone"),
         _r(origins=L, streams=TRACE_ONLY, then="waker_drop",
            doc="the task ended (ready, cancel) and the model dropped the registration with "
                "its future: the executor records the unregister as the future is freed")),
    _map("fd_ready", _r("fd_ready", streams=LOG_ONLY,
                        doc="the driving test made t's registered fd ready")),
    _map("timer_arm", _r("timer_arm", origins=L, streams=LOG_ONLY,
                         doc="during t's poll a sleep / timeout armed a timer (d = deadline)")),
    _map("timer_cancel", _r("timer_cancel", origins=L, streams=LOG_ONLY,
                            doc="during t's poll a sleep / timeout cancelled its timer")),
    _map("tick", _r("tick", streams=LOG_ONLY,
                    doc="the driving test advanced the VirtualClock by one model unit")),
])
"""The driver's events (issue 14) as the lockstep log names them, and the reactor's events as a
trace records them. They *add* readings to the events of :data:`REFERENCE` (the trace readings
of the timer events are declared with the trace checker's)."""

DRIVER_IMPLICIT = (
    Implicit("fd_ready", "anywhere, from outside (the kernel): t's registered fd becomes "
             "ready; a trace does not see it, and the checker takes it just before the "
             "io_ready that needs it (taking it earlier only disables polls: EX-IO-PROMPT)",
             unobserved_in=frozenset({"trace"}), on_demand=True),
    Implicit("io_ready", "between rounds (before a round, or when the park returns): the "
             "loop's select() reports a ready fd", unobserved_in=frozenset({"log"})),
    Implicit("timer_fire", "between rounds: the loop fires a due timer",
             unobserved_in=frozenset({"log"})),
    Implicit("park_due", "deciding, the loop finds a timer due or an fd ready and does not "
             "park"),
    Implicit("clock_jump", "deciding with nothing runnable or posted and a timer armed for "
             "later: VirtualClock(autojump=True) moves the clock",
             unobserved_in=frozenset({"log"})),
)


def _extended(decl: Declaration, events: Mapping[str, EventMap],
              implicit: tuple[Implicit, ...]) -> Declaration:
    """``decl`` with ``events``' readings appended to its own (or added) and more implicit
    actions: a later block extends an event, it never replaces one."""
    merged = dict(decl.events)
    for name, em in events.items():
        old = merged.get(name)
        merged[name] = em if old is None else EventMap(
            name, (*old.readings, *em.readings), old.doc or em.doc)
    return Declaration(decl.variant, merged, (*decl.implicit, *implicit), decl.environment)


REFERENCE = _extended(REFERENCE, DRIVER_EVENTS, DRIVER_IMPLICIT)

# -- close() (issue 12: the model's close actions, models/reference_close.py, bounds key close)
_PRE = "posted before close() set the closed flag (nothing is posted after it), recorded when "
CLOSE_EVENTS: Mapping[str, EventMap] = dict([
    _map("close_start", _r("close_start", origins=L,
                           doc="close() set the closed flag under the door's lock and acts as "
                               "the loop (the trace's detail 'again': a close() finishing one "
                               "an interrupt cut short, see environment)")),
    _map("close_end", _r("close_end", origins=L,
                         doc="close() returns: inbox taken in, every task final (trace detail "
                             "'done'; 'interrupted': see environment)")),
    _map("cancel",
         _r("close_drop", origins=L, closing=True,
            doc="close() cancels t: the head of the ready queue first, then the waiting tasks; "
                "its join waiter is woken"),
         _r(("cancel", {"remote": 1}), "close_cancel_drain", origins=T_, streams=TRACE_ONLY,
            closing=True, before_close=1, doc=_PRE + "close() takes it in (detail 'inbox')"),
         _r(origins=T_, streams=LOG_ONLY, closing=True,
            doc="another thread's cancel after the flag: _post drops it")),
    _map("spawn",
         _r(("spawn", {"remote": 1}), "close_drain", origins=T_, streams=TRACE_ONLY,
            closing=True, before_close=1, doc=_PRE + "close() takes it in"),
         _r(origins=T_, streams=LOG_ONLY, closing=True,
            doc="a Spawner's spawn after the flag: refused (RuntimeError)")),
    _map("wake",
         _r(("wake", {"remote": 1}), "close_drain", origins=T_, streams=TRACE_ONLY,
            closing=True, before_close=1, doc=_PRE + "close() takes it in"),
         _r("closed_wake", origins=T_, streams=LOG_ONLY, closing=True,
            doc="another thread's wake() after the flag: the handle ends, _post drops the "
                "message"),
         _r("closed_wake", origins=L, streams=TRACE_ONLY, closing=True,
            doc="the join waiter of a task close() cancels, woken on the closing thread (the "
                "trace checker's model has no joins: the join waker is a held clone, and the "
                "waiter, cancelled in turn, stays IDLE in the model)")),
    _map("wake_by_ref",
         _r(("wake_by_ref", {"remote": 1}), "close_drain", origins=T_, streams=TRACE_ONLY,
            closing=True, before_close=1, doc=_PRE + "close() takes it in"),
         _r(origins=T_, streams=LOG_ONLY, closing=True,
            doc="another thread's wake_by_ref() after the flag: _post drops it")),
])
"""close()'s events and the readings events have once it began (:attr:`Reading.closing`):
they *add* to :data:`REFERENCE`'s, and replace an event's others in a closed state."""

CLOSE_IMPLICIT = (
    Implicit("close_drain", "closing, close() takes in a message posted before the flag (a "
             "trace records it then: the event's closing reading)",
             unobserved_in=frozenset({"log"})),
    Implicit("close_cancel_drain", "closing, close() takes in a cancel posted before the flag",
             unobserved_in=frozenset({"log"})),
)

REFERENCE = _extended(REFERENCE, CLOSE_EVENTS, CLOSE_IMPLICIT)
REFERENCE = Declaration(REFERENCE.variant, REFERENCE.events, REFERENCE.implicit, (
    *REFERENCE.environment,
    "close() cut short by an interrupt (trace: close_end 'interrupted') leaves the model "
    "CLOSING, and the close() that finishes it (close_start 'again') goes on from there: "
    "neither is a model action; a closed executor never runs again (the checker's drive-call "
    "returns do not leave CLOSING or a closed RETURNED)"))

DECLARATIONS: Mapping[str, Declaration] = {"seed": SEED, "reference": REFERENCE}
