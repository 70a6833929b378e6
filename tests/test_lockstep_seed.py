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
from refexec.testing.script import Keep, PendingStep, Script, WakeSelf

SeedLockstep = seed_machine()
SeedLockstep.TestCase.settings = lockstep_settings()
TestSimpleExecutorLockstep = SeedLockstep.TestCase


def test_seed_lockstep_follows_a_silent_loss() -> None:
    """A task that returns Pending with no waker is freed in silence, as the model predicts
    (the ghost ``lost`` counts it; the executor's class counts no longer include it)."""
    state = SeedLockstep()
    state.setup(seed=0)
    state.spawn(script=Script(PendingStep()))
    state.run(plan=[], pause=0.0, later=0)
    assert any(s["lost"] == 1 for s in state.o.states())
    state.teardown()


def test_seed_lockstep_follows_duplicate_entries() -> None:
    """Every wake enqueues in the seed: three wakes during one poll leave three entries, and
    the machine's abstraction (``e`` = 2+) agrees with the model step by step."""
    state = SeedLockstep()
    state.setup(seed=0)
    state.spawn(script=Script(PendingStep(Keep(), WakeSelf(3))))
    state.run(plan=["drop"], pause=0.0, later=0)
    assert state.totals["event:poll"] >= 2
    state.teardown()


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
