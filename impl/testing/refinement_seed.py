"""The refinement mapping for the ``seed`` variant (``refexec.models.seed``).

The seed model is a *counter abstraction*: it counts tasks per class ``(phase, held wakers w,
queue entries e)`` and its actions name a class, not a task. So a logged event about task ``t``
stands for the action on *some* class that ``t`` could be in: :meth:`SeedRefinement.alternatives`
lists them all (with both choices of ``k``, the abstraction's "2+ entries remain or 1"), the
oracle keeps every enabled one, and the next observation — the executor's own class counts —
prunes the wrong ones. The check is therefore as strong as the counts, which is what the model
can say; with one or two tasks it is tight.

Executor event -> model action: ``spawn`` -> ``spawn(remote)``, ``poll`` -> ``poll(c, k)``,
``pending``/``ready`` (also a raise) -> ``pending(c)``/``ready(c)``, ``waker_clone`` ->
``waker_clone(c)``, ``wake``/``wake_by_ref``/``waker_drop`` -> the same with ``remote``,
``run_start``/``run_end``. Internal: ``discard`` (an entry of a finished task received and
dropped unpolled — the executor logs nothing for it).

Executor state -> model variables: ``cnt`` (class counts of live tasks: a task is *pending* if
its future is in its slot, *running* while polled, *complete* once the slot is empty for good;
``w`` its live waker handles apart from the poll's own, ``e`` its entries in the channel capped
at 2), ``qlen`` (entries in the channel) and ``blocked`` (the loop raised ``DeadlockError``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from refexec.models.seed import CLASSES, E_MAX, PENDING, RUNNING, classes
from refexec.models.system import TransitionSystem
from refexec.testing.adapter import Observation
from refexec.testing.oracle import ModelStep
from refexec.testing.script import Event

__all__ = ["SeedRefinement"]

_ = CLASSES


class SeedRefinement:
    """Maps kit events onto the seed model's class actions; see the module docstring."""

    internal = frozenset({"discard"})

    def __init__(self, system: TransitionSystem) -> None:
        self.w_max = dict(system.bounds.extra).get("wakers", 1)
        self.cls = classes(self.w_max)

    def _where(self, pred: Any) -> list[int]:
        return [i for i, c in enumerate(self.cls) if pred(*c)]

    def steps(self, ev: Event, s: Mapping[str, Any]) -> Sequence[ModelStep]:
        alts = self.alternatives(ev, s)
        return alts[0] if alts else []

    def alternatives(self, ev: Event, s: Mapping[str, Any]) -> list[list[ModelStep]]:
        k, remote = ev.kind, int(ev.remote)
        cnt = s["cnt"]

        def live(pred: Any) -> list[int]:
            return [c for c in self._where(pred) if cnt[c] > 0]

        if k == "spawn":
            return [[("spawn", {"remote": remote})]]
        if k == "poll":
            return [[("poll", {"c": c, "k": kk})]
                    for c in live(lambda p, w, e: p == PENDING and e >= 1)
                    for kk in ((0, 1) if self.cls[c][2] == E_MAX else (0,))]
        if k in ("pending", "ready"):
            return [[(k, {"c": c})] for c in live(lambda p, w, e: p == RUNNING)]
        if k == "waker_clone":
            return [[("waker_clone", {"c": c})]
                    for c in live(lambda p, w, e: w < self.w_max and (w >= 1 or p == RUNNING))]
        if k == "wake_by_ref" and ev.waker == -1:
            return [[("wake_by_ref", {"c": c, "remote": 0})]
                    for c in live(lambda p, w, e: p == RUNNING)]
        if k in ("wake", "wake_by_ref", "waker_drop"):
            return [[(k, {"c": c, "remote": remote})] for c in live(lambda p, w, e: w >= 1)]
        if k in ("run_start", "run_end"):
            return [[(k, {})]]
        if k in ("spawner_new",):
            return [[("spawner_new", {})]]
        if k in ("spawner_drop",):
            return [[("spawner_drop", {"remote": remote})]]
        if k in ("deadlock", "lost_reported", "join_ready"):
            return [[]]
        raise ValueError(f"the seed refinement has no mapping for event {ev}")

    def project(self, s: Mapping[str, Any], spawned: int) -> Observation:
        return Observation(
            states=(),
            extra=(("cnt", tuple(s["cnt"])), ("qlen", s["qlen"]), ("blocked", s["blocked"])),
        )
