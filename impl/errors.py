"""The exceptions refexec raises. Each message says what happened and what to do about it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = [
    "Cancelled",
    "DeadlockError",
    "RefexecError",
    "Stalled",
    "TaskLost",
    "WakerError",
]


class RefexecError(Exception):
    """Base class of refexec's own exceptions."""


class DeadlockError(RefexecError, RuntimeError):
    """The executor would block forever on itself (for example its own thread sending into its
    own full queue), so it raises instead of hanging."""


class Cancelled(RefexecError):
    """Raised by a cancelled task's ``JoinHandle``: the task's future was dropped (for a
    coroutine: closed, so its ``finally`` blocks ran) before it finished."""


class TaskLost(Cancelled):
    """Raised by the ``JoinHandle`` of a task that could never be woken again.

    The task returned ``Pending`` and then every waker for it was dropped (none kept, none
    woken), so no one could ever wake it. Rather than leaving it hanging in silence, the executor
    moves it to CANCELLED along the ``lost`` row, reports it in ``RunReport.lost`` and makes its
    handle raise this. The usual cause is a future that returns ``Pending`` without storing
    ``cx.waker.clone()`` somewhere that will call ``wake()``.
    """


class Stalled(RefexecError):
    """``run(stall_timeout=...)`` saw nothing happen for that long while tasks still waited.

    ``tasks`` lists the ``JoinHandle`` of every waiting task; ``verdicts`` says why each waits
    (a ``refexec.stall.Verdict``: lost wake, legitimate wait or await cycle, with the await chain
    it is suspended in, file:line), and the message prints them. The executor is left as it
    was, so ``run()`` may be called again.
    """

    def __init__(
        self, message: str, tasks: Sequence[Any] = (), verdicts: Sequence[Any] = ()
    ) -> None:
        super().__init__(message)
        self.tasks: tuple[Any, ...] = tuple(tasks)
        self.verdicts: tuple[Any, ...] = tuple(verdicts)


class WakerError(RefexecError, RuntimeError):
    """A waker handle was used after it ended: consumed by ``wake()`` or ``drop()``, or borrowed
    from a ``Context`` whose poll has returned. Keep ``cx.waker.clone()`` to wake later."""
