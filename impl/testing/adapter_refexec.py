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
import sys
import threading
from collections import deque
from types import CodeType, FrameType
from typing import Any

from refexec.errors import Stalled, TaskLost
from refexec.executor import Executor, JoinHandle, Spawner
from refexec.future import FutureBase
from refexec.poll import Pending, Poll, Ready
from refexec.state import TaskState
from refexec.testing.adapter import Observation, RunResult
from refexec.testing.oracle import Divergence
from refexec.testing.script import ScriptError, ScriptRunner, World
from refexec.testing.threads_control import ControlledDeadlock, control_door
from refexec.trace import Trace
from refexec.waker import Context, Waker

__all__ = ["ExecutorAdapter", "ScriptedFuture"]

_HANDLE_ENDS = frozenset({Waker.wake.__code__, Waker.drop.__code__})
"""The calls that end a waker handle (``outside_polls`` leaves their lines out)."""

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


class _CloseLog(Trace):
    """The executor's trace, read for close() only: its start, each task it cancels and its
    end go into the lockstep log as they happen (:meth:`World.record_loop`), so the model
    follows close() action by action (``refexec.models.refinement.CLOSE_EVENTS``). Every other
    event is the kit's own to log (the scripts log them), and is dropped here."""

    __slots__ = ("adapter",)

    def __init__(self, adapter: ExecutorAdapter) -> None:
        super().__init__()
        self.adapter = adapter

    def record(self, event: str, task: int | None, poll: int, detail: str | None = None
               ) -> None:
        if event in ("close_start", "close_end", "cancel"):
            self.adapter.close_event(event, task, detail)


class ExecutorAdapter:
    """Runs kit tasks on a :class:`refexec.Executor`; see the module docstring."""

    capabilities = frozenset({"step", "run_until_stalled", "run", "cancel", "spawner",
                              "threads", "remote_cancel", "interrupt", "block_on"})
    stall_timeout = 30.0
    """Only for an executor passed in (not controlled): a safety net so that a lost wake fails
    instead of hanging. A controlled executor (the default) needs no timer: see ``run``."""

    def __init__(self, world: World, rng: random.Random, executor: Executor | None = None,
                 *, round: int = 0) -> None:
        """``round`` > 0: the controlled executor's rounds of polls are cut to that many
        (``control_door(round=)``), for a model with the same ``round`` bound."""
        self.world = world
        self.rng = rng  # the Executor is FIFO: it makes no scheduling choice to seed
        # The door under control (refexec.testing.threads_control): the machine's threads then
        # run one at a time, switching where the drawn interleaving says.
        self.controlled = executor is None
        self.ex = (control_door(Executor(trace=_CloseLog(self)), round=round)
                   if executor is None else executor)
        self.kit_ids: dict[int, int] = {}  # id(JoinHandle) -> kit task id
        self.close_logged = [False, False]  # close_start, close_end logged
        self.closing: set[int] = set()  # kit tasks unfinished when close() set the flag
        self.close_dropped: set[int] = set()  # kit tasks whose close_drop is logged
        self.lost: set[int] = set()
        world.remote_of = self.remote_of

    def remote_of(self, kind: str) -> bool:
        """Whether the executor takes this event in through its inbox (see World.remote_of)."""
        me = threading.current_thread()
        if kind in ("spawn", "spawner_drop", "spawner_new"):
            return me is not threading.main_thread()
        if kind == "cancel":  # JoinHandle.cancel() posts only while a loop runs elsewhere
            li = self.ex._loop_ident
            return li is not None and li != threading.get_ident()
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
        """``run()``. Controlled, it parks with no timeout; if every managed thread is then
        blocked (the helper has nothing left to do), nothing can ever wake the loop: the
        verdict is that state, described, not a timer."""
        try:
            if self.controlled:
                report = self.ex.run()
            else:
                report = self.ex.run(stall_timeout=self.stall_timeout)
        except ControlledDeadlock as e:
            raise Divergence(f"EX-SLEEP-SAFE: run() parked for ever: {self.parked_state()} "
                             f"({e})") from None
        except Stalled as e:
            raise Divergence(f"EX-SLEEP-SAFE: run() slept {self.stall_timeout} s past what "
                             f"should have woken it or let it return: {e}") from None
        except KeyboardInterrupt:
            # interrupted: no report; the tasks it reaped as lost so far are read from their
            # state (final, with TaskLost): the drive call's log may miss the last one, if
            # the interrupt came between its transition and its entry in the log
            self._note_lost()
            raise
        lost = tuple(sorted(self.kit_ids[id(h)] for h in report.lost))
        self.lost |= set(lost)
        return RunResult(lost=lost)

    def _note_lost(self) -> None:
        """Read the tasks reaped as lost from their state (final, with TaskLost): for a drive
        call that gives no report (interrupted, or block_on())."""
        self.lost |= {k for h in self.world.handles if isinstance(h, JoinHandle)
                      and h._state is TaskState.CANCELLED and h._x is not None
                      and isinstance(h._x.exc, TaskLost)
                      and (k := self.kit_ids.get(id(h))) is not None}

    def block_on(self, task: int) -> None:
        """``Executor.block_on(handle)`` of kit task ``task``: returns once it is final (its
        outcome, a scripted raise, ``Cancelled`` or ``TaskLost``, is the task's, not a
        verdict). Controlled, it parks with no timeout, as :meth:`run`."""
        h = self.world.handles[task]
        try:
            self.ex.block_on(h)
        except ControlledDeadlock as e:
            raise Divergence(f"EX-SLEEP-SAFE: block_on() parked for ever: "
                             f"{self.parked_state()} ({e})") from None
        except BaseException as e:
            if h.done():
                if e is not h.exception():
                    raise
                # the target's own outcome: a scripted raise, Cancelled, TaskLost, or the
                # interrupt an earlier interrupted poll ended it with
            elif not isinstance(e, RuntimeError):
                raise
            # else result() of an unfinished task: block_on() returned early, which the
            # model's step_return in mode BLOCK_ON judges (EX-BLOCK-ON-RETURN), not this adapter
        finally:
            self._note_lost()

    def loop_codes(self) -> frozenset[CodeType]:
        """The code the loop thread runs for the executor (for an interrupt at any of its
        lines): refexec's executor and waker modules, without the inspection methods the
        checker itself calls (``refexec.testing.interrupts.LOOP_EXCLUDE``)."""
        from refexec import executor as executor_mod  # noqa: PLC0415
        from refexec import waker as waker_mod  # noqa: PLC0415
        from refexec.testing.interrupts import LOOP_EXCLUDE, codes_of  # noqa: PLC0415

        return codes_of(executor_mod, waker_mod, exclude=LOOP_EXCLUDE)

    def outside_polls(self) -> bool:
        """Whether the loop thread runs the executor's own code, not a task's: the task in
        hand (if any) is not running its coroutine (the executor code a task's poll calls,
        such as a waker's ``wake_by_ref``, is part of the poll: the ``poll`` site interrupts
        there). Where ``loop_codes()`` interrupts are aimed: between polls, and every line of
        a poll's own transition (the take, the count, the send, filing the outcome)."""
        cur = self.ex._runner.current
        if cur is not None and getattr(getattr(cur, "_coro", None), "cr_running", False):
            return False
        # Not inside a waker's wake()/drop() either (the README's "what remains": the handle
        # ends before the executor counts it, and an interrupt in between is not repaired)
        f: FrameType | None = sys._getframe(1)
        while f is not None:
            if f.f_code in _HANDLE_ENDS:
                return False
            f = f.f_back
        return True

    def parked_state(self) -> str:
        """Why a parked loop with nobody left to wake it is a lost wake (read from the state):
        a message pending in the inbox, a task that can be woken only by a waker nobody holds,
        or nothing left at all (run() should have returned)."""
        ex = self.ex
        inbox = list(deque.__iter__(ex._inbox))
        parts = []
        if inbox:
            parts.append(f"{len(inbox)} message(s) posted and never taken in: "
                         f"{[(op, self.kit_ids.get(id(t), '?')) for op, t in inbox]}")
        held: dict[int, int] = {}
        for w in self.world.live_wakers():
            held[w.task] = held.get(w.task, 0) + 1
        for h in ex._idle.values():
            k = self.kit_ids.get(id(h), -1)
            parts.append(f"task {k} IDLE with {h._wakers} counted waker(s), "
                         f"{held.get(k, 0)} held by the test")
        if ex._ready:
            parts.append(f"{len(ex._ready)} task(s) SCHEDULED but the loop sleeps")
        if not parts:
            parts.append(f"no task waits and {ex._spawners} spawner(s) live: run() should "
                         "have returned")
        return "; ".join(parts)

    def close_event(self, event: str, task: int | None, detail: str | None) -> None:
        """close()'s steps into the log, in the model's vocabulary: ``close_start`` (a close()
        that finishes one an interrupt cut short logs none: the model is still CLOSING), each
        task close() itself cancels (a cancel it takes in was logged when posted), and
        ``close_end`` when it returns (an interrupted one does not: still CLOSING)."""
        world, ex = self.world, self.ex
        if event == "close_start":
            if detail is None:
                self._close_started()
        elif event == "close_end":
            if detail == "done" and not self.close_logged[1]:
                self.close_logged[1] = True
                world.record_loop("close_end")
        elif ex._closed and detail is None and ex._loop_ident == threading.get_ident():
            kit = next(i for i, h in enumerate(world.handles)
                       if h is not None and h._id == task)
            self.close_dropped.add(kit)
            world.record_loop("cancel", kit)

    def _close_started(self) -> None:
        # (attributes only: no line of the executor's code runs here, where an interrupt
        # aimed at close()'s lines could land)
        self.closing = {i for i, h in enumerate(self.world.handles) if h is not None
                        and h._state is not TaskState.COMPLETE
                        and h._state is not TaskState.CANCELLED}
        self.world.record_loop("close_start")
        self.close_logged[0] = True

    def close_interrupted(self) -> None:
        """After an interrupt cut close() short: the step it cut between its transition and
        that transition's trace event is logged now (it is the last one close() took): the
        closed flag set (``close_start``), or a task cancelled (``close_drop``). Read from the
        state, as ``run()`` reads a lost task an interrupt kept out of its report."""
        if self.ex._closed and not self.close_logged[0]:
            self._close_started()
        for i in sorted(self.closing - self.close_dropped):
            h = self.world.handles[i]
            x = h._x
            if (h._state is TaskState.CANCELLED and x is not None
                    and not isinstance(x.exc, TaskLost)):
                self.close_dropped.add(i)
                self.world.record_loop("cancel", i)

    def close_returned(self) -> None:
        """close() returned: if the close() it finished ended (its last step taken) just before
        an interrupt kept it from recording ``close_end``, that end is logged now."""
        if self.ex._closed and self.close_logged[0] and not self.close_logged[1]:
            self.close_logged[1] = True
            self.world.record_loop("close_end")

    def close_checked(self) -> None:
        """``Executor.close()`` for the machine's ``close`` rule (other threads may act during
        it); :meth:`close_problems` then reads its contract from the state."""
        for u in list(self.ex._unretrieved):
            u.armed = False
        self.ex.close()

    def close_problems(self) -> list[str]:
        """What breaks close()'s contract once it and the other threads are done: every task
        final (a spawn after it refused), nothing queued, waiting or posted, invariants."""
        ex = self.ex
        problems = []
        for i, h in enumerate(self.world.handles):
            if h is not None and not h.done():
                problems.append(f"task {i} is {h.state.name if h.state else 'not taken in'} "
                                "after close()")
        if ex._ready or ex._idle:
            problems.append(f"ready {len(ex._ready)}, idle {len(ex._idle)} after close()")
        if deque.__len__(ex._inbox):
            problems.append(f"{deque.__len__(ex._inbox)} message(s) left in the inbox")
        try:
            ex.check_invariants()
        except AssertionError as e:
            problems.append(str(e))
        return problems

    def cancel(self, task: int) -> None:
        self.world.handles[task].cancel()

    def cancellable(self, task: int) -> bool:
        """Whether ``JoinHandle.cancel()`` of ``task`` from the calling (helper) thread now is
        the model's ``cancel(remote=1)``: a loop runs on another thread (so the cancel is
        posted) and the task is taken in and unfinished. Read without the door's lock, as
        ``JoinHandle.cancel()`` reads it: no scheduling point lies between the two reads.

        Not generated: a cancel from another thread while *no* loop runs. ``JoinHandle.cancel``
        then applies it at once, acting as the loop thread under the door's lock (a ``run()``
        entering meanwhile waits for it): the model's loop-thread cancel before ``run_start``,
        which the test thread's own ``cancel`` rule generates."""
        h = self.world.handles[task]
        li = self.ex._loop_ident
        return (li is not None and li != threading.get_ident() and h is not None
                and h.state is not None and not h.done())

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
        handles: list[JoinHandle[Any] | None] = self.world.handles
        n = len(handles)
        # by identity: a task spawned from another thread has no id until the loop takes it in
        index = {id(h): i for i, h in enumerate(handles)}
        posted = [0] * n
        waker_delta = [0] * n
        cpost = [False] * n
        for op, t in inbox:
            i = index[id(t)]
            if op in ("wake", "wake_by_ref", "spawn"):
                posted[i] += 1
            elif op == "cancel":
                cpost[i] = True
            if op == "waker_clone":
                waker_delta[i] += 1
            elif op in ("waker_drop", "wake"):
                waker_delta[i] -= 1
        for h in handles:  # join wakers: the model keeps them in join[t], not in wakers[u]
            x = h._x if h is not None else None  # (None: a spawn a closed executor refused)
            for w in (x.waiters or ()) if x is not None else ():
                raw = w._raw
                if raw is not None and id(raw.data) in index:
                    waker_delta[index[id(raw.data)]] -= 1
        states = tuple(_UNSPAWNED if h is None or h.state is None else int(h.state)
                       for h in handles)
        creq = tuple(bool(h is not None and h._x is not None and h._x.cancel_requested)
                     for h in handles)
        return Observation(
            states=states,
            polls=tuple(0 if h is None else h.poll_count for h in handles),
            queue=tuple(index[id(t)] for t in ready),
            wakers=tuple(0 if h is None else h._wakers + d
                         for h, d in zip(handles, waker_delta, strict=True)),
            spawners=snap.spawners,
            extra=(("inbox", tuple(posted)), ("creq", creq), ("cpost", tuple(cpost)),
                   ("lost", tuple(sorted(self.lost)))),
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
            if h is None:
                continue  # a spawn close() refused
            coro = h._coro
            if coro is not None and self.ex._loop_ident is None:
                coro.close()  # a never-started coroutine would warn "never awaited" at GC
