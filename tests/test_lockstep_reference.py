"""``refexec.Executor`` and the ``reference`` model in lockstep (issue 4 §1)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import Phase, settings
from hypothesis.stateful import run_state_machine_as_test
from refexec.testing.lockstep_settings import CI_EXAMPLES, lockstep_settings
from refexec.testing.machines import ROUNDS, reference_machine
from refexec.testing.oracle import Divergence

ExecutorLockstep = reference_machine()
ExecutorLockstep.TestCase.settings = lockstep_settings()
TestExecutorLockstep = ExecutorLockstep.TestCase


def _doc_example() -> dict[str, object]:
    """The runtime author's example in README.md, executed as written."""
    text = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    blocks = [b for b in re.findall(r"```python\n(.*?)```", text, flags=re.S)
              if "class TinyAdapter" in b]
    assert blocks, "README.md lost its TinyAdapter example of refexec.testing"
    namespace: dict[str, object] = {"__name__": "tiny_example"}
    exec(compile(blocks[0], "README.md", "exec"), namespace)
    return namespace


def test_documented_tiny_executor_passes_the_lockstep_check() -> None:
    ns = _doc_example()
    test_case = ns["TestTinyExecutor"]
    test_case("runTest").runTest()  # type: ignore[operator]


def test_documented_tiny_executor_can_fail() -> None:
    """The same adapter with a lost NOTIFIED (a wake during the poll forgotten) is caught."""
    ns = _doc_example()
    adapter = ns["TinyAdapter"]
    original = ns["_wake_by_ref"]

    def forgetful(t):  # type: ignore[no-untyped-def]
        if t.state != 1:  # RUNNING: the wake is forgotten
            original(t)  # type: ignore[operator]

    vtable = ns["VTABLE"]
    vtable.wake_by_ref = forgetful  # type: ignore[attr-defined]
    try:
        machine = ns["TinyLockstep"]
        with pytest.raises(Divergence):
            run_state_machine_as_test(machine, settings=settings(
                lockstep_settings(max_examples=300), phases=[Phase.generate], database=None,
                report_multiple_bugs=False))
    finally:
        vtable.wake_by_ref = original  # type: ignore[attr-defined]
    assert adapter is not None


def test_documented_tiny_executor_whose_run_until_stalled_skips_reaping_is_caught() -> None:
    """run_until_stalled() must report a task no waker can reach before it returns
    (EX-STALLED-EXACT): the README's adapter without its reaping loop leaves one IDLE."""
    ns = _doc_example()
    adapter: Any = ns["TinyAdapter"]
    original = adapter.run_until_stalled

    def no_reap(self: Any) -> None:
        while self.step():
            pass

    adapter.run_until_stalled = no_reap
    try:
        with pytest.raises(Divergence):
            run_state_machine_as_test(ns["TinyLockstep"], settings=settings(
                lockstep_settings(max_examples=300), phases=[Phase.generate], database=None,
                report_multiple_bugs=False))
    finally:
        adapter.run_until_stalled = original


def test_cancel_outside_run_wakes_the_join_waiter_at_once_as_the_model_does() -> None:
    """Cancelling, outside run(), a task that another task awaits: the executor's cancel acts
    as the loop for its duration, so it wakes the waiter at once, as the model does. (It used
    to wake it through the inbox -- the vtable posts whenever no loop runs -- a known
    difference the machine did not generate; the machine now generates it.)"""
    from refexec.testing.lockstep import TaskRef  # noqa: PLC0415
    from refexec.testing.script import AwaitJoin, Keep, PendingStep, Script  # noqa: PLC0415

    state = ExecutorLockstep()
    state.setup(seed=0)
    state.spawn(script=Script(AwaitJoin(1)))
    state.spawn(script=Script(PendingStep(Keep())))
    state.step(moves=[], interleaving=[])  # task 0 awaits task 1's JoinHandle
    state.world.record("cancel", 1)
    state.a.cancel(1)
    state.observe()  # no divergence: the waiter is woken, not a wake left in the inbox
    assert not state.a.ex._inbox  # type: ignore[attr-defined]
    state.teardown()
    assert TaskRef(0).task == 0


def test_generated_work_never_awaits_in_a_cycle() -> None:
    """Found under load by the machine itself: task 0 awaited task 1 while task 1 awaited task
    0, an await cycle in which ``run()`` rightly waits for ever (the model's
    ``await_deadlock``), reported as a stall. The kit now skips an await that would close a
    cycle, so the same program runs to its end."""
    from refexec.testing.script import AwaitJoin, Keep, PendingStep, Script, WakeStored  # noqa: PLC0415

    state = ExecutorLockstep()
    state.setup(seed=0)
    state.spawn(script=Script(PendingStep(Keep(), WakeStored(0, by_ref=False), Keep()),
                              AwaitJoin(1)))
    state.spawn(script=Script(AwaitJoin(0)))
    state.run(plan=[], spawns=[], interleaving=[], later=0)
    assert all(h.done() for h in state.world.handles)
    state.teardown()


def test_waits_on_follows_chains_of_awaits() -> None:
    from refexec.testing.script import World  # noqa: PLC0415

    w = World()
    w.awaiting = {0: 1, 1: 2}  # 1 awaits 0, 2 awaits 1
    assert w.waits_on(2, 0) and w.waits_on(1, 0) and w.waits_on(3, 3)
    assert not w.waits_on(0, 2) and not w.waits_on(3, 0)


def test_a_helper_move_suspended_at_the_door_is_logged_after_run_end() -> None:
    """Found by the machine under controlled threads: run()'s helper, inside its logged
    wake_by_ref (holding the log's lock), waited at the door's lock while the loop decided to
    return; its message then landed after run() ended, but its event was logged before
    ``run_end``, so the model (which applies a remote wake at once) and the executor (whose
    inbox now held it) disagreed. ``run_end`` is now logged before an action still in flight."""
    from refexec.testing.script import (  # noqa: PLC0415
        AwaitJoin,
        Keep,
        ReadyStep,
        Script,
        WakeSelf,
        WakeStored,
    )

    state = ExecutorLockstep()
    state.setup(seed=0)
    state.spawn(script=Script(ReadyStep(Keep()), ReadyStep(WakeStored(1, by_ref=True)),
                              ReadyStep()))
    state.spawn(script=Script(ReadyStep(WakeSelf(1)), AwaitJoin(1)))
    state.run(plan=["by_ref_then_drop"], spawns=[], interleaving={6: 3}, later=0)
    assert state.world.spawned() == 2
    state.teardown()


def test_a_helper_thread_cancels_while_the_loop_sleeps_and_the_model_follows() -> None:
    """Other threads' cancels (issue 12): run()'s helper cancels a waiting task through its
    JoinHandle while the loop sleeps; the cancel is posted (the model's ``cancel(remote=1)``),
    taken in by the loop (``cancel_drain``) and the task ends CANCELLED, in lockstep."""
    from refexec.testing.script import Keep, PendingStep, Script  # noqa: PLC0415

    state = ExecutorLockstep()
    state.setup(seed=0)
    state.spawn(script=Script(PendingStep(Keep())))
    state.run(plan=["cancel_then_drop"], spawns=[], interleaving={}, later=0)
    assert state.world.handles[0].cancelled()
    assert "cancel(remote=1,t=0)" in state.o.history
    assert state.remote_cancelled == {0}
    state.teardown()


RoundsLockstep = reference_machine(name="rounds", rounds=ROUNDS)
RoundsLockstep.TestCase.settings = lockstep_settings(max_examples=CI_EXAMPLES // 5)
TestExecutorLockstepRounds = RoundsLockstep.TestCase
"""The machine with rounds of ``ROUNDS`` polls (the executor's cut to match, EX-INBOX-PROMPT
claimed): a task ready for ever (``spawn_busy``) must not keep other threads' messages waiting.
Each rule costs about five times a plain one (the model follows the round's ghosts), hence a
fifth of the examples."""


def test_the_rounds_machine_claims_inbox_promptness() -> None:
    state = RoundsLockstep()
    state.setup(seed=0)
    assert "EX-INBOX-PROMPT" in state.o.claimed
    assert state.a.ex._round == ROUNDS  # type: ignore[attr-defined]
    state.teardown()


def test_an_interrupted_run_is_a_return_between_polls_and_run_goes_on() -> None:
    """An interrupt between two steps (issue 12): ``KeyboardInterrupt`` at the loop's first
    inbox check between polls ends ``run()``; the model reads it as ``step_return`` (the drive
    call gave the thread back between polls), the states agree, and ``run()`` again finishes
    the work, in lockstep."""
    from refexec.testing.script import Keep, PendingStep, Script  # noqa: PLC0415

    state = ExecutorLockstep()
    state.setup(seed=0)
    state.spawn(script=Script(PendingStep(Keep())))
    state.run_interrupted(plan=["cancel_then_drop"], interleaving={}, at=2)
    assert "step_return()" in state.o.history and not state.world.handles[0].done()
    state.run(plan=["drop"], spawns=[], interleaving={}, later=0)
    assert state.world.handles[0].done() and "run_end()" in state.o.history
    state.teardown()
