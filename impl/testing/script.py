"""Scripted tasks: futures whose every poll does exactly what a test says, and logs it.

The lockstep machine must know, without trusting the executor under test, what each task did
during each poll: which wakers it cloned, woke or dropped, what it spawned, how the poll ended.
So tasks under test are *scripts* — a sequence of steps, one step per poll — interpreted by
:class:`ScriptRunner`, which performs each effect through the adapter's :class:`PollEnv` and
appends one :class:`Event` per effect to the shared :class:`World` log. The machine translates
that log into model actions; the executor's own trace is never consulted (that is the job of
trace validation, a separate check).

Every class here has a ``repr`` that is a valid Python expression over the names in
``__all__``, so a failing Hypothesis run prints a program that replays as written.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = [
    "AwaitJoin",
    "CancelTask",
    "DropStored",
    "Effect",
    "Event",
    "Keep",
    "PendingStep",
    "PollEnv",
    "RaiseStep",
    "ReadyStep",
    "Script",
    "ScriptError",
    "ScriptRunner",
    "SpawnChild",
    "Step",
    "StoredWaker",
    "WakeSelf",
    "WakeStored",
    "WakerHandle",
    "World",
]


class ScriptError(Exception):
    """The exception a :class:`RaiseStep` raises; a task that raises completes (EX semantics)."""


# ----------------------------------------------------------------------------------------------
# Effects: what a poll does before it ends.
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Keep:
    """Clone the poll's waker and store the clone (it keeps the task wakeable until used)."""

    def __repr__(self) -> str:
        return "Keep()"


@dataclass(frozen=True)
class WakeSelf:
    """Call ``wake_by_ref()`` on the poll's own waker ``times`` times (a wake during the poll)."""

    times: int = 1

    def __repr__(self) -> str:
        return f"WakeSelf({self.times})"


@dataclass(frozen=True)
class WakeStored:
    """Wake a stored waker (``slot`` modulo the live ones, in creation order); no-op if none.

    ``by_ref`` keeps the handle alive (``wake_by_ref``); otherwise ``wake()`` consumes it.
    """

    slot: int
    by_ref: bool = False

    def __repr__(self) -> str:
        return f"WakeStored({self.slot}, by_ref={self.by_ref})"


@dataclass(frozen=True)
class DropStored:
    """Drop a stored waker (``slot`` modulo the live ones); no-op if none is live."""

    slot: int

    def __repr__(self) -> str:
        return f"DropStored({self.slot})"


@dataclass(frozen=True)
class SpawnChild:
    """Spawn a child task running ``script`` from inside this poll."""

    script: Script

    def __repr__(self) -> str:
        return f"SpawnChild({self.script!r})"


@dataclass(frozen=True)
class CancelTask:
    """Cancel a task from this poll: itself for 0, else ``(self + task)`` modulo the tasks
    spawned so far (so draws shrink towards the interesting self-cancel during a poll)."""

    task: int

    def __repr__(self) -> str:
        return f"CancelTask({self.task})"


Effect = Keep | WakeSelf | WakeStored | DropStored | SpawnChild | CancelTask


# ----------------------------------------------------------------------------------------------
# Steps: one per poll.
# ----------------------------------------------------------------------------------------------


def _effects_repr(name: str, effects: tuple[Effect, ...]) -> str:
    return f"{name}({', '.join(repr(e) for e in effects)})"


@dataclass(frozen=True, init=False)
class PendingStep:
    """Perform ``effects``, then return Pending."""

    effects: tuple[Effect, ...]

    def __init__(self, *effects: Effect) -> None:
        object.__setattr__(self, "effects", tuple(effects))

    def __repr__(self) -> str:
        return _effects_repr("PendingStep", self.effects)


@dataclass(frozen=True, init=False)
class ReadyStep:
    """Perform ``effects``, then return Ready (the task completes)."""

    effects: tuple[Effect, ...]

    def __init__(self, *effects: Effect) -> None:
        object.__setattr__(self, "effects", tuple(effects))

    def __repr__(self) -> str:
        return _effects_repr("ReadyStep", self.effects)


@dataclass(frozen=True, init=False)
class RaiseStep:
    """Perform ``effects``, then raise :class:`ScriptError` (the task completes with it)."""

    effects: tuple[Effect, ...]

    def __init__(self, *effects: Effect) -> None:
        object.__setattr__(self, "effects", tuple(effects))

    def __repr__(self) -> str:
        return _effects_repr("RaiseStep", self.effects)


@dataclass(frozen=True)
class AwaitJoin:
    """Await the JoinHandle of task ``task`` (modulo the tasks spawned so far).

    Like ``handle.await`` in Rust: while the target is unfinished the poll returns Pending and
    the join handle holds this task's waker; once it has finished, the step is consumed and the
    next step runs *in the same poll*. Awaiting oneself, a task another task already awaits
    (the model gives each JoinHandle one waiter), or a task that awaits this one, directly or
    through others (an await cycle never ends: the model's ``await_deadlock``, in which
    ``run()`` rightly waits for ever), is skipped: the step is consumed at once.
    """

    task: int

    def __repr__(self) -> str:
        return f"AwaitJoin({self.task})"


Step = PendingStep | ReadyStep | RaiseStep | AwaitJoin


@dataclass(frozen=True, init=False)
class Script:
    """What a task does, one step per poll; a poll after the last step returns Ready."""

    steps: tuple[Step, ...]

    def __init__(self, *steps: Step) -> None:
        object.__setattr__(self, "steps", tuple(steps))

    def __repr__(self) -> str:
        return f"Script({', '.join(repr(s) for s in self.steps)})"


# ----------------------------------------------------------------------------------------------
# The log and the shared world.
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    """One thing a task or the test did, in the order it happened (the log is lock-protected).

    ``kind`` is a trace-event name from DESIGN.md: ``poll``, ``pending``, ``ready`` (also for a
    raise: the task completes either way), ``waker_clone``, ``wake``, ``wake_by_ref``,
    ``waker_drop``, ``spawn``, ``join_pending`` (the poll parked on a JoinHandle), ``join_ready``.
    ``task`` is the task the event is about (the woken task for wakes); ``waker`` the stored-waker
    id or -1 for the poll's own borrowed waker; ``other`` the child (spawn) or the joined task.
    ``remote`` says whether the executor takes the event in as a foreign-thread message (through
    its inbox) rather than at once; the adapter decides (:attr:`World.remote_of`).
    """

    kind: str
    task: int
    waker: int = -1
    other: int = -1
    thread: str = "main"
    remote: bool = False


class WakerHandle(Protocol):
    """A cloned waker as the adapter hands it to the kit (refexec's ``Waker`` satisfies this)."""

    def wake(self) -> None: ...
    def wake_by_ref(self) -> None: ...
    def drop(self) -> None: ...


class PollEnv(Protocol):
    """What a scripted poll can do; the adapter provides one per poll.

    * ``clone_waker()`` — a new handle that keeps the polled task wakeable;
    * ``wake_self()`` — ``wake_by_ref`` on the poll's own (borrowed) waker;
    * ``poll_join(task)`` — poll the JoinHandle of kit task ``task``: True once it has finished,
      False if not (the handle now holds this task's waker), None if it cannot be awaited yet
      (a spawn still in flight from another thread);
    * ``spawn(runner)`` — spawn a child from inside the poll; returns the child's task handle;
    * ``cancel(task)`` — cancel kit task ``task`` from inside the poll.
    """

    def clone_waker(self) -> WakerHandle: ...
    def wake_self(self) -> None: ...
    def poll_join(self, task: int) -> bool | None: ...
    def spawn(self, runner: ScriptRunner) -> Any: ...
    def cancel(self, task: int) -> None: ...


@dataclass
class StoredWaker:
    """A waker clone a script kept: which task it wakes, its id, and whether it is still live."""

    id: int
    task: int
    handle: WakerHandle
    live: bool = True


@dataclass
class World:
    """State shared by every scripted task of one test run and by the test itself.

    ``log`` is appended under ``lock`` so that wakes from other threads land in a total order.
    ``handles`` maps kit task ids to whatever the adapter's spawn returned (its join handle).
    """

    max_tasks: int = 1_000_000
    max_polls: int = 1_000_000
    max_held: int = 1_000_000
    self_wakes: bool = True  # False: a poll never wakes its own task (not even a stored waker)
    log: list[Event] = field(default_factory=list)
    lock: Any = field(default_factory=threading.RLock)
    """An RLock; the lockstep machine puts a controlled one here when the executor's threads
    run under :mod:`refexec.testing.threads_control` (so that taking it is a scheduling point)."""
    wakers: list[StoredWaker] = field(default_factory=list)
    handles: list[Any] = field(default_factory=list)
    runners: list[ScriptRunner] = field(default_factory=list)
    awaiting: dict[int, int] = field(default_factory=dict)  # target -> waiter
    remote_of: Callable[[str], bool] | None = None
    in_action: int | None = None
    """The log index of the event whose ``locked_action`` is running (a managed thread can be
    suspended inside it, at the executor's door, holding the log's lock)."""

    def record(
        self,
        kind: str,
        task: int,
        waker: int = -1,
        other: int = -1,
        locked_action: Callable[[], object] | None = None,
    ) -> None:
        """Log an event; with ``locked_action``, perform it atomically with the logging.

        Wakes and drops from other threads run their effect under the log's lock, so the log's
        order is the order in which they took effect (a linearization the model can follow).
        """
        cur = threading.current_thread()
        thread = "main" if cur is threading.main_thread() else cur.name
        with self.lock:  # where the event lands is read under the lock that orders the log
            remote = self.remote_of(kind) if self.remote_of is not None else thread != "main"
            self.log.append(Event(kind, task, waker, other, thread, remote))
            if locked_action is not None:
                outer, self.in_action = self.in_action, len(self.log) - 1
                try:
                    locked_action()
                finally:
                    self.in_action = outer

    def record_loop(self, kind: str, task: int = -1) -> None:
        """Log an event of the loop thread that the executor reports itself (close()'s steps)
        at the moment it happens, possibly under the door's lock: a managed thread suspended
        inside its logged action (holding the log's lock, at the door) takes effect after it,
        so the event goes before that action's (and the next such event after this one);
        taking the log's lock here would let the action finish first."""
        ev = Event(kind, task)
        pending = self.in_action
        if pending is not None:
            self.log.insert(pending, ev)
            self.in_action = pending + 1
        else:
            with self.lock:
                self.log.append(ev)

    def spawned(self) -> int:
        return len(self.runners)

    def drain(self) -> list[Event]:
        """Take every event logged since the last drain."""
        with self.lock:
            out, self.log = self.log, []
        return out

    def waits_on(self, task: int, other: int) -> bool:
        """Whether ``task`` is ``other`` or awaits it, directly or through a chain of awaits."""
        waiting_for = {waiter: target for target, waiter in self.awaiting.items()}
        seen: set[int] = set()
        while task != other:
            if task in seen or task not in waiting_for:
                return False
            seen.add(task)
            task = waiting_for[task]
        return True

    def live_wakers(self) -> list[StoredWaker]:
        return [w for w in self.wakers if w.live]

    def held(self, task: int) -> int:
        return sum(1 for w in self.wakers if w.live and w.task == task)

    def pick_waker(self, slot: int, exclude: int = -1) -> StoredWaker | None:
        live = [w for w in self.wakers if w.live and w.task != exclude]
        return live[slot % len(live)] if live else None

    def new_runner(self, script: Script) -> ScriptRunner:
        runner = ScriptRunner(self, len(self.runners), script)
        self.runners.append(runner)
        return runner

    def wake_stored(self, w: StoredWaker, by_ref: bool) -> None:
        """Wake a stored waker, logging first: the wake's effect may happen at once."""
        with self.lock:
            if not w.live:
                return
            if by_ref:
                self.record("wake_by_ref", w.task, w.id, locked_action=w.handle.wake_by_ref)
            else:
                w.live = False
                self.record("wake", w.task, w.id, locked_action=w.handle.wake)

    def drop_stored(self, w: StoredWaker) -> None:
        with self.lock:
            if not w.live:
                return
            w.live = False
            self.record("waker_drop", w.task, w.id, locked_action=w.handle.drop)


class ScriptRunner:
    """Interprets one task's script, one step per poll, through the adapter's :class:`PollEnv`.

    The adapter calls :meth:`poll` from its future's poll (or its coroutine's resumption) and
    maps the returned string — ``"pending"``, ``"ready"`` or ``"raise"`` — onto its own protocol
    (return Pending, return Ready, raise :class:`ScriptError`).
    """

    def __init__(self, world: World, task: int, script: Script) -> None:
        self.world = world
        self.task = task
        self.script = script
        self.pc = 0
        self.finished = False
        self.polls = 0
        self.in_poll = False
        self.on_poll: Callable[[ScriptRunner], None] | None = None

    def __repr__(self) -> str:
        return f"<task {self.task} at step {self.pc} of {self.script!r}>"

    def poll(self, env: PollEnv) -> str:
        """One poll: run the current step's effects and say how the poll ends."""
        if self.in_poll:
            self.world.record("overlap", self.task)
            return "pending"
        self.in_poll = True
        try:
            return self._poll(env)
        finally:
            self.in_poll = False

    def _poll(self, env: PollEnv) -> str:
        world = self.world
        if self.finished:
            # Polled after completion: the kit's log check reports it.
            world.record("poll_after_complete", self.task)
            return "ready"
        world.record("poll", self.task)
        self.polls += 1
        if self.on_poll is not None:
            self.on_poll(self)
        steps = self.script.steps
        while True:
            if self.pc >= len(steps) or self.polls >= world.max_polls:
                # the script is done, or the environment bound: Ready by the max_polls-th poll
                self.finished = True
                world.record("ready", self.task)
                return "ready"
            step = steps[self.pc]
            if isinstance(step, AwaitJoin):
                n = len(world.handles)
                target = step.task % n
                if (world.awaiting.get(target, self.task) != self.task
                        or world.waits_on(target, self.task)):
                    self.pc += 1
                    continue
                joined = env.poll_join(target)
                if joined is None:
                    self.pc += 1
                    continue
                if joined:
                    world.awaiting.pop(target, None)
                    world.record("join_ready", self.task, other=target)
                    self.pc += 1
                    continue
                world.awaiting[target] = self.task
                world.record("join_pending", self.task, other=target)
                world.record("pending", self.task)
                return "pending"
            for effect in step.effects:
                self._apply(effect, env)
            self.pc += 1
            if isinstance(step, PendingStep):
                world.record("pending", self.task)
                return "pending"
            self.finished = True
            world.record("ready", self.task)
            return "ready" if isinstance(step, ReadyStep) else "raise"

    def _apply(self, effect: Effect, env: PollEnv) -> None:
        world = self.world
        if isinstance(effect, Keep):
            if world.held(self.task) >= world.max_held:
                return  # the model's bound on held wakers: skipped, and not logged
            handle = env.clone_waker()
            w = StoredWaker(len(world.wakers), self.task, handle)
            # Published and logged under one lock: another thread that finds the waker in
            # ``wakers`` and wakes it must log its wake after this clone.
            with world.lock:
                world.wakers.append(w)
                world.record("waker_clone", self.task, w.id)
        elif isinstance(effect, WakeSelf):
            for _ in range(effect.times):
                world.record("wake_by_ref", self.task)
                env.wake_self()
        elif isinstance(effect, WakeStored):
            target = world.pick_waker(effect.slot, -1 if world.self_wakes else self.task)
            if target is not None:
                world.wake_stored(target, effect.by_ref)
        elif isinstance(effect, DropStored):
            target = world.pick_waker(effect.slot)
            if target is not None:
                world.drop_stored(target)
        elif isinstance(effect, CancelTask):
            victim = (self.task + effect.task) % len(world.handles)
            world.record("cancel", victim)
            env.cancel(victim)
        else:
            # under the log's lock: a spawn from another thread numbers its task in between
            # otherwise, and kit ids, log order and ``handles`` would disagree
            with world.lock:
                if world.spawned() >= world.max_tasks:
                    return  # beyond the model's bound: skipped, and not logged
                child = world.new_runner(effect.script)
                world.record("spawn", child.task, other=self.task)
                world.handles.append(env.spawn(child))
