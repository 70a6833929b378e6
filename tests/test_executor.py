"""The reference Executor: the task state machine, counters, traces, join handles, cancel."""

from __future__ import annotations

import gc
from typing import Any

import pytest
import refexec
from core_support import Forgetful, Slot, WakeSelf
from refexec import (
    TRANSITIONS,
    Cancelled,
    Executor,
    JoinHandle,
    TaskEvent,
    TaskLost,
    TaskState,
    Trace,
    block_on,
    yield_now,
)

S = TaskState


def run_checked(ex: Executor) -> None:
    """Drive by single steps, checking every invariant after each (a checker's view)."""
    ex.check_invariants()
    while ex.step():
        ex.check_invariants()
    ex.run_until_stalled()
    ex.check_invariants()


def assert_trace_follows_transitions(tr: Trace) -> None:
    """Every task event in the trace is a row of state.TRANSITIONS, replayed from spawn."""
    state: dict[int, TaskState | None] = {}
    names = {e.value: e for e in TaskEvent}
    for ev in tr:
        if ev.task is None or (ev.event not in names and ev.event != "wake_by_ref"):
            continue  # executor-wide events, and waker_clone/waker_drop (no state change)
        event = TaskEvent.WAKE if ev.event == "wake_by_ref" else names[ev.event]
        state[ev.task] = TRANSITIONS[(state.get(ev.task), event)]


# -- counting rules -------------------------------------------------------------------------------


def test_wake_during_poll_repolls_once() -> None:
    tr = Trace()
    ex = Executor(trace=tr)
    f = WakeSelf(times=3)
    h = ex.spawn(_await(f))
    run_checked(ex)
    assert h.result() == "done"
    assert h.poll_count == 2 and f.polls == 2
    st = ex.stats
    assert st.wakes == 3 and st.wakes_during_poll == 3 and st.wakes_enqueued == 0
    assert tr.kinds(h.id) == [
        "spawn", "poll", "wake_by_ref", "wake_by_ref", "wake_by_ref", "pending", "poll", "ready"
    ]
    assert_trace_follows_transitions(tr)


async def _await(f: Any) -> Any:
    return await f


def test_wake_of_scheduled_task_is_merged() -> None:
    s = Slot()
    ex = Executor()
    waiter = ex.spawn(_await(s))
    ex.run_until_stalled()
    assert waiter.state is S.IDLE
    w = s.waker
    assert w is not None
    ex.step()  # nothing ready: applies nothing, polls nothing
    clone = ex.spawn(_wake_twice(w))  # wakes the IDLE task, then wakes it again while queued
    ex.step()
    snap = ex.snapshot()
    assert snap.ready == (waiter.id,)  # queued once
    assert ex.stats.wakes_enqueued == 1 and ex.stats.wakes_merged == 1
    s.is_set = True
    ex.run()
    assert waiter.done() and clone.done()
    ex.check_invariants()


async def _wake_twice(w: refexec.Waker) -> None:
    w.wake_by_ref()
    w.wake_by_ref()


def test_wake_of_complete_task_is_ignored() -> None:
    kept: list[refexec.Waker] = []

    class Keep(refexec.FutureBase[None]):
        def poll(self, cx: refexec.Context) -> refexec.Poll[None]:
            kept.append(cx.waker.clone())
            return refexec.Ready(None)

    tr = Trace()
    ex = Executor(trace=tr)
    h = ex.spawn(_await(Keep()))
    ex.run()  # the kept waker of a finished task does not keep run() open
    assert h.done()

    async def waker_user() -> None:
        kept[0].wake_by_ref()
        kept[0].wake()

    ex.run_until_stalled()
    ex.spawn(waker_user())
    ex.run()
    assert h.poll_count == 1
    assert ex.stats.wakes_ignored == 2
    assert tr.kinds(h.id)[-2:] == ["wake_by_ref", "wake"]
    assert_trace_follows_transitions(tr)


def test_each_task_is_queued_at_most_once_under_many_wakes() -> None:
    slots = [Slot() for _ in range(3)]
    ex = Executor()
    hs = [ex.spawn(_await(s)) for s in slots]
    ex.run_until_stalled()
    wakers = [s.waker for s in slots]

    async def storm() -> None:
        for _ in range(5):
            for w in wakers:
                assert w is not None
                w.wake_by_ref()
        ex.check_invariants()

    ex.spawn(storm())
    ex.step()
    assert ex.snapshot().ready == tuple(h.id for h in hs)
    ex.check_invariants()
    for s in slots:
        s.is_set = True
    ex.run()
    assert all(h.done() for h in hs)
    assert ex.stats.wakes_merged == 12


def test_tasks_are_polled_in_fifo_order() -> None:
    order: list[int] = []

    async def t(i: int) -> None:
        order.append(i)
        await yield_now()
        order.append(i)

    ex = Executor()
    for i in range(4):
        ex.spawn(t(i))
    ex.run()
    assert order == [0, 1, 2, 3, 0, 1, 2, 3]


def test_step_polls_exactly_one_task() -> None:
    ex = Executor()
    a = ex.spawn(_yield_times(2))
    b = ex.spawn(_yield_times(2))
    assert ex.step()
    assert (a.poll_count, b.poll_count) == (1, 0)
    assert ex.snapshot().ready == (b.id, a.id)
    ex.check_invariants()
    while ex.step():
        ex.check_invariants()
    assert a.result() == b.result() == 2
    assert not ex.step()


async def _yield_times(n: int) -> int:
    for _ in range(n):
        await yield_now()
    return n


def test_poll_count_equals_number_of_polls() -> None:
    tr = Trace()
    ex = Executor(trace=tr)
    hs = [ex.spawn(_yield_times(i)) for i in range(5)]
    ex.run()
    for h in hs:
        assert h.poll_count == h.result() + 1 == tr.kinds(h.id).count("poll")
    assert ex.stats.polls == sum(h.poll_count for h in hs)


def test_run_until_stalled_leaves_waiting_tasks_idle() -> None:
    s = Slot()
    ex = Executor()
    h = ex.spawn(_await(s))
    report = ex.run_until_stalled()
    assert h.state is S.IDLE and report.polls == 1 and not report.lost
    snap = ex.snapshot()
    assert snap.task(h.id).wakers == 1 and snap.ready == () and not snap.running
    s.set("x")
    ex.run()
    assert h.result() == "x"


# -- lost tasks -----------------------------------------------------------------------------------


def test_task_nobody_can_wake_is_reported_lost() -> None:
    tr = Trace()
    ex = Executor(trace=tr)
    lost = ex.spawn(_await(Forgetful()))
    fine = ex.spawn(_yield_times(1))
    report = ex.run()
    assert report.lost == (lost,) and report.tasks_lost == 1
    assert lost.state is S.CANCELLED and fine.result() == 1
    with pytest.raises(TaskLost, match="every waker for it was dropped"):
        lost.result()
    assert isinstance(lost.exception(), TaskLost)
    assert tr.kinds(lost.id) == ["spawn", "poll", "pending", "lost"]
    assert ex.stats.tasks_lost == 1
    assert_trace_follows_transitions(tr)
    ex.check_invariants()


def test_lost_task_runs_its_finally_block() -> None:
    cleaned: list[bool] = []

    async def main() -> None:
        try:
            await Forgetful()
        finally:
            cleaned.append(True)

    ex = Executor()
    ex.spawn(main())
    ex.run()
    assert cleaned == [True]


def test_awaiter_of_a_lost_task_gets_task_lost() -> None:
    async def waits_for(h: JoinHandle[None]) -> str:
        try:
            await h
        except TaskLost:
            return "saw it"
        return "no"

    ex = Executor()
    lost = ex.spawn(_await(Forgetful()))
    w = ex.spawn(waits_for(lost))
    report = ex.run()
    assert report.lost == (lost,) and w.result() == "saw it"


def test_dropping_the_only_waker_makes_the_task_lost() -> None:
    s = Slot()
    ex = Executor()
    h = ex.spawn(_await(s))
    ex.run_until_stalled()
    assert h.state is S.IDLE
    s.waker = None  # freed by Python: the handle ends (posted, as no loop runs)
    assert ex.snapshot().inbox == 1
    report = ex.run()
    assert report.lost == (h,)


def test_block_on_a_task_that_gets_lost_raises_task_lost() -> None:
    with pytest.raises(TaskLost):
        block_on(_await(Forgetful()))


# -- join handles and exceptions ------------------------------------------------------------------


def test_join_handle_is_awaitable_and_reports_the_result() -> None:
    async def child() -> int:
        await yield_now()
        return 7

    async def parent() -> int:
        h = refexec.spawn(child())
        assert not h.done()
        return await h + 1

    assert block_on(parent()) == 8


def test_a_raising_task_completes_with_its_exception_and_others_go_on() -> None:
    async def boom() -> None:
        await yield_now()
        raise ValueError("boom")

    ex = Executor()
    bad = ex.spawn(boom())
    good = ex.spawn(_yield_times(3))
    ex.run()
    assert good.result() == 3
    assert bad.state is S.COMPLETE
    assert isinstance(bad.exception(), ValueError)
    with pytest.raises(ValueError, match="boom"):
        bad.result()
    assert ex.stats.failed == 1 and ex.stats.completed == 2
    ex.check_invariants()


def test_exception_propagates_to_awaiting_task() -> None:
    async def boom() -> None:
        raise KeyError("k")

    async def parent() -> str:
        try:
            await refexec.spawn(boom())
        except KeyError:
            return "caught"
        return "no"

    assert block_on(parent()) == "caught"


def test_unretrieved_exception_warns_when_the_handle_is_freed() -> None:
    async def boom() -> None:
        raise ValueError("nobody looks")

    ex = Executor()
    h = ex.spawn(boom())
    ex.run()
    with pytest.warns(RuntimeWarning, match=r"task 1 \(.*boom\) raised ValueError"):
        del h
        gc.collect()


def test_unretrieved_exception_warns_at_close() -> None:
    async def boom() -> None:
        raise ValueError("nobody looks")

    ex = Executor()
    h = ex.spawn(boom())
    ex.run()
    with pytest.warns(RuntimeWarning, match="nobody retrieved"):
        ex.close()
    del h
    gc.collect()  # reported once only: no second warning (filterwarnings=error would fail)


def test_retrieved_exception_does_not_warn() -> None:
    async def boom() -> None:
        raise ValueError("seen")

    ex = Executor()
    h = ex.spawn(boom())
    ex.run()
    assert isinstance(h.exception(), ValueError)
    del h
    gc.collect()
    ex.close()


def test_keyboard_interrupt_propagates_and_run_resumes() -> None:
    async def interrupt() -> None:
        await yield_now()
        raise KeyboardInterrupt

    ex = Executor()
    other = ex.spawn(_yield_times(3))
    ki = ex.spawn(interrupt())
    with pytest.raises(KeyboardInterrupt):
        ex.run()
    ex.check_invariants()
    assert ki.done() and not other.done()
    ex.run()
    assert other.result() == 3
    ex.check_invariants()


def test_result_of_unfinished_task_raises() -> None:
    ex = Executor()
    h = ex.spawn(_yield_times(1))
    with pytest.raises(RuntimeError, match="has not finished"):
        h.result()
    with pytest.raises(RuntimeError, match="has not finished"):
        h.exception()
    ex.run()


# -- cancellation ---------------------------------------------------------------------------------


def test_cancel_scheduled_task_removes_it_from_the_queue() -> None:
    tr = Trace()
    ex = Executor(trace=tr)
    a = ex.spawn(_yield_times(1))
    b = ex.spawn(_yield_times(1))
    assert a.cancel()
    assert ex.snapshot().ready == (b.id,)
    ex.check_invariants()
    ex.run()
    assert a.poll_count == 0 and a.cancelled()
    with pytest.raises(Cancelled, match="task 1"):
        a.result()
    assert not a.cancel()  # already finished
    assert ex.stats.cancelled == 1
    assert_trace_follows_transitions(tr)


def test_cancel_idle_task_runs_finally_and_wakes_awaiters() -> None:
    log: list[str] = []
    s = Slot()

    async def victim() -> None:
        try:
            await s
        finally:
            log.append("finally")

    async def watcher(h: JoinHandle[None]) -> str:
        try:
            await h
        except Cancelled:
            return "cancelled"
        return "no"

    ex = Executor()
    v = ex.spawn(victim())
    w = ex.spawn(watcher(v))
    ex.run_until_stalled()
    assert v.state is S.IDLE
    v.cancel()
    assert log == ["finally"] and v.state is S.CANCELLED
    ex.run()
    assert w.result() == "cancelled"


def test_cancel_during_poll_is_deferred_until_pending() -> None:
    tr = Trace()
    ex = Executor(trace=tr)
    s = Slot()
    holder: list[JoinHandle[Any]] = []

    async def self_cancelling() -> None:
        holder[0].cancel()
        assert ex.snapshot().task(holder[0].id).cancel_requested
        await s  # Pending: now the cancel applies

    holder.append(ex.spawn(self_cancelling()))
    ex.run()
    h = holder[0]
    assert h.cancelled() and h.poll_count == 1
    assert tr.kinds(h.id) == ["spawn", "poll", "waker_clone", "pending", "cancel"]
    assert_trace_follows_transitions(tr)


def test_cancel_during_poll_that_returns_ready_keeps_the_result() -> None:
    holder: list[JoinHandle[Any]] = []

    async def finishes() -> str:
        assert holder[0].cancel()
        return "result stands"

    ex = Executor()
    holder.append(ex.spawn(finishes()))
    ex.run()
    assert holder[0].result() == "result stands"
    assert ex.stats.cancelled == 0


def test_cancel_of_notified_task_is_applied_after_the_poll() -> None:
    holder: list[JoinHandle[Any]] = []

    async def yields_after_cancel() -> None:
        holder[0].cancel()
        await yield_now()  # NOTIFIED -> SCHEDULED, then the cancel applies

    ex = Executor()
    holder.append(ex.spawn(yields_after_cancel()))
    ex.run()
    assert holder[0].cancelled() and holder[0].poll_count == 1
    ex.check_invariants()


def test_close_cancels_unfinished_tasks_and_refuses_spawns() -> None:
    s = Slot()
    ex = Executor()
    idle = ex.spawn(_await(s))
    ex.run_until_stalled()
    queued = ex.spawn(_yield_times(1))
    ex.close()
    assert idle.cancelled() and queued.cancelled()
    coro = _yield_times(1)
    with pytest.raises(RuntimeError, match="closed"):
        ex.spawn(coro)
    ex.close()  # idempotent


# -- block_on -------------------------------------------------------------------------------------


def test_block_on_returns_the_output_and_drives_other_tasks() -> None:
    ex = Executor()
    other = ex.spawn(_yield_times(2))
    assert ex.block_on(_yield_times(5)) == 5
    assert other.done()


def test_block_on_raises_the_exception() -> None:
    async def boom() -> None:
        raise ArithmeticError("x")

    with pytest.raises(ArithmeticError):
        Executor().block_on(boom())


def test_block_on_returns_when_its_task_is_done_leaving_others() -> None:
    s = Slot()
    ex = Executor()
    waiting = ex.spawn(_await(s))
    assert ex.block_on(_yield_times(1)) == 1
    assert waiting.state is S.IDLE
    s.set(1)
    ex.run()
    assert waiting.result() == 1


def test_block_on_of_own_join_handle() -> None:
    ex = Executor()
    h = ex.spawn(_yield_times(2))
    assert ex.block_on(h) == 2


def test_block_on_of_a_finished_handle_returns_without_polling_the_others() -> None:
    # EX-BLOCK-ON-RETURN: block_on() returns once its target is final; it used to run a
    # whole round (up to 256 polls) of the other ready tasks first
    ex = Executor()
    h = ex.spawn(_yield_times(0))
    busy = ex.spawn(_yield_times(1000))
    assert ex.step()  # h completes; busy is still queued, never polled
    assert ex.block_on(h) == 0
    assert busy.poll_count == 0
    assert ex.stats.polls == 1
    ex.close()
    assert busy.cancelled()


def test_standalone_block_on_cancels_leftovers() -> None:
    s = Slot()
    left: list[JoinHandle[Any]] = []

    async def main() -> str:
        left.append(refexec.spawn(_await(s)))
        await yield_now()
        return "main"

    assert block_on(main()) == "main"
    assert left[0].cancelled()


# -- traces, stats, snapshots, invariants ---------------------------------------------------------


def test_trace_round_trips_through_json_lines(tmp_path: Any) -> None:
    tr = Trace()
    ex = Executor(trace=tr)
    ex.spawn(_yield_times(1))
    ex.spawn(_await(Forgetful()))
    ex.run()
    path = tmp_path / "t.jsonl"
    tr.dump(path)
    back = Trace.load(path)
    assert back.events == tr.events
    assert back.header == tr.header
    header, first = path.read_text().splitlines()[:2]
    assert header.startswith('{"format": "refexec-trace", "version": 1, ')
    assert first == '{"event": "spawn", "task": 1, "poll": 0}'
    assert tr.kinds()[2] == "run_start" and tr.kinds()[-1] == "run_end"
    with pytest.raises(ValueError, match="unknown trace event"):
        Trace.from_jsonl('{"event": "teleport", "task": 1, "poll": 0}')


def test_trace_of_a_waiting_task_shows_waker_clone_and_wake() -> None:
    tr = Trace()
    ex = Executor(trace=tr)
    s = Slot()
    h = ex.spawn(_await(s))

    async def setter() -> None:
        s.set(1)

    ex.run_until_stalled()
    ex.spawn(setter())
    ex.run()
    assert tr.kinds(h.id) == ["spawn", "poll", "waker_clone", "pending", "wake", "poll", "ready"]
    assert [e.poll for e in tr.of_task(h.id)] == [0, 1, 1, 1, 1, 2, 2]
    assert_trace_follows_transitions(tr)


def test_no_trace_means_no_events_recorded() -> None:
    ex = Executor()
    ex.spawn(_yield_times(2))
    ex.run()
    assert ex.trace is None


def test_snapshot_is_an_immutable_view() -> None:
    s = Slot()
    ex = Executor()
    a = ex.spawn(_await(s))
    b = ex.spawn(_yield_times(1))
    ex.step()
    snap = ex.snapshot()
    assert snap.ready == (b.id,)
    assert [(t.id, t.state, t.poll_count, t.wakers) for t in snap.tasks] == [
        (a.id, S.IDLE, 1, 1),
        (b.id, S.SCHEDULED, 0, 0),
    ]
    assert (snap.running, snap.sleeping, snap.spawners, snap.inbox, snap.closed) == (
        False, False, 0, 0, False
    )
    with pytest.raises(AttributeError):
        snap.ready = ()  # type: ignore[misc]
    s.set()
    ex.run()


def test_check_invariants_detects_a_corrupted_queue() -> None:
    ex = Executor()
    h = ex.spawn(_yield_times(1))
    ex.check_invariants()
    ex._ready.append(h)  # a second queue entry: exactly what the design forbids
    with pytest.raises(AssertionError, match="queued twice"):
        ex.check_invariants()
    ex._ready.pop()
    h._wakers = -1
    with pytest.raises(AssertionError, match="live wakers"):
        ex.check_invariants()
    h._wakers = 0
    ex._c.completed += 1
    with pytest.raises(AssertionError, match="spawned"):
        ex.check_invariants()
    ex._c.completed -= 1
    ex.run()


def test_run_report_counts_this_run_only() -> None:
    ex = Executor()
    ex.spawn(_yield_times(1))
    r1 = ex.run()
    ex.spawn(_yield_times(2))
    r2 = ex.run()
    assert (r1.polls, r2.polls) == (2, 3)
    assert r2.stats.polls == 5 and r2.stats.spawned == 2 and r2.this_run.completed == 1


def test_close_cancels_a_task_whose_awaited_task_it_cancels_first() -> None:
    """Found by the lockstep machine: dropping an awaited task wakes its waiter during close()."""

    async def child() -> None:
        await refexec.Event().wait()

    async def parent(h: refexec.JoinHandle[None]) -> None:
        await h

    ex = refexec.Executor()
    c = ex.spawn(child())
    p = ex.spawn(parent(c))
    assert ex.step() and ex.step()  # both IDLE now: parent awaits child
    ex.close()
    assert c.cancelled() and p.cancelled()
    assert ex.stats.cancelled == 2
    ex.check_invariants()
