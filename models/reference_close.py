"""``close()`` as actions of the reference model (bounds key ``close`` = 1).

``Executor.close()`` runs only when no loop runs (before ``run()``, after it returned, or
between drive calls). It sets ``_closed`` under the door's lock and then acts as the loop: it
drains the inbox (a spawn or wake posted before the flag is applied, so nothing posted is
forgotten), then cancels the unfinished tasks one at a time, the head of the ready queue first
(dropping a future wakes the task awaiting it, which moves from IDLE to the queue and is
cancelled in turn). Once the flag is set another thread's spawn raises ``RuntimeError``, and
its wakes and cancels are dropped by ``_post`` (every task is final, or is about to be
cancelled by this close, so nothing would ever drain them).

=============  =================================================================================
``closed``     ``_closed``: set by ``close_start``, never cleared
``loop``       ``CLOSING`` (:attr:`Loop.CLOSING`) while close() acts as the loop; ``RETURNED``
               after ``close_end`` (a closed executor never runs again)
=============  =================================================================================

Each mutant of close is one field of :class:`~refexec.models.reference.Edges`:
``close_drains_first`` (the inbox is drained before the drops and the end),
``close_cancels_idle`` (IDLE tasks are cancelled too, not only queued ones) and
``close_refuses_spawn`` (another thread's spawn is refused once the flag is set).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from refexec.models.system import Action, Ops, Value, View
from refexec.state import TaskState

if TYPE_CHECKING:
    from refexec.models.reference import _Builder

__all__ = ["CLOSE_ACTIONS", "close_drain", "close_drop", "close_end", "close_start",
           "closed_wake", "open_", "unfinished"]

S = TaskState


def open_(m: _Builder, s: View, o: Ops) -> list[Value]:
    """Guard conjuncts of another thread's spawn, wake and cancel: the executor is not closed
    (``close_refuses_spawn`` off: a spawn is accepted regardless). Empty without ``close``."""
    return [o.Not(s.closed)] if m.closing else []


def unfinished(m: _Builder, s: View, o: Ops, t: int) -> Value:
    """Task t is a task close() must cancel: SCHEDULED or IDLE (``close_cancels_idle`` off:
    only SCHEDULED)."""
    if not m.e.close_cancels_idle:
        return s.st[t] == int(S.SCHEDULED)
    return o.Or(s.st[t] == int(S.SCHEDULED), s.st[t] == int(S.IDLE))


def _drained(m: _Builder, s: View, o: Ops) -> list[Value]:
    return [m.inbox_empty(s, o)] if m.e.close_drains_first else []


def close_start(m: _Builder) -> Action:
    """close() is called while no loop runs: it takes the door's lock, sets the closed flag and
    acts as the loop (CLOSING)."""
    from refexec.models.reference import Loop  # noqa: PLC0415 (cycle)

    def guard(s: View, o: Ops) -> Value:
        idle = o.Or(s.loop == Loop.NOT_STARTED, s.loop == Loop.RETURNED)
        return o.And(idle, o.Not(s.closed), o.Not(s.lock))

    return m.action(close_start, {}, guard,
                    lambda s, o: {"closed": True, "loop": Loop.CLOSING},
                    ("closed", "loop"))


def close_drain(m: _Builder) -> Action:
    """Closing, the loop-acting close() takes one posted entry of t from the inbox and applies it
    as the run loop does (inbox_drain): a posted spawn becomes a task (cancelled next), a posted
    wake follows the WAKE row."""
    from refexec.models.reference import Loop, inbox_drain  # noqa: PLC0415 (cycle)

    base = inbox_drain(m)
    return m.action(close_drain, base.params,
                    lambda s, o, t: o.And(s.loop == Loop.CLOSING, s.inbox[t] > 0),
                    base.effect, tuple(base.modifies))


def close_cancel_drain(m: _Builder) -> Action:
    """Closing, close() takes a cancel posted by another thread before the flag and applies it
    (as cancel_drain)."""
    from refexec.models.reference import Loop, cancel_drain  # noqa: PLC0415 (cycle)

    base = cancel_drain(m)
    return m.action(close_cancel_drain, base.params,
                    lambda s, o, t: o.And(s.loop == Loop.CLOSING, s.cpost[t]),
                    base.effect, tuple(base.modifies))


def close_drop(m: _Builder) -> Action:
    """With the inbox drained, close() cancels one unfinished task, the head of the ready queue
    first (CANCEL row: its future is dropped, its join waiter woken, its timer and registration
    released)."""
    from refexec.models.reference import Loop  # noqa: PLC0415 (cycle)

    def guard(s: View, o: Ops, t: int) -> Value:
        head = o.Or(m.queue_empty(s, o), m.is_head(s, o, t))
        return o.And(s.loop == Loop.CLOSING, *_drained(m, s, o), unfinished(m, s, o, t), head)

    return m.action(close_drop, {"t": m.T}, guard,
                    lambda s, o, t: m.apply_cancel(s, o, t, defer=False),
                    (*m.ARR, *m.TM))


def close_end(m: _Builder) -> Action:
    """Nothing posted and no unfinished task left: close() returns (unretrieved exceptions are
    reported); the executor never runs again."""
    from refexec.models.reference import Loop  # noqa: PLC0415 (cycle)

    def guard(s: View, o: Ops) -> Value:
        left = m.exists(o, lambda t: unfinished(m, s, o, t))
        return o.And(s.loop == Loop.CLOSING, *_drained(m, s, o), o.Not(left))

    return m.action(close_end, {}, guard, lambda s, o: {"loop": Loop.RETURNED}, ("loop",))


def closed_wake(m: _Builder) -> Action:
    """Another thread calls wake() on a held waker of t after the closed flag was set: the
    waker is consumed and the post dropped (``_post`` ignores it)."""

    def guard(s: View, o: Ops, t: int) -> Value:
        return o.And(s.closed, s.wakers[t] > 0, m.poster_ok(s, o))

    return m.action(closed_wake, {"t": m.T}, guard,
                    lambda s, o, t: {"wakers": o.store(s.wakers, t, s.wakers[t] - 1)},
                    ("wakers",))


CLOSE_ACTIONS = (close_start, close_drain, close_drop, close_end, closed_wake)
"""The close actions, in the order the interpreters number them (``close_cancel_drain`` follows
``close_drain`` in instances with other threads' cancels)."""
