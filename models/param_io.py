"""I/O readiness (bounds key ``io`` = 1, with ``timers`` = 1) for every number of tasks.

State: per task ``reg`` (NONE, ARMED: registered, holding a clone of the task's waker;
READY: the fd became ready, not yet reported by the loop's ``select()``). The actions
(``io_register``, ``io_cancel``, ``fd_ready``, ``io_ready``) and the pieces they share
(``has_waker``, ``due``, ``release``) are read unchanged from :mod:`refexec.models.reference`.

Auxiliary invariant: AUX-IO-SPAWNED (a registration belongs to a spawned task: a task
registers only while polled, and its release deregisters it when it finishes). The reactor's
properties (``IO_IDS``) are stated as in :func:`refexec.models.properties.make_properties`
with the task loops as quantifiers; none depends on N. EX-IO-PROMPT is dropped by the ``any``
policy (``refexec.models.param_policy.REPLACES``), as the fixed-N property list does.

Ranking (EX-TERMINATES): a task's share adds 2 for an ARMED registration and 1 for a READY
one: ``fd_ready`` (ARMED -> READY; the signal it may post to the parked loop is the loop's
share, below the tasks' in the lexicographic order), ``io_ready`` (READY -> NONE; its wake
leaves the stage as it is) and ``io_cancel`` (-> NONE) each lower the acting task's share.
A READY fd makes the builder's ``due`` hold, so the driver's "deciding with something due"
term (models/param_driver.py) pays for ``park_due`` here too.
"""

from __future__ import annotations

from typing import Any

import z3  # type: ignore[import-untyped]
from refexec.models.reference import UNSPAWNED, Io, Loop
from refexec.models.reference_parametric import ParamCore, PInvariant, PState, PStep


def ready_any(m: ParamCore, s: PState) -> Any:
    return m.exists_task(lambda x: s.reg[x] == Io.READY)


INVARIANTS: tuple[PInvariant, ...] = (
    PInvariant("AUX-IO-SPAWNED", "a registration belongs to a spawned task",
               lambda m, s: m.forall_tasks(lambda x: z3.Implies(
                   s.reg[x] != Io.NONE, s.st[x] != UNSPAWNED))),
    PInvariant("EX-IO-PARK", "loop = ASLEEP and no signal => no registration is READY",
               lambda m, s: z3.Implies(z3.And(s.loop == Loop.ASLEEP, z3.Not(s.signal)),
                                       z3.Not(ready_any(m, s)))),
    PInvariant("EX-IO-FINAL", "a finished task has no registration",
               lambda m, s: m.forall_tasks(lambda x: z3.Implies(m.final(s.st[x]),
                                                                 s.reg[x] == Io.NONE))),
)


STEP_PROPERTIES: tuple[PStep, ...] = (
    PStep("EX-IO-RUN-END", "on run_end: no unfinished task has a registration", ("run_end",),
          lambda m, s, t: z3.Not(m.exists_task(lambda x: z3.And(
              s.reg[x] != Io.NONE, z3.Not(m.final(s.st[x])))))),
    PStep("EX-IO-PROMPT", "on poll: no registration is READY", ("poll",),
          lambda m, s, t: z3.Not(ready_any(m, s))),
)


def task_rank(m: ParamCore, s: PState, x: Any) -> Any:
    return z3.If(s.reg[x] == Io.ARMED, 2, z3.If(s.reg[x] == Io.READY, 1, 0))
