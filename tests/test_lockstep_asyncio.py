"""asyncio's event loop through the kit's adapter (issue 4 §5): what it meets, where it differs.

The model is not bent to fit asyncio. The machine runs asyncio on the *common core* — spawns,
polls, wakes and drops of stored wakers from this and other threads, join, raise,
``run_until_stalled`` — and passes. Each reported difference (``ASYNCIO_DIFFERENCES``) has a
test that drives the very program showing it and asserts that the lockstep check *fails* on
it, with the expected symptom; if asyncio (or the adapter) changed so that a difference
disappeared, that test would fail and the report would have to change.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import run_state_machine_as_test
from refexec.testing.adapter_asyncio import ASYNCIO_DIFFERENCES, AsyncioAdapter
from refexec.testing.lockstep_settings import deep_active, lockstep_settings
from refexec.testing.machines import asyncio_machine
from refexec.testing.oracle import Divergence
from refexec.testing.script import Keep, PendingStep, Script, WakeSelf

CommonCore = asyncio_machine(name="asyncio_core", self_wakes=False, cancels=False)
CommonCore.TestCase.settings = lockstep_settings(max_examples=None if deep_active() else 200)
TestAsyncioCommonCore = CommonCore.TestCase

Full = asyncio_machine(name="asyncio_full")


def test_wake_during_poll_skips_the_queue() -> None:
    """ASYNCIO_DIFFERENCES["wake-during-poll"]: t0 wakes itself during its poll while t1 is
    queued; the model polls t1 next (t0 re-enters at the back), asyncio resumes t0 at once."""
    state = Full()
    state.setup(seed=0)
    state.spawn(script=Script(PendingStep(WakeSelf(1))))
    state.spawn(script=Script())
    with pytest.raises(Divergence, match=r"poll\(t=0\)"):
        state.run_until_stalled()
    state.teardown()


def test_cancel_is_a_request() -> None:
    """ASYNCIO_DIFFERENCES["cancel-is-a-request"]: cancelling an IDLE task leaves it pending
    and scheduled (to receive CancelledError); the model's task is CANCELLED at once."""
    state = Full()
    state.setup(seed=0)
    state.spawn(script=Script(PendingStep(Keep())))
    state.run_until_stalled()
    with pytest.raises(Divergence, match=r"\*states=\[0\]"):
        state.cancel(task=_ref(0))
    state.teardown()


def test_no_run_until_no_sender_and_no_poll_counter() -> None:
    """ASYNCIO_DIFFERENCES["no-run-until-no-sender"], ["no-poll-counter"]: the adapter has no
    ``run``/``step``; a task that can never be woken stays pending, unreported."""
    assert {"run", "step", "spawner"}.isdisjoint(AsyncioAdapter.capabilities)
    state = CommonCore()
    state.setup(seed=0)
    state.spawn(script=Script(PendingStep()))  # Pending, keeping no waker: unwakeable
    state.run_until_stalled()
    obs = state.a.observe()
    assert obs.states == (3,)  # IDLE for ever: nothing reports it
    assert obs.polls is None and obs.wakers is None
    state.teardown()


def test_hypothesis_finds_the_wake_during_poll_difference() -> None:
    """Expected-failure detection, itself checked: with wakes during polls switched on, the
    machine must find a divergence within the CI budget, and it must be that difference."""
    machine = asyncio_machine(name="asyncio_selfwake", cancels=False, joins=False)
    with pytest.raises(Divergence) as info:
        run_state_machine_as_test(machine, settings=settings(
            lockstep_settings(), phases=[Phase.generate], database=None,
            suppress_health_check=list(HealthCheck)))
    notes = str(info.value.__notes__)
    # a step that wakes during the poll: WakeSelf / WakeStored, or a busy task (spawn_busy: a
    # task that wakes itself in every poll)
    assert any(w in notes for w in ("WakeSelf", "WakeStored", "spawn_busy")), notes


def test_every_difference_is_documented() -> None:
    assert set(ASYNCIO_DIFFERENCES) == {
        "wake-during-poll", "cancel-is-a-request", "join-wakes-a-step-late",
        "no-run-until-no-sender", "no-poll-counter"}


def _ref(i: int):  # type: ignore[no-untyped-def]
    from refexec.testing.lockstep import TaskRef  # noqa: PLC0415

    return TaskRef(i)
