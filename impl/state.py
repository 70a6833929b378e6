"""The task state machine of the reference executor: the one place it is written down.

Every other part of refexec speaks in terms of this file. ``refexec.Executor`` moves its tasks
along exactly these rows, the model in ``refexec.models`` takes its task-state updates from
:data:`TRANSITIONS` (it never restates them), and ``spec/SPEC.md`` quotes the table.

A task is in exactly one state at a time. The events are the trace events of DESIGN.md
(``spawn``, ``poll``, ``pending``, ``ready``, ``wake``, ``cancel``, ``lost``); ``wake`` stands for
both ``wake`` and ``wake_by_ref``, which differ only in whether the waker handle survives.

Counting rules, stated here and asserted in the executor and proved in the model:

* a wake of a ``SCHEDULED`` task is merged: the task stays queued once;
* a wake during a poll (``RUNNING``) is remembered as ``NOTIFIED`` and leads to exactly one
  more poll, however many wakes arrive during that poll;
* a wake of a finished task (``COMPLETE``, ``CANCELLED``) does nothing.
"""

from __future__ import annotations

import enum
from typing import Final

__all__ = ["TaskState", "TaskEvent", "TRANSITIONS", "FINAL_STATES", "next_state"]


class TaskState(enum.IntEnum):
    """The life of a task. Integer-valued so that the hot path and the z3 model share encodings."""

    SCHEDULED = 0
    """In the ready queue, exactly once.

    Entered by ``spawn``, by ``wake`` of an IDLE task, and by ``pending`` of a NOTIFIED task.
    Left by ``poll`` (to RUNNING) or ``cancel`` (to CANCELLED, removed from the queue).
    Cannot hold at the same time: the task being polled, or the task absent from the queue."""

    RUNNING = 1
    """Being polled, on the executor's thread; not in the ready queue.

    Entered by ``poll``. Left by ``ready`` (COMPLETE), ``pending`` (IDLE), or ``wake`` (NOTIFIED).
    A ``cancel`` requested during the poll is deferred: the executor applies it right after the
    poll returns Pending (as the row IDLE/SCHEDULED --cancel--> CANCELLED); if the poll returns
    Ready, the result stands."""

    NOTIFIED = 2
    """Being polled, and woken at least once since the poll began; not in the ready queue.

    Entered by ``wake`` of a RUNNING task. Left by ``pending`` (back to SCHEDULED: exactly one
    more poll) or ``ready`` (COMPLETE: the wake is moot). A cancel is deferred as for RUNNING."""

    IDLE = 3
    """Returned Pending and waits for a wake; not in the ready queue.

    Entered by ``pending`` of a RUNNING task. Left by ``wake`` (SCHEDULED), ``cancel`` (CANCELLED),
    or ``lost`` (CANCELLED: no live waker remains, so nothing can ever wake it; reported)."""

    COMPLETE = 4
    """Returned Ready, or raised. Final: never polled again; wakes are ignored."""

    CANCELLED = 5
    """Cancelled, or lost; its future has been dropped. Final: never polled again; wakes ignored."""


class TaskEvent(enum.Enum):
    """Trace events that change a task's state (the model's task actions carry these names)."""

    SPAWN = "spawn"
    POLL = "poll"
    PENDING = "pending"
    READY = "ready"
    WAKE = "wake"
    CANCEL = "cancel"
    LOST = "lost"


S, E = TaskState, TaskEvent

TRANSITIONS: Final[dict[tuple[TaskState | None, TaskEvent], TaskState]] = {
    # (state before, event)           -> state after
    (None, E.SPAWN): S.SCHEDULED,
    (S.SCHEDULED, E.POLL): S.RUNNING,
    (S.SCHEDULED, E.WAKE): S.SCHEDULED,  # merged: queued once
    (S.SCHEDULED, E.CANCEL): S.CANCELLED,  # removed from the queue
    (S.RUNNING, E.PENDING): S.IDLE,
    (S.RUNNING, E.READY): S.COMPLETE,
    (S.RUNNING, E.WAKE): S.NOTIFIED,  # remembered: one more poll
    (S.NOTIFIED, E.PENDING): S.SCHEDULED,  # re-queued: exactly one more poll
    (S.NOTIFIED, E.READY): S.COMPLETE,
    (S.NOTIFIED, E.WAKE): S.NOTIFIED,  # merged
    (S.IDLE, E.WAKE): S.SCHEDULED,  # enqueued
    (S.IDLE, E.CANCEL): S.CANCELLED,
    (S.IDLE, E.LOST): S.CANCELLED,  # no live waker: reported, never silent
    (S.COMPLETE, E.WAKE): S.COMPLETE,  # ignored
    (S.COMPLETE, E.CANCEL): S.COMPLETE,  # too late: the result stands
    (S.CANCELLED, E.WAKE): S.CANCELLED,  # ignored
    (S.CANCELLED, E.CANCEL): S.CANCELLED,
}
"""Every legal (state, event) pair and the state it leads to. A pair not listed is a bug."""

FINAL_STATES: Final = frozenset({S.COMPLETE, S.CANCELLED})
"""States a task never leaves; a task in one is never polled again."""


def next_state(state: TaskState | None, event: TaskEvent) -> TaskState:
    """Look a transition up, raising ``ValueError`` naming the illegal pair if it is not a row."""
    try:
        return TRANSITIONS[(state, event)]
    except KeyError:
        name = "new task" if state is None else state.name
        raise ValueError(f"illegal task transition: {event.value!r} in state {name}") from None
