"""Interrupts inside the executor's code, with the model following (issue 12).

``refexec.testing.lockstep.sweep_interrupts`` runs short programs on the reference lockstep
machine with a ``KeyboardInterrupt`` at every line the loop thread executes outside a task's
code (the drive loop, the inbox drain and the transitions it applies, the reaping of lost
tasks, the decision to sleep or return, and a poll's own transition: the take, the count, the
send, filing the outcome, waking the awaiters of a task that finished) and between two
scripted effects of a task's poll, then ``run()`` again: after each interrupt the executor's
abstraction must equal a model state.
"""

from __future__ import annotations

import pytest
from core_support import ParkOnce
from hypothesis import Phase, settings
from hypothesis.stateful import run_state_machine_as_test
from refexec import Executor
from refexec.state import TaskState
from refexec.testing.interrupts import LineInterrupter, line_of
from refexec.testing.lockstep import INTERRUPT_PROGRAMS, INTERRUPT_SITES, sweep_interrupts
from refexec.testing.lockstep_settings import lockstep_settings
from refexec.testing.machines import reference_machine
from refexec.testing.script import Keep, PendingStep, ReadyStep, Script


def test_every_line_position_leaves_a_model_state() -> None:
    """Found by this sweep (each fails on the code before the fix; tests/injected_bugs.py
    has each as an ``interrupt`` bug): the wake of an IDLE task changed its state and its
    counters in two steps, so the drain put an applied wake back in the inbox; the drain put
    back a cancel that had already been applied; the adapter read lost tasks from the drive
    call's log, which an interrupt can cut before the last one is logged."""
    where: list[str] = []
    runs = sweep_interrupts(reference_machine(name="interrupt_sweep"), where=where)
    # every program is interrupted at many positions in both sites (not vacuous)
    assert runs > 50 * len(INTERRUPT_PROGRAMS) * len(INTERRUPT_SITES) // 2
    # issue 12: also at every line of a poll's own transition, from the take to the outcome
    # filed and the awaiters woken (found there: the repair put a task taken and not yet
    # polled back at the tail, and counted a poll never sent; an interrupt while the loop woke
    # a finished task's awaiters dropped them, reported lost)
    lines = {w.rsplit(" line ", 1)[1] for w in where if "Executor._run_ready" in w}
    transition = ("t = runner.current", "t._state = RUNNING; t._n = n",
                  "if y is not YIELD and y is not PENDING:", "t._state = IDLE",
                  "self._wake_waiters(x)")
    assert {str(line_of(Executor._run_ready, text)) for text in transition} <= lines
    assert any("Executor._wake_waiters" in w for w in where)


def test_an_interrupt_inside_a_poll_is_the_tasks_outcome_and_run_goes_on() -> None:
    machine = reference_machine(name="interrupt_in_poll")
    m = machine()
    m.setup(seed=0)
    try:
        m._spawn(Script(PendingStep(Keep(), Keep()), ReadyStep()))
        m._spawn(Script(ReadyStep()))
        m._run_impl(["drop"], [], {}, 0, interrupt_in=("poll", 2))  # between the two Keeps
        assert m.last_liner.where is not None
        h = m.world.handles[0]
        assert h.done() and isinstance(h.exception(), KeyboardInterrupt)
        assert m.can("run_start")  # the model's loop gave the thread back
        m._run_impl(["drop", "drop"], [], {}, 0)  # and run() runs the rest to the end
        assert m.world.handles[1].done()
    finally:
        m.teardown()




def test_an_interrupt_right_after_a_pending_poll_is_not_the_tasks_failure() -> None:
    """The first line after the send, inside its ``try``: the interrupt hit the loop, not the
    task (its coroutine is suspended, not finished). It used to fail the task with the
    interrupt, then to poll it once more; now (issue 12) its Pending is filed as the loop would
    have: IDLE, waiting for the waker it kept, its one poll counted once. (Found while placing
    this file's interrupts inside a poll's transition.)"""
    ex = Executor()
    fut = ParkOnce()
    h = ex.spawn(fut)
    li = LineInterrupter({Executor._run_ready.__code__}, 1,
                         line=line_of(Executor._run_ready, "if y is not YIELD and y is not"))
    with pytest.raises(KeyboardInterrupt), li:
        ex.run()
    assert li.where is not None
    ex.check_invariants()
    assert not h.done() and h.state is TaskState.IDLE and h.poll_count == 1
    fut.waker.wake()
    ex.run()
    assert h.done() and h.result() is None
    ex.check_invariants()


def test_the_drawn_rule_reaches_both_sites() -> None:
    """``run_interrupted_inside`` (drawn by Hypothesis among the other rules) lands its
    interrupt in the loop and inside polls, not only draws positions past the run's end."""
    machine = reference_machine(name="interrupt_rule")
    run_state_machine_as_test(machine, settings=settings(
        lockstep_settings(max_examples=150, steps=20), derandomize=True, database=None,
        phases=[Phase.generate]))
    assert machine.totals["interrupted:loop"] > 0
    assert machine.totals["interrupted:poll"] > 0
