"""The refinement mapping for the ``seed`` variant (``refexec.models.seed``).

The seed model is a *counter abstraction*: it counts tasks per class ``(phase, held wakers w,
queue entries e)`` and its actions name a class, not a task. So a logged event about task ``t``
stands for the action on *some* class that ``t`` could be in: :meth:`SeedRefinement.alternatives`
lists them all (with both choices of ``k``, the abstraction's "2+ entries remain or 1"), the
oracle keeps every enabled one, and the next observation — the executor's own class counts —
prunes the wrong ones. The check is therefore as strong as the counts, which is what the model
can say; with one or two tasks it is tight.

Executor event -> model action, as declared once in :data:`refexec.models.refinement.SEED` (the
trace checker reads the same declaration; this summary quotes it): ``spawn`` ->
``spawn(remote)``, ``poll`` -> ``poll(c, k)``,
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

from refexec.models.refinement import SEED
from refexec.models.seed import CLASSES, E_MAX, PENDING, RUNNING, classes
from refexec.models.system import TransitionSystem
from refexec.testing.adapter import Observation
from refexec.testing.oracle import ModelStep
from refexec.testing.script import Event

__all__ = ["SeedRefinement"]

_ = CLASSES


class SeedRefinement:
    """Maps kit events onto the seed model's class actions; see the module docstring."""

    internal = SEED.internal("log")

    def __init__(self, system: TransitionSystem) -> None:
        self.w_max = dict(system.bounds.extra).get("wakers", 1)
        self.cls = classes(self.w_max)

    def _where(self, pred: Any) -> list[int]:
        return [i for i, c in enumerate(self.cls) if pred(*c)]

    def steps(self, ev: Event, s: Mapping[str, Any]) -> Sequence[ModelStep]:
        alts = self.alternatives(ev, s)
        return alts[0] if alts else []

    def alternatives(self, ev: Event, s: Mapping[str, Any]) -> list[list[ModelStep]]:
        """The declaration's readings of ``ev`` (``refexec.models.refinement.SEED``), each with
        every class parameter ``c`` (and ``k``) the named task could be in."""
        k = ev.kind
        if k not in SEED.events:
            raise ValueError(f"the seed refinement has no mapping for event {ev}")
        cnt = s["cnt"]

        def live(pred: Any) -> list[int]:
            return [c for c in self._where(pred) if cnt[c] > 0]

        handle = "per_poll" if ev.waker == -1 and k == "wake_by_ref" else "held"
        out: list[list[ModelStep]] = []
        for steps in SEED.log_steps(k, ev.remote, handle):
            if not steps:
                out.append([])
                continue
            ((name, fixed),) = steps
            if name == "poll":
                out += [[("poll", {"c": c, "k": kk})]
                        for c in live(lambda p, w, e: p == PENDING and e >= 1)
                        for kk in ((0, 1) if self.cls[c][2] == E_MAX else (0,))]
            elif name in ("pending", "ready"):
                out += [[(name, {"c": c})] for c in live(lambda p, w, e: p == RUNNING)]
            elif name == "waker_clone":
                out += [[(name, {"c": c})] for c in live(
                    lambda p, w, e: w < self.w_max and (w >= 1 or p == RUNNING))]
            elif handle == "per_poll":
                out += [[(name, {"c": c, **fixed})] for c in live(lambda p, w, e: p == RUNNING)]
            elif name in ("wake", "wake_by_ref", "waker_drop"):
                out += [[(name, {"c": c, **fixed})] for c in live(lambda p, w, e: w >= 1)]
            else:
                out.append([(name, dict(fixed))])
        return out

    def project(self, s: Mapping[str, Any], spawned: int) -> Observation:
        return Observation(
            states=(),
            extra=(("cnt", tuple(s["cnt"])), ("qlen", s["qlen"]), ("blocked", s["blocked"])),
        )
