"""The driver: the one component the run loop consults between rounds of polls and parks in.

It owns the executor's clock and a heap of timers. A timer is a waker holder like any other: it
keeps a *clone* of its task's waker while armed (so the task's live-waker count stays positive,
the task is never reaped as lost, and ``run()`` does not return: "no sender remains" stays the
one rule), and when it fires it *consumes* that waker with ``wake()``. Cancelling a timer drops
the waker.

Loop-thread only: timers are armed, cancelled and fired on the thread that runs the executor
(futures are polled and dropped there). Rules, each stated as the model states them
(``spec/SPEC.md``, EX-TIMER-*):

* a timer never fires before its deadline: ``fire_due`` fires exactly the timers with
  ``deadline <= clock.now_ns()``;
* the loop consults ``fire_due`` after every round of polls (``_ROUND`` polls at most), not
  only when the ready queue is empty, so a task that wakes itself for ever cannot starve a
  due timer;
* the loop never parks past the next deadline (``next_deadline`` is its park timeout);
* a cancelled timer is out of the count of armed timers at once and out of the heap lazily;
  when cancelled entries are more than half the heap it is rebuilt, so arming and cancelling
  any number of timers keeps memory bounded by the armed ones (amortised O(1) per cancel).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

from refexec.clock import Clock

if TYPE_CHECKING:
    from refexec.trace import Trace
    from refexec.waker import Waker

__all__ = ["Driver", "Timer"]

_COMPACT_MIN: Final = 64
"""Rebuild the heap only once at least this many cancelled entries sit in it."""


class Timer:
    """One armed deadline. ``waker`` is the clone it holds (None once fired or cancelled)."""

    __slots__ = ("deadline", "on_fire", "task", "waker")

    def __init__(
        self, deadline: int, waker: Waker, task: int, on_fire: Callable[[], None] | None
    ) -> None:
        self.deadline = deadline
        self.waker: Waker | None = waker
        self.task = task
        self.on_fire = on_fire

    @property
    def armed(self) -> bool:
        """True until the timer fires or is cancelled."""
        return self.waker is not None

    def __repr__(self) -> str:
        st = "armed" if self.waker is not None else "done"
        return f"<Timer task={self.task} deadline={self.deadline} ns {st}>"


class Driver:
    """The clock and the timer heap of one executor (see the module docstring)."""

    __slots__ = ("_cancelled", "_heap", "_seq", "clock", "fired", "trace")

    def __init__(self, clock: Clock, trace: Trace | None) -> None:
        self.clock = clock
        self.trace = trace
        self._heap: list[tuple[int, int, Timer]] = []
        # Invariant: self._cancelled == number of entries in _heap whose timer is not armed
        self._cancelled = 0
        self._seq = 0  # FIFO among equal deadlines
        self.fired = 0

    @property
    def armed(self) -> int:
        """How many timers are armed (hold a waker)."""
        return len(self._heap) - self._cancelled

    @property
    def heap_size(self) -> int:
        """Entries in the heap, cancelled ones included (bounded by 2 * armed + 64)."""
        return len(self._heap)

    def arm(
        self, deadline: int, waker: Waker, task: int, poll: int,
        on_fire: Callable[[], None] | None = None,
    ) -> Timer:
        """Arm a timer that wakes ``waker`` (a clone, now owned by the timer) at ``deadline``."""
        tm = Timer(deadline, waker, task, on_fire)
        self._seq += 1
        heapq.heappush(self._heap, (deadline, self._seq, tm))
        if self.trace is not None:
            self.trace.record("timer_arm", task, poll, str(deadline))
        return tm

    def cancel(self, tm: Timer, poll: int = 0) -> None:
        """Disarm ``tm`` and drop its waker (no-op if it already fired or was cancelled)."""
        w = tm.waker
        if w is None:
            return
        tm.waker = None
        tm.on_fire = None
        self._cancelled += 1
        if self.trace is not None:
            self.trace.record("timer_cancel", tm.task, poll)
        if self._cancelled >= _COMPACT_MIN and 2 * self._cancelled > len(self._heap):
            heap = self._heap  # in place: the run loop holds this list
            heap[:] = [e for e in heap if e[2].waker is not None]
            heapq.heapify(heap)
            self._cancelled = 0
        w.drop()

    def next_deadline(self) -> int | None:
        """The earliest armed deadline (dropping cancelled entries off the top), or None."""
        heap = self._heap
        while heap:
            tm = heap[0][2]
            if tm.waker is not None:
                return tm.deadline
            heapq.heappop(heap)
            self._cancelled -= 1
        return None

    def fire_due(self) -> int:
        """Fire every armed timer whose deadline has come; return how many fired."""
        heap = self._heap
        now = self.clock.now_ns()
        n = 0
        while heap and heap[0][0] <= now:
            tm = heapq.heappop(heap)[2]
            w = tm.waker
            if w is None:
                self._cancelled -= 1
                continue
            tm.waker = None
            cb, tm.on_fire = tm.on_fire, None
            n += 1
            if self.trace is not None:
                self.trace.record("timer_fire", tm.task, 0, str(tm.deadline))
            if cb is not None:
                cb()
            w.wake()
        self.fired += n
        return n

    def check_invariants(self) -> None:
        """The cancelled count matches the heap; raises AssertionError if not."""
        dead = sum(1 for e in self._heap if e[2].waker is None)
        if dead != self._cancelled:
            raise AssertionError(f"driver: {dead} cancelled entries, counted {self._cancelled}")
