"""Ready-made lockstep machines: refexec's executors against their model variants, and asyncio.

Each function returns a ``RuleBasedStateMachine`` class; a test module needs one line::

    TestReference = reference_machine().TestCase

The bounds are the model's (``refexec.models.reference.default_bounds``) at a size the machine
can exercise: 3 tasks, a future returns Ready by its 6th poll, 4 held wakers and 6 posted wakes
per task, 2 spawners. The generated work stays within them (the scripts skip an effect the bound
forbids, and every rule is guarded by the model's guard).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from functools import partial

from refexec.models.concrete import ConcreteModel
from refexec.models.properties import DRIVE_IDS
from refexec.models.reference import default_bounds
from refexec.models.system import Bounds, TransitionSystem
from refexec.models.variants import EXPECTED, VARIANTS
from refexec.testing.adapter import Adapter
from refexec.testing.lockstep import LockstepMachine, MachineConfig, lockstep_machine
from refexec.testing.oracle import Oracle
from refexec.testing.refinement_reference import ReferenceRefinement
from refexec.testing.script import World

__all__ = [
    "ROUNDS",
    "asyncio_machine",
    "reference_bounds",
    "reference_machine",
    "reference_oracle",
    "seed_bounds",
    "seed_machine",
    "seed_oracle",
]


ROUNDS = 2
"""The round the rounds machine and door programs use (``reference_machine(rounds=ROUNDS)``):
the smallest at which a round holds two tasks' polls."""


def reference_bounds(n_tasks: int = 3, round: int = 0, drive: bool = True) -> Bounds:
    """The model bounds the reference machines run at; other threads' cancels included
    (``rcancel``: a helper thread's ``JoinHandle.cancel()`` while the loop runs). ``round``
    > 0: rounds of at most that many polls, each ending with the inbox drained (the model's
    ``round`` key, and EX-INBOX-PROMPT), for an executor whose round is set to match.
    ``drive``: the model judges each drive call's return (bounds key ``drive``: step() polls
    at most one task, run_until_stalled() returns exactly when stalled, lost tasks reported)."""
    extra = {"round": round} if round else {}
    return default_bounds(n_tasks, polls=6, wakers=4, inbox=6, spawners=2, rcancel=1,
                          drive=int(drive), close=1, **extra)


def reference_oracle(bounds: Bounds, variant: str = "reference", *,
                     compare_extra: bool = True) -> Oracle:
    """An oracle following ``variant`` (the reference or one of its mutants) at ``bounds``."""
    system: TransitionSystem = VARIANTS[variant](bounds)
    claimed = frozenset(pid for pid, holds in EXPECTED["reference"].items() if holds)
    if dict(bounds.extra).get("round", 0):
        claimed |= {"EX-INBOX-PROMPT"}  # defined with the round bound (spec/SPEC.md 9.3)
    if dict(bounds.extra).get("drive", 0):
        claimed |= set(DRIVE_IDS)  # the drive calls' returns (bounds key drive)
    return Oracle(ConcreteModel(system), ReferenceRefinement(system, compare_extra=compare_extra),
                  system.action, claimed)


def reference_machine(
    adapter: Callable[[World, random.Random], Adapter] | None = None,
    *,
    n_tasks: int = 3,
    name: str = "reference",
    rounds: int = 0,
    **options: bool,
) -> type[LockstepMachine]:
    """The lockstep machine of ``refexec.Executor`` (or of ``adapter``) against ``reference``.

    ``rounds`` = R > 0: the executor's rounds of polls are cut to R (``control_door(round=R)``)
    and the model has the same bound, so a task ready for ever fills rounds within a model
    run, and the inbox must be drained between them (EX-INBOX-PROMPT is then claimed). The
    model follows R's ghosts in every state, which makes each rule about five times slower:
    a separate machine (``tests/test_lockstep_reference.py``), not the default."""
    if adapter is None:
        from refexec.testing.adapter_refexec import ExecutorAdapter  # noqa: PLC0415

        adapter = partial(ExecutorAdapter, round=rounds) if rounds else ExecutorAdapter
    elif rounds:
        raise ValueError("rounds= sets the round of refexec.Executor's own adapter only")
    bounds = reference_bounds(n_tasks, rounds)
    ex = dict(bounds.extra)
    config = MachineConfig(
        name=name,
        adapter=adapter,
        oracle=lambda: reference_oracle(bounds),
        max_tasks=bounds.n_tasks,
        max_polls=ex["polls"],
        max_held=ex["wakers"],
        **options,
    )
    return lockstep_machine(config)


def asyncio_machine(*, n_tasks: int = 3, name: str = "asyncio", **options: bool
                    ) -> type[LockstepMachine]:
    """asyncio's event loop against ``reference``; ``options`` switch features off/on."""
    from refexec.testing.adapter_asyncio import AsyncioAdapter  # noqa: PLC0415

    # asyncio has no lost tasks: its loop leaves a task nothing can wake pending, so the
    # drive-call contract (run_until_stalled() reports it before returning) is refexec's own,
    # not the common core's; any return between polls is accepted, as before the drive key
    bounds = reference_bounds(n_tasks, drive=False)
    ex = dict(bounds.extra)
    config = MachineConfig(
        name=name,
        adapter=AsyncioAdapter,
        oracle=lambda: reference_oracle(bounds, compare_extra=False),
        max_tasks=bounds.n_tasks,
        max_polls=ex["polls"],
        max_held=ex["wakers"],
        **options,
    )
    return lockstep_machine(config)


def seed_bounds(n_tasks: int = 2, capacity: int = 100) -> Bounds:
    """The seed model's bounds for the lockstep machine: the seed's capacity, 2 held wakers."""
    from refexec.models import seed  # noqa: PLC0415

    return seed.default_bounds(n_tasks, capacity=capacity, wakers=2, spawners=0)


def seed_oracle(bounds: Bounds) -> Oracle:
    """An oracle following the ``seed`` variant (claims only what the seed design keeps)."""
    from refexec.testing.refinement_seed import SeedRefinement  # noqa: PLC0415

    system = VARIANTS["seed"](bounds)
    claimed = frozenset(pid for pid, holds in EXPECTED["seed"].items() if holds)
    return Oracle(ConcreteModel(system), SeedRefinement(system), system.action, claimed)


def seed_machine(*, n_tasks: int = 2, capacity: int = 100, name: str = "seed",
                 **options: bool) -> type[LockstepMachine]:
    """``refexec.SimpleExecutor`` against the ``seed`` variant (a counter abstraction)."""
    from refexec.testing.adapter_simple import SimpleExecutorAdapter  # noqa: PLC0415

    bounds = seed_bounds(n_tasks, capacity)
    w_max = dict(bounds.extra)["wakers"]

    def adapter(world: World, rng: random.Random) -> Adapter:
        return SimpleExecutorAdapter(world, rng, capacity=capacity, w_max=w_max)

    config = MachineConfig(
        name=name,
        adapter=adapter,
        oracle=lambda: seed_oracle(bounds),
        max_tasks=bounds.n_tasks,
        max_polls=6,
        max_held=w_max,
        joins=False,
        cancels=False,
        raises=False,
        **options,
    )
    return lockstep_machine(config)
