"""Stall verdicts (refexec.stall): one test per verdict kind and per thing a task can wait on.

Every scenario is deterministic: the verdicts come from the executor's state after
``run_until_stalled()`` (nothing left that can run), never from a timer. Each test checks the
kind, what the task waits for, and the await chain down to the line it is suspended at.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from refexec import (
    Event,
    Executor,
    FutureBase,
    JoinHandle,
    Lock,
    Pending,
    Stalled,
    VirtualClock,
    channel,
    sleep,
    spawn,
    yield_now,
)
from refexec.examples import lossy_channel
from refexec.poll import Poll, Ready
from refexec.stall import AWAIT_CYCLE, LEGITIMATE_WAIT, LOST_WAKE, FrameInfo, Verdict
from refexec.waker import Context, Waker


def line_of(fn: Callable[..., Any], text: str) -> int:
    """The line of ``fn``'s source holding ``text`` (so the tests name lines, not numbers)."""
    lines, first = inspect.getsourcelines(fn)
    hits = [first + i for i, line in enumerate(lines) if text in line]
    assert len(hits) == 1, (text, hits)
    return hits[0]


def frame(fn: Callable[..., Any], text: str) -> FrameInfo:
    return FrameInfo(inspect.getsourcefile(fn) or "", line_of(fn, text), fn.__name__)


@pytest.fixture
def ex() -> Iterator[Executor]:
    e = Executor()
    yield e
    e.close()


def by_task(verdicts: tuple[Verdict, ...]) -> dict[int, Verdict]:
    return {v.task: v for v in verdicts}


# -- lost wake ---------------------------------------------------------------------------------


def test_lost_wake_names_the_poll_and_line_that_dropped_the_last_waker(ex: Executor) -> None:
    box = lossy_channel.LossyMailbox()

    async def receive() -> Any:
        return await box.get()  # suspended here

    first = ex.spawn(receive())
    ex.spawn(receive())  # its poll overwrites the slot: the first receiver's waker is dropped
    report = ex.run_until_stalled()
    assert report.lost == (first,)
    (v,) = report.verdicts
    assert (v.task, v.kind) == (first.id, LOST_WAKE)
    assert v.dropped_at is not None
    assert (v.dropped_at.by_task, v.dropped_at.poll) == (2, 1)
    assert v.dropped_at.where == frame(lossy_channel._LossyGet.poll, "box.waker = cx.waker")
    assert v.chain == (frame(receive, "# suspended here"),)
    assert "during poll 1 of task 2" in v.why
    message = str(first.exception())  # TaskLost names the step too
    assert f"Its last waker was dropped during poll 1 of task 2, at {v.dropped_at.where}" in (
        message)
    box.put("unblock")


def test_lost_wake_of_a_poll_that_kept_no_waker(ex: Executor) -> None:
    class Forgetful(FutureBase[None]):
        def poll(self, cx: Context) -> Poll[None]:
            return Pending

    async def task() -> None:
        await Forgetful()  # suspended here

    h = ex.spawn(task())
    report = ex.run()
    (v,) = report.verdicts
    assert (v.task, v.kind, v.dropped_at) == (h.id, LOST_WAKE, None)
    assert "poll 1 returned Pending without keeping a waker" in v.why
    assert v.chain == (frame(task, "# suspended here"),)


class Slot(FutureBase[str]):
    """A hand-written one-shot: Pending until ``set``; keeps the waiting task's waker."""

    def __init__(self) -> None:
        self.value: str | None = None
        self.waker: Waker | None = None

    def poll(self, cx: Context) -> Poll[str]:
        if self.value is not None:
            return Ready(self.value)
        self.waker = cx.waker.clone()
        return Pending

    def set(self, value: str) -> None:
        self.value = value
        if self.waker is not None:
            self.waker.wake()


def test_lost_wake_when_the_only_waker_is_kept_where_nobody_can_reach(ex: Executor) -> None:
    async def task() -> str:
        return await Slot()  # suspended here; only this task refers to the Slot

    h = ex.spawn(task())
    ex.run_until_stalled()
    (v,) = ex.diagnose()
    assert (v.task, v.kind) == (h.id, LOST_WAKE)
    assert ".Slot object, which" in v.why  # who keeps the waker
    assert "no other task, timer, I/O registration or thread can reach" in v.why
    assert v.chain == (frame(task, "# suspended here"),)


def test_the_same_waker_reachable_by_another_task_is_a_legitimate_wait(ex: Executor) -> None:
    slot = Slot()
    gate = Event()

    async def waiter() -> str:
        return await slot  # suspended here

    async def setter() -> None:
        await gate.wait()
        slot.set("done")

    w = ex.spawn(waiter())
    s = ex.spawn(setter())
    ex.run_until_stalled()
    verdicts = by_task(ex.diagnose())
    assert verdicts[w.id].kind == LEGITIMATE_WAIT
    assert f"task {s.id} (" in verdicts[w.id].why  # the setter can reach the Slot's waker
    assert verdicts[w.id].chain == (frame(waiter, "# suspended here"),)
    gate.set()
    ex.run()
    assert w.result() == "done"


# -- legitimate waits --------------------------------------------------------------------------


def test_legitimate_wait_on_an_awaited_task(ex: Executor) -> None:
    never = Event()

    async def child() -> None:
        await never.wait()  # child here

    async def parent(h: JoinHandle[None]) -> None:
        await h  # parent here

    c = ex.spawn(child())
    p = ex.spawn(parent(c))
    ex.run_until_stalled()
    verdicts = by_task(ex.diagnose())
    assert verdicts[p.id].kind == LEGITIMATE_WAIT
    assert verdicts[p.id].waits_for == (c.id,)
    assert f"it awaits task {c.id} (" in verdicts[p.id].why
    assert verdicts[p.id].chain == (frame(parent, "# parent here"),)
    assert verdicts[c.id].kind == LEGITIMATE_WAIT
    assert "a refexec Event that is not set" in verdicts[c.id].why
    assert "nobody will signal it" in verdicts[c.id].why
    assert verdicts[c.id].chain == (frame(child, "# child here"),)


def test_legitimate_wait_on_a_lock_names_the_task_holding_it(ex: Executor) -> None:
    lock = Lock()
    never = Event()

    async def holder() -> None:
        async with lock:
            await never.wait()  # holder here

    async def wants() -> None:
        async with lock:  # wants here
            pass

    h = ex.spawn(holder())
    w = ex.spawn(wants())
    ex.run_until_stalled()
    verdicts = by_task(ex.diagnose())
    assert verdicts[w.id].kind == LEGITIMATE_WAIT
    assert verdicts[w.id].waits_for == (h.id,)
    assert f"held by task {h.id}" in verdicts[w.id].why
    assert verdicts[w.id].chain == (frame(wants, "# wants here"),)
    never.set()
    ex.run()


def test_legitimate_wait_on_a_channel_whose_sender_is_alive(ex: Executor) -> None:
    tx, rx = channel()
    never = Event()

    async def consumer() -> Any:
        return await rx.recv()  # consumer here

    async def producer(out: Any) -> None:
        await never.wait()
        await out.send("late")

    c = ex.spawn(consumer())
    ex.spawn(producer(tx))
    del tx  # the producer's is the one live sender
    ex.run_until_stalled()
    v = by_task(ex.diagnose())[c.id]
    assert v.kind == LEGITIMATE_WAIT
    assert "a refexec channel with 1 live sender(s)" in v.why
    assert v.chain == (frame(consumer, "# consumer here"),)


def test_legitimate_wait_on_a_timer() -> None:
    ex = Executor(clock=VirtualClock())  # no autojump: the timer stays armed

    async def napper() -> None:
        await sleep(5)  # napper here

    h = ex.spawn(napper())
    ex.run_until_stalled()
    (v,) = ex.diagnose()
    assert (v.task, v.kind) == (h.id, LEGITIMATE_WAIT)
    assert "a timer holds its waker (deadline 5000000000 ns)" in v.why
    assert v.chain == (frame(napper, "# napper here"),)
    ex.close()


# -- await cycles ------------------------------------------------------------------------------


def test_await_cycle_of_join_handles(ex: Executor) -> None:
    handles: dict[str, JoinHandle[None]] = {}

    async def a() -> None:
        await yield_now()
        await handles["b"]  # a here

    async def b() -> None:
        await handles["a"]  # b here

    handles["a"] = ha = ex.spawn(a())
    handles["b"] = hb = ex.spawn(b())
    ex.run_until_stalled()
    verdicts = by_task(ex.diagnose())
    assert {v.kind for v in verdicts.values()} == {AWAIT_CYCLE}
    assert verdicts[ha.id].cycle == (ha.id, hb.id)
    assert verdicts[hb.id].cycle == (hb.id, ha.id)
    assert f"task {ha.id} awaits task {hb.id}; task {hb.id} awaits task {ha.id}" in (
        verdicts[ha.id].why)
    assert verdicts[ha.id].chain == (frame(a, "# a here"),)
    assert verdicts[hb.id].chain == (frame(b, "# b here"),)


def test_await_cycle_of_lock_order(ex: Executor) -> None:
    first, second = Lock(), Lock()

    async def transfer(x: Lock, y: Lock) -> None:
        async with x:
            await yield_now()
            async with y:  # second lock here
                pass

    t1 = ex.spawn(transfer(first, second))
    t2 = ex.spawn(transfer(second, first))
    ex.run_until_stalled()
    verdicts = by_task(ex.diagnose())
    assert verdicts[t1.id].kind == verdicts[t2.id].kind == AWAIT_CYCLE
    assert verdicts[t1.id].cycle == (t1.id, t2.id)
    assert f"task {t1.id} waits for a Lock held by task {t2.id}" in verdicts[t1.id].why
    assert verdicts[t1.id].chain == (frame(transfer, "# second lock here"),)


def test_a_chain_through_nested_coroutines_lists_every_frame(ex: Executor) -> None:
    never = Event()

    async def inner() -> None:
        await never.wait()  # inner here

    async def middle() -> None:
        await inner()  # middle here

    async def outer() -> None:
        await middle()  # outer here

    ex.spawn(outer())
    ex.run_until_stalled()
    (v,) = ex.diagnose()
    assert v.chain == (frame(outer, "# outer here"), frame(middle, "# middle here"),
                       frame(inner, "# inner here"))
    assert str(v).splitlines()[1:] == [f"    at {f}" for f in v.chain]


# -- where the verdicts appear -----------------------------------------------------------------


def test_stalled_carries_the_verdicts_and_prints_them(ex: Executor) -> None:
    handles: dict[str, JoinHandle[None]] = {}

    async def a() -> None:
        await handles["b"]  # stalled here

    async def b() -> None:
        await handles["a"]

    handles["a"] = ha = ex.spawn(a())
    handles["b"] = ex.spawn(spawn_free(b))
    # nothing can ever happen (a cycle), so the verdicts do not depend on the timeout's length
    with pytest.raises(Stalled) as info:
        ex.run(stall_timeout=0.01)
    assert {v.kind for v in info.value.verdicts} == {AWAIT_CYCLE}
    msg = str(info.value)
    assert f"task 1 ({ha.name}) IDLE with 1 live waker(s): await cycle: task 1 awaits task 2" in msg
    assert f"    at {frame(a, '# stalled here')}" in msg


async def spawn_free(fn: Callable[[], Any]) -> None:
    """Await ``fn()`` one frame down (the chain then has this frame too)."""
    await fn()


def test_diagnose_with_nothing_waiting_is_empty(ex: Executor) -> None:
    async def quick() -> int:
        return 1

    ex.spawn(quick())
    assert ex.diagnose() == ()
    ex.run()
    assert ex.diagnose() == ()


def test_diagnose_from_inside_a_task_sees_the_other_tasks(ex: Executor) -> None:
    never = Event()
    seen: list[tuple[Verdict, ...]] = []

    async def sleeper() -> None:
        await never.wait()

    async def doctor() -> None:
        await yield_now()
        seen.append(ex.diagnose())

    s = ex.spawn(sleeper())
    ex.spawn(doctor())
    ex.run_until_stalled()
    (v,) = seen[0]
    assert (v.task, v.kind) == (s.id, LEGITIMATE_WAIT)


def test_spawn_inside_does_not_confuse_the_awaited_task(ex: Executor) -> None:
    never = Event()

    async def child() -> None:
        await never.wait()

    async def parent() -> None:
        await spawn(child())

    p = ex.spawn(parent())
    ex.run_until_stalled()
    verdicts = by_task(ex.diagnose())
    assert verdicts[p.id].waits_for == (p.id + 1,)


def test_many_waiting_tasks_each_get_a_verdict(ex: Executor) -> None:
    never = Event()

    async def waiter() -> None:
        await never.wait()

    handles = [ex.spawn(waiter()) for _ in range(500)]
    ex.run_until_stalled()
    verdicts = ex.diagnose()
    assert [v.task for v in verdicts] == [h.id for h in handles]
    assert {v.kind for v in verdicts} == {LEGITIMATE_WAIT}
    never.set()
    ex.run()


def test_the_lock_holder_is_the_lock_owner_not_a_task_that_merely_refers_to_it(
        ex: Executor) -> None:
    """A bystander holds the lock in a local but never took it; inference from frames would
    name it too. The lock's owner (recorded when the holder's acquire completed) is exact."""
    lock = Lock()
    never = Event()

    async def holder() -> None:
        await lock.acquire()
        await never.wait()

    async def bystander(lk: Lock) -> None:
        await never.wait()
        lk.release()

    async def wants() -> None:
        async with lock:
            pass

    h = ex.spawn(holder())
    b = ex.spawn(bystander(lock))
    w = ex.spawn(wants())
    ex.run_until_stalled()
    assert lock.owner == h.id
    verdicts = by_task(ex.diagnose())
    assert verdicts[w.id].kind == LEGITIMATE_WAIT
    assert verdicts[w.id].waits_for == (h.id,)
    assert f"held by task {h.id}" in verdicts[w.id].why
    assert f"task {b.id}" not in verdicts[w.id].why


def test_lock_owner_follows_acquire_release_hand_off_and_condition_wait(ex: Executor) -> None:
    from refexec import Condition  # noqa: PLC0415

    lock = Lock()
    cond = Condition(lock)
    seen: list[tuple[str, int | None]] = []

    async def first() -> None:
        async with lock:
            seen.append(("first holds", lock.owner))
            await yield_now()
        seen.append(("first released", lock.owner))  # handed to second, not yet run

    async def second() -> None:
        async with cond:
            seen.append(("second holds", lock.owner))
            await cond.wait()
            seen.append(("second again", lock.owner))

    async def third() -> None:
        async with cond:
            seen.append(("third holds", lock.owner))
            cond.notify()

    a = ex.spawn(first())
    b = ex.spawn(second())
    c = ex.spawn(third())
    ex.run()
    assert seen == [("first holds", a.id), ("first released", None), ("second holds", b.id),
                    ("third holds", c.id), ("second again", b.id)]
    assert lock.owner is None and not lock.locked()
