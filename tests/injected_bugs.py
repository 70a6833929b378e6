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
    more: tuple[tuple[str, str], ...] = ()
    """Further replacements of the same change (a line moved is one line out, one line in)."""
    kind: str = "state"
    """``door`` (a race between the loop and another thread), ``shutdown`` (close() and the
    end of run()), ``state`` (a transition of the loop thread), ``waitqueue`` (the wait queue
    of the sync primitives, ``refexec.waitqueue``), ``interrupt`` (a state an interrupt
    between two lines of the loop leaves behind)."""


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
    for old, new in bug.more:
        if old not in patched:
            raise LookupError(f"injected bug {bug.slug}: {old!r} no longer occurs in "
                              f"{bug.name}; update tests/injected_bugs.py")
        patched = patched.replace(old, new, 1)
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
        "self._spawners -= 1", "pass", kind="shutdown"),
    Bug("sleep-race", "a message posted while the loop sleeps does not notify it: the "
        "cross-thread wake races the sleep decision and is lost", E, "_post",
        "if self._sleeping:", "if False:", "drop-no-unpark", kind="door"),
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
        E, "_drain", "t._wakers, applied = t._wakers - 1, True", "applied = True", kind="door"),
    Bug("lifo", "the ready queue is polled from the back (LIFO)", E, "_run_ready",
        "popleft = ready.popleft", "popleft = ready.pop", "lifo"),
]

# Issue 12: races between the loop and other threads, and shutdown. Each is caught by the
# lockstep machine alone, with the threads under refexec.testing.threads_control.
M = executor_module
_LIST += [
    Bug("post-flag-outside-lock", "_post reads the sleeping flag before taking the lock (to "
        "keep the critical section short): the loop can go to sleep between the read and the "
        "append, and is never notified", E, "_post",
        "with self._lock:\n        if self._closed:",
        "sleeping = self._sleeping\n    with self._lock:\n        if self._closed:",
        more=(("if self._sleeping:", "if sleeping:"),), kind="door"),
    Bug("post-append-after-unlock", "_post appends the message after releasing the lock: the "
        "loop checks the inbox and sleeps in between", E, "_post",
        "        self._inbox.append(msg)\n        if self._sleeping:\n            "
        "self._cond.notify()",
        "        if self._sleeping:\n            self._cond.notify()\n    "
        "self._inbox.append(msg)", kind="door"),
    Bug("spawner-close-no-notify", "closing the last Spawner does not notify the sleeping "
        "loop: run() never sees the last sender go", E, "_spawner_closed",
        "if self._sleeping:", "if False:", kind="door"),
    Bug("remote-spawn-no-notify", "a spawn from another thread does not notify the sleeping "
        "loop", E, "_spawn_threadsafe", "if self._sleeping:", "if False:", kind="door"),
    Bug("sleep-flag-never-set", "the loop parks without setting the sleeping flag, so posters "
        "never notify it", E, "_quiet", "self._sleeping = True", "self._sleeping = False",
        kind="door"),
    Bug("park-without-recheck", "the loop parks without re-checking the inbox under the lock: "
        "a message posted after its last drain is slept through", E, "_quiet",
        "        if inbox:\n            return True",
        "        if False:\n            return True", kind="door"),
    Bug("sleep-flag-not-cleared", "the sleeping flag is not cleared after the park",
        E, "_quiet", "self._sleeping = False", "pass", kind="door"),
    Bug("remote-wake-direct", "a waker's wake() acts on the task directly from any thread "
        "(the loop-thread fast path taken without checking the thread)", M, "_vt_wake",
        "if _get_ident() == ex._loop_ident:", "if True:", kind="door"),
    Bug("remote-wake-by-ref-consumes", "wake_by_ref() from another thread posts a consuming "
        "wake (the handle's count drops while it lives)", M, "_vt_wake_by_ref",
        "ex._post((_WAKE_BY_REF, t))", "ex._post((_WAKE, t))", kind="door"),
    Bug("drain-wake-keeps-handle", "a wake() taken in from the inbox does not end its handle "
        "(the count never reaches 0: run() waits for ever)", E, "_drain",
        'self._wake(t, True, "inbox")', 'self._wake(t, False, "inbox")', kind="door"),
    Bug("accept-not-queued", "a spawn from another thread is taken in (SCHEDULED) but never "
        "queued", E, "_accept", "self._ready.append(t)", "pass", kind="door"),
    Bug("return-with-spawner-open", "run() returns while a Spawner is open", E, "_quiet",
        "if not self._idle and self._spawners == 0:", "if not self._idle:", kind="shutdown"),
    Bug("return-with-waiting-task", "run() returns while a task waits on a live waker",
        E, "_quiet", "if not self._idle and self._spawners == 0:", "if self._spawners == 0:",
        kind="shutdown"),
    Bug("no-reap-before-park", "the loop parks without reaping lost tasks (run() waits for "
        "ever on a task nobody can wake)", E, "_quiet", "if self._reap_lost():", "if False:",
        kind="shutdown"),
    Bug("lost-reaped-with-waker", "a task with one live waker is reaped as lost (off by one)",
        E, "_reap_lost", "t._wakers <= 0", "t._wakers <= 1", "lost-early"),
    Bug("cancel-lost-if-notified", "a cancel requested during a poll is lost when a wake "
        "arrived during the same poll (NOTIFIED)", E, "_cancel",
        "elif st is RUNNING or st is NOTIFIED:", "elif st is RUNNING:"),
    Bug("cancel-no-join-wake", "a cancelled task does not wake the tasks awaiting it",
        E, "_drop_future", "self._wake_waiters(x)", "pass"),
    Bug("wake-idle-not-removed", "a wake of an IDLE task queues it but leaves it in _idle",
        E, "_wake", "del self._idle[t._id]", "pass"),
    Bug("close-no-drain", "close() does not take in the inbox first: a spawn posted before it "
        "is never cancelled", E, "close", "self._drain()", "pass", kind="shutdown"),
    Bug("close-skips-idle", "close() cancels only the ready tasks, not the waiting ones",
        E, "close", "while ready or idle:", "while ready:", kind="shutdown"),
    Bug("spawn-after-close-accepted", "a Spawner's spawn after close() is posted, never run "
        "nor refused", E, "_spawn_threadsafe", "if self._closed:\n            coro.close()",
        "if False:\n            coro.close()", kind="shutdown"),
    Bug("post-after-close-kept", "a message posted after close() is kept in the inbox for "
        "ever", E, "_post", "if self._closed:\n            return",
        "if False:\n            return", kind="shutdown"),
    Bug("close-drops-one", "close() cancels only the first unfinished task ('if' for "
        "'while'): the others are left queued or waiting", E, "close",
        "while ready or idle:", "if ready or idle:", kind="shutdown"),
    Bug("close-drain-after-drops", "close() takes in the inbox after its cancels instead of "
        "before: a spawn posted before close() becomes a task nobody cancels", E, "close",
        "            self._drain()\n", "",
        more=(("                self._drop_future(t, lost=False)\n",
               "                self._drop_future(t, lost=False)\n"
               "            self._drain()\n"),), kind="shutdown"),
]

# Issue 12, the wider generators: each is caught only by what they generate.
J = executor_module.JoinHandle
_LIST += [
    Bug("remote-cancel-applied-directly", "JoinHandle.cancel() from another thread while the "
        "loop runs applies the cancel there and then (the loop-thread path taken without "
        "checking the thread)", J, "cancel",
        "        if li == me:", "        if True:",
        kind="door"),
    Bug("inbox-drained-when-idle", "the inbox is drained only when the ready queue is empty: "
        "another thread's wake waits behind a task that wakes itself for ever", E, "_drive",
        "            if inbox:\n                self._drain()\n            continue",
        "            if inbox:\n                pass\n            continue",
        "inbox-drained-when-idle", kind="door"),
    Bug("drained-cancel-ignored", "a cancel posted by another thread is taken in from the "
        "inbox and dropped", E, "_drain", 'self._cancel(t, "inbox")', "pass", kind="door"),
]
# Issue 12, raising vtable functions inside the wait queue's model-based check (kind
# "waitqueue": hunted by refexec.testing.waitqueue_lockstep.WaitQueueLockstep, whose foreign
# wakers raise; the executor machines never hold such a waker in a wait queue).
from refexec import sync as sync_module  # noqa: E402
from refexec import waitqueue as waitqueue_module  # noqa: E402

_LIST += [
    Bug("wq-raising-wake-stops-the-rest", "a wake-all (notify_all, close, Event.set) raises at "
        "the first waker that raises: the waiters after it were taken out of the queue and are "
        "never woken", waitqueue_module, "act",
        "failure = _waker_failed(failure, e, raw, ", "raise _waker_failed(failure, e, raw, ",
        "wq-fault-stops-wakes", kind="waitqueue"),
    Bug("wq-waker-fault-swallowed", "an exception of a waker's wake/drop is swallowed by the "
        "queue: the caller of release/notify/cancel never learns its waker failed",
        waitqueue_module, "act", "        raise failure", "        return",
        "wq-fault-swallowed", kind="waitqueue"),
    Bug("sync-raising-wake-stops-the-rest", "refexec.sync's own waker loop (Event.set, "
        "channels) returns at the first waker that raises: the waiters after it are never "
        "woken", sync_module, "_act_all", "failure = _waker_failed(failure, e, raw, ",
        "return _waker_failed(failure, e, raw, ", "wq-fault-stops-wakes", kind="waitqueue"),
]
# Issue 12, interrupts inside the executor's code in the model-based check (kind "interrupt":
# hunted by refexec.testing.lockstep.sweep_interrupts, a KeyboardInterrupt at every line the
# loop runs between polls and between a poll's effects, then run() again, the model following).
_LIST += [
    Bug("wake-state-before-counters", "the wake of an IDLE task changes its state and its "
        "counters in two steps: an interrupt between them makes the inbox drain think the "
        "wake was not applied and put it back (the task is then woken twice)", E, "_wake",
        "t._state, c.wakes, c.wakes_enqueued = SCHEDULED, c.wakes + 1, c.wakes_enqueued + 1",
        "t._state = SCHEDULED\n            c.wakes, c.wakes_enqueued = c.wakes + 1, "
        "c.wakes_enqueued + 1", kind="interrupt"),
    Bug("drain-cancel-applied-unknown", "the drain cannot tell whether a cancel it took in "
        "was applied when an interrupt comes: it puts the message back although the task is "
        "already cancelled", E, "_drain",
        "applied = t._state is CANCELLED or t._state is COMPLETE", "applied = False",
        kind="interrupt"),
    Bug("drain-message-lost-on-interrupt", "a message the drain took out of the inbox and "
        "had not applied when an interrupt came is not put back: the wake, drop or cancel is "
        "lost", E, "_drain", "inbox.appendleft(msg)", "pass", kind="interrupt"),
    # ... and inside a poll's own transition (the sweep's "loop" site covers it since then)
    Bug("poll-state-before-count", "a poll marks its task RUNNING and counts the poll in two "
        "steps: an interrupt between them leaves a RUNNING task whose poll is not counted, "
        "and the repair, undoing a counted take, counts one poll too few", E, "_run_ready",
        "t._state = RUNNING; t._n = n  # noqa: E702 (one step: RUNNING exactly when counted)",
        "t._state = RUNNING\n            t._n = n", kind="interrupt"),
    Bug("unwind-taken-task-to-tail", "the repair of a task taken off the ready queue and not "
        "yet polled puts it back at the tail: the tasks behind it are polled first (FIFO order "
        "lost across the interrupt)", E, "_unwind_poll",
        "self._ready.appendleft(t)  # taken, not yet RUNNING",
        "self._ready.append(t)  # taken, not yet RUNNING", kind="interrupt"),
]
# Issue 12, the drive calls: caught by the model's mode-guarded step_return (EX-STALLED-EXACT,
# EX-STEP-ONE), which judges each return of step() and run_until_stalled().
_LIST += [
    Bug("step-polls-two", "step() runs the ready loop with a budget of two: a second task (or "
        "the same one, woken by its poll) is polled in the same step()", E, "_step",
        "return self._run_ready(1) == 1", "return self._run_ready(2) >= 1",
        "step-polls-twice"),
    Bug("step-skips-drain", "step() does not take in other threads' messages first: a posted "
        "wake or spawn stays in the inbox and step() returns False with a task ready",
        E, "_step", "self._drain()", "pass", "stalled-returns-early"),
    Bug("stalled-skips-reap", "run_until_stalled() returns without reaping lost tasks (the "
        "reap is done only on the sleeping path): an IDLE task no waker can reach is left "
        "unreported", E, "_quiet", "if self._reap_lost():", "if sleep and self._reap_lost():",
        "stalled-returns-early"),
]
# Issue 12, block_on(): caught by the model's step_return in mode BLOCK_ON and its idle_check
# guard (EX-BLOCK-ON-RETURN), which judge when block_on() gives the thread back.
_LIST += [
    Bug("block-on-only-complete-is-done", "block_on() treats only a COMPLETE target as "
        "finished: a target cancelled (from another thread, or by another task) or reported "
        "lost leaves block_on() running the others and then parked instead of returning",
        E, "_drive", "if until is not None and until.done():",
        "if until is not None and until._state is COMPLETE:"),
    Bug("block-on-never-sleeps", "block_on() drives with run_until_stalled()'s flags (no "
        "sleep): it returns as soon as nothing is ready, while its target still waits for "
        "another thread's wake (and result() raises)", E, "_block_on",
        'self._traced_drive("block_on", h, True, stall_timeout)',
        'self._traced_drive("block_on", h, False, stall_timeout)', "block-on-returns-early"),
    Bug("block-on-looks-after-the-round", "block_on() looks at its target after each round "
        "of polls instead of before: a target already final (cancelled by a drained message, "
        "reaped as lost, or finished before the call) lets it run a whole round of the other "
        "tasks first (a line moved)", E, "_drive",
        "if until is not None and until.done():  # block_on(): its target is final, by\n"
        "            return  # the last round,", "if False:\n            return  #",
        more=(("self._run_ready(_ROUND)\n",
               "self._run_ready(_ROUND)\n            if until is not None and until.done():"
               "\n                return\n"),)),
]

# Issue 12, close() step by step: each leaves every task final (close()'s contract holds on the
# final state), and only the model following close() action by action (the lockstep machine's
# close rule, refinement.CLOSE_EVENTS) sees that it did it the wrong way.
_LIST += [
    Bug("close-drops-idle-first", "close() cancels the waiting tasks before the queued ones "
        "(the order of the two branches swapped)", E, "close",
        "t = ready[0] if ready else next(iter(idle.values()))",
        "t = next(iter(idle.values())) if idle else ready[0]", kind="shutdown"),
    Bug("close-drops-tail-first", "close() cancels the tail of the ready queue first", E,
        "close", "t = ready[0] if ready", "t = ready[-1] if ready", kind="shutdown"),
    Bug("close-cancels-as-lost", "close() drops each task as a lost one (TaskLost, counted in "
        "tasks_lost) instead of cancelling it", E, "close",
        "self._drop_future(t, lost=False)", "self._drop_future(t, lost=True)",
        kind="shutdown"),
    Bug("close-not-resumed", "a close() cut short by an interrupt is not finished by the next "
        "one: once the flag is set, close() returns at once, leaving tasks queued and waiting",
        E, "close", "rest = not again or bool(self._ready or self._idle or self._inbox)",
        "rest = not again", kind="interrupt"),
]
BUGS: dict[str, Bug] = {b.slug: b for b in _LIST}


def pytest_configure(config: Any) -> None:
    """``PYTHONPATH=tests REFEXEC_INJECT=<slug> pytest -p injected_bugs ...`` runs any tests
    with one bug injected (how the catalogue counts what the hand-written tests catch)."""
    import os  # noqa: PLC0415

    slug = os.environ.get("REFEXEC_INJECT")
    if slug:
        cm = injected(slug)
        cm.__enter__()
        config._refexec_injected = cm
