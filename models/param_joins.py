"""Joins for every number of tasks: the ``reference`` variant's part ``join`` (bounds key
``join`` = 1) read with N free (:mod:`refexec.models.reference_parametric`).

The part is one variable and one action of :mod:`refexec.models.reference`, read unchanged:

* ``join[x]``: the task whose **join waker** x holds (the sentinel N: none) — a task id;
* ``join(t, u)``: during u's poll, u awaits t's JoinHandle, so t keeps a clone of u's waker
  (``join[t] := u``) — an action of **two** task parameters, both free in every query;
* ``finish`` (inside ``poll``'s Ready, ``ready``, ``cancel``, ``lost``): a task that ends
  wakes the owner of the join waker it holds (the WAKE row on the owner, enqueued when it
  enters SCHEDULED) and releases it (``join[t] := N``) — a wake of a task named by a state
  value, which the parametric builder writes as a store at that index (``m.slots``);
* ``has_waker`` counts a join waker held by any task (``∃u. join[u] = x``), so ``lost``,
  ``senders`` (``sleep``, ``run_end``) see it.

What this module adds to the core's proof (spec/PROOFS.md section 10, "Joins"):

* AUX-JOIN: a join waker is held only by a spawned, unfinished task, never for itself, and only
  for a spawned task — so the wake that releases it is a WAKE row of a real task (not of an
  UNSPAWNED slot, which would break AUX-UNSPAWNED) and never the finishing task's own;
* EX-JOIN-RELEASED: a finished task holds no join waker;
* EX-PROGRESS's resting state, the await cycle (:func:`may_rest`), in a first-order form
  stronger than the fixed-N ``run_final``'s and implying it;
* nothing in the ranking: a join waker is released only by its holder's finishing step, which
  decreases the holder's rank, while the owner's wake (IDLE -> SCHEDULED, RUNNING -> NOTIFIED)
  leaves the owner's rank unchanged (see :func:`task_rank`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import z3  # type: ignore[import-untyped]
from refexec.models.reference import Loop
from refexec.models.reference_parametric import IDLE, UNSP, PInvariant, PStep

if TYPE_CHECKING:
    from refexec.models.reference_parametric import ParamCore, PState

__all__ = ["INVARIANTS", "STEP_PROPERTIES", "await_cycle", "may_rest"]


def _holds(m: ParamCore, s: PState, x: Any) -> Any:
    """x holds a join waker."""
    return s.join[x] != m.N


def _join_shape(m: ParamCore, s: PState) -> Any:
    def ok(x: Any) -> Any:
        owner = s.join[x]
        return z3.Implies(_holds(m, s, x), z3.And(
            owner != x, s.st[x] != UNSP, s.st[owner] != UNSP))
    return m.forall_tasks(ok)


def _join_released(m: ParamCore, s: PState) -> Any:
    return m.forall_tasks(lambda x: z3.Implies(m.final(s.st[x]), z3.Not(_holds(m, s, x))))


INVARIANTS: tuple[PInvariant, ...] = (
    PInvariant("AUX-JOIN", "join[x] != none => join[x] != x, x spawned, join[x] spawned (a "
               "join waker is held by a spawned task, for another spawned task)", _join_shape),
    PInvariant("EX-JOIN-RELEASED", "st[x] in {COMPLETE, CANCELLED} => join[x] = none",
               _join_released),
)
"""Proved with the core's (each induction step assumes all of them)."""

STEP_PROPERTIES: tuple[PStep, ...] = ()


def await_cycle(m: ParamCore, s: PState) -> Any:
    """The fixed-N ``run_final``'s await cycle (:func:`refexec.models.properties.run_final`),
    word for word with its loops over the tasks as quantifiers: the loop sleeps unsignalled, no
    spawner, nothing posted, no held waker or inbox entry of an unfinished task, and some
    unfinished task's join waker is held."""

    def unfinished(x: Any) -> Any:
        return z3.Not(m.final(s.st[x]))

    y = m.var()
    joined = m.exists_task(lambda x: z3.And(unfinished(x), z3.Exists([y], z3.And(
        m.task(y), s.join[y] == x))))
    return z3.And(s.loop == Loop.ASLEEP, z3.Not(s.signal), s.spawners == 0, m.inbox_empty(s),
                  m.forall_tasks(lambda x: z3.Implies(unfinished(x), z3.And(
                      s.wakers[x] == 0, s.inbox[x] == 0))),
                  joined)


def may_rest(m: ParamCore, s: PState) -> Any:
    """EX-PROGRESS's await cycle in the form proved: the loop sleeps unsignalled, no spawner,
    nothing posted, no held waker; some task is spawned and unfinished, and **every** spawned
    unfinished task is IDLE and its join waker is held by a spawned unfinished task.

    Following "whose join waker holds me" from any such task stays among them for ever, so
    (finitely many tasks) it runs into a cycle of tasks each awaiting the next: a real await
    cycle, which no executor can resolve. It implies :func:`await_cycle` (a test checks it), so
    proving EX-PROGRESS with it proves the fixed-N EX-PROGRESS's statement for every N."""

    def live(x: Any) -> Any:
        return z3.And(s.st[x] != UNSP, z3.Not(m.final(s.st[x])))

    y = m.var()
    held = m.forall_tasks(lambda x: z3.Implies(live(x), z3.And(
        s.st[x] == IDLE, z3.Exists([y], z3.And(m.task(y), s.join[y] == x, live(y))))))
    return z3.And(s.loop == Loop.ASLEEP, z3.Not(s.signal), s.spawners == 0, m.inbox_empty(s),
                  m.forall_tasks(lambda x: s.wakers[x] == 0), m.exists_task(live), held)
