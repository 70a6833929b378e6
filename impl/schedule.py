"""``refexec.schedule``: the one scheduling seam of ``Executor``, and the policies that fill it.

The run loop has one choice to make, again and again: *what happens next* -- poll which ready
task, or let which outside event reach the loop. ``Executor()`` with no policy makes it the
reference way (FIFO, its own fast loop, untouched). ``Executor(policy=p)`` asks ``p`` instead,
through one call, at every step of ``run()`` / ``run_until_stalled()`` / ``block_on()``::

    i = policy.choose(kind, options)      # kind: "next"; options: labels; i: an index

This module is that seam. The same core serves exploring a user's program
(:mod:`refexec.explore`) and driving refexec's own threads deterministically in conformance
checks (other ``kind`` values, e.g. ``"thread"``, with labels such as ``"thread:worker-1"``).

Options (stable, printable labels), in this order: first what the FIFO loop does before its
next poll, when there is such a thing (fire every due timer ``"f:t3+t5"``, report every ready
fd ``"r:t3+t5"``), so option 0 is always what the FIFO loop does next; then

* ``"t3"``: poll task 3 (the ready tasks, in ready-queue order);
* ``"d:wake:t3"``: deliver the oldest message another thread posted (a wake, wake_by_ref
  ``"wake"``, waker ``"clone"`` or ``"drop"`` of task 3; ``"d!spawn"``, ``"d!cancel:t3"``).
  Under a policy, messages from other threads are *held* (taken out of the inbox as soon as the
  loop sees them) and applied one at a time when chosen, oldest first, so when a thread's wake
  reaches the loop is a recorded choice, not a race;
* ``"f:t3+t5"``: fire the timers that are due now (they wake tasks 3 and 5; ``"f!"`` when one
  of them holds a waker that is not a refexec task's, whose wake runs foreign code); then, when
  the due timers wake more than one task, ``"f:t3"``, ``"f:t5"``: fire only that task's due
  timers (``"f!t3"`` if impure), earliest deadline first. So with a virtual clock, which due
  timer fires first and whether a ready task is polled before (or between) the fires are
  choices the policy makes and the schedule records;
* ``"r:t3+t5"``: report every registration the reactor says is ready now (tasks 3 and 5; what
  the FIFO loop's ``select(0)`` does), then, when several are, ``"r:t3"``, ``"r:t5.w"`` (one
  alone; ``.w``: a wait for writable). The world decides *what* is ready; which ready one
  reaches its task first, and whether tasks run before, is the policy's choice.

Labels never contain ``,`` or whitespace. A label starting ``t`` is a poll; ``d`` / ``f`` /
``r`` an *event*; ``d:``/``f:``/``r:`` a *pure* event (it changes only its target tasks' states
and counts, runs no user code), which :func:`independent` uses for partial-order reduction.

The public API (stable names):

* :class:`Policy` -- the protocol: ``choose(kind, options) -> int``; it may return :data:`WAIT`
  ("wait for an outside event, then ask again": how a replay waits for a thread's message);
* :class:`Fifo` (always 0: the reference order), :class:`RandomPolicy` ``(seed)``,
  :class:`PCT` ``(seed, depth, max_steps_estimate)``, :class:`Replay` ``(schedule)``;
* :class:`Recorder` ``(policy)`` -- wraps any policy and records its choices as a
  :class:`Schedule`: the *deviations from FIFO* (step number and label of every choice that was
  not index 0), so FIFO is the empty schedule and a schedule is short;
  ``str(schedule)`` / ``Schedule.parse(text)`` round-trip (``"fifo"``, ``"4:t2,9:d:wake:t1"``);
  an entry's label may be ``#i`` (the option with index ``i mod len(options)``: how schedules
  drawn by Hypothesis are written, before anyone knows the labels);
* :class:`Options` -- what ``options`` is: a lazy, read-only sequence of labels, valid during
  the ``choose`` call only (keep ``list(options)``);
* :func:`independent` -- which two options commute (for partial-order reduction);
  :func:`pct_bound` -- PCT's probability guarantee; :class:`StepLimit` -- ``Recorder``'s bound;
* :class:`ScheduleDivergence` -- a replay found the program somewhere else than the schedule
  says (an option missing, or the run ended before the schedule did).

Steps are numbered from 0 and every decision counts, forced ones (one option) included.

What is deterministic: with no other threads and a :class:`~refexec.VirtualClock`, a run is a
function of the program and its schedule. With other threads, *when* their messages are applied
is recorded and replayed (a replay waits for a message the schedule delivers); what a thread
does on its own (its timing, what it reads of the world, the order two threads post in) is not
controlled, so a replay is exact when each thread's messages depend only on what the loop did.
A real clock's due timers and I/O readiness are read from the world: not replayable (explore
uses a virtual clock). Every drive entry honours the policy: ``run()``,
``run_until_stalled()``, ``block_on()`` and ``step()`` (which decides until one task is
polled: events the policy chooses on the way are delivered) all decide at :func:`decide`.
"""

from __future__ import annotations

import functools
import itertools
import random
import selectors
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Final, Protocol, overload, runtime_checkable

from refexec.driver import _select, report_ready
from refexec.errors import RefexecError
from refexec.waker import DEFERRED_INTERRUPTS

if TYPE_CHECKING:
    from refexec.driver import IoWait
    from refexec.executor import Executor, JoinHandle

__all__ = [
    "PCT",
    "WAIT",
    "Fifo",
    "Options",
    "Policy",
    "RandomPolicy",
    "Recorder",
    "Replay",
    "Schedule",
    "ScheduleDivergence",
    "StepLimit",
    "independent",
    "pct_bound",
]

_new = object.__new__

WAIT: Final = -1
"""What ``choose`` returns to wait for an outside event (a thread's message) before choosing."""

NEXT: Final = "next"
"""The ``kind`` of the run loop's choice: which ready task or event next."""


@runtime_checkable
class Policy(Protocol):
    """Makes the executor's scheduling choices (see the module docstring)."""

    def choose(self, kind: str, options: Sequence[str]) -> int:
        """Return the index of the option to take (``0 <= i < len(options)``) or ``WAIT``."""
        ...


class ScheduleDivergence(RefexecError):
    """A replayed program did not follow its schedule: it is not the program (or the version of
    it) that produced the schedule, or it is not deterministic under a fixed schedule (it reads
    the real time, a random number, a thread's timing). The message names the step."""


# --------------------------------------------------------------------------------------------
# Schedules


class Schedule:
    """A run's choices, as deviations from FIFO: ``((step, label), ...)``, steps increasing.

    Every step not listed took option 0. ``str()`` is the short form (``"fifo"`` when empty,
    else ``"step:label,..."``); :meth:`parse` reads it back.
    """

    __slots__ = ("entries",)

    def __init__(self, entries: Sequence[tuple[int, str]] = ()) -> None:
        last = -1
        for step, label in entries:
            if isinstance(step, bool) or not isinstance(step, int) or step <= last:
                raise ValueError(
                    f"a schedule's steps are increasing ints >= 0; got {step!r} after {last}"
                )
            _check_label(label)
            last = step
        self.entries: tuple[tuple[int, str], ...] = tuple((s, lab) for s, lab in entries)

    @property
    def deviations(self) -> int:
        """How many choices differ from FIFO."""
        return len(self.entries)

    def __str__(self) -> str:
        if not self.entries:
            return "fifo"
        return ",".join(f"{s}:{lab}" for s, lab in self.entries)

    def __repr__(self) -> str:
        return f"Schedule.parse({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Schedule) and other.entries == self.entries

    def __hash__(self) -> int:
        return hash(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def without(self, index: int) -> Schedule:
        """This schedule with its ``index``-th deviation removed (a shrinking step)."""
        return Schedule(self.entries[:index] + self.entries[index + 1:])

    @classmethod
    def parse(cls, text: str | Schedule) -> Schedule:
        """Read ``str(schedule)`` back. ``ValueError`` naming the bad part otherwise."""
        if isinstance(text, Schedule):
            return text
        if not isinstance(text, str):
            raise TypeError(f"a schedule is a string such as '4:t2,9:t1', got {text!r}")
        s = text.strip()
        if s in ("", "fifo"):
            return cls(())
        entries: list[tuple[int, str]] = []
        for part in s.split(","):
            step, sep, label = part.partition(":")
            if not sep or not step.strip().isdigit():
                raise ValueError(
                    f"bad schedule entry {part!r} in {text!r}: each entry is STEP:LABEL "
                    "(e.g. '4:t2'), entries separated by commas; 'fifo' is the empty schedule"
                )
            entries.append((int(step), label.strip()))
        return cls(entries)


def _check_label(label: object) -> None:
    if not isinstance(label, str) or not label or any(c in label for c in ", \t\n"):
        raise ValueError(f"a schedule label is a non-empty string without ',' or spaces: {label!r}")


# --------------------------------------------------------------------------------------------
# Policies


class Fifo:
    """The reference order: always option 0, which is what the FIFO loop does next (due timers
    fired and ready fds reported before the next poll, then the head of the ready queue;
    other threads' messages once none is ready, oldest first)."""

    __slots__ = ()

    def choose(self, kind: str, options: Sequence[str]) -> int:
        return 0

    def __repr__(self) -> str:
        return "Fifo()"


class RandomPolicy:
    """Uniformly random choices from ``random.Random(seed)``: same seed, same choices."""

    __slots__ = ("_rng", "seed")

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self._rng = random.Random(seed)

    def choose(self, kind: str, options: Sequence[str]) -> int:
        n = len(options)
        return 0 if n == 1 else self._rng.randrange(n)

    def __repr__(self) -> str:
        return f"RandomPolicy({self.seed})"


class PCT:
    """Probabilistic concurrency testing (Burckhardt, Kothari, Musuvathi, Nagarakatte, 2010).

    Each option label (a task, or an event source) gets a random priority the first time it is
    seen, all above ``depth``; at each step the highest-priority option runs. ``depth - 1``
    change points are drawn uniformly among steps ``1..max_steps_estimate``: at the ``i``-th,
    the option about to run drops to priority ``depth - i`` (below every initial one). For a
    program with at most ``n`` tasks and ``k`` steps (``k <= max_steps_estimate``), one run
    finds any bug of depth ``d <= depth`` (``d`` ordering constraints must hold) with
    probability at least ``1 / (n * k**(d - 1))`` (:func:`pct_bound`).
    """

    __slots__ = ("_changes", "_next_low", "_prio", "_rng", "_step", "depth", "max_steps", "seed")

    def __init__(self, seed: int = 0, depth: int = 3, max_steps_estimate: int = 1000) -> None:
        if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
            raise ValueError(f"PCT depth is an int >= 1 (1: no change point), got {depth!r}")
        if not isinstance(max_steps_estimate, int) or max_steps_estimate < 1:
            raise ValueError(f"PCT max_steps_estimate is an int >= 1, got {max_steps_estimate!r}")
        self.seed = seed
        self.depth = depth
        self.max_steps = max_steps_estimate
        self._rng = random.Random(seed)
        k = max_steps_estimate
        picks = self._rng.sample(range(1, k + 1), min(depth - 1, k))
        self._changes = {step: depth - 1 - i for i, step in enumerate(picks)}
        self._prio: dict[str, float] = {}
        self._step = -1
        self._next_low = 0

    def _priority(self, label: str) -> float:
        p = self._prio.get(label)
        if p is None:
            p = self._prio[label] = self.depth + self._rng.random()
        return p

    def choose(self, kind: str, options: Sequence[str]) -> int:
        self._step += 1
        opts = list(options)
        prio = self._priority
        best = max(range(len(opts)), key=lambda i: prio(opts[i]))
        low = self._changes.get(self._step)
        if low is not None and len(opts) > 1:
            self._prio[opts[best]] = low
            best = max(range(len(opts)), key=lambda i: prio(opts[i]))
        return best

    @property
    def entities(self) -> int:
        """How many distinct options (tasks, event sources) got a priority: PCT's ``n``."""
        return len(self._prio)

    def __repr__(self) -> str:
        return f"PCT(seed={self.seed}, depth={self.depth}, max_steps_estimate={self.max_steps})"


def pct_bound(n: int, k: int, d: int) -> float:
    """PCT's guarantee: one run finds a depth-``d`` bug of an ``n``-task, ``k``-step program
    with probability at least ``1 / (n * k**(d-1))``."""
    return 1.0 / (max(n, 1) * float(max(k, 1)) ** (d - 1))


class Replay:
    """Follow a :class:`Schedule` (or its string): option 0 except at the listed steps.

    ``strict`` (the default) raises :class:`ScheduleDivergence` when a listed label is not an
    option (after waiting up to ``wait_timeout`` seconds for a thread's message the schedule
    delivers); ``strict=False`` takes option 0 instead (what shrinking uses). Call
    :meth:`finish` after the run: a strict replay raises if steps of the schedule were never
    reached.
    """

    __slots__ = ("_entries", "_pos", "_step", "_waited", "schedule", "strict", "wait_timeout")

    def __init__(
        self, schedule: Schedule | str, *, strict: bool = True, wait_timeout: float = 10.0
    ) -> None:
        self.schedule = Schedule.parse(schedule)
        self.strict = strict
        self.wait_timeout = wait_timeout
        self._entries = dict(self.schedule.entries)
        self._pos = 0  # entries reached so far
        self._step = -1
        self._waited = False

    @property
    def step(self) -> int:
        """The step number of the last choice made."""
        return self._step

    def choose(self, kind: str, options: Sequence[str]) -> int:
        if not self._waited:
            self._step += 1
        self._waited = False
        label = self._entries.get(self._step)
        if label is None:
            return 0
        if label.startswith("#"):
            self._pos += 1
            return _index_label(label) % len(options)
        try:
            i = options.index(label)
        except ValueError:
            if label[0] == "d" and self.strict:
                self._waited = True  # ask again, same step, once a message is in
                return WAIT
            if self.strict:
                raise ScheduleDivergence(self._missing(label, options)) from None
            i = 0
        self._pos += 1
        return i

    def _missing(self, label: str, options: Sequence[str]) -> str:
        return (
            f"replay diverged at step {self._step}: the schedule {self.schedule} takes "
            f"{label!r} there, but the options are {list(options)}. The program is not the one "
            "that produced this schedule, or it is not deterministic under a fixed schedule "
            "(real time, randomness, thread timing)."
        )

    def timed_out(self, options: Sequence[str]) -> ScheduleDivergence:
        """The error when the message a replay waits for never came."""
        label = self._entries.get(self._step, "?")
        return ScheduleDivergence(
            self._missing(label, options) + f" (waited {self.wait_timeout} s for a message "
            "from another thread)"
        )

    def finish(self) -> None:
        """Raise :class:`ScheduleDivergence` if a strict replay left entries unreached."""
        if self.strict and self._pos < len(self._entries):
            left = [f"{s}:{lab}" for s, lab in self.schedule.entries if s > self._step]
            raise ScheduleDivergence(
                f"replay diverged: the run ended after step {self._step}, but the schedule "
                f"{self.schedule} still has {left}: the program took fewer steps than when it "
                "was recorded"
            )

    def __repr__(self) -> str:
        return f"Replay({str(self.schedule)!r})"


def _index_label(label: str) -> int:
    try:
        return int(label[1:])
    except ValueError:
        raise ValueError(f"bad index label {label!r}: '#' is followed by an int") from None


class Recorder:
    """Wraps a policy and records every choice it makes.

    ``schedule`` is the run as a :class:`Schedule` (deviations from FIFO); ``choices`` every
    decision as ``(options, index)`` (for strategies that explore a tree of choices);
    ``tasks`` how many distinct tasks were polled; ``steps`` how many decisions were made.
    ``max_steps`` (optional) bounds a run: the choice after it raises :class:`StepLimit`.
    """

    __slots__ = ("_dev", "_labels", "choices", "keep_choices", "max_steps", "policy", "steps")

    def __init__(
        self, policy: Policy, *, keep_choices: bool = False, max_steps: int | None = None
    ) -> None:
        self.policy = policy
        self.keep_choices = keep_choices
        self.max_steps = max_steps
        self.choices: list[tuple[tuple[str, ...], int]] = []
        self._dev: list[tuple[int, str]] = []
        self._labels: set[str] = set()
        self.steps = 0

    def choose(self, kind: str, options: Sequence[str]) -> int:
        if self.max_steps is not None and self.steps >= self.max_steps:
            raise StepLimit(
                f"the run took more than {self.max_steps} scheduling steps (a livelock: tasks "
                "that keep waking each other, or a loop over yield_now()); raise max_steps if "
                "the program is meant to run that long"
            )
        i = self.policy.choose(kind, options)
        if i == WAIT:
            return i
        if not 0 <= i < len(options):
            raise ValueError(f"{self.policy!r}.choose() returned {i} for {len(options)} options")
        lab = options[i]
        if i:
            self._dev.append((self.steps, lab))
        if self.keep_choices:
            self.choices.append((tuple(options), i))
        if lab[0] == "t":
            self._labels.add(lab)  # every task that ran was chosen at least once
        self.steps += 1
        return i

    @property
    def schedule(self) -> Schedule:
        sched = _new(Schedule)  # steps increase and labels are the executor's: no checks
        sched.entries = tuple(self._dev)
        return sched

    @property
    def wait_timeout(self) -> float:
        """How long a ``WAIT`` of the wrapped policy waits for a thread's message."""
        return float(getattr(self.policy, "wait_timeout", 10.0))

    def timed_out(self, options: Sequence[str]) -> ScheduleDivergence:
        """The wrapped policy's error for a message that never came."""
        inner = getattr(self.policy, "timed_out", None)
        if inner is not None:
            return inner(options)  # type: ignore[no-any-return]
        return ScheduleDivergence(
            f"step {self.steps}: waited {self.wait_timeout} s for a message from another "
            f"thread that the schedule delivers; the options are {list(options)}"
        )

    @property
    def tasks(self) -> int:
        return len(self._labels)

    def __repr__(self) -> str:
        return f"Recorder({self.policy!r}, steps={self.steps})"


class StepLimit(RefexecError):
    """A run made more scheduling decisions than its bound (``Recorder(max_steps=...)``)."""


def model_variant(policy: Policy | None) -> str:
    """The model variant a run of ``Executor(policy=policy)`` is checked against (its trace
    header names it): ``"reference"`` for the FIFO loop (no policy, or :class:`Fifo`, also
    inside a :class:`Recorder`), ``"reference-any"`` for any other policy (the loop may poll any
    queued task: every property of the reference model but EX-FIFO)."""
    inner = policy.policy if isinstance(policy, Recorder) else policy
    return "reference" if inner is None or isinstance(inner, Fifo) else "reference-any"


# --------------------------------------------------------------------------------------------
# Independence (for partial-order reduction)


def _targets(label: str) -> frozenset[str] | None:
    """The tasks a pure event label touches (``d:wake:t3`` -> {t3}); None if not pure."""
    if label[:2] == "d:":
        return frozenset((label.rpartition(":")[2],))
    if label[:2] == "f:":
        return frozenset(label[2:].split("+"))
    if label[:2] == "r:":
        return frozenset(t.partition(".")[0] for t in label[2:].split("+"))
    return None


def independent(a: str, b: str) -> bool:
    """Whether taking options ``a`` then ``b`` reaches the same executor state as ``b`` then
    ``a`` (up to the ready queue's order and the counters), neither disabling the other.

    Conservative: two polls are always dependent (user code can share anything). A *pure*
    event (a thread's wake/clone/drop of a task, timers whose wakers are tasks') runs no user
    code and only moves its target tasks along rows that commute (IDLE->SCHEDULED, merged
    wakes, live-waker counts); so it is independent of another pure event and of a poll of any
    task that is not its target. Impure events (spawn, cancel: they number tasks or run
    ``finally`` blocks) are dependent on everything.
    """
    if a == b:
        return False
    ta, tb = _targets(a), _targets(b)
    if ta is not None and tb is not None:
        return True
    if ta is not None and b[0] == "t":
        return b not in ta
    if tb is not None and a[0] == "t":
        return a not in tb
    return False


# --------------------------------------------------------------------------------------------
# The controlled loop (Executor._drive and Executor.step delegate here when a policy is set)


_MSG_LABELS: Final = {"wake": "wake", "wake_by_ref": "wake", "waker_clone": "clone",
                      "waker_drop": "drop"}


def _message_label(msg: tuple[str, JoinHandle[Any]]) -> str:
    op, t = msg
    short = _MSG_LABELS.get(op)
    if short is not None:
        return f"d:{short}:t{t._id}"
    if op == "spawn":
        return "d!spawn"
    return f"d!{op}:t{t._id}"


def _due_groups(ex: Executor) -> list[tuple[str, list[Any]]]:
    """The timers due now, grouped by the task they wake, earliest deadline first:
    ``[(label, [timer, ...]), ...]``. A group's label is ``"f:t3"`` (pure: the timers hold
    refexec task 3's own waker, and any ``on_fire`` is refexec's own timeout flag) or
    ``"f!t3"`` (impure: a waker that is not a refexec task's of this executor, whose wake runs
    foreign code). Cancelled entries are skipped (``fire_due`` drops them)."""
    from refexec.executor import JoinHandle  # noqa: PLC0415 (executor imports this module)

    drv = ex._driver
    heap = drv._heap
    if not heap:
        return []
    now = drv.clock.now_ns()
    if heap[0][0] > now:
        return []
    groups: dict[str, list[Any]] = {}
    for _deadline, _seq, tm in sorted(e for e in heap if e[0] <= now):
        if tm.vtable is None:
            continue
        raw = tm.data  # a refexec task is its own raw waker's data
        cb = tm.on_fire  # refexec.timeout (an object with _fire) or None
        if isinstance(raw, JoinHandle) and raw._executor is ex and (
            cb is None or type(cb).__module__ == "refexec.timers"
        ):
            label = f"f:t{raw._id}"
        else:
            label = f"f!t{tm.task}"
        groups.setdefault(label, []).append(tm)
    return list(groups.items())


def _due_options(ex: Executor) -> tuple[list[str], list[list[Any] | None]]:
    """The timer options of one decision: first "fire every due timer" (what the FIFO loop
    does; ``"f:t3+t5"``, or ``"f!"`` if one of them is impure), then, when more than one task's
    timers are due, each task's alone (``"f:t5"``): which timer fires first, and whether a task
    is polled between two fires, are then the policy's choices. Returns the labels and, for
    each, the timers it fires (None: all due ones)."""
    groups = _due_groups(ex)
    if not groups:
        return [], []
    if any(label[1] == "!" for label, _ in groups):
        everything = "f!"
    else:
        everything = "f:" + "+".join(sorted((lab[2:] for lab, _ in groups),
                                            key=lambda t: int(t[1:])))
    if len(groups) == 1:
        return [everything], [None]
    return [everything, *(lab for lab, _ in groups)], [None, *(tms for _, tms in groups)]


def _ready_io(ex: Executor) -> list[tuple[str, IoWait]]:
    """The I/O registrations the reactor reports ready now (``select(0)``; readiness is
    level-triggered, so asking does not consume it), in task order, labelled ``"r:t3"``
    (task 3's wait for a readable fd) or ``"r:t3.w"`` (writable). A registration's waker is
    its task's own (``refexec.net`` registers ``cx.waker.clone()``): a pure event. The wakeup
    socket is left to the loop's own ``select``."""
    drv = ex._driver
    sel = drv._sel
    if sel is None:
        return []
    regs = drv._regs
    out: list[tuple[str, IoWait]] = []
    for key, mask in sel.select(0):
        if key.data is None and key.fileobj is drv._wake_r:
            continue
        for ev, suffix in ((selectors.EVENT_READ, ""), (selectors.EVENT_WRITE, ".w")):
            if not mask & ev:
                continue
            w_ = regs.get((key.fd, ev))
            if w_ is not None and w_.waker is not None:
                out.append((f"r:t{w_.task}{suffix}", w_))
    out.sort(key=lambda o: (int(o[0][3:].partition(".")[0]), o[0]))
    return out


def _io_options(ex: Executor) -> tuple[list[str], list[list[IoWait]]]:
    """The I/O options of one decision, as for timers (:func:`_due_options`): first "every
    ready registration" (what the FIFO loop's ``select(0)`` delivers: ``"r:t3+t5"``), then,
    when several are ready, each alone. Returns the labels and the registrations of each."""
    ready = _ready_io(ex)
    if not ready:
        return [], []
    every = [w_ for _, w_ in ready]
    if len(ready) == 1:
        return [ready[0][0]], [every]
    label = "r:" + "+".join(lab[2:] for lab, _ in ready)
    return [label, *(lab for lab, _ in ready)], [every, *([w_] for _, w_ in ready)]


def _deliver_io(ex: Executor, waits: list[IoWait]) -> None:
    """Report ``waits`` ready, as the loop's ``select`` does for each ready key: out of the
    reactor (waker kept), marked ready, traced, its task woken."""
    drv = ex._driver
    for wait in waits:
        if drv._regs.get((wait.fd, wait.event)) is not wait:
            continue  # unregistered meanwhile (an earlier wake cancelled its task)
        report_ready(drv, wait)


def _fire(ex: Executor, timers: list[Any] | None) -> None:
    """Fire ``timers`` (None: every due one, ``Driver.fire_due``). A timer fired alone stays
    in the heap as a cancelled entry (``vtable`` None, counted in ``_cancelled``), which
    ``fire_due`` or the driver's compaction drops later: the heap is never re-ordered here."""
    drv = ex._driver
    if timers is None:
        drv.fire_due()
        return
    if drv._foreign:
        drv.take_foreign()
    for tm in timers:
        vt = tm.vtable
        if vt is None:  # cancelled meanwhile (a foreign drop just taken)
            continue
        drv._cancelled += 1  # its heap entry stays, as a cancelled one
        drv.fire(tm, vt)


POLLED: Final = 1
""":func:`decide` polled a task."""
APPLIED: Final = 2
""":func:`decide` delivered an event (a thread's message, due timers), or waited for one."""


def decide(ex: Executor, held: deque[tuple[str, JoinHandle[Any]]]) -> int:
    """THE choice point under a policy: one decision, taken and applied.

    Takes the inbox into ``held`` (other threads' messages wait there until chosen), lists the
    options and asks the policy, and applies its choice: returns :data:`POLLED`,
    :data:`APPLIED`, or 0 when there was no option at all. Every drive entry of ``Executor``
    under a policy (``run()``, ``run_until_stalled()``, ``block_on()`` through :func:`drive`;
    ``step()`` through :func:`step`) decides here and nowhere else.

    The options, in order: what the FIFO loop does before its next poll -- fire every due
    timer, report every ready fd (EX-TIMER-PROMPT, EX-IO-PROMPT) -- then the ready tasks in
    queue order, then the oldest held message, then each task's due timers and each ready fd
    alone. So option 0 is always what the FIFO loop does next (:class:`Fifo` is the reference,
    and a task that wakes itself for ever cannot starve the driver under it), and any other
    policy may poll before a due timer or a ready fd (the model with policy 'any' allows it).
    """
    inbox = ex._inbox
    if inbox:
        with ex._lock:
            held.extend(inbox)
            inbox.clear()
    ready = ex._ready
    n_polls = len(ready)
    lead: list[str] = []
    events: list[str] = []
    lead_do: list[Callable[[], None]] = []
    events_do: list[Callable[[], None]] = []
    if held:
        events.append(_message_label(held[0]))
        events_do.append(lambda: _deliver_held(ex, held))
    drv = ex._driver
    if drv._heap:
        labels, fires = _due_options(ex)
        for k, (label, tms) in enumerate(zip(labels, fires, strict=True)):
            (lead if k == 0 else events).append(label)
            (lead_do if k == 0 else events_do).append(functools.partial(_fire, ex, tms))
    if drv._regs:
        labels, ios = _io_options(ex)
        for k, (label, waits) in enumerate(zip(labels, ios, strict=True)):
            (lead if k == 0 else events).append(label)
            (lead_do if k == 0 else events_do).append(functools.partial(_deliver_io, ex, waits))
    if not n_polls and not lead and not events:
        return 0
    policy: Policy = ex._policy  # type: ignore[assignment]
    options = Options(ready, events, lead)
    i = policy.choose(NEXT, options)
    if i == WAIT:
        _wait_for_message(ex, policy, options)
        return APPLIED
    if type(i) is not int or not 0 <= i < len(options):
        raise ValueError(
            f"{policy!r}.choose() returned {i!r}; it must return an index into the "
            f"{len(options)} options {options} (or WAIT)"
        )
    n_lead = len(lead)
    if i < n_lead:
        lead_do[i]()
        return APPLIED
    i -= n_lead
    if i < n_polls:
        if i:
            _to_front(ready, i)
        ex._run_ready(1)
        return POLLED
    events_do[i - n_polls]()
    return APPLIED


def _deliver_held(ex: Executor, held: deque[tuple[str, JoinHandle[Any]]]) -> None:
    inbox = ex._inbox
    with ex._lock:  # one message, alone in the inbox while it is applied
        held.extend(inbox)
        inbox.clear()
        _deliver_one(ex, held)


def drive(ex: Executor, until: JoinHandle[Any] | None, sleep: bool,
          stall_timeout: float | None) -> None:
    """``Executor._drive`` under a policy: one :func:`decide` per step (see the module
    docstring).

    When there is no option, as in the FIFO loop (``Executor._quiet``, shared): lost tasks are
    reaped and the loop parks only when nothing can happen. With a
    ``VirtualClock(autojump=True)`` and no open Spawner the clock jumps to the next deadline
    when nothing else can happen, also when ``sleep`` is False (so ``run_until_stalled()``
    under a policy runs a program's sleeps to their end). Messages held when the loop returns
    go back to the inbox, oldest first.
    """
    io = ex._driver._regs
    drv = ex._driver
    held: deque[tuple[str, JoinHandle[Any]]] = deque()
    try:
        while True:
            if DEFERRED_INTERRUPTS:
                raise DEFERRED_INTERRUPTS.pop(0)
            if until is not None and until.done():  # block_on(): its target is final
                return
            if decide(ex, held):
                continue
            if io and _select(drv, 0):
                continue
            if not ex._quiet(until, sleep, stall_timeout, jump=True):
                return
    finally:
        _unhold(ex, held)


def step(ex: Executor) -> bool:
    """``Executor.step()`` under a policy: decide until a task is polled (the policy may
    deliver events first, each a recorded choice) or nothing is left to choose. Returns
    whether a task was polled."""
    held: deque[tuple[str, JoinHandle[Any]]] = deque()
    try:
        while True:
            r = decide(ex, held)
            if r != APPLIED:
                return r == POLLED
    finally:
        _unhold(ex, held)


def _unhold(ex: Executor, held: deque[tuple[str, JoinHandle[Any]]]) -> None:
    if held:
        with ex._lock:
            ex._inbox.extendleft(reversed(held))


class Options(Sequence[str]):
    """The options of one decision, as a read-only sequence of labels, made lazily: a policy
    that looks only at ``len(options)`` (FIFO, random) costs no string per ready task. Valid
    during the ``choose`` call only (it reads the live ready queue): keep ``list(options)``.
    Order: the ``lead`` events (what the FIFO loop does before its next poll), the ready
    tasks, the other ``events``."""

    __slots__ = ("_events", "_lead", "_n", "_ready")

    def __init__(self, ready: deque[Any], events: list[str], lead: Sequence[str] = ()) -> None:
        self._ready = ready
        self._n = len(ready)
        self._events = events
        self._lead = lead

    def __len__(self) -> int:
        return len(self._lead) + self._n + len(self._events)

    @overload
    def __getitem__(self, i: int) -> str: ...
    @overload
    def __getitem__(self, i: slice) -> list[str]: ...

    def __getitem__(self, i: int | slice) -> str | list[str]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        if i < 0:
            raise IndexError(i)
        lead = self._lead
        if i < len(lead):
            return lead[i]
        i -= len(lead)
        n = self._n
        if i < n:
            return f"t{self._ready[i]._id}"
        return self._events[i - n]

    def __iter__(self) -> Iterator[str]:
        yield from self._lead
        for t in itertools.islice(self._ready, self._n):
            yield f"t{t._id}"
        yield from self._events

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence) and not isinstance(other, str):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return repr(list(self))


def _to_front(ready: deque[Any], i: int) -> None:
    """Move ``ready[i]`` to the head, the others keeping their order (an interrupt between the
    two steps puts the task back, so it is never out of the queue while SCHEDULED)."""
    t = ready[i]
    try:
        del ready[i]
        ready.appendleft(t)
    except BaseException:
        if t not in ready:
            ready.appendleft(t)
        raise


def _deliver_one(ex: Executor, held: deque[tuple[str, JoinHandle[Any]]]) -> None:
    """Apply ``held[0]`` alone (under the door's lock, the inbox otherwise empty). If an
    interrupt stops it before it took effect, it is back at the head of ``held``."""
    inbox = ex._inbox
    msg = held[0]
    appended = False
    try:
        held.popleft()
        inbox.append(msg)
        appended = True
        ex._drain()
    except BaseException:
        if inbox:  # not applied (``_drain`` puts an unapplied message back): oldest first
            held.extendleft(reversed(inbox))
            inbox.clear()
        elif not appended and (not held or held[0] is not msg):
            held.appendleft(msg)
        raise


def _wait_for_message(ex: Executor, policy: Policy, options: Sequence[str]) -> None:
    """A replay waits for the message from another thread its schedule delivers next."""
    timeout = float(getattr(policy, "wait_timeout", 10.0))
    with ex._lock:
        if ex._inbox:
            return
        ex._sleeping = True
        try:
            ex._cond.wait_for(lambda: bool(ex._inbox), min(timeout, threading.TIMEOUT_MAX))
        finally:
            ex._sleeping = False
        if ex._inbox:
            return
    timed_out = getattr(policy, "timed_out", None)
    if timed_out is not None:
        raise timed_out(options)
    raise ScheduleDivergence(f"{policy!r} waited {timeout} s for a message that never came")
