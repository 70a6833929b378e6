"""Structured concurrency on top of JoinHandles: ``gather``, ``TaskGroup``, ``select``/``race``.

Nothing here is a new mechanism. Each combinator spawns its awaitables as tasks of the running
executor (``refexec.spawn``) and waits for them with one future, :class:`_FirstDone`, whose
``poll`` registers the waiting task's waker on every unfinished child (``JoinHandle`` keeps one
clone per distinct waker) — the same wake path an ``await handle`` takes. So the executor's
rules still say everything: a child's completion wakes the parent exactly as an awaiter, a
parent that nobody can wake is reported lost, and no combinator ever leaves a child running
behind its back: every exit path (result, first error, the parent itself being cancelled)
cancels the children it started and has not collected.

Cancelling a child from the parent is immediate: while the parent runs no child is being
polled (one task is polled at a time), so ``cancel()`` finds each child SCHEDULED or IDLE and
closes its coroutine at once (its ``finally`` blocks run). Hence a combinator that raises has
no unfinished child left.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Iterable, Sequence
from types import TracebackType
from typing import Any, TypeVar

from refexec.errors import Cancelled
from refexec.executor import JoinHandle
from refexec.future import FutureBase, _runner, spawn
from refexec.poll import Pending, Poll, Ready
from refexec.waker import Context

__all__ = ["TaskGroup", "TaskGroupError", "gather", "race", "select"]

T = TypeVar("T")


def _close(aws: Iterable[object]) -> None:
    """Close the coroutines that will never run (no "never awaited" warning on top of the
    error that refused them); a JoinHandle is somebody's task and is left alone."""
    for aw in aws:
        close = getattr(aw, "close", None)
        if close is not None and not isinstance(aw, JoinHandle):
            close()


def _require_task(what: str, aws: Iterable[object] = ()) -> None:
    """Why check at the call: outside a task, ``refexec.spawn`` would fail with a message about
    ``spawn``, which is not what the user called."""
    if _runner().current is None:
        _close(aws)
        raise RuntimeError(
            f"{what} must be awaited inside a refexec task (it spawns its awaitables on the "
            "running executor); run it with Executor.block_on(...) or refexec.block_on(...)"
        )


def _start(aws: Sequence[Awaitable[Any]], what: str) -> list[JoinHandle[Any]]:
    """Spawn each awaitable (a JoinHandle is taken as it is). If one cannot be spawned (not
    awaitable), the ones already started are cancelled and the rest closed, then the error
    propagates: a half-started combinator leaves nothing behind."""
    handles: list[JoinHandle[Any]] = []
    try:
        for aw in aws:
            handles.append(aw if isinstance(aw, JoinHandle) else spawn(aw))
    except BaseException:
        for h in handles:
            h.cancel()
        _close(aws[len(handles) + 1:])
        raise
    return handles


class _FirstDone(FutureBase[JoinHandle[Any]]):
    """Ready with the first finished handle, in the order given (so ties are deterministic).

    On Pending, every unfinished handle holds a clone of the waiting task's waker: whichever
    finishes first wakes the task. The clones left on the others are woken when those finish
    (a spurious wake of a task that already moved on, which any future must tolerate), or when
    the combinator cancels them — so none is ever left dangling.
    """

    __slots__ = ("_handles",)

    def __init__(self, handles: Iterable[JoinHandle[Any]]) -> None:
        self._handles = tuple(handles)

    def poll(self, cx: Context) -> Poll[JoinHandle[Any]]:
        for h in self._handles:
            if h.done():
                return Ready(h)
        for h in self._handles:
            h._add_waiter(cx.waker)
        return Pending

    def __repr__(self) -> str:
        return f"<first of {len(self._handles)} tasks to finish>"


def _cancel_all(handles: Iterable[JoinHandle[Any]]) -> None:
    """Cancel every unfinished handle, and retrieve the exception of every finished one (the
    combinator owns them: a failure it does not report must not warn as unretrieved later)."""
    for h in handles:
        if not h.cancel():
            h.exception()


async def gather(*aws: Awaitable[Any], return_exceptions: bool = False) -> list[Any]:
    """Run the awaitables concurrently, as tasks of the running executor; return their results
    in the order given.

    Without ``return_exceptions``, the first failure (checked in argument order whenever the
    caller wakes) cancels every other child and is raised; with it, failures (``Cancelled``
    included) are returned in their place and nothing is cancelled. If the awaiting task is
    itself cancelled, the children are cancelled with it: a gather never outlives its caller.
    A ``JoinHandle`` argument is awaited as is (and, as a child, cancelled on failure).
    """
    _require_task("refexec.gather()", aws)
    handles = _start(aws, "gather()")
    try:
        pending = handles
        while pending:
            await _FirstDone(pending)
            # Every child finished by now is taken in one pass (not one per await): a wake of
            # this task costs one scan of the unfinished children, whatever finished meanwhile.
            still = []
            for h in pending:
                if not h.done():
                    still.append(h)
                elif not return_exceptions and h.exception() is not None:
                    h.result()  # raises the child's exception (its traceback intact)
            pending = still
        if return_exceptions:
            return [h.exception() or h.result() for h in handles]
        return [h.result() for h in handles]
    finally:
        _cancel_all(handles)


async def select(*aws: Awaitable[Any]) -> tuple[int, Any]:
    """Run the awaitables concurrently; return ``(index, result)`` of the first to finish and
    cancel the others. If the first to finish raised, its exception is raised (the others are
    cancelled all the same). Among children finished at the same wake, the lowest index wins.
    """
    _require_task("refexec.select()", aws)
    if not aws:
        raise ValueError("select() needs at least one awaitable: with none, nothing can win")
    handles = _start(aws, "select()")
    try:
        first = await _FirstDone(handles)
        return handles.index(first), first.result()
    finally:
        _cancel_all(handles)


async def race(*aws: Awaitable[T]) -> T:
    """``select`` without the index: the result of the first awaitable to finish."""
    _i, value = await select(*aws)
    return value  # type: ignore[no-any-return]


if sys.version_info >= (3, 11):

    class TaskGroupError(ExceptionGroup[Exception]):  # noqa: F821 (a builtin since 3.11)
        """The errors of a ``TaskGroup``: an ``ExceptionGroup``, so ``except*`` works."""

else:

    class TaskGroupError(Exception):
        """The errors of a ``TaskGroup`` on Python 3.10, which has no ``ExceptionGroup``:
        ``.exceptions`` is the tuple of errors and ``.message`` the text, as on 3.11+."""

        def __init__(self, message: str, exceptions: Sequence[Exception]) -> None:
            super().__init__(message, tuple(exceptions))
            self.message = message
            self.exceptions: tuple[Exception, ...] = tuple(exceptions)

        def __str__(self) -> str:
            n = len(self.exceptions)
            return f"{self.message} ({n} sub-exception{'s' if n != 1 else ''})"


class TaskGroup:
    """A nursery: ``async with refexec.TaskGroup() as tg: tg.spawn(coro())``.

    Leaving the block waits for every task spawned into the group (also ones spawned while it
    waits). The first task to fail cancels its siblings; so does an exception in the block.
    Then the errors (the block's first, then the children's in the order seen) are raised
    together as one ``TaskGroupError`` — an ``ExceptionGroup`` on Python 3.11+, an ``Exception``
    with the same ``.exceptions`` on 3.10. A child that was cancelled is not an error. If the
    task running the block is cancelled, the children are cancelled at once with it.
    """

    __slots__ = ("_closed", "_entered", "_handles")

    def __init__(self) -> None:
        self._handles: list[JoinHandle[Any]] = []
        self._entered = False
        self._closed = False

    def spawn(self, aw: Awaitable[T]) -> JoinHandle[T]:
        """Spawn ``aw`` as a task of this group (on the running executor) and return its handle.
        Refused (``RuntimeError``) before ``async with`` entered the group and after it left."""
        if not self._entered or self._closed:
            _close((aw,))
            when = "has finished" if self._closed else "was not entered yet"
            raise RuntimeError(
                f"TaskGroup.spawn() on a group that {when}: spawn inside "
                "`async with refexec.TaskGroup() as tg:`"
            )
        h = spawn(aw)
        self._handles.append(h)
        return h

    async def __aenter__(self) -> TaskGroup:
        if self._entered:
            raise RuntimeError("a TaskGroup can be entered once; create a new one")
        _require_task("`async with refexec.TaskGroup()`")
        self._entered = True
        return self

    async def __aexit__(
        self,
        et: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        handles = self._handles
        if exc is not None and not isinstance(exc, Exception):
            # GeneratorExit (this task is being cancelled), KeyboardInterrupt, ...: the task
            # cannot await any more, so the children are cancelled now and the exception goes on.
            self._closed = True
            _cancel_all(handles)
            return False
        errors: list[Exception] = [] if exc is None else [exc]
        checked: set[int] = set()
        try:
            if errors:
                _cancel_all(handles)
            while True:
                # ``handles`` may grow while we wait: a child can spawn into the group.
                for h in handles:
                    if h.done() and id(h) not in checked:
                        checked.add(id(h))
                        e = h.exception()
                        if isinstance(e, Exception) and not isinstance(e, Cancelled):
                            if not errors:
                                _cancel_all(handles)  # the first error cancels the siblings
                            errors.append(e)
                pending = [h for h in handles if not h.done()]
                if not pending:
                    break
                await _FirstDone(pending)
        finally:
            self._closed = True
            _cancel_all(handles)
        if errors:
            raise TaskGroupError("unhandled errors in a TaskGroup", errors)
        return False
