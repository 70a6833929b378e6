"""Rounds of polls (bounds key ``round`` = R) for every number of tasks.

The round counter ``rnd`` counts polls since the last ``round_end``; the ghost ``pw`` counts
polls started since the inbox was last empty. A poll needs ``rnd < R`` and ``round_end`` needs
the inbox drained, so a message waits at most R polls (EX-INBOX-PROMPT, ``pw <= R``). The
proof: AUX-ROUND says ``pw <= rnd`` and ``pw = 0`` while the inbox is empty, so ``pw <= rnd <=
R`` (AUX-TYPE bounds ``rnd``). It is about scalars and "the inbox is empty" (a quantifier over
the tasks, read through the builder's ``inbox_empty``), so it holds for every N as it does for
one. EX-TERMINATES: ``round_end`` only resets ``rnd``, so ``rnd`` is the loop's share of the
ranking (a poll raises it, but a poll lowers its task's rank, the first component).
"""

from __future__ import annotations

from typing import Any

import z3  # type: ignore[import-untyped]
from refexec.models.reference_parametric import ParamCore, PInvariant, PState, PStep

__all__ = ["INVARIANTS", "STEP_PROPERTIES", "loop_rank"]


def _round(m: ParamCore, s: PState) -> Any:
    return z3.And(s.pw <= s.rnd, z3.Implies(m.inbox_empty(s), s.pw == 0))


def _inbox_prompt(m: ParamCore, s: PState) -> Any:
    return s.pw <= m.m.R


INVARIANTS: tuple[PInvariant, ...] = (
    PInvariant("AUX-ROUND", "pw <= rnd, and pw = 0 while nothing is posted (a message waits no "
               "longer than the round has run)", _round),
    PInvariant("EX-INBOX-PROMPT", "pw <= R: at most R polls start while a posted wake, spawn "
               "or cancel waits", _inbox_prompt),
)

STEP_PROPERTIES: tuple[PStep, ...] = ()


def loop_rank(m: ParamCore, s: PState) -> Any:
    """``rnd``: ``round_end`` (a loop action that changes nothing else) lowers it."""
    return s.rnd
