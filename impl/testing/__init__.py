"""``refexec.testing``: check an executor against the model, step by step, with Hypothesis.

This subpackage imports Hypothesis (the ``verify`` extra); ``import refexec`` never imports it.
The README section "Checking an executor against the model: refexec.testing" walks through
it; the pieces:

* scripted tasks (:mod:`refexec.testing.script`) whose every poll does what a test says and
  logs it;
* the :class:`Adapter` protocol: the few operations the machine needs from an executor;
* :func:`lockstep_machine`: the Hypothesis ``RuleBasedStateMachine`` that drives an adapter and
  the model side by side and fails on the first difference;
* ready-made adapters for :class:`refexec.Executor`, :class:`refexec.SimpleExecutor` and
  asyncio, and :func:`reference_machine` / :func:`seed_machine` / :func:`asyncio_machine`.
"""

from __future__ import annotations

from refexec.testing.adapter import Adapter, Observation, RunResult
from refexec.testing.lockstep import LockstepMachine, MachineConfig, TaskRef, lockstep_machine
from refexec.testing.lockstep_settings import lockstep_settings
from refexec.testing.machines import (
    asyncio_machine,
    reference_bounds,
    reference_machine,
    reference_oracle,
    seed_machine,
)
from refexec.testing.oracle import Divergence, Oracle
from refexec.testing.schedules import schedules
from refexec.testing.script import (
    AwaitJoin,
    CancelTask,
    DropStored,
    Keep,
    PendingStep,
    PollEnv,
    RaiseStep,
    ReadyStep,
    Script,
    ScriptError,
    ScriptRunner,
    SpawnChild,
    WakeSelf,
    WakeStored,
    World,
)

__all__ = [
    "Adapter",
    "AwaitJoin",
    "CancelTask",
    "Divergence",
    "DropStored",
    "Keep",
    "LockstepMachine",
    "MachineConfig",
    "Observation",
    "Oracle",
    "PendingStep",
    "PollEnv",
    "RaiseStep",
    "ReadyStep",
    "RunResult",
    "Script",
    "ScriptError",
    "ScriptRunner",
    "SpawnChild",
    "WakeSelf",
    "WakeStored",
    "TaskRef",
    "World",
    "asyncio_machine",
    "lockstep_machine",
    "lockstep_settings",
    "reference_bounds",
    "reference_machine",
    "reference_oracle",
    "seed_machine",
    "schedules",  # Hypothesis strategy of refexec.schedule.Schedule (schedule exploration)
]
