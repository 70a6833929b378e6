"""Cross-thread wakes, clones, drops, spawns and cancels, with real threads.

Synchronisation is by joins and events; the only timeouts are safety nets (a test that would
otherwise hang fails instead) and ``stall_timeout`` itself.
"""

from __future__ import annotations

import gc
import threading
from typing import Any

import pytest
from core_support import Slot
from refexec import Executor, JoinHandle, Stalled, TaskState, Trace, Waker, block_on, yield_now

SAFETY = 10.0  # seconds; never reached unless a wake is lost


async def _await(f: Any) -> Any:
    return await f


class ThreadSlot(Slot):
    """A Slot that also announces (through an Event) that it stored its waker."""

    def __init__(self) -> None:
        super().__init__()
        self.stored = threading.Event()

    def poll(self, cx: Any) -> Any:
        p = super().poll(cx)
        self.stored.set()
        return p


def test_cross_thread_wake_while_loop_sleeps_is_not_lost() -> None:
    ex = Executor()
    s = ThreadSlot()
    h = ex.spawn(_await(s))
    sleeping = threading.Event()

    def waker_thread() -> None:
        assert s.stored.wait(SAFETY)
        # wait until the loop is really asleep on its condition, then wake
        while not ex.snapshot().sleeping:
            sleeping.wait(0.001)
        s.set("from thread")

    t = threading.Thread(target=waker_thread)
    t.start()
    ex.run(stall_timeout=SAFETY)
    t.join()
    assert h.result() == "from thread" and h.poll_count == 2
    ex.check_invariants()


@pytest.mark.parametrize("round_", range(50))
def test_cross_thread_wake_racing_the_loops_decision_to_sleep_is_not_lost(round_: int) -> None:
    """The thread wakes as soon as the waker exists: before, during or after the loop's
    check-then-sleep. Whatever the interleaving, the task is polled again and run() returns."""
    ex = Executor()
    s = ThreadSlot()
    h = ex.spawn(_await(s))
    t = threading.Thread(target=lambda: (s.stored.wait(SAFETY), s.set(round_)))
    t.start()
    ex.run(stall_timeout=SAFETY)
    t.join()
    assert h.result() == round_
    assert ex.stats.tasks_lost == 0


def test_many_threads_waking_many_tasks_lose_nothing() -> None:
    ex = Executor()
    n = 40
    slots = [ThreadSlot() for _ in range(n)]
    hs = [ex.spawn(_await(s)) for s in slots]
    threads = [
        threading.Thread(target=lambda s=s, i=i: (s.stored.wait(SAFETY), s.set(i)))
        for i, s in enumerate(slots)
    ]
    for t in threads:
        t.start()
    ex.run(stall_timeout=SAFETY)
    for t in threads:
        t.join()
    assert [h.result() for h in hs] == list(range(n))
    ex.check_invariants()


def test_clone_and_drop_from_another_thread_never_reach_zero_spuriously() -> None:
    """A thread clones its waker and drops the original, many times: the count goes up before
    it goes down (messages in order), so the task is never reaped as lost meanwhile."""
    tr = Trace()
    ex = Executor(trace=tr)
    s = ThreadSlot()
    h = ex.spawn(_await(s))
    ex.run_until_stalled()
    assert s.waker is not None
    w: Waker = s.waker
    s.waker = None
    done = threading.Event()

    def juggle() -> None:
        nonlocal w
        for _ in range(200):
            w2 = w.clone()
            w.drop()
            w = w2
        w.wake()
        done.set()

    t = threading.Thread(target=juggle)
    t.start()
    s.is_set = True
    ex.run(stall_timeout=SAFETY)
    t.join()
    assert done.is_set() and h.done() and not h.cancelled()
    assert ex.stats.tasks_lost == 0
    kinds = tr.kinds(h.id)
    assert kinds.count("waker_clone") == 201 and kinds.count("waker_drop") == 200


def test_waker_dropped_on_another_thread_lets_run_report_the_task_lost() -> None:
    ex = Executor()
    s = ThreadSlot()
    h = ex.spawn(_await(s))
    released = threading.Event()

    def drop_it() -> None:
        assert s.stored.wait(SAFETY)
        s.waker = None  # freed here: the drop is posted from this thread
        gc.collect()
        released.set()

    t = threading.Thread(target=drop_it)
    t.start()
    report = ex.run(stall_timeout=SAFETY)
    t.join()
    assert report.lost == (h,)


def test_stall_timeout_raises_stalled_listing_waiting_tasks_and_run_resumes() -> None:
    ex = Executor()
    s = Slot()
    h = ex.spawn(_await(s))
    # the waker lives (in s), so the loop would wait for a wake from "another thread"
    with pytest.raises(Stalled, match=r"task 1 .*IDLE with 1 live waker") as info:
        ex.run(stall_timeout=0.05)
    assert info.value.tasks == (h,)
    assert h.state is TaskState.IDLE
    ex.check_invariants()
    t = threading.Timer(0.01, s.set, args=("late",))
    t.start()
    ex.run(stall_timeout=SAFETY)
    t.join()
    assert h.result() == "late"


def test_spawner_keeps_run_open_until_closed() -> None:
    ex = Executor()
    sp = ex.spawner()
    results: list[JoinHandle[Any]] = []
    started = threading.Event()

    async def job(i: int) -> int:
        return i * i

    def producer() -> None:
        started.wait(SAFETY)
        with sp:
            for i in range(10):
                results.append(sp.spawn(job(i)))

    t = threading.Thread(target=producer)
    t.start()
    started.set()
    ex.run(stall_timeout=SAFETY)
    t.join()
    assert [h.result() for h in results] == [i * i for i in range(10)]
    assert sorted(h.id for h in results) == list(range(1, 11))
    assert ex.snapshot().spawners == 0
    with pytest.raises(RuntimeError, match="closed Spawner"):
        sp.spawn(job(0))


def test_spawner_used_on_the_loop_thread_spawns_directly() -> None:
    ex = Executor()
    sp = ex.spawner()

    async def child() -> int:
        return 1

    async def parent() -> int:
        with sp:  # closing it inside the task lets run() return afterwards
            h = sp.spawn(child())
        assert h.state is TaskState.SCHEDULED  # no inbox round trip on the loop thread
        return await h

    h = ex.spawn(parent())
    ex.run(stall_timeout=SAFETY)
    assert h.result() == 1


def test_cancel_from_another_thread_is_applied_by_the_loop() -> None:
    ex = Executor()
    s = ThreadSlot()
    h = ex.spawn(_await(s))

    def cancel_it() -> None:
        assert s.stored.wait(SAFETY)
        assert h.cancel()

    t = threading.Thread(target=cancel_it)
    t.start()
    report = ex.run(stall_timeout=SAFETY)
    t.join()
    assert h.cancelled() and not report.lost


def test_standalone_block_on_parks_until_another_thread_wakes_it() -> None:
    s = ThreadSlot()
    t = threading.Thread(target=lambda: (s.stored.wait(SAFETY), s.set("woken")))
    t.start()
    assert block_on(_await(s), stall_timeout=SAFETY) == "woken"
    t.join()


def test_spawn_on_a_running_executor_from_another_thread_is_refused() -> None:
    ex = Executor()
    s = ThreadSlot()
    errors: list[BaseException] = []

    async def job() -> None:
        pass

    def intruder() -> None:
        assert s.stored.wait(SAFETY)
        coro = job()
        try:
            ex.spawn(coro)
        except RuntimeError as e:
            errors.append(e)
        s.set()

    ex.spawn(_await(s))
    t = threading.Thread(target=intruder)
    t.start()
    ex.run(stall_timeout=SAFETY)
    t.join()
    assert len(errors) == 1 and "spawner()" in str(errors[0])


def test_second_thread_cannot_run_a_running_executor() -> None:
    ex = Executor()
    s = ThreadSlot()
    errors: list[BaseException] = []

    def second() -> None:
        assert s.stored.wait(SAFETY)
        try:
            ex.run()
        except RuntimeError as e:
            errors.append(e)
        s.set()

    ex.spawn(_await(s))
    t = threading.Thread(target=second)
    t.start()
    ex.run(stall_timeout=SAFETY)
    t.join()
    assert len(errors) == 1 and "already running" in str(errors[0])


# --------------------------------------------------------------------------------------------
# The door under the controlled scheduler (refexec.testing.threads_control): every interleaving
# within a preemption bound, deterministically, and a failure names the schedule that replays it.


def _wake_scenario(ctl: Any) -> None:
    from refexec.testing.threads_control import control_door  # noqa: PLC0415

    ex = control_door(Executor())
    s = Slot()
    h = ex.spawn(_await(s))
    with ctl.attached("loop"):
        ctl.start("waker", lambda: s.set("woken"))
        ex.run()  # no timeout: a lost wake is a deadlock of the managed threads, at once
    assert h.result() == "woken" and h.poll_count in (1, 2)  # set before or after a poll
    ex.check_invariants()


def test_controlled_cross_thread_wake_is_never_lost_in_any_interleaving() -> None:
    from refexec.testing.threads_control import explore  # noqa: PLC0415

    done = explore(_wake_scenario, preemptions=2, random_runs=20, pct_runs=20)
    assert done.complete and done.exhaustive > 5 and done.max_choices > 3


def test_controlled_exploration_finds_a_flag_read_outside_the_lock_and_replays_it() -> None:
    import sys  # noqa: PLC0415
    from pathlib import Path  # noqa: PLC0415

    from refexec.testing.threads_control import InterleavingFailure, explore  # noqa: PLC0415

    sys.path.insert(0, str(Path(__file__).parent))
    from injected_bugs import injected  # noqa: PLC0415

    with injected("post-flag-outside-lock"):
        with pytest.raises(InterleavingFailure) as info:
            explore(_wake_scenario, preemptions=2)
        schedule = str(info.value.schedule)
        assert schedule != "fifo"  # it takes a preemption: the FIFO interleaving passes
        assert "ControlledDeadlock" in str(info.value)
        with pytest.raises(InterleavingFailure, match="replayed"):
            explore(_wake_scenario, replay=schedule)
    explore(_wake_scenario, replay=schedule)  # the same interleaving, correct executor: passes


def test_controller_deadlock_and_timeouts_are_states_not_times() -> None:
    from refexec.testing.threads_control import (  # noqa: PLC0415
        ControlledCondition,
        ControlledDeadlock,
        ControlledRLock,
        Controller,
    )

    lock = ControlledRLock()
    cond = ControlledCondition(lock)
    ctl = Controller()
    with ctl.attached("main"), lock:
        assert cond.wait(timeout=3600.0) is False  # nobody else: it times out at once
    with pytest.raises(ControlledDeadlock, match=r"cond\.wait"):
        with Controller().attached("main"), lock:
            cond.wait()  # no timeout and nobody to notify: a deadlock, reported


def test_an_executor_not_under_test_keeps_its_plain_door() -> None:
    ex = Executor()
    assert type(ex) is Executor and type(ex._lock) is type(threading.RLock())


def test_controller_unwinds_a_thread_that_can_never_finish() -> None:
    """A managed thread blocked for ever when the section ends is unwound (not leaked) and
    the deadlock is reported, naming what it waited for."""
    from refexec.testing.threads_control import ControlledDeadlock, Controller  # noqa: PLC0415

    ctl = Controller()
    unwound: list[bool] = []

    def stuck() -> None:
        try:
            ctl.block_until(lambda: False, "nothing")
        finally:
            unwound.append(True)

    with pytest.raises(ControlledDeadlock, match="nothing"):
        with ctl.attached("main"):
            ctl.start("stuck", stuck)
    assert unwound == [True]


def test_controlled_executor_refuses_a_task_transition_on_another_thread() -> None:
    """The controlled scheduler's reduction rests on the executor's invariant that other
    threads touch only the door while a loop runs: the controlled executor checks it, so a
    transition run on another thread (here a cancel applied there, not posted) is a failure,
    not a race left to chance."""
    from refexec.testing.threads_control import (  # noqa: PLC0415
        ControlledDeadlock,
        Controller,
        ThreadOwnershipError,
        control_door,
    )

    ex = control_door(Executor())
    s = Slot()
    h = ex.spawn(_await(s))
    ctl = Controller()
    # the other thread dies of it; the loop then waits for a wake it would have sent
    with pytest.raises(ControlledDeadlock, match=rf"died: {ThreadOwnershipError.__name__}: "
                       r"thread ownership: Executor\._cancel"):
        with ctl.attached("loop"):
            ctl.start("other", lambda: (ctl.block_until(lambda: h.poll_count > 0, "poll"),
                                        ex._cancel(h), s.set(1)))
            ex.run()


def test_controlled_rounds_drain_the_inbox_between_rounds_of_a_busy_task() -> None:
    """``control_door(ex, round=2)``: a task that is ready for ever does not keep another
    thread's wake waiting: the inbox is drained after every 2 polls."""
    from refexec.testing.threads_control import Controller, control_door  # noqa: PLC0415

    class WakerFirst:
        """Run the waker thread whenever it can run (a preemption at its first chance)."""

        def choose(self, kind: str, options: Any) -> int:
            return list(options).index("thread:waker") if "thread:waker" in options else 0

    ex = control_door(Executor(), round=2)
    s = Slot()
    waiter = ex.spawn(_await(s))
    busy_polls: list[int] = []

    async def busy() -> None:
        for i in range(8):
            busy_polls.append(i)
            await yield_now()
            if waiter.done():
                return

    b = ex.spawn(busy())
    ctl = Controller(WakerFirst())  # type: ignore[arg-type]
    with ctl.attached("loop"):
        ctl.start("waker", lambda: (ctl.block_until(lambda: waiter.poll_count > 0, "poll"),
                                    s.set("woken")))
        ex.run()
    assert waiter.result() == "woken" and b.done()
    # the wake was posted while the busy task ran; it was taken in within one round
    assert len(busy_polls) <= 4


def _cancel_while_run_enters(ctl: Any) -> None:
    """Another thread cancels an IDLE task (whose ``finally`` drops a waker: a door operation,
    so a switch point) while the loop thread enters ``run()``."""
    from refexec.testing.threads_control import control_door  # noqa: PLC0415

    ex = control_door(Executor())
    kept = Slot()
    victim_slot = Slot()

    async def victim() -> None:
        try:
            await victim_slot
        finally:
            w, victim_slot.waker = victim_slot.waker, None
            if w is not None:
                w.drop()

    async def joiner(h: JoinHandle[None]) -> str:
        try:
            await h
        except BaseException as e:  # Cancelled: what the joiner sees
            kept.set()
            return type(e).__name__
        return "finished"

    h = ex.spawn(victim())
    j = ex.spawn(joiner(h))
    ex.run_until_stalled()
    with ctl.attached("loop"):
        ctl.start("canceller", h.cancel)
        ex.run()
    assert h.cancelled() and j.result() == "Cancelled"
    ex.check_invariants()


def test_a_cancel_from_another_thread_while_no_loop_runs_never_overlaps_a_loop() -> None:
    """``JoinHandle.cancel()`` from a thread that is not the loop's, made while no loop runs,
    applies the cancel at once; a ``run()`` entering on another thread meanwhile must not run
    the loop beside it (the old code applied it with no lock: the loop started while the
    cancel was half done, and the task transitions ran on two threads at once -- caught by the
    controlled executor's thread-ownership check). Found by the door exploration (issue 12)."""
    from refexec.testing.threads_control import explore  # noqa: PLC0415

    assert explore(_cancel_while_run_enters, preemptions=2).complete
