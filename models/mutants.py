"""Mutants: one-edge changes of the reference design, each a bug real executors have shipped.

Each mutant is the reference builder (:func:`refexec.models.reference.build`) with exactly one
field of :class:`~refexec.models.reference.Edges` changed (the tests assert that). ``catches``
names the properties the mutant is expected to violate at its default bounds; a mutant is
*caught* when a checker finds a counterexample to one of them.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from refexec.models.reference import REFERENCE_EDGES, UNSPAWNED, Edges, default_bounds
from refexec.models.system import Bounds
from refexec.state import TaskEvent, TaskState

__all__ = ["MUTANT_SPECS", "MutantSpec", "changed_edges"]

S, E = TaskState, TaskEvent
assert UNSPAWNED not in {int(s) for s in TaskState}


@dataclass(frozen=True)
class MutantSpec:
    """A mutant: its one changed edge, the real bug it stands for, and what must catch it."""

    slug: str
    edges: Edges
    edge: str
    bug: str
    catches: tuple[str, ...]
    bounds: Bounds


def _row(before: TaskState, event: TaskEvent, after: TaskState) -> tuple[tuple[int, str, int]]:
    return ((int(before), event.value, int(after)),)


def changed_edges(edges: Edges) -> list[str]:
    """Names of the :class:`Edges` fields that differ from the reference design."""
    return [
        f.name for f in fields(Edges)
        if getattr(edges, f.name) != getattr(REFERENCE_EDGES, f.name)
    ]


_LOCAL = {"remote": 0, "join": 0, "spawners": 0}
_REMOTE = {"join": 0}
_TIMERS_LOCAL = {**_LOCAL, "timers": 1}
_TIMERS_REMOTE = {"join": 0, "spawners": 0, "timers": 1}
_IO_LOCAL = {**_TIMERS_LOCAL, "io": 1}
_IO_REMOTE = {**_TIMERS_REMOTE, "io": 1}
_CLOSE = {"join": 0, "close": 1}

MUTANT_SPECS: tuple[MutantSpec, ...] = (
    MutantSpec(
        "running-wake-ignored",
        Edges(table_override=_row(S.RUNNING, E.WAKE, S.RUNNING)),
        "row (RUNNING, wake) -> RUNNING instead of NOTIFIED",
        "A wake that arrives while the task is being polled is forgotten: the task returns "
        "Pending and sleeps forever (the classic lost wake-up of hand-written executors that "
        "only look at a 'queued' flag).",
        ("EX-NO-LOST-WAKE",),
        default_bounds(1, **_LOCAL),
    ),
    MutantSpec(
        "double-enqueue",
        Edges(merge_wakes=False),
        "enqueue whenever the WAKE row leads to SCHEDULED (not only on entering it)",
        "The 'scheduled' flag is not consulted (or cleared too early), so a second wake of a "
        "queued task pushes a second entry: duplicate queue entries, spurious polls, unbounded "
        "queue growth under wake storms.",
        ("EX-QUEUE-EXACT",),
        default_bounds(2, **_LOCAL),
    ),
    MutantSpec(
        "bounded-queue-blocking",
        Edges(queue_capacity=1),
        "the ready queue is bounded (capacity 1 < tasks) and enqueue blocks when full",
        "A bounded channel as ready queue with a blocking send from the executor's own thread "
        "(the seed's sync_channel): when the queue is full the loop waits for itself forever.",
        ("EX-NO-SELF-BLOCK", "EX-QUEUE-EXACT"),
        default_bounds(2, **_LOCAL),
    ),
    MutantSpec(
        "spawn-no-unpark",
        Edges(spawn_signals=False),
        "a spawn posted from another thread does not signal the sleeping loop",
        "Spawning from another thread puts the task in the inbox but does not unpark the "
        "sleeping run loop: the new task never runs.",
        ("EX-SLEEP-SAFE",),
        default_bounds(1, **_REMOTE),
    ),
    MutantSpec(
        "stall-on-poll-result",
        Edges(decide_after_pending=True),
        "after a poll returns Pending the loop goes to the sleep/return decision",
        "run_until_stalled / the idle check looks at the last poll's result instead of the "
        "queue: the loop stops or sleeps while other tasks are still queued.",
        ("EX-RUN-END", "EX-SLEEP-SAFE", "EX-LOST-REPORTED"),
        default_bounds(2, **_LOCAL),
    ),
    MutantSpec(
        "unlocked-decision",
        Edges(decide_locked=False),
        "the emptiness check and the sleep/return are not under one lock",
        "Check-then-sleep without the lock: another thread posts a wake between the loop's "
        "'inbox is empty' and its 'sleep' (or 'return'), sees the loop not yet asleep and does "
        "not signal it; the wake is lost or run() returns with work in flight.",
        ("EX-RUN-END", "EX-SLEEP-SAFE"),
        default_bounds(1, **_REMOTE),
    ),
    MutantSpec(
        "complete-rescheduled",
        Edges(table_override=_row(S.COMPLETE, E.WAKE, S.SCHEDULED)),
        "row (COMPLETE, wake) -> SCHEDULED instead of COMPLETE",
        "A wake of a finished task re-schedules it and the finished future is polled again "
        "('async fn resumed after completion').",
        ("EX-FINAL",),
        default_bounds(1, **_REMOTE),
    ),
    MutantSpec(
        "join-waker-leak",
        Edges(release_join=False),
        "a finished task does not wake / release the join waker of its awaiter",
        "The waker registered by 'await handle' is never woken or released when the awaited "
        "task ends: the awaiter hangs and its leaked waker keeps run() open.",
        ("EX-JOIN-RELEASED",),
        default_bounds(2, remote=0, spawners=0),
    ),
    MutantSpec(
        "poll-count-first-only",
        Edges(count_repolls=False),
        "the poll counter is incremented on the first poll only",
        "A statistics counter updated on the spawn path only (the re-poll path forgets it).",
        ("EX-POLL-COUNT",),
        default_bounds(1, **_LOCAL),
    ),
    MutantSpec(
        "lost-unreported",
        Edges(report_lost_before_deciding=False),
        "the loop decides to sleep / return without reporting lost tasks",
        "A task that returned Pending and dropped its waker is freed in silence: no error, the "
        "program just never finishes that work (the seed's behaviour).",
        ("EX-LOST-REPORTED",),
        default_bounds(1, **_LOCAL),
    ),
    MutantSpec(
        "cancelled-wake-requeues",
        Edges(table_override=_row(S.CANCELLED, E.WAKE, S.SCHEDULED)),
        "row (CANCELLED, wake) -> SCHEDULED instead of CANCELLED",
        "A late wake resurrects a cancelled task: its dropped future is polled again (and, "
        "with step() giving the loop back between polls, it can also overtake the queue).",
        ("EX-FINAL", "EX-FIFO"),
        default_bounds(2, **_LOCAL),
    ),
    MutantSpec(
        "lifo-queue",
        Edges(fifo=False),
        "tasks are pushed at the front of the ready queue",
        "The ready queue used as a stack (append + pop from the same end): a task that keeps "
        "waking itself starves the others.",
        ("EX-FIFO",),
        default_bounds(2, **_LOCAL),
    ),
    MutantSpec(
        "reentrant-poll",
        Edges(single_poller=False),
        "a poll may start while another poll is in progress",
        "A re-entrant run loop (block_on / run() called from inside a task) polls other tasks, "
        "possibly the caller itself, while a poll is on the stack.",
        ("EX-ONE-POLLER",),
        default_bounds(2, **_LOCAL),
    ),
    MutantSpec(
        "drop-no-unpark",
        Edges(drop_signals=False),
        "dropping a waker / spawner on another thread does not signal the sleeping loop",
        "The last sender goes away on another thread but the receiver is not woken: run() "
        "sleeps forever instead of returning.",
        ("EX-SLEEP-SAFE",),
        default_bounds(1, **_REMOTE),
    ),
    # -- the driver (time) ------------------------------------------------------------------
    MutantSpec(
        "driver-only-when-idle",
        Edges(driver_each_round=False),
        "the driver is consulted only when the ready queue is empty",
        "Timers are fired only when nothing is runnable: a task that keeps waking itself (a "
        "busy loop of yield_now) starves every due timer and every ready socket, and sleeps "
        "and reads never end.",
        ("EX-TIMER-PROMPT", "EX-IO-PROMPT"),
        default_bounds(1, **_IO_LOCAL),
    ),
    MutantSpec(
        "exit-with-timer-armed",
        Edges(timer_holds_sender=False),
        "run() does not count an armed timer as a sender",
        "The loop exits while a task sleeps: the timer's waker is not seen as keeping the "
        "task wakeable, so run() returns with the sleeping task unfinished.",
        ("EX-TIMER-RUN-END",),
        default_bounds(1, **_TIMERS_LOCAL),
    ),
    MutantSpec(
        "jump-with-wake-in-flight",
        Edges(jump_checks_inbox=False),
        "the virtual clock jumps whenever the ready queue is empty, outside the locked decision",
        "Autojump checks only the ready queue: a wake posted by another thread is still in the "
        "inbox when the clock jumps, so virtual time passes while work was pending (timeouts "
        "fire that should not have).",
        ("EX-CLOCK-JUMP",),
        default_bounds(1, **_TIMERS_REMOTE),
    ),
    MutantSpec(
        "cancelled-timer-armed",
        Edges(cancel_disarms=False),
        "cancelling a task leaves its timer in the heap, armed",
        "The timer of a cancelled task stays armed with its waker: memory grows with every "
        "cancelled timeout and the stale timer fires into a finished task.",
        ("EX-TIMER-FINAL",),
        default_bounds(1, **_TIMERS_LOCAL),
    ),
    # -- the driver (I/O readiness, the park in select()) -----------------------------------
    MutantSpec(
        "wake-byte-unlocked",
        Edges(poster_locks=False),
        "another thread posts a wake without the door's lock",
        "The poster checks 'is the loop parked in select()?' and writes the wakeup byte only "
        "if so, without the lock the loop decides under: the loop, between its 'nothing to do' "
        "and its park, is not parked yet, so no byte is written and the posted wake waits in "
        "the inbox while the loop sleeps (the lost wake of a self-pipe written outside the "
        "lock).",
        ("EX-SLEEP-SAFE",),
        default_bounds(1, **_IO_REMOTE),
    ),
    MutantSpec(
        "timer-dropped-on-unpark",
        Edges(timer_survives_unpark=False),
        "a park ended early drops the timer it waited for, which is never re-armed",
        "The loop takes the earliest timer off the heap to compute its select() timeout; when "
        "ready I/O or a wake ends the park before the deadline it forgets to put it back: the "
        "sleeping task (a timeout around a read, say) is never woken and is reported lost.",
        ("EX-TIMER-KEPT",),
        default_bounds(1, **_IO_LOCAL),
    ),
    MutantSpec(
        "exit-with-io-registered",
        Edges(io_holds_sender=False),
        "run() does not count an I/O registration as a sender",
        "The loop exits while a task waits for a socket: the registration's waker is not seen "
        "as keeping the task wakeable, so run() returns with the reader unfinished.",
        ("EX-IO-RUN-END",),
        default_bounds(1, **_IO_LOCAL),
    ),
    MutantSpec(
        "io-park-on-condvar",
        Edges(io_parks_in_select=False),
        "with only I/O registered the loop parks on the condition variable, not in select()",
        "The select() park is taken only when a timer is armed: a loop waiting for a socket "
        "alone sleeps on the condition variable, which readiness cannot end, and the ready "
        "socket is never served.",
        ("EX-IO-PARK",),
        default_bounds(1, **_IO_LOCAL),
    ),
    MutantSpec(
        "cancelled-io-registered",
        Edges(cancel_deregisters=False),
        "cancelling a task leaves its I/O registration in the reactor",
        "The registration of a cancelled reader stays in the selector with its waker: the fd "
        "cannot be awaited again ('already awaited'), and its readiness wakes a finished task.",
        ("EX-IO-FINAL",),
        default_bounds(1, **_IO_LOCAL),
    ),
    # -- cancels, other threads' messages, termination (issue 12) -------------------------
    MutantSpec(
        "cancel-lost-when-notified",
        Edges(cancel_when_notified=False),
        "a cancel requested during a poll is applied only if the poll ends in IDLE",
        "A cancel requested while the task runs is dropped when a wake also arrives during the "
        "same poll: the NOTIFIED task is re-queued and polled again as if never cancelled "
        "(the 'cancelled' flag is cleared on the re-schedule path).",
        ("EX-CANCEL-APPLIED",),
        default_bounds(1, **_LOCAL),
    ),
    MutantSpec(
        "inbox-drained-when-idle",
        Edges(drain_each_round=False),
        "the inbox is drained only when the ready queue is empty",
        "Another thread's wake or spawn waits behind tasks that keep re-queueing themselves: "
        "with a self-waking task the ready queue never empties and the posted message is "
        "never taken in.",
        ("EX-INBOX-PROMPT",),
        default_bounds(2, wakers=0, join=0, round=1),
    ),
    MutantSpec(
        "spawn-phantom-waker",
        Edges(spawn_counts_waker=True),
        "a spawn counts a live waker that no future or thread holds",
        "The executor's live-waker count starts at one for a waker nobody holds: a task that "
        "returns Pending without keeping a waker is never reported lost and run() never ends "
        "(it sleeps for a wake nobody can send).",
        ("EX-PROGRESS",),
        default_bounds(1, **_REMOTE),
    ),
    # -- the drive calls: run_until_stalled() and step() (bounds key drive, issue 12) -------
    MutantSpec(
        "stalled-returns-early",
        Edges(stalled_return_exact=False),
        "run_until_stalled() / an empty step() returns as soon as the ready queue is empty",
        "The drive call looks only at its ready queue before returning: a wake or spawn another "
        "thread posted (or a cancel) is still in the inbox, a due timer unfired, a lost task "
        "unreported, and the caller is told 'stalled' / 'nothing ready' while work is ready.",
        ("EX-STALLED-EXACT", "EX-STEP-ONE"),
        default_bounds(1, join=0, spawners=0, drive=1),
    ),
    MutantSpec(
        "step-polls-twice",
        Edges(step_polls_once=False),
        "step() may start another poll after the first",
        "step() runs the ready loop with a budget that is not one (or re-checks the queue after "
        "the poll): a task the first poll woke, or the next queued one, is polled in the same "
        "step(), so a test stepping one poll at a time sees two.",
        ("EX-STEP-ONE",),
        default_bounds(2, **_LOCAL, drive=1),
    ),
    MutantSpec(
        "stalled-sleeps",
        Edges(stalled_never_sleeps=False),
        "run_until_stalled() / step() take run()'s sleep-or-return decision",
        "The non-blocking drive calls share run()'s idle path: with a live waker left they "
        "park on the condition instead of returning, so run_until_stalled() blocks until "
        "another thread happens to wake a task.",
        ("EX-STALLED-EXACT",),
        default_bounds(1, **_LOCAL, drive=1),
    ),
    MutantSpec(
        "block-on-returns-early",
        Edges(block_on_waits_target=False),
        "block_on() may give the thread back before its target is final",
        "block_on() checks the wrong thing before returning (the ready queue running empty, "
        "the end of a round, the target merely having been polled): the caller gets the "
        "thread back, and h.result() raises, while the target is still pending.",
        ("EX-BLOCK-ON-RETURN",),
        default_bounds(1, **_LOCAL, drive=1),
    ),
    # -- close() (models/reference_close.py) ------------------------------------------------
    MutantSpec(
        "close-skips-inbox",
        Edges(close_drains_first=False),
        "close() cancels the tasks and returns without draining the inbox first",
        "A spawn or wake another thread posted just before close() survives it: the posted "
        "task is never cancelled (its coroutine never closed, its handle never final) and the "
        "message is left in an inbox nobody will drain.",
        ("EX-CLOSE-FINAL",),
        default_bounds(1, **_CLOSE),
    ),
    MutantSpec(
        "close-skips-idle",
        Edges(close_cancels_idle=False),
        "close() cancels only the tasks in the ready queue",
        "close() walks the ready queue but not the parked (IDLE) tasks: their futures are never "
        "dropped (no finally block runs, no Cancelled for their handles) and a pending task is "
        "freed in silence.",
        ("EX-CLOSE-FINAL",),
        default_bounds(1, **_CLOSE),
    ),
    MutantSpec(
        "spawn-after-close",
        Edges(close_refuses_spawn=False),
        "another thread's spawn is accepted after close() set the closed flag",
        "The closed flag is checked outside the lock (or not on the Spawner path): a spawn "
        "racing close() is posted after the drain and accepted by an executor that will never "
        "run it.",
        ("EX-CLOSED-NO-SPAWN",),
        default_bounds(1, **_CLOSE),
    ),
)
