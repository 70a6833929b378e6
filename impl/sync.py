"""Async building blocks: a oneshot channel, an mpsc channel and an ``Event``.

Each parks its tasks on :class:`refexec.waitqueue.WaitQueue` (the queue the ``waitqueue`` model
describes and the lockstep machines check), used under the structure's own lock. A waiter is
one small object, the future a task awaits and the queue's node at once (no coroutine frame
per wait). It handles wakers the way Rust's futures do, because the reference executor counts
live wakers exactly: a task that returned ``Pending`` and holds no live waker is reported
*lost*. So every future here

* parks by storing ``cx.waker.clone()`` (never ``cx.waker`` itself, which is only borrowed for
  the duration of the poll),
* on a later poll replaces the stored waker only when ``will_wake`` says it changed (dropping
  the old one), and
* releases its waker as soon as it is no longer needed: it is consumed by ``wake()`` when the
  event it waits for happens, or dropped when the future completes or is itself dropped (a
  cancelled task's coroutine closes the future it awaits: ``close()`` drops it; a future
  polled by hand is given up with ``drop()``).

**Counting rule of the wait queues (FIFO hand-off).** Each item put into an mpsc channel is
handed to the oldest parked receiver (a permit of the receivers' queue: one per item nobody was
promised), and each slot freed in a bounded channel to the oldest parked sender (a permit of the
senders' queue). A future that was chosen but is dropped before it used its turn hands the
item or slot on to the next waiter, so a cancelled task can never swallow a wake that another
task needs (WQ-NO-LOST-NOTIFY). Closing a side closes the queue of the other side (every waiter
is woken, later ones end at once); ``Event.set`` wakes every waiter (a broadcast) and a oneshot
``send`` closes its queue.

**Threads.** Every operation takes the structure's lock, and wakers are called only after the
lock is released (a waker may run arbitrary code). So every method here may be called from any
thread: in particular ``Event.set``, oneshot ``Sender.send``, mpsc ``Sender.try_send`` and every
``close`` are the ways for a plain thread to feed async code. The futures (``rx``, ``rx.recv()``,
``tx.send(v)``, ``ev.wait()``) must be awaited by a task, like any future. ``__del__`` may run in
the middle of one of our own critical sections (a garbage collection can start at any
allocation), so it never blocks on the lock: it queues its work, and whoever holds the lock
runs that work right after releasing it.

**Fast path.** ``await tx.send(v)`` and ``await rx.recv()`` first try to complete at once: under
the lock, exactly as the first poll would, but without building a Context, a ``Ready`` or an
action list when no waker has to be called (the common case of a channel that is neither empty
nor full). Only when the operation must wait do they fall back to polling (parking a waker
clone). The first poll of the future never uses its Context when it completes, so the fast path
and the poll are the same transition; the lock is still taken, so every method stays safe from
any thread.

**End of an mpsc stream.** ``await rx.recv()`` raises :class:`ChannelClosed` once every sender
is closed and the buffer is drained (``None`` is a legitimate item, so it cannot double as an
end marker); ``async for item in rx`` simply stops there.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Generator
from typing import Any, Final, Generic, TypeVar

from refexec.errors import RefexecError
from refexec.future import PENDING, FutureBase, _ready, _runner
from refexec.future import _local as _runner_local
from refexec.poll import Pending, Poll, Ready
from refexec.waitqueue import (
    _DONE,
    _FRESH,
    _PENDING,
    _QUEUED,
    BROADCAST,
    CLOSED,
    GRANTED,
    Action,
    Wait,
    WaitHandle,
    Waiting,
    WaitQueue,
    _cx,
    clone_raw,
)
from refexec.waker import Context, _finalizer_interrupted, _waker_failed

__all__ = [
    "ChannelClosed",
    "ChannelEmpty",
    "ChannelFull",
    "Event",
    "OneshotReceiver",
    "OneshotSender",
    "Receiver",
    "Sender",
    "channel",
    "oneshot",
]

T = TypeVar("T")


class ChannelClosed(RefexecError):
    """The other side of the channel is gone, so this operation can never succeed.

    Raised by a receive when every sender was closed (or dropped) and nothing is left to
    receive, and by a send when the receiver was closed (or dropped): the value was not
    delivered.
    """


class ChannelEmpty(RefexecError):
    """``try_recv()`` found nothing to receive yet; the senders are still open (await instead)."""


class ChannelFull(RefexecError):
    """``try_send()`` found a bounded channel at capacity; ``await tx.send(v)`` waits for room."""


# ---------------------------------------------------------------------------------------------
# Locking and the wait queue shared by all three structures.


_Action = Action
"""A raw waker to act on after the lock is released: ``True`` to wake it, ``False`` to drop it."""


class _Shared:
    """A lock plus the rule that wakers are called only after it is released.

    ``__del__`` methods use :meth:`_defer` instead of the lock: if the lock is free the work
    runs at once, otherwise the holder runs it just after releasing (the holder re-checks the
    deferred queue after every release, and so does the deferring thread after queueing, so
    the work cannot be stranded).
    """

    __slots__ = ("_deferred", "_lock")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._deferred: deque[Callable[[list[_Action]], None]] = deque()

    def _run(self, actions: list[_Action]) -> None:
        """After releasing the lock: act on the wakers, then run any work ``__del__`` queued.

        Every action is taken even if a waker raises (the other waiters are innocent, and a
        waker skipped would leave its task waiting for ever); the first failure is raised at
        the end, noted with the waker that raised it (see ``refexec.waker._waker_failed``).
        """
        failure: BaseException | None = None
        while True:
            failure = _act_all(actions, failure)
            if not self._deferred or self._lock.locked():
                break  # nothing queued, or the current holder will run it after releasing
            actions = []
            # Free a moment ago, so not held by this thread: a blocking ``with`` cannot deadlock
            # here (at worst it waits for another thread), and unlike acquire(blocking=False)
            # followed by a ``try``, no interrupt can land between taking the lock and arming
            # its release.
            with self._lock:
                while self._deferred:
                    self._deferred.popleft()(actions)
        if failure is not None:
            raise failure

    def _defer(self, work: Callable[[list[_Action]], None]) -> None:
        """Run ``work`` under the lock now if it is free, else right after its holder releases.
        Called by finalizers only: an interrupt landing here is raised again later (Python
        would swallow it; see ``refexec.waker._finalizer_interrupted``)."""
        try:
            self._deferred.append(work)
            self._run([])
        except BaseException as e:
            _finalizer_interrupted(e)
            raise


def _act_all(actions: list[_Action], failure: BaseException | None) -> BaseException | None:
    """Wake or drop each raw waker of ``actions``; return the failure to raise once all are
    done."""
    for raw, wake in actions:
        try:
            if wake:
                raw.vtable.wake(raw.data)
            else:
                raw.vtable.drop(raw.data)
        except BaseException as e:  # raised by _run after every other action was taken
            failure = _waker_failed(failure, e, raw, "wake" if wake else "drop")
    return failure


class _SyncWait(Wait[T]):
    """A waiter of one of this module's queues: every step runs under the structure's lock
    (the queue's ``owner``), and the wakers it collected are acted on after releasing it."""

    __slots__ = ()

    def poll(self, cx: Context) -> Poll[T]:
        sh: _Shared = self._q.owner
        out: list[_Action] = []
        try:
            sh._lock.acquire()  # inside the try: see _locked
            v = self._advance(cx, out)
        finally:
            sh._lock.release()
            sh._run(out)
        return Pending if v is _PENDING else Ready(v)

    def __next__(self) -> Any:
        if _runner().current is None:
            _cx(None)  # raises: awaited outside a refexec task (even when it need not wait)
        sh: _Shared = self._q.owner
        out: list[_Action] = []
        try:
            sh._lock.acquire()  # inside the try: see _locked
            v = self._advance(None, out)
        finally:
            sh._lock.release()
            if out or sh._deferred:
                sh._run(out)
        if v is _PENDING:
            return PENDING
        raise StopIteration(v)

    def drop(self) -> None:
        sh: _Shared = self._q.owner
        with _locked(sh) as out, sh._lock:
            self._drop(out)

    def _finalize(self) -> None:
        # a finalizer may run inside one of our own critical sections: never block on the lock
        self._q.owner._defer(self._drop)


def _leave(w: Wait[Any], out: list[_Action]) -> None:
    """Take a queued waiter out (its raw waker is dropped); a no-op for any other state."""
    if w._st == _QUEUED:
        w._q._unlink(w)
        raw, w._raw = w._raw, None
        assert raw is not None
        out.append((raw, False))
    w._st = _DONE


class _locked:  # named as the function it replaced, and used like one
    """``with _locked(s) as out, s._lock:`` runs the block under the lock, then acts on ``out``.

    Interrupt safety. CPython delivers an interrupt only at function entry, after a call, or at
    a backward jump. So ``acquire(); try: ...`` can be interrupted right after ``acquire()``
    returned, outside the ``try``: the lock stays held for ever and the next operation on the
    structure deadlocks its thread (a generator context manager has the same gap: its
    ``__enter__`` is Python code that returns after acquiring). Two forms have no gap:
    ``with lock:`` (C code takes the lock and arms its release), used here, the lock being the
    *second* context manager (this object only owns the action list, acted on after the lock
    is released); and ``try: lock.acquire() ... finally: lock.release()``, with ``acquire()``
    the first call inside the ``try`` (the first point an interrupt can land is after it
    returned, inside the ``try``), used on the hot paths, where it is the cheaper of the two.
    """

    __slots__ = ("_actions", "_shared")

    def __init__(self, shared: _Shared) -> None:
        self._shared = shared
        self._actions: list[_Action] = []

    def __enter__(self) -> list[_Action]:
        return self._actions

    def __exit__(self, *exc_info: object) -> None:
        self._shared._run(self._actions)


# ---------------------------------------------------------------------------------------------
# Oneshot channel.

_EMPTY, _SENT, _TAKEN, _SENDER_CLOSED = range(4)


class _OneshotShared(_Shared, Generic[T]):
    __slots__ = ("receiver_closed", "state", "value", "waiters")

    def __init__(self) -> None:
        super().__init__()
        self.state = _EMPTY
        self.value: T | None = None
        self.receiver_closed = False
        self.waiters = WaitQueue(0, self, bound=False)  # the receiver, while it waits

    def close_sender(self, out: list[_Action]) -> None:
        if self.state == _EMPTY:
            self.state = _SENDER_CLOSED
            out.extend(self.waiters._close())

    def close_receiver(self, out: list[_Action]) -> None:
        self.receiver_closed = True
        if self.state == _SENT:  # nobody will take it: release the value now
            self.value = None


class OneshotSender(Generic[T]):
    """The sending half of :func:`oneshot`: ``send(value)`` once, from any thread.

    Closing it without sending (``close()``, leaving a ``with`` block, or simply dropping the
    last reference) wakes the receiver, which then raises :class:`ChannelClosed`.
    """

    __slots__ = ("__weakref__", "_shared", "_spent")

    def __init__(self, shared: _OneshotShared[T]) -> None:
        self._shared = shared
        self._spent = False

    def send(self, value: T) -> None:
        """Deliver ``value`` and wake the receiver. Thread-safe; never blocks.

        Raises :class:`ChannelClosed` if the receiver was closed or dropped (the value is not
        delivered), and ``RuntimeError`` if this sender already sent or was closed.
        """
        shared = self._shared
        with _locked(shared) as out, shared._lock:
            if self._spent:
                raise RuntimeError(
                    "this oneshot Sender was already used (send() or close() was called); "
                    "a oneshot channel carries exactly one value"
                )
            self._spent = True
            if shared.receiver_closed:
                raise ChannelClosed("oneshot receiver was closed or dropped; value not delivered")
            shared.value = value
            shared.state = _SENT
            out.extend(shared.waiters._close())  # a oneshot fires once: nobody parks again

    def close(self) -> None:
        """Give up without sending: the receiver wakes and raises :class:`ChannelClosed`.

        Idempotent, and a no-op after :meth:`send`.
        """
        if self._spent:
            return
        self._spent = True
        with _locked(self._shared) as out, self._shared._lock:
            self._shared.close_sender(out)

    def is_closed(self) -> bool:
        """Whether the receiver was closed or dropped (a ``send`` would fail)."""
        return self._shared.receiver_closed

    def __enter__(self) -> OneshotSender[T]:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __del__(self) -> None:
        if not self._spent:
            self._spent = True
            self._shared._defer(self._shared.close_sender)


class _OneshotWait(_SyncWait[T]):
    """The receiver's waiter: parks until the value is sent or the sender is gone."""

    __slots__ = ()

    def __init__(self, rx: OneshotReceiver[T]) -> None:
        super().__init__(rx._shared.waiters)  # never a reference to rx: dropping rx closes it

    def _advance(self, cx: Context | None, out: list[_Action]) -> Any:
        shared: _OneshotShared[T] = self._q.owner
        state = shared.state
        if state == _SENT:
            _leave(self, out)
            value = shared.value
            shared.value = None
            shared.state = _TAKEN
            return value
        if state == _TAKEN:
            raise RuntimeError("oneshot receiver polled again after it delivered its value")
        if state == _SENDER_CLOSED:
            _leave(self, out)
            raise ChannelClosed("oneshot sender was closed or dropped without sending")
        if shared.receiver_closed:
            raise ChannelClosed("oneshot receiver was closed before a value arrived")
        if self._st == _QUEUED:
            self._repark(cx, out)
        else:
            self._q._park(self, clone_raw(_cx(cx)))
        return _PENDING


class OneshotReceiver(FutureBase[T]):
    """The receiving half of :func:`oneshot`; ``await rx`` gives the value.

    It is itself the future (as in Rust): poll it from one task. It raises
    :class:`ChannelClosed` if the sender was closed or dropped without sending, and
    ``RuntimeError`` if polled again after it delivered the value. Awaiting it parks one small
    waiter (no coroutine frame); dropping the receiver closes it.
    """

    __slots__ = ("_closed", "_node", "_shared")

    def __init__(self, shared: _OneshotShared[T]) -> None:
        self._shared = shared
        self._closed = False
        self._node: _OneshotWait[T] | None = None  # the waiter while polled by hand

    def poll(self, cx: Context) -> Poll[T]:
        """Ready with the value once sent; otherwise park this task's waker and stay Pending."""
        n = self._node
        if n is None or n._st == _DONE:
            n = self._node = _OneshotWait(self)
        return n.poll(cx)

    def __await__(self) -> Generator[Any, None, T]:
        self._forget()
        return _OneshotWait(self)  # type: ignore[return-value]  # held by the coroutine

    def _forget(self) -> None:
        n, self._node = self._node, None
        if n is not None:
            n.drop()

    def try_recv(self) -> T:
        """Take the value without waiting: raise :class:`ChannelEmpty` if not sent yet,
        :class:`ChannelClosed` if it never will be."""
        shared = self._shared
        n = self._node
        with _locked(shared) as out, shared._lock:
            if shared.state == _SENT:
                if n is not None:
                    _leave(n, out)
                value = shared.value
                shared.value = None
                shared.state = _TAKEN
                return value  # type: ignore[return-value]
            if shared.state == _TAKEN:
                raise RuntimeError("oneshot value was already received")
            if shared.state == _SENDER_CLOSED or self._closed:
                raise ChannelClosed("oneshot channel closed without a value")
            raise ChannelEmpty("no value sent yet")

    def close(self) -> None:
        """Refuse the value: a later ``send`` raises :class:`ChannelClosed`. Idempotent."""
        if self._closed:
            return
        self._closed = True
        n, self._node = self._node, None
        with _locked(self._shared) as out, self._shared._lock:
            if n is not None:
                n._drop(out)
            self._shared.close_receiver(out)

    def __del__(self) -> None:
        try:
            closed = self._closed
        except AttributeError:  # __init__ was cut short (an interrupt)
            return
        if not closed:
            self._closed = True
            n, self._node = self._node, None
            shared = self._shared

            def work(out: list[_Action]) -> None:
                if n is not None:
                    n._drop(out)
                shared.close_receiver(out)
            shared._defer(work)


def oneshot() -> tuple[OneshotSender[T], OneshotReceiver[T]]:
    """A channel that carries exactly one value: ``tx.send(v)`` (any thread), ``await rx``.

    >>> tx, rx = oneshot()          # doctest: +SKIP
    >>> tx.send(42); await rx       # doctest: +SKIP
    42
    """
    shared: _OneshotShared[T] = _OneshotShared()
    return OneshotSender(shared), OneshotReceiver(shared)


# ---------------------------------------------------------------------------------------------
# Multi-producer, single-consumer channel.


class _ChannelShared(_Shared, Generic[T]):
    """State of one mpsc channel.

    Two counting wait queues do the hand-off: ``recv_waiters`` has a permit per buffered item
    nobody was promised (a parked receiver is handed the next item), ``send_waiters`` (bounded
    channels) a permit per free slot nobody was promised. Invariants (under the lock):
    ``capacity is None or len(buffer) <= capacity``; ``senders >= 0``;
    ``recv_waiters.permits`` = items buffered minus those promised to chosen receivers;
    bounded: ``send_waiters.permits`` = free slots minus those promised to chosen senders.
    """

    __slots__ = ("buffer", "capacity", "receiver_closed", "recv_waiters", "send_waiters", "senders")

    def __init__(self, capacity: int | None) -> None:
        super().__init__()
        self.buffer: deque[T] = deque()
        self.capacity = capacity
        self.senders = 1
        self.receiver_closed = False
        self.recv_waiters = WaitQueue(0, self, bound=False)
        self.send_waiters = WaitQueue(capacity or 0, self, bound=False)

    def push(self, value: T, out: list[_Action]) -> None:
        """Append an item (room and an open receiver already checked); hand it to the oldest
        parked receiver, if any."""
        self.buffer.append(value)
        raw = self.recv_waiters._release()
        if raw is not None:
            out.append((raw, True))

    def pop(self, out: list[_Action]) -> T:
        """Take the oldest item (a receive permit already taken); free its slot."""
        item = self.buffer.popleft()
        if self.capacity is not None:
            raw = self.send_waiters._release()
            if raw is not None:
                out.append((raw, True))
        return item

    def release_sender(self, out: list[_Action]) -> None:
        self.senders -= 1
        if self.senders == 0:
            out.extend(self.recv_waiters._close())  # they will see the end of the stream

    def close_receiver(self, out: list[_Action]) -> None:
        if not self.receiver_closed:
            self.receiver_closed = True
            out.extend(self.send_waiters._close())  # they will fail with ChannelClosed
            out.extend(self.recv_waiters._close())  # an empty buffer now means the end


class Sender(Generic[T]):
    """A sending handle of :func:`channel`. Clone it for more producers.

    The channel's stream ends when every handle is closed: by :meth:`close`, at the end of a
    ``with`` block, or by dropping its last reference. Sending on a closed handle is a
    ``RuntimeError``; sending after the receiver is gone raises :class:`ChannelClosed`.
    """

    __slots__ = ("__weakref__", "_closed", "_shared")

    def __init__(self, shared: _ChannelShared[T]) -> None:
        self._shared = shared
        self._closed = False

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("this Sender was closed; clone() a sender before closing it")

    def send(self, value: T) -> FutureBase[None]:
        """``await tx.send(v)``: deliver ``v``, waiting for room if the channel is bounded."""
        if self._closed:
            self._check_open()
        f: _Send = _new(_Send)
        f._node = None
        f._sender = self
        f._value = value
        return f

    def try_send(self, value: T) -> None:
        """Deliver ``value`` now or raise: :class:`ChannelFull` (bounded, at capacity) or
        :class:`ChannelClosed` (receiver gone). Thread-safe; never blocks."""
        shared = self._shared
        with _locked(shared) as out, shared._lock:
            self._check_open()
            if shared.receiver_closed:
                raise ChannelClosed("channel receiver was closed or dropped; value not delivered")
            if shared.capacity is not None and not shared.send_waiters.try_acquire():
                raise ChannelFull(f"channel is at capacity ({shared.capacity})")
            shared.push(value, out)

    def clone(self) -> Sender[T]:
        """Another handle on the same channel; the stream stays open until all are closed."""
        with _locked(self._shared), self._shared._lock:
            self._check_open()
            self._shared.senders += 1
        return Sender(self._shared)

    def close(self) -> None:
        """Close this handle (idempotent). The last one to close ends the receiver's stream."""
        if self._closed:
            return
        self._closed = True
        with _locked(self._shared) as out, self._shared._lock:
            self._shared.release_sender(out)

    def is_closed(self) -> bool:
        """Whether the receiver was closed or dropped (sends would fail)."""
        return self._shared.receiver_closed

    def __enter__(self) -> Sender[T]:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __del__(self) -> None:
        if not self._closed:
            self._closed = True
            self._shared._defer(self._shared.release_sender)


_new = object.__new__


_EXHAUSTED: Final = iter(())
"""What ``__await__`` returns for a future done at once with ``None``: an exhausted C
iterator, which ``await`` finishes without a Python call or a StopIteration object."""


class _Send(WaitHandle[None]):
    """``tx.send(v)``: the future. Awaited, it first tries to complete at once (room in the
    buffer: the value goes in under the lock, exactly the first poll's Ready transition, with
    no waiter made); only if it must wait is its waiter (:class:`_SendWait`) made, and that is
    what the task then awaits. Polled by hand, it polls its waiter."""

    __slots__ = ("_sender", "_value")
    # Made only by Sender.send (no __init__: a plain allocation is the cheapest).
    _sender: Sender[Any] | None  # until the waiter is made or the send is done
    _value: object

    def _wait(self) -> Wait[None]:
        n = self._node
        if n is None:
            sender = self._sender
            if sender is None:
                raise RuntimeError("this send() future was already awaited")
            n = self._node = _SendWait(sender, self._value)
            self._sender = self._value = None
            self.__class__ = _SendHeld  # it keeps a waiter now: dropping it must drop that
        return n

    def __await__(self) -> Generator[Any, None, None]:
        sender = self._sender
        try:
            in_task = _runner_local.runner.current is not None
        except AttributeError:
            in_task = False
        if sender is not None and in_task:
            shared = sender._shared
            lock = shared._lock
            out: list[_Action] | None = None
            done = False
            try:
                lock.acquire()  # inside the try: see _locked
                if not shared.receiver_closed and not sender._closed:
                    sq = shared.send_waiters
                    if shared.capacity is None:
                        done = True
                    elif sq._permits > 0:
                        sq._permits -= 1
                        done = True
                    if done:
                        shared.buffer.append(self._value)
                        rq = shared.recv_waiters
                        if rq._head is None:
                            rq._permits += 1
                        else:
                            out = [(rq._choose(GRANTED), True)]
            finally:
                lock.release()
            if done:
                self._sender = self._value = None
                if out is not None or shared._deferred:
                    shared._run(out or [])
                return _EXHAUSTED  # type: ignore[return-value]
        return WaitHandle.__await__(self)


class _SendHeld(_Send):
    """A ``_Send`` that keeps a waiter (polled by hand): its finalizer drops the waiter."""

    __slots__ = ()

    def __del__(self) -> None:
        self._finalize_node()


class _Recv(WaitHandle[T]):
    """``rx.recv()``: the future; awaited, it takes a free item at once if there is one (no
    waiter made), else its waiter (:class:`_RecvWait`) parks. See :class:`_Send`."""

    __slots__ = ("_receiver",)
    _receiver: Receiver[T] | None

    def _wait(self) -> Wait[T]:
        n = self._node
        if n is None:
            receiver = self._receiver
            if receiver is None:
                raise RuntimeError("this recv() future was already awaited")
            n = self._node = _RecvWait(receiver)
            self._receiver = None
            self.__class__ = _RecvHeld
        return n

    def __await__(self) -> Generator[Any, None, T]:
        receiver = self._receiver
        try:
            in_task = _runner_local.runner.current is not None
        except AttributeError:
            in_task = False
        if receiver is not None and in_task:
            shared = receiver._shared
            lock = shared._lock
            out: list[_Action] | None = None
            got = False
            try:
                lock.acquire()  # inside the try: see _locked
                rq = shared.recv_waiters
                if rq._permits > 0:
                    rq._permits -= 1
                    item = shared.buffer.popleft()
                    got = True
                    if shared.capacity is not None:
                        sq = shared.send_waiters
                        if sq._head is None:
                            sq._permits += 1
                        else:
                            out = [(sq._choose(GRANTED), True)]
            finally:
                lock.release()
            if got:
                self._receiver = None
                if out is not None or shared._deferred:
                    shared._run(out or [])
                return _ready(item)
        return WaitHandle.__await__(self)


class _RecvHeld(_Recv[T]):
    """A ``_Recv`` that keeps a waiter: see ``_SendHeld``."""

    __slots__ = ()

    def __del__(self) -> None:
        self._finalize_node()


class _SendWait(_SyncWait[None]):
    """``tx.send(v)``: Ready once ``v`` is in the buffer; parks (a waiter of the senders'
    queue) while a bounded buffer is full, until a free slot is handed to it."""

    __slots__ = ("_sender", "_value")

    def __init__(self, sender: Sender[Any], value: object) -> None:
        super().__init__(sender._shared.send_waiters)
        self._sender: Sender[Any] | None = sender  # keeps the handle (the stream) open
        self._value = value

    def _advance(self, cx: Context | None, out: list[_Action]) -> Any:
        st = self._st
        sender = self._sender
        if sender is None:
            raise RuntimeError("send future polled again after it completed")
        shared: _ChannelShared[Any] = self._q.owner
        if sender._closed or shared.receiver_closed or st == CLOSED:
            if st == GRANTED:  # a slot was handed over and will not be used: pass it on
                raw = self._q._release()
                if raw is not None:
                    out.append((raw, True))
            _leave(self, out)
            self._sender = self._value = None
            if sender._closed:
                raise RuntimeError("this Sender was closed while a send() was pending")
            raise ChannelClosed("channel receiver was closed or dropped; value not delivered")
        if st == _QUEUED:
            self._repark(cx, out)
            return _PENDING
        if st == _FRESH and shared.capacity is not None and not self._q.try_acquire():
            self._q._park(self, clone_raw(_cx(cx)))
            return _PENDING
        self._st = _DONE
        shared.push(self._value, out)
        self._sender = self._value = None
        return None


class Receiver(Generic[T]):
    """The receiving handle of :func:`channel`: ``await rx.recv()`` or ``async for x in rx``.

    Await it from one task at a time (several tasks sharing it also works: each item goes to
    one of them). Closing it (``close()``, or dropping it) makes further sends fail; items
    already buffered can still be received.
    """

    __slots__ = ("__weakref__", "_closed", "_shared")

    def __init__(self, shared: _ChannelShared[T]) -> None:
        self._shared = shared
        self._closed = False

    def recv(self) -> FutureBase[T]:
        """The next item; raises :class:`ChannelClosed` when the stream has ended."""
        f: _Recv[T] = _new(_Recv)
        f._node = None
        f._receiver = self
        return f

    def try_recv(self) -> T:
        """The next item now, or :class:`ChannelEmpty` (senders still open) /
        :class:`ChannelClosed` (stream ended). Thread-safe."""
        shared = self._shared
        with _locked(shared) as out, shared._lock:
            if shared.recv_waiters.try_acquire():
                return shared.pop(out)
            if not shared.buffer and (shared.senders == 0 or shared.receiver_closed):
                raise ChannelClosed("channel is closed and drained")
            raise ChannelEmpty("channel is empty (or its items are promised to woken receivers)")

    def close(self) -> None:
        """Stop accepting items: pending and later sends raise :class:`ChannelClosed`."""
        self._closed = True
        with _locked(self._shared) as out, self._shared._lock:
            self._shared.close_receiver(out)

    def __aiter__(self) -> Receiver[T]:
        return self

    async def __anext__(self) -> T:
        try:
            return await self.recv()
        except ChannelClosed:
            raise StopAsyncIteration from None

    def __del__(self) -> None:
        if not self._closed:
            self._closed = True
            self._shared._defer(self._shared.close_receiver)


class _RecvWait(_SyncWait[T]):
    """``rx.recv()``: Ready with the oldest item; parks (a waiter of the receivers' queue) while
    no item is free, until one is handed to it."""

    __slots__ = ("_receiver",)

    def __init__(self, receiver: Receiver[T]) -> None:
        super().__init__(receiver._shared.recv_waiters)
        self._receiver: Receiver[T] | None = receiver  # keeps the receiving side open

    def _advance(self, cx: Context | None, out: list[_Action]) -> Any:
        st = self._st
        if st == _FRESH:
            v = super()._advance(cx, out)  # a free item permit, the closed queue, or park
            if v is _PENDING:
                return v
            st = v
        elif st == _QUEUED:
            self._repark(cx, out)
            return _PENDING
        elif st == _DONE:
            raise RuntimeError("recv future polled again after it completed")
        self._st = _DONE
        self._receiver = None
        if st == GRANTED:
            return self._q.owner.pop(out)
        raise ChannelClosed("channel closed: every sender was closed or dropped")


def channel(capacity: int | None = None) -> tuple[Sender[T], Receiver[T]]:
    """A multi-producer, single-consumer channel; unbounded if ``capacity`` is None.

    With a capacity, ``await tx.send(v)`` waits while the buffer holds ``capacity`` items and
    ``tx.try_send(v)`` raises :class:`ChannelFull`.
    """
    if capacity is not None and (not isinstance(capacity, int) or capacity < 1):
        raise ValueError(f"channel capacity must be a positive int or None, not {capacity!r}")
    shared: _ChannelShared[T] = _ChannelShared(capacity)
    return Sender(shared), Receiver(shared)


# ---------------------------------------------------------------------------------------------
# Event.


class _EventShared(_Shared):
    __slots__ = ("flag", "waiters")

    def __init__(self) -> None:
        super().__init__()
        self.flag = False
        self.waiters = WaitQueue(0, self, bound=False)


class Event:
    """A flag tasks can wait for: ``set()`` (any thread) wakes every ``await ev.wait()``.

    ``clear()`` re-arms it. A waiter woken by ``set()`` completes even if ``clear()`` runs
    before it is polled again (it was chosen by the broadcast), so a quick set/clear pulse
    still releases everyone who was waiting.
    """

    __slots__ = ("_shared",)

    def __init__(self) -> None:
        self._shared = _EventShared()

    def set(self) -> None:
        """Set the flag and wake every waiter. Thread-safe; idempotent."""
        sh = self._shared
        with _locked(sh) as out, sh._lock:
            if not sh.flag:
                sh.flag = True
                out.extend(sh.waiters._choose_all(BROADCAST))

    def clear(self) -> None:
        """Reset the flag; later ``wait()`` calls park again."""
        with _locked(self._shared), self._shared._lock:
            self._shared.flag = False

    def is_set(self) -> bool:
        """Whether the flag is set."""
        return self._shared.flag

    def wait(self) -> FutureBase[None]:
        """``await ev.wait()``: Ready at once if set, else when ``set()`` is next called."""
        return Waiting(_EventWait(self._shared.waiters))


class _EventWait(_SyncWait[None]):
    __slots__ = ()

    def _advance(self, cx: Context | None, out: list[_Action]) -> Any:
        if self._st == _FRESH and self._q.owner.flag:
            self._st = _DONE
            return None
        return super()._advance(cx, out)  # parks (the queue has no permit, is never closed)

    def _ready(self, how: Any) -> None:
        return None
