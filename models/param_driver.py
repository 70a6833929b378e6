"""The driver's timers and clock (bounds key ``timers`` = 1) for every number of tasks.

State: the scalar ``clock`` (0..D) and per task ``deadline``, ``armed`` (an armed timer holds
a clone of the task's waker: a sender) and the ghost ``sleeping``. The actions (``timer_arm``
with its deadline ``d`` enumerated, ``timer_cancel``, ``timer_fire``, ``tick``, ``park_due``,
``clock_jump``) and the pieces they share (``has_waker``, ``due``, ``release``) are read
unchanged from :mod:`refexec.models.reference`.

Auxiliary invariant: AUX-TIMER-SPAWNED (an armed timer belongs to a spawned task: a task
arms one only while polled, and its release disarms it when it finishes). The driver's
properties (``DRIVER_IDS``) are stated as in :func:`refexec.models.properties.make_properties`
with the task loops as quantifiers; none depends on N. EX-TIMER-PROMPT is dropped by the
``any`` policy (``refexec.models.param_policy.REPLACES``), as the fixed-N property list does.

Ranking (EX-TERMINATES): a task's share adds 2 for an armed timer (``timer_cancel`` and
``timer_fire`` drop it: the fire's wake leaves the stage as it is); the loop's share adds
``6 (D - clock)`` (``tick`` and ``clock_jump`` move the clock forward: the signal a tick may
post to a sleeping loop raises the loop's share by 3 at most, a jump's DECIDING -> DISPATCH
by 1) and 2 while the loop is DECIDING with something due (``park_due`` goes back to
DISPATCH, 3 > 2, to deliver it: the 2 pays for that step; a tick that makes a timer due
while deciding adds it but takes 6).
"""

from __future__ import annotations

from typing import Any

import z3  # type: ignore[import-untyped]
from refexec.models.reference import UNSPAWNED, Loop
from refexec.models.reference_parametric import ParamCore, PInvariant, PState, PStep
from refexec.models.symbolic import _z


def due(m: ParamCore, s: PState) -> Any:
    """The builder's ``due`` (an armed timer's deadline has come, or with ``io`` a ready fd)."""
    return _z(m.m.due(m.view(s), m.o))


def timer_due(m: ParamCore, s: PState) -> Any:
    return m.exists_task(lambda x: z3.And(s.armed[x], s.deadline[x] <= s.clock))


def _asleep(s: PState) -> Any:
    return z3.And(s.loop == Loop.ASLEEP, z3.Not(s.signal))


INVARIANTS: tuple[PInvariant, ...] = (
    PInvariant("AUX-TIMER-SPAWNED", "an armed timer belongs to a spawned task",
               lambda m, s: m.forall_tasks(lambda x: z3.Implies(
                   s.armed[x], s.st[x] != UNSPAWNED))),
    PInvariant("EX-TIMER-PARK", "loop = ASLEEP and no signal => no armed timer is due",
               lambda m, s: z3.Implies(_asleep(s), z3.Not(timer_due(m, s)))),
    PInvariant("EX-TIMER-FINAL", "a finished task has no armed timer",
               lambda m, s: m.forall_tasks(lambda x: z3.Implies(m.final(s.st[x]),
                                                                 z3.Not(s.armed[x])))),
    PInvariant("EX-TIMER-KEPT", "sleeping[t] => armed[t] (a sleep's timer is never dropped "
               "while the future awaits it)",
               lambda m, s: m.forall_tasks(lambda x: z3.Implies(s.sleeping[x], s.armed[x]))),
)


STEP_PROPERTIES: tuple[PStep, ...] = (
    PStep("EX-TIMER-EARLY", "on timer_fire(t): clock >= deadline[t]", ("timer_fire",),
          lambda m, s, t: s.clock >= s.deadline[t]),
    PStep("EX-TIMER-PROMPT", "on poll: no armed timer is due", ("poll",),
          lambda m, s, t: z3.Not(timer_due(m, s))),
    PStep("EX-TIMER-RUN-END", "on run_end: no unfinished task has an armed timer",
          ("run_end",),
          lambda m, s, t: z3.Not(m.exists_task(lambda x: z3.And(
              s.armed[x], z3.Not(m.final(s.st[x])))))),
    PStep("EX-CLOCK-JUMP", "on clock_jump: no SCHEDULED task, nothing posted, no task being "
          "polled", ("clock_jump",),
          lambda m, s, t: z3.And(m.queue_empty(s), m.inbox_empty(s),
                                 m.forall_tasks(lambda x: z3.Not(m.polling(s, x))))),
)


def task_rank(m: ParamCore, s: PState, x: Any) -> Any:
    return z3.If(s.armed[x], 2, 0)


def loop_rank(m: ParamCore, s: PState) -> Any:
    return 6 * (m.m.D - s.clock) + z3.If(z3.And(s.loop == Loop.DECIDING, due(m, s)), 2, 0)
