"""``refexec.WaitQueue`` against the ``waitqueue`` model, in lockstep (one thread, deterministic).

The machines (``refexec.testing.waitqueue_lockstep``) fire one model action per rule and check
the refinement mapping after each; the tests below show that the check can fail: a wait queue
with one of the model's mutants built in is caught.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import Phase, settings
from hypothesis.stateful import run_state_machine_as_test
from refexec.testing.lockstep_settings import lockstep_settings
from refexec.testing.waitqueue_lockstep import (
    BarrierLockstep,
    ChannelLockstep,
    ChannelSendLockstep,
    ConditionLockstep,
    EventLockstep,
    ExecutorSemaphore2Lockstep,
    ExecutorSemaphoreLockstep,
    OneshotLockstep,
    QueueGetLockstep,
    QueuePutLockstep,
    SemaphoreWaitQueueLockstep,
    VTableFault,
    WaitQueueLockstep,
)
from refexec.waitqueue import Wait, Waiting, WaitQueue, Woken
from refexec.waker import RawWaker

WaitQueueLockstep.TestCase.settings = lockstep_settings(steps=40)
SemaphoreWaitQueueLockstep.TestCase.settings = lockstep_settings(steps=40)
TestWaitQueueLockstep = WaitQueueLockstep.TestCase
TestSemaphoreWaitQueueLockstep = SemaphoreWaitQueueLockstep.TestCase
ExecutorSemaphoreLockstep.TestCase.settings = lockstep_settings(max_examples=200, steps=30)
ExecutorSemaphore2Lockstep.TestCase.settings = lockstep_settings(max_examples=200, steps=30)
TestLockOnExecutorLockstep = ExecutorSemaphoreLockstep.TestCase
TestSemaphoreOnExecutorLockstep = ExecutorSemaphore2Lockstep.TestCase


class _Lifo(WaitQueue):
    """Mutant wq-lifo: the newest waiter is chosen."""

    __slots__ = ()

    def _choose(self, how: Woken) -> RawWaker:
        w = self._tail
        assert w is not None
        self._unlink(w)
        w._st = how
        raw, w._raw = w._raw, None
        assert raw is not None
        return raw


class _SwallowingWait(Wait[Any]):
    """Mutant wq-cancel-swallows-grant: a dropped chosen waiter keeps its grant."""

    __slots__ = ()

    def _drop(self, out: list[Any]) -> None:
        if self.state == 1:
            super()._drop(out)
        else:
            self._st = 6


class _Swallowing(WaitQueue):
    __slots__ = ()

    def acquire(self) -> Waiting[Woken]:
        return Waiting(_SwallowingWait(self))

    def wait(self) -> Waiting[Woken]:
        w: Wait[Woken] = _SwallowingWait(self)
        w._st = 7
        return Waiting(w)


class _ReleaseTwice(WaitQueue):
    """Mutant wq-release-twice: a hand-off also returns the permit to the pool."""

    __slots__ = ()

    def _release(self) -> RawWaker | None:
        if self._head is not None:
            self._permits += 1
        return super()._release()


class _RollbackOnFault(WaitQueue):
    """Mutant wq-fault-returns-permit: a release whose wake raises 'rolls back' by putting the
    permit back in the pool (the chosen waiter keeps its grant)."""

    __slots__ = ()

    def release(self) -> None:
        try:
            super().release()
        except VTableFault:
            self._permits += 1
            raise


@pytest.mark.parametrize("bug", [_Lifo, _Swallowing, _ReleaseTwice, _RollbackOnFault],
                         ids=["lifo", "cancel-swallows-grant", "release-twice",
                              "fault-returns-permit"])
def test_lockstep_catches_a_buggy_wait_queue(bug: type[WaitQueue]) -> None:
    class Buggy(WaitQueueLockstep):
        def __init__(self) -> None:
            super().__init__()
            self.wq = bug(self.permits)

    with pytest.raises(AssertionError):
        run_state_machine_as_test(Buggy, settings=settings(
            lockstep_settings(max_examples=1000, steps=20), database=None,
            phases=[Phase.generate]))


def test_cancel_of_a_granted_waiter_passes_the_lock_on() -> None:
    """The race the issue names, step by step: A holds, B and C wait; A releases (B is
    chosen), B is cancelled before it ran: C gets the lock, no permit appears or vanishes."""
    m = WaitQueueLockstep()
    m.start()
    m.acquire(0)  # k-th enabled task: task 0
    m.park(0, notify_style=False)  # tasks 1 and 2 may park: task 1
    m.park(0, notify_style=False)  # task 2
    m.release(0)  # only task 0 holds
    assert m.s["ws"] == (0, 2, 1)
    m.cancel_chosen(0, how="forget")  # only task 1 is chosen
    assert m.s["ws"] == (0, 0, 2)
    m.check()
    m.poll_chosen(0)  # task 2
    assert m.held == [0, 0, 1]
    assert m.wq.permits == 0
    m.check()
    assert m.counters[1].wakes == 1
    assert m.counters[2].wakes == 1
    assert [c.live for c in m.counters] == [0, 0, 0]


def test_a_raising_waker_in_a_broadcast_reaches_the_caller_and_the_others_are_woken() -> None:
    """WQ-FAULT-*, step by step: task 1 parks through a foreign waker that raises, task 2
    through its own; close() raises the fault and still wakes task 2; a raising drop of a
    queued faulty waiter reaches the canceller."""
    m = WaitQueueLockstep()
    m.start()
    m.acquire(0)  # task 0 holds the lock
    m.park_faulty(0, notify_style=True)  # task 1
    m.park(0, notify_style=False)  # task 2
    m.close()  # the rule checks VTableFault reached close()'s caller (the model's raised)
    assert m.s["raised"] and m.s["ws"] == (0, 4, 4)
    assert [c.wakes for c in m.counters] == [0, 1, 1]
    assert [c.live for c in m.counters] == [0, 0, 0]
    m.check()
    m2 = WaitQueueLockstep()
    m2.start()
    m2.acquire(0)
    m2.park_faulty(0, notify_style=False)  # task 1
    m2.cancel_queued(0, how="forget")  # its finalizer's drop raises: to sys.unraisablehook
    assert m2.s["raised"] and m2.counters[1].live == 0
    m2.check()


def test_executor_lockstep_catches_a_cancel_that_swallows_the_permit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The machine on the real executor can fail: with pass-on removed from ``Wait.drop`` a
    cancelled chosen task takes its permit with it, and the abstraction differs from the
    model."""
    original = Wait.drop

    def swallowing_drop(self: Wait[Any]) -> None:
        if self.state in (Woken.GRANTED, Woken.NOTIFIED):
            self._st = 6
            return
        original(self)

    monkeypatch.setattr(Wait, "drop", swallowing_drop)
    with pytest.raises(AssertionError, match="abstraction"):
        run_state_machine_as_test(ExecutorSemaphoreLockstep, settings=settings(
            lockstep_settings(max_examples=1000, steps=30), database=None,
            phases=[Phase.generate]))


for _m in (EventLockstep, ChannelLockstep, ChannelSendLockstep, QueueGetLockstep,
           QueuePutLockstep, OneshotLockstep, ConditionLockstep, BarrierLockstep):
    _m.TestCase.settings = lockstep_settings(max_examples=60, steps=25)
TestEventLockstep = EventLockstep.TestCase
TestChannelLockstep = ChannelLockstep.TestCase
TestConditionLockstep = ConditionLockstep.TestCase
TestBarrierLockstep = BarrierLockstep.TestCase
TestChannelSendLockstep = ChannelSendLockstep.TestCase
TestQueueGetLockstep = QueueGetLockstep.TestCase
TestQueuePutLockstep = QueuePutLockstep.TestCase
TestOneshotLockstep = OneshotLockstep.TestCase


def test_channel_lockstep_catches_a_cancel_that_swallows_the_item(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The channel machine can fail: with pass-on removed, a receiver cancelled after an item
    was handed to it takes the item with it (WQ-PERMITS-CONSERVED, seen in the abstraction)."""
    original = Wait._drop

    def swallowing(self: Wait[Any], out: list[Any]) -> None:
        if self._st == Woken.GRANTED:
            self._st = 6
            return
        original(self, out)

    monkeypatch.setattr(Wait, "_drop", swallowing)
    with pytest.raises(AssertionError):
        run_state_machine_as_test(ChannelLockstep, settings=settings(
            lockstep_settings(max_examples=1000, steps=30), database=None,
            phases=[Phase.generate]))


def _no_newest(self: WaitQueue, how: Woken) -> list[Any]:
    """Mutant: a broadcast over a stale snapshot misses the newest waiter."""
    out = []
    while self._head is not None and self._head is not self._tail:
        out.append((self._choose(how), True))
    return out


def _barrier_drop_keeps_count(self: Any, out: list[Any]) -> None:
    Wait._drop(self, out)  # mutant: a cancelled arrival still counts


def _take_keeps_slot(self: Any) -> Any:
    return self._items.popleft()  # mutant: a taken item frees no slot


def _close_sender_without_wake(self: Any, out: list[Any]) -> None:
    if self.state == 0:
        self.state = 3  # mutant: the sender's close forgets to close the queue


@pytest.mark.parametrize(("machine", "target", "attr", "bug"), [
    (EventLockstep, "refexec.waitqueue.WaitQueue", "_choose_all", _no_newest),
    (BarrierLockstep, "refexec.locks._BarrierWait", "_drop", _barrier_drop_keeps_count),
    (QueuePutLockstep, "refexec.locks.Queue", "_take", _take_keeps_slot),
    (OneshotLockstep, "refexec.sync._OneshotShared", "close_sender",
     _close_sender_without_wake),
], ids=["event-set-misses-newest", "barrier-cancel-keeps-count", "queue-get-keeps-slot",
        "oneshot-close-without-wake"])
def test_primitive_lockstep_catches_a_bug(monkeypatch: pytest.MonkeyPatch, machine: Any,
                                          target: str, attr: str, bug: Any) -> None:
    monkeypatch.setattr(f"{target}.{attr}", bug)
    with pytest.raises(AssertionError):
        run_state_machine_as_test(machine, settings=settings(
            lockstep_settings(max_examples=1000, steps=25), database=None,
            phases=[Phase.generate]))


def test_condition_lockstep_catches_a_cancel_that_forgets_the_skipped_release(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without the skip, the cancelled waiter's `async with` exit releases a lock nobody
    holds: the machine's release raises at once."""
    monkeypatch.setattr("refexec.locks._CondWait._drop", Wait._drop)
    with pytest.raises(RuntimeError, match="unlocked Lock"):
        run_state_machine_as_test(ConditionLockstep, settings=settings(
            lockstep_settings(max_examples=1000, steps=25), database=None,
            phases=[Phase.generate]))
