"""The driver's lockstep machine (impl/testing/driver_lockstep.py): refexec.Executor on a
VirtualClock, followed by the reference model's driver instance through sleeps, timeouts, clock
advances, socket readiness, cancels and run() to the end."""

from __future__ import annotations

import heapq

import pytest
from refexec import driver as driver_mod
from refexec.models.reference import Io, Loop
from refexec.state import TaskState
from refexec.testing.driver_lockstep import UNIT_NS, DriverLockstep, Op
from refexec.testing.lockstep_settings import lockstep_settings
from refexec.testing.oracle import Divergence

TestDriverLockstep = DriverLockstep.TestCase
TestDriverLockstep.settings = lockstep_settings(max_examples=100, steps=20)

COMPLETE, CANCELLED = int(TaskState.COMPLETE), int(TaskState.CANCELLED)


def _machine(*programs: tuple[Op, ...]) -> DriverLockstep:
    m = DriverLockstep()
    m.first(programs[0])
    for p in programs[1:]:
        m.spawn(p)
    return m


def _model_states(m: DriverLockstep) -> list[dict[str, object]]:
    states = m.oracle.states()
    assert states, "the oracle keeps at least one candidate"
    return states


def test_a_sleep_ends_when_the_clock_reaches_its_deadline() -> None:
    m = _machine((Op("sleep", 2),))
    m.run_until_stalled()
    m.advance(1)
    m.run_until_stalled()
    assert not m.handles[0].done()
    m.advance(1)
    m.run_until_stalled()
    assert m.handles[0].done()
    assert all(s["st"][0] == COMPLETE and s["clock"] == 2 for s in _model_states(m))
    m.teardown()


def test_a_timeout_ends_a_read_whose_fd_never_became_ready() -> None:
    m = _machine((Op("read", 1),))
    m.run_until_stalled()
    assert all(s["reg"][0] == Io.ARMED and s["armed"][0] for s in _model_states(m))
    m.advance(1)
    m.run_until_stalled()  # the timer fires; the poll drops the readiness wait (io_cancel)
    assert m.handles[0].done() and not m.ex._driver._regs
    assert all(s["reg"][0] == Io.NONE and s["st"][0] == COMPLETE for s in _model_states(m))
    m.teardown()


def test_run_parks_in_select_and_readiness_ends_the_park() -> None:
    m = _machine((Op("read", 2),), (Op("sleep", 1),))
    m.run_until_stalled()
    m.make_ready(0)
    assert all(s["reg"][0] == Io.READY for s in _model_states(m))
    m.run()  # select() reports the fd at once; the clock then jumps to the sleeper's deadline
    assert all(h.done() for h in m.handles)
    assert m.clock.now_ns() == UNIT_NS
    for s in _model_states(m):
        assert s["loop"] == Loop.RETURNED and s["clock"] == 1
        assert s["st"][:2] == (COMPLETE, COMPLETE) and not any(s["armed"])
    m.teardown()


def test_cancel_cancels_the_timer_and_takes_the_registration_out() -> None:
    m = _machine((Op("read", 2),), (Op("sleep", 2), Op("read", None)))
    m.run_until_stalled()
    assert m.ex._driver.armed == 2 and len(m.ex._driver._regs) == 1
    m.cancel(0)
    m.cancel(0)  # the next live task: the sleeper
    assert m.ex._driver.armed == 0 and not m.ex._driver._regs
    assert all(s["st"][:2] == (CANCELLED, CANCELLED) for s in _model_states(m))
    m.run_until_stalled()
    m.teardown()


def test_a_timer_fired_early_is_a_divergence(monkeypatch: pytest.MonkeyPatch) -> None:
    """The machine catches a driver that fires a timer one unit before its deadline (once: the
    woken sleep re-arms its timer, which a driver that always fired early would fire again)."""
    fired_early: list[int] = []

    def early(self: driver_mod.Driver) -> int:  # fire_due, reading the clock one unit ahead
        ahead = 0 if fired_early else UNIT_NS
        heap, now, n = self._heap, self.clock.now_ns() + ahead, 0
        while heap and heap[0][0] <= now:
            tm = heapq.heappop(heap)[2]
            vt = tm.vtable
            if vt is None:
                self._cancelled -= 1
                continue
            tm.vtable = None
            n += 1
            fired_early.append(tm.deadline)
            data, tm.data = tm.data, None
            vt.wake(data)
        return n

    monkeypatch.setattr(driver_mod.Driver, "fire_due", early)
    m = _machine((Op("sleep", 2),))
    m.run_until_stalled()
    m.advance(1)
    with pytest.raises(Divergence):
        m.run_until_stalled()
    m.teardown()


def test_a_registration_that_keeps_its_waker_is_a_divergence(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The machine catches a reactor whose unregister keeps the waker it held (in a list it
    never clears), so the task's live-waker count stays up."""
    kept: list[object] = []

    def leaky(drv: driver_mod.Driver, w_: driver_mod.IoWait) -> None:
        key = (w_.fd, w_.event)
        if drv._regs.get(key) is w_:
            del drv._regs[key]
            assert drv._sel is not None
            drv._sel.unregister(w_.fd)
        kept.append(w_.waker)
        w_.waker = None

    monkeypatch.setattr("refexec.driver._unregister", leaky)  # what IoWait._cancel calls
    m = _machine((Op("read", 2),))
    m.run_until_stalled()
    with pytest.raises(Divergence, match="wakers"):
        m.cancel(0)
    m.teardown()


class _PeerThatLetsTheLoopRun:
    """A socket's peer whose ``send`` lets the loop run right after the byte leaves: the
    interleaving in which the network thread is switched out between its send and its next
    line while the loop, parked in ``select()``, reports the fd, finishes the read and starts
    the task's next op. Found in CI as a 30 s ``Stalled`` (hypothesis seed 7 reproduced it)."""

    def __init__(self, sock: object, loop_runs: object) -> None:
        self.sock = sock
        self.loop_runs = loop_runs

    def send(self, data: bytes) -> int:
        n: int = self.sock.send(data)  # type: ignore[attr-defined]
        self.loop_runs()  # type: ignore[operator]
        return n

    def close(self) -> None:
        self.sock.close()  # type: ignore[attr-defined]


def test_readiness_reported_before_the_network_thread_runs_again_marks_only_its_own_socket(
) -> None:
    """``make_ready`` marks the socket it writes to before the byte can be reported; marked
    after, the mark lands on the next read's fresh socket, which then looks written (the
    network thread never writes to it) and ``run()`` parks with nobody to wake it."""
    m = _machine((Op("read", None), Op("read", None)))
    m.run_until_stalled()
    task = m.tasks[0]
    assert task.waiting_read and task.i == 0

    def loop_runs() -> None:  # what the parked loop does: select() reports the fd, then polls
        driver_mod._select(m.ex._driver, 0)
        m.ex.run_until_stalled()

    task.peer = _PeerThatLetsTheLoopRun(task.peer, loop_runs)  # type: ignore[assignment]
    task.make_ready()
    assert task.i == 1, "the loop reported the fd and the task started its second read"
    assert task.waiting_read, "the second read's socket was never written to"


def _selecting_wakes(m: DriverLockstep, seen: list[bool]) -> None:
    """Note, for each remote wake the helper makes, whether the loop was parked in select()."""
    for t in m.tasks:
        real = t.wake_remote

        def noting(real: object = real) -> bool:
            selecting = m.ex._cond.selecting
            woke = bool(real())  # type: ignore[operator]
            if woke:
                seen.append(selecting)
            return woke

        t.wake_remote = noting  # type: ignore[method-assign]


def test_a_wake_from_another_thread_ends_the_select_park() -> None:
    """run() parks in select() (task 0 waits for its fd); the helper thread wakes task 1 from
    its own thread while the loop is parked there: the post writes the wakeup byte, the park
    ends, task 1 is polled; then the fd is made ready and task 0 ends too."""
    m = _machine((Op("read", None),), (Op("remote"),))
    m.run_until_stalled()
    assert all(s["reg"][0] == Io.ARMED and s["wakers"][1] == 1 for s in _model_states(m))
    seen: list[bool] = []
    _selecting_wakes(m, seen)
    m.run()
    assert seen == [True]
    assert all(h.done() for h in m.handles)
    assert all(s["loop"] == Loop.RETURNED for s in _model_states(m))
    m.teardown()


def test_a_task_cancelled_while_it_waits_for_another_thread_drops_its_clone() -> None:
    m = _machine((Op("remote"),), (Op("sleep", 1),))
    m.run_until_stalled()
    m.cancel(0)  # the future and the clone it kept go; the drop is posted (no loop runs)
    m.run()
    assert m.handles[0].cancelled() and m.handles[1].done()
    m.teardown()
