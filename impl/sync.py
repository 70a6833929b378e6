"""Async building blocks: a oneshot channel, an mpsc channel and an ``Event``.

Each is made of poll-based futures (:class:`refexec.future.FutureBase`) that handle wakers the
way Rust's do, because the reference executor counts live wakers exactly: a task that returned
``Pending`` and holds no live waker is reported *lost*. So every future here

* parks by storing ``cx.waker.clone()`` (never ``cx.waker`` itself, which is only borrowed for
  the duration of the poll),
* on a later poll replaces the stored waker only when ``will_wake`` says it changed (dropping
  the old one), and
* releases its waker as soon as it is no longer needed: it is consumed by ``wake()`` when the
  event it waits for happens, or ``drop()``-ed when the future completes or is itself dropped
  (a cancelled task's future is freed; ``__del__`` takes the waker out).

**Counting rule of the wait queues.** Each item put into an mpsc channel wakes exactly one
parked receiver, and each slot freed in a bounded channel wakes exactly one parked sender. A
future that was woken but is dropped before it used its turn hands the wake on to the next
waiter, so a cancelled task can never swallow a wake that another task needs. Closing a side
wakes every waiter of the other side; ``Event.set`` and a oneshot ``send`` wake every waiter.

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
from typing import Any, Generic, TypeVar

from refexec.errors import RefexecError
from refexec.future import FutureBase, _local
from refexec.poll import Pending, Poll, Ready
from refexec.waker import Context, Waker, _finalizer_interrupted, _waker_failed

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


_Action = tuple[Waker, bool]
"""A waker to act on after the lock is released: ``True`` to wake it, ``False`` to drop it."""


class _Waiter:
    """One parked poller: the waker it left, and whether a wake has been handed to it.

    Invariant: ``notified`` iff the waiter was popped by a wake (it is then in no queue and
    ``waker is None``, the handle having been consumed by ``wake()``).
    """

    __slots__ = ("notified", "waker")

    def __init__(self, waker: Waker) -> None:
        self.waker: Waker | None = waker
        self.notified = False


class _WaitQueue:
    """The parked pollers of one side of a structure, oldest first. Use only under the lock.

    Methods never call a waker; they append ``(waker, wake?)`` to ``out`` for the caller to
    act on after releasing the lock.
    """

    __slots__ = ("_entries",)

    def __init__(self) -> None:
        self._entries: dict[_Waiter, None] = {}  # insertion-ordered: a FIFO with O(1) removal

    def __len__(self) -> int:
        return len(self._entries)

    def park(self, entry: _Waiter | None, cx: Context, out: list[_Action]) -> _Waiter:
        """Make sure the poller is queued with the waker of this poll; return its entry.

        A still-queued entry keeps its place; its waker is replaced only if ``will_wake`` says
        the new one is different (the old handle is dropped). A fresh or already-notified
        poller gets a new entry at the back holding ``cx.waker.clone()``.
        """
        if entry is not None and entry in self._entries:
            old = entry.waker
            assert old is not None  # queued entries hold their waker
            if not old.will_wake(cx.waker):
                entry.waker = cx.waker.clone()
                out.append((old, False))
            return entry
        entry = _Waiter(cx.waker.clone())
        self._entries[entry] = None
        return entry

    def leave(self, entry: _Waiter | None, out: list[_Action]) -> bool:
        """Take a poller out (its waker is dropped). Return whether it had been notified.

        Called when the poller completes, or when its future is dropped; in the latter case a
        ``True`` result means the caller must hand the wake on with :meth:`wake_one`.
        """
        if entry is None:
            return False
        if entry in self._entries:
            del self._entries[entry]
            if entry.waker is not None:
                out.append((entry.waker, False))
                entry.waker = None
            return False
        return entry.notified

    def wake_one(self, out: list[_Action]) -> None:
        """Hand one wake to the oldest waiter, if any."""
        for entry in self._entries:
            del self._entries[entry]
            self._notify(entry, out)
            return

    def wake_all(self, out: list[_Action]) -> None:
        """Hand a wake to every waiter, oldest first."""
        entries, self._entries = self._entries, {}
        for entry in entries:
            self._notify(entry, out)

    @staticmethod
    def _notify(entry: _Waiter, out: list[_Action]) -> None:
        waker = entry.waker
        assert waker is not None
        entry.waker = None
        entry.notified = True
        out.append((waker, True))


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
    """Wake or drop each waker of ``actions``; return the failure to raise once all are done."""
    for waker, wake in actions:
        raw = waker._raw  # for the note: wake()/drop() end the handle before the vtable call
        if raw is None and not wake:
            # already ended (an interrupt cut short the bookkeeping that would have forgotten
            # it): dropping it again changes nothing, and from a finalizer an error is lost
            continue
        try:
            if wake:
                waker.wake()
            else:
                waker.drop()
        except BaseException as e:  # raised by _run after every other action was taken
            failure = _waker_failed(failure, e, raw, "wake" if wake else "drop")
    return failure


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
        self.waiters = _WaitQueue()

    def close_sender(self, out: list[_Action]) -> None:
        if self.state == _EMPTY:
            self.state = _SENDER_CLOSED
            self.waiters.wake_all(out)

    def close_receiver(self, entry: _Waiter | None, out: list[_Action]) -> None:
        self.receiver_closed = True
        self.waiters.leave(entry, out)
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
            shared.waiters.wake_all(out)

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


class OneshotReceiver(FutureBase[T]):
    """The receiving half of :func:`oneshot`; ``await rx`` gives the value.

    It is itself the future (as in Rust): poll it from one task. It raises
    :class:`ChannelClosed` if the sender was closed or dropped without sending, and
    ``RuntimeError`` if polled again after it delivered the value.
    """

    __slots__ = ("_closed", "_entry", "_shared")

    def __init__(self, shared: _OneshotShared[T]) -> None:
        self._shared = shared
        self._entry: _Waiter | None = None
        self._closed = False

    def poll(self, cx: Context) -> Poll[T]:
        """Ready with the value once sent; otherwise park this task's waker and stay Pending."""
        shared = self._shared
        with _locked(shared) as out, shared._lock:
            state = shared.state
            if state == _SENT:
                shared.waiters.leave(self._entry, out)
                self._entry = None
                value = shared.value
                shared.value = None
                shared.state = _TAKEN
                return Ready(value)  # type: ignore[arg-type]  # set together with _SENT
            if state == _TAKEN:
                raise RuntimeError("oneshot receiver polled again after it delivered its value")
            if state == _SENDER_CLOSED:
                shared.waiters.leave(self._entry, out)
                self._entry = None
                raise ChannelClosed("oneshot sender was closed or dropped without sending")
            if self._closed:
                raise ChannelClosed("oneshot receiver was closed before a value arrived")
            self._entry = shared.waiters.park(self._entry, cx, out)
            return Pending

    def try_recv(self) -> T:
        """Take the value without waiting: raise :class:`ChannelEmpty` if not sent yet,
        :class:`ChannelClosed` if it never will be."""
        shared = self._shared
        with _locked(shared) as out, shared._lock:
            if shared.state == _SENT:
                shared.waiters.leave(self._entry, out)
                self._entry = None
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
        entry, self._entry = self._entry, None
        with _locked(self._shared) as out, self._shared._lock:
            self._shared.close_receiver(entry, out)

    def __del__(self) -> None:
        if not self._closed:
            self._closed = True
            entry, self._entry = self._entry, None
            shared = self._shared
            shared._defer(lambda out: shared.close_receiver(entry, out))


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

    Invariants (under the lock):
    ``capacity is None or len(buffer) <= capacity``;
    ``senders >= 0``; ``recv_waiters`` non-empty only while ``not buffer``;
    ``send_waiters`` non-empty only while the buffer is full and the receiver open.
    """

    __slots__ = ("buffer", "capacity", "receiver_closed", "recv_waiters", "send_waiters", "senders")

    def __init__(self, capacity: int | None) -> None:
        super().__init__()
        self.buffer: deque[T] = deque()
        self.capacity = capacity
        self.senders = 1
        self.receiver_closed = False
        self.recv_waiters = _WaitQueue()
        self.send_waiters = _WaitQueue()

    def has_room(self) -> bool:
        return self.capacity is None or len(self.buffer) < self.capacity

    def push(self, value: T, out: list[_Action]) -> None:
        """Append an item (room and an open receiver already checked); wake one receiver."""
        self.buffer.append(value)
        self.recv_waiters.wake_one(out)

    def pop(self, out: list[_Action]) -> T:
        """Take the oldest item (buffer already checked non-empty); wake one waiting sender."""
        item = self.buffer.popleft()
        if self.capacity is not None:
            self.send_waiters.wake_one(out)
        return item

    def release_sender(self, out: list[_Action]) -> None:
        self.senders -= 1
        if self.senders == 0:
            self.recv_waiters.wake_all(out)  # they will see the end of the stream

    def close_receiver(self, out: list[_Action]) -> None:
        if not self.receiver_closed:
            self.receiver_closed = True
            self.send_waiters.wake_all(out)  # they will fail with ChannelClosed
            self.recv_waiters.wake_all(out)  # an empty buffer now means the end

    def abandon(self, queue: _WaitQueue, entry: _Waiter, out: list[_Action]) -> None:
        """A parked future was dropped: take it out, and pass on a wake it had not used."""
        if queue.leave(entry, out):
            queue.wake_one(out)


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
        f = _SendFuture()
        f._sender = self
        f._value = value
        f._entry = None
        return f

    def try_send(self, value: T) -> None:
        """Deliver ``value`` now or raise: :class:`ChannelFull` (bounded, at capacity) or
        :class:`ChannelClosed` (receiver gone). Thread-safe; never blocks."""
        shared = self._shared
        with _locked(shared) as out, shared._lock:
            self._check_open()
            if shared.receiver_closed:
                raise ChannelClosed("channel receiver was closed or dropped; value not delivered")
            if not shared.has_room():
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


class _SendFuture(FutureBase[None]):
    """``tx.send(v)``: Ready once ``v`` is in the buffer; parks while a bounded buffer is full."""

    __slots__ = ("_entry", "_sender", "_value")
    # Made only by Sender.send (no __init__: a plain allocation is the cheapest).
    _sender: Sender[Any] | None  # keeps the handle (and the stream) open; None once done
    _value: object
    _entry: _Waiter | None  # the parked waiter, if the future waits for room

    def __await__(self) -> Generator[Any, None, None]:
        """Fast path: room in the buffer, so the value goes in now (the first poll's Ready
        transition, without a Context); otherwise poll (and park) as any future does."""
        sender = self._sender
        try:
            in_task = _local.runner.current is not None  # else FutureBase.__await__ raises
        except AttributeError:
            in_task = False
        if in_task and sender is not None and self._entry is None:
            shared = sender._shared
            lock = shared._lock
            out: list[_Action] | None = None
            try:
                lock.acquire()  # inside the try: see _locked
                cap = shared.capacity
                buffer = shared.buffer
                done = not shared.receiver_closed and not sender._closed and (
                    cap is None or len(buffer) < cap
                )
                if done:
                    buffer.append(self._value)
                    if shared.recv_waiters._entries:
                        out = []
                        shared.recv_waiters.wake_one(out)
            finally:
                lock.release()
            if done:
                self._value = None
                self._sender = None
                if out is not None or shared._deferred:
                    shared._run(out or [])
                return None
        return (yield from FutureBase.__await__(self))

    def poll(self, cx: Context) -> Poll[None]:
        sender = self._sender
        if sender is None:
            raise RuntimeError("send future polled again after it completed")
        shared = sender._shared
        out: list[_Action] = []
        try:
            shared._lock.acquire()  # inside the try: see _locked
            if shared.receiver_closed or sender._closed:
                shared.send_waiters.leave(self._entry, out)
                self._entry = None
                self._sender = None
                if sender._closed:
                    raise RuntimeError("this Sender was closed while a send() was pending")
                raise ChannelClosed("channel receiver was closed or dropped; value not delivered")
            if shared.has_room():
                shared.send_waiters.leave(self._entry, out)
                self._entry = None
                shared.push(self._value, out)
                self._value = None
                self._sender = None
                return Ready(None)
            self._entry = shared.send_waiters.park(self._entry, cx, out)
            if type(self) is _SendFuture:
                self.__class__ = _ParkedSendFuture  # from now on, dropping it must abandon
            return Pending
        finally:
            shared._lock.release()
            shared._run(out)



class _ParkedSendFuture(_SendFuture):
    """A ``_SendFuture`` that parked once: dropping it takes its waiter out of the queue.

    A send future that never parked holds no waiter, so it needs no finalizer: the class is
    switched on the first park (same slots), which keeps ``__del__`` off the fast path.
    """

    __slots__ = ()

    def __del__(self) -> None:
        entry, sender = self._entry, self._sender
        if entry is not None and sender is not None:
            self._entry = None
            shared = sender._shared
            shared._defer(lambda out: shared.abandon(shared.send_waiters, entry, out))


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
        f: _RecvFuture[T] = _RecvFuture()
        f._receiver = self
        f._entry = None
        return f

    def try_recv(self) -> T:
        """The next item now, or :class:`ChannelEmpty` (senders still open) /
        :class:`ChannelClosed` (stream ended). Thread-safe."""
        shared = self._shared
        with _locked(shared) as out, shared._lock:
            if shared.buffer:
                return shared.pop(out)
            if shared.senders == 0 or shared.receiver_closed:
                raise ChannelClosed("channel is closed and drained")
            raise ChannelEmpty("channel is empty")

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


class _RecvFuture(FutureBase[T]):
    """``rx.recv()``: Ready with the oldest item; parks while the buffer is empty."""

    __slots__ = ("_entry", "_receiver")
    # Made only by Receiver.recv (no __init__: a plain allocation is the cheapest).
    _receiver: Receiver[T] | None  # keeps the receiving side open; None once done
    _entry: _Waiter | None  # the parked waiter, if the future waits for an item

    def __await__(self) -> Generator[Any, None, T]:
        """Fast path: an item is buffered, so take it now (the first poll's Ready transition,
        without a Context); otherwise poll (and park) as any future does."""
        receiver = self._receiver
        try:
            in_task = _local.runner.current is not None  # else FutureBase.__await__ raises
        except AttributeError:
            in_task = False
        if in_task and receiver is not None and self._entry is None:
            shared = receiver._shared
            lock = shared._lock
            out: list[_Action] | None = None
            try:
                lock.acquire()  # inside the try: see _locked
                buffer = shared.buffer
                if buffer:
                    item = buffer.popleft()
                    if shared.capacity is not None and shared.send_waiters._entries:
                        out = []
                        shared.send_waiters.wake_one(out)
                    got = True
                else:
                    got = False
            finally:
                lock.release()
            if got:
                self._receiver = None
                if out is not None or shared._deferred:
                    shared._run(out or [])
                return item
        return (yield from FutureBase.__await__(self))

    def poll(self, cx: Context) -> Poll[T]:
        receiver = self._receiver
        if receiver is None:
            raise RuntimeError("recv future polled again after it completed")
        shared = receiver._shared
        out: list[_Action] = []
        try:
            shared._lock.acquire()  # inside the try: see _locked
            if shared.buffer:
                shared.recv_waiters.leave(self._entry, out)
                self._entry = None
                self._receiver = None
                return Ready(shared.pop(out))
            if shared.senders == 0 or shared.receiver_closed:
                shared.recv_waiters.leave(self._entry, out)
                self._entry = None
                self._receiver = None
                raise ChannelClosed("channel closed: every sender was closed or dropped")
            self._entry = shared.recv_waiters.park(self._entry, cx, out)
            if type(self) is _RecvFuture:
                self.__class__ = _ParkedRecvFuture  # from now on, dropping it must abandon
            return Pending
        finally:
            shared._lock.release()
            shared._run(out)



class _ParkedRecvFuture(_RecvFuture[T]):
    """A ``_RecvFuture`` that parked once: dropping it takes its waiter out of the queue (and
    hands on a wake it had not used). Switched to on the first park, like ``_ParkedSendFuture``.
    """

    __slots__ = ()

    def __del__(self) -> None:
        entry, receiver = self._entry, self._receiver
        if entry is not None and receiver is not None:
            self._entry = None
            shared = receiver._shared
            shared._defer(lambda out: shared.abandon(shared.recv_waiters, entry, out))


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


class Event:
    """A flag tasks can wait for: ``set()`` (any thread) wakes every ``await ev.wait()``.

    ``clear()`` re-arms it. A waiter woken by ``set()`` completes even if ``clear()`` runs
    before it is polled again (it compares the set-generation it started under), so a quick
    set/clear pulse still releases everyone who was waiting.
    """

    __slots__ = ("_flag", "_generation", "_shared", "_waiters")

    def __init__(self) -> None:
        self._shared = _Shared()
        self._flag = False
        self._generation = 0  # bumped by every set() that changes the flag
        self._waiters = _WaitQueue()

    def set(self) -> None:
        """Set the flag and wake every waiter. Thread-safe; idempotent."""
        with _locked(self._shared) as out, self._shared._lock:
            if not self._flag:
                self._flag = True
                self._generation += 1
                self._waiters.wake_all(out)

    def clear(self) -> None:
        """Reset the flag; later ``wait()`` calls park again."""
        with _locked(self._shared), self._shared._lock:
            self._flag = False

    def is_set(self) -> bool:
        """Whether the flag is set."""
        return self._flag

    def wait(self) -> FutureBase[None]:
        """``await ev.wait()``: Ready at once if set, else when ``set()`` is next called."""
        return _EventWait(self)

    def _abandon(self, entry: _Waiter, out: list[_Action]) -> None:
        self._waiters.leave(entry, out)  # set() wakes everyone, so nothing to pass on


class _EventWait(FutureBase[None]):
    __slots__ = ("_entry", "_event", "_generation")

    def __init__(self, event: Event) -> None:
        self._event: Event | None = event
        self._generation: int | None = None
        self._entry: _Waiter | None = None

    def poll(self, cx: Context) -> Poll[None]:
        event = self._event
        if event is None:
            raise RuntimeError("Event.wait() future polled again after it completed")
        with _locked(event._shared) as out, event._shared._lock:
            if self._generation is None:
                self._generation = event._generation
            if event._flag or event._generation != self._generation:
                event._waiters.leave(self._entry, out)
                self._entry = None
                self._event = None
                return Ready(None)
            self._entry = event._waiters.park(self._entry, cx, out)
            return Pending

    def __del__(self) -> None:
        try:
            entry, event = self._entry, self._event
        except AttributeError:  # __init__ was cut short (an interrupt): nothing was parked
            return
        if entry is not None and event is not None:
            self._entry = None
            event._shared._defer(lambda out: event._abandon(entry, out))
