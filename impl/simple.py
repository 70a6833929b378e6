"""``SimpleExecutor``: the seed's executor (``seed/000_65a19b2c23175a36.txt``), ported faithfully.

The Rust original, and what each part became here:

* ``mpsc::sync_channel(100)``: a bounded FIFO of task references (``capacity``, default 100)
  with sender counting. The executor holds one sender; every task holds one (a task's sender
  lives as long as the task, i.e. while any ``Arc<Task>`` to it exists: a queue entry, a waker,
  or the loop's local). ``send`` into a full queue waits for room.
* ``Arc<Task>``: ``_SimpleTask.refs`` counts the strong references (queue entries + live wakers
  + the one the loop holds while polling). When it reaches 0 the task is freed: its future (if
  any) is dropped and its sender with it.
* ``make_waker``: a **new** ``Waker`` per poll, built from a ``RawWakerVTable`` whose data is
  the task: ``clone`` adds a reference, ``wake`` schedules and drops its reference,
  ``wake_by_ref`` schedules, ``drop`` drops its reference. Every wake sends the task into the
  queue again, even if it is already there (duplicates are polled again: the seed's spurious
  polls).
* ``run(self)``: drops the executor's own sender, then ``while let Ok(task) = rx.recv()``:
  take the future out of the task's slot; if there was one, poll it with a fresh waker and put
  it back on Pending. A queue entry whose future is gone (already finished) is skipped. The loop
  ends when the queue is empty and no sender remains; a task whose last waker was dropped while
  it was Pending is freed **in silence** (the seed's defect; ``Executor`` reports it instead).

Traces: an event caused by another thread than the executor's own carries
``detail="thread"`` (a spawn, wake, clone or drop from elsewhere; such a send into a full queue
waits instead of raising).

The one deliberate difference: where the original would block forever, the executor's own thread
sending into its own full queue (a wake or spawn with ``capacity`` entries already queued: only
this thread could make room), this port raises :class:`~refexec.DeadlockError`. The executor's
own thread is the one running ``run()``, or, before that, the one that created it. A send from
another thread into a full queue waits for room, as in the original.

A task that raises propagates the exception out of ``run()``, as a panic would in the original.
The seed's exercises are here too: ``spawn`` from inside running tasks (1), per-task poll
counters ``poll_counts`` (2), and ``block_on`` (3).
"""

from __future__ import annotations

import itertools
import numbers
import threading
from collections import deque
from collections.abc import Awaitable, Coroutine
from dataclasses import dataclass
from types import CoroutineType
from typing import TYPE_CHECKING, Any, Final, TypeVar

from refexec.errors import DeadlockError, TaskLost
from refexec.future import (
    PENDING,
    YIELD,
    _runner,
    as_coroutine,
    foreign_loop_error,
    is_no_loop_error,
    refuse_foreign,
)
from refexec.trace import Trace, attach_trace
from refexec.waker import Context, RawWaker, RawWakerVTable, Waker

if TYPE_CHECKING:
    from refexec.executor import JoinHandle

__all__ = ["SimpleExecutor", "SimpleSnapshot", "SimpleTaskSnapshot"]

T = TypeVar("T")
_get_ident = threading.get_ident


class _SimpleTask:
    """``struct Task { future: Mutex<Option<BoxFuture>>, sender }`` plus its ``Arc`` count."""

    __slots__ = ("cx", "executor", "future", "id", "poll_count", "refs", "wakers")

    def __init__(self, tid: int, future: Coroutine[Any, Any, Any], ex: SimpleExecutor) -> None:
        self.id = tid
        self.future: Coroutine[Any, Any, Any] | None = future  # the slot: None = taken/gone
        self.refs = 0  # strong references (Arc count); the task (and its sender) die at 0
        self.wakers = 0  # live waker handles (a subset of refs)
        self.poll_count = 0
        self.executor = ex
        self.cx: Context | None = None  # the Context of the poll in progress

    def _context(self) -> Context:
        cx = self.cx
        assert cx is not None
        return cx

    def _spawn(self, aw: Any, **kw: Any) -> JoinHandle[Any]:
        if type(aw) is CoroutineType:
            aw.close()
        raise RuntimeError(
            "refexec.spawn() returns a JoinHandle, which the seed's SimpleExecutor does not "
            "have; inside a SimpleExecutor task call its own spawn(): ex.spawn(...)"
        )

    def __repr__(self) -> str:
        return f"<SimpleExecutor task {self.id}>"


@dataclass(frozen=True)
class SimpleTaskSnapshot:
    id: int
    future_present: bool
    """False while its future is taken out for a poll, and once it finished."""
    poll_count: int
    wakers: int
    refs: int


@dataclass(frozen=True)
class SimpleSnapshot:
    """An immutable view of a ``SimpleExecutor``: queue contents as task ids (duplicates
    included, in order), every live task (``refs > 0``), and the live senders."""

    queue: tuple[int, ...]
    tasks: tuple[SimpleTaskSnapshot, ...]
    senders: int
    running: bool


class SimpleExecutor:
    """The seed's executor. ``spawn`` tasks, then ``run()`` once (it consumes the executor)."""

    def __init__(self, capacity: int = 100, *, trace: Trace | None = None) -> None:
        if type(capacity) is not int and (
            isinstance(capacity, bool) or not isinstance(capacity, numbers.Integral)
        ):
            # A float or bool would be accepted by the comparisons below and fail far away
            # (or, for NaN, never compare as full): only whole numbers of queue slots.
            raise TypeError(
                f"capacity must be a positive int (queue slots), got {capacity!r} of type "
                f"{type(capacity).__name__}"
            )
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self.capacity: Final = capacity
        self._trace = attach_trace(trace, "refexec.SimpleExecutor", "seed", {"capacity": capacity})
        self._queue: deque[_SimpleTask] = deque()
        self._lock = threading.RLock()
        self._not_empty = threading.Condition(self._lock)
        self._not_full = threading.Condition(self._lock)
        self._senders = 1  # the executor's own sender, dropped by run()
        self._own_sender = True
        self._disconnected = False  # the receiver is gone: run() returned
        self._tasks: dict[int, _SimpleTask] = {}  # live tasks (refs > 0)
        self._ids = itertools.count(1)
        self._owner = _get_ident()
        self._run_ident: int | None = None
        self.poll_counts: dict[int, int] = {}
        """Exercise 2: how many times each task (by id) was polled, kept after it finished."""
        self.stats: dict[str, int] = dict.fromkeys(
            ("spawned", "polls", "wakes", "completed", "dropped_pending"), 0
        )
        """Counters: ``dropped_pending`` counts tasks freed in silence while Pending."""

    # -- the channel ----------------------------------------------------------------------------

    def _send(self, task: _SimpleTask, event: str) -> None:
        """``sender.send(Arc::clone(task))``: wait for room, or raise on a self-deadlock.

        ``event`` (``spawn``, ``wake`` or ``wake_by_ref``) is traced under the channel's lock at
        the moment the send takes effect, after any wait for room: a trace lists a waiting
        send after the receive that made room for it, as the model orders them.
        """
        with self._lock:
            if not self._disconnected and len(self._queue) >= self.capacity:
                own = self._run_ident if self._run_ident is not None else self._owner
                if _get_ident() == own:
                    self._note(task, event)
                    raise DeadlockError(
                        f"SimpleExecutor: sending task {task.id} into its own full queue "
                        f"(capacity {self.capacity}) from the executor's own thread would "
                        "block forever, since only this thread takes tasks out. Raise the "
                        "capacity, spawn fewer tasks before run(), or use refexec.Executor, "
                        "whose queue holds each task at most once."
                    )
                while len(self._queue) >= self.capacity and not self._disconnected:
                    self._not_full.wait()
            self._note(task, event)
            if self._disconnected:
                return  # `let _ = send(...)`: the receiver is gone, the send is ignored
            self._queue.append(task)
            task.refs += 1
            self._not_empty.notify()

    def _note(self, task: _SimpleTask, event: str) -> None:
        if self._trace is not None:
            self._trace.record(event, task.id, task.poll_count, self._where())

    def _recv(self) -> _SimpleTask | None:
        """``rx.recv()``: the next task, or None once the queue is empty and no sender lives."""
        with self._lock:
            while not self._queue:
                if self._senders == 0:
                    return None
                self._not_empty.wait()
            task = self._queue.popleft()
            self._not_full.notify()
            return task

    def _release(self, task: _SimpleTask) -> None:
        """Drop one ``Arc<Task>``; at zero the task, its future and its sender are freed."""
        with self._lock:
            task.refs -= 1
            if task.refs > 0:
                return
            del self._tasks[task.id]
            fut, task.future = task.future, None
            self._senders -= 1
            if self._senders == 0:
                self._not_empty.notify_all()
        if fut is not None:  # freed while Pending: dropped in silence, as in the seed
            self.stats["dropped_pending"] += 1
            if self._trace is not None:
                self._trace.record("lost", task.id, task.poll_count, "silent")
            fut.close()

    # -- spawning -------------------------------------------------------------------------------

    def spawn(self, aw: Awaitable[Any]) -> int:
        """Spawn ``aw`` and return its task id (the seed returns nothing; the id lets you read
        ``poll_counts``). Allowed before ``run()`` and, during it, from inside its tasks."""
        if self._run_ident is not None or self._disconnected:
            cur = _runner().current
            if self._disconnected or not (
                isinstance(cur, _SimpleTask) and cur.executor is self
            ):
                if type(aw) is CoroutineType:
                    aw.close()
                raise RuntimeError(
                    "SimpleExecutor.spawn() needs a live sender: call it before run(), or from "
                    "inside one of its running tasks (run() consumed the executor's own sender)"
                )
        coro = aw if type(aw) is CoroutineType else as_coroutine(aw)
        task = _SimpleTask(next(self._ids), coro, self)
        with self._lock:
            self._tasks[task.id] = task
            self._senders += 1  # the task's own sender clone
        self.poll_counts[task.id] = 0
        self.stats["spawned"] += 1
        task.refs += 1  # Arc::new
        try:
            self._send(task, "spawn")
        finally:
            self._release(task)  # the Arc from Arc::new goes out of scope
        return task.id

    # -- the run loop ---------------------------------------------------------------------------

    def run(self) -> None:
        """Drop the executor's sender, then poll tasks as they arrive until no sender remains.

        Exceptions raised by a task propagate (like a panic); ``DeadlockError`` if the loop's
        thread would block on its own full queue.
        """
        cur = _runner().current
        if cur is not None:
            raise RuntimeError(
                f"SimpleExecutor.run() called from inside running {cur!r}: a task cannot "
                "drive an executor; spawn the work instead"
            )
        with self._lock:
            if not self._own_sender or self._run_ident is not None:
                raise RuntimeError("SimpleExecutor.run() consumes the executor: it runs once")
            self._run_ident = _get_ident()
            self._own_sender = False
            self._senders -= 1  # drop(self.tx)
            self._not_empty.notify_all()
        runner = _runner()
        tr = self._trace
        if tr is not None:
            tr.record("run_start", None, 0, "run")
        stats = self.stats
        ending = "raised"  # until the loop ends normally
        try:
            while (task := self._recv()) is not None:
                fut = task.future
                if fut is not None:
                    task.future = None  # slot.take()
                    waker = self._make_waker(task)
                    cx = task.cx = Context(waker)
                    if tr is not None:
                        # under the lock other threads trace under: no event of theirs can
                        # carry the new poll number before the 'poll' event itself
                        with self._lock:
                            n = task.poll_count = task.poll_count + 1
                            tr.record("poll", task.id, n)
                    else:
                        n = task.poll_count = task.poll_count + 1
                    self.poll_counts[task.id] = n
                    stats["polls"] += 1
                    runner.current = task
                    try:
                        y = fut.send(None)
                        if y is not YIELD and y is not PENDING:  # once: see refuse_foreign
                            y = refuse_foreign(fut, f"task {task.id}", y)
                        if y is YIELD:
                            waker.wake_by_ref()
                    except StopIteration:
                        stats["completed"] += 1
                        if tr is not None:
                            tr.record("ready", task.id, n)
                    except BaseException as e:
                        if tr is not None:
                            tr.record("ready", task.id, n, type(e).__name__)
                        if is_no_loop_error(e):  # asyncio code in a task: name it, and what to use
                            raise foreign_loop_error(f"task {task.id}", e) from e
                        raise
                    else:
                        task.future = fut  # *slot = Some(fut)
                        if tr is not None:
                            tr.record("pending", task.id, n)
                    finally:
                        runner.current = None
                        cx._expire()
                        task.cx = None
                        if not waker.consumed:
                            waker.drop()  # the per-poll waker goes out of scope
                self._release(task)  # the Arc that came out of the queue
            ending = "done"
        finally:
            with self._lock:
                self._run_ident = None
                self._disconnected = True  # the receiver is dropped (also when unwinding)
                left = list(self._queue)
                self._queue.clear()
                self._not_full.notify_all()
            for task in left:  # queued Arcs are dropped with the receiver
                self._release(task)
            if tr is not None:
                tr.record("run_end", None, 0, ending)

    def block_on(self, aw: Awaitable[T]) -> T:
        """Exercise 3: spawn ``aw``, ``run()``, return its output (consumes the executor).

        Raises ``TaskLost`` if the seed's design dropped the task before it finished."""
        out: list[T] = []

        async def capture() -> None:
            out.append(await aw)

        self.spawn(capture())
        self.run()
        if not out:
            raise TaskLost(
                f"SimpleExecutor.block_on: {aw!r} never finished: it returned Pending and its "
                "last waker was dropped, so the seed's executor freed it in silence"
            )
        return out[0]

    # -- wakers ---------------------------------------------------------------------------------

    def _make_waker(self, task: _SimpleTask) -> Waker:
        """``make_waker(Arc::clone(&task))``: a new waker per poll, from the vtable."""
        with self._lock:
            task.refs += 1
            task.wakers += 1
            if self._trace is not None:
                self._trace.record("waker_clone", task.id, task.poll_count, "make_waker")
        return Waker.from_raw(RawWaker(task, _SIMPLE_VTABLE))

    def _where(self) -> str | None:
        """Trace detail: ``"thread"`` when called off the executor's own thread, else None."""
        own = self._run_ident if self._run_ident is not None else self._owner
        return None if _get_ident() == own else "thread"

    def _schedule(self, task: _SimpleTask, event: str) -> None:
        self.stats["wakes"] += 1
        self._send(task, event)

    # -- inspection -----------------------------------------------------------------------------

    def snapshot(self) -> SimpleSnapshot:
        with self._lock:
            return SimpleSnapshot(
                queue=tuple(t.id for t in self._queue),
                tasks=tuple(
                    SimpleTaskSnapshot(t.id, t.future is not None, t.poll_count, t.wakers, t.refs)
                    for _, t in sorted(self._tasks.items())
                ),
                senders=self._senders,
                running=self._run_ident is not None,
            )

    @property
    def trace(self) -> Trace | None:
        return self._trace

    def __repr__(self) -> str:
        return f"<SimpleExecutor capacity={self.capacity} queued={len(self._queue)}>"


def _s_clone(task: _SimpleTask) -> RawWaker:
    ex = task.executor
    with ex._lock:
        task.refs += 1
        task.wakers += 1
        if ex._trace is not None:
            ex._trace.record("waker_clone", task.id, task.poll_count, ex._where())
    return RawWaker(task, _SIMPLE_VTABLE)


def _s_wake(task: _SimpleTask) -> None:
    ex = task.executor
    try:
        ex._schedule(task, "wake")
    finally:
        with ex._lock:
            task.wakers -= 1
        ex._release(task)


def _s_wake_by_ref(task: _SimpleTask) -> None:
    task.executor._schedule(task, "wake_by_ref")


def _s_drop(task: _SimpleTask) -> None:
    ex = task.executor
    with ex._lock:
        if ex._trace is not None:
            ex._trace.record("waker_drop", task.id, task.poll_count, ex._where())
        task.wakers -= 1
    ex._release(task)


_SIMPLE_VTABLE: Final = RawWakerVTable(_s_clone, _s_wake, _s_wake_by_ref, _s_drop)
