"""The refinement mapping for the ``reference`` variant (``refexec.models.reference``).

Executor event -> model action, as declared once in :data:`refexec.models.refinement.REFERENCE`
(the trace checker reads the same declaration; this table quotes it). The log's vocabulary is
the model's; ``remote`` says whether the event happened on a thread other than the loop thread:

=======================  ====================================================================
logged event             model action(s)
=======================  ====================================================================
``spawn``                ``spawn(t, remote)`` (remote: through a Spawner, from another thread)
``poll`` / ``pending``   ``poll(t)`` / ``pending(t)``
``ready``                ``ready(t)`` (also for a poll that raised: the task completes)
``waker_clone``          ``waker_clone(t)``
``wake``                 ``wake(t, remote)`` (a stored waker consumed)
``wake_by_ref``          ``wake_by_ref(t, remote)`` (a stored waker, or the poll's own waker)
``waker_drop``           ``waker_drop(t, remote)``
``join_pending``         ``join(t=target, u=waiter)`` the first time (the join waker is held);
                         nothing while the same waiter is already registered
``cancel``               ``cancel(t)``
``spawner_new/drop``     ``spawner_new`` / ``spawner_drop(remote)``
``run_start/run_end``    ``run_start(mode=RUN)`` / ``run_end``
``step_start``           ``run_start(mode=STEP)`` (``step()``)
``stalled_start``        ``run_start(mode=UNTIL_STALLED)`` (``run_until_stalled()``)
``step_end``             ``step_return`` (the model's edge for a drive call that gives the loop
                         thread back between polls; its guard says when, per mode)
=======================  ====================================================================

Internal actions (taken by the executor without a logged event): ``inbox_drain``, ``lost``,
``idle_check``, ``sleep``, ``unpark``.

Executor state -> model variable (:meth:`ReferenceRefinement.project`): task states ``st``,
poll counters ``polls``, the ready queue ``q[:qlen]``, held wakers ``wakers``, live spawners
``spawners``, and — in ``extra`` — ``inbox`` (posted, not drained), ``creq`` (cancel
requested during a poll) and, with other threads' cancels, ``cpost`` (a cancel posted, not
taken in). The ghosts (``done``, ``woken``, ``ended``, ``waited``) and the loop's
control variables (``loop``, ``lock``, ``signal``, ``blocked``) are not compared: the ghosts are
the model's bookkeeping, and the control variables are followed by the frontier and checked
through the properties.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from refexec.models.refinement import REFERENCE
from refexec.models.system import TransitionSystem
from refexec.testing.adapter import Observation
from refexec.testing.oracle import ModelStep
from refexec.testing.script import Event

__all__ = ["ReferenceRefinement"]

_DISPATCH, _NOT_STARTED = 1, 0


class ReferenceRefinement:
    """Maps kit events onto the reference model's actions and its state onto Observations."""

    internal = REFERENCE.internal("log")

    def __init__(self, system: TransitionSystem, *, compare_extra: bool = True) -> None:
        self.n = system.bounds.n_tasks
        self.compare_extra = compare_extra
        self.params = {a.name: tuple(a.params) for a in system.actions}

    def steps(self, ev: Event, s: Mapping[str, Any]) -> Sequence[ModelStep]:
        """The declaration's reading of ``ev`` (``refexec.models.refinement.REFERENCE``), with
        the task parameter filled in; two state-dependent cases decide *whether* it applies."""
        k, t = ev.kind, ev.task
        if k not in REFERENCE.events:
            raise ValueError(f"the reference refinement has no mapping for event {ev}")
        if k == "join_pending" and s["join"][ev.other] == t:
            return []  # the same waiter is registered already: the join waker is held
        if k == "cancel" and s["st"][t] in (1, 2) and s["creq"][t]:
            return []  # a second cancel during the same poll: already requested
        (steps, *_) = REFERENCE.log_steps(k, ev.remote, closed=bool(s.get("closed", False)))
        out: list[ModelStep] = []
        for name, fixed in steps:
            # a parameter the instance's action lacks (``mode`` without the bounds key
            # ``drive``) is dropped: that instance does not distinguish the drive calls
            params = {k: v for k, v in fixed.items() if k in self.params[name]}
            if name == "join":
                params.update(t=ev.other, u=t)
            elif "t" in self.params[name]:
                params["t"] = t
            out.append((name, params))
        return out

    def project(self, s: Mapping[str, Any], spawned: int) -> Observation:
        n = spawned
        extra: tuple[tuple[str, Any], ...] | None = None
        if self.compare_extra:
            extra = (("inbox", tuple(s["inbox"][:n])), ("creq", tuple(s["creq"][:n])))
            if "cpost" in s:  # other threads' cancels (bounds key rcancel)
                extra = (*extra, ("cpost", tuple(s["cpost"][:n])))
        return Observation(
            states=tuple(s["st"][:n]),
            polls=tuple(s["polls"][:n]),
            queue=tuple(s["q"][: s["qlen"]]),
            # a closed executor drops other threads' posts (_post), the model counts the
            # handles they end: the counts are not compared once closed (spec/SPEC.md 11.5)
            wakers=None if s.get("closed") else tuple(s["wakers"][:n]),
            spawners=s["spawners"],
            extra=extra,
        )
