"""Issue 12: the lockstep machine follows ``Executor.close()`` through the model, step by step.

The controlled adapter logs close()'s own steps as they happen (``close_start`` as the flag is
set under the door's lock, each task it cancels, ``close_end``) among another thread's wakes,
cancels, drops and spawns, at every controlled point inside close(); the model fires them
action by action (``refexec.models.refinement.CLOSE_EVENTS``). An interrupt at any line of
close() followed by close() again is followed the same way.
"""

from __future__ import annotations

import pytest
from refexec.schedule import Fifo
from refexec.testing.lockstep import (
    CLOSE_INTERRUPT_PROGRAMS,
    DOOR_PROGRAMS,
    explore_door,
    sweep_close_interrupts,
)
from refexec.testing.machines import reference_machine
from refexec.testing.threads_control import Controller

CLOSE_PROGRAMS = {k: v for k, v in DOOR_PROGRAMS.items() if k.startswith("close()")}


def _history(program: str) -> list[str]:
    m = reference_machine(name="close_history")()
    try:
        m.setup(seed=0)
        DOOR_PROGRAMS[program](m, Controller(Fifo()))
        return list(m.o.history)
    finally:
        m.teardown()


def test_the_model_takes_each_close_step_in_order() -> None:
    """Queued task 2 first, then waiting task 0, whose drop wakes task 1 (awaiting it), which
    is dropped in turn; then the other thread's wake of a closed executor's task."""
    h = _history("close() of queued, waiting and joined tasks while another thread wakes and "
                 "cancels")
    start = h.index("close_start()")
    assert h[start:start + 5] == ["close_start()", "close_drop(t=2)", "close_drop(t=0)",
                                  "close_drop(t=1)", "close_end()"]
    assert "closed_wake(t=0)" in h[start + 5:]


def test_two_queued_tasks_are_dropped_head_first() -> None:
    h = _history("close() of two queued tasks and a waiting one while another thread wakes")
    start = h.index("close_start()")
    assert h[start + 1:start + 4] == ["close_drop(t=1)", "close_drop(t=2)", "close_drop(t=0)"]


def test_a_spawn_refused_by_a_closed_executor_is_no_model_action() -> None:
    h = _history("close() while another thread wakes and spawns")
    end = h.index("close_end()")
    assert "-" in h[end:]  # the other thread's spawn after the flag: refused, no action
    assert not any(a.startswith("spawn(") for a in h[end:])


def test_close_programs_pass_under_every_interleaving_within_two_preemptions() -> None:
    machine = reference_machine(name="close_door")
    assert explore_door(machine, programs=CLOSE_PROGRAMS) > 40
    assert machine.totals["event:close_start"] > 40
    assert machine.totals["event:close_end"] == machine.totals["event:close_start"]


@pytest.mark.parametrize("name", sorted(CLOSE_INTERRUPT_PROGRAMS))
def test_close_interrupted_at_every_line_then_closed_again(name: str) -> None:
    machine = reference_machine(name="close_interrupts")
    n = sweep_close_interrupts(machine, programs=[name])
    assert n > 150  # every line close() runs
    assert machine.totals["interrupted:close"] == n
