"""The scheduling seam (refexec.schedule): policies choose, recorders record, replays replay.

Every test drives a real Executor under a policy and asserts on what the tasks logged, the
options the policy was offered, or the recorded schedule: same seed, same schedule.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

import pytest
import refexec
from refexec import Executor, TaskState, VirtualClock
from refexec.schedule import (
    PCT,
    WAIT,
    Fifo,
    Policy,
    RandomPolicy,
    Recorder,
    Replay,
    Schedule,
    ScheduleDivergence,
    StepLimit,
    independent,
    pct_bound,
)


def _program(log: list[str], tasks: int = 3, yields: int = 2) -> Any:
    async def worker(name: str) -> None:
        for i in range(yields):
            log.append(f"{name}{i}")
            await refexec.yield_now()
        log.append(f"{name}-end")

    async def main() -> None:
        hs = [refexec.spawn(worker(chr(ord("a") + k))) for k in range(tasks)]
        for h in hs:
            await h

    return main


def _run(policy: Policy | None, tasks: int = 3, yields: int = 2) -> list[str]:
    log: list[str] = []
    ex = Executor(policy=policy, clock=VirtualClock(autojump=True))
    try:
        ex.block_on(_program(log, tasks, yields)())
    finally:
        ex.close()
    return log


class Offered:
    """A policy that logs what it is offered and takes a fixed preference."""

    def __init__(self, prefer: str | None = None) -> None:
        self.offered: list[tuple[str, tuple[str, ...]]] = []
        self.prefer = prefer

    def choose(self, kind: str, options: Sequence[str]) -> int:
        self.offered.append((kind, tuple(options)))
        if self.prefer is not None:
            for i, lab in enumerate(options):
                if lab.startswith(self.prefer):
                    return i
        return 0


# -- schedules ----------------------------------------------------------------------------------


def test_schedule_string_round_trips() -> None:
    s = Schedule([(3, "t2"), (7, "d:wake:t1"), (9, "f:t1+t4")])
    assert str(s) == "3:t2,7:d:wake:t1,9:f:t1+t4"
    assert Schedule.parse(str(s)) == s
    assert s.deviations == 3
    assert str(Schedule()) == "fifo"
    assert Schedule.parse("fifo") == Schedule() == Schedule.parse("")
    assert s.without(1) == Schedule([(3, "t2"), (9, "f:t1+t4")])


@pytest.mark.parametrize("bad", ["3", "x:t1", "3:t1,2:t2", "3:t1,3:t2", "3:", "-1:t1"])
def test_schedule_parse_refuses_malformed_text(bad: str) -> None:
    with pytest.raises(ValueError, match="schedule"):
        Schedule.parse(bad)


# -- the seam -----------------------------------------------------------------------------------


def test_fifo_policy_polls_in_the_reference_order() -> None:
    assert _run(Fifo()) == _run(None)


def test_options_are_the_ready_tasks_in_queue_order() -> None:
    pol = Offered()
    _run(pol, tasks=2, yields=1)
    kinds = {k for k, _ in pol.offered}
    assert kinds == {"next"}
    # main spawns a and b, then awaits a: main, a, b are offered in queue order
    assert pol.offered[0][1] == ("t1",)
    assert pol.offered[1][1] == ("t2", "t3")


def test_policy_choice_decides_the_interleaving() -> None:
    class Last:
        def choose(self, kind: str, options: Sequence[str]) -> int:
            return len(options) - 1

    assert _run(Last(), tasks=2, yields=1) != _run(Fifo(), tasks=2, yields=1)
    assert _run(Last(), tasks=2, yields=1)[0] == "b0"


@pytest.mark.parametrize("bad", [lambda n: n, lambda n: -2, lambda n: 0.0, lambda n: True])
def test_policy_returning_a_bad_index_is_a_clear_error(bad: Any) -> None:
    class Bad:
        def choose(self, kind: str, options: Sequence[str]) -> int:
            return bad(len(options))  # type: ignore[no-any-return]

    with pytest.raises(ValueError, match="must return an index"):
        _run(Bad())


def test_executor_refuses_a_non_policy() -> None:
    with pytest.raises(TypeError, match="Policy"):
        Executor(policy=object())  # type: ignore[arg-type]


def test_no_policy_means_the_fifo_loop() -> None:
    assert Executor().policy is None
    pol = Fifo()
    assert Executor(policy=pol).policy is pol


# -- recording and replay -----------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_recorded_random_run_replays_exactly(seed: int) -> None:
    rec = Recorder(RandomPolicy(seed))
    log = _run(rec)
    again = Replay(rec.schedule)
    assert _run(again) == log
    again.finish()
    assert rec.steps > 0 and rec.tasks == 4


def test_same_seed_same_schedule_and_seeds_differ() -> None:
    def sched(seed: int) -> str:
        rec = Recorder(RandomPolicy(seed))
        _run(rec)
        return str(rec.schedule)

    assert sched(5) == sched(5)
    assert len({sched(s) for s in range(8)}) > 1


def test_fifo_records_the_empty_schedule() -> None:
    rec = Recorder(Fifo())
    _run(rec)
    assert str(rec.schedule) == "fifo"


def test_replay_of_a_missing_label_diverges_with_the_step() -> None:
    with pytest.raises(ScheduleDivergence, match=r"step 1: .*'t9'"):
        _run(Replay("1:t9"))


def test_lenient_replay_takes_fifo_where_the_label_is_missing() -> None:
    assert _run(Replay("1:t9", strict=False)) == _run(Fifo())


def test_replay_that_ends_early_diverges_at_finish() -> None:
    rp = Replay("500:t1")
    _run(rp)
    with pytest.raises(ScheduleDivergence, match="fewer steps"):
        rp.finish()


def test_index_labels_pick_modulo_the_options() -> None:
    rec = Recorder(Replay("1:#1"))
    log = _run(rec)
    assert str(rec.schedule) == "1:t3"
    assert _run(Replay("1:t3")) == log


def test_step_limit_ends_a_livelock() -> None:
    async def spin() -> None:
        while True:
            await refexec.yield_now()

    ex = Executor(policy=Recorder(Fifo(), max_steps=50))
    ex.spawn(spin())
    with pytest.raises(StepLimit, match="more than 50"):
        ex.run_until_stalled()
    ex.close()


# -- PCT ----------------------------------------------------------------------------------------


def test_pct_is_deterministic_per_seed() -> None:
    def sched(seed: int) -> str:
        rec = Recorder(PCT(seed, depth=3, max_steps_estimate=20))
        _run(rec)
        return str(rec.schedule)

    assert sched(1) == sched(1)
    assert len({sched(s) for s in range(10)}) > 2


def test_pct_depth_one_runs_each_task_to_its_end_in_priority_order() -> None:
    # No change point: the highest-priority ready task always runs, so once a worker starts it
    # finishes before a lower one runs (each worker's log is contiguous).
    for seed in range(5):
        log = _run(PCT(seed, depth=1))
        firsts = [e[0] for e in log]
        blocks = [c for i, c in enumerate(firsts) if i == 0 or firsts[i - 1] != c]
        assert len(blocks) == len(set(blocks)) == 3


def test_pct_refuses_bad_parameters() -> None:
    with pytest.raises(ValueError, match="depth"):
        PCT(0, depth=0)
    with pytest.raises(ValueError, match="max_steps_estimate"):
        PCT(0, depth=2, max_steps_estimate=0)


def test_pct_bound_is_one_over_n_k_to_the_d_minus_one() -> None:
    assert pct_bound(4, 10, 3) == pytest.approx(1 / 400)
    assert pct_bound(2, 50, 1) == pytest.approx(1 / 2)


# -- events: thread messages and timers --------------------------------------------------------


def _thread_wakes(target_waker: refexec.Waker) -> None:
    t = threading.Thread(target=target_waker.wake)
    t.start()
    t.join()


def _thread_program(log: list[str]) -> Any:
    """Task b is woken from another thread (posted and joined inside a's poll, so the message
    is in the inbox at a known point); then a yields three times."""
    box: dict[str, refexec.Waker] = {}

    class WaitForThread(refexec.FutureBase[None]):
        def __init__(self) -> None:
            self.woken = False

        def poll(self, cx: refexec.Context) -> refexec.Poll[None]:
            if self.woken:
                return refexec.Ready(None)
            self.woken = True
            box["w"] = cx.waker.clone()
            return refexec.Pending

    async def b() -> None:
        await WaitForThread()
        log.append("b")

    async def a() -> None:
        _thread_wakes(box.pop("w"))
        for i in range(3):
            log.append(f"a{i}")
            await refexec.yield_now()

    async def main() -> None:
        hb = refexec.spawn(b())
        await refexec.yield_now()
        ha = refexec.spawn(a())
        await ha
        await hb

    return main


def test_thread_wake_is_held_until_the_policy_delivers_it() -> None:
    log: list[str] = []
    fifo = Offered()
    ex = Executor(policy=fifo)
    ex.block_on(_thread_program(log)())
    ex.close()
    assert log == ["a0", "a1", "a2", "b"]  # FIFO delivers once no task is ready
    assert any(lab.startswith("d:wake:t") for _, opts in fifo.offered for lab in opts)

    log2: list[str] = []
    eager = Offered(prefer="d:")
    ex = Executor(policy=eager)
    ex.block_on(_thread_program(log2)())
    ex.close()
    # delivered at the first choice after the post, which makes b ready behind a
    assert log2 == ["a0", "a1", "b", "a2"]


def test_a_run_with_a_thread_replays() -> None:
    log: list[str] = []
    rec = Recorder(Offered(prefer="d:"))
    ex = Executor(policy=rec)
    ex.block_on(_thread_program(log)())
    ex.close()
    assert any(lab.startswith("d:") for _, lab in rec.schedule.entries)
    log2: list[str] = []
    rp = Replay(rec.schedule)
    ex = Executor(policy=rp)
    ex.block_on(_thread_program(log2)())
    ex.close()
    rp.finish()
    assert log2 == log


def test_replay_waits_for_a_message_the_schedule_delivers() -> None:
    """The schedule delivers a thread's wake at step 1; the thread posts it only after the loop
    is already waiting there: the replay waits for it instead of diverging."""
    seen: list[str] = []
    box: dict[str, refexec.Waker] = {}
    gate = threading.Event()

    class Wait(refexec.FutureBase[None]):
        done = False

        def poll(self, cx: refexec.Context) -> refexec.Poll[None]:
            if self.done:
                return refexec.Ready(None)
            self.done = True
            box["w"] = cx.waker.clone()
            gate.set()
            return refexec.Pending

    async def waiter() -> None:
        await Wait()
        seen.append("woken")

    async def spinner() -> None:
        for _ in range(3):
            await refexec.yield_now()
        seen.append("spun")

    def poster() -> None:
        gate.wait()
        while not ex._sleeping:  # post only once the loop waits for it (a state, not a timer)
            time.sleep(0.001)
        box["w"].wake()

    class Waits(Replay):
        waited = 0

        def choose(self, kind: str, options: Sequence[str]) -> int:
            i = super().choose(kind, options)
            if i == WAIT:
                Waits.waited += 1
            return i

    rp = Waits("2:d:wake:t1")
    ex = Executor(policy=rp)
    th = threading.Thread(target=poster)
    th.start()
    ex.spawn(waiter())
    ex.spawn(spinner())
    ex.run()
    ex.close()
    th.join()
    rp.finish()
    assert seen == ["woken", "spun"]
    assert Waits.waited == 1


def test_due_timers_are_an_option_labelled_with_their_tasks() -> None:
    log: list[str] = []
    clock = VirtualClock()

    async def sleeper() -> None:
        await refexec.sleep(1)
        log.append("slept")

    async def busy() -> None:
        clock.advance(1)  # the sleeper's timer is due while this task is still ready
        for i in range(3):
            log.append(f"busy{i}")
            await refexec.yield_now()

    pol = Offered()
    ex = Executor(policy=pol, clock=clock)
    ex.spawn(sleeper())
    ex.spawn(busy())
    ex.run()
    ex.close()
    fire = [opts for _, opts in pol.offered if "f:t1" in opts]
    # while the timer is due, firing it is option 0 (what the FIFO loop does before its next
    # poll: EX-TIMER-PROMPT), and polling busy first is an option too (the model's policy
    # 'any'); taking option 0, the sleeper, woken, is queued behind busy
    assert fire == [("f:t1", "t2")]
    assert log == ["busy0", "busy1", "slept", "busy2"]


def test_a_self_waking_task_cannot_starve_a_due_timer_under_a_policy() -> None:
    """Under the FIFO policy (option 0 always) a due timer fires before the next poll: when
    the spinner, which made the sleeper's timer due, is polled again, the sleeper is already
    woken (not IDLE). Under a random policy the fire is one option among the polls each time,
    so it comes within a few polls, never starved."""
    for pol in (Fifo(), Offered(), RandomPolicy(3)):
        clock = VirtualClock()
        seen: list[TaskState | None] = []

        async def spinner(h: refexec.JoinHandle[None], clock: VirtualClock,
                          seen: list[TaskState | None]) -> None:
            clock.advance(1)  # the sleeper's timer is due from now on
            while not h.done() and len(seen) < 1000:
                await refexec.yield_now()
                seen.append(h.state)

        ex = Executor(policy=pol, clock=clock)
        sleeper = ex.spawn(refexec.sleep(1))
        ex.spawn(spinner(sleeper, clock, seen))
        ex.run()
        ex.close()
        assert sleeper.done() and len(seen) < 1000, (pol, len(seen))
        if not isinstance(pol, RandomPolicy):
            assert seen[0] is not TaskState.IDLE, (pol, seen[:3])


def test_virtual_clock_jumps_under_a_policy_even_in_run_until_stalled() -> None:
    async def nap() -> float:
        await refexec.sleep(3600)
        return refexec.now()

    clock = VirtualClock(autojump=True)
    ex = Executor(policy=Fifo(), clock=clock)
    h = ex.spawn(nap())
    ex.run_until_stalled()
    assert h.result() == 3600.0
    ex.close()


# -- independence -------------------------------------------------------------------------------


def test_independence_of_pure_events_and_polls() -> None:
    assert independent("d:wake:t3", "t4")
    assert not independent("d:wake:t3", "t3")
    assert independent("f:t1+t2", "t3")
    assert not independent("f:t1+t2", "t2")
    assert independent("d:wake:t3", "f:t3")
    assert not independent("t1", "t2")  # user code may share anything
    assert not independent("d!spawn", "t1")
    assert not independent("d!cancel:t3", "t4")
    assert not independent("f!", "t1")
    assert not independent("t1", "t1")


# -- every drive entry honours the policy --------------------------------------------------------


def test_step_asks_the_policy_which_task_to_poll() -> None:
    log: list[str] = []

    async def worker(name: str) -> None:
        log.append(name)

    for policy, first in ((None, "a"), (Fifo(), "a"), (Replay("0:t2"), "b")):
        log.clear()
        rec = Recorder(policy) if policy is not None else None
        ex = Executor(policy=rec)
        ex.spawn(worker("a"))
        ex.spawn(worker("b"))
        assert ex.step()
        assert log == [first]
        assert ex.step() and not ex.step()
        assert log == ["a", "b"] if first == "a" else ["b", "a"]
        if rec is not None:
            assert rec.steps == 2  # both polls were decisions of the policy
            assert str(rec.schedule) == ("0:t2" if first == "b" else "fifo")
        ex.close()


def test_step_under_a_policy_delivers_a_thread_message_only_when_chosen() -> None:
    """A wake from another thread is held, offered as an option, and applied by step() only
    if the policy picks it; step() goes on deciding until it has polled a task."""
    box: list[Any] = []
    polls: list[str] = []

    class Wait(refexec.FutureBase[None]):
        def poll(self, cx: refexec.Context) -> refexec.Poll[None]:
            if box and box[0] == "woken":
                return refexec.Ready(None)
            box[:] = [cx.waker.clone()]
            return refexec.Pending

    async def sleeper() -> None:
        polls.append("sleeper")
        await Wait()
        polls.append("sleeper-again")

    async def busy() -> None:
        polls.append("busy")
        await refexec.yield_now()
        polls.append("busy-again")

    pol = Offered(prefer="d:")
    ex = Executor(policy=pol)
    ex.spawn(sleeper())
    ex.spawn(busy())
    assert ex.step() and ex.step()  # sleeper parks (its waker held), busy yields
    waker = box[0]

    def other_thread() -> None:
        box[:] = ["woken"]
        waker.wake()

    t = threading.Thread(target=other_thread)
    t.start()
    t.join()
    assert ex.step()  # the policy takes the message first, then polls the woken sleeper
    assert pol.offered[-2][1] == ("t2", "d:wake:t1")
    assert pol.offered[-1][1] == ("t2", "t1")
    assert polls == ["sleeper", "busy", "busy-again"]  # Offered took t2 once d: was gone
    assert ex.step()
    assert polls[-1] == "sleeper-again"
    assert not ex.step()
    ex.close()


def test_run_until_stalled_asks_the_policy() -> None:
    log: list[str] = []
    ex = Executor(policy=Replay("1:t3"), clock=VirtualClock(autojump=True))
    ex.spawn(_program(log, tasks=2, yields=1)())
    ex.run_until_stalled()
    assert log[0] == "b0"
    ex.close()


# -- timers as choice points ---------------------------------------------------------------------


def _two_sleepers(out: list[str] | None = None) -> Any:
    async def main() -> None:
        log = out if out is not None else []  # a fresh log per run when none is given

        async def sleeper(name: str) -> None:
            await refexec.sleep(1)
            log.append(name)

        a = refexec.spawn(sleeper("a"))
        b = refexec.spawn(sleeper("b"))
        await a
        await b
        refexec.always(log == ["a", "b"], "a's timer, armed first, fires first")

    return main


def test_each_due_timer_is_an_option_after_fire_everything() -> None:
    log: list[str] = []
    pol = Offered()
    ex = Executor(policy=pol, clock=VirtualClock(autojump=True))
    ex.block_on(_two_sleepers(log)())
    ex.close()
    assert ("next", ("f:t2+t3", "f:t2", "f:t3")) in pol.offered
    assert log == ["a", "b"]  # option 0, FIFO's: both fire, in deadline (then arming) order


def test_which_due_timer_fires_first_is_a_recorded_choice() -> None:
    """Firing b's timer alone lets b run before a's timer has fired: a schedule the FIFO loop
    never takes, found by exploration, recorded, replayed, and explained by the model
    (reference-any: a poll while a timer is due is the policy's choice)."""
    log: list[str] = []
    ex = Executor(policy=Replay("3:f:t3"), clock=VirtualClock(autojump=True))
    with pytest.raises(AssertionError, match="fires first"):
        ex.block_on(_two_sleepers(log)())
    ex.close()
    assert log == ["b", "a"]
    from refexec.explore import explore, replay  # noqa: PLC0415

    for strategy in ("random", "pct", "dfs"):
        report = explore(_two_sleepers(), strategy=strategy, seed=0, max_schedules=50,
                         check_model=True)
        f = report.failure
        assert f is not None and f.kind == "always", report
        res = replay(_two_sleepers(), f.schedule, check=False, check_model=True)
        assert res.failure is not None and res.failure.kind == "always"
    tr = refexec.Trace()
    replay(_two_sleepers(), "3:f:t3", check=False, trace=tr)
    fires = [e.task for e in tr.events if e.event == "timer_fire"]
    assert fires == [3, 2]


def test_closing_with_a_fired_timeout_not_yet_delivered_closes_the_task() -> None:
    """A policy may fire a timeout's timer and end the run (a pruned DFS branch) before the
    task's next poll, which would throw TimeoutError into it: close() then closes the task's
    coroutine through the stand-in that holds it (it used to fail: no ``cr_frame``)."""
    clock = VirtualClock()
    cleaned: list[str] = []

    async def waits() -> None:
        try:
            async with refexec.timeout(1):
                await refexec.Event().wait()
        finally:
            cleaned.append("finally")

    ex = Executor(policy=Fifo(), clock=clock)
    ex.spawn(waits())
    ex.run_until_stalled()
    clock.advance(1)
    assert ex._driver.fire_due() == 1  # fired; the throw waits for the task's next poll
    ex.close()
    assert cleaned == ["finally"]


# -- I/O readiness as choice points --------------------------------------------------------------


def _two_readers(out: list[str] | None = None) -> Any:
    """Two tasks each wait for their own socket; main makes both readable at once (it writes
    to both, a program talking to itself: ready at the same steps in every run)."""
    import socket  # noqa: PLC0415

    async def main() -> None:
        log = out if out is not None else []
        pairs = [socket.socketpair() for _ in range(2)]
        for a, b in pairs:
            a.setblocking(False)
            b.setblocking(False)
        try:
            async def reader(name: str, sock: socket.socket) -> None:
                await refexec.wait_readable(sock)
                log.append(name)

            x = refexec.spawn(reader("a", pairs[0][0]))
            y = refexec.spawn(reader("b", pairs[1][0]))
            await refexec.yield_now()  # both registered
            pairs[0][1].send(b"1")
            pairs[1][1].send(b"1")
            await x
            await y
            refexec.always(log == ["a", "b"], "a, whose data went first, reads first")
        finally:
            for a, b in pairs:
                a.close()
                b.close()

    return main


def test_several_ready_fds_are_options_and_the_order_is_a_recorded_choice() -> None:
    log: list[str] = []
    pol = Offered()
    ex = Executor(policy=pol, clock=VirtualClock(autojump=True))
    ex.block_on(_two_readers(log)())
    ex.close()
    assert ("next", ("r:t2+t3", "r:t2", "r:t3")) in pol.offered
    assert log == ["a", "b"]  # option 0, FIFO's: both reported, in task order
    step = next(i for i, (_k, o) in enumerate(pol.offered) if o[:1] == ("r:t2+t3",))

    log.clear()
    ex = Executor(policy=Replay(f"{step}:r:t3"), clock=VirtualClock(autojump=True))
    with pytest.raises(AssertionError, match="reads first"):
        ex.block_on(_two_readers(log)())
    ex.close()
    assert log == ["b", "a"]

    from refexec.explore import explore  # noqa: PLC0415

    for strategy in ("random", "dfs"):
        report = explore(_two_readers(), strategy=strategy, max_schedules=50)
        assert report.failure is not None and report.failure.kind == "always", report


def test_independence_of_io_labels() -> None:
    assert independent("r:t2", "t3")
    assert not independent("r:t2", "t2")
    assert not independent("r:t2+t3.w", "t3")
    assert independent("r:t2", "f:t3")
