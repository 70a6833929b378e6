"""close() (bounds key ``close``) for every number of tasks.

close() runs only when no loop runs; it sets ``closed`` and acts as the loop (CLOSING): drains
the inbox and posted cancels, cancels every unfinished task one at a time (the head of the ready
queue first), then returns (RETURNED, for good). AUX-CLOSED (the fixed-N auxiliary invariant,
over the tasks): once closed the loop is CLOSING or RETURNED, CLOSING only when closed, and a
closed, returned executor has every task final or never spawned with nothing posted for it.
With it: EX-CLOSE-NO-POLL (``poll`` needs DISPATCH, ``run_start`` NOT_STARTED),
EX-CLOSED-NO-SPAWN (a local spawn needs NOT_STARTED or POLLING; another thread's spawn is
refused by its guard) and EX-CLOSE-FINAL (``close_end``'s guard: inbox drained and no
SCHEDULED or IDLE task left; no task is being polled while CLOSING, AUX-POLL-LOOP). The core's
AUX-RETURNED admits a spawner after a close (its spawns are refused).
EX-TERMINATES: CLOSING is one unit of the loop's rank (``close_end`` lowers it;
``close_start`` is the program's call, an environment action).
"""

from __future__ import annotations

from typing import Any

import z3  # type: ignore[import-untyped]
from refexec.models.param_drive import HEAD
from refexec.models.reference import UNSPAWNED, Loop
from refexec.models.reference_parametric import ParamCore, PInvariant, PState, PStep

__all__ = ["INVARIANTS", "LEMMAS", "STEP_PROPERTIES", "loop_rank"]


def _closed(m: ParamCore, s: PState) -> Any:
    def posted(x: Any) -> Any:
        return z3.Or(s.inbox[x] > 0, *([s.cpost[x]] if "cpost" in s.v else []))

    settled = m.forall_tasks(lambda x: z3.And(
        z3.Or(s.st[x] == UNSPAWNED, m.final(s.st[x])), z3.Not(posted(x))))
    return z3.And(
        z3.Implies(s.closed, z3.Or(s.loop == Loop.CLOSING, s.loop == Loop.RETURNED)),
        z3.Implies(s.loop == Loop.CLOSING, s.closed),
        z3.Implies(z3.And(s.closed, s.loop == Loop.RETURNED), settled))


def _close_final(m: ParamCore, s: PState, t: Any) -> Any:
    settled = m.forall_tasks(lambda x: z3.Or(s.st[x] == UNSPAWNED, m.final(s.st[x])))
    timers = (m.forall_tasks(lambda x: z3.Not(s.armed[x])) if "armed" in s.v
              else z3.BoolVal(True))
    return z3.And(settled, m.queue_empty(s), m.inbox_empty(s), timers)


INVARIANTS: tuple[PInvariant, ...] = (
    PInvariant("AUX-CLOSED", "closed => loop in {CLOSING, RETURNED}; CLOSING => closed; "
               "closed and RETURNED => every task final or never spawned, nothing posted",
               _closed),
)

STEP_PROPERTIES: tuple[PStep, ...] = (
    PStep("EX-CLOSE-FINAL", "on close_end: every spawned task final, nothing queued or posted "
          "(no timer armed)", ("close_end",), _close_final),
    PStep("EX-CLOSE-NO-POLL", "on poll, run_start: not closed", ("poll", "run_start"),
          lambda m, s, t: z3.Not(s.closed)),
    PStep("EX-CLOSED-NO-SPAWN", "on spawn: not closed", ("spawn",),
          lambda m, s, t: z3.Not(s.closed)),
)


LEMMAS = (HEAD,)
"""EX-PROGRESS needs the head while CLOSING too: close_drop takes the head first."""


def loop_rank(m: ParamCore, s: PState) -> Any:
    """CLOSING: 1 (``close_end`` lowers it to RETURNED's 0)."""
    return z3.If(s.loop == Loop.CLOSING, 1, 0)
