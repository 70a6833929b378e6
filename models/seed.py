"""The ``seed`` variant: the seed's executor (and ``refexec.SimpleExecutor``) at its own parameters.

The seed (``seed/000_65a19b2c23175a36.txt``): a ready queue on ``mpsc::sync_channel(100)``;
every task is an ``Arc<Task>`` holding its future and a clone of the sender; ``schedule()`` sends
the Arc into the channel (blocking while the channel is full); ``run()`` drops the executor's own
sender and loops on ``recv()`` until every sender is gone; each poll makes a *new* waker (an Arc
clone); a completed task's slot is empty, so a later queue entry for it is discarded unpolled.

Consequences the model must be able to show: every wake enqueues (duplicates); a task lives as
long as any Arc does (queue entries, wakers, the loop's local), so a finished task's live waker
keeps its sender and hence ``run()`` open, and a task that returns Pending with no waker and no
queue entry is freed in silence; a send into the full channel from the loop's own thread
(a wake during a poll) waits for the loop itself: a deadlock.

Counter abstraction. Tasks are interchangeable, so the state counts tasks per *class*
``(phase, held wakers w, queue entries e)`` with phase ``pending`` (future present, not being
polled), ``running``, ``complete``; ``w`` in ``0..W``; ``e`` in ``{0, 1, 2+}``. The queue is
kept as its exact length ``qlen`` (0..100: the capacity is checked as it is), plus each task's
abstract entry count. Taking an entry of a ``2+`` task may leave it ``1`` or ``2+``; the guard
keeps the counts consistent with ``qlen`` (``sum of lower bounds <= qlen``, with equality when
no task is ``2+``), which makes the abstraction exact for one task. The dequeued task is any
task with an entry (the FIFO order between tasks is abstracted away): an over-approximation,
so a property that holds here holds in the seed, and every finding below is replayed on one
task, where the abstraction is exact.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from refexec.models.properties import Witness, action_name, prop
from refexec.models.system import Action, Bounds, Ops, Sort, TransitionSystem, Value, Var, View

__all__ = ["CLASSES", "PHASES", "build", "class_index", "default_bounds", "witnesses"]

PENDING, RUNNING, COMPLETE = 0, 1, 2
PHASES = ("pending", "running", "complete")
E_MAX = 2  # "2+"

# loop states, numbered as the reference's Loop where they mean the same thing
NOT_STARTED, RECV, POLLING, RETURNED = 0, 1, 2, 5
LOOP_NAMES = ("NOT_STARTED", "RECV", "POLLING", "-", "-", "RETURNED")


def default_bounds(n_tasks: int = 1, **extra: int) -> Bounds:
    """The seed's own capacity (100); 1 task (enough for every finding); 1 held waker."""
    base = {"capacity": 100, "wakers": 1, "spawners": 1}
    base.update(extra)
    return Bounds(n_tasks, base)


def classes(w_max: int) -> tuple[tuple[int, int, int], ...]:
    return tuple((p, w, e) for p in (PENDING, RUNNING, COMPLETE)
                 for w in range(w_max + 1) for e in range(E_MAX + 1))


CLASSES = classes(1)


def class_index(cls: Sequence[tuple[int, int, int]], phase: int, w: int, e: int) -> int:
    return list(cls).index((phase, w, e))


def class_name(c: tuple[int, int, int]) -> str:
    p, w, e = c
    return f"{PHASES[p]}/w{w}/e{'2+' if e == E_MAX else e}"


def build(bounds: Bounds) -> TransitionSystem:
    """The counter-abstracted transition system of the seed's design."""
    return _Seed(bounds).system()


class _Seed:
    def __init__(self, bounds: Bounds) -> None:
        self.b = bounds
        self.n = bounds.n_tasks
        ex = dict(bounds.extra)
        self.CAP = ex.get("capacity", 100)
        self.W = ex.get("wakers", 1)
        self.SP = ex.get("spawners", 1)
        self.cls = classes(self.W)
        self.K = len(self.cls)

    def idx(self, p: int, w: int, e: int) -> int:
        return class_index(self.cls, p, w, e)

    def variables(self) -> tuple[Var, ...]:
        n, K = self.n, self.K
        doc = ("tasks per class phase/wN/eM: phase pending, running or complete, N live wakers, "
               "M queue entries (2+: two or more)")
        return (
            Var("cnt", Sort.int_(0, n), K, doc,
                index_names=tuple(class_name(c) for c in self.cls)),
            Var("unspawned", Sort.int_(0, n), 0, "tasks not spawned yet"),
            Var("qlen", Sort.int_(0, self.CAP), 0, "entries in the channel (capacity 100)"),
            Var("spawners", Sort.int_(0, self.SP), 0, "live sender clones held as spawners"),
            Var("loop", Sort.int_(0, 5, LOOP_NAMES), 0, "run loop control state"),
            Var("blocked", Sort.bool_(), 0, "the loop thread blocked sending to its own queue"),
            Var("lost", Sort.int_(0, n), 0, "pending tasks freed in silence", ghost=True),
            Var("freed", Sort.int_(0, n), 0, "completed tasks freed", ghost=True),
        )

    def init(self, o: Ops) -> dict[str, Value]:
        return {
            "cnt": (0,) * self.K, "unspawned": self.n, "qlen": 0, "spawners": 0,
            "loop": NOT_STARTED, "blocked": False, "lost": 0, "freed": 0,
        }

    # -- helpers -----------------------------------------------------------------------------

    def move(self, s: View, o: Ops, src: int | None, dst: tuple[int, int, int],
             out: dict[str, Value]) -> None:
        """One task leaves class ``src`` for ``dst``; with no reference left it is freed."""
        cnt: list[Value] = list(out["cnt"]) if "cnt" in out else list(s.cnt)
        if src is not None:
            cnt[src] = cnt[src] - 1
        p, w, e = dst
        if p != RUNNING and w == 0 and e == 0:
            key = "lost" if p == PENDING else "freed"
            out[key] = out.get(key, getattr(s, key)) + 1
        else:
            d = self.idx(p, w, e)
            cnt[d] = cnt[d] + 1
        out["cnt"] = tuple(cnt)

    def lb_total(self, cnt: Sequence[Value], o: Ops) -> Value:
        return o.Sum([cnt[i] * e for i, (_, _, e) in enumerate(self.cls) if e])

    def many(self, cnt: Sequence[Value], o: Ops) -> Value:
        return o.Sum([cnt[i] for i, (_, _, e) in enumerate(self.cls) if e == E_MAX])

    def consistent(self, o: Ops, cnt: Sequence[Value], qlen: Value) -> Value:
        lb = self.lb_total(cnt, o)
        return o.And(lb <= qlen, o.Or(self.many(cnt, o) > 0, lb == qlen))

    def room(self, qlen: Value) -> Value:
        """A send from another thread waits until the channel has room: its guard."""
        return qlen < self.CAP

    def full(self, qlen: Value) -> Value:
        """A send from the loop's own thread finds the channel full: it blocks the loop."""
        return qlen >= self.CAP

    def local_ok(self, s: View, o: Ops) -> Value:
        return o.And(o.Or(s.loop == NOT_STARTED, s.loop == POLLING), o.Not(s.blocked))

    def live(self, s: View, o: Ops) -> Value:
        return o.Sum(list(s.cnt))

    # -- actions ------------------------------------------------------------------------------

    def actions(self) -> tuple[Action, ...]:
        acts: list[Action] = []
        cls, W, SP = self.cls, self.W, self.SP
        R = (0, 1)
        class_names = tuple(class_name(c) for c in cls)

        def add(name: str, params: Mapping[str, Sequence[int]], guard: Any,  # noqa: PLR0917
                effect: Any, modifies: Sequence[str], doc: str) -> None:
            acts.append(Action(name, params, guard, effect, frozenset(modifies), doc,
                               param_names={"c": class_names}))

        def classes_where(pred: Any) -> tuple[int, ...]:
            return tuple(i for i, c in enumerate(cls) if pred(*c))

        def send(s: View, o: Ops, remote: int, moved: dict[str, Value]) -> dict[str, Value]:
            """A send into the channel: from another thread it waits (guard qlen < CAP); from
            the loop's own thread into a full channel it blocks the loop forever."""
            moved["qlen"] = s.qlen + 1
            if remote:
                return moved
            full = self.full(s.qlen)
            res = {k: o.If(full, getattr(s, k), v) for k, v in moved.items()}
            res["blocked"] = full
            return res

        def g_where(s: View, o: Ops, remote: int) -> Value:
            return self.room(s.qlen) if remote else self.local_ok(s, o)

        # spawn
        def g_spawn(s: View, o: Ops, remote: int) -> Value:
            if remote:
                where = o.And(s.spawners > 0, self.room(s.qlen), s.loop != RETURNED)
            else:
                # a sender to clone: the executor's own (before run()), a spawner's, or the
                # running task's (the seed's exercise 1: spawn from inside a future)
                where = o.And(self.local_ok(s, o),
                              o.Or(s.loop == NOT_STARTED, s.loop == POLLING, s.spawners > 0))
            return o.And(s.unspawned > 0, where)

        def f_spawn(s: View, o: Ops, remote: int) -> dict[str, Value]:
            moved: dict[str, Value] = {"unspawned": s.unspawned - 1}
            self.move(s, o, None, (PENDING, 0, 1), moved)
            return send(s, o, remote, moved)

        add("spawn", {"remote": R}, g_spawn, f_spawn,
            ("unspawned", "cnt", "qlen", "blocked"),
            "A new Arc<Task> (future, sender clone) is sent into the channel: before run() by "
            "the executor; after it from inside a poll (the running task's sender: the seed's "
            "exercise 1) or through a spawner (a sender clone), from the loop's thread or "
            "another.")

        if SP > 0:
            add("spawner_new", {},
                lambda s, o: o.And(self.local_ok(s, o), s.spawners < SP,
                                   o.Or(s.loop == NOT_STARTED, s.spawners > 0)),
                lambda s, o: {"spawners": s.spawners + 1}, ("spawners",),
                "A sender clone is kept as a spawner (from the executor before run(), or "
                "cloned from a spawner).")
            add("spawner_drop", {"remote": R},
                lambda s, o, remote: o.And(
                    s.spawners > 0, True if remote else self.local_ok(s, o)),
                lambda s, o, remote: {"spawners": s.spawners - 1}, ("spawners",),
                "A spawner (sender clone) is dropped.")

        add("run_start", {}, lambda s, o: s.loop == NOT_STARTED,
            lambda s, o: {"loop": RECV}, ("loop",),
            "run(): the executor drops its own sender and loops on recv().")

        # taking an entry from the channel
        def dequeue_params(phase: int) -> dict[str, Sequence[int]]:
            return {"c": classes_where(lambda p, w, e: p == phase and e >= 1), "k": (0, 1)}

        def g_take(s: View, o: Ops, c: int, k: int, to_phase: int) -> Value:
            _, w, e = cls[c]
            if e < E_MAX and k == 1:
                return False
            e2 = e - 1 if e < E_MAX else (1 if k == 0 else E_MAX)
            cnt = list(s.cnt)
            cnt[c] = cnt[c] - 1
            if not (to_phase != RUNNING and w == 0 and e2 == 0):
                d = self.idx(to_phase, w, e2)
                cnt[d] = cnt[d] + 1
            return o.And(s.loop == RECV, s.qlen > 0, s.cnt[c] > 0, o.Not(s.blocked),
                         self.consistent(o, cnt, s.qlen - 1))

        def f_take(s: View, o: Ops, c: int, k: int, to_phase: int) -> dict[str, Value]:
            _, w, e = cls[c]
            e2 = e - 1 if e < E_MAX else (1 if k == 0 else E_MAX)
            out: dict[str, Value] = {"qlen": s.qlen - 1}
            self.move(s, o, c, (to_phase, w, e2), out)
            if to_phase == RUNNING:
                out["loop"] = POLLING
            return out

        add("poll", dequeue_params(PENDING),
            lambda s, o, c, k: g_take(s, o, c, k, RUNNING),
            lambda s, o, c, k: f_take(s, o, c, k, RUNNING),
            ("qlen", "cnt", "loop", "lost", "freed"),
            "recv() returns an entry of a pending task: its future is taken out of the slot and "
            "polled with a new waker. k chooses, for a task with 2+ entries, whether 1 or 2+ "
            "remain.")
        add("discard", dequeue_params(COMPLETE),
            lambda s, o, c, k: g_take(s, o, c, k, COMPLETE),
            lambda s, o, c, k: f_take(s, o, c, k, COMPLETE),
            ("qlen", "cnt", "lost", "freed"),
            "recv() returns an entry of a completed task: the slot is empty, nothing is polled "
            "(a spurious wake); the Arc is dropped, maybe the last one.")

        running = classes_where(lambda p, w, e: p == RUNNING)

        def f_end(s: View, o: Ops, c: int, phase: int) -> dict[str, Value]:
            _, w, e = cls[c]
            out: dict[str, Value] = {"loop": RECV}
            self.move(s, o, c, (phase, w, e), out)
            return out

        add("pending", {"c": running},
            lambda s, o, c: o.And(s.loop == POLLING, s.cnt[c] > 0, o.Not(s.blocked)),
            lambda s, o, c: f_end(s, o, c, PENDING),
            ("cnt", "loop", "lost", "freed"),
            "The poll returns Pending: the future goes back into the slot; the poll's waker "
            "and the loop's Arc are dropped: with no waker and no entry left the task is freed "
            "in silence.")
        add("ready", {"c": running},
            lambda s, o, c: o.And(s.loop == POLLING, s.cnt[c] > 0, o.Not(s.blocked)),
            lambda s, o, c: f_end(s, o, c, COMPLETE),
            ("cnt", "loop", "lost", "freed"),
            "The poll returns Ready: the slot stays empty; the task lives on while wakers or "
            "entries reference it.")

        # wakers
        def enq(e: int) -> int:
            return min(e + 1, E_MAX)

        def f_wake(s: View, o: Ops, c: int, remote: int, consume: int) -> dict[str, Value]:
            p, w, e = cls[c]
            moved: dict[str, Value] = {}
            self.move(s, o, c, (p, w - consume, enq(e)), moved)
            return send(s, o, remote, moved)

        def g_wake(s: View, o: Ops, c: int, remote: int) -> Value:
            return o.And(s.cnt[c] > 0, g_where(s, o, remote))

        held = classes_where(lambda p, w, e: w >= 1)
        add("wake", {"c": held, "remote": R}, g_wake,
            lambda s, o, c, remote: f_wake(s, o, c, remote, 1),
            ("cnt", "qlen", "blocked", "lost", "freed"),
            "A held waker is consumed by wake(): schedule() sends another entry (always).")

        def g_wbr(s: View, o: Ops, c: int, remote: int) -> Value:
            p, w, _ = cls[c]
            if w == 0 and (remote or p != RUNNING):
                return False  # only the running task's context waker needs no held handle
            return g_wake(s, o, c, remote)

        add("wake_by_ref", {"c": classes_where(lambda p, w, e: w >= 1 or p == RUNNING),
                            "remote": R}, g_wbr,
            lambda s, o, c, remote: f_wake(s, o, c, remote, 0),
            ("cnt", "qlen", "blocked", "lost", "freed"),
            "wake_by_ref() on a held waker or (during the poll) on the context waker: "
            "schedule() sends another entry (always).")

        clonable = classes_where(lambda p, w, e: w < W and (w >= 1 or p == RUNNING))
        add("waker_clone", {"c": clonable},
            lambda s, o, c: s.cnt[c] > 0,
            self._clone,
            ("cnt",),
            "A waker is cloned (the future keeps an Arc of its task).")

        def f_drop(s: View, o: Ops, c: int, remote: int) -> dict[str, Value]:
            p, w, e = cls[c]
            out: dict[str, Value] = {}
            self.move(s, o, c, (p, w - 1, e), out)
            return out

        add("waker_drop", {"c": held, "remote": R},
            lambda s, o, c, remote: o.And(s.cnt[c] > 0,
                                          True if remote else self.local_ok(s, o)),
            f_drop, ("cnt", "lost", "freed"),
            "A held waker is dropped; if it was the task's last Arc the task is freed (in "
            "silence if it had not completed).")

        add("run_end", {},
            lambda s, o: o.And(s.loop == RECV, s.qlen == 0, s.spawners == 0,
                               self.live(s, o) == 0),
            lambda s, o: {"loop": RETURNED}, ("loop",),
            "recv() fails: the channel is empty and every sender is gone (no spawner, no live "
            "task); run() returns.")
        return tuple(acts)

    def _clone(self, s: View, o: Ops, c: int) -> dict[str, Value]:
        p, w, e = self.cls[c]
        out: dict[str, Value] = {}
        self.move(s, o, c, (p, w + 1, e), out)
        return out

    # -- properties ---------------------------------------------------------------------------

    def properties(self) -> tuple[Any, ...]:
        cls = self.cls

        def where(pred: Any) -> list[int]:
            return [i for i, c in enumerate(cls) if pred(*c)]

        def final_(s: View, s2: View, o: Ops, action: Any, params: Mapping[str, int]) -> Value:
            if action_name(action) == "poll":
                return cls[params["c"]][0] != COMPLETE
            return True

        def one_poller(s: View, o: Ops) -> Value:
            return o.Sum([s.cnt[i] for i in where(lambda p, w, e: p == RUNNING)]) <= 1

        def queue_exact(s: View, o: Ops) -> Value:
            dup = where(lambda p, w, e: e == E_MAX)
            stale = where(lambda p, w, e: p == COMPLETE and e >= 1)
            return o.Sum([s.cnt[i] for i in (*dup, *stale)]) == 0

        def true_senders(s: View, o: Ops) -> Value:
            return s.spawners + o.Sum([s.cnt[i] for i in where(
                lambda p, w, e: p != COMPLETE and w >= 1)])

        def run_end(s: View, s2: View, o: Ops, action: Any, params: Mapping[str, int]) -> Value:
            if action_name(action) != "run_end":
                return True
            return o.And(s.qlen == 0, true_senders(s, o) == 0)

        def sleep_safe(s: View, o: Ops) -> Value:
            waits = o.And(s.loop == RECV, s.qlen == 0, s.spawners + self.live(s, o) > 0)
            return o.Implies(waits, true_senders(s, o) > 0)

        return (
            prop("EX-FINAL", "step", final_),
            prop("EX-ONE-POLLER", "invariant", one_poller),
            _seed_doc(prop("EX-QUEUE-EXACT", "invariant", queue_exact),
                      "Seed form: no task has two or more entries in the channel (a duplicate "
                      "wake) and no completed task has one (a stale entry). Invariant: "
                      "count(tasks with e = 2+) + count(complete tasks with e >= 1) = 0."),
            _seed_doc(prop("EX-RUN-END", "step", run_end),
                      "Seed form: when recv() fails the channel is empty and no spawner and no "
                      "unfinished task with a live waker remains."),
            _seed_doc(prop("EX-SLEEP-SAFE", "invariant", sleep_safe),
                      "Seed form: the loop waits in recv() on an empty channel only while a "
                      "real sender remains (a spawner, or an unfinished task with a live "
                      "waker); a finished task's waker must not keep run() open."),
            _seed_doc(prop("EX-NO-SELF-BLOCK", "invariant",
                           lambda s, o: o.Not(s.blocked)),
                      "Seed form: the loop thread never sends into its own full channel."),
            _seed_doc(prop("EX-LOST-REPORTED", "invariant", lambda s, o: s.lost == 0),
                      "Seed form: no pending task is freed (the seed never reports): lost = 0."),
        )

    def system(self) -> TransitionSystem:
        from refexec.models.properties import (  # noqa: PLC0415
            SEED_ENVIRONMENT_ACTIONS,
            progress_property,
        )

        acts = self.actions()
        progress = _seed_doc(
            progress_property(acts, lambda s, o: o.Or(s.loop == RETURNED, s.loop == NOT_STARTED),
                              SEED_ENVIRONMENT_ACTIONS),
            "Seed form: run() has returned or not been called, or some fair action (the loop's "
            "recv/poll, a wake, a drop) is enabled. The loop blocked on its own full channel "
            "has none: the seed is stuck there for ever.")
        return TransitionSystem(
            name="seed", bounds=self.b, variables=self.variables(), init=self.init,
            actions=acts, properties=(*self.properties(), progress), doc=__doc__ or "",
        )


def _seed_doc(p: Any, doc: str) -> Any:
    from dataclasses import replace  # noqa: PLC0415

    return replace(p, doc=doc)


def witnesses(bounds: Bounds) -> list[Witness]:
    """Interesting seed states that must be reachable."""
    m = _Seed(bounds)
    cls, CAP = m.cls, m.CAP

    def total(s: View, o: Ops, pred: Any) -> Value:
        return o.Sum([s.cnt[i] for i, c in enumerate(cls) if pred(*c)])

    return [
        Witness("lost-task", "a pending task was freed in silence",
                lambda s, o: s.lost > 0),
        Witness("duplicate-entry", "a task has two or more entries in the channel",
                lambda s, o: total(s, o, lambda p, w, e: e == E_MAX) > 0),
        Witness("queue-full", "the channel holds 100 entries",
                lambda s, o: s.qlen == CAP),
        Witness("finished-keeps-run-open",
                "run() waits on an empty channel kept open only by a finished task's waker",
                lambda s, o: o.And(s.loop == RECV, s.qlen == 0, s.spawners == 0,
                                   total(s, o, lambda p, w, e: p != COMPLETE) == 0,
                                   total(s, o, lambda p, w, e: p == COMPLETE and w > 0) > 0)),
        Witness("woken-while-running", "a task being polled has an entry in the channel",
                lambda s, o: total(s, o, lambda p, w, e: p == RUNNING and e >= 1) > 0),
        Witness("deadlocked", "the loop thread blocked on its own channel",
                lambda s, o: s.blocked),
    ]
