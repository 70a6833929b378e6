"""Synchronisation primitives for refexec tasks: ``Lock``, ``Semaphore``, ``BoundedSemaphore``,
``Condition``, ``Queue`` and ``Barrier``, with the API of their asyncio namesakes.

Every one is a thin layer over :class:`refexec.waitqueue.WaitQueue`, whose model is proved in
``refexec verify`` (``waitqueue``). What that gives each primitive:

* **Fairness: FIFO hand-off.** A released ``Lock`` or ``Semaphore`` permit goes straight to the
  task that has waited longest; it is not put back for whoever polls first, so a task that keeps
  re-acquiring in a loop cannot starve the others. ``Queue`` hands items to the oldest ``get()``
  and free slots to the oldest ``put()``; ``Condition.notify()`` wakes the oldest waiters.
* **Cancellation never loses or doubles a grant.** Cancelling a waiting task
  (``JoinHandle.cancel()``) takes its waiter out of the queue. If it had already been chosen
  (woken, not yet run), what it was given passes to the next waiter: the lock, the permit, the
  item, the free slot, the ``notify()``.
* **Nothing is lost in silence.** A parked task holds a waker only while it is queued; if the
  executor ends while it still waits, it is reported like any task that can never be woken.

These are for tasks of **one** executor, on its thread (as asyncio's are for one loop): a
primitive is bound to the executor of the first task that waits on it, and a task of another
executor that waits on it gets a ``RuntimeError``. Misuse raises at once: releasing an unlocked
``Lock`` (``RuntimeError``), releasing a ``BoundedSemaphore`` above its initial value
(``ValueError``), ``Condition.wait()``/``notify()`` without holding its lock (``RuntimeError``),
more ``Queue.task_done()`` calls than items (``ValueError``).

Cancellation is a drop (refexec closes the coroutine), so a task cancelled inside
``Condition.wait()`` cannot re-acquire the lock first, as asyncio's does: it leaves *without*
the lock, and the ``Condition.release()`` that its ``async with cond:`` block (or ``finally``)
then makes is skipped instead of releasing a lock it does not hold.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Generator
from typing import Any, Generic, TypeVar

from refexec.errors import RefexecError
from refexec.future import _DONE_NONE, FutureBase, _runner
from refexec.poll import Poll, Ready
from refexec.waitqueue import (
    _DONE,
    _FRESH,
    _FRESH_WAIT,
    _PENDING,
    _QUEUED,
    BROADCAST,
    GRANTED,
    Action,
    Wait,
    Waiting,
    WaitQueue,
    Woken,
)
from refexec.waker import Context

__all__ = [
    "Barrier",
    "BoundedSemaphore",
    "Condition",
    "Lock",
    "Queue",
    "QueueEmpty",
    "QueueFull",
    "Semaphore",
]

T = TypeVar("T")


class QueueEmpty(RefexecError):
    """``Queue.get_nowait()`` found no item (``await q.get()`` waits for one)."""


class QueueFull(RefexecError):
    """``Queue.put_nowait()`` found a bounded queue full (``await q.put(x)`` waits for room)."""


class _NoExit:
    """What ``__aexit__`` returns: an awaitable that is done at once (works while a cancelled
    task's coroutine is being closed, where no poll is in progress)."""

    __slots__ = ()

    def __await__(self) -> Generator[Any, None, None]:
        return _DONE_NONE  # type: ignore[return-value]


_NO_EXIT = _NoExit()


class _True(Wait[bool]):
    __slots__ = ()

    def _ready(self, how: Woken) -> bool:
        return True


class _Enter(Wait[None]):
    __slots__ = ()

    def _ready(self, how: Woken) -> None:
        return None


# ---------------------------------------------------------------------------------------------


class Semaphore:
    """``value`` permits: ``await sem.acquire()`` takes one (waiting, FIFO, while none is
    free), ``release()`` returns one (to the longest waiter if any). ``async with sem:``."""

    __slots__ = ("_q",)

    def __init__(self, value: int = 1) -> None:
        if value < 0:
            raise ValueError(f"Semaphore initial value must be >= 0, not {value}")
        self._q = WaitQueue(value)

    def locked(self) -> bool:
        """Whether ``acquire()`` would wait (no permit is free)."""
        return self._q._permits == 0

    def acquire(self) -> FutureBase[bool]:
        """``await sem.acquire()``: take a permit; returns True."""
        return Waiting(_True(self._q))

    def release(self) -> None:
        """Return a permit: it goes to the task that waited longest, if any."""
        self._q.release()

    def __aenter__(self) -> FutureBase[None]:
        return Waiting(_Enter(self._q))

    def __aexit__(self, *exc_info: object) -> _NoExit:
        self.release()
        return _NO_EXIT

    def __repr__(self) -> str:
        return f"<{type(self).__name__} permits={self._q._permits} waiters={len(self._q)}>"


class BoundedSemaphore(Semaphore):
    """A :class:`Semaphore` whose ``release()`` raises ``ValueError`` if it would raise the
    number of free permits above the initial value (a release without an acquire)."""

    __slots__ = ("_bound",)

    def __init__(self, value: int = 1) -> None:
        super().__init__(value)
        self._bound = value

    def release(self) -> None:
        if self._q._permits >= self._bound:
            raise ValueError(
                f"BoundedSemaphore released too many times: all {self._bound} permits are "
                "already free (a release() without a matching acquire())"
            )
        self._q.release()


class Lock(Semaphore):
    """A mutual-exclusion lock: a semaphore with one permit and a check on ``release()``.

    ``async with lock:`` ... ; FIFO hand-off: on ``release()`` the lock passes directly to the
    longest-waiting task (it stays locked until that task runs).

    ``owner`` is the id of the task holding it (what ``refexec.stall`` names in a verdict):
    set when a task's acquire completes, cleared by ``release()``, O(1) each.
    """

    __slots__ = ("_owner",)

    def __init__(self) -> None:
        super().__init__(1)
        self._q.owner = self  # the queue's primitive (how a waiter's verdict finds the lock)
        self._owner: int | None = None

    @property
    def owner(self) -> int | None:
        """The id of the task that holds the lock; None when it is unlocked, between a
        hand-off and the new holder's next poll, or when it was acquired outside a task."""
        return self._owner

    def acquire(self) -> FutureBase[bool]:
        """``await lock.acquire()``: take the lock; returns True."""
        return Waiting(_LockTrue(self._q))

    def __aenter__(self) -> FutureBase[None]:
        return Waiting(_LockEnter(self._q))

    def release(self) -> None:
        """Unlock (hand over to the oldest waiter). ``RuntimeError`` if it is not locked."""
        if self._q._permits:
            raise RuntimeError("Lock.release() on an unlocked Lock: release only what you acquired")
        self._owner = None
        self._q.release()


def _took(q: WaitQueue) -> None:
    """The task being polled now holds the Lock that owns ``q`` (its acquire completed)."""
    lock = q.owner
    if isinstance(lock, Lock):
        cur = _runner().current  # a refexec task (``_id``) or a SimpleExecutor one (``id``)
        lock._owner = getattr(cur, "_id", None) if hasattr(cur, "_id") else getattr(
            cur, "id", None)


class _LockTrue(_True):
    __slots__ = ()

    def _ready(self, how: Woken) -> bool:
        _took(self._q)
        return True


class _LockEnter(_Enter):
    __slots__ = ()

    def _ready(self, how: Woken) -> None:
        _took(self._q)


# ---------------------------------------------------------------------------------------------


class Condition:
    """A condition variable over a :class:`Lock` (a new one unless ``lock`` is given).

    Holding the lock, ``await cond.wait()`` releases it, waits for ``notify()`` /
    ``notify_all()`` and takes the lock again before returning; ``await cond.wait_for(pred)``
    loops until ``pred()`` is true. ``notify(n)`` wakes the ``n`` longest waiters.
    """

    __slots__ = ("_lock", "_q", "_unheld")

    def __init__(self, lock: Lock | None = None) -> None:
        self._lock = lock if lock is not None else Lock()
        self._q = WaitQueue(0)
        self._unheld = 0  # cancelled wait()s whose owner's next release() is to be skipped

    def locked(self) -> bool:
        return self._lock.locked()

    def acquire(self) -> FutureBase[bool]:
        return self._lock.acquire()

    def release(self) -> None:
        """Release the lock (skipped once for each task cancelled inside ``wait()``, which
        left without the lock; see the module docstring)."""
        if self._unheld:
            self._unheld -= 1
            return
        self._lock.release()

    def __aenter__(self) -> FutureBase[None]:
        return self._lock.__aenter__()

    def __aexit__(self, *exc_info: object) -> _NoExit:
        self.release()
        return _NO_EXIT

    def wait(self) -> FutureBase[bool]:
        """``await cond.wait()`` (holding the lock): release it, wait to be notified, re-take
        it. Returns True."""
        return Waiting(_CondWait(self))

    async def wait_for(self, predicate: Callable[[], T]) -> T:
        """Wait until ``predicate()`` is true (checked holding the lock); return its value."""
        result = predicate()
        while not result:
            await self.wait()
            result = predicate()
        return result

    def notify(self, n: int = 1) -> int:
        """Wake the ``n`` longest waiters (fewer if fewer wait); return how many. Requires the
        lock."""
        self._check_held("notify")
        return self._q.notify(n)

    def notify_all(self) -> int:
        """Wake every waiter; return how many. Requires the lock."""
        self._check_held("notify_all")
        return self._q.notify_all()

    def _check_held(self, what: str) -> None:
        if not self._lock.locked():
            raise RuntimeError(f"Condition.{what}() needs the condition's lock: "
                               "call it inside 'async with cond:'")


class _CondWait(Wait[bool]):
    """``cond.wait()``: one waiter that first parks on the condition's queue (having released
    the lock), then, once notified, on the lock's queue (to take it again)."""

    __slots__ = ("_cond",)

    def __init__(self, cond: Condition) -> None:
        super().__init__(cond._q)
        self._st = _FRESH_WAIT
        self._cond = cond

    def _advance(self, cx: Context | None, out: list[Action]) -> Any:
        cond = self._cond
        if self._q is cond._q:
            st = self._st
            if st == _FRESH_WAIT:
                cond._check_held("wait")
                v = super()._advance(cx, out)
                assert v is _PENDING  # the condition's queue has no permits, is never closed
                cond._lock._owner = None
                raw = cond._lock._q._release()
                if raw is not None:
                    out.append((raw, True))
                return v
            if st in (_QUEUED, _DONE):
                return super()._advance(cx, out)
            self._q = cond._lock._q  # notified: now take the lock again
            self._st = _FRESH
        return super()._advance(cx, out)

    def _ready(self, how: Woken) -> bool:
        _took(self._q)  # the lock's queue: wait() returns holding the lock again
        return True

    def _drop(self, out: list[Action]) -> None:
        """Cancelled: leave the condition's or the lock's queue, passing on a notification or
        the lock if it was already handed over; the owner's next release() is skipped."""
        st = self._st
        released = st != _DONE and not (st == _FRESH_WAIT and self._q is self._cond._q)
        super()._drop(out)
        if released:
            self._cond._unheld += 1

    def __del__(self) -> None:
        try:
            st = self._st
        except AttributeError:  # __init__ was cut short (an interrupt): nothing was parked
            return
        if st not in (_FRESH_WAIT, _DONE):
            self.drop()


# ---------------------------------------------------------------------------------------------


class Queue(Generic[T]):
    """A FIFO queue; bounded if ``maxsize > 0``. ``await q.put(x)`` waits for room,
    ``await q.get()`` for an item (each in FIFO order of the waiting tasks); ``put_nowait`` /
    ``get_nowait`` raise :class:`QueueFull` / :class:`QueueEmpty` instead. ``task_done()`` and
    ``await q.join()`` count unfinished items as asyncio's Queue does.

    Two counting wait queues do the work: ``get`` takes an *item* permit (one per item put and
    not yet promised to a getter), ``put`` a *slot* permit (one per free place).
    """

    __slots__ = ("_getters", "_items", "_joiners", "_maxsize", "_putters", "_unfinished")

    def __init__(self, maxsize: int = 0) -> None:
        self._maxsize = maxsize
        self._items: deque[T] = deque()
        self._getters = WaitQueue(0, self)
        self._putters = WaitQueue(maxsize, self) if maxsize > 0 else None
        self._joiners = WaitQueue(0, self)
        self._unfinished = 0

    @property
    def maxsize(self) -> int:
        return self._maxsize

    def qsize(self) -> int:
        """Items in the queue (including those already promised to a woken getter)."""
        return len(self._items)

    def empty(self) -> bool:
        return not self._items

    def full(self) -> bool:
        """Whether ``put_nowait`` would raise (every slot taken or promised to a putter)."""
        return self._putters is not None and self._putters._permits == 0

    def put_nowait(self, item: T) -> None:
        """Put ``item`` now, or raise :class:`QueueFull`."""
        if self._putters is not None and not self._putters.try_acquire():
            raise QueueFull(f"Queue is full (maxsize {self._maxsize}); await q.put(x) to wait")
        self._put(item)

    def put(self, item: T) -> FutureBase[None]:
        """``await q.put(item)``: wait for a free slot (FIFO among putters), then put it."""
        if self._putters is None:
            return _PutNow(self, item)
        return Waiting(_Put(self, item))

    def get_nowait(self) -> T:
        """Take the first item now, or raise :class:`QueueEmpty`."""
        if not self._getters.try_acquire():
            raise QueueEmpty("Queue is empty; await q.get() to wait for an item")
        return self._take()

    def get(self) -> FutureBase[T]:
        """``await q.get()``: wait for an item (FIFO among getters) and take it."""
        return Waiting(_Get(self._getters))

    def task_done(self) -> None:
        """One item taken by ``get`` is fully processed; wakes ``join()`` at zero."""
        if self._unfinished <= 0:
            raise ValueError("Queue.task_done() called more times than items were put")
        self._unfinished -= 1
        if self._unfinished == 0:
            self._joiners.notify_all()

    def join(self) -> FutureBase[None]:
        """``await q.join()``: wait until every item put has been marked ``task_done()``."""
        return Waiting(_Join(self))

    def _put(self, item: T) -> None:
        self._items.append(item)
        self._unfinished += 1
        self._getters.release()

    def _take(self) -> T:
        item = self._items.popleft()
        if self._putters is not None:
            self._putters.release()
        return item

    def __repr__(self) -> str:
        return (f"<Queue size={len(self._items)} maxsize={self._maxsize} "
                f"getters={len(self._getters)} putters={len(self._putters or ())}>")


class _Get(Wait[T]):
    __slots__ = ()

    def _ready(self, how: Woken) -> T:
        assert how is GRANTED
        return self._q.owner._take()  # type: ignore[no-any-return]


class _Put(Wait[None]):
    __slots__ = ("_item",)

    def __init__(self, q: Queue[Any], item: Any) -> None:
        assert q._putters is not None
        super().__init__(q._putters)
        self._item = item

    def _ready(self, how: Woken) -> None:
        assert how is GRANTED
        item, self._item = self._item, None
        self._q.owner._put(item)


class _PutNow(FutureBase[None]):
    """``put`` on an unbounded queue: happens when awaited (as asyncio's coroutine does)."""

    __slots__ = ("_item", "_owner")

    def __init__(self, q: Queue[Any], item: Any) -> None:
        self._owner: Queue[Any] | None = q
        self._item = item

    def poll(self, cx: Context) -> Poll[None]:
        q = self._owner
        if q is None:
            raise RuntimeError("Queue.put() future polled again after it completed")
        self._owner = None
        q._put(self._item)
        self._item = None
        return Ready(None)


class _Join(Wait[None]):
    __slots__ = ()

    def __init__(self, q: Queue[Any]) -> None:
        super().__init__(q._joiners)
        self._st = _FRESH_WAIT

    def _advance(self, cx: Context | None, out: list[Action]) -> Any:
        if self._st == _FRESH_WAIT and self._q.owner._unfinished == 0:
            self._st = _DONE
            return None
        return super()._advance(cx, out)

    def _ready(self, how: Woken) -> None:
        return None


# ---------------------------------------------------------------------------------------------


class Barrier:
    """``parties`` tasks meet: each ``await b.wait()`` waits until ``parties`` have arrived,
    then all go on; it returns the arrival index (``0..parties-1``, the last arrival gets
    ``parties-1``) and the barrier is ready for the next round. A waiter cancelled before the
    barrier trips no longer counts; one cancelled after it tripped does not hold the others."""

    __slots__ = ("_count", "_parties", "_q")

    def __init__(self, parties: int) -> None:
        if parties < 1:
            raise ValueError(f"Barrier needs parties >= 1, not {parties}")
        self._parties = parties
        self._count = 0
        self._q = WaitQueue(0, self)

    @property
    def parties(self) -> int:
        return self._parties

    @property
    def n_waiting(self) -> int:
        """Tasks waiting for the barrier to trip."""
        return self._count

    def wait(self) -> FutureBase[int]:
        return Waiting(_BarrierWait(self))


class _BarrierWait(Wait[int]):
    __slots__ = ("_index",)

    def __init__(self, b: Barrier) -> None:
        super().__init__(b._q)
        self._st = _FRESH_WAIT
        self._index = 0

    def _advance(self, cx: Context | None, out: list[Action]) -> Any:
        if self._st != _FRESH_WAIT:
            return super()._advance(cx, out)
        b: Barrier = self._q.owner
        if b._count + 1 == b._parties:  # the last arrival trips it
            b._count = 0
            for i, w in enumerate(b._q.waiters()):
                w._index = i  # type: ignore[attr-defined]  # the arrival index, for _ready
            self._st = _DONE
            out.extend(b._q._choose_all(BROADCAST))
            return b._parties - 1
        v = super()._advance(cx, out)
        b._count += 1
        return v

    def _ready(self, how: Woken) -> int:
        return self._index

    def _drop(self, out: list[Action]) -> None:
        if self._st == _QUEUED:
            self._q.owner._count -= 1
        super()._drop(out)
