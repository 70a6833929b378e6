"""Stall verdicts: why is a task stuck, and where?

When a run hangs (``run(stall_timeout=...)`` raises ``Stalled``), ends with lost tasks
(``RunReport.lost``), or a user asks (``Executor.diagnose()``), every stuck task gets one
:class:`Verdict`:

* **lost wake** — nothing can ever wake it. Either its last waker was dropped (the executor
  then ends it as lost; the verdict names the step that dropped it: the poll of which task, at
  which line of user code), or its only wakers sit in an object that no other task, timer, I/O
  registration or thread can reach (a hand-written future kept the waker, and whoever was
  meant to call it is gone).
* **legitimate wait** — it waits on something that exists: a task it awaits, a refexec
  primitive (a Lock and the task that holds it, an Event nobody set yet, a channel whose
  senders are alive), a timer, an I/O registration, or a waker that another task can reach.
* **await cycle** — it is part of a cycle of tasks awaiting each other's JoinHandles, or of a
  lock-order cycle (each task holds a refexec ``Lock`` the next one waits for).

Each verdict carries the task's *await chain*: the coroutine frames it is suspended in
(outermost first, ``file:line in function``), following ``cr_await`` down to the future it
waits on.

Cost: nothing on the hot path. The only bookkeeping while running is on the path where a task
*becomes* lost (its live-waker count reaches zero while it is IDLE): :func:`note_drop` records
the task being polled, its poll number and the user line that dropped the waker. Everything
else is computed when asked, from the executor's state and the garbage collector's view of who
holds each waker (``gc.get_objects``/``gc.get_referrers``: slow, but only on a stall).

The holder of a refexec ``Lock`` is the lock's ``owner`` (the task id its acquire recorded,
cleared by ``release()``): exact. Only when a locked Lock has no owner (acquired outside a
task, or handed over to a waiter that has not run yet) is it inferred: the unfinished tasks,
not themselves queued on it, whose suspended frames refer to the lock (a local, or an
attribute of a local such as ``self.lock``).
"""

from __future__ import annotations

import gc
import os
import sys
import threading
import types
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, TypeGuard, cast

from refexec.driver import IoWait, Timer
from refexec.future import _Waiting
from refexec.locks import Lock
from refexec.state import TaskState
from refexec.waitqueue import Wait
from refexec.waker import Waker

if TYPE_CHECKING:
    from refexec.executor import Executor, JoinHandle

__all__ = ["AWAIT_CYCLE", "LEGITIMATE_WAIT", "LOST_WAKE", "DropSite", "FrameInfo", "Verdict"]

LOST_WAKE: Final = "lost wake"
LEGITIMATE_WAIT: Final = "legitimate wait"
AWAIT_CYCLE: Final = "await cycle"

_PKG_DIR: Final = os.path.dirname(os.path.abspath(__file__))
_REACH_LIMIT: Final = 1_000_000
"""Objects expanded by one diagnosis's walk of who-reaches-what (see ``_Reach``)."""


@dataclass(frozen=True)
class FrameInfo:
    """One frame of an await chain, or the line of user code that did something."""

    file: str
    line: int
    function: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line} in {self.function}"


@dataclass(frozen=True)
class DropSite:
    """The step that dropped a task's last waker: during poll ``poll`` of task ``by_task``
    (``None``: outside any poll, e.g. between rounds), at ``where`` in user code."""

    by_task: int | None
    poll: int
    where: FrameInfo | None

    def __str__(self) -> str:
        step = (f"during poll {self.poll} of task {self.by_task}" if self.by_task is not None
                else "outside any poll")
        return step + (f", at {self.where}" if self.where is not None else "")


@dataclass(frozen=True)
class Verdict:
    """Why one task is stuck (see the module docstring for the three kinds)."""

    task: int
    name: str
    kind: str
    """:data:`LOST_WAKE`, :data:`LEGITIMATE_WAIT` or :data:`AWAIT_CYCLE`."""
    why: str
    chain: tuple[FrameInfo, ...]
    """The coroutine frames the task is suspended in, outermost first."""
    waits_for: tuple[int, ...] = ()
    """Tasks it waits on: the task it awaits, or the task(s) holding the lock it wants."""
    cycle: tuple[int, ...] = ()
    """For an await cycle: the task ids around the cycle, starting with this task."""
    dropped_at: DropSite | None = None
    """For a lost task: the step that dropped its last waker, if one did."""

    def explain(self) -> str:
        """The verdict without the task's name: kind, why, then the await chain, a frame a
        line."""
        return "\n".join([f"{self.kind}: {self.why}", *(f"    at {f}" for f in self.chain)])

    def __str__(self) -> str:
        return f"task {self.task} ({self.name}): {self.explain()}"


# --------------------------------------------------------------------------------------------
# Await chains


def _is_task(obj: object) -> TypeGuard[JoinHandle[Any]]:
    """A refexec.executor JoinHandle (the executor imports this module, not the reverse)."""
    return type(obj).__name__ == "JoinHandle" and type(obj).__module__ == "refexec.executor"


def _internal(code: types.CodeType) -> bool:
    """refexec's own machinery (not its examples): left out of the chains users read."""
    return os.path.dirname(code.co_filename) == _PKG_DIR


def _info(frame: types.FrameType) -> FrameInfo:
    return FrameInfo(frame.f_code.co_filename, frame.f_lineno, frame.f_code.co_name)


def await_chain(coro: object) -> tuple[tuple[FrameInfo, ...], object, list[types.FrameType]]:
    """Follow ``cr_await`` from a task's coroutine: (user frames outermost first, the object
    it finally waits on or None, every frame met including refexec's own)."""
    out: list[FrameInfo] = []
    frames: list[types.FrameType] = []
    obj: Any = coro
    leaf: object = None
    for _ in range(10_000):  # a chain is never this deep; a guard against a cycle of objects
        if obj is None:
            break
        if isinstance(obj, types.CoroutineType):
            frame, nxt = obj.cr_frame, obj.cr_await
        elif isinstance(obj, types.GeneratorType):
            frame, nxt = obj.gi_frame, obj.gi_yieldfrom
        elif type(obj) is _Waiting:
            leaf = obj._fut
            break
        elif hasattr(obj, "_coro") and not hasattr(obj, "poll"):  # refexec.timers' _Throw
            obj = obj._coro
            continue
        else:
            leaf = obj
            break
        if frame is None:
            break
        frames.append(frame)
        if not _internal(frame.f_code):
            out.append(_info(frame))
        elif nxt is None:  # e.g. JoinHandle.__await__: the future is its ``self``
            leaf = frame.f_locals.get("self")
        obj = nxt
    return tuple(out), leaf, frames


def _user_frame(frame: types.FrameType | None) -> FrameInfo | None:
    while frame is not None and _internal(frame.f_code):
        frame = frame.f_back
    return None if frame is None else _info(frame)


# --------------------------------------------------------------------------------------------
# The one piece of bookkeeping while running (rare path: a task becomes lost)


def note_drop(ex: Executor, t: JoinHandle[Any]) -> None:
    """``t`` is IDLE and its last waker was just dropped: remember the step that did it."""
    cur = ex._runner.current
    by = getattr(cur, "_id", None) if cur is not None else None
    poll = getattr(cur, "_n", 0) if cur is not None else 0
    ex._drops[t._id] = DropSite(by, poll, _user_frame(sys._getframe(1)))


def lost_verdict(ex: Executor, t: JoinHandle[Any]) -> Verdict:
    """The verdict of an IDLE task about to be ended as lost (its coroutine is still there)."""
    chain, leaf, _ = await_chain(t._coro)
    site = ex._drops.pop(t._id, None)
    if site is not None:
        why = f"its last waker was dropped {site}, so nothing can ever wake it"
    else:
        why = (f"its poll {t._n} returned Pending without keeping a waker "
               f"(waiting on {_describe(leaf)}): a future that returns Pending must keep "
               "cx.waker.clone() and call wake() on it later")
    return Verdict(t._id, t._name, LOST_WAKE, why, chain, dropped_at=site)


# --------------------------------------------------------------------------------------------
# Diagnosis of the tasks that wait


@dataclass
class _Stuck:
    task: JoinHandle[Any]
    chain: tuple[FrameInfo, ...]
    leaf: object
    frames: list[types.FrameType]
    waits_for: tuple[int, ...] = ()
    edge: str = ""


def diagnose(ex: Executor) -> tuple[Verdict, ...]:
    """A verdict for every IDLE task of ``ex`` (call from the loop's thread, or between runs)."""
    tasks = [t for t in ex._idle.values() if t._state is TaskState.IDLE]
    if not tasks:
        return ()
    unfinished = {t._id: t for t in ex._unfinished()}
    stuck = {}
    for t in tasks:
        chain, leaf, frames = await_chain(t._coro)
        stuck[t._id] = _Stuck(t, chain, leaf, frames)
    for s in stuck.values():  # the waits-for edges: awaited handles and lock holders
        leaf = s.leaf
        if _is_task(leaf) and leaf._id in unfinished:
            s.waits_for, s.edge = (leaf._id,), "awaits"
        else:
            lock = _lock_of(leaf)
            if lock is not None:
                s.waits_for = tuple(u for u in _holders(lock, s.task, unfinished, stuck))
                s.edge = "lock"
    wakers = _wakers_by_task(ex, {t._id for t in tasks})
    every = [w for ws in wakers.values() for w in ws]
    kept = _holders_of(every, {id(wakers), id(every), *map(id, wakers.values())})
    walked: list[_Reach] = []

    def reach() -> _Reach:  # made on first need, then shared by every task's question
        if not walked:
            walked.append(_Reach(ex, stuck, unfinished))
        return walked[0]

    out = []
    for s in stuck.values():
        cycle = _cycle(s.task._id, stuck)
        if cycle:
            out.append(_cycle_verdict(s, cycle, stuck))
        else:
            out.append(_wait_verdict(ex, s, unfinished, stuck, wakers.get(s.task._id, []), kept,
                                     reach))
    return tuple(out)


def _cycle(start: int, stuck: dict[int, _Stuck]) -> tuple[int, ...]:
    """The cycle through ``start`` in the waits-for graph, if there is one (shortest first)."""
    paths: list[tuple[int, ...]] = [(start,)]
    seen = {start}
    while paths:
        nxt: list[tuple[int, ...]] = []
        for p in paths:
            s = stuck.get(p[-1])
            for u in s.waits_for if s is not None else ():
                if u == start:
                    return p
                if u not in seen:
                    seen.add(u)
                    nxt.append((*p, u))
        paths = nxt
    return ()


def _cycle_verdict(s: _Stuck, cycle: tuple[int, ...], stuck: dict[int, _Stuck]) -> Verdict:
    steps = []
    for i, tid in enumerate(cycle):
        nxt = cycle[(i + 1) % len(cycle)]
        how = "awaits" if stuck[tid].edge == "awaits" else "waits for a Lock held by"
        steps.append(f"task {tid} {how} task {nxt}")
    why = "; ".join(steps) + ": none of them can finish"
    return Verdict(s.task._id, s.task._name, AWAIT_CYCLE, why, s.chain, s.waits_for, cycle)


def _wait_verdict(  # noqa: PLR0917 (one call site, all of the diagnosis's state)
    ex: Executor,
    s: _Stuck,
    unfinished: dict[int, JoinHandle[Any]],
    stuck: dict[int, _Stuck],
    wakers: list[Any],
    kept: dict[int, list[Any]],
    reach: Callable[[], _Reach],
) -> Verdict:
    t, leaf = s.task, s.leaf

    def verdict(kind: str, why: str) -> Verdict:
        return Verdict(t._id, t._name, kind, why, s.chain, s.waits_for)

    if _is_task(leaf):
        u = unfinished.get(leaf._id)
        state = "not finished" if u is None else u._state.name if u._state else "?"
        return verdict(LEGITIMATE_WAIT, f"it awaits task {leaf._id} ({leaf._name}), {state}")
    for _deadline, _seq, tm in ex._driver._heap:  # a timer holds the raw waker itself
        if tm.vtable is not None and tm.data is t:
            return verdict(LEGITIMATE_WAIT, f"a timer holds its waker (deadline {tm.deadline} ns)")
    holders = [h for w in wakers for h in kept.get(id(w), ())]
    for h in holders:
        if isinstance(h, Timer):
            return verdict(LEGITIMATE_WAIT, f"a timer holds its waker (deadline {h.deadline} ns)")
        if isinstance(h, IoWait):
            return verdict(LEGITIMATE_WAIT, f"an I/O registration holds its waker ({h!r})")
    if s.edge == "lock":
        who = ", ".join(f"task {u}" for u in s.waits_for) or "no task found (released?)"
        return verdict(LEGITIMATE_WAIT, f"it waits for {_describe(leaf)}, held by {who}")
    if t._wakers <= 0:
        return verdict(LOST_WAKE, "it has no live waker: nothing can ever wake it")
    reacher = reach().other_than(t._id, [*wakers, *holders])
    what = _describe(leaf)
    if _is_refexec(leaf):  # refexec's primitives keep their wakers; waiting on them is legit
        why = f"it waits on {what}"
        if reacher is None:
            why += ", which no other task, timer or thread can reach: nobody will signal it"
        else:
            why += f", which {reacher} can reach"
        return verdict(LEGITIMATE_WAIT, why)
    keepers = ", ".join(sorted({_describe(h) for h in holders})) or "an object"
    if reacher is not None:
        return verdict(LEGITIMATE_WAIT,
                       f"it waits on {what}; its waker is kept by {keepers}, which {reacher} "
                       "can reach")
    return verdict(LOST_WAKE,
                   f"it waits on {what}; its waker is kept by {keepers}, which no other task, "
                   "timer, I/O registration or thread can reach: nobody can ever wake it")


# --------------------------------------------------------------------------------------------
# What holds what


def _describe(obj: object) -> str:
    """What a task waits on, in words: the refexec primitive behind a future where there is
    one (an Event, a channel, a Lock...), else the object's type."""
    if obj is None:
        return "nothing known"
    prim = _primitive_of(obj) or _public_part(obj) or obj
    name = type(prim).__name__
    # refexec.sync's primitives keep their state in a shared part (the wait queue's owner)
    shared = prim if name.endswith("Shared") else getattr(prim, "_shared", None)
    kind = type(shared).__name__
    if name == "Event" or kind == "_EventShared":
        return "a refexec Event that is " + ("set" if getattr(shared, "flag", False) else "not set")
    if name in ("Receiver", "Sender") or kind == "_ChannelShared":
        senders = getattr(shared, "senders", "?")
        return f"a refexec channel with {senders} live sender(s)"
    if kind == "_OneshotShared":
        return "a refexec oneshot channel"
    if _is_refexec(prim):
        return f"refexec {prim!r}"
    cls = type(prim)
    return f"a {cls.__module__}.{cls.__qualname__} object"


def _public_part(obj: object) -> object | None:
    """For one of refexec's private futures, the public primitive it belongs to."""
    if not _is_refexec(obj):
        return None
    values = [getattr(obj, n, None) for c in type(obj).__mro__ for n in getattr(c, "__slots__", ())]
    values += list(getattr(obj, "__dict__", {}).values())
    for v in values:
        if v is not None and _is_refexec(v) and not type(v).__name__.startswith("_"):
            return cast(object, v)
    return None


def _is_refexec(obj: object) -> bool:
    mod = type(obj).__module__
    return mod.startswith("refexec.") and not mod.startswith("refexec.examples")


def _primitive_of(obj: object) -> object | None:
    """For a refexec ``Wait`` (a wait-queue future), the primitive whose queue it is on."""
    if not isinstance(obj, Wait):
        return None
    q = obj._q
    if q.owner is not None:
        return cast(object, q.owner)
    for r in gc.get_referrers(q):
        if r is not obj and not isinstance(r, (Wait, dict, list, types.FrameType)):
            return cast(object, r)
    return q


def _lock_of(leaf: object) -> object | None:
    prim = _primitive_of(leaf)
    if isinstance(prim, Lock):
        return prim
    cond = getattr(prim, "_lock", None)  # Condition re-acquiring its lock
    return cond if isinstance(cond, Lock) and getattr(leaf, "_acquire", False) else None


def _refers(frames: Iterable[types.FrameType], obj: object) -> bool:
    for f in frames:
        for v in f.f_locals.values():
            if v is obj:
                return True
            if any(r is obj for r in gc.get_referents(v)):
                return True
            d = getattr(v, "__dict__", None)
            if isinstance(d, dict) and any(x is obj for x in d.values()):
                return True
    return False


def _holders(
    lock: object, waiter: JoinHandle[Any], unfinished: dict[int, JoinHandle[Any]],
    stuck: dict[int, _Stuck],
) -> Iterator[int]:
    """Tasks that hold ``lock``: its owner (``Lock.owner``, recorded on acquire: exact);
    only when it has none (acquired outside a task, or handed over and the new holder not yet
    run), the tasks that refer to it and are not queued on it."""
    owner = getattr(lock, "_owner", None)
    if owner is not None:
        if owner in unfinished and unfinished[owner] is not waiter:
            yield owner
        return
    for tid, u in unfinished.items():
        if u is waiter:
            continue
        s = stuck.get(tid)
        if s is not None and _lock_of(s.leaf) is lock:
            continue
        frames = s.frames if s is not None else await_chain(u._coro)[2]
        if _refers(frames, lock):
            yield tid


def _wakers_by_task(ex: Executor, ids: set[int]) -> dict[int, list[Any]]:
    """The live owned waker handles of the tasks ``ids`` of ``ex``, found by the collector."""
    out: dict[int, list[Any]] = {}
    for o in gc.get_objects():
        if type(o) is Waker and o._cx is None:
            raw = o._raw  # None once consumed
            if _is_task(raw) and raw._executor is ex and raw._id in ids:
                out.setdefault(raw._id, []).append(o)
    return out


def _holders_of(objs: list[Any], mine: set[int]) -> dict[int, list[Any]]:
    """Who keeps each of ``objs`` (by id): its referrers, with containers replaced by the
    objects owning them (one level: a list or dict held by an instance stands for that
    instance). Two scans of the heap in all, whatever the number of objects. ``mine``: ids of
    the diagnosis's own containers, left out."""
    ids = {id(o) for o in objs}
    if not ids:
        return {}
    direct = [r for r in gc.get_referrers(*objs)
              if id(r) not in mine and not isinstance(r, types.FrameType)
              and not (type(r) is tuple and all(id(x) in ids for x in r))]  # a call's args
    mine = mine | {id(direct)}
    boxes = {id(r) for r in direct if isinstance(r, (list, dict, tuple, set))}
    owners: dict[int, list[Any]] = {}
    if boxes:
        for o in gc.get_referrers(*[r for r in direct if id(r) in boxes]):
            if id(o) in mine or isinstance(o, (types.FrameType, list)):
                continue
            for c in gc.get_referents(o):
                if id(c) in boxes:
                    owners.setdefault(id(c), []).append(o)
    out: dict[int, list[Any]] = {}
    for r in direct:
        keepers = owners.get(id(r)) or [r]
        for x in gc.get_referents(r):
            if id(x) in ids:
                out.setdefault(id(x), []).extend(keepers)
    return out


class _Reach:
    """Who can reach what: one breadth-first walk of references from every actor at once (each
    unfinished task's coroutine, the timers and I/O registrations, other threads' stacks),
    labelling each object with up to two actors that reach it, so that "can an actor other
    than task T reach this?" is a lookup. Each object is expanded at most twice, and the walk
    stops after ``_REACH_LIMIT`` expansions (then an unlabelled object is "perhaps" reached).
    It does not go into modules, classes, code, the executor, or another task's handle or
    coroutine and frames."""

    def __init__(self, ex: Executor, stuck: dict[int, _Stuck],
                 unfinished: dict[int, JoinHandle[Any]]) -> None:
        self.names: dict[object, str] = {}
        owner: dict[int, object] = {}  # id of a task's coroutine/frames -> that task's label
        roots: list[tuple[object, object]] = []
        for tid, u in unfinished.items():
            if u._coro is None:
                continue
            self.names[tid] = f"task {tid} ({u._name})"
            s = stuck.get(tid)
            frames = s.frames if s is not None else await_chain(u._coro)[2]
            for o in (u._coro, *frames):
                owner[id(o)] = tid
            roots.append((u._coro, tid))
        drv = ex._driver
        self.names["timer"] = "a timer or I/O registration"
        roots += [(list(drv._heap), "timer"), (list(drv._regs.values()), "timer")]
        me = threading.get_ident()
        self.names["thread"] = "another thread"
        roots += [(f, "thread") for ident, f in sys._current_frames().items() if ident != me]
        skip = {id(ex), id(ex._idle), id(ex._ready), id(ex._runner)}
        skip |= {id(vars(m)) for m in list(sys.modules.values()) if m is not None}
        self.labels: dict[int, tuple[object, ...]] = {}
        self.keep: list[object] = []  # ids stay valid while the walk runs
        budget = _REACH_LIMIT
        todo = deque(roots)
        while todo and budget > 0:
            o, label = todo.popleft()
            key = id(o)
            have = self.labels.get(key, ())
            if label in have or len(have) >= 2:
                continue
            own = owner.get(key)
            if own is not None and own != label:
                continue  # another task's coroutine: its own walk covers it
            self.labels[key] = (*have, label)
            if not have:
                self.keep.append(o)
            if key in skip or _is_task(o) or isinstance(
                    o, (type, types.ModuleType, types.CodeType)):
                continue
            budget -= 1
            todo.extend((r, label) for r in gc.get_referents(o))
        self.cut = budget <= 0

    def other_than(self, task: int, targets: list[Any]) -> str | None:
        """An actor other than ``task`` that reaches one of ``targets``, in words, or None."""
        for x in targets:
            for label in self.labels.get(id(x), ()):
                if label != task:
                    return self.names[label]
        if self.cut:
            return f"perhaps another task (the search stopped after {_REACH_LIMIT:,} objects)"
        return None
