"""Cancels posted by other threads (bounds key ``rcancel``) for every number of tasks.

Another thread's ``JoinHandle.cancel()`` sets ``cpost[t]`` (and signals a sleeping loop); the
loop takes it in with ``cancel_drain(t)`` (close() with ``close_cancel_drain(t)``), which
applies the CANCEL row. The core's invariants read ``cpost`` through the builder's
``inbox_empty`` and ``lost`` (a posted cancel is something posted), so they hold with the part
on as they are. AUX-CPOST: a posted cancel is for a spawned task (another thread cancels a
JoinHandle, which exists once the task is spawned), so the drain finds the CANCEL row or a
final task (no task is polled while the loop drains, AUX-POLL-LOOP). EX-CANCEL-APPLIED is a
property of the state a step leaves (``PStep.after``): after ``cancel_drain(t)`` (and
``close_cancel_drain(t)``) t is COMPLETE or CANCELLED; after ``pending(t)`` with a deferred
cancel (``creq[t]``) likewise. EX-TERMINATES: a posted cancel is one unit of its task's rank
(``cancel(remote=1)`` is the environment's; the drains lower it).
"""

from __future__ import annotations

from typing import Any

import z3  # type: ignore[import-untyped]
from refexec.models.reference import UNSPAWNED
from refexec.models.reference_parametric import CANC, COMP, ParamCore, PInvariant, PState, PStep

__all__ = ["INVARIANTS", "STEP_PROPERTIES", "task_rank"]


def _final_after(m: ParamCore, s: PState, s2: PState, t: Any) -> Any:
    return z3.Or(s2.st[t] == COMP, s2.st[t] == CANC)


def _applied_after(m: ParamCore, s: PState, s2: PState, t: Any) -> Any:
    return z3.Implies(s.creq[t], z3.Or(s2.st[t] == COMP, s2.st[t] == CANC))


def _cpost(m: ParamCore, s: PState) -> Any:
    return m.forall_tasks(lambda x: z3.Implies(s.cpost[x], s.st[x] != UNSPAWNED))


INVARIANTS: tuple[PInvariant, ...] = (
    PInvariant("AUX-CPOST", "a posted cancel is for a spawned task", _cpost),
)

STEP_PROPERTIES: tuple[PStep, ...] = (
    PStep("EX-CANCEL-APPLIED", "on cancel_drain(t), close_cancel_drain(t): st'[t] in "
          "{COMPLETE, CANCELLED}", ("cancel_drain", "close_cancel_drain"),
          lambda m, s, t: z3.BoolVal(True), _final_after),
    PStep("EX-CANCEL-APPLIED", "on pending(t): creq[t] => st'[t] in {COMPLETE, CANCELLED}",
          ("pending",), lambda m, s, t: z3.BoolVal(True), _applied_after),
)


def task_rank(m: ParamCore, s: PState, x: Any) -> Any:
    """A posted cancel of x not yet taken in: 1."""
    return z3.If(s.cpost[x], 1, 0)
