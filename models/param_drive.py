"""The drive calls (bounds key ``drive``) for every number of tasks.

``mode`` says which drive call runs the loop (RUN: run(); UNTIL_STALLED; STEP) and ``dpolls``
how many polls the current call started. AUX-DRIVE (the fixed-N proof's auxiliary invariant,
here over the tasks): between drive calls (NOT_STARTED), asleep, returned or closing the mode
is RUN (``step_return`` resets it, ``sleep``/``run_end`` need it); step() never decides; a
run_until_stalled() decides only to jump a virtual clock (with the driver: no spawner and a
timer armed; without it, never). With it EX-STALLED-EXACT's "only run() parks or ends the
loop" is an invariant (``loop in {ASLEEP, RETURNED} => mode = RUN``); its other half and
EX-STEP-ONE are step properties of ``step_return`` and ``poll``, restated from the promises
(nothing queued, nothing posted, nothing due, no lost task left unreported), not from the
model's ``stalled`` guard. A drive mode added later (e.g. block_on() with a target) adds its
own disjunct to :func:`_drive` (what its mode allows the loop to do) and its step property.
"""

from __future__ import annotations

from typing import Any

import z3  # type: ignore[import-untyped]
from refexec.models.reference import Drive, Loop
from refexec.models.reference_parametric import (
    IDLE,
    SCHED,
    UNSP,
    ParamCore,
    PInvariant,
    PLemma,
    PState,
    PStep,
)
from refexec.models.symbolic import Sym, _z

__all__ = ["HEAD", "INVARIANTS", "LEMMAS", "STEP_PROPERTIES", "headless"]


def _has(s: PState, name: str) -> bool:
    return name in s.v


def target_final(m: ParamCore, s: PState) -> Any:
    """block_on()'s target is a task (not the sentinel N) and final."""
    return z3.And(s.target != m.N, m.final(s.st[s.target]))


def _block_on(m: ParamCore, s: PState) -> Any:
    """block_on(): a target exactly in that mode, spawned, and not final while the loop decides
    or sleeps (it returns instead)."""
    block = s.mode == Drive.BLOCK_ON
    waiting = z3.Or(s.loop == Loop.DECIDING, s.loop == Loop.ASLEEP)
    return z3.And(block == (s.target != m.N),
                  z3.Implies(block, s.st[s.target] != UNSP),
                  z3.Implies(z3.And(block, waiting), z3.Not(target_final(m, s))))


def _drive(m: ParamCore, s: PState) -> Any:
    idle = [s.loop == v for v in (Loop.NOT_STARTED, Loop.ASLEEP, Loop.RETURNED, Loop.CLOSING)]
    jumping = (z3.And(s.spawners == 0, m.exists_task(lambda x: s.armed[x]))
               if _has(s, "armed") else z3.BoolVal(False))
    blocking = z3.And(s.mode == Drive.BLOCK_ON, s.loop != Loop.NOT_STARTED)
    return z3.And(z3.Implies(z3.Or(*idle), z3.Or(s.mode == Drive.RUN, blocking)),
                  z3.Implies(s.loop == Loop.DECIDING, s.mode != Drive.STEP),
                  z3.Implies(z3.And(s.loop == Loop.DECIDING, s.mode == Drive.UNTIL_STALLED),
                             jumping))


def _only_run_parks(m: ParamCore, s: PState) -> Any:
    return z3.Implies(z3.Or(s.loop == Loop.ASLEEP, s.loop == Loop.RETURNED),
                      z3.Or(s.mode == Drive.RUN, s.mode == Drive.BLOCK_ON))


def _block_on_round(m: ParamCore, s: PState, t: Any) -> Any:
    """On poll, with rounds: block_on() with its target final only finishes the round."""
    if not _has(s, "rnd"):
        return z3.BoolVal(True)
    return z3.Implies(z3.And(s.mode == Drive.BLOCK_ON, target_final(m, s)), s.rnd > 0)


def _due(m: ParamCore, s: PState) -> Any:
    """An armed timer due or a ready fd (the driver's part; False without it)."""
    return _z(m.m.due(m.view(s), m.o))


def nothing_ready(m: ParamCore, s: PState) -> Any:
    """Nothing queued, nothing posted (wake, spawn, cancel), nothing due."""
    posted = m.exists_task(lambda x: z3.Or(
        s.inbox[x] > 0, *([s.cpost[x]] if _has(s, "cpost") else [])))
    return z3.And(m.forall_tasks(lambda x: s.st[x] != SCHED), z3.Not(posted),
                  z3.Not(_due(m, s)))


def _unreported(m: ParamCore, s: PState, x: Any) -> Any:
    """x is IDLE with no live waker and nothing in flight: lost, not yet reported."""
    live = _z(m.m.has_waker(m.view(s), m.o, Sym(x)))
    posted = [s.cpost[x]] if _has(s, "cpost") else []
    return z3.And(s.st[x] == IDLE, z3.Not(live), s.inbox[x] == 0, *[z3.Not(p) for p in posted])


def _stalled_return(m: ParamCore, s: PState, t: Any) -> Any:
    stalled = z3.And(nothing_ready(m, s),
                     z3.Not(m.exists_task(lambda x: _unreported(m, s, x))))
    return z3.Implies(s.mode == Drive.UNTIL_STALLED, stalled)


def _polls_left(m: ParamCore, s: PState) -> Any:
    return m.forall_tasks(lambda x: z3.Implies(z3.Or(s.st[x] == SCHED, s.st[x] == IDLE),
                                               s.done[x] <= m.P))


def headless(m: ParamCore, s: PState) -> Any:
    """Some task is SCHEDULED but none has the least timestamp: impossible for every finite N
    (a non-empty finite set of integers has a least element), which z3 cannot show with N free
    in first order, but shows by induction on N (:data:`HEAD`)."""
    some = m.exists_task(lambda x: s.st[x] == SCHED)
    return z3.And(some, z3.Not(m.exists_task(lambda h: m.head(s, h))))


HEAD = PLemma("AUX-HEAD", "a non-empty ready queue has a head (a SCHEDULED task with the "
              "least timestamp), for any values of st and ts",
              lambda m, s: z3.Not(headless(m, s)))
"""EX-PROGRESS needs it with ``drive``: the loop may no longer return by ``step_return`` at
any point (run_until_stalled() and step() must poll the head). Proved by induction on N."""

LEMMAS: tuple[PLemma, ...] = (HEAD,)


INVARIANTS: tuple[PInvariant, ...] = (
    PInvariant("AUX-POLLS-LEFT", "a SCHEDULED or IDLE task has a poll left (done <= P): the "
               "head of the queue can be polled", _polls_left),
    PInvariant("AUX-DRIVE", "between drive calls, asleep, returned or closing the mode is RUN; "
               "step() never decides; run_until_stalled() decides only to jump the clock",
               _drive),
    PInvariant("EX-STALLED-EXACT", "only run() and block_on() sleep or end the loop: loop in "
               "{ASLEEP, RETURNED} => mode in {RUN, BLOCK_ON}", _only_run_parks),
    PInvariant("EX-BLOCK-ON-RETURN", "parametric form: mode = BLOCK_ON <=> a target (spawned); "
               "block_on() never decides or sleeps once its target is final", _block_on),
)

STEP_PROPERTIES: tuple[PStep, ...] = (
    PStep("EX-BLOCK-ON-RETURN", "on step_return in mode BLOCK_ON: the target is final",
          ("step_return",),
          lambda m, s, t: z3.Implies(s.mode == Drive.BLOCK_ON, target_final(m, s))),
    PStep("EX-BLOCK-ON-RETURN", "on poll in mode BLOCK_ON with the target final: only the "
          "round in progress finishes (rnd > 0)", ("poll",), _block_on_round),
    PStep("EX-STALLED-EXACT", "on step_return in mode UNTIL_STALLED: nothing queued, posted or "
          "due, and no lost task left unreported", ("step_return",), _stalled_return),
    PStep("EX-STEP-ONE", "on poll: mode = STEP => dpolls = 0", ("poll",),
          lambda m, s, t: z3.Implies(s.mode == Drive.STEP, s.dpolls == 0)),
    PStep("EX-STEP-ONE", "on step_return: mode = STEP and dpolls = 0 => nothing queued, "
          "posted or due", ("step_return",),
          lambda m, s, t: z3.Implies(z3.And(s.mode == Drive.STEP, s.dpolls == 0),
                                     nothing_ready(m, s))),
)
