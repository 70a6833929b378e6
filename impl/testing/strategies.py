"""Hypothesis strategies for scripted tasks: what the lockstep machine asks tasks to do.

Shapes are biased towards the interesting races: a Pending step usually keeps a waker (so the
task stays wakeable and the wake paths get exercised), wakes during the poll are common, and
any step may wake or drop another task's stored waker. Slots and task numbers are small ints
taken modulo what exists at run time, so every draw is valid and shrinks towards 0.
"""

from __future__ import annotations

from hypothesis import strategies as st
from refexec.testing.script import (
    AwaitJoin,
    CancelTask,
    DropStored,
    Effect,
    Keep,
    PendingStep,
    RaiseStep,
    ReadyStep,
    Script,
    SpawnChild,
    Step,
    WakeSelf,
    WakeStored,
)

__all__ = ["effects", "scripts", "steps"]

_SLOTS = st.integers(0, 3)


def effects(
    child_depth: int = 1,
    *,
    joins: bool = True,
    cancels: bool = True,
    raises: bool = True,
    self_wakes: bool = True,
) -> st.SearchStrategy[Effect]:
    """One effect; ``SpawnChild`` only while ``child_depth`` > 0 (children spawn no further)."""
    base: list[st.SearchStrategy[Effect]] = [
        st.just(Keep()),
        st.builds(WakeStored, _SLOTS, st.booleans()),
        st.builds(DropStored, _SLOTS),
    ]
    if self_wakes:
        base.append(st.builds(WakeSelf, st.integers(1, 3)))
    if cancels:
        base.append(st.builds(CancelTask, st.integers(0, 3)))
    if child_depth > 0:
        child = scripts(max_steps=2, child_depth=child_depth - 1, joins=joins, cancels=cancels,
                        raises=raises, self_wakes=self_wakes)
        base.append(st.builds(SpawnChild, child))
    return st.one_of(*base)


def steps(
    child_depth: int = 1,
    *,
    joins: bool = True,
    cancels: bool = True,
    raises: bool = True,
    self_wakes: bool = True,
) -> st.SearchStrategy[Step]:
    """One poll's behaviour."""
    one = effects(child_depth, joins=joins, cancels=cancels, raises=raises, self_wakes=self_wakes)
    effs = st.lists(one, max_size=3).map(tuple)
    kept = st.lists(one, max_size=2).map(lambda rest: (Keep(), *rest))
    options: list[st.SearchStrategy[Step]] = [
        kept.map(lambda e: PendingStep(*e)),
        effs.map(lambda e: PendingStep(*e)),
        effs.map(lambda e: ReadyStep(*e)),
    ]
    if raises:
        options.append(effs.map(lambda e: RaiseStep(*e)))
    if joins:
        options.append(st.builds(AwaitJoin, st.integers(0, 3)))
    return st.one_of(*options)


def scripts(
    max_steps: int = 3,
    child_depth: int = 1,
    *,
    joins: bool = True,
    cancels: bool = True,
    raises: bool = True,
    self_wakes: bool = True,
) -> st.SearchStrategy[Script]:
    """A task's whole script: up to ``max_steps`` polls, then Ready."""
    one = steps(child_depth, joins=joins, cancels=cancels, raises=raises, self_wakes=self_wakes)
    return st.lists(one, max_size=max_steps).map(
        lambda ss: Script(*ss)
    )
