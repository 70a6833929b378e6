"""Test-only bugs injected into ``refexec.Executor`` (issue 4 §4): the checks must be able to fail.

Each bug is a one-line change of the executor's own source: the named function is re-compiled
from its source with one fragment replaced and swapped in for the duration of a test (see
:func:`injected`). Nothing here is reachable from the public API: the module lives in ``tests/``
and every patch is undone when the context exits. A fragment that no longer occurs in the
executor's source raises ``LookupError`` at once, so a refactoring of the executor cannot turn a
bug test into one that silently tests the correct executor.

The kinds follow the model's mutants (``refexec.models.mutants``) and real executors' bugs.
"""

from __future__ import annotations

import inspect
import sys
import textwrap
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from refexec import executor as executor_module
from refexec.executor import Executor

__all__ = ["BUGS", "Bug", "injected"]


@dataclass(frozen=True)
class Bug:
    """One injected bug: replace ``old`` by ``new`` in ``owner.name``'s source."""

    slug: str
    what: str
    owner: Any
    name: str
    old: str
    new: str
    mutant: str = ""  # the model mutant of the same kind, if there is one


def _function(owner: Any, name: str) -> Callable[..., Any]:
    fn: Callable[..., Any] = owner.__dict__[name] if isinstance(owner, type) else getattr(owner,
                                                                                           name)
    return fn


def _recompiled(bug: Bug) -> Callable[..., Any]:
    fn = _function(bug.owner, bug.name)
    src = textwrap.dedent(inspect.getsource(fn))
    if bug.old not in src:
        raise LookupError(f"injected bug {bug.slug}: {bug.old!r} no longer occurs in "
                          f"{bug.name}; update tests/injected_bugs.py")
    patched = src.replace(bug.old, bug.new, 1)
    module = sys.modules[fn.__module__]
    namespace: dict[str, Any] = {}
    exec(compile(patched, f"<injected bug {bug.slug}>", "exec"), module.__dict__, namespace)
    new_fn: Callable[..., Any] = namespace[bug.name]
    return new_fn


@contextmanager
def injected(slug: str) -> Iterator[Bug]:
    """Run the body with bug ``slug`` in the executor; always restored afterwards."""
    bug = BUGS[slug]
    new_fn = _recompiled(bug)
    owner, name = bug.owner, bug.name
    vtable_slot = None
    if owner is executor_module:
        # vtable functions are called through _VTABLE, not through the module attribute
        vt = executor_module._VTABLE
        for slot in ("clone", "wake", "wake_by_ref", "drop"):
            if getattr(vt, slot) is getattr(owner, name):
                vtable_slot = slot
    old_fn = _function(owner, name)
    setattr(owner, name, new_fn)
    if vtable_slot is not None:
        setattr(executor_module._VTABLE, vtable_slot, new_fn)
    try:
        yield bug
    finally:
        setattr(owner, name, old_fn)
        if vtable_slot is not None:
            setattr(executor_module._VTABLE, vtable_slot, old_fn)


E = Executor
_LIST = [
    Bug("lost-notified", "a wake during a poll is forgotten (RUNNING stays RUNNING)",
        E, "_wake", "t._state = NOTIFIED", "t._state = RUNNING", "lost-notified"),
    Bug("double-enqueue", "a wake of a SCHEDULED task enqueues it again",
        E, "_wake", "c.wakes, c.wakes_merged = c.wakes + 1, c.wakes_merged + 1",
        "c.wakes, c.wakes_merged = c.wakes + 1, c.wakes_merged + 1; self._ready.append(t)",
        "double-enqueue"),
    Bug("poll-after-complete", "a wake of a COMPLETE task schedules it again",
        E, "_wake", "c.wakes, c.wakes_ignored = c.wakes + 1, c.wakes_ignored + 1",
        "c.wakes, c.wakes_ignored = c.wakes + 1, c.wakes_ignored + 1; _ = st is COMPLETE and "
        "(setattr(t, '_state', SCHEDULED) or self._ready.append(t))", "repoll-complete"),
    Bug("wake-not-enqueued", "a wake of an IDLE task is counted and marks it SCHEDULED but "
        "does not enqueue it", E, "_wake", "self._ready.append(t)", "pass"),
    Bug("clone-not-counted", "a waker cloned on the loop thread is not counted (the task "
        "looks unwakeable and is reaped as lost while a waker lives)",
        executor_module, "_vt_clone", "t._wakers += 1", "pass"),
    Bug("spawner-not-released", "closing a Spawner does not decrement the sender count "
        "(run() never sees the last sender go)", E, "_spawner_closed",
        "self._spawners -= 1", "pass"),
    Bug("sleep-race", "a message posted while the loop sleeps does not notify it: the "
        "cross-thread wake races the sleep decision and is lost", E, "_post",
        "if self._sleeping:", "if False:", "drop-no-unpark"),
    Bug("cancel-not-dequeued", "cancelling a SCHEDULED task leaves it in the ready queue",
        E, "_settle", "ready.remove(t)", "break"),
    Bug("lost-not-reported", "a lost task is cancelled in silence, not reported",
        E, "_drop_future", "self._lost_log.append(t)", "pass", "lost-unreported"),
    Bug("poll-count-stale", "the poll counter is not incremented", E, "_run_ready",
        "t._n = n", "pass", "count-first-poll-only"),
    Bug("join-waker-kept", "a finished task does not wake (release) its join waiters",
        E, "_wake_waiters", "w.wake()", "pass", "join-waker-kept"),
    Bug("deferred-cancel-ignored", "a cancel requested during a poll is never applied",
        E, "_after_pending", "if x.cancel_requested:", "if False:"),
    Bug("remote-drop-ignored", "a waker dropped on another thread is never uncounted",
        E, "_drain", "t._wakers, applied = t._wakers - 1, True", "applied = True"),
    Bug("lifo", "the ready queue is polled from the back (LIFO)", E, "_run_ready",
        "popleft = ready.popleft", "popleft = ready.pop", "lifo"),
]
BUGS: dict[str, Bug] = {b.slug: b for b in _LIST}
