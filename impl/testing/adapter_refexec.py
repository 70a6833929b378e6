"""The adapter for :class:`refexec.Executor` (the ``reference`` variant).

A kit task is a :class:`ScriptedFuture`, a ``FutureBase`` whose ``poll(cx)`` runs one script
step through :class:`_Env` (``cx.waker.clone()``, ``cx.waker.wake_by_ref()``, the target's
``JoinHandle.poll(cx)``, ``Executor.spawn``, ``JoinHandle.cancel``). The executor spawns it as a
coroutine that awaits the future, so each executor poll is exactly one ``poll(cx)``.

The abstraction (executor state -> model variables) reads ``Executor.snapshot()``, the tasks'
``JoinHandle``s, and the inbox of messages other threads posted. The model takes a message's
effect on the *counts* when it is posted (a remote ``wake`` ends its handle at once) while the
executor applies it when the loop drains it, so the abstraction adds the messages still in the
inbox to the counts: ``wakers[t] = t._wakers + clones - drops - wakes`` posted for ``t``, and
``inbox[t]`` counts the posted wakes and spawns of ``t``; and the join wakers a task keeps for
its waiters (counted in the waiter's ``_wakers``) are the model's ``join[t]``, not part of
``wakers[u]``. That is the refinement mapping of ``spec/SPEC.md`` §6, not a correction of the
executor.
"""

from __future__ import annotations

import contextlib
import random
import threading
from typing import Any

from refexec.errors import Stalled
from refexec.executor import Executor, JoinHandle, Spawner
from refexec.future import FutureBase
from refexec.poll import Pending, Poll, Ready
from refexec.testing.adapter import Observation, RunResult
from refexec.testing.oracle import Divergence
from refexec.testing.script import ScriptError, ScriptRunner, World
from refexec.waker import Context, Waker

__all__ = ["ExecutorAdapter", "ScriptedFuture"]

_UNSPAWNED = 6


class ScriptedFuture(FutureBase[None]):
    """A refexec future whose every poll is one step of a kit script."""

    def __init__(self, runner: ScriptRunner, adapter: ExecutorAdapter) -> None:
        self.runner = runner
        self.adapter = adapter

    def poll(self, cx: Context) -> Poll[None]:
        outcome = self.runner.poll(_Env(self.adapter, cx))
        if outcome == "pending":
            return Pending
        if outcome == "raise":
            raise ScriptError(f"task {self.runner.task} raised, as scripted")
        return Ready(None)

    def __repr__(self) -> str:
        return f"ScriptedFuture({self.runner!r})"


class _Env:
    """The PollEnv of one poll of a scripted future."""

    __slots__ = ("adapter", "cx")

    def __init__(self, adapter: ExecutorAdapter, cx: Context) -> None:
        self.adapter = adapter
        self.cx = cx

    def clone_waker(self) -> Waker:
        return self.cx.waker.clone()

    def wake_self(self) -> None:
        self.cx.waker.wake_by_ref()

    def poll_join(self, task: int) -> bool | None:
        h: JoinHandle[Any] = self.adapter.world.handles[task]
        if h.state is None:
            return None  # spawned from another thread, not taken in yet
        if h.done():
            return True
        h.poll(self.cx)
        return False

    def spawn(self, runner: ScriptRunner) -> JoinHandle[None]:
        return self.adapter.spawn(runner)

    def cancel(self, task: int) -> None:
        self.adapter.cancel(task)


class ExecutorAdapter:
    """Runs kit tasks on a :class:`refexec.Executor`; see the module docstring."""

    capabilities = frozenset({"step", "run_until_stalled", "run", "cancel", "spawner",
                              "threads"})
    stall_timeout = 2.0
    """Seconds without progress after which ``run()`` counts as asleep past a wake. The helper
    thread acts every millisecond at most, so a correct executor never comes near it."""

    def __init__(self, world: World, rng: random.Random, executor: Executor | None = None
                 ) -> None:
        self.world = world
        self.rng = rng  # the Executor is FIFO: it makes no scheduling choice to seed
        self.ex = Executor() if executor is None else executor
        self.kit_ids: dict[int, int] = {}  # id(JoinHandle) -> kit task id
        self.lost: set[int] = set()
        world.remote_of = self.remote_of

    def remote_of(self, kind: str) -> bool:
        """Whether the executor takes this event in through its inbox (see World.remote_of)."""
        me = threading.current_thread()
        if kind in ("spawn", "spawner_drop", "spawner_new"):
            return me is not threading.main_thread()
        return threading.get_ident() != self.ex._loop_ident

    # -- the adapter protocol ---------------------------------------------------------------------

    def spawn(self, runner: ScriptRunner) -> JoinHandle[None]:
        h = self.ex.spawn(ScriptedFuture(runner, self))
        self.kit_ids[id(h)] = runner.task
        return h

    def spawn_remote(self, spawner: Spawner, runner: ScriptRunner) -> JoinHandle[None]:
        h = spawner.spawn(ScriptedFuture(runner, self))
        self.kit_ids[id(h)] = runner.task
        return h

    def step(self) -> bool:
        return self.ex.step()

    def run_until_stalled(self) -> None:
        report = self.ex.run_until_stalled()
        self.lost |= {self.kit_ids[id(h)] for h in report.lost}

    def run(self) -> RunResult:
        try:
            report = self.ex.run(stall_timeout=self.stall_timeout)
        except Stalled as e:
            raise Divergence(f"EX-SLEEP-SAFE: run() slept {self.stall_timeout} s past what "
                             f"should have woken it or let it return: {e}") from None
        lost = tuple(sorted(self.kit_ids[id(h)] for h in report.lost))
        self.lost |= set(lost)
        return RunResult(lost=lost)

    def cancel(self, task: int) -> None:
        self.world.handles[task].cancel()

    def cancel_allowed(self, task: int) -> bool:
        """Whether the machine may cancel ``task`` from the test thread now.

        Not a task that others await: outside ``run()`` the cancel's wake of its join waiters
        goes through the inbox (the vtable posts whenever no loop runs), where the model wakes
        them at once — a known difference, reported and shown by its own test, not generated.
        """
        x = self.world.handles[task]._x
        return self.ex._loop_ident is not None or x is None or not x.waiters

    def new_spawner(self) -> Spawner:
        return self.ex.spawner()

    def drop_spawner(self, spawner: Spawner) -> None:
        spawner.close()

    def lost_tasks(self) -> set[int]:
        return set(self.lost)

    def observe(self) -> Observation:
        ex = self.ex
        with ex._lock:
            snap = ex.snapshot()
            inbox = list(ex._inbox)
            ready = list(ex._ready)
        handles: list[JoinHandle[Any]] = self.world.handles
        n = len(handles)
        # by identity: a task spawned from another thread has no id until the loop takes it in
        index = {id(h): i for i, h in enumerate(handles)}
        posted = [0] * n
        waker_delta = [0] * n
        for op, t in inbox:
            i = index[id(t)]
            if op in ("wake", "wake_by_ref", "spawn"):
                posted[i] += 1
            if op == "waker_clone":
                waker_delta[i] += 1
            elif op in ("waker_drop", "wake"):
                waker_delta[i] -= 1
        for h in handles:  # join wakers: the model keeps them in join[t], not in wakers[u]
            x = h._x
            for w in (x.waiters or ()) if x is not None else ():
                raw = w._raw
                if raw is not None and id(raw.data) in index:
                    waker_delta[index[id(raw.data)]] -= 1
        states = tuple(_UNSPAWNED if h.state is None else int(h.state) for h in handles)
        creq = tuple(bool(h._x is not None and h._x.cancel_requested) for h in handles)
        return Observation(
            states=states,
            polls=tuple(h.poll_count for h in handles),
            queue=tuple(index[id(t)] for t in ready),
            wakers=tuple(h._wakers + d for h, d in zip(handles, waker_delta, strict=True)),
            spawners=snap.spawners,
            extra=(("inbox", tuple(posted)), ("creq", creq), ("lost", tuple(sorted(self.lost)))),
        )

    def check_invariants(self) -> None:
        if self.ex._loop_ident is None:
            self.ex.check_invariants()

    def close(self) -> None:
        """Release the tasks: drop the stored wakers, then ``Executor.close()`` (not a modelled
        action, but exercised after every example: it must cancel whatever is left, in any
        state, and leave the invariants intact), retrieving the exceptions."""
        for u in list(self.ex._unretrieved):
            u.armed = False  # the scripts raised on purpose: nothing to report
        for w in self.world.wakers:
            if w.live:
                w.live = False
                with contextlib.suppress(Exception):  # an injected bug may break the executor
                    w.handle.drop()
        if self.ex._loop_ident is None:
            self.ex.close()
            self.ex.check_invariants()
        for h in self.world.handles:
            coro = h._coro
            if coro is not None and self.ex._loop_ident is None:
                coro.close()  # a never-started coroutine would warn "never awaited" at GC
