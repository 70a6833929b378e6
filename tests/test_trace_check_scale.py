"""check-trace at scale, by verdicts (issue 10 §4): many tasks alive at once, and long traces
whose events mostly come from the whole-event memo (where a wrong event must still be caught).

No timing is asserted; the throughput figures are in benchmarks/trace_check.py.
"""

from __future__ import annotations

from refexec import Executor, SimpleExecutor, Trace, TraceEvent, yield_now
from refexec.models.trace_check import check_trace


def _many_alive(alive: int, yields: int) -> list[TraceEvent]:
    async def work() -> None:
        for _ in range(yields):
            await yield_now()

    tr = Trace()
    ex = Executor(trace=tr)
    for _ in range(alive):
        ex.spawn(work())
    ex.run()
    return list(tr)


def test_many_tasks_alive_at_once_get_a_verdict_with_every_property_evaluated() -> None:
    """40 tasks alive at once: the model grows to 64 slots and every property (EX-FIFO and
    EX-QUEUE-EXACT among them, whose formulas read the whole queue for every task) is
    evaluated on every state the trace reaches."""
    events = _many_alive(40, 1)
    r = check_trace(events)
    assert r, r.report()
    assert r.slots == 64
    assert r.spawned == 40
    assert r.violated() == []


def test_a_wrong_poll_among_many_alive_tasks_is_caught() -> None:
    events = _many_alive(40, 1)
    i = max(k for k, e in enumerate(events) if e.event == "poll")
    e = events[i]
    events[i] = TraceEvent("poll", e.task, e.poll + 1, e.detail)
    r = check_trace(events)
    assert not r.ok
    assert r.violation is not None and r.violation.index == i, r.report()


def _seed_steady(tasks: int) -> list[TraceEvent]:
    """A SimpleExecutor run keeping at most 16 tasks alive: a feeder task spawns batches."""
    tr = Trace()
    sx = SimpleExecutor(trace=tr)

    async def work() -> None:
        await yield_now()

    async def feeder() -> None:
        left = tasks
        while left:
            k = min(15, left)
            for _ in range(k):
                sx.spawn(work())
            left -= k
            for _ in range(2):
                await yield_now()

    sx.spawn(feeder())
    sx.run()
    return list(tr)


def test_seed_memo_hits_still_catch_a_wrong_event_late_in_a_long_trace() -> None:
    """Most events of a steady seed trace come from the memo, in its renamed form (no per-task
    views rebuilt); an event made wrong deep inside such a run is still the one rejected, and
    checking the same trace again (every event a memo hit) gives the same verdicts."""
    events = _seed_steady(600)
    assert len(events) > 5000
    for _ in range(2):
        r = check_trace(events, "seed")
        assert r, r.report()
        assert r.spawned == 601
    polls = [k for k, e in enumerate(events) if e.event == "poll"]
    i = polls[len(polls) * 3 // 4]
    e = events[i]
    bad = [*events[:i], TraceEvent("poll", e.task, e.poll + 1, e.detail), *events[i + 1:]]
    r = check_trace(bad, "seed")
    assert not r.ok
    assert r.violation is not None and r.violation.index == i, r.report()
    # a task id never spawned, late in the run
    j = polls[len(polls) * 2 // 3] + 1
    e = events[j]
    ghost = [*events[:j], TraceEvent(e.event, 10**6, e.poll, e.detail), *events[j + 1:]]
    r = check_trace(ghost, "seed")
    assert not r.ok
    assert r.violation is not None and r.violation.index == j, r.report()
