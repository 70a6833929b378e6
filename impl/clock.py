"""Clocks: objects an ``Executor`` is given (``Executor(clock=...)``), never globals.

A clock answers one question, ``now_ns()``: the time in integer nanoseconds. Timers compare
integers, so a deadline is never missed or hit early by float rounding.

* :class:`MonotonicClock` (the default) is real time: ``time.monotonic_ns()``.
* :class:`VirtualClock` is time a program controls: it moves only when ``advance()`` is called
  or, with ``autojump=True``, when the executor's loop would otherwise park with a timer armed
  and nothing runnable and nothing that could arrive from another thread: it then jumps straight
  to the next deadline, so a program that sleeps an hour runs in microseconds, and runs the same
  way every time.
"""

from __future__ import annotations

import math
import threading
import time
import weakref
from collections.abc import Callable
from typing import Final

__all__ = ["Clock", "MonotonicClock", "VirtualClock", "to_ns"]

NS_PER_S: Final = 1_000_000_000


_INF: Final = math.inf


def to_ns(seconds: object, what: str) -> int:
    """``seconds`` as integer nanoseconds, rounded *up* (a timer never fires before the time
    asked for). ``ValueError`` for negative or NaN, ``TypeError`` for a non-number; ``inf`` is
    returned as -1 (the callers read it as "never")."""
    kind = type(seconds)
    if kind is float:  # the common cases first: a finite float >= 0 (NaN fails the test) ...
        if 0.0 <= seconds < _INF:  # type: ignore[operator]
            return math.ceil(seconds * NS_PER_S)  # type: ignore[operator]
    elif kind is int and seconds >= 0:  # type: ignore[operator]
        return seconds * NS_PER_S  # type: ignore[operator]
    return _to_ns_checked(seconds, what)


def _to_ns_checked(seconds: object, what: str) -> int:
    """:func:`to_ns` for everything but a plain finite float or int >= 0: subclasses, inf, and
    the errors."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise TypeError(f"{what} needs a number of seconds, got {seconds!r}")
    if isinstance(seconds, int):
        if seconds < 0:
            raise ValueError(f"{what}: negative duration {seconds!r}; use 0 to yield once")
        return seconds * NS_PER_S
    if math.isnan(seconds):
        raise ValueError(f"{what}: the duration is NaN; pass a number of seconds >= 0")
    if seconds < 0:
        raise ValueError(f"{what}: negative duration {seconds!r}; use 0 to yield once")
    if math.isinf(seconds):
        return -1
    return math.ceil(seconds * NS_PER_S)


class Clock:
    """What an executor asks of a clock. Subclass it for another time source."""

    __slots__ = ()

    #: True if the loop may move this clock itself (``VirtualClock(autojump=True)``).
    autojump: bool = False
    #: True if time passes on its own (the loop parks with a real timeout).
    real: bool = True

    def now_ns(self) -> int:
        """The time now, in integer nanoseconds (only differences are meaningful)."""
        raise NotImplementedError

    def now(self) -> float:
        """The time now, in seconds (for people; timers use ``now_ns``)."""
        return self.now_ns() / NS_PER_S

    def _jump_to(self, deadline_ns: int) -> None:
        """Move to ``deadline_ns`` (only called by the loop, only if ``autojump``)."""
        raise NotImplementedError(f"{type(self).__name__} cannot jump")

    def _subscribe(self, nudge: Callable[[], None]) -> None:
        """Call the bound method ``nudge`` whenever time moves by hand (virtual clocks; a real
        one needs not). Held weakly: a clock does not keep an executor alive."""


class MonotonicClock(Clock):
    """Real time, from ``time.monotonic_ns()``: the default clock of ``Executor``."""

    __slots__ = ()

    #: ``time.monotonic_ns`` itself: reading the clock is one C call, no Python frame.
    now_ns = staticmethod(time.monotonic_ns)

    def __repr__(self) -> str:
        return "MonotonicClock()"


class VirtualClock(Clock):
    """Time as an integer number of nanoseconds that moves only when told to.

    ``advance(seconds)`` / ``advance_ns(ns)`` move it forward (from a test, between runs, or
    from another thread while the loop is parked: the loop is nudged through its door and fires
    whatever became due). With ``autojump=True`` the executor jumps it to the next deadline when
    its loop has nothing runnable, an empty inbox and no open ``Spawner``; a waker that a thread
    of yours holds is not visible to the executor, so with such threads drive the clock by hand.
    """

    __slots__ = ("_lock", "_ns", "_nudges", "autojump")
    real = False

    def __init__(self, start: int = 0, *, autojump: bool = False) -> None:
        if isinstance(start, bool) or not isinstance(start, int):
            raise TypeError(f"VirtualClock(start=) is an int of nanoseconds, got {start!r}")
        self._ns = start
        self.autojump = autojump
        self._lock = threading.Lock()
        self._nudges: list[weakref.WeakMethod[Callable[[], None]]] = []

    def now_ns(self) -> int:
        return self._ns

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds`` (rounded up to whole nanoseconds)."""
        dt = to_ns(seconds, "VirtualClock.advance()")
        if dt < 0:
            raise ValueError("VirtualClock.advance(inf): time cannot move by infinity")
        self.advance_ns(dt)

    def advance_ns(self, ns: int) -> None:
        """Move the clock forward by ``ns`` nanoseconds (an int >= 0)."""
        if isinstance(ns, bool) or not isinstance(ns, int) or ns < 0:
            raise ValueError(f"VirtualClock.advance_ns() needs an int >= 0, got {ns!r}")
        with self._lock:
            self._ns += ns
            nudges = [m() for m in self._nudges]
            self._nudges = [m for m in self._nudges if m() is not None]
        for nudge in nudges:  # after the store: a loop deciding to park sees the new time
            if nudge is not None:
                nudge()

    def _jump_to(self, deadline_ns: int) -> None:
        with self._lock:
            self._ns = max(self._ns, deadline_ns)

    def _subscribe(self, nudge: Callable[[], None]) -> None:
        with self._lock:
            self._nudges.append(weakref.WeakMethod(nudge))

    def __repr__(self) -> str:
        return f"VirtualClock({self._ns} ns, autojump={self.autojump})"
