"""``refexec.SimpleExecutor`` (the seed's design) and the ``seed`` model in lockstep (§1).

The seed model is a counter abstraction, so the machine compares class counts (see
``refexec.testing.refinement_seed``); it claims only the properties the seed design keeps
(``EXPECTED["seed"]``): its findings (duplicate entries, silent loss, ...) are the model's to
report, and the lockstep check is that the port does exactly what the model predicts.
"""

from __future__ import annotations

import pytest
from refexec.testing.lockstep_settings import lockstep_settings
from refexec.testing.machines import seed_machine
from refexec.testing.oracle import Divergence
from refexec.testing.script import Keep, PendingStep, ReadyStep, Script, SpawnChild, WakeSelf

SeedLockstep = seed_machine()
SeedLockstep.TestCase.settings = lockstep_settings()
TestSimpleExecutorLockstep = SeedLockstep.TestCase


def test_seed_lockstep_follows_a_silent_loss() -> None:
    """A task that returns Pending with no waker is freed in silence, as the model predicts
    (the ghost ``lost`` counts it; the executor's class counts no longer include it)."""
    state = SeedLockstep()
    state.setup(seed=0)
    state.spawn(script=Script(PendingStep()))
    state.run(plan=[], spawns=[], interleaving=[], later=0)
    assert any(s["lost"] == 1 for s in state.o.states())
    state.teardown()


def test_seed_lockstep_follows_duplicate_entries() -> None:
    """Every wake enqueues in the seed: three wakes during one poll leave three entries, and
    the machine's abstraction (``e`` = 2+) agrees with the model step by step."""
    state = SeedLockstep()
    state.setup(seed=0)
    state.spawn(script=Script(PendingStep(Keep(), WakeSelf(3))))
    state.run(plan=["drop"], spawns=[], interleaving=[], later=0)
    assert state.totals["event:poll"] >= 2
    state.teardown()


def test_seed_lockstep_follows_a_spawn_from_inside_a_running_task() -> None:
    """The seed's exercise 1: a task spawns during ``run()`` with its own sender; the model's
    local spawn while POLLING matches it, and the child is polled in the same run."""
    state = SeedLockstep()
    state.setup(seed=0)
    state.spawn(script=Script(ReadyStep(SpawnChild(Script(ReadyStep())))))
    state.run(plan=[], spawns=[], interleaving=[], later=0)
    assert state.world.spawned() == 2
    assert state.totals["event:spawn"] >= 2
    assert any(s["freed"] == 2 for s in state.o.states())
    state.teardown()


def test_seed_model_spawns_after_run_only_with_a_sender() -> None:
    """After run() dropped the executor's sender, a spawn needs one: a running task's (the
    loop is POLLING) or a spawner's; between polls, with neither, it is not enabled."""
    from refexec.models import seed  # noqa: PLC0415
    from refexec.models.concrete import ConcreteModel  # noqa: PLC0415

    system = seed.build(seed.default_bounds(2, capacity=4, spawners=0))
    m = ConcreteModel(system)
    s = m.step(m.step(m.initial(), "spawn", remote=0), "run_start")
    assert s["loop"] == seed.RECV
    assert not m.is_enabled(s, system.action("spawn"), {"remote": 0})
    c = seed.class_index(seed.CLASSES, seed.PENDING, 0, 1)
    s = m.step(s, "poll", c=c, k=0)
    assert m.is_enabled(s, system.action("spawn"), {"remote": 0})
    assert not m.is_enabled(s, system.action("spawn"), {"remote": 1})


def test_seed_machine_rejects_a_wrong_count() -> None:
    """The seed check can fail: an abstraction that miscounts the channel is caught."""
    state = SeedLockstep()
    state.setup(seed=0)
    state.spawn(script=Script(PendingStep(Keep())))
    real = state.a.observe

    def wrong():  # type: ignore[no-untyped-def]
        o = real()
        extra = tuple((k, v + 1 if k == "qlen" else v) for k, v in (o.extra or ()))
        return type(o)(states=o.states, extra=extra)

    state.a.observe = wrong  # type: ignore[method-assign]
    with pytest.raises(Divergence, match="qlen"):
        state.observe()
    state.a.observe = real  # type: ignore[method-assign]
    state.teardown()
