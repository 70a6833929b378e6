"""The adapter for :class:`refexec.SimpleExecutor`, the seed's design (the ``seed`` variant).

The seed's executor has no ``step()``, no cancel, no JoinHandle and no spawner, and ``run()``
consumes it: the machine spawns tasks (before ``run()`` and from inside polls), wakes and drops
their wakers from the test thread and from other threads, and calls ``run()`` once. A task that
raises would abort ``run()`` (a panic, as in the seed), so the seed machine's scripts do not
raise. The abstraction is the seed model's class counts (see
:mod:`refexec.testing.refinement_seed`).
"""

from __future__ import annotations

import random
import threading
from typing import Any

from refexec.errors import DeadlockError
from refexec.models.seed import classes as seed_classes
from refexec.poll import Pending, Poll, Ready
from refexec.simple import SimpleExecutor, _SimpleTask
from refexec.testing.adapter import Observation, RunResult
from refexec.testing.adapter_refexec import ScriptedFuture
from refexec.testing.script import ScriptError, ScriptRunner, World
from refexec.waker import Context, Waker

__all__ = ["SimpleExecutorAdapter"]

_PENDING, _RUNNING, _COMPLETE = 0, 1, 2


class _SimpleFuture(ScriptedFuture):
    def poll(self, cx: Context) -> Poll[None]:
        adapter: SimpleExecutorAdapter = self.adapter  # type: ignore[assignment]
        adapter.polling = self.runner.task
        outcome = self.runner.poll(_SimpleEnv(adapter, cx))
        adapter.polling = None
        if outcome == "pending":
            return Pending
        if outcome == "raise":
            raise ScriptError(f"task {self.runner.task} raised, as scripted")
        return Ready(None)


class _SimpleEnv:
    __slots__ = ("adapter", "cx")

    def __init__(self, adapter: SimpleExecutorAdapter, cx: Context) -> None:
        self.adapter = adapter
        self.cx = cx

    def clone_waker(self) -> Waker:
        return self.cx.waker.clone()

    def wake_self(self) -> None:
        self.cx.waker.wake_by_ref()

    def poll_join(self, task: int) -> bool | None:
        return None  # no JoinHandles in the seed

    def spawn(self, runner: ScriptRunner) -> Any:
        return self.adapter.spawn(runner)

    def cancel(self, task: int) -> None:
        raise NotImplementedError("the seed's executor cannot cancel")


class SimpleExecutorAdapter:
    """Runs kit tasks on a :class:`refexec.SimpleExecutor`; see the module docstring."""

    capabilities = frozenset({"run", "threads"})

    def __init__(self, world: World, rng: random.Random, *, capacity: int = 100,
                 w_max: int = 1) -> None:
        self.world = world
        self.w_max = w_max  # the model's bound on held wakers (its classes go up to it)
        self.rng = rng  # the channel is FIFO: no scheduling choice to seed
        self.ex = SimpleExecutor(capacity)
        self.tasks: list[_SimpleTask] = []
        self.polling: int | None = None
        self.deadlocked = False
        world.remote_of = lambda kind: threading.current_thread() is not threading.main_thread()

    def spawn(self, runner: ScriptRunner) -> int:
        tid = self.ex.spawn(_SimpleFuture(runner, self))  # type: ignore[arg-type]
        self.tasks.append(self.ex._tasks[tid])
        return tid

    def spawn_remote(self, spawner: Any, runner: ScriptRunner) -> Any:
        raise NotImplementedError("the seed's executor has no spawner handles")

    def step(self) -> bool:
        raise NotImplementedError("the seed's executor has no step()")

    def run_until_stalled(self) -> None:
        raise NotImplementedError("the seed's executor has no run_until_stalled()")

    def run(self) -> RunResult:
        try:
            self.ex.run()
        except DeadlockError:
            self.deadlocked = True
            return RunResult(deadlock=True)
        return RunResult()

    def cancel(self, task: int) -> None:
        raise NotImplementedError("the seed's executor cannot cancel")

    def new_spawner(self) -> Any:
        raise NotImplementedError("the seed's executor has no spawner handles")

    def drop_spawner(self, spawner: Any) -> None:
        raise NotImplementedError("the seed's executor has no spawner handles")

    def observe(self) -> Observation:
        ex = self.ex
        with ex._lock:
            queue = list(ex._queue)
            live = dict(ex._tasks)
        classes: dict[tuple[int, int, int], int] = {}
        for i, t in enumerate(self.tasks):
            if live.get(t.id) is not t:
                continue  # freed: counted by the model's ghosts (lost / freed), not by cnt
            if self.deadlocked and self.polling == i:
                phase = _RUNNING
            else:
                phase = _PENDING if t.future is not None else _COMPLETE
            w = t.wakers
            e = min(sum(1 for q in queue if q is t), 2)
            classes[(phase, w, e)] = classes.get((phase, w, e), 0) + 1
        cnt = tuple(classes.get(c, 0) for c in seed_classes(self.w_max))
        return Observation(states=(), extra=(("cnt", cnt), ("qlen", len(queue)),
                                             ("blocked", self.deadlocked)))

    def close(self) -> None:
        for w in self.world.wakers:
            if w.live:
                w.live = False
                w.handle.drop()
        for t in self.tasks:
            fut, t.future = t.future, None
            if fut is not None:
                fut.close()  # never run to the end (no run(), or lost): no "never awaited"
