"""Issue 10: each defect of the trace checker, as a test that failed on the old checker.

Real runs it rejected (lazy discards, strict adjacency, a poll number ahead of its ``poll``
event), a property violation it hid, a rejection message that named the wrong reading, wrong
runs it accepted (a lone ``run_end``, a cut trace taken for a complete run, no events), and
its scale (model size bounded by the tasks alive at once).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from refexec import (
    Context,
    Executor,
    FutureBase,
    Pending,
    Poll,
    Ready,
    SimpleExecutor,
    Trace,
    TraceEvent,
    Waker,
    yield_now,
)
from refexec.models.trace_check import TraceCheckError, check_trace


class HandOver(FutureBase[None]):
    """Ready at its first poll, after handing a clone of its waker to ``slot`` (and, with
    ``self_wake``, waking itself: a stale entry once it has finished)."""

    def __init__(self, slot: list[Waker], self_wake: bool = False) -> None:
        self.slot = slot
        self.self_wake = self_wake

    def poll(self, cx: Context) -> Poll[None]:
        self.slot.append(cx.waker.clone())
        if self.self_wake:
            cx.waker.wake_by_ref()
        return Ready(None)


def _wait_until(cond: Callable[[], bool]) -> None:
    """Wait for a state of the executor (never for a duration)."""
    ev = threading.Event()
    for _ in range(200_000):
        if cond():
            return
        ev.wait(0.0001)
    raise AssertionError("the executor never reached the awaited state")


def _settled(ex: SimpleExecutor, tid: int) -> bool:
    """Only the thread's clone references the finished task and the channel is empty."""
    snap = ex.snapshot()
    refs = {t.id: t.refs for t in snap.tasks}
    return not snap.queue and refs.get(tid) == 1


def _finished_task_woken_by_a_thread(wakes: int, self_wake: bool) -> Trace:
    tr = Trace()
    ex = SimpleExecutor(trace=tr)
    slot: list[Waker] = []
    tid = ex.spawn(HandOver(slot, self_wake))

    def other() -> None:
        _wait_until(lambda: _settled(ex, tid))
        w = slot.pop()
        for _ in range(wakes):
            w.wake_by_ref()
            _wait_until(lambda: _settled(ex, tid))  # the loop discarded the stale entry
        w.drop()

    th = threading.Thread(target=other)
    th.start()
    ex.run()
    th.join()
    return tr


def test_101_wakes_by_ref_of_a_finished_task_from_another_thread_are_valid() -> None:
    """recv() discards each stale entry as it comes (no event): the channel never holds more
    than one, so the 101st wake has room. The old checker discarded lazily (only before the
    next make_waker or run_end) and found the channel full at the 101st wake."""
    tr = _finished_task_woken_by_a_thread(101, self_wake=False)
    assert [e.event for e in tr].count("wake_by_ref") == 101
    r = check_trace(tr, "seed")
    assert r.ok, r.report()
    assert r.complete


def test_run_kept_open_by_a_finished_tasks_waker_is_reported() -> None:
    """The task woke itself and finished (a stale entry), and a thread holds its waker: run()
    waits on an empty channel kept open only by a finished task's waker, EX-SLEEP-SAFE. With
    the stale entry counted until run_end, the old checker never saw the channel empty."""
    tr = _finished_task_woken_by_a_thread(0, self_wake=True)
    r = check_trace(tr, "seed")
    assert r.ok, r.report()
    assert "EX-SLEEP-SAFE" in r.violated(), r.report()
    ready = next(i for i, e in enumerate(tr) if e.event == "ready")
    hit = next(p for p in r.properties if p.id == "EX-SLEEP-SAFE")
    assert hit.index >= ready


# Events of a real SimpleExecutor run: task 1 parks (its waker cloned and handed to another
# thread), task 2 yields once; the thread wakes task 1. What varies below is only *when* the
# thread's wake lands, as another schedule of the same run would record it.
_BEFORE = [
    TraceEvent("spawn", 1, 0), TraceEvent("spawn", 2, 0),
    TraceEvent("run_start", None, 0, "run"),
    TraceEvent("waker_clone", 1, 0, "make_waker"), TraceEvent("poll", 1, 1),
    TraceEvent("waker_clone", 1, 1), TraceEvent("pending", 1, 1), TraceEvent("waker_drop", 1, 1),
]
_TASK2 = [
    TraceEvent("waker_clone", 2, 0, "make_waker"), TraceEvent("poll", 2, 1),
    TraceEvent("wake_by_ref", 2, 1), TraceEvent("pending", 2, 1), TraceEvent("waker_drop", 2, 1),
]


def _last_polls(first: int, second: int) -> list[TraceEvent]:
    """Each task's last poll, in the order their entries reached the channel (FIFO)."""
    out = []
    for t in (first, second):
        out += [TraceEvent("waker_clone", t, 1, "make_waker"), TraceEvent("poll", t, 2),
                TraceEvent("ready", t, 2), TraceEvent("waker_drop", t, 2)]
    return [*out, TraceEvent("run_end", None, 0, "done")]


_THREAD_WAKE = TraceEvent("wake", 1, 1, "thread")


@pytest.mark.parametrize(("where", "label"), [
    (1, "between make_waker and poll"),
    (4, "between pending and the per-poll waker's drop"),
])
def test_another_threads_event_inside_the_loops_windows_is_valid(where: int, label: str) -> None:
    """The old checker demanded 'poll' right after make_waker and the per-poll waker's drop
    right after pending/ready; another thread can act in both windows."""
    task2 = [*_TASK2[:where], _THREAD_WAKE, *_TASK2[where:]]
    # task 2 wakes itself during its poll: the thread's wake of task 1 queues before or after
    after = _last_polls(1, 2) if where <= 2 else _last_polls(2, 1)
    events = [*_BEFORE, *task2, *after]
    r = check_trace(events, "seed")
    assert r.ok, f"{label}:\n{r.report()}"
    # the per-poll waker's drop still has to come before the loop's next event
    i = events.index(TraceEvent("waker_drop", 2, 1))
    r = check_trace(events[:i] + events[i + 1:], "seed")
    assert not r.ok
    assert r.violation is not None and "per-poll waker" in r.violation.reason


def test_poll_number_of_another_threads_event_is_never_ahead_of_its_poll() -> None:
    """SimpleExecutor used to set poll_count before it recorded 'poll': another thread's event
    recorded in between carried the new number first. The thread here wakes the task exactly
    in that window (it is started from inside the recording of 'poll')."""
    slot: list[Waker] = []
    done = threading.Event()

    class Hooked(Trace):
        armed = True

        def record(self, event: str, task: int | None, poll: int,
                   detail: str | None = None) -> None:
            if event == "poll" and poll == 2 and self.armed:
                self.armed = False
                th = threading.Thread(target=lambda: (slot[0].wake_by_ref(), done.set()))
                th.start()
                done.wait(0.5)  # the old code let it through now; the fixed one holds its lock
            super().record(event, task, poll, detail)

    class Twice(FutureBase[None]):
        def __init__(self) -> None:
            self.polls = 0

        def poll(self, cx: Context) -> Poll[None]:
            self.polls += 1
            if self.polls == 1:
                slot.append(cx.waker.clone())
                cx.waker.wake_by_ref()
                return Pending
            if self.polls == 2:
                return Pending
            slot.pop().drop()
            return Ready(None)

    tr = Hooked()
    ex = SimpleExecutor(trace=tr)
    ex.spawn(Twice())
    ex.run()
    events = list(tr)
    woke = next(i for i, e in enumerate(events) if e.detail == "thread")
    second = next(i for i, e in enumerate(events) if e.event == "poll" and e.poll == 2)
    assert events[woke].poll == (2 if woke > second else 1), events
    r = check_trace(events, "seed")
    assert r.ok, r.report()


def test_rejection_names_the_reading_of_another_threads_event_and_why() -> None:
    """A wake marked 'thread' is read only as another thread's send (remote=1); into a full
    channel it waits for room, so a trace showing it during the loop's poll is not a run. The
    old message named the remote=0 reading, whose guard (the loop's own thread) was beside the
    point."""
    events = [
        TraceEvent("spawn", 1, 0), TraceEvent("run_start", None, 0, "run"),
        TraceEvent("waker_clone", 1, 0, "make_waker"), TraceEvent("poll", 1, 1),
        TraceEvent("waker_clone", 1, 1), TraceEvent("spawn", 2, 0),
        TraceEvent("pending", 1, 1), TraceEvent("waker_drop", 1, 1),
        TraceEvent("waker_clone", 2, 0, "make_waker"), TraceEvent("poll", 2, 1),
        TraceEvent("wake_by_ref", 1, 1, "thread"), TraceEvent("wake_by_ref", 1, 1, "thread"),
    ]
    r = check_trace(events, "seed", capacity=1)
    assert r.violation is not None, r.report()
    assert r.violation.index == 11
    reason = r.violation.reason
    assert "remote=1" in reason and "remote=0" not in reason, reason
    assert "channel is full" in reason and "waits for room" in reason, reason


# ---------------------------------------------------------------------------------------------
# Wrong runs accepted (section 2: the part about runs and prefixes)
# ---------------------------------------------------------------------------------------------


def _hello(executor: str) -> list[TraceEvent]:
    tr = Trace()

    async def main() -> None:
        await yield_now()

    ex = Executor(trace=tr) if executor == "reference" else SimpleExecutor(trace=tr)
    ex.spawn(main())
    ex.run()
    return list(tr)


@pytest.mark.parametrize("variant", ["reference", "seed"])
def test_a_lone_run_end_is_invalid(variant: str) -> None:
    r = check_trace([TraceEvent("run_end", None, 0, "done")], variant)
    assert not r.ok and not r
    assert r.violation is not None and "no run_start" in r.violation.reason


@pytest.mark.parametrize("variant", ["reference", "seed"])
def test_a_cut_trace_is_a_valid_prefix_reported_incomplete(variant: str) -> None:
    events = _hello(variant)
    full = check_trace(events, variant)
    assert full.ok and full.complete and bool(full)
    assert "VALID" in full.report().splitlines()[0]
    for cut in range(events.index(TraceEvent("run_start", None, 0, "run")) + 1, len(events)):
        r = check_trace(events[:cut], variant)
        assert r.ok, r.report()  # every event of the prefix is a behaviour of the model
        assert not r.complete and not r
        head = r.report().splitlines()[0]
        assert "INCOMPLETE" in head and "VALID against" not in head, head


@pytest.mark.parametrize("variant", ["reference", "seed"])
def test_no_events_is_an_error(variant: str) -> None:
    with pytest.raises(TraceCheckError, match="no events"):
        check_trace([], variant)


# ---------------------------------------------------------------------------------------------
# Scale: the model is as large as the tasks alive at once; properties for any number of tasks
# ---------------------------------------------------------------------------------------------


def test_the_model_does_not_grow_with_the_tasks_ever_spawned() -> None:
    """400 one-yield tasks in batches of 10: the reference model keeps 16 task slots (10 alive
    at once, rounded up), and every property is evaluated (no task-count cut-off)."""
    tr = Trace()
    ex = Executor(trace=tr)

    async def one() -> None:
        await yield_now()

    for _ in range(40):
        for _ in range(10):
            ex.spawn(one())
        ex.run_until_stalled()
    ex.run()
    r = check_trace(tr, "reference")
    assert r.ok and r.complete, r.report()
    assert r.spawned == 400
    assert r.slots == 16
    assert not any("not evaluated" in n for n in r.notes)
    # the checker still sees properties on such traces: drop a wake and the poll is refused
    events = list(tr)
    i = max(i for i, e in enumerate(events) if e.event == "wake_by_ref")
    r2 = check_trace(events[:i] + events[i + 1:], "reference")
    assert not r2.ok


def test_the_seed_model_does_not_grow_with_the_tasks_ever_spawned() -> None:
    tr = Trace()
    ex = SimpleExecutor(trace=tr)

    async def spawner() -> None:
        for _ in range(300):
            ex.spawn(yield_now())
            await yield_now()

    ex.spawn(spawner())
    ex.run()
    r = check_trace(tr, "seed")
    assert r.ok and r.complete, r.report()
    assert r.spawned == 301
    assert r.slots <= 3, r.slots  # the most tasks alive at once


def test_check_trace_consumes_its_events_once_in_order() -> None:
    """A one-shot iterator (what a streaming reader hands over) is enough."""
    events = _hello("seed")
    seen: list[int] = []

    def stream() -> object:
        for i, e in enumerate(events):
            seen.append(i)
            yield e

    r = check_trace(stream(), "seed")  # type: ignore[arg-type]
    assert r.ok and r.complete
    assert seen == list(range(len(events)))
