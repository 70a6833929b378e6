"""The adapter: the few operations the lockstep machine needs from an executor under test.

A runtime author checks their executor against the model by writing one class with these
methods (the README's section on ``refexec.testing`` shows one); the machine does the rest.
Everything the machine needs to know about what tasks *did* comes from the scripted tasks' log
(:mod:`refexec.testing.script`); the adapter only runs them and reports what the executor
*holds* — :meth:`Adapter.observe` — so that the abstraction of the executor's state can be
compared with the model's state after every step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from refexec.testing.script import ScriptRunner, World

__all__ = ["Adapter", "Observation", "RunResult"]


@dataclass(frozen=True)
class Observation:
    """The executor's state in the model's vocabulary; ``None`` marks what an adapter cannot see.

    Indices are kit task ids (spawn order, children included). The machine compares each field
    that is not ``None`` with the model's projection of the same field, so an adapter that sees
    less is checked on less — never on a guess.

    * ``states``: each task's :class:`~refexec.state.TaskState` value, or ``UNSPAWNED`` (6) for
      a spawn posted from another thread that the executor has not taken in yet;
    * ``polls``: each task's poll counter, as the executor keeps it;
    * ``queue``: the ready queue, task ids front first (a task may appear twice in the seed design);
    * ``wakers``: live waker handles per task, counting clones held by anyone, not the borrowed
      waker of a poll in progress;
    * ``spawners``: live spawner handles (the executor's own sender included while ``run`` has not
      dropped it, as in the seed);
    * ``extra``: variant-specific state by model variable name (for example ``inbox``, ``creq``)
      compared key by key with the projection's ``extra``.
    """

    states: tuple[int, ...]
    polls: tuple[int, ...] | None = None
    queue: tuple[int, ...] | None = None
    wakers: tuple[int, ...] | None = None
    spawners: int | None = None
    extra: tuple[tuple[str, Any], ...] | None = None


@dataclass(frozen=True)
class RunResult:
    """What a call to ``run()`` returned: kit ids of tasks it reported lost, and whether it raised
    a deadlock error (the seed design's honest failure) instead of returning."""

    lost: tuple[int, ...] = ()
    deadlock: bool = False


class Adapter(Protocol):
    """The executor-facing half of the lockstep machine.

    ``capabilities`` names the optional rules the executor supports: ``"cancel"``, ``"spawner"``
    (spawner handles), ``"threads"`` (wakes from other threads), ``"run"`` (a ``run()`` that ends
    when no sender remains), ``"run_until_stalled"``, ``"step"``. The machine only generates the
    rules an adapter declares.
    """

    world: World
    capabilities: frozenset[str]

    def spawn(self, runner: ScriptRunner) -> Any:
        """Spawn a task that polls ``runner`` (``runner.poll(env)`` once per poll) from the test
        thread; return the task's join handle (stored in ``world.handles[runner.task]``)."""
        ...

    def spawn_remote(self, spawner: Any, runner: ScriptRunner) -> Any:
        """Spawn through ``spawner`` (from :meth:`new_spawner`); called on another thread."""
        ...

    def step(self) -> bool:
        """Poll exactly one ready task; return False if none was ready."""
        ...

    def run_until_stalled(self) -> None:
        """Poll until no task is ready."""
        ...

    def run(self) -> RunResult:
        """Run until no sender remains; report the tasks found lost."""
        ...

    def cancel(self, task: int) -> None:
        """Cancel kit task ``task``, whatever its state."""
        ...

    def new_spawner(self) -> Any:
        """Create a spawner handle (keeps ``run`` open while it lives)."""
        ...

    def drop_spawner(self, spawner: Any) -> None:
        """Drop a spawner handle created by :meth:`new_spawner`."""
        ...

    def observe(self) -> Observation:
        """The executor's state now, in the model's vocabulary."""
        ...

    def close(self) -> None:
        """Release everything (called at teardown, also after a failure)."""
        ...

