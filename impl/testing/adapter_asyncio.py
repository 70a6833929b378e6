"""An adapter for asyncio's event loop: the kit checking an executor it does not own.

A kit task is a coroutine. Each *poll* is one resumption of it: it creates an asyncio future,
runs the script step (``runner.poll``), and on Pending awaits that future. A *waker* of the task
resolves the future the task currently awaits (``set_result`` if not done yet), so a waker is a
task-level handle as in Rust, whichever poll it was cloned in; a wake from another thread goes
through ``loop.call_soon_threadsafe`` — asyncio's inbox. ``drop()`` does nothing: asyncio does
not count wakers. A JoinHandle is the other task itself (``add_done_callback`` wakes the waiter).

Observation (asyncio keeps no poll counter and no waker count, so neither is compared): a task
is COMPLETE / CANCELLED once ``done()``; RUNNING (or NOTIFIED, if its future is already
resolved) while its poll runs; SCHEDULED while a step or wake-up of it is in ``loop._ready``;
IDLE otherwise. The ready queue is the order of those entries in ``loop._ready``, and a
thread-safe wake still waiting in ``loop._ready`` is the ``inbox``. That reads asyncio's
private ``_ready`` deque and uses the pure-Python ``asyncio.tasks._PyTask`` (whose callbacks are
bound methods that name their task); both are CPython implementation details, acceptable in a
test adapter and pinned by the tests.

Where asyncio's semantics differ from the model, the differences are reported, never hidden:
see ``ASYNCIO_DIFFERENCES`` and the tests in ``tests/test_lockstep_asyncio.py``.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Coroutine
from typing import Any

from refexec.testing.adapter import Observation, RunResult
from refexec.testing.script import ScriptError, ScriptRunner, World

__all__ = ["ASYNCIO_DIFFERENCES", "AsyncioAdapter"]

ASYNCIO_DIFFERENCES: dict[str, str] = {
    "wake-during-poll": (
        "A wake during a poll does not send the task back through the ready queue: the "
        "coroutine awaits a future that is already done, and asyncio resumes it at once, in "
        "the same loop step, ahead of every task queued before it (the model: NOTIFIED, then "
        "SCHEDULED at the back of the queue; EX-FIFO's bound does not hold for such a task)."
    ),
    "cancel-is-a-request": (
        "cancel() does not end a task: it schedules one more step that throws CancelledError "
        "into the coroutine, which may even suppress it (the model: an IDLE or SCHEDULED task "
        "is CANCELLED at once and never polled again)."
    ),
    "join-wakes-a-step-late": (
        "A finished task wakes the tasks awaiting it through done-callbacks scheduled with "
        "call_soon, one loop step later (the model: the waiter is SCHEDULED by the very step "
        "in which the awaited task ends). Not observable at the machine's granularity (whole "
        "run_until_stalled() calls): the lockstep machine with joins passes. Recorded, not "
        "counted as a difference in behaviour."
    ),
    "no-run-until-no-sender": (
        "asyncio has no run() that returns when no sender remains and no count of wakers: "
        "run_forever() never returns on its own and asyncio.run(main) returns when main does. "
        "So a task that can never be woken again is not reported (EX-LOST-REPORTED, EX-RUN-END "
        "have no counterpart); it is only logged as 'Task was destroyed but it is pending!' "
        "if and when the garbage collector frees it."
    ),
    "no-poll-counter": (
        "asyncio keeps no per-task poll counter (EX-POLL-COUNT has nothing to check), and a "
        "step() that polls exactly one task does not exist: one loop iteration runs every "
        "callback that was ready when it began."
    ),
}
"""Where asyncio differs from the model, by slug; each has a test that shows it."""


class _TaskWaker:
    """A waker handle of one task: resolves the future the task awaits now (if any)."""

    __slots__ = ("adapter", "task")

    def __init__(self, adapter: AsyncioAdapter, task: int) -> None:
        self.adapter = adapter
        self.task = task

    def wake(self) -> None:
        self.adapter.deliver_wake(self.task)

    def wake_by_ref(self) -> None:
        self.adapter.deliver_wake(self.task)

    def drop(self) -> None:
        pass


class _Env:
    """The PollEnv of one resumption of a kit coroutine."""

    def __init__(self, adapter: AsyncioAdapter, task: int) -> None:
        self.adapter = adapter
        self.task = task

    def clone_waker(self) -> _TaskWaker:
        return _TaskWaker(self.adapter, self.task)

    def wake_self(self) -> None:
        self.adapter.wake_local(self.task)

    def poll_join(self, task: int) -> bool:
        return self.adapter.poll_join(self.task, task)

    def spawn(self, runner: ScriptRunner) -> Any:
        return self.adapter.spawn(runner)

    def cancel(self, task: int) -> None:
        self.adapter.cancel(task)


class AsyncioAdapter:
    """Runs kit tasks as asyncio tasks on a private, never-running-on-its-own event loop."""

    capabilities = frozenset({"run_until_stalled", "cancel", "threads"})

    def __init__(self, world: World, rng: random.Random) -> None:
        self.world = world
        self.rng = rng  # asyncio's order is FIFO: nothing to choose
        self.loop = asyncio.new_event_loop()
        self.loop.set_task_factory(_py_task)  # type: ignore[arg-type]
        self.tasks: list[asyncio.Task[None]] = []
        self.futs: dict[int, asyncio.Future[None]] = {}
        self.joined: set[tuple[int, int]] = set()
        self.running: int | None = None

    # -- wakes ------------------------------------------------------------------------------------

    def wake_local(self, task: int) -> None:
        fut = self.futs.get(task)
        if fut is not None and not fut.done():
            fut.set_result(None)

    def deliver_wake(self, task: int) -> None:
        """A stored waker's wake: on the loop's thread at once, otherwise thread-safely."""
        if _on_loop_thread(self):
            self.wake_local(task)
        else:
            self.loop.call_soon_threadsafe(self._inbox, task)

    def _inbox(self, task: int) -> None:
        self.wake_local(task)

    def poll_join(self, waiter: int, target: int) -> bool:
        t = self.tasks[target]
        if t.done():
            return True
        if (target, waiter) not in self.joined:
            self.joined.add((target, waiter))
            t.add_done_callback(lambda _t: self.wake_local(waiter))
        return False

    # -- the adapter protocol ---------------------------------------------------------------------

    def spawn(self, runner: ScriptRunner) -> asyncio.Task[None]:
        task = self.loop.create_task(self._body(runner))
        self.tasks.append(task)
        return task

    def spawn_remote(self, spawner: Any, runner: ScriptRunner) -> Any:
        raise NotImplementedError("asyncio has no spawner handles")

    async def _body(self, runner: ScriptRunner) -> None:
        env = _Env(self, runner.task)
        while True:
            fut: asyncio.Future[None] = self.loop.create_future()
            self.futs[runner.task] = fut
            self.running = runner.task
            try:
                outcome = runner.poll(env)
            finally:
                self.running = None
            if outcome == "ready":
                return
            if outcome == "raise":
                raise ScriptError(f"task {runner.task} raised, as scripted")
            await fut

    def _once(self) -> None:
        self.loop.stop()
        self.loop.run_forever()

    def step(self) -> bool:
        raise NotImplementedError("asyncio cannot poll exactly one task")

    def run_until_stalled(self) -> None:
        while self.loop._ready:  # type: ignore[attr-defined]
            self._once()

    def run(self) -> RunResult:
        raise NotImplementedError("asyncio has no run() that ends when no sender remains")

    def cancel(self, task: int) -> None:
        self.tasks[task].cancel()

    def new_spawner(self) -> Any:
        raise NotImplementedError("asyncio has no spawner handles")

    def drop_spawner(self, spawner: Any) -> None:
        raise NotImplementedError("asyncio has no spawner handles")

    def observe(self) -> Observation:
        ready = list(self.loop._ready)  # type: ignore[attr-defined]
        index = {id(t): i for i, t in enumerate(self.tasks)}
        queue: list[int] = []
        inbox = [0] * len(self.tasks)
        for h in ready:
            cb = h._callback
            owner = getattr(cb, "__self__", None)
            if owner is not None and id(owner) in index:
                i = index[id(owner)]
                if i not in queue:
                    queue.append(i)
            elif getattr(cb, "__func__", None) is AsyncioAdapter._inbox:
                inbox[h._args[0]] += 1
        states = []
        for i, t in enumerate(self.tasks):
            if t.done():
                states.append(5 if t.cancelled() else 4)
            elif self.running == i:
                fut = self.futs.get(i)
                states.append(2 if fut is not None and fut.done() else 1)
            elif i in queue:
                states.append(0)
            else:
                states.append(3)
        return Observation(
            states=tuple(states),
            queue=tuple(queue),
            extra=(("inbox", tuple(inbox)),),
        )

    def close(self) -> None:
        loop = self.loop
        if loop.is_closed():
            return
        for t in self.tasks:
            t.cancel()
        for _ in range(10):
            if not loop._ready:  # type: ignore[attr-defined]
                break
            self._once()
        for t in self.tasks:
            if t.done() and not t.cancelled():
                t.exception()  # retrieved: no "never retrieved" log at GC
        loop.close()


def _py_task(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, Any],
             **kwargs: Any) -> asyncio.Task[Any]:
    task: asyncio.Task[Any] = asyncio.tasks._PyTask(coro, loop=loop, **kwargs)  # type: ignore[attr-defined]
    return task


def _on_loop_thread(adapter: AsyncioAdapter) -> bool:
    import threading  # noqa: PLC0415

    return threading.current_thread() is threading.main_thread()
