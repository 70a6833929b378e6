"""The ``reference`` variant: the design of ``refexec.Executor`` as one transition system.

Every task-state update is looked up in :data:`refexec.state.TRANSITIONS` (built here as a nested
``o.If`` over the table's rows, :func:`table_next`); nothing in this file restates a row. The
run loop's sleep/wake protocol with other threads is modelled at the granularity of the real
protocol: the loop's decision to sleep or to return (``idle_check`` takes the lock, ``sleep`` or
``run_end`` releases it) races other threads, which post wakes and spawns to an inbox under the
lock and signal the loop if it sleeps.

The action definitions (one top-level function per action, below) are the only statement of
the design: the same functions are read with the number of tasks free
(:mod:`refexec.models.reference_parametric`), which overrides only the builder's
task-collection and queue operations (see "the task collection and the ready queue").

Mutants (``models/mutants.py``) are this same builder with exactly one field of :class:`Edges`
changed; the reference is ``Edges()``. That is what makes a mutant a *one-edge* change.

State (N tasks, per-task arrays have length N):

===============  ===========================================================================
``st[t]``        TaskState (0..5) or UNSPAWNED (6, model only)
``wakers[t]``    live waker handles of task t held by futures / other threads (0..W)
``polls[t]``     the executor's poll counter of t (JoinHandle / stats)
``done[t]``      ghost: polls actually performed on t
``woken[t]``     ghost: t was woken since its current / last poll began
``ended[t]``     ghost: t's future returned Ready or was dropped (cancelled / lost)
``creq[t]``      a cancel requested during a poll, applied when the poll returns Pending
``inbox[t]``     wakes / spawns of t posted by other threads, not yet drained (0..I)
``join[t]``      the task whose join waker t holds (N = none)
``waited[t]``    ghost: polls of other tasks since t was last enqueued (saturates at N)
``q``, ``qlen``  the ready queue: FIFO array of task ids (N = empty slot) and its length
``spawners``     live Spawner handles (0..SP)
``loop``         run loop: NOT_STARTED, DISPATCH, POLLING, DECIDING, ASLEEP, RETURNED
``lock``         the door's lock, as held by the run loop while it decides
``signal``       a wake-up (condition notify / unpark) posted to the sleeping loop
``blocked``      the loop thread blocked on its own full queue (a deadlock)
===============  ===========================================================================

The driver (bounds key ``timers`` = 1; absent or 0 leaves every existing instance unchanged):

===============  ===========================================================================
``clock``        the executor's clock, 0..D (``horizon``); moved by ``tick`` (real time
                 passing, or ``VirtualClock.advance``) and ``clock_jump`` (autojump)
``deadline[t]``  the deadline of t's timer
``armed[t]``     t has an armed timer, which holds a clone of t's waker (a sender)
``sleeping[t]``  ghost: t's future awaits its timer (set by ``timer_arm``, cleared when the
                 timer fires or is cancelled, or the future is dropped)
===============  ===========================================================================

I/O readiness (bounds key ``io`` = 1, with ``timers`` = 1: one driver, one park):

===============  ===========================================================================
``reg[t]``       t's readiness registration: NONE, ARMED (registered, holds a clone of t's
                 waker: a sender), READY (the environment made the fd ready; the loop's
                 ``select()`` has not reported it yet)
===============  ===========================================================================

The park is one ``select(timeout=next deadline)`` when anything is armed or registered: a tick
that makes a timer due, an fd becoming ready, and another thread's wake (the wakeup byte, which
posters write under the door's lock) all end it, as ``signal``.

Other threads' cancels, the round, the policy (spec/SPEC.md section 9; each absent unless its
bounds key asks for it, so every instance without the key is unchanged):

===============  ===========================================================================
``cpost[t]``     ``rcancel`` = 1 (with ``remote``): a cancel posted by another thread, taken
                 in by ``cancel_drain`` (without the key ``cancel(remote=1)`` is never enabled)
``rnd``, ``pw``  ``round`` = R > 0: polls in the current round (a round ends only with the
                 inbox drained), and the ghost count of polls since the inbox was last empty
``policy``       0 (fifo): ``poll`` takes the head of the queue; 1 (any): any queued task
``phantom[t]``   mutant ``spawn-phantom-waker`` only: a waker counted at spawn, held by nobody
``closed``       ``close`` = 1: close() was called (its actions: models/reference_close.py;
                 ``loop`` = CLOSING while it acts as the loop)
===============  ===========================================================================

The drive call (bounds key ``drive`` = 1; absent or 0 leaves every instance unchanged, and any
drive call may give the thread back at any point between polls):

===============  ===========================================================================
``mode``         which drive call runs the loop (:class:`Drive`): RUN (``run()``),
                 UNTIL_STALLED (``run_until_stalled()``: returns exactly when
                 :meth:`_Builder.stalled`, never sleeps), STEP (``step()``: one poll, or none
                 when nothing is ready), BLOCK_ON (``block_on()``: returns exactly when its
                 target is final, sleeps like run() while the target can still be woken)
``dpolls``       polls started by the current drive call (saturates at 2)
``target``       the task ``block_on()`` waits for (N = none: another drive call, or none)
===============  ===========================================================================
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from refexec.models import reference_close as rc
from refexec.models.system import Action, Bounds, Ops, Sort, TransitionSystem, Value, Var, View
from refexec.state import FINAL_STATES, TRANSITIONS, TaskEvent, TaskState

__all__ = [
    "DRIVE_NAMES",
    "Drive",
    "Edges",
    "IO_NAMES",
    "Io",
    "LOOP_NAMES",
    "Loop",
    "REFERENCE_EDGES",
    "ST_NAMES",
    "UNSPAWNED",
    "build",
    "default_bounds",
    "table_has",
    "table_next",
]

S, E = TaskState, TaskEvent

UNSPAWNED = 6
"""Model-only task state: the slot is not (yet) a task. Stands for ``None`` in TRANSITIONS."""

ST_NAMES = (*(s.name for s in TaskState), "UNSPAWNED")
RUNNING_STATES = (int(S.RUNNING), int(S.NOTIFIED))
FINAL = tuple(sorted(int(s) for s in FINAL_STATES))


class Loop:
    """The run loop's control state (``loop`` variable)."""

    NOT_STARTED = 0  # run() not called yet: the caller's thread is the loop thread
    DISPATCH = 1  # inside run(), between polls: drains the inbox, reports lost tasks, polls
    POLLING = 2  # a task's poll() is executing on the loop thread
    DECIDING = 3  # queue and inbox seen empty under the lock: about to sleep or return
    ASLEEP = 4  # waiting on the condition for a signal
    RETURNED = 5  # run() has returned
    CLOSING = 6  # close() acts as the loop: drains the inbox, cancels (bounds key ``close``)


LOOP_NAMES = ("NOT_STARTED", "DISPATCH", "POLLING", "DECIDING", "ASLEEP", "RETURNED", "CLOSING")


class Io:
    """A task's readiness registration (``reg`` variable)."""

    NONE = 0  # not registered
    ARMED = 1  # registered with the reactor; holds a clone of the task's waker
    READY = 2  # the fd became ready; the loop's select() has not reported it yet


IO_NAMES = ("NONE", "ARMED", "READY")


class Drive:
    """The drive call running the loop (``mode`` variable, bounds key ``drive``)."""

    RUN = 0  # run(): returns when no sender remains (run_end), or is interrupted
    UNTIL_STALLED = 1  # run_until_stalled(): returns exactly when stalled; never sleeps
    STEP = 2  # step(): polls at most one task; returns with none only when none is ready
    BLOCK_ON = 3  # block_on(target): returns exactly when ``target`` is final; sleeps as run()


DRIVE_NAMES = ("RUN", "UNTIL_STALLED", "STEP", "BLOCK_ON")

Table = Mapping[tuple["TaskState | None", TaskEvent], TaskState]


def _code(state: TaskState | None) -> int:
    return UNSPAWNED if state is None else int(state)


def table_next(o: Ops, table: Table, st: Value, event: TaskEvent) -> Value:
    """``next_state(st, event)`` as a term: a nested ``o.If`` over the table's rows for ``event``.

    A state with no row for the event is left unchanged; every caller guards with
    :func:`table_has` so that such a pair is never taken (a pair not in the table is a bug).
    """
    out: Value = st
    for (before, ev), after in table.items():
        if ev is event:
            out = o.If(st == _code(before), int(after), out)
    return out


def table_has(o: Ops, table: Table, st: Value, event: TaskEvent) -> Value:
    """``(st, event) in TRANSITIONS`` as a term."""
    return o.Or(*[st == _code(before) for (before, ev) in table if ev is event])


@dataclass(frozen=True)
class Edges:
    """The design decisions a mutant may flip. ``Edges()`` is the reference design.

    Each field is one edge of the model; a mutant changes exactly one of them (asserted by the
    tests), so each mutant is a minimal, named bug.
    """

    table_override: tuple[tuple[int, str, int], ...] = ()
    """Rows (state code, event value, new state code) replacing or adding TRANSITIONS rows."""
    merge_wakes: bool = True
    """Enqueue a task only when its state *enters* SCHEDULED (a wake of a queued task merges)."""
    queue_capacity: int | None = None
    """Capacity of the ready queue; ``None``: unbounded (the array is sized so it never fills)."""
    fifo: bool = True
    """Enqueue at the back (FIFO); ``False``: at the front (a stack)."""
    spawn_signals: bool = True
    """A spawn posted from another thread signals the sleeping loop."""
    drop_signals: bool = True
    """A waker / spawner dropped on another thread signals the sleeping loop (a sender went)."""
    decide_after_pending: bool = False
    """After a poll returns Pending, go straight to the sleep/return decision (stall check on the
    poll result instead of on the queue)."""
    decide_locked: bool = True
    """The sleep/return decision holds the lock from the emptiness check to sleep/return."""
    count_repolls: bool = True
    """The poll counter counts every poll (not only the first)."""
    release_join: bool = True
    """A finished task wakes (and so releases) the join waker of the task awaiting it."""
    report_lost_before_deciding: bool = True
    """The loop reports every lost task before deciding to sleep or return."""
    single_poller: bool = True
    """A poll starts only between polls (no re-entrant poll from inside a poll)."""
    driver_each_round: bool = True
    """The driver is consulted after every round of polls (a poll never starts while a timer is
    due and unfired); ``False``: only when the ready queue is empty."""
    timer_holds_sender: bool = True
    """``run()`` counts an armed timer as a sender (it holds its task's waker)."""
    jump_checks_inbox: bool = True
    """The virtual clock jumps only in the locked decision (empty queue *and* inbox, no open
    spawner); ``False``: whenever the ready queue is empty, without the lock."""
    cancel_disarms: bool = True
    """Cancelling a task (dropping its future) cancels its timer."""
    poster_locks: bool = True
    """Another thread posts a wake (and writes the wakeup byte if the loop parks) under the
    door's lock; ``False``: it checks "is the loop parked?" and posts without the lock."""
    timer_survives_unpark: bool = True
    """A park ended early (a wake, ready I/O) leaves the timers armed; ``False``: the timer the
    park waited for is dropped and not re-armed."""
    io_holds_sender: bool = True
    """``run()`` counts an I/O registration as a sender (it holds its task's waker)."""
    cancel_deregisters: bool = True
    """Cancelling a task (dropping its future) takes its I/O registration out of the reactor."""
    io_parks_in_select: bool = True
    """With I/O registered the loop parks in ``select()``, so readiness ends the park;
    ``False``: it parks on the condition variable unless a timer is armed."""
    cancel_when_notified: bool = True
    """A cancel requested during a poll is applied when the poll returns Pending, also when the
    task was woken during that poll (NOTIFIED); ``False``: only from RUNNING (the request is
    cleared and the task re-queued: the cancel is lost)."""
    drain_each_round: bool = True
    """The inbox is drained between rounds of polls: a round ends only with the inbox empty;
    ``False``: drained only when the ready queue is empty (rounds end regardless)."""
    spawn_counts_waker: bool = False
    """``True``: a spawn counts a live waker that no future or thread holds (``phantom``)."""
    stalled_return_exact: bool = True
    """``run_until_stalled()`` and a ``step()`` that polled nothing return only when stalled
    (bounds key ``drive``); ``False``: whenever the ready queue is empty (the inbox, a due timer
    or ready fd, and lost tasks not looked at)."""
    step_polls_once: bool = True
    """``step()`` starts at most one poll; ``False``: it may start another after the first."""
    stalled_never_sleeps: bool = True
    """Only ``run()`` decides to sleep or return (``idle_check``); ``False``: so do
    ``run_until_stalled()`` and ``step()``, which then park instead of returning."""
    close_drains_first: bool = True
    """close() drains the inbox before it cancels tasks and before it returns (bounds ``close``)."""
    close_cancels_idle: bool = True
    """close() cancels IDLE tasks too; ``False``: only the queued ones."""
    close_refuses_spawn: bool = True
    """Once closed, another thread's spawn is refused; ``False``: it is posted."""
    block_on_waits_target: bool = True
    """``block_on()`` gives the thread back only once its target is final (bounds key
    ``drive``); ``False``: at any point between polls, as an interrupted ``run()``."""


REFERENCE_EDGES = Edges()


def default_bounds(n_tasks: int = 2, **extra: int) -> Bounds:
    """Small bounds: 2 tasks, 2 polls each, 1 held waker, 1 posted wake, 1 spawner.

    Keys of ``extra``: ``polls`` (P: a future returns Ready by its P-th poll), ``wakers`` (W: held
    wakers per task), ``inbox`` (I: wakes in flight per task), ``spawners`` (SP), ``remote`` (1:
    other threads act), ``join`` (1: tasks await JoinHandles), ``timers`` (1: the driver: a
    clock, one timer per task; 0 by default), ``horizon`` (D: the clock's bound, default 2),
    ``io`` (1: I/O readiness, one registration per task; needs ``timers`` = 1), ``drive`` (1:
    the drive call is state: run(), run_until_stalled() or step(), each returning as it
    promises; 0 by default: any drive call may return at any point between polls).
    """
    base = {"polls": 2, "wakers": 1, "inbox": 1, "spawners": 1, "remote": 1, "join": 1}
    base.update(extra)
    return Bounds(n_tasks, base)


def build(
    bounds: Bounds, edges: Edges = REFERENCE_EDGES, name: str = "reference"
) -> TransitionSystem:
    """The transition system of the reference design (or of a one-edge mutant of it)."""
    from refexec.models.properties import (  # noqa: PLC0415 (cycle)
        make_properties,
        progress_property,
        run_final,
    )

    builder = _Builder(bounds, edges)
    acts = builder.actions()
    remote = bool(bounds.extra.get("remote", 1))
    progress = progress_property(acts, lambda s, o: run_final(s, o, bounds.n_tasks, remote))
    return builder.system(name, (*make_properties(bounds, variant=name), progress), acts)


def _table(edges: Edges) -> Table:
    table: dict[tuple[TaskState | None, TaskEvent], TaskState] = dict(TRANSITIONS)
    for before, event, after in edges.table_override:
        key = (None if before == UNSPAWNED else TaskState(before), TaskEvent(event))
        table[key] = TaskState(after)
    return table


def _editable(arr: Any) -> Any:
    """A per-task array that ``d.st[t] = v`` may update: a list of the tuple's slots, or (the
    parametric interpretation: an array over a symbolic number of tasks) the array's own
    editable form, which turns the assignment into a store."""
    return list(arr) if isinstance(arr, tuple) else arr.editable()


def _frozen(arr: Any) -> Any:
    return tuple(arr) if isinstance(arr, list) else arr.frozen()


class _Draft:
    """The successor being built: mutable copies of the variables that several effect pieces
    (enqueue, remove, wake, finish) update in sequence within one action.

    The queue's variables are copied as the state has them: ``q``, ``qlen``, ``blocked`` (the
    fixed-N array: a per-task array is a tuple), or ``ts``, ``tail`` (the parametric
    timestamps: a per-task array is a symbolic array over N tasks); only the builder's queue
    operations read and write them."""

    def __init__(self, s: View) -> None:
        self.st: Any = _editable(s.st)
        self.woken: Any = _editable(s.woken)
        self.join: Any = _editable(s.join)
        self.touched = {"st"}  # which variables the pieces applied so far may have changed
        self.q: tuple[Value, ...] = ()
        self.qlen: Value = 0
        self.blocked: Value = False
        self.ts: Value = None
        self.tail: Value = None
        if isinstance(s.st, tuple):
            self.q, self.qlen, self.blocked = tuple(s.q), s.qlen, s.blocked
            self.scalars: tuple[str, ...] = ("q", "qlen", "blocked")
        else:
            self.ts, self.tail = s.ts, s.tail
            self.scalars = ("ts", "tail")

    def updates(self) -> dict[str, Value]:
        """The touched variables only: the set depends on the pieces used, never on values."""
        out: dict[str, Value] = {
            k: _frozen(getattr(self, k)) for k in ("st", "woken", "join") if k in self.touched}
        out.update((k, getattr(self, k)) for k in self.scalars if k in self.touched)
        return out


class _Builder:
    """Builds guards and effects for one (bounds, edges) pair."""

    def __init__(self, bounds: Bounds, edges: Edges) -> None:
        self.b = bounds
        self.e = edges
        self.n = bounds.n_tasks
        ex = dict(bounds.extra)
        self.P = ex.get("polls", 2)
        self.W = ex.get("wakers", 1)
        self.I = ex.get("inbox", 1)
        self.SP = ex.get("spawners", 1)
        self.remote = bool(ex.get("remote", 1))
        self.joins = bool(ex.get("join", 1))
        self.timers = bool(ex.get("timers", 0))
        self.D = ex.get("horizon", 2)
        self.io = bool(ex.get("io", 0))
        if self.io and not self.timers:
            raise ValueError("bounds: io = 1 needs timers = 1 (one driver, one park)")
        self.R = ex.get("round", 0) if self.remote else 0  # polls per round (0: not modelled)
        self.rcancel = self.remote and bool(ex.get("rcancel", 0))  # other threads cancel
        self.any_policy = ex.get("policy", 0) == 1  # 0: fifo (head of the queue), 1: any
        self.drive = bool(ex.get("drive", 0))  # the drive call's kind is state (mode, dpolls)
        self.closing = bool(ex.get("close", 0))  # close() (models/reference_close.py)
        # The array is one longer than the reference ever needs, so that a duplicate entry (a
        # mutant) shows in the queue before anything overflows; a bounded-queue mutant sets cap.
        self.C = edges.queue_capacity if edges.queue_capacity is not None else self.n + 1
        self.table = _table(edges)
        self.EMPTY = self.n
        # parameter domains and modifies-groups shared by several action definitions
        self.T = range(self.n)  # a task parameter
        self.REMOTE = (0, 1) if self.remote else (0,)  # the remote parameter: which thread acts
        self.ARR = ("st", "woken", "join", "q", "qlen", "blocked", "ended")  # a task finishes
        self.TM = self.released()  # a finishing task's driver variables
        self.RW = ("rnd", "pw") if self.R else ()
        # the table's rows per event, as codes (looked up once, not on every evaluation)
        self.rows: dict[TaskEvent, tuple[tuple[int, int], ...]] = {
            ev: tuple((_code(b), int(a)) for (b, e2), a in self.table.items() if e2 is ev)
            for ev in TaskEvent
        }

    def nxt(self, o: Ops, st: Value, event: TaskEvent) -> Value:
        """:func:`table_next` on this builder's (possibly mutated) table."""
        out: Value = st
        for before, after in self.rows[event]:
            out = o.If(st == before, after, out)
        return out

    def has(self, o: Ops, st: Value, event: TaskEvent) -> Value:
        """:func:`table_has` on this builder's (possibly mutated) table."""
        return o.Or(*[st == before for before, _ in self.rows[event]])

    # -- the task collection and the ready queue ------------------------------------------------
    #
    # Every action says "for every task", "some task", "how many tasks", "the whole array
    # changed task by task" and every queue operation through these methods only, never by a
    # Python loop over the tasks: the fixed-N builder below iterates over ``range(n)`` and keeps
    # the queue as an array ``q[0..C)`` with its length; the parametric interpretation
    # (:mod:`refexec.models.reference_parametric`) overrides exactly these methods with
    # quantifiers over a symbolic number of tasks and a timestamp queue, and reads every action
    # definition below unchanged.

    def forall(self, o: Ops, f: Any) -> Value:
        """``f(x)`` for every task ``x``."""
        return o.And(*[f(x) for x in self.T])

    def exists(self, o: Ops, f: Any) -> Value:
        """``f(x)`` for some task ``x``."""
        return o.Or(*[f(x) for x in self.T])

    def count(self, o: Ops, f: Any) -> Value:
        """The number of tasks ``x`` with ``f(x)``. Compare it with 0 only (``> 0``, ``== 0``):
        the parametric interpretation has no counting, only "some" and "none"."""
        return o.count([f(x) for x in self.T])

    def slots(self, who: Value) -> Sequence[Value]:
        """The slots of a per-task array that the task ``who`` may denote: ``who`` itself when
        it is known (a task parameter), none when it is the sentinel (no task), every slot when
        it is a symbolic state value (the symbolic interpretation of a join waker's owner);
        an update of "who's slot" is written as a loop over these with ``v == who``."""
        if isinstance(who, int):
            return (who,) if 0 <= who < self.n else ()
        return self.T

    def several_tasks(self) -> bool:
        """Two distinct tasks exist, so an action relating two (``join``) has instances;
        the parametric interpretation (N free, possibly > 1) says yes."""
        return self.n > 1

    def map_tasks(self, o: Ops, f: Any) -> Value:
        """The per-task array whose slot ``x`` is ``f(x)`` (a whole-array update)."""
        return tuple(f(x) for x in self.T)

    def queue_init(self, o: Ops) -> dict[str, Value]:
        """The queue's variables in the initial state: empty, the loop not blocked."""
        return {"q": (self.EMPTY,) * self.C, "qlen": 0, "blocked": False}

    def queue_empty(self, s: View, o: Ops) -> Value:
        """The ready queue holds no entry."""
        return s.qlen == 0

    def is_head(self, s: View, o: Ops, t: Value) -> Value:
        """``t`` is the head of the ready queue (the next task FIFO order polls)."""
        return o.And(s.qlen > 0, s.q[0] == t)

    def queued(self, s: View, o: Ops, t: Value) -> Value:
        """``t`` has an entry in the ready queue."""
        return o.Or(*[o.And(i < s.qlen, s.q[i] == t) for i in range(self.C)])

    def dequeue(self, s: View, o: Ops, t: Value) -> dict[str, Value]:
        """The queue's updates when the loop takes ``t`` out to poll it: the head (policy
        fifo), or any entry of ``t`` (policy any: its first)."""
        if self.any_policy:
            d = _Draft(s)
            self.remove(o, d, t, True)
            return {"q": d.q, "qlen": d.qlen}
        return {"q": (*s.q[1:], self.EMPTY), "qlen": s.qlen - 1}

    # -- variables -----------------------------------------------------------------------------

    def variables(self) -> tuple[Var, ...]:
        n, tid = self.n, Sort.int_(0, self.n, [f"t{i}" for i in range(self.n)] + ["-"])
        st = Sort.int_(0, UNSPAWNED, ST_NAMES)
        return (
            Var("st", st, n, "task state (TaskState, or UNSPAWNED)"),
            Var("wakers", Sort.int_(0, self.W), n, "live waker handles held outside the poll"),
            Var("polls", Sort.int_(0, self.P + 1), n, "the executor's poll counter"),
            Var("done", Sort.int_(0, self.P + 1), n, "polls performed", ghost=True),
            Var("woken", Sort.bool_(), n, "woken since the current poll began", ghost=True),
            Var("ended", Sort.bool_(), n, "future returned Ready or was dropped", ghost=True),
            Var("creq", Sort.bool_(), n, "cancel requested during a poll (deferred)"),
            Var("inbox", Sort.int_(0, self.I), n, "posted by other threads, not yet drained"),
            Var("join", tid, n, "the task whose join waker this task holds (- = none)"),
            Var("waited", Sort.int_(0, n), n, "polls of others since enqueued", ghost=True),
            Var("q", tid, self.C, "the ready queue (FIFO), - = empty slot"),
            Var("qlen", Sort.int_(0, self.C), 0, "length of the ready queue"),
            Var("spawners", Sort.int_(0, self.SP), 0, "live Spawner handles"),
            Var("loop", Sort.int_(0, Loop.CLOSING if self.closing else 5, LOOP_NAMES), 0,
                "run loop control state"),
            Var("lock", Sort.bool_(), 0, "the door's lock, held by the deciding loop"),
            Var("signal", Sort.bool_(), 0, "a wake-up posted to the sleeping loop"),
            Var("blocked", Sort.bool_(), 0, "the loop thread blocked on its own full queue"),
            *self.driver_variables(),
            *self.task_variables(),
        )

    def task_variables(self) -> tuple[Var, ...]:
        """Other threads' cancels (with ``remote``), the round of polls (``round`` = R > 0), and
        the phantom waker of the mutant that counts one at spawn."""
        n = self.n
        out: list[Var] = []
        if self.rcancel:
            out.append(Var("cpost", Sort.bool_(), n, "a cancel posted by another thread, not yet "
                           "taken in"))
        if self.R:
            out.append(Var("rnd", Sort.int_(0, self.R), 0, "polls since the round began (the "
                           "inbox is drained before a round ends)"))
            out.append(Var("pw", Sort.int_(0, self.R + 1), 0, "polls since the inbox was last "
                           "empty (saturates at R+1)", ghost=True))
        if self.closing:
            out.append(Var("closed", Sort.bool_(), 0, "close() was called (_closed)"))
        if self.e.spawn_counts_waker:
            out.append(Var("phantom", Sort.int_(0, 1), n, "a waker counted at spawn that "
                           "nobody holds"))
        if self.drive:
            out.append(Var("mode", Sort.int_(0, 3, DRIVE_NAMES), 0, "the drive call running "
                           "the loop"))
            out.append(Var("dpolls", Sort.int_(0, 2), 0, "polls started by the current drive "
                           "call (saturates at 2)"))
            out.append(Var("target", Sort.int_(0, n, [f"t{i}" for i in range(n)] + ["-"]), 0,
                           "the task block_on() waits for (- = none)"))
        return tuple(out)

    def task_init(self, o: Ops) -> dict[str, Value]:
        out: dict[str, Value] = {}
        if self.rcancel:
            out["cpost"] = self.map_tasks(o, lambda _x: False)
        if self.R:
            out["rnd"], out["pw"] = 0, 0
        if self.closing:
            out["closed"] = False
        if self.e.spawn_counts_waker:
            out["phantom"] = self.map_tasks(o, lambda _x: 0)
        if self.drive:
            out["mode"], out["dpolls"], out["target"] = Drive.RUN, 0, self.EMPTY
        return out

    def driver_variables(self) -> tuple[Var, ...]:
        if not self.timers:
            return ()
        clock = Sort.int_(0, self.D)
        return (
            Var("clock", clock, 0, "the executor's clock"),
            Var("deadline", clock, self.n, "the deadline of the task's timer"),
            Var("armed", Sort.bool_(), self.n, "an armed timer holds a clone of the task's waker"),
            Var("sleeping", Sort.bool_(), self.n, "the task's future awaits its timer",
                ghost=True),
            *([Var("reg", Sort.int_(0, 2, IO_NAMES), self.n,
                   "the task's readiness registration (a sender while not NONE)")]
              if self.io else []),
        )

    def driver_init(self, o: Ops) -> dict[str, Value]:
        if not self.timers:
            return {}
        out: dict[str, Value] = {
            "clock": 0, "deadline": self.map_tasks(o, lambda _x: 0),
            "armed": self.map_tasks(o, lambda _x: False),
            "sleeping": self.map_tasks(o, lambda _x: False)}
        if self.io:
            out["reg"] = self.map_tasks(o, lambda _x: Io.NONE)
        return out

    def released(self) -> tuple[str, ...]:
        """The driver variables a finishing task's release touches (see :meth:`release`)."""
        return ("armed", "sleeping", *(("reg",) if self.io else ())) if self.timers else ()

    def release(self, s: View, o: Ops, t: int, finishing: Value,
                cancel: bool = False) -> dict[str, Value]:
        """Task t's future is dropped (if ``finishing``; by a ``cancel``, or because it
        returned Ready): its timer is cancelled and its readiness registration taken out of the
        reactor (a cancel forgets one or the other in the ``cancel_*`` mutants)."""
        if not self.timers:
            return {}
        keep = o.Not(finishing)
        out = {"sleeping": o.store(s.sleeping, t, o.And(s.sleeping[t], keep))}
        if not cancel or self.e.cancel_disarms:
            out["armed"] = o.store(s.armed, t, o.And(s.armed[t], keep))
        if self.io and (not cancel or self.e.cancel_deregisters):
            out["reg"] = o.store(s.reg, t, o.If(finishing, Io.NONE, s.reg[t]))
        return out

    def unparked(self, s: View, o: Ops) -> dict[str, Value]:
        """What else ``unpark`` changes: nothing in the reference. The
        ``timer_survives_unpark`` mutant drops the timer the park waited for (the earliest
        armed one, not yet due) when a wake ends the park early, and never re-arms it."""
        if not self.timers or self.e.timer_survives_unpark:
            return {}
        def waited_for(t: Value) -> Value:
            first = self.forall(o, lambda u: o.Or(
                u == t, o.Not(s.armed[u]), s.deadline[t] <= s.deadline[u]))
            return o.And(s.armed[t], s.deadline[t] > s.clock, first)

        return {"armed": self.map_tasks(o, lambda t: o.And(s.armed[t], o.Not(waited_for(t))))}

    def poster_ok(self, s: View, o: Ops) -> Value:
        """Another thread may post now: it takes the door's lock (free unless the loop holds
        it deciding); the ``poster_locks`` mutant posts without it."""
        return o.Not(s.lock) if self.e.poster_locks else True

    def init(self, o: Ops) -> dict[str, Value]:
        def every(v: Value) -> Value:
            return self.map_tasks(o, lambda _x: v)

        return {
            "st": every(UNSPAWNED),
            "wakers": every(0),
            "polls": every(0),
            "done": every(0),
            "woken": every(False),
            "ended": every(False),
            "creq": every(False),
            "inbox": every(0),
            "join": every(self.EMPTY),
            "waited": every(0),
            **self.queue_init(o),
            "spawners": 0,
            "loop": Loop.NOT_STARTED,
            "lock": False,
            "signal": False,
            **self.driver_init(o),
            **self.task_init(o),
        }

    # -- shared pieces -------------------------------------------------------------------------

    def local_ok(self, s: View, o: Ops) -> Value:
        """The loop thread is free to run user code: before run(), or inside a poll."""
        return o.Or(s.loop == Loop.NOT_STARTED, s.loop == Loop.POLLING)

    def polling(self, s: View, o: Ops, t: Value) -> Value:
        return o.Or(*[s.st[t] == r for r in RUNNING_STATES])

    def final(self, o: Ops, st: Value) -> Value:
        return o.Or(*[st == f for f in FINAL])

    def has_waker(self, s: View, o: Ops, t: Value, timers: bool = True, io: bool = True) -> Value:
        """A live waker of t exists: a held one, a join waker kept by another task, the one an
        armed timer holds or the one an I/O registration holds (unless ``timers`` / ``io`` is
        False: the mutants that forget them)."""
        held = [s.wakers[t] > 0]
        if self.joins:
            held.append(self.exists(o, lambda u: s.join[u] == t))
        if self.timers and timers:
            held.append(s.armed[t])
        if self.io and io:
            held.append(s.reg[t] != Io.NONE)
        if self.e.spawn_counts_waker:
            held.append(s.phantom[t] > 0)
        return o.Or(*held) if len(held) > 1 else held[0]

    def due(self, s: View, o: Ops) -> Value:
        """The driver has something to deliver: an armed timer is due (its deadline has come),
        or a registered fd is ready. The loop delivers it before polling or parking."""
        if not self.timers:
            return False
        due = [self.exists(o, lambda t: o.And(s.armed[t], s.deadline[t] <= s.clock))]
        if self.io:
            due.append(self.exists(o, lambda t: s.reg[t] == Io.READY))
        return o.Or(*due)

    def lost(self, s: View, o: Ops, t: Value) -> Value:
        """Task t can never be woken again: IDLE, no live waker, nothing in flight (a posted
        cancel is taken in first: the loop drains the inbox before it reaps lost tasks)."""
        posted = [o.Not(s.cpost[t])] if self.rcancel else []
        return o.And(s.st[t] == int(S.IDLE), o.Not(self.has_waker(s, o, t)), s.inbox[t] == 0,
                     *posted)

    def stalled(self, s: View, o: Ops) -> Value:
        """Nothing is ready, the one definition: nothing queued, nothing posted by other
        threads (wake, spawn, cancel), no due timer or ready fd, no lost task left unreported.
        ``run_until_stalled()`` returns exactly here, and ``step()`` polls nothing only here
        (it does not reap lost tasks: ``lost`` = False)."""
        return o.And(self.nothing_ready(s, o),
                     o.Not(self.exists(o, lambda t: self.lost(s, o, t))))

    def jump_ahead(self, s: View, o: Ops) -> Value:
        """Deciding now would end in ``clock_jump``: no open spawner, the clock below its bound,
        a timer armed for later. The policy loop's ``run_until_stalled()`` decides (under the
        lock) only then, to run a program's sleeps to their end on a virtual autojump clock."""
        if not self.timers:
            return False
        later = self.exists(o, lambda t: o.And(s.armed[t], s.deadline[t] > s.clock))
        return o.And(s.spawners == 0, s.clock < self.D, later)

    def run_only(self, s: View, o: Ops) -> list[Value]:
        """Guard conjuncts of ``sleep`` and ``run_end`` with ``drive``: only ``run()`` and
        ``block_on()`` park or end the loop; a ``run_until_stalled()`` that decided (to jump
        the clock) cannot."""
        if not (self.drive and self.e.stalled_never_sleeps):
            return []
        return [o.Or(s.mode == Drive.RUN, s.mode == Drive.BLOCK_ON)]

    def target_final(self, s: View, o: Ops) -> Value:
        """``block_on()``'s target is final: COMPLETE, or CANCELLED (cancelled, or reported
        lost). Read through ``m.exists`` (``target`` is a state value naming a task)."""
        return self.exists(o, lambda u: o.And(s.target == u, self.final(o, s.st[u])))

    def nothing_ready(self, s: View, o: Ops) -> Value:
        """What ``step()`` sees when it polls nothing: :meth:`stalled` but for lost tasks,
        which step() leaves to the next reaping drive call."""
        return o.And(self.queue_empty(s, o), self.inbox_empty(s, o), o.Not(self.due(s, o)))

    def drained(self, s: View, o: Ops, inbox: Value, cpost: Value) -> dict[str, Value]:
        """After a drain step leaving ``inbox``/``cpost``: the ghost ``pw`` restarts once the
        inbox is empty (nothing has waited since)."""
        if not self.R:
            return {}
        empty = self.forall(o, lambda t: o.And(
            inbox[t] == 0, *([o.Not(cpost[t])] if self.rcancel else [])))
        return {"pw": o.If(empty, 0, s.pw)}

    def inbox_empty(self, s: View, o: Ops) -> Value:
        """Nothing posted by other threads waits: no wake, spawn or cancel."""
        return self.forall(o, lambda t: o.And(
            s.inbox[t] == 0, *([o.Not(s.cpost[t])] if self.rcancel else [])))

    def senders(self, s: View, o: Ops, timers: bool = True, io: bool = True) -> Value:
        """Number of senders: live spawners plus tasks that are unfinished and hold a waker."""
        return self.count(o, lambda t: o.And(
            o.Not(self.final(o, s.st[t])), self.has_waker(s, o, t, timers, io))) + s.spawners

    def enqueue(self, o: Ops, d: _Draft, who: Value, cond: Value) -> None:
        """Append ``who`` to the queue if ``cond``; a full queue blocks the (loop) thread."""
        full = d.qlen >= self.C
        do = o.And(cond, o.Not(full))
        q = d.q
        if self.e.fifo:
            d.q = tuple(o.If(o.And(do, d.qlen == i), who, q[i]) for i in range(self.C))
        else:
            d.q = tuple(o.If(do, who if i == 0 else q[i - 1], q[i]) for i in range(self.C))
        d.qlen = o.If(do, d.qlen + 1, d.qlen)
        d.blocked = o.Or(d.blocked, o.And(cond, full))
        d.touched |= {"q", "qlen", "blocked"}

    def remove(self, o: Ops, d: _Draft, t: int, cond: Value) -> None:
        """Remove the first occurrence of ``t`` from the queue if ``cond`` (cancel)."""
        q, qlen = d.q, d.qlen
        ext = (*q, self.EMPTY)
        present = o.Or(*[o.And(i < qlen, q[i] == t) for i in range(self.C)])
        out = []
        for i in range(self.C):
            seen = o.Or(*[o.And(j < qlen, q[j] == t) for j in range(i + 1)])
            out.append(o.If(o.And(cond, seen), ext[i + 1], q[i]))
        d.q = tuple(out)
        d.qlen = o.If(o.And(cond, present), qlen - 1, qlen)
        d.touched |= {"q", "qlen"}

    def wake(self, o: Ops, d: _Draft, who: Value, hit: Value = True) -> None:
        """Deliver a wake on the loop thread to the task ``who`` (if ``hit``; ``who`` may be a
        state value, such as the task whose join waker is released).

        The task state follows the WAKE row; the task is enqueued when it enters SCHEDULED
        (with ``merge_wakes`` off: whenever the row leads to SCHEDULED, a duplicate entry).
        """
        cond: Value = False
        for v in self.slots(who):
            at = hit if v is who else o.And(hit, who == v)
            before = d.st[v]
            after = self.nxt(o, before, E.WAKE)
            entering = after == int(S.SCHEDULED)
            if self.e.merge_wakes:
                entering = o.And(entering, before != int(S.SCHEDULED))
            d.st[v] = o.If(at, after, before)
            d.woken[v] = o.Or(d.woken[v], at)
            cond = o.Or(cond, o.And(at, entering))
        d.touched.add("woken")
        self.enqueue(o, d, who, cond)

    def finish(self, s: View, o: Ops, d: _Draft, t: int, finishing: Value) -> None:
        """Task t ends (if ``finishing``): release the join waker it holds by waking its owner."""
        if not self.joins or not self.e.release_join:
            return
        owner = s.join[t]
        d.join[t] = o.If(finishing, self.EMPTY, d.join[t])
        d.touched.add("join")
        self.wake(o, d, owner, o.And(finishing, owner != self.EMPTY))

    def spawn_order(self, s: View, o: Ops, t: int) -> Value:
        """Tasks are spawned in index order (a symmetry reduction: slots are interchangeable)."""
        prev = self.forall(o, lambda u: o.Implies(
            u < t, o.Or(s.st[u] != UNSPAWNED, s.inbox[u] > 0)))
        return o.And(s.st[t] == UNSPAWNED, s.inbox[t] == 0, prev)

    # -- actions -------------------------------------------------------------------------------

    def action(self, define: Any, params: Mapping[str, Sequence[int]], guard: Any,
               effect: Any, modifies: Sequence[str]) -> Action:
        """The :class:`Action` an action definition (a top-level function below) builds: named
        after the function, documented by its docstring (one paragraph)."""
        doc = " ".join((define.__doc__ or "").split())
        return Action(define.__name__, params, guard, effect, frozenset(modifies), doc)

    def actions(self) -> tuple[Action, ...]:
        """Every action of this instance, in the fixed order the interpreters number them.

        Each is built by the top-level definition of the same name (spec/SPEC.md section 2.4,
        2.7, 2.8 and 9 list them in this order); an optional part is present only when its
        bounds key asks for it, so every instance without the key keeps its actions."""
        defs: list[Any] = [spawn]
        if self.SP > 0:
            defs += [spawner_new, spawner_drop]
        defs.append(run_start)
        if self.remote:
            defs.append(inbox_drain)
        defs.append(poll)
        if self.R:
            defs.append(round_end)
        defs += [pending, ready, wake, wake_by_ref, waker_clone, waker_drop]
        if self.joins and self.several_tasks():
            defs.append(join)
        defs.append(cancel)
        if self.rcancel:
            defs.append(cancel_drain)
        defs += [lost, idle_check, sleep, unpark, run_end, step_return]
        if self.drive:
            defs.append(block_on_start)
        if self.timers:
            defs += [timer_arm, timer_cancel, timer_fire, tick, park_due, clock_jump]
        if self.io:
            defs += [io_register, io_cancel, fd_ready, io_ready]
        if self.closing:
            defs += [rc.close_start, *((rc.close_drain,) if self.remote else ()),
                     *((rc.close_cancel_drain,) if self.rcancel else ()),
                     rc.close_drop, rc.close_end, *((rc.closed_wake,) if self.remote else ())]
        return tuple(define(self) for define in defs)

    def apply_cancel(self, s: View, o: Ops, t: int, defer: bool) -> dict[str, Value]:
        """The CANCEL row applied to t on the loop thread (``cancel`` and ``cancel_drain``): a
        SCHEDULED task leaves the queue; a task that becomes CANCELLED ends (its join waiter is
        woken, its timer and registration released); with ``defer`` a task being polled gets
        a deferred request instead (``creq``, applied by ``pending``)."""
        now = self.has(o, s.st[t], E.CANCEL)
        new = self.nxt(o, s.st[t], E.CANCEL)
        finishing = o.And(now, new == int(S.CANCELLED), o.Not(s.ended[t]))
        d = _Draft(s)
        d.st[t] = new
        self.remove(o, d, t, o.And(now, s.st[t] == int(S.SCHEDULED)))
        self.finish(s, o, d, t, finishing)
        out = {
            **d.updates(),
            "ended": o.store(s.ended, t, o.Or(s.ended[t], finishing)),
        }
        if defer:
            out["creq"] = o.store(s.creq, t, o.Or(s.creq[t], o.Not(now)))
        out.update(self.release(s, o, t, finishing, cancel=True))
        return out

    def where_wake(self, s: View, o: Ops, t: int, remote: int) -> Value:
        """Where a held waker of t may be used: on the loop thread when it runs user code; on
        another thread under the door's lock with room in t's inbox."""
        if remote:
            return o.And(self.poster_ok(s, o), s.inbox[t] < self.I, *rc.open_(self, s, o))
        return self.local_ok(s, o)

    def deliver(self, s: View, o: Ops, t: int, remote: int, wakers: Value) -> dict[str, Value]:
        """A wake of t delivered (``wake``, ``wake_by_ref``): the WAKE row at once on the loop
        thread; from another thread posted to the inbox, signalling the sleeping loop."""
        if remote:
            return {
                "wakers": wakers,
                "inbox": o.store(s.inbox, t, s.inbox[t] + 1),
                "signal": o.Or(s.signal, s.loop == Loop.ASLEEP),
                "woken": o.store(s.woken, t, True),
            }
        d = _Draft(s)
        self.wake(o, d, t)
        return {**d.updates(), "wakers": wakers}

    def system(self, name: str, properties: tuple[Any, ...],
               actions: tuple[Action, ...]) -> TransitionSystem:
        return TransitionSystem(
            name=name,
            bounds=self.b,
            variables=self.variables(),
            init=self.init,
            actions=actions,
            properties=properties,
            doc=__doc__ or "",
        )


# == the actions ===================================================================================
#
# One top-level definition per action, named as in spec/SPEC.md's action tables and in the same
# order. Each takes the builder ``m`` (the instance's bounds and the design's edges) and returns
# the guarded update; the docstring is the action's documentation (``Action.doc``).
#
# The same definitions are read for a fixed number of tasks (this builder) and for every number
# of tasks (``reference_parametric.ParamBuilder``). So a definition never loops over the tasks
# or reads the queue's variables itself: "every task" / "some task" / a count compared with 0 /
# a whole-array map are ``m.forall`` / ``m.exists`` / ``m.count`` / ``m.map_tasks``; the queue
# is ``m.queue_empty``, ``m.is_head``, ``m.queued``, ``m.dequeue``, ``m.enqueue``,
# ``m.remove``; a wake is ``m.wake(o, d, who, hit)``; per-task updates are ``o.store(s.x, t, v)``
# or ``d.st[t] = v`` on a ``_Draft``; a task parameter's domain is ``m.T``.

_WAKE_MOD = ("wakers", "inbox", "signal", "woken", "st", "q", "qlen", "blocked")


def spawn(m: _Builder) -> Action:
    """A new task: on the loop thread (before run, or from inside a poll) it is SCHEDULED and
    enqueued; from another thread (needs a live Spawner) it is posted to the inbox and the
    sleeping loop is signalled."""
    e = m.e

    def guard(s: View, o: Ops, t: int, remote: int) -> Value:
        where = o.And(s.spawners > 0, o.Not(s.lock)) if remote else m.local_ok(s, o)
        refused = rc.open_(m, s, o) if remote and e.close_refuses_spawn else []
        return o.And(m.spawn_order(s, o, t), where, s.loop != Loop.RETURNED, *refused)

    def effect(s: View, o: Ops, t: int, remote: int) -> dict[str, Value]:
        if remote:
            sig = o.Or(s.signal, s.loop == Loop.ASLEEP) if e.spawn_signals else s.signal
            return {"inbox": o.store(s.inbox, t, 1), "signal": sig}
        d = _Draft(s)
        d.st[t] = m.nxt(o, s.st[t], E.SPAWN)
        m.enqueue(o, d, t, True)
        if e.spawn_counts_waker:
            return {**d.updates(), "phantom": o.store(s.phantom, t, 1)}
        return d.updates()

    return m.action(spawn, {"t": m.T, "remote": m.REMOTE}, guard, effect,
                    ("st", "q", "qlen", "blocked", "inbox", "signal",
                     *(("phantom",) if e.spawn_counts_waker else ())))


def spawner_new(m: _Builder) -> Action:
    """A Spawner handle is created (on the loop thread); it keeps run() open."""
    return m.action(spawner_new, {},
                    lambda s, o: o.And(m.local_ok(s, o), s.spawners < m.SP),
                    lambda s, o: {"spawners": s.spawners + 1},
                    ("spawners",))


def spawner_drop(m: _Builder) -> Action:
    """A Spawner handle is dropped; on another thread it signals the sleeping loop, which must
    re-check whether any sender remains."""
    e = m.e

    def guard(s: View, o: Ops, remote: int) -> Value:
        where = o.Not(s.lock) if remote else m.local_ok(s, o)
        return o.And(s.spawners > 0, where)

    def effect(s: View, o: Ops, remote: int) -> dict[str, Value]:
        out: dict[str, Value] = {"spawners": s.spawners - 1}
        if remote and e.drop_signals:
            out["signal"] = o.Or(s.signal, s.loop == Loop.ASLEEP)
        return out

    return m.action(spawner_drop, {"remote": m.REMOTE}, guard, effect, ("spawners", "signal"))


def run_start(m: _Builder) -> Action:
    """run() (with ``drive``: run(), block_on(), run_until_stalled() or step(), the ``mode``
    parameter) is called; the calling thread becomes the loop thread."""
    if not m.drive:
        return m.action(run_start, {},
                        lambda s, o: s.loop == Loop.NOT_STARTED,
                        lambda s, o: {"loop": Loop.DISPATCH},
                        ("loop",))
    return m.action(run_start, {"mode": range(Drive.BLOCK_ON)},  # block_on: block_on_start
                    lambda s, o, mode: s.loop == Loop.NOT_STARTED,
                    lambda s, o, mode: {"loop": Loop.DISPATCH, "mode": mode, "dpolls": 0},
                    ("loop", "mode", "dpolls"))


def inbox_drain(m: _Builder) -> Action:
    """The loop takes one posted entry of task t from the inbox (under the lock) and applies it
    on the loop thread: a posted spawn (SPAWN row) or a wake (WAKE row)."""
    e = m.e

    def guard(s: View, o: Ops, t: int) -> Value:
        when = [] if e.drain_each_round else [m.queue_empty(s, o)]
        return o.And(s.loop == Loop.DISPATCH, s.inbox[t] > 0, o.Not(s.lock), *when)

    def effect(s: View, o: Ops, t: int) -> dict[str, Value]:
        d = _Draft(s)
        is_spawn = s.st[t] == UNSPAWNED
        # a posted wake: the WAKE row (with enqueue); a posted spawn: the SPAWN row and enqueue.
        # Exactly one of the two pieces is active.
        m.wake(o, d, t, o.Not(is_spawn))
        m.enqueue(o, d, t, is_spawn)
        d.st[t] = o.If(is_spawn, m.nxt(o, s.st[t], E.SPAWN), d.st[t])
        inbox = o.store(s.inbox, t, s.inbox[t] - 1)
        return {**d.updates(), "inbox": inbox,
                **m.drained(s, o, inbox, s.cpost if m.rcancel else ())}

    return m.action(inbox_drain, {"t": m.T}, guard, effect,
                    ("inbox", "st", "woken", "q", "qlen", "blocked", *m.RW))


def poll(m: _Builder) -> Action:
    """The loop dequeues the head of the ready queue (policy fifo; policy any: any queued task)
    and starts polling it (POLL row); the poll counter is incremented."""
    e, n = m.e, m.n

    def guard(s: View, o: Ops, t: int) -> Value:
        where = (s.loop == Loop.DISPATCH if e.single_poller
                 else o.Or(s.loop == Loop.DISPATCH, s.loop == Loop.POLLING))
        # policy any: any queued task may be chosen (seeded random, PCT, DFS)
        chosen = m.queued(s, o, t) if m.any_policy else m.is_head(s, o, t)
        conj = [where, chosen, o.Not(s.blocked),
                m.has(o, s.st[t], E.POLL), s.done[t] <= m.P]
        if m.R:
            conj.append(s.rnd < m.R)  # a full round ends (drained inbox) first
        if m.timers and e.driver_each_round and not m.any_policy:
            conj.append(o.Not(m.due(s, o)))  # the driver is consulted between rounds
            # (policy any: polling before a due timer / ready fd is the policy's choice)
        if m.drive and e.step_polls_once:
            conj.append(o.Or(s.mode != Drive.STEP, s.dpolls == 0))  # step(): one poll
        if m.drive and m.R:  # block_on(): no new round once its target is final
            conj.append(o.Or(s.mode != Drive.BLOCK_ON, o.Not(m.target_final(s, o)), s.rnd > 0))
        return o.And(*conj)

    def effect(s: View, o: Ops, t: int) -> dict[str, Value]:
        counted = s.polls[t] + 1 if e.count_repolls else o.If(
            s.done[t] == 0, s.polls[t] + 1, s.polls[t])
        waited = m.map_tasks(o, lambda v: o.If(
            v == t, 0, o.If(s.st[v] == int(S.SCHEDULED), o.Min(s.waited[v] + 1, n),
                            s.waited[v])))
        out = {
            "st": o.store(s.st, t, m.nxt(o, s.st[t], E.POLL)),
            **m.dequeue(s, o, t), "loop": Loop.POLLING,
            "polls": o.store(s.polls, t, counted),
            "done": o.store(s.done, t, s.done[t] + 1),
            "woken": o.store(s.woken, t, False),
            "waited": waited,
        }
        if m.R:
            out["rnd"] = s.rnd + 1
            out["pw"] = o.If(m.inbox_empty(s, o), 0, o.Min(s.pw + 1, m.R + 1))
        if m.drive:
            out["dpolls"] = o.Min(s.dpolls + 1, 2)
        return out

    return m.action(poll, {"t": m.T}, guard, effect,
                    ("st", "q", "qlen", "loop", "polls", "done", "woken", "waited", *m.RW,
                     *(("dpolls",) if m.drive else ())))


def round_end(m: _Builder) -> Action:
    """A round of polls ends (R polls, or the queue ran empty) with the inbox drained: the next
    round may poll R more tasks before the inbox is drained again."""
    e = m.e

    def guard(s: View, o: Ops) -> Value:
        drained = [m.inbox_empty(s, o)] if e.drain_each_round else []
        return o.And(s.loop == Loop.DISPATCH, o.Not(s.lock), s.rnd > 0, *drained)

    return m.action(round_end, {}, guard, lambda s, o: {"rnd": 0}, ("rnd",))


def pending(m: _Builder) -> Action:
    """The poll returns Pending (PENDING row; NOTIFIED re-enters the queue). A cancel requested
    during the poll is applied now (CANCEL row). Environment bound: a future returns Ready by
    its P-th poll."""
    e = m.e

    def guard(s: View, o: Ops, t: int) -> Value:
        return o.And(m.polling(s, o, t), m.has(o, s.st[t], E.PENDING), s.done[t] < m.P)

    def effect(s: View, o: Ops, t: int) -> dict[str, Value]:
        after = m.nxt(o, s.st[t], E.PENDING)
        cancelled = m.nxt(o, after, E.CANCEL)
        apply_cancel = o.And(s.creq[t], m.has(o, after, E.CANCEL))
        if not e.cancel_when_notified:
            apply_cancel = o.And(apply_cancel, s.st[t] == int(S.RUNNING))
        new = o.If(apply_cancel, cancelled, after)
        d = _Draft(s)
        d.st[t] = new
        m.enqueue(o, d, t, new == int(S.SCHEDULED))
        m.finish(s, o, d, t, apply_cancel)
        loop = Loop.DECIDING if e.decide_after_pending else Loop.DISPATCH
        out = {
            **d.updates(),
            "ended": o.store(s.ended, t, o.Or(s.ended[t], apply_cancel)),
            "creq": o.store(s.creq, t, False), "loop": loop,
        }
        out.update(m.release(s, o, t, apply_cancel, cancel=True))
        if e.decide_after_pending:
            out["lock"] = True
        return out

    return m.action(pending, {"t": m.T}, guard, effect,
                    (*m.ARR, "creq", "loop", "lock", *m.TM))


def ready(m: _Builder) -> Action:
    """The poll returns Ready (or raises): READY row; the task's join waiter is woken."""

    def guard(s: View, o: Ops, t: int) -> Value:
        return o.And(m.polling(s, o, t), m.has(o, s.st[t], E.READY))

    def effect(s: View, o: Ops, t: int) -> dict[str, Value]:
        d = _Draft(s)
        d.st[t] = m.nxt(o, s.st[t], E.READY)
        m.finish(s, o, d, t, True)
        out = {
            **d.updates(),
            "ended": o.store(s.ended, t, True), "creq": o.store(s.creq, t, False),
            "loop": Loop.DISPATCH,
        }
        out.update(m.release(s, o, t, True))  # the future is dropped, with its sleep
        return out

    return m.action(ready, {"t": m.T}, guard, effect, (*m.ARR, "creq", "loop", *m.TM))


def wake(m: _Builder) -> Action:
    """A held waker of t is consumed by wake(): on the loop thread the WAKE row applies at once;
    on another thread the wake is posted to the inbox and the sleeping loop is signalled."""
    return m.action(
        wake, {"t": m.T, "remote": m.REMOTE},
        lambda s, o, t, remote: o.And(s.wakers[t] > 0, m.where_wake(s, o, t, remote)),
        lambda s, o, t, remote: m.deliver(s, o, t, remote,
                                          o.store(s.wakers, t, s.wakers[t] - 1)),
        _WAKE_MOD)


def wake_by_ref(m: _Builder) -> Action:
    """wake_by_ref() on a held waker of t, or on the context waker during t's own poll; the
    handle survives. Delivered as for wake."""

    def guard(s: View, o: Ops, t: int, remote: int) -> Value:
        held = o.And(s.wakers[t] > 0, m.where_wake(s, o, t, remote))
        if remote:
            return held
        return o.Or(held, m.polling(s, o, t))  # the poll's own context waker

    return m.action(wake_by_ref, {"t": m.T, "remote": m.REMOTE}, guard,
                    lambda s, o, t, remote: m.deliver(s, o, t, remote, s.wakers),
                    _WAKE_MOD)


def waker_clone(m: _Builder) -> Action:
    """A waker of t is cloned: from the context waker during t's poll (the future keeps it), or
    from a held waker (any thread)."""
    return m.action(
        waker_clone, {"t": m.T},
        lambda s, o, t: o.And(s.wakers[t] < m.W, o.Or(s.wakers[t] > 0, m.polling(s, o, t))),
        lambda s, o, t: {"wakers": o.store(s.wakers, t, s.wakers[t] + 1)},
        ("wakers",))


def waker_drop(m: _Builder) -> Action:
    """A held waker of t is dropped; on another thread the sleeping loop is signalled (a sender
    may have gone)."""
    e = m.e

    def guard(s: View, o: Ops, t: int, remote: int) -> Value:
        where = o.Not(s.lock) if remote else m.local_ok(s, o)
        return o.And(s.wakers[t] > 0, where)

    def effect(s: View, o: Ops, t: int, remote: int) -> dict[str, Value]:
        out: dict[str, Value] = {"wakers": o.store(s.wakers, t, s.wakers[t] - 1)}
        if remote and e.drop_signals:
            out["signal"] = o.Or(s.signal, s.loop == Loop.ASLEEP)
        return out

    return m.action(waker_drop, {"t": m.T, "remote": m.REMOTE}, guard, effect, ("wakers", "signal"))


def join(m: _Builder) -> Action:
    """During u's poll, u awaits t's JoinHandle: t keeps a clone of u's waker (the join waker)
    and wakes it when t ends."""

    def guard(s: View, o: Ops, t: int, u: int) -> Value:
        return o.And(
            u != t, m.polling(s, o, u), s.st[t] != UNSPAWNED,
            o.Not(m.final(o, s.st[t])), s.join[t] == m.EMPTY)

    return m.action(join, {"t": m.T, "u": m.T}, guard,
                    lambda s, o, t, u: {"join": o.store(s.join, t, u)},
                    ("join",))


def cancel(m: _Builder) -> Action:
    """JoinHandle.cancel() on the loop thread: CANCEL row (a SCHEDULED task leaves the queue);
    during t's poll the cancel is deferred until the poll returns. From another thread it is
    posted to the inbox (and the sleeping loop signalled)."""

    def guard(s: View, o: Ops, t: int, remote: int) -> Value:
        if remote and not m.rcancel:
            return False
        if remote:
            return o.And(o.Not(s.lock), s.st[t] != UNSPAWNED,
                         o.Not(m.final(o, s.st[t])), o.Not(s.cpost[t]), *rc.open_(m, s, o))
        return o.And(m.local_ok(s, o), s.st[t] != UNSPAWNED,
                     o.Or(m.has(o, s.st[t], E.CANCEL),
                          o.And(m.polling(s, o, t), o.Not(s.creq[t]))))

    def effect(s: View, o: Ops, t: int, remote: int) -> dict[str, Value]:
        if remote and not m.rcancel:
            return {}  # never enabled (guard False): the instance has no posted cancels
        if remote:
            return {"cpost": o.store(s.cpost, t, True),
                    "signal": o.Or(s.signal, s.loop == Loop.ASLEEP)}
        return m.apply_cancel(s, o, t, defer=True)

    return m.action(cancel, {"t": m.T, "remote": m.REMOTE}, guard, effect,
                    (*m.ARR, "creq", *m.TM, *(("cpost", "signal") if m.rcancel else ())))


def cancel_drain(m: _Builder) -> Action:
    """The loop takes a posted cancel of t from the inbox and applies it: CANCEL row (t is never
    being polled between polls); a task that ended meanwhile stays as it is."""

    def effect(s: View, o: Ops, t: int) -> dict[str, Value]:
        cpost = o.store(s.cpost, t, False)
        return {**m.apply_cancel(s, o, t, defer=False), "cpost": cpost,
                **m.drained(s, o, s.inbox, cpost)}

    return m.action(cancel_drain, {"t": m.T},
                    lambda s, o, t: o.And(s.loop == Loop.DISPATCH, s.cpost[t], o.Not(s.lock)),
                    effect, (*m.ARR, *m.TM, "cpost", *m.RW))


def lost(m: _Builder) -> Action:
    """The loop finds t IDLE with no live waker and nothing in flight: nothing can ever wake it.
    It is reported and cancelled (LOST row), never dropped in silence."""

    def effect(s: View, o: Ops, t: int) -> dict[str, Value]:
        d = _Draft(s)
        d.st[t] = m.nxt(o, s.st[t], E.LOST)
        m.finish(s, o, d, t, True)
        return {**d.updates(), "ended": o.store(s.ended, t, True)}

    return m.action(lost, {"t": m.T},
                    lambda s, o, t: o.And(s.loop == Loop.DISPATCH, m.lost(s, o, t),
                                          m.has(o, s.st[t], E.LOST)),
                    effect, m.ARR)


def idle_check(m: _Builder) -> Action:
    """Nothing is queued: the loop takes the lock, sees the inbox empty (and every lost task
    reported) and decides, holding the lock, whether to sleep or return."""
    e = m.e

    def guard(s: View, o: Ops) -> Value:
        conj = [s.loop == Loop.DISPATCH, m.queue_empty(s, o), m.inbox_empty(s, o),
                o.Not(s.lock)]
        if e.report_lost_before_deciding:
            conj.append(o.Not(m.exists(o, lambda t: m.lost(s, o, t))))
        if m.timers:
            conj.append(o.Not(m.due(s, o)))  # due timers are fired before deciding
        if m.drive and e.stalled_never_sleeps:  # the others return instead (step_return),
            # but the policy loop's run_until_stalled() jumps a virtual autojump clock here
            conj.append(o.Or(s.mode == Drive.RUN,
                             o.And(s.mode == Drive.UNTIL_STALLED, m.jump_ahead(s, o)),
                             # block_on(): never decides once its target is final (it returns)
                             o.And(s.mode == Drive.BLOCK_ON, o.Not(m.target_final(s, o)))))
        return o.And(*conj)

    return m.action(idle_check, {}, guard,
                    lambda s, o: {"loop": Loop.DECIDING, "lock": bool(e.decide_locked)},
                    ("loop", "lock"))


def sleep(m: _Builder) -> Action:
    """A sender remains: the loop waits on the condition, releasing the lock atomically."""
    return m.action(sleep, {},
                    lambda s, o: o.And(s.loop == Loop.DECIDING, m.senders(s, o) > 0,
                                       o.Not(m.due(s, o)), *m.run_only(s, o)),
                    lambda s, o: {"loop": Loop.ASLEEP, "lock": False},
                    ("loop", "lock"))


def unpark(m: _Builder) -> Action:
    """The sleeping loop is woken by a signal and goes back to dispatching."""
    return m.action(unpark, {},
                    lambda s, o: o.And(s.loop == Loop.ASLEEP, s.signal),
                    lambda s, o: {"loop": Loop.DISPATCH, "signal": False, **m.unparked(s, o)},
                    ("loop", "signal", *m.TM))


def run_end(m: _Builder) -> Action:
    """No sender remains (no spawner, no waker of an unfinished task, nothing queued or posted):
    run() returns, releasing the lock."""
    e = m.e
    return m.action(run_end, {},
                    lambda s, o: o.And(s.loop == Loop.DECIDING,
                                       m.senders(s, o, e.timer_holds_sender,
                                                 e.io_holds_sender) == 0, *m.run_only(s, o)),
                    lambda s, o: {"loop": Loop.RETURNED, "lock": False},
                    ("loop", "lock"))


def step_return(m: _Builder) -> Action:
    """step(), run_until_stalled() or block_on() gives the loop thread back to its caller
    between polls, with work possibly left: the executor is open for more, and a later drive
    call starts dispatching again (run_start). With ``drive``: run_until_stalled() returns
    exactly when stalled; step() once it polled a task, or when nothing is ready; block_on()
    once its target is final; run() (an interrupt) at any point between polls."""
    e = m.e

    def guard(s: View, o: Ops) -> Value:
        between = o.And(s.loop == Loop.DISPATCH, o.Not(s.lock))
        if not m.drive:
            return between
        stalled = m.stalled(s, o) if e.stalled_return_exact else m.queue_empty(s, o)
        none = m.nothing_ready(s, o) if e.stalled_return_exact else m.queue_empty(s, o)
        target = m.target_final(s, o) if e.block_on_waits_target else True
        return o.And(between, o.Or(
            s.mode == Drive.RUN,
            o.And(s.mode == Drive.UNTIL_STALLED, stalled),
            o.And(s.mode == Drive.STEP, o.Or(s.dpolls > 0, none)),
            o.And(s.mode == Drive.BLOCK_ON, target)))

    def effect(s: View, o: Ops) -> dict[str, Value]:
        if not m.drive:
            return {"loop": Loop.NOT_STARTED}
        return {"loop": Loop.NOT_STARTED, "mode": Drive.RUN, "dpolls": 0, "target": m.EMPTY}

    return m.action(step_return, {}, guard, effect,
                    ("loop", *(("mode", "dpolls", "target") if m.drive else ())))


def block_on_start(m: _Builder) -> Action:
    """block_on(t) is called (bounds key ``drive``) on a task already spawned: the calling
    thread becomes the loop thread, in mode BLOCK_ON with ``target`` t, until t is final."""
    return m.action(block_on_start, {"t": m.T},
                    lambda s, o, t: o.And(s.loop == Loop.NOT_STARTED, s.st[t] != UNSPAWNED),
                    lambda s, o, t: {"loop": Loop.DISPATCH, "mode": Drive.BLOCK_ON,
                                     "dpolls": 0, "target": t},
                    ("loop", "mode", "dpolls", "target"))


# -- the driver (bounds key ``timers`` = 1): timers armed and cancelled by a task's own poll, fired
# by the loop between rounds, the clock moved by time (``tick``) or by the loop (``clock_jump``),
# and the park with a timeout (a ``tick`` that makes a timer due ends the timed park).


def timer_arm(m: _Builder) -> Action:
    """During t's poll a sleep / timeout arms a timer for deadline d (not in the past): it keeps
    a clone of t's waker."""

    def guard(s: View, o: Ops, t: int, d: int) -> Value:
        return o.And(m.polling(s, o, t), o.Not(s.armed[t]), s.clock <= d)

    return m.action(timer_arm, {"t": m.T, "d": range(m.D + 1)}, guard,
                    lambda s, o, t, d: {"armed": o.store(s.armed, t, True),
                                        "sleeping": o.store(s.sleeping, t, True),
                                        "deadline": o.store(s.deadline, t, d)},
                    ("armed", "sleeping", "deadline"))


def timer_cancel(m: _Builder) -> Action:
    """During t's poll its timer is cancelled (a timeout block ends first, a sleep is dropped):
    the waker it held is dropped."""
    return m.action(timer_cancel, {"t": m.T},
                    lambda s, o, t: o.And(m.polling(s, o, t), s.armed[t]),
                    lambda s, o, t: {"armed": o.store(s.armed, t, False),
                                     "sleeping": o.store(s.sleeping, t, False)},
                    ("armed", "sleeping"))


def timer_fire(m: _Builder) -> Action:
    """Between rounds the loop fires a due timer: its waker is consumed by wake() on the loop
    thread (WAKE row)."""
    e = m.e

    def guard(s: View, o: Ops, t: int) -> Value:
        where = s.loop == Loop.DISPATCH
        if not e.driver_each_round:
            where = o.And(where, m.queue_empty(s, o))
        return o.And(where, o.Not(s.lock), s.armed[t], s.deadline[t] <= s.clock)

    def effect(s: View, o: Ops, t: int) -> dict[str, Value]:
        d = _Draft(s)
        m.wake(o, d, t)
        return {**d.updates(), "armed": o.store(s.armed, t, False),
                "sleeping": o.store(s.sleeping, t, False)}

    return m.action(timer_fire, {"t": m.T}, guard, effect,
                    ("armed", "sleeping", "st", "woken", "q", "qlen", "blocked"))


def tick(m: _Builder) -> Action:
    """Time passes (a real clock, or VirtualClock.advance from another thread); if a timer
    becomes due, the loop's timed park ends (its timeout was that deadline)."""

    def effect(s: View, o: Ops) -> dict[str, Value]:
        c = s.clock + 1
        due = m.exists(o, lambda t: o.And(s.armed[t], s.deadline[t] <= c))
        return {"clock": c, "signal": o.Or(s.signal, o.And(s.loop == Loop.ASLEEP, due))}

    return m.action(tick, {}, lambda s, o: s.clock < m.D, effect, ("clock", "signal"))


def park_due(m: _Builder) -> Action:
    """Deciding, the loop finds a timer due (time passed since it looked): it does not park past
    it, releases the lock and goes back to fire it."""
    return m.action(park_due, {},
                    lambda s, o: o.And(s.loop == Loop.DECIDING, m.due(s, o)),
                    lambda s, o: {"loop": Loop.DISPATCH, "lock": False},
                    ("loop", "lock"))


def clock_jump(m: _Builder) -> Action:
    """VirtualClock(autojump=True): deciding (lock held, queue and inbox empty) with no open
    spawner and a timer armed for later, the loop moves the clock towards it instead of
    parking, releases the lock and dispatches again."""
    e = m.e

    def guard(s: View, o: Ops) -> Value:
        later = m.exists(o, lambda t: o.And(s.armed[t], s.deadline[t] > s.clock))
        if e.jump_checks_inbox:
            where = o.And(s.loop == Loop.DECIDING, s.spawners == 0)
        else:
            where = o.And(s.loop == Loop.DISPATCH, m.queue_empty(s, o), o.Not(s.lock))
        return o.And(where, s.clock < m.D, o.Not(m.due(s, o)), later)

    return m.action(clock_jump, {}, guard,
                    lambda s, o: {"clock": s.clock + 1, "loop": Loop.DISPATCH, "lock": False},
                    ("clock", "loop", "lock"))


# -- I/O readiness (bounds key ``io`` = 1): a task's poll registers (or drops) its wait for an fd;
# the environment (the kernel) makes a registered fd ready at any time, which ends the park in
# ``select()``; the loop reports ready registrations between rounds (``select(0)``) and wakes
# their tasks. A registration is per task (the implementation's "one task per fd and direction"
# rule makes the fd a task's own).


def io_register(m: _Builder) -> Action:
    """During t's poll a readiness wait registers its fd with the reactor: the registration
    keeps a clone of t's waker."""
    return m.action(io_register, {"t": m.T},
                    lambda s, o, t: o.And(m.polling(s, o, t), s.reg[t] == Io.NONE),
                    lambda s, o, t: {"reg": o.store(s.reg, t, Io.ARMED)},
                    ("reg",))


def io_cancel(m: _Builder) -> Action:
    """During t's poll its readiness wait is dropped (a timeout ended it first): the
    registration leaves the reactor and its waker is dropped."""
    return m.action(io_cancel, {"t": m.T},
                    lambda s, o, t: o.And(m.polling(s, o, t), s.reg[t] != Io.NONE),
                    lambda s, o, t: {"reg": o.store(s.reg, t, Io.NONE)},
                    ("reg",))


def fd_ready(m: _Builder) -> Action:
    """The environment: t's registered fd becomes ready (data arrived, the peer took data). A
    loop parked in select() returns (no lock: the kernel wakes it)."""
    e = m.e

    def effect(s: View, o: Ops, t: int) -> dict[str, Value]:
        parked = s.loop == Loop.ASLEEP
        if not e.io_parks_in_select:  # the plain condition wait, unless a timer is armed
            parked = o.And(parked, m.exists(o, lambda u: s.armed[u]))
        return {"reg": o.store(s.reg, t, Io.READY), "signal": o.Or(s.signal, parked)}

    return m.action(fd_ready, {"t": m.T}, lambda s, o, t: s.reg[t] == Io.ARMED, effect,
                    ("reg", "signal"))


def io_ready(m: _Builder) -> Action:
    """Between rounds the loop's select() reports t's fd ready: the registration leaves the
    reactor and its waker is consumed by wake() on the loop thread (WAKE row)."""
    e = m.e

    def guard(s: View, o: Ops, t: int) -> Value:
        where = s.loop == Loop.DISPATCH
        if not e.driver_each_round:
            where = o.And(where, m.queue_empty(s, o))
        return o.And(where, o.Not(s.lock), s.reg[t] == Io.READY)

    def effect(s: View, o: Ops, t: int) -> dict[str, Value]:
        d = _Draft(s)
        m.wake(o, d, t)
        return {**d.updates(), "reg": o.store(s.reg, t, Io.NONE)}

    return m.action(io_ready, {"t": m.T}, guard, effect,
                    ("reg", "st", "woken", "q", "qlen", "blocked"))
