"""Issue 12: the trace checker follows ``Executor.close()`` through the model's close actions.

A traced close() records ``close_start`` (the closed flag set, under the door's lock), the
messages it takes in (posted before the flag), one ``cancel`` per task it drops — the head of
the ready queue first, then the waiting tasks, a dropped task's join waiter woken and dropped in
turn — and ``close_end``; ``models/refinement.py`` (``CLOSE_EVENTS``) reads them as
``close_start``, ``close_drain``/``close_cancel_drain``, ``close_drop``, ``close_end``. A real run
is VALID; each doctored trace below is INVALID at the event that breaks close()'s contract.
"""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest
import refexec
from refexec import (
    Context,
    Executor,
    FutureBase,
    JoinHandle,
    Pending,
    Poll,
    Trace,
    TraceEvent,
    VirtualClock,
    Waker,
)
from refexec.cli import main
from refexec.models.trace_check import check_trace
from trace_support import invalid_at

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


class Park(FutureBase[None]):
    """Pending for ever, keeping a clone of its waker (another thread may wake or drop it)."""

    def __init__(self) -> None:
        self.waker: Waker | None = None

    def poll(self, cx: Context) -> Poll[None]:
        self.waker = cx.waker.clone()
        return Pending


async def _park(f: Park) -> None:
    await f


async def _nothing() -> None:
    pass


def closing_run() -> list[TraceEvent]:
    """close() with tasks IDLE (one awaited by another), SCHEDULED, and messages in the inbox
    that another thread posted before it: a wake, a spawn, a waker clone and drop."""
    tr = Trace()
    ex = Executor(trace=tr)
    p1, p2, p3 = Park(), Park(), Park()
    h1 = ex.spawn(_park(p1))
    ex.spawn(_park(p2))

    async def waiter() -> None:
        await h1

    ex.spawn(waiter())
    h4 = ex.spawn(_park(p3))
    ex.run_until_stalled()
    sp = ex.spawner()
    ex.spawn(_nothing())
    ex.spawn(_nothing())
    ex.run_until_stalled()  # the two run: COMPLETE
    ex.spawn(_nothing())
    ex.spawn(_nothing())  # SCHEDULED when close() begins

    def other() -> None:
        assert p2.waker is not None and p3.waker is not None
        p2.waker.wake()
        sp.spawn(_nothing())
        p3.waker.clone().drop()
        h4.cancel()  # no loop runs: applied at once, under the door's lock

    th = threading.Thread(target=other)
    th.start()
    th.join()
    ex.close()
    sp.close()
    return list(tr.events)


def test_a_real_close_with_waiting_scheduled_joined_and_posted_work_is_valid() -> None:
    events = closing_run()
    kinds = [e.event for e in events]
    assert "close_start" in kinds and kinds[-1] == "close_end"
    start = kinds.index("close_start")
    assert [e.detail for e in events[start + 1:start + 3]] == ["inbox", "inbox"]  # taken in
    r = check_trace(events)
    assert r.valid and r.complete, r.report()
    assert not r.violated(), r.report()


def _posted_run() -> list[TraceEvent]:
    """close() takes in a cancel another thread posted during a step()'s poll (the loop ran on
    this thread, so the cancel was posted; step() returned after that one poll)."""
    tr = Trace()
    ex = Executor(trace=tr)
    h1 = ex.spawn(_park(Park()))
    ex.spawn(_park(Park()))
    ex.run_until_stalled()

    async def canceller() -> None:
        th = threading.Thread(target=h1.cancel)
        th.start()
        th.join()

    ex.spawn(canceller())
    assert ex.step()
    ex.close()
    return list(tr.events)


def test_a_cancel_posted_from_another_thread_then_close_is_valid() -> None:
    events = _posted_run()
    start = _index(events, "close_start")
    assert events[start + 1] == TraceEvent("cancel", 1, 1, "inbox")  # taken in
    r = check_trace(events)
    assert r.valid, r.report()


def _index(events: list[TraceEvent], kind: str, task: int | None = None, nth: int = 0) -> int:
    hits = [i for i, e in enumerate(events)
            if e.event == kind and (task is None or e.task == task)]
    return hits[nth]


def _base() -> list[TraceEvent]:
    """A small real close: two queued tasks, one waiting task, one wake posted before it."""
    tr = Trace()
    ex = Executor(trace=tr)
    p = Park()
    ex.spawn(_park(p))
    ex.run_until_stalled()
    ex.spawn(_nothing())
    ex.spawn(_nothing())

    def other() -> None:
        assert p.waker is not None
        p.waker.clone().drop()

    th = threading.Thread(target=other)
    th.start()
    th.join()
    ex.close()
    events = list(tr.events)
    assert check_trace(events).valid, check_trace(events).report()
    return events


def test_doctored_drop_out_of_order_is_invalid() -> None:
    """The head of the ready queue first: task 3 cancelled before task 2 (queued ahead)."""
    ev = _base()
    i2, i3 = _index(ev, "cancel", 2), _index(ev, "cancel", 3)
    assert i2 < i3
    ev[i2], ev[i3] = ev[i3], ev[i2]
    invalid_at(ev, i2, "head of the ready queue")


def test_doctored_waiting_task_dropped_before_the_queued_ones_is_invalid() -> None:
    ev = _base()
    i1, i2, i3 = (_index(ev, "cancel", t) for t in (1, 2, 3))
    assert i2 < i3 < i1
    moved = ev.pop(i1)
    ev.insert(i3, moved)  # after 2, before 3: 1 is IDLE while 3 is queued
    invalid_at(ev, i3, "head of the ready queue")


def test_doctored_poll_after_close_began_is_invalid() -> None:
    ev = _base()
    at = _index(ev, "close_start") + 1
    ev.insert(at, TraceEvent("poll", 2, 1))
    invalid_at(ev, at, "")
    r = check_trace(ev)
    assert r.violation is not None and "CLOSING" in r.violation.state


def test_doctored_spawn_accepted_after_close_is_invalid() -> None:
    ev = _base()
    at = _index(ev, "cancel", 2) + 1  # after close() began cancelling: taken in too late
    ev.insert(at, TraceEvent("spawn", 9, 0, "inbox"))
    invalid_at(ev, at, "close() has cancelled a task already")
    ev2 = _base()
    at2 = _index(ev2, "close_start") + 1
    ev2.insert(at2, TraceEvent("spawn", 9, 0))  # a local spawn on a closed executor
    invalid_at(ev2, at2, "")
    ev3 = _base()
    ev3.append(TraceEvent("spawn", 9, 0, "inbox"))  # after close() returned
    invalid_at(ev3, len(ev3) - 1, "once close() returned")


def test_doctored_missing_drop_is_invalid() -> None:
    ev = _base()
    del ev[_index(ev, "cancel", 1)]
    invalid_at(ev, len(ev) - 1, "")  # close_end: task 1 is still IDLE
    r = check_trace(ev)
    assert r.violation is not None and r.violation.event.event == "close_end"


def test_doctored_message_taken_in_after_a_drop_is_invalid() -> None:
    ev = _base()
    drained = _index(ev, "waker_drop")
    assert ev[drained].detail == "inbox"
    wake = TraceEvent("wake_by_ref", 1, 1, "inbox")
    ev.insert(drained + 1, wake)  # fine before any drop ...
    assert check_trace(ev).valid, check_trace(ev).report()
    ev.remove(wake)
    at = _index(ev, "cancel", 2) + 1
    ev.insert(at, wake)  # ... not after one
    invalid_at(ev, at, "takes in its inbox before it cancels")


def test_an_interrupted_close_finished_by_the_next_is_valid_and_close_start_again_needs_it(
) -> None:
    ev = _base()
    at = _index(ev, "cancel", 2) + 1
    cut = [*ev[:at], TraceEvent("close_end", None, 0, "interrupted"),
           TraceEvent("close_start", None, 0, "again"), *ev[at:]]
    assert check_trace(cut).valid, check_trace(cut).report()
    assert not check_trace(ev[:at]).complete  # a trace cut inside close() is a prefix
    alone = [*ev[:_index(ev, "close_start")], TraceEvent("close_start", None, 0, "again")]
    invalid_at(alone, len(alone) - 1, "not CLOSING")


def test_close_with_a_timer_armed_an_io_wait_and_a_join_waiter_is_valid(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """close() drops a sleeping task (its timer cancelled and the timer's waker clone dropped,
    right after its cancel), the task awaiting it (woken, then dropped), a task waiting for a
    socket (its registration cancelled) and a queued one; saved to a file, `refexec
    check-trace` reads the close events and says VALID."""
    tr = Trace()
    ex = Executor(trace=tr, clock=VirtualClock())
    a, b = socket.socketpair()
    try:
        h = ex.spawn(_sleeper())
        ex.spawn(_await(h))

        async def reader() -> None:
            await refexec.wait_readable(a)

        ex.spawn(reader())
        ex.run_until_stalled()
        ex.spawn(_sleeper())
        ex.close()
    finally:
        a.close()
        b.close()
    kinds = [e.event for e in tr.events]
    assert {"timer_cancel", "io_cancel", "close_start", "close_end"} <= set(kinds)
    path = tmp_path / "close.jsonl"
    tr.dump(path)
    assert main(["check-trace", str(path)]) == 0
    assert "VALID" in capsys.readouterr().out
    # a message taken in after close() cancelled the sleeper (and its timer went with it)
    events = list(tr.events)
    at = _index(events, "timer_cancel") + 2  # after the timer's waker_drop
    assert events[at - 1].event == "waker_drop"
    events.insert(at, TraceEvent("spawn", 9, 0, "inbox"))
    invalid_at(events, at, "takes in its inbox before it cancels")


async def _sleeper() -> None:
    await refexec.sleep(10)


async def _await(h: JoinHandle[None]) -> None:
    await h
