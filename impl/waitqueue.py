"""The wait queue every sync primitive of refexec is built on (``Lock``, ``Semaphore``,
``Condition``, ``Queue``, ``Barrier``, and the thread-safe ``Event``, ``oneshot`` and channels of
``refexec.sync``): the implementation of the ``waitqueue`` model.

A :class:`WaitQueue` is a FIFO of parked waiters plus a pool of permits. The model
(``refexec.models.waitqueue``, spec/SPEC.md "The wait-queue model") names every method here;
the counting rules it proves are:

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
* **Close** wakes every waiter with :data:`Woken.CLOSED`; later waits end at once with it
  (after taking a free permit, if there is one: a closed channel still delivers what it holds).

**A waiter is one small object.** The :class:`Wait` a task awaits is at once the future, the
iterator ``await`` drives (its ``__await__`` returns itself: no coroutine frame, no helper
object) and the queue's node (the FIFO is a doubly linked list through the waiters: O(1) to
park, choose and leave). It keeps the raw waker of a ``cx.waker.clone()`` (the task itself, for
``Executor``'s tasks), not a :class:`~refexec.waker.Waker` around it. So a parked task costs one
object of five slots beyond its own task and coroutine (``benchmarks/parked_memory.py``).

**Cancellation reaches the waiter directly.** Cancelling a task closes its coroutine, and a
coroutine suspended in ``await w`` closes ``w`` first (``w.close()``); a timeout throws into it
(``w.throw(exc)``): both :meth:`Wait.drop` the waiter, which leaves the queue or passes its
grant on, at that moment. A waiter polled by hand (``poll(cx)``, no ``await``) is given up with
``drop()``; if it is simply forgotten, the queue keeps it until it is chosen, and then (its last
reference gone) its finalizer passes the grant on.

A task parked here holds a waker only while its waiter is queued; so a task whose waiter is
dropped without a wake (which only happens when the task itself is cancelled) is not counted
as a live sender, and a task that is still queued is woken or, if the executor ends with it
parked, reported: never lost in silence.

**One executor, one thread** for the primitives of ``refexec.locks``: like asyncio's they are not
thread-safe, and a queue is bound to the executor of the first task that parks on it (a task of
another executor that tries to park gets a ``RuntimeError``). ``refexec.sync`` uses the same
queues under its own lock (the ``_``-prefixed methods below never call a waker: they return the
raw wakers to act on once the lock is released), which makes its structures thread-safe.

**Wakers are called last.** Every method first brings the queue to its new state, then calls
the wakers it collected, so a waker that runs code (or raises) sees a consistent queue; if
several wakers raise, all are still called and the first error is raised at the end.
"""

from __future__ import annotations

import enum
from collections.abc import Generator
from typing import Any, Final, Generic, TypeVar

from refexec.future import PENDING, FutureBase, _runner
from refexec.poll import Pending, Poll, Ready
from refexec.waker import _RAW_TYPES, Context, RawWaker, _waker_failed

__all__ = ["Wait", "WaitHandle", "WaitQueue", "Waiting", "Woken"]

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


_FRESH, _QUEUED, _DONE, _FRESH_WAIT = 0, 1, 6, 7
"""A Wait's other states: not polled yet (an acquire; ``_FRESH_WAIT`` a notification wait),
parked (holds a waker), finished or dropped."""
GRANTED, NOTIFIED, BROADCAST, CLOSED = (Woken.GRANTED, Woken.NOTIFIED, Woken.BROADCAST,
                                        Woken.CLOSED)
_PENDING: Final = object()
"""What :meth:`Wait._advance` returns while the waiter must wait."""

_UNBOUND: Final = object()
"""A queue's ``_executor`` when it may serve tasks of any executor (``bound=False``)."""

Action = tuple[RawWaker, bool]
"""A raw waker to act on once the queue is consistent: ``True`` wake it, ``False`` drop it."""


def act(actions: list[Action]) -> None:
    """Wake or drop each raw waker; raise the first failure once every one was acted on."""
    failure: BaseException | None = None
    for raw, wake in actions:
        try:
            if wake:
                raw.vtable.wake(raw.data)
            else:
                raw.vtable.drop(raw.data)
        except BaseException as e:  # raised below, once the innocent waiters are woken
            failure = _waker_failed(failure, e, raw, "wake" if wake else "drop")
    if failure is not None:
        raise failure


def clone_raw(cx: Context) -> RawWaker:
    """The raw waker of ``cx.waker.clone()``: the clone is made (and counted) by the vtable, and
    owned by the caller, who must end it with exactly one wake or drop."""
    raw = cx.waker._check()
    new = raw.vtable.clone(raw.data)
    if type(new) not in _RAW_TYPES:
        raise TypeError(f"RawWakerVTable.clone must return a RawWaker, got {new!r}")
    return new


class WaitQueue:
    """A FIFO of waiters and a pool of ``permits`` (0 for a queue woken only by notifications).

    Invariants (checked by :meth:`check_invariants`; the model proves them):
    ``permits > 0`` implies no waiter is queued; every queued :class:`Wait` is in state QUEUED
    and holds a raw waker; a chosen one holds none. ``owner`` is the primitive the queue
    belongs to (its waiters reach it through the queue, so they need no slot of their own).
    """

    __slots__ = ("_closed", "_executor", "_head", "_len", "_permits", "_tail", "owner")

    def __init__(self, permits: int = 0, owner: Any = None, *, bound: bool = True) -> None:
        if permits < 0:
            raise ValueError(f"a WaitQueue needs permits >= 0, not {permits}")
        self._permits = permits
        self._closed = False
        self._executor: object = None if bound else _UNBOUND  # bound=False: any executor
        self._head: Wait[Any] | None = None  # the oldest queued waiter
        self._tail: Wait[Any] | None = None
        self._len = 0
        self.owner = owner

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
        return self._len

    def waiters(self) -> list[Wait[Any]]:
        """The queued waiters, oldest first (for checkers and primitives)."""
        out = []
        w = self._head
        while w is not None:
            out.append(w)
            w = w._next
        return out

    def check_invariants(self) -> None:
        """Assert the invariants above (the tests call this after every step)."""
        assert self._permits >= 0
        assert not (self._permits > 0 and self._head is not None), "a free permit beside a waiter"
        assert not (self._closed and self._head is not None), "a closed queue has waiters"
        ws = self.waiters()
        assert len(ws) == self._len
        prev = None
        for w in ws:
            assert w._st == _QUEUED and w._raw is not None and w._q is self and w._prev is prev
            prev = w
        assert self._tail is prev

    # -- the waiters' side -------------------------------------------------------------------

    def acquire(self) -> Waiting[Woken]:
        """A future that takes a permit: at once if one is free, else when ``release()`` hands
        one over (FIFO). Ends with ``GRANTED``, or ``NOTIFIED`` / ``BROADCAST`` / ``CLOSED`` if
        woken otherwise."""
        return Waiting(Wait(self))

    def wait(self) -> Waiting[Woken]:
        """A future that parks until ``notify()``, ``notify_all()``, ``release()`` or
        ``close()`` wakes it (at once ``CLOSED`` if the queue is closed)."""
        w: Wait[Woken] = Wait(self)
        w._st = _FRESH_WAIT
        return Waiting(w)

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
        raw = self._release()
        if raw is not None:
            act([(raw, True)])

    def notify(self, n: int = 1) -> int:
        """Wake up to ``n`` of the oldest waiters; return how many were woken."""
        out: list[Action] = []
        while n > 0 and self._head is not None:
            out.append((self._choose(NOTIFIED), True))
            n -= 1
        act(out)
        return len(out)

    def notify_all(self) -> int:
        """Wake every queued waiter; return how many."""
        out = self._choose_all(BROADCAST)
        act(out)
        return len(out)

    def close(self) -> int:
        """Close: wake every waiter with ``CLOSED``; later waits end at once with it. Returns
        how many were woken. Idempotent."""
        out = self._close()
        act(out)
        return len(out)

    # -- the same, without calling wakers (for callers holding a lock) ------------------------

    def _release(self) -> RawWaker | None:
        """``release()`` without the wake: the raw waker to wake, if a waiter was chosen."""
        if self._head is not None:
            return self._choose(GRANTED)
        self._permits += 1
        return None

    def _close(self) -> list[Action]:
        self._closed = True
        return self._choose_all(CLOSED)

    def _choose_all(self, how: Woken) -> list[Action]:
        out: list[Action] = []
        while self._head is not None:
            out.append((self._choose(how), True))
        return out

    def _choose(self, how: Woken) -> RawWaker:
        """Take the oldest waiter out, give it ``how``; return its raw waker to wake."""
        w = self._head
        assert w is not None
        self._unlink(w)
        w._st = how
        raw = w._raw
        w._raw = None
        assert raw is not None
        return raw

    def _park(self, w: Wait[Any], raw: RawWaker) -> None:
        """Queue ``w`` at the back, holding ``raw``."""
        w._raw = raw
        w._st = _QUEUED
        tail = self._tail
        w._prev = tail
        if tail is None:
            self._head = w
        else:
            tail._next = w
        self._tail = w
        self._len += 1

    def _unlink(self, w: Wait[Any]) -> None:
        p, n = w._prev, w._next
        if p is None:
            self._head = n
        else:
            p._next = n
        if n is None:
            self._tail = p
        else:
            n._prev = p
        w._prev = w._next = None
        self._len -= 1

    def _bind(self) -> None:
        """Bind to the executor of the task being polled; refuse another executor's task."""
        if self._executor is _UNBOUND:
            return  # a thread-safe structure's queue (refexec.sync): tasks of any executor
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


class Wait(FutureBase[T], Generic[T]):
    """One waiter of a :class:`WaitQueue`: the future a task awaits, the iterator ``await``
    drives, and the queue's node.

    States: FRESH (not polled) -> QUEUED (parked: holds the raw waker of ``cx.waker.clone()``)
    -> one of :class:`Woken` (chosen: the waker was consumed by its wake) -> DONE (polled after
    being chosen, or dropped). The first poll may go straight to a grant (a free permit, a
    closed queue). Dropping it (``drop()``; ``close()`` or ``throw()`` from the coroutine that
    awaits it, when its task is cancelled or timed out) takes a queued waiter out, and hands the
    grant of a chosen one on (see the module docstring).

    Primitives subclass it and override :meth:`_ready` to turn the grant into their result (and
    ``_advance`` / ``_drop`` to do more under their own rules).
    """

    __slots__ = ("_next", "_prev", "_q", "_raw", "_st")

    def __init__(self, queue: WaitQueue) -> None:
        self._q = queue
        self._st = _FRESH
        self._raw: RawWaker | None = None
        self._prev: Wait[Any] | None = None
        self._next: Wait[Any] | None = None

    @property
    def state(self) -> int:
        """0 FRESH, 1 QUEUED, a :class:`Woken` once chosen, 6 DONE."""
        st = self._st
        return _FRESH if st == _FRESH_WAIT else st

    # -- the core: one poll, with the wakers to act on collected in ``out`` ---------------------

    def _advance(self, cx: Context | None, out: list[Action]) -> Any:
        """One poll: the value, or ``_PENDING`` after parking. ``cx`` None: the running task's
        (made only if needed). Wakers to wake or drop go to ``out``."""
        st = self._st
        q = self._q
        if st == _QUEUED:
            self._repark(cx, out)
            return _PENDING
        if st == _FRESH:
            if q._permits > 0:
                q._permits -= 1
                self._st = _DONE
                return self._ready(GRANTED)
            if q._closed:
                self._st = _DONE
                return self._ready(CLOSED)
        elif st == _FRESH_WAIT:
            if q._closed:
                self._st = _DONE
                return self._ready(CLOSED)
        elif st == _DONE:
            raise RuntimeError(f"{type(self).__qualname__} polled again after it completed")
        else:
            self._st = _DONE
            return self._ready(Woken(st))
        q._bind()
        q._park(self, clone_raw(_cx(cx)))
        return _PENDING

    def _repark(self, cx: Context | None, out: list[Action]) -> None:
        """A queued waiter polled again (a spurious wake): keep the place; take the new waker
        only if it wakes another task (Rust's ``will_wake``), dropping the old one."""
        old = self._raw
        assert old is not None
        new = _cx(cx).waker._check()
        if new.data is not old.data or new.vtable is not old.vtable:
            self._raw = clone_raw(_cx(cx))
            out.append((old, False))

    def _ready(self, how: Woken) -> T:
        """The future's value once chosen with ``how`` (the default: ``how`` itself)."""
        return how  # type: ignore[return-value]

    def _drop(self, out: list[Action]) -> None:
        """Give up (see :meth:`drop`), the wakers to act on going to ``out``."""
        st = self._st
        self._st = _DONE
        q = self._q
        if st == _QUEUED:
            q._unlink(self)
            raw = self._raw
            self._raw = None
            assert raw is not None
            out.append((raw, False))
        elif st == GRANTED:
            raw = q._release()
            if raw is not None:
                out.append((raw, True))
        elif st == NOTIFIED and q._head is not None:
            out.append((q._choose(NOTIFIED), True))

    # -- the future and the awaitable -----------------------------------------------------------

    def poll(self, cx: Context) -> Poll[T]:
        out: list[Action] = []
        try:
            v = self._advance(cx, out)
        finally:
            act(out)
        return Pending if v is _PENDING else Ready(v)

    def drop(self) -> None:
        """Give up waiting (what cancelling the task does): leave the queue, or pass the grant
        on if this waiter was already chosen. Idempotent; a no-op once completed."""
        out: list[Action] = []
        try:
            self._drop(out)
        finally:
            act(out)

    def __await__(self) -> Generator[Any, None, T]:
        return self  # type: ignore[return-value]  # the iterator itself: no frame per wait

    def __iter__(self) -> Wait[T]:
        return self

    def __next__(self) -> Any:
        """One poll of the awaiting task: yield PENDING to the executor, or end the await."""
        cx = _cx(None)  # refuses an await outside a refexec task, even one that needs no wait
        out: list[Action] = []
        try:
            v = self._advance(cx, out)
        finally:
            if out:
                act(out)
        if v is _PENDING:
            return PENDING
        raise StopIteration(v)

    def close(self) -> None:
        """The awaiting coroutine is being closed (its task was cancelled): drop the waiter."""
        self.drop()

    def throw(self, typ: Any, val: Any = None, tb: Any = None) -> Any:
        """An exception is thrown into the awaiting coroutine (a timeout): drop the waiter,
        then let the exception go on at the ``await``."""
        self.drop()
        exc = typ if isinstance(typ, BaseException) else (
            val if isinstance(val, BaseException) else typ() if val is None else typ(val))
        raise exc.with_traceback(tb) if tb is not None else exc

    def __del__(self) -> None:
        try:
            st = self._st
        except AttributeError:  # __init__ was cut short (an interrupt): nothing was parked
            return
        if st in (_QUEUED, GRANTED, NOTIFIED):
            self._finalize()

    def _finalize(self) -> None:
        """Drop a waiter whose last reference went (its handle's, or its own once chosen)."""
        self.drop()

    def __repr__(self) -> str:
        st = self.state
        name = {_FRESH: "FRESH", _QUEUED: "QUEUED", _DONE: "DONE"}.get(st)
        return f"<{type(self).__qualname__} {name or Woken(st).name}>"


def _cx(cx: Context | None) -> Context:
    """``cx``, or the Context of the task this thread is polling."""
    if cx is not None:
        return cx
    task = _runner().current
    if task is None:
        raise RuntimeError(
            "a refexec wait was awaited outside a refexec task: run the coroutine on a refexec "
            "executor (Executor.spawn/run, refexec.block_on), or poll it by hand with "
            "poll(Context(waker))."
        )
    return task._context()


class WaitHandle(FutureBase[T], Generic[T]):
    """What a primitive's wait method returns: a handle on one :class:`Wait`.

    ``await`` takes the waiter out of the handle (the coroutine then holds the waiter alone, and
    the handle is freed at once: a parked task keeps just the waiter). Polled by hand, the
    handle keeps its waiter, and dropping the handle's last reference drops the waiter (it
    leaves the queue, or passes its grant on), as dropping a future does in Rust: the queue
    holds waiters, never handles, so that reference is the user's alone. (That finalizer is
    :class:`Waiting`'s; this base has none, for the futures of ``refexec.sync`` that usually
    complete without a waiter and switch to a finalizing class when they keep one.)
    """

    __slots__ = ("_node",)

    def __init__(self, node: Wait[T]) -> None:
        self._node: Wait[T] | None = node

    def _wait(self) -> Wait[T]:
        n = self._node
        if n is None:
            raise RuntimeError("this wait was already awaited; each wait() / acquire() call "
                               "gives one future: call it again to wait again")
        return n

    @property
    def state(self) -> int:
        """The waiter's state (see :attr:`Wait.state`)."""
        n = self._node
        return _DONE if n is None else n.state

    def poll(self, cx: Context) -> Poll[T]:
        return self._wait().poll(cx)

    def __await__(self) -> Generator[Any, None, T]:
        n = self._wait()
        self._node = None
        return n  # type: ignore[return-value]

    def drop(self) -> None:
        """Give up waiting: see :meth:`Wait.drop`."""
        n = self._node
        if n is not None:
            n.drop()

    def close(self) -> None:
        self.drop()

    def throw(self, typ: Any, val: Any = None, tb: Any = None) -> Any:
        return self._wait().throw(typ, val, tb)

    def _finalize_node(self) -> None:
        try:
            n = self._node
        except AttributeError:  # __init__ was cut short (an interrupt)
            return
        if n is not None and n._st in (_QUEUED, GRANTED, NOTIFIED):
            n._finalize()

    def __repr__(self) -> str:
        n = self._node
        return repr(n) if n is not None else f"<{type(self).__qualname__}>"


class Waiting(WaitHandle[T], Generic[T]):
    """A :class:`WaitHandle` whose last reference going drops its waiter (see there)."""

    __slots__ = ()

    def __del__(self) -> None:
        self._finalize_node()
