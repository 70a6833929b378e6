"""Foreign wakers whose vtable functions raise (issue 12): the generator of
``refexec.testing.vtable_faults`` drives refexec's timers, wait queues and JoinHandle waiters
with a fault at a drawn call, and checks that no exception is swallowed, every other waiter is
woken, every structure stays consistent and a later run finishes the work."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from refexec import sync
from refexec.clock import VirtualClock
from refexec.errors import Cancelled
from refexec.executor import Executor, JoinHandle
from refexec.sync import channel
from refexec.testing.lockstep_settings import lockstep_settings
from refexec.testing.vtable_faults import (
    KINDS,
    FaultPlan,
    Program,
    Via,
    VTableFault,
    programs,
    run_program,
)
from refexec.timers import sleep


@given(programs())
@lockstep_settings(max_examples=300)
def test_vtable_exceptions_are_never_swallowed_and_lose_no_work(p: Program) -> None:
    run_program(p)


# Each path, each vtable function, deterministically: the fault is raised and the checks pass.
_CANCEL = (("cancel", 0),)


_CASES = [(kind, op, steps) for kind in KINDS
          for op, steps in (("clone", ()), ("wake", ()), ("drop", _CANCEL))
          if (kind, op) != ("join", "drop")]  # a JoinHandle keeps its awaiters' wakers to wake


@pytest.mark.parametrize(("kind", "op", "steps"), _CASES)
def test_each_path_raises_the_planned_fault_and_passes_the_checks(
    kind: str, op: str, steps: tuple[tuple[str, int], ...]
) -> None:
    plan = run_program(Program(((kind, True), (kind, True), (kind, False)), steps, op, 1))
    assert [str(e) for e in plan.raised] == [f"{op}() call 1 of a foreign waker raised"]
    assert plan.calls["wake_by_ref"] == 0  # refexec never calls it on a waker it holds


# Regression: Driver.fire_due counted its fires only after the loop, so a foreign waker whose
# wake raised (out of run()) left every timer fired in that call uncounted.


def _foreign_sleeper(plan: FaultPlan) -> Any:
    async def task() -> None:
        await Via(plan, sleep(0.001))

    return task()


def test_timers_fired_before_a_raising_wake_are_counted() -> None:
    plan = FaultPlan("wake", 1)
    ex = Executor(clock=VirtualClock(autojump=True))
    hs = [ex.spawn(_foreign_sleeper(plan)) for _ in range(2)]
    with pytest.raises(VTableFault):
        ex.run()  # both timers are due together; the first one's wake raises
    assert ex._driver.fired == 1  # the second is still armed, fired by the next run
    ex.run()
    assert ex._driver.fired == 2
    assert all(h.done() and h.exception() is None for h in hs)
    ex.check_invariants()
    ex._driver.check_invariants()


# The checks can fail: a wake-all that swallows a waker's exception, or stops at it.


def test_the_generator_finds_a_swallowed_vtable_exception(monkeypatch: pytest.MonkeyPatch) -> None:
    real = sync._act_all

    def swallowing(actions: Any, failure: BaseException | None) -> BaseException | None:
        real(actions, failure)
        return None

    monkeypatch.setattr(sync, "_act_all", swallowing)
    with pytest.raises(AssertionError, match="swallowed"):
        run_program(Program((("event", True), ("event", True)), (("set", 0),), "wake", 1))


def test_the_generator_finds_a_waiter_left_unwoken(monkeypatch: pytest.MonkeyPatch) -> None:
    def stop_at_first(actions: Any, failure: BaseException | None) -> BaseException | None:
        for raw, wake in actions:
            if wake:
                raw.vtable.wake(raw.data)
            else:
                raw.vtable.drop(raw.data)
        return failure

    monkeypatch.setattr(sync, "_act_all", stop_at_first)
    with pytest.raises(AssertionError, match="not woken"):
        run_program(Program((("event", True), ("event", True)), (("set", 0),), "wake", 1))


# Regression: a waker that raised while a cancelled task's coroutine was closed (its receive,
# chosen for an item, passing the item on to the next receiver) became only the __cause__ of
# the task's Cancelled: cancel() returned normally and, the handle dropped, nothing said so.


def _passing_on(plan: FaultPlan) -> tuple[Executor, JoinHandle[Any], JoinHandle[Any]]:
    ex = Executor()
    tx, rx = channel()

    async def plain() -> Any:
        return await rx.recv()

    async def foreign() -> Any:
        return await Via(plan, rx.recv())

    first, second = ex.spawn(plain()), ex.spawn(foreign())
    ex.run_until_stalled()  # both parked, first in line
    tx.try_send("item")  # chosen: the first receiver
    assert first.cancel()  # its receive passes the item on; the second's waker raises
    assert len(plan.raised) == 1
    return ex, first, second


def test_a_waker_failure_while_closing_a_cancelled_task_is_reported() -> None:
    plan = FaultPlan("wake", 1)
    ex, _first, second = _passing_on(plan)
    ex.run_until_stalled()
    assert second.result() == "item"  # the item was passed on all the same
    with pytest.warns(RuntimeWarning, match=r"closed as it was cancelled.*VTableFault"):
        ex.close()  # reports what nobody retrieved (as a failed task's exception is)


def test_the_failure_is_retrieved_with_the_cancelled() -> None:
    plan = FaultPlan("wake", 1)
    ex, first, second = _passing_on(plan)
    with pytest.raises(Cancelled) as info:
        first.result()
    assert info.value.__cause__ is plan.raised[0]
    ex.run_until_stalled()
    assert second.result() == "item"
    ex.close()  # retrieved: no warning (the suite turns warnings into errors)
