"""The driver: the one component the run loop consults between rounds of polls and parks in.

It owns the executor's clock and a heap of timers. A timer is a waker holder like any other: it
keeps a *clone* of its task's waker while armed (so the task's live-waker count stays positive,
the task is never reaped as lost, and ``run()`` does not return: "no sender remains" stays the
one rule), and when it fires it *consumes* that waker with ``wake()``. Cancelling a timer drops
the waker.

Loop-thread only: timers are armed, cancelled and fired on the thread that runs the executor,
with no lock. A future is usually dropped there too, but not always (a coroutine kept in a
list and cleared by another thread, a garbage collection triggered anywhere): such a drop goes
through :func:`drop_from_any_thread`, which hands the timer or registration to the loop
(``_foreign``, a deque: one atomic append) and nudges it through the door, or, when no loop
runs, cancels it under the door's lock, which a loop must take to start. Rules, each stated
as the model states them (``spec/SPEC.md``, EX-TIMER-*):

* a timer never fires before its deadline: ``fire_due`` fires exactly the timers with
  ``deadline <= clock.now_ns()``;
* the loop consults ``fire_due`` (and, with I/O registered, ``select(0)``) before every
  round of polls (``_ROUND`` polls at most), a drive call's first included, not only when the
  ready queue is empty, so a due timer fires before the next poll and a task that wakes
  itself for ever cannot starve it;
* the loop never parks past the next deadline (``next_deadline`` is its park timeout);
* a cancelled timer is out of the count of armed timers at once and out of the heap lazily;
  when cancelled entries are more than half the heap it is rebuilt, so arming and cancelling
  any number of timers keeps memory bounded by the armed ones (amortised O(1) per cancel).
"""

from __future__ import annotations

import contextlib
import heapq
import selectors
import socket
import threading
import weakref
from collections import deque
from typing import TYPE_CHECKING, Any, Final, Protocol

from refexec.clock import Clock
from refexec.waker import _RAW_TYPES

if TYPE_CHECKING:
    from refexec.executor import Executor
    from refexec.trace import Trace
    from refexec.waker import RawWaker, RawWakerVTable, Waker

__all__ = ["DoorCondition", "Driver", "IoWait", "Timer", "drop_from_any_thread"]

_COMPACT_MIN: Final = 64
"""Rebuild the heap only once at least this many cancelled entries sit in it."""


class _OnFire(Protocol):
    """What a timer may call as it fires, before it wakes the task (``refexec.timeout``: an
    object, not a bound method, so arming allocates none)."""

    def _fire(self) -> None: ...


class Timer:
    """One armed deadline. It holds a clone of its task's raw waker, as the raw waker's two
    halves: ``vtable`` (None once the timer fired or was cancelled) and ``data`` (a refexec
    task is its own raw waker: ``data`` is the task). Not a ``Waker`` handle, because no user
    code ever sees it: one object less per timer, and a wake or a drop is one vtable call."""

    __slots__ = ("data", "deadline", "on_fire", "task", "vtable")

    def __init__(
        self, deadline: int, vtable: RawWakerVTable, data: Any, task: int,
        on_fire: _OnFire | None,
    ) -> None:
        self.deadline = deadline
        self.vtable: RawWakerVTable | None = vtable
        self.data = data
        self.task = task
        self.on_fire = on_fire

    @property
    def armed(self) -> bool:
        """True until the timer fires or is cancelled."""
        return self.vtable is not None

    def _cancel(self, drv: Driver) -> None:
        drv.cancel(self)

    def __repr__(self) -> str:
        st = "armed" if self.vtable is not None else "done"
        return f"<Timer task={self.task} deadline={self.deadline} ns {st}>"


def hold(raw: RawWaker) -> RawWaker:
    """A clone of ``raw`` (a raw waker: ``cx._lent_raw()``), for a timer to own: what
    ``Waker.clone`` does, without the handle."""
    new = raw.vtable.clone(raw.data)
    if type(new) not in _RAW_TYPES:
        raise TypeError(f"RawWakerVTable.clone must return a RawWaker, got {new!r}")
    return new


class Driver:
    """The clock and the timer heap of one executor (see the module docstring)."""

    __slots__ = ("__weakref__", "_cancelled", "_foreign", "_heap", "_regs", "_sel", "_seq",
                 "_wake_r", "_wake_w", "clock", "fired", "trace")

    def __init__(self, clock: Clock, trace: Trace | None) -> None:
        self.clock = clock
        self.trace = trace
        # I/O readiness (a selectors reactor, made on first registration): (fd, event) -> wait.
        # Mutated in place only (the run loop holds this dict).
        self._regs: dict[tuple[int, int], IoWait] = {}
        self._sel: selectors.BaseSelector | None = None
        self._wake_r: socket.socket | None = None  # the wakeup socketpair (see DoorCondition)
        self._wake_w: socket.socket | None = None
        self._heap: list[tuple[int, int, Timer]] = []
        # Invariant: self._cancelled == number of entries in _heap whose timer is not armed
        self._cancelled = 0
        self._seq = 0  # FIFO among equal deadlines
        self.fired = 0
        # Timers and registrations dropped on another thread while a loop runs: the loop
        # cancels them (take_foreign) before it reads the heap or parks.
        self._foreign: deque[Timer | IoWait] = deque()

    @property
    def armed(self) -> int:
        """How many timers are armed (hold a waker)."""
        return len(self._heap) - self._cancelled

    @property
    def heap_size(self) -> int:
        """Entries in the heap, cancelled ones included (bounded by 2 * armed + 64)."""
        return len(self._heap)

    def arm(
        self, deadline: int, raw: RawWaker, task: int, poll: int, on_fire: _OnFire | None = None,
    ) -> Timer:
        """Arm a timer that wakes ``raw`` (a clone made by :func:`hold`, now owned by the
        timer) at ``deadline``."""
        tm = Timer(deadline, raw.vtable, raw.data, task, on_fire)
        self.push(tm, deadline, poll)
        return tm

    def push(self, tm: Timer, deadline: int, poll: int) -> None:
        """Arm ``tm`` (its waker, ``task`` and ``on_fire`` set by the caller) at ``deadline``."""
        tm.deadline = deadline
        self._seq += 1
        heapq.heappush(self._heap, (deadline, self._seq, tm))
        if self.trace is not None:
            self.trace.record("timer_arm", tm.task, poll, str(deadline))

    def cancel(self, tm: Timer, poll: int = 0) -> None:
        """Disarm ``tm`` and drop its waker (no-op if it already fired or was cancelled)."""
        vt = tm.vtable
        if vt is None:
            return
        tm.vtable = None
        tm.on_fire = None
        self._cancelled += 1
        if self.trace is not None:  # the deadline says which timer, if the task has several
            self.trace.record("timer_cancel", tm.task, poll, str(tm.deadline))
        if self._cancelled >= _COMPACT_MIN and 2 * self._cancelled > len(self._heap):
            heap = self._heap  # in place: the run loop holds this list
            heap[:] = [e for e in heap if e[2].vtable is not None]
            heapq.heapify(heap)
            self._cancelled = 0
        data, tm.data = tm.data, None
        vt.drop(data)

    def take_foreign(self) -> None:
        """Cancel what other threads dropped (loop thread; see :func:`drop_from_any_thread`)."""
        foreign = self._foreign
        while foreign:
            foreign.popleft()._cancel(self)

    def next_deadline(self) -> int | None:
        """The earliest armed deadline (dropping cancelled entries off the top), or None."""
        heap = self._heap
        while heap:
            tm = heap[0][2]
            if tm.vtable is not None:
                return tm.deadline
            heapq.heappop(heap)
            self._cancelled -= 1
        return None

    def fire_due(self) -> int:
        """Fire every armed timer whose deadline has come; return how many fired."""
        if self._foreign:
            self.take_foreign()
        heap = self._heap
        now = self.clock.now_ns()
        n = 0
        while heap and heap[0][0] <= now:
            tm = heapq.heappop(heap)[2]
            vt = tm.vtable
            if vt is None:
                self._cancelled -= 1
                continue
            n += 1
            self.fire(tm, vt)
        return n

    def fire(self, tm: Timer, vt: RawWakerVTable) -> None:
        """Fire armed timer ``tm`` (its vtable ``vt``): disarm it, count and trace the fire,
        run its ``on_fire`` (a timeout), wake its waker. The caller has taken it out of the
        heap, or leaves it there as a cancelled entry. Counted as it fires, not once after a
        loop: a foreign waker's wake may raise (out of run()), and the timers fired before it
        must not go uncounted."""
        tm.vtable = None
        cb, tm.on_fire = tm.on_fire, None
        self.fired += 1
        if self.trace is not None:
            self.trace.record("timer_fire", tm.task, 0, str(tm.deadline))
        if cb is not None:
            cb._fire()
        data, tm.data = tm.data, None
        vt.wake(data)

    def check_invariants(self) -> None:
        """The cancelled count matches the heap; raises AssertionError if not."""
        dead = sum(1 for e in self._heap if e[2].vtable is None)
        if dead != self._cancelled:
            raise AssertionError(f"driver: {dead} cancelled entries, counted {self._cancelled}")


def drop_from_any_thread(ex: Executor, item: Timer | IoWait) -> None:
    """Cancel timer ``item`` (or unregister I/O wait ``item``) of ``ex`` from whatever thread a
    future holding it is dropped on. On the loop thread: at once. Elsewhere, under the door's
    lock: when no loop runs, at once (a loop must take that lock to start, so none can touch
    the heap meanwhile); when one runs, appended to ``_foreign`` and the loop nudged (as a
    post: it drains ``_foreign`` under that same lock before parking, so the nudge is never
    lost), and the loop cancels it, dropping the waker it holds, on its own thread."""
    drv = ex._driver
    if ex._loop_ident == threading.get_ident():
        item._cancel(drv)
        return
    with ex._lock:
        if ex._loop_ident is None:
            item._cancel(drv)
            return
        drv._foreign.append(item)
        if ex._sleeping:
            ex._cond.notify()


# -- I/O readiness -------------------------------------------------------------------------------


class IoWait:
    """One task waiting for one fd to become readable or writable; holds a clone of the task's
    waker while registered (a sender, as a timer is). ``ready`` once the reactor saw it (or
    the fd was closed under it: then ``closed`` too)."""

    __slots__ = ("closed", "event", "fd", "ready", "task", "waker")

    def __init__(self, fd: int, event: int, waker: Waker, task: int) -> None:
        self.fd = fd
        self.event = event
        self.waker: Waker | None = waker
        self.task = task
        self.ready = False
        self.closed = False

    def _cancel(self, drv: Driver) -> None:
        _unregister(drv, self)


def _close_reactor(sel: selectors.BaseSelector, r: socket.socket, w: socket.socket) -> None:
    sel.close()
    r.close()
    w.close()


def _events(regs: dict[tuple[int, int], IoWait], fd: int) -> int:
    return (selectors.EVENT_READ if (fd, selectors.EVENT_READ) in regs else 0) | (
        selectors.EVENT_WRITE if (fd, selectors.EVENT_WRITE) in regs else 0)


def _register(  # noqa: PLR0917 (internal: one call site, in refexec.net)
    drv: Driver, fd: int, event: int, waker: Waker, task: int, poll: int,
) -> IoWait:
    """Register ``waker`` for ``event`` on ``fd`` (loop thread). ``RuntimeError`` if another
    wait already holds that fd and direction."""
    key = (fd, event)
    regs = drv._regs
    other = regs.get(key)
    if other is not None:
        waker.drop()  # the clone made for this registration: nobody will hold it
        direction = "readable" if event == selectors.EVENT_READ else "writable"
        raise RuntimeError(
            f"fd {fd} is already awaited {direction} by task {other.task}; two tasks cannot "
            "wait on the same fd in the same direction (one would never be woken): give the "
            "socket to one task, or pass data between tasks over a channel"
        )
    sel = drv._sel
    if sel is None:
        sel = drv._sel = selectors.DefaultSelector()
        r, w = socket.socketpair()
        r.setblocking(False)
        w.setblocking(False)
        drv._wake_r, drv._wake_w = r, w
        sel.register(r, selectors.EVENT_READ, None)
        weakref.finalize(drv, _close_reactor, sel, r, w)  # released with the executor
    before = _events(regs, fd)
    w_ = IoWait(fd, event, waker, task)
    regs[key] = w_
    try:
        if before:
            sel.modify(fd, before | event)
        else:
            sel.register(fd, event)
    except (OSError, ValueError) as e:
        del regs[key]
        w_.waker = None
        waker.drop()
        raise ValueError(f"cannot wait on fd {fd}: {e} (is it closed?)") from e
    if drv.trace is not None:
        drv.trace.record("io_register", task, poll, f"fd={fd} {'r' if event == 1 else 'w'}")
    return w_


def _unregister(drv: Driver, w_: IoWait) -> None:
    """Take ``w_`` out of the reactor and drop its waker, if still registered."""
    key = (w_.fd, w_.event)
    regs = drv._regs
    if regs.get(key) is w_:
        del regs[key]
        sel = drv._sel
        assert sel is not None
        rest = _events(regs, w_.fd)
        try:
            if rest:
                sel.modify(w_.fd, rest)
            else:
                sel.unregister(w_.fd)
        except (KeyError, OSError, ValueError):  # the fd was closed under the registration
            pass
    w = w_.waker
    if w is not None:  # a cancel (a report keeps the waker: _unregister_keep)
        w_.waker = None
        if drv.trace is not None:  # before the drop's waker_drop, as timer_cancel
            drv.trace.record("io_cancel", w_.task, 0, f"fd={w_.fd}")
        w.drop()


def _select(drv: Driver, timeout: float | None) -> int:
    """Wait up to ``timeout`` seconds (None: no limit) for readiness or the wakeup socket and
    wake the tasks whose fds are ready; return how many events there were (tasks woken, plus
    one for a wakeup byte: 0 means the timeout passed with nothing happening)."""
    sel = drv._sel
    assert sel is not None
    n = 0
    for key, mask in sel.select(timeout):
        if key.data is None and key.fileobj is drv._wake_r:
            n += 1
            with contextlib.suppress(BlockingIOError, InterruptedError):
                while key.fileobj.recv(4096):
                    pass
            continue
        for ev in (selectors.EVENT_READ, selectors.EVENT_WRITE):
            if mask & ev:
                w_ = drv._regs.get((key.fd, ev))
                if w_ is not None:
                    n += 1
                    report_ready(drv, w_)
    return n


def report_ready(drv: Driver, w_: IoWait) -> None:
    """Registration ``w_`` (still in the reactor) is ready: out of the reactor, marked ready,
    traced, its task woken (the loop's ``select``, or a policy's choice of it)."""
    _unregister_keep(drv, w_)
    w_.ready = True
    w = w_.waker
    w_.waker = None
    if drv.trace is not None:
        drv.trace.record("io_ready", w_.task, 0, f"fd={w_.fd}")
    if w is not None:
        w.wake()


def notify_closing(drv: Driver, fd: int) -> int:
    """``fd`` is about to be closed (loop thread): wake every task waiting on it, its wait
    marked ``closed`` (a selector forgets a closed fd, so without this it would wait for ever,
    holding its waker). Returns how many waits there were."""
    n = 0
    for ev in (selectors.EVENT_READ, selectors.EVENT_WRITE):
        w_ = drv._regs.get((fd, ev))
        if w_ is not None:
            _unregister_keep(drv, w_)
            w_.ready = w_.closed = True
            w = w_.waker
            w_.waker = None
            n += 1
            if drv.trace is not None:  # reported as a readiness: the wait ends, the task wakes
                drv.trace.record("io_ready", w_.task, 0, f"fd={fd}")
            if w is not None:
                w.wake()
    return n


def _unregister_keep(drv: Driver, w_: IoWait) -> None:
    """Take ``w_`` out of the reactor, keeping its waker (about to be woken)."""
    w = w_.waker
    w_.waker = None
    _unregister(drv, w_)
    w_.waker = w


class DoorCondition(threading.Condition):
    """The door's condition variable. While the loop is parked in ``select()`` (``selecting``)
    a ``notify()`` (which posters call under the door's lock, exactly as before) writes one
    byte to the wakeup socketpair instead, so the select returns: the same protocol, one more
    way to be woken. The loop sets ``selecting`` under the lock before it releases the lock to
    select, so a post either is seen by the loop's inbox check or finds ``selecting`` set."""

    def __init__(self, lock: threading.RLock, driver: Driver) -> None:
        super().__init__(lock)
        self.driver = driver
        self.selecting = False

    def notify(self, n: int = 1) -> None:
        if self.selecting:
            w = self.driver._wake_w
            if w is not None:
                with contextlib.suppress(BlockingIOError, InterruptedError):
                    w.send(b"\0")  # a full pipe already wakes the loop
            return
        super().notify(n)
