"""The wait queue every sync primitive of refexec is built on (``Lock``, ``Semaphore``,
``Condition``, ``Queue``, ``Barrier``): the implementation of the ``waitqueue`` model.

A :class:`WaitQueue` is a FIFO of parked waiters plus a pool of permits. A waiter is the
future a task awaits (:class:`Wait`) plus the small entry the queue holds (its waker and
state): no Python frame per parked task. The model (``refexec.models.waitqueue``,
spec/SPEC.md "The wait-queue model") names every method here; the counting rules it proves
are:

* **FIFO hand-off.** ``release()`` with waiters hands the permit to the *oldest* waiter (the
  permit never returns to the pool, so a newcomer cannot barge in before the woken waiter runs);
  ``notify()`` wakes the oldest waiters. A permit is free only while nobody waits
  (WQ-NO-IDLE-PERMIT), and permits are never created or lost (WQ-PERMITS-CONSERVED).
* **Each waiter is woken at most once** (WQ-NO-DOUBLE-WAKE): a chosen waiter leaves the queue
  and gives up its waker to ``wake()``.
* **A chosen waiter that is dropped passes its grant on** (WQ-NO-LOST-NOTIFY): a waiter handed a
  permit or a ``notify()`` whose task is cancelled before it ran hands the permit or the
  notification to the next waiter (the permit returns to the pool if there is none; the
  notification lapses, as ``notify()`` with nobody waiting does). A wake from ``notify_all()``
  or ``close()`` is not passed on: everyone waiting then got one, and a waiter that parked
  later must not be released by it.
* **Close** wakes every waiter with :data:`Woken.CLOSED`; later waits end at once with it.

A task parked here holds a waker only while its waiter is queued; so a task whose waiter is
dropped without a wake (which only happens when the task itself is cancelled) is not counted
as a live sender, and a task that is still queued is woken or, if the executor ends with it
parked, reported: never lost in silence.

**One executor, one thread.** Like asyncio's primitives these are not thread-safe: every call
must come from the thread that runs the executor whose tasks use them. A queue is bound to the
executor of the first task that parks on it; a task of another executor that tries to park
gets a ``RuntimeError``. (Events, channels and oneshots in ``refexec.sync`` are the
thread-safe way in from other threads.)

**Wakers are called last.** Every method first brings the queue to its new state, then calls
the wakers it collected, so a waker that runs code (or raises) sees a consistent queue; if
several wakers raise, all are still called and the first error is raised at the end.
"""

from __future__ import annotations

import enum
from typing import Any, Generic, TypeVar

from refexec.future import FutureBase, _runner
from refexec.poll import Pending, Poll, Ready
from refexec.waker import Context, Waker

__all__ = ["Wait", "WaitQueue", "Woken"]

T = TypeVar("T")


class Woken(enum.IntEnum):
    """How a :class:`Wait` ended (its state once chosen)."""

    GRANTED = 2
    """It holds a permit: taken at once from the pool, or handed over by ``release()``."""
    NOTIFIED = 3
    """``notify()`` chose it."""
    BROADCAST = 4
    """``notify_all()`` woke it (with everyone else then waiting)."""
    CLOSED = 5
    """The queue was closed (refines the model's BROADCAST: close wakes everyone)."""


_FRESH, _QUEUED, _DONE = 0, 1, 6
"""A Wait's other states: not polled yet, parked (holds a waker), finished or dropped."""
GRANTED, NOTIFIED, BROADCAST, CLOSED = (Woken.GRANTED, Woken.NOTIFIED, Woken.BROADCAST,
                                        Woken.CLOSED)


def _call(wakers: list[Waker]) -> None:
    """Wake each waker; raise the first failure once every one was called."""
    failure: BaseException | None = None
    for w in wakers:
        try:
            w.wake()
        except BaseException as e:  # raised below, once the innocent waiters are woken
            if failure is None:
                failure = e
    if failure is not None:
        raise failure


class WaitQueue:
    """A FIFO of waiters and a pool of ``permits`` (0 for a queue woken only by notifications).

    Invariants (checked by :meth:`check_invariants`; the model proves them):
    ``permits > 0`` implies no waiter is queued; every queued :class:`Wait` is in state QUEUED
    and holds a waker; a chosen one holds none.
    """

    __slots__ = ("_closed", "_executor", "_permits", "_waiters")

    def __init__(self, permits: int = 0) -> None:
        if permits < 0:
            raise ValueError(f"a WaitQueue needs permits >= 0, not {permits}")
        self._permits = permits
        self._closed = False
        self._executor: object = None
        # Invariant: all(e.state == _QUEUED and e.waker is not None for e in self._waiters)
        self._waiters: dict[_Entry, None] = {}  # insertion-ordered: FIFO, O(1) removal

    # -- reading ---------------------------------------------------------------------------

    @property
    def permits(self) -> int:
        """Free permits (not held, not handed to a waiter)."""
        return self._permits

    @property
    def closed(self) -> bool:
        return self._closed

    def __len__(self) -> int:
        """The number of queued (parked, not yet chosen) waiters."""
        return len(self._waiters)

    def waiters(self) -> list[_Entry]:
        """The queued waiters' entries, oldest first (for checkers and primitives)."""
        return list(self._waiters)

    def check_invariants(self) -> None:
        """Assert the invariants above (the tests call this after every step)."""
        assert self._permits >= 0
        assert not (self._permits > 0 and self._waiters), "a permit is free beside a waiter"
        assert not (self._closed and self._waiters), "a closed queue has waiters"
        for e in self._waiters:
            assert e.state == _QUEUED and e.waker is not None

    # -- the waiters' side -------------------------------------------------------------------

    def acquire(self) -> Wait[Woken]:
        """A future that takes a permit: at once if one is free, else when ``release()`` hands
        one over (FIFO). Ends with ``GRANTED``, or ``NOTIFIED`` / ``BROADCAST`` / ``CLOSED`` if
        woken otherwise."""
        return Wait(self, True)

    def wait(self) -> Wait[Woken]:
        """A future that parks until ``notify()``, ``notify_all()``, ``release()`` or
        ``close()`` wakes it (at once ``CLOSED`` if the queue is closed)."""
        return Wait(self, False)

    def try_acquire(self) -> bool:
        """Take a free permit without waiting; ``False`` if none is free."""
        if self._permits > 0:
            self._permits -= 1
            return True
        return False

    # -- the wakers' side --------------------------------------------------------------------

    def release(self) -> None:
        """Return a permit: to the oldest waiter if any (it is woken and holds it), else to the
        pool."""
        if self._waiters:
            _call([self._choose(GRANTED)])
        else:
            self._permits += 1

    def notify(self, n: int = 1) -> int:
        """Wake up to ``n`` of the oldest waiters; return how many were woken."""
        wakers = []
        while n > 0 and self._waiters:
            wakers.append(self._choose(NOTIFIED))
            n -= 1
        _call(wakers)
        return len(wakers)

    def notify_all(self) -> int:
        """Wake every queued waiter; return how many."""
        return self._wake_all(BROADCAST)

    def close(self) -> int:
        """Close: wake every waiter with ``CLOSED``; later waits end at once with it. Returns
        how many were woken. Idempotent."""
        self._closed = True
        return self._wake_all(CLOSED)

    def _wake_all(self, how: Woken) -> int:
        waiters, self._waiters = self._waiters, {}
        wakers = []
        for e in waiters:
            if e.state == _QUEUED:  # else dropped meanwhile (a __del__ run by the GC)
                wakers.append(_chosen(e, how))
        _call(wakers)
        return len(wakers)

    def _choose(self, how: Woken) -> Waker:
        """Take the oldest waiter out, give it ``how``; return its waker to wake."""
        e = next(iter(self._waiters))
        del self._waiters[e]
        return _chosen(e, how)

    def _bind(self) -> None:
        """Bind to the executor of the task being polled; refuse another executor's task."""
        task = _runner().current
        ex = getattr(task, "_executor", None)
        if ex is None:
            return  # polled by hand (a checker), or by an executor without that notion
        if self._executor is None:
            self._executor = ex
        elif self._executor is not ex:
            raise RuntimeError(
                "a refexec sync primitive is used by tasks of two executors; it belongs to the "
                "executor whose task first waited on it. Create one per executor (they are "
                "not thread-safe; use refexec.Event or channels to cross executors)"
            )


class _Entry:
    """A queued waiter as the queue holds it: its waker and its state (QUEUED, then a
    :class:`Woken` once chosen, DONE when taken or dropped), and a word of ``data`` a primitive
    may attach (the barrier's arrival index).

    The queue holds entries, never the futures: a cancelled task's future must be freed (and
    its ``__del__`` leave the queue) as soon as its coroutine is closed, which a reference from
    the queue would prevent.
    """

    __slots__ = ("data", "state", "waker")

    def __init__(self, waker: Waker) -> None:
        self.state: int = _QUEUED
        self.waker: Waker | None = waker
        self.data: Any = None


def _chosen(e: _Entry, how: Woken) -> Waker:
    """Mark a queued entry chosen with ``how``; return its waker (for the caller to wake)."""
    w = e.waker
    assert w is not None and e.state == _QUEUED
    e.waker = None
    e.state = how
    return w


class Wait(FutureBase[T], Generic[T]):
    """One waiter of a :class:`WaitQueue`, and the future a task awaits.

    States: FRESH (not polled) -> QUEUED (parked: its entry in the queue holds
    ``cx.waker.clone()``) -> one of :class:`Woken` (chosen: the waker was consumed by
    ``wake()``) -> DONE (polled after being chosen, or dropped). The first poll may go straight
    to a grant (a free permit, a closed queue). Dropping it (``drop()``, or the task being
    cancelled, which frees it) takes a queued waiter out, and hands the grant of a chosen one
    on (see the module docstring).

    Primitives subclass it and override :meth:`_ready` to turn the grant into their result.
    """

    __slots__ = ("_acquire", "_entry", "_fin", "_queue")

    def __init__(self, queue: WaitQueue, acquire: bool) -> None:
        self._queue = queue
        self._acquire = acquire
        self._entry: _Entry | None = None
        self._fin = _FRESH  # FRESH or DONE while there is no entry

    @property
    def state(self) -> int:
        """0 FRESH, 1 QUEUED, a :class:`Woken` once chosen, 6 DONE."""
        e = self._entry
        return self._fin if e is None else e.state

    def poll(self, cx: Context) -> Poll[T]:
        e = self._entry
        if e is not None:
            st = e.state
            if st == _QUEUED:
                old = e.waker
                assert old is not None
                if not old.will_wake(cx.waker):
                    e.waker = cx.waker.clone()
                    old.drop()
                return Pending
            data = e.data
            e.state = _DONE
            self._entry = None
        elif self._fin == _FRESH:
            q = self._queue
            if self._acquire and q._permits > 0:
                q._permits -= 1
                st = GRANTED
            elif q._closed:
                st = CLOSED
            else:
                q._bind()
                e = self._entry = _Entry(cx.waker.clone())
                q._waiters[e] = None
                return Pending
            data = None
        else:
            raise RuntimeError(f"{type(self).__qualname__} polled again after it completed")
        self._fin = _DONE
        return Ready(self._ready(Woken(st), data))

    def _ready(self, how: Woken, data: Any) -> T:
        """The future's value once chosen with ``how`` (the default: ``how`` itself);
        ``data`` is what the primitive attached to the entry (None on the fast path)."""
        return how  # type: ignore[return-value]

    def drop(self) -> None:
        """Give up waiting (what cancelling the task does): leave the queue, or pass the grant
        on if this waiter was already chosen. Idempotent; a no-op once completed."""
        e = self._entry
        self._fin = _DONE
        if e is None:
            return
        self._entry = None
        st = e.state
        e.state = _DONE
        q = self._queue
        if st == _QUEUED:
            q._waiters.pop(e, None)  # absent only while notify_all/close is taking it out
            w = e.waker
            e.waker = None
            assert w is not None
            w.drop()
        elif st == GRANTED:
            q.release()
        elif st == NOTIFIED:
            q.notify(1)

    def __del__(self) -> None:
        if self._entry is not None:
            self.drop()

    def __repr__(self) -> str:
        st = self.state
        name = {_FRESH: "FRESH", _QUEUED: "QUEUED", _DONE: "DONE"}.get(st)
        return f"<{type(self).__qualname__} {name or Woken(st).name}>"
