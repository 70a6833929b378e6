"""``refexec.explore``: run a user's async program under many schedules, with stated coverage.

::

    report = refexec.explore(main, strategy="dfs", bound=2)   # main: () -> a fresh coroutine
    assert report.failure is None, report                     # str(report): the whole story

Each run spawns ``main()`` on a fresh ``Executor(policy=..., clock=VirtualClock(autojump=True))``
(so sleeps take no real time and runs are repeatable), runs it to the end, and checks it. A run
*fails* (:class:`Failure`, ``kind``) on:

* ``"always"``: a :func:`always` condition was false (even if the program caught the error);
* ``"assertion"`` / ``"exception"``: an exception left a task and nobody handled it (the main
  task's, or another task's that no one retrieved); ``AssertionError`` is ``"assertion"``;
* ``"lost"``: a task was lost (every waker for it dropped: ``TaskLost``);
* ``"stall"``: the run ended with unfinished tasks (a deadlock: each waits on a waker someone
  holds but nothing will ever use). ``on_failure(executor, failure)`` is called before the
  executor is closed: what it returns becomes ``failure.verdict`` (e.g. why each task is stuck);
* ``"never-awaited"``: Python warned that a coroutine was never awaited, or refexec that a task's
  exception was never retrieved (a ``RuntimeWarning`` during the run);
* ``"livelock"``: more than ``max_steps`` scheduling steps;
* ``"model"``: the model (``check_model=True``) or ``check_trace(trace)`` (if given) rejected
  the run's trace;
* ``"nondeterministic"``: the same choices led to different options (the program reads real
  time, randomness or thread timing), so no schedule can replay it.

Strategies (every one starts with the FIFO run, the reference order):

* ``"random"``: ``RandomPolicy`` per run, seeds derived from ``seed``. No coverage claim.
* ``"pct"``: ``PCT(depth=d)``; the report states its bound, ``p >= 1/(n k^(d-1))`` per run for a
  depth-``d`` bug in a program of ``n`` tasks and ``k`` steps, and what ``runs`` runs give.
* ``"dfs"``: bounded-exhaustive depth-first search over every choice, at most ``bound``
  deviations from FIFO per schedule. After the FIFO run it first makes up to
  ``MAX_TARGETED`` *targeted* runs (:func:`_targets`): at each step where the FIFO run's poll
  woke, cancelled or dropped the waker of another task (earliest first), another ready task
  is switched to and keeps running while it is ready, within the bound; then the DFS proper,
  which does not count again a schedule a targeted run made (``report.reruns``). With sleep
  sets (partial-order reduction over the events
  :func:`refexec.schedule.independent` proves commute: a thread's wake and a due timer's fire
  against polls of other tasks). If it finishes, the report says so: "exhaustive: all N
  schedules with <= k deviations". Caveat, stated in the report: with both a bound and the
  reduction, a schedule is skipped only when an equivalent one (same result, independent events
  reordered) was run, but that one may need more deviations than the bound, so
  ``reduction=False`` is the literal "every schedule within the bound".
* ``"fifo"``: the one FIFO run.

A failing schedule is shrunk (towards FIFO: fewer deviations, same failure kind) and can be
replayed exactly: ``refexec.replay(main, failure.schedule)``.
"""

from __future__ import annotations

import contextvars
import inspect
import time
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

from refexec.clock import VirtualClock
from refexec.errors import RefexecError, Stalled, TaskLost
from refexec.executor import Executor
from refexec.schedule import (
    PCT,
    WAIT,
    Fifo,
    Policy,
    RandomPolicy,
    Recorder,
    Replay,
    Schedule,
    ScheduleDivergence,
    StepLimit,
    independent,
    pct_bound,
)
from refexec.trace import Trace

__all__ = [
    "AlwaysViolated",
    "ExplorationFailed",
    "ExploreReport",
    "Failure",
    "RunResult",
    "always",
    "explore",
    "model_check",
    "replay",
    "sometimes",
]

Main = Callable[[], Awaitable[Any]]
STRATEGIES = ("random", "pct", "dfs", "fifo")


# --------------------------------------------------------------------------------------------
# always / sometimes


class AlwaysViolated(AssertionError):
    """``refexec.always(cond, msg)`` found ``cond`` false."""


class _Probe:
    __slots__ = ("seen", "true", "violated")

    def __init__(self) -> None:
        self.violated: list[str] = []
        self.seen: dict[str, None] = {}
        self.true: set[str] = set()


_probe: contextvars.ContextVar[_Probe | None] = contextvars.ContextVar(
    "refexec_explore_probe", default=None
)


def always(cond: object, msg: str) -> None:
    """Assert ``cond`` in a program: raise :class:`AlwaysViolated` (an ``AssertionError``) if it
    is false. Under :func:`explore` the run fails with kind ``"always"`` even if the program
    catches the error."""
    if not cond:
        p = _probe.get()
        if p is not None:
            p.violated.append(msg)
        raise AlwaysViolated(msg)


def sometimes(cond: object, msg: str) -> None:
    """Note that ``cond`` should hold in *some* run. :func:`explore` lists in
    ``report.sometimes_missed`` every ``msg`` reached in some run but true in none: a vacuity
    check (the interesting case never happened, so the test proves less than it seems)."""
    p = _probe.get()
    if p is not None:
        p.seen[msg] = None
        if cond:
            p.true.add(msg)


# --------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True)
class Failure:
    """Why one run failed, and the schedule that replays it."""

    kind: str
    message: str
    schedule: Schedule
    exception: BaseException | None = None
    run: int = 0
    """Which run of the exploration found it (0: the FIFO run)."""
    verdict: object = None
    """What ``on_failure(executor, failure)`` returned (e.g. a stall verdict), if anything."""
    original: Schedule | None = None
    """The schedule as found, before shrinking (None if not shrunk)."""

    @property
    def replay_code(self) -> str:
        """The Python call that reproduces this failure."""
        return f"refexec.replay(main, {str(self.schedule)!r})"

    def __str__(self) -> str:
        lines = [f"{self.kind}: {self.message}", f"schedule: {self.schedule} "
                 f"({self.schedule.deviations} deviation(s) from FIFO)"]
        if self.original is not None and self.original != self.schedule:
            lines.append(f"(shrunk from {self.original})")
        if self.verdict is not None:
            lines.append(f"verdict: {self.verdict}")
        lines.append(f"replay: {self.replay_code}")
        return "\n".join(lines)


@dataclass(frozen=True)
class RunResult:
    """One run: its schedule, size and failure (None if it passed)."""

    schedule: Schedule
    steps: int
    tasks: int
    failure: Failure | None
    sometimes_seen: tuple[str, ...] = ()
    sometimes_true: frozenset[str] = frozenset()
    value: Any = None


@dataclass(frozen=True)
class ExploreReport:
    """What :func:`explore` did. ``failure`` is the first failure (shrunk), or None."""

    strategy: str
    seed: int
    schedules_run: int
    distinct: int
    coverage: str
    exhaustive: bool
    seconds: float
    failure: Failure | None
    max_steps_seen: int
    max_tasks_seen: int
    steps: int = 0
    """Scheduling steps taken over all counted runs (``seconds / steps``: the cost of a step)."""
    sometimes_missed: tuple[str, ...] = ()
    pruned: int = 0
    """DFS alternatives the sleep sets skipped (an equivalent schedule was run), including runs
    cut short when every option slept (those are not counted as schedules)."""
    schedules: tuple[str, ...] = field(default=(), repr=False)
    """Every distinct schedule run, in order (its string form)."""
    reruns: int = 0
    """DFS runs that repeated a targeted run's schedule (the cost of running the targeted
    ones first: not counted in ``schedules_run``; at most ``MAX_TARGETED``)."""

    @property
    def ok(self) -> bool:
        """No failure, and every ``sometimes`` reached was true in some run."""
        return self.failure is None and not self.sometimes_missed

    def __str__(self) -> str:
        lines = [
            f"refexec.explore(strategy={self.strategy!r}, seed={self.seed}): "
            f"{self.schedules_run} schedules run, {self.distinct} distinct, "
            f"{self.seconds:.2f} s",
            f"coverage: {self.coverage}",
        ]
        if self.sometimes_missed:
            lines.append(f"sometimes never true: {list(self.sometimes_missed)}")
        if self.failure is not None:
            lines.append(f"FAILED in run {self.failure.run}: {self.failure}")
        else:
            lines.append("no failure")
        return "\n".join(lines)


class ExplorationFailed(AssertionError):
    """A replayed (or explored) run failed; ``failure`` says how, with its schedule."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(str(failure))
        self.failure = failure


# --------------------------------------------------------------------------------------------
# One run


class _Pruned(RefexecError):
    """A DFS run reached a state whose every option sleeps: an equivalent run was done."""


def model_check(trace: Trace) -> str | None:
    """Check one run's trace against the model its header names (``reference`` for a FIFO
    run, ``reference-any`` for one under another policy: every property but EX-FIFO); None if
    the model explains it, else the checker's report (the first event it cannot explain, or
    the properties the run violates). What ``explore(check_model=True)`` runs on every run."""
    from refexec.models.trace_check import check_trace  # noqa: PLC0415 (the model is optional)

    variant = trace.header.variant if trace.header is not None else None
    res = check_trace(trace, variant or "reference")
    if res.ok and not res.properties:
        return None
    return res.report()


def _run(
    main: Main, policy: Policy, *, max_steps: int, stall_timeout: float | None,
    on_failure: Callable[[Executor, Failure], object] | None, run: int = 0,
    trace: Trace | None = None, check_trace: Callable[[Trace], str | None] | None = None,
    check_model: bool = False,
) -> RunResult:
    if (check_trace is not None or check_model) and trace is None:
        trace = Trace()
    rec = Recorder(policy, max_steps=max_steps)
    probe = _Probe()
    ex = Executor(policy=rec, clock=VirtualClock(autojump=True), trace=trace)
    failure: tuple[str, str, BaseException | None] | None = None
    value: Any = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        token = _probe.set(probe)
        try:
            try:
                aw = main()
                h = ex.spawn(aw)
            finally:
                _probe.reset(token)
            try:
                if stall_timeout is None:
                    report = ex.run_until_stalled()
                else:
                    report = ex.run(stall_timeout=stall_timeout)
            except StepLimit as e:
                failure = ("livelock", str(e), e)
            except Stalled as e:
                failure = ("stall", str(e), e)
            except ScheduleDivergence as e:
                failure = ("nondeterministic" if not isinstance(policy, Replay) else "divergence",
                           str(e), e)
            if failure is None and isinstance(policy, Replay):
                try:
                    policy.finish()
                except ScheduleDivergence as e:
                    failure = ("divergence", str(e), e)
            if failure is None:
                failure = _verdict(ex, h, report.lost, probe)
            problem = None
            if check_model:  # every run, failing ones too: the executor may be the culprit
                assert trace is not None
                problem = model_check(trace)
            if problem is None and failure is None and check_trace is not None:
                assert trace is not None
                problem = check_trace(trace)
            if problem is not None:
                failure = ("model", problem, None)
            if failure is None:
                value = h._result if h.done() else None
            result_failure = None
            if failure is not None:
                kind, msg, exc = failure
                result_failure = Failure(kind, msg, rec.schedule, exc, run)
                if on_failure is not None:
                    verdict = on_failure(ex, result_failure)
                    if verdict is not None:
                        result_failure = replace(result_failure, verdict=verdict)
        finally:
            ex.close()
            del ex
    if result_failure is None:
        for w in caught:
            text = str(w.message)
            if issubclass(w.category, RuntimeWarning) and "never awaited" in text:
                result_failure = Failure("never-awaited", text, rec.schedule, None, run)
                break
            if issubclass(w.category, RuntimeWarning) and "nobody retrieved" in text:
                result_failure = Failure("exception", text, rec.schedule, None, run)
                break
    return RunResult(
        rec.schedule, rec.steps, rec.tasks, result_failure, tuple(probe.seen),
        frozenset(probe.true), value,
    )


def _verdict(
    ex: Executor, h: Any, lost: tuple[Any, ...], probe: _Probe
) -> tuple[str, str, BaseException | None] | None:
    if probe.violated:
        return ("always", f"always({probe.violated[0]!r}) was false", None)
    if h.done() and not h.cancelled():
        exc = h._x.exc if h._x is not None else None
        if exc is not None:
            h.exception()  # retrieved: reported here, not warned about again
            return (_kind(exc), f"{h._desc()} raised {exc!r}", exc)
    for u in list(ex._unretrieved):
        if u.armed:
            u.armed = False
            return (_kind(u.exc), f"{u.desc} raised {u.exc!r} and nobody handled it", u.exc)
    if lost:
        return ("lost", "; ".join(str(t.exception()) for t in lost), None)
    snap = ex.snapshot()
    if snap.tasks:
        stuck = ", ".join(f"task {t.id} ({_task_name(ex, t.id)}) {t.state.name} with {t.wakers} "
                          "live waker(s)" for t in snap.tasks)
        return ("stall", f"the run ended with {len(snap.tasks)} unfinished task(s), none of "
                f"which can run: {stuck} (a task that waits on another thread needs "
                "explore(..., stall_timeout=seconds))", None)
    if h.done() and h.lost():
        return ("lost", str(h.exception()), None)
    return None


def _kind(exc: BaseException) -> str:
    if isinstance(exc, AlwaysViolated):
        return "always"
    if isinstance(exc, AssertionError):
        return "assertion"
    if isinstance(exc, TaskLost):
        return "lost"
    return "exception"


def _task_name(ex: Executor, task_id: int) -> str:
    for t in ex._unfinished():
        if t._id == task_id:
            return t.name
    return "?"


# --------------------------------------------------------------------------------------------
# Strategies


class _DfsNode:
    __slots__ = ("chosen", "done", "options", "sleep")

    def __init__(self, options: tuple[str, ...], chosen: int, sleep: frozenset[str]) -> None:
        self.options = options
        self.chosen = chosen
        self.sleep = sleep
        self.done: list[str] = []


class _Dfs:
    """Bounded DFS over the tree of choices, one run per leaf, with sleep sets."""

    def __init__(self, bound: int | None, reduction: bool) -> None:
        self.bound = bound
        self.reduction = reduction
        self.stack: list[_DfsNode] = []
        self.slept = 0  # alternatives skipped because they sleep (an equivalent one was run)

    def policy(self) -> _DfsRun:
        return _DfsRun(self)

    def advance(self) -> bool:
        """Move to the next unexplored leaf; False when the tree is done."""
        stack = self.stack
        bound = self.bound
        while stack:
            node = stack[-1]
            node.done.append(node.options[node.chosen])
            before = sum(1 for n in stack[:-1] if n.chosen)
            for j in range(node.chosen + 1, len(node.options)):
                lab = node.options[j]
                if lab in node.sleep or lab in node.done:
                    continue
                if bound is not None and before + 1 > bound:
                    break
                node.chosen = j
                return True
            stack.pop()
        return False


class _DfsRun:
    __slots__ = ("devs", "dfs", "pos")

    def __init__(self, dfs: _Dfs) -> None:
        self.dfs = dfs
        self.pos = 0
        self.devs = 0

    def choose(self, kind: str, options: Any) -> int:
        dfs = self.dfs
        stack = dfs.stack
        pos = self.pos
        opts = tuple(options)
        if pos < len(stack):
            node = stack[pos]
            i = node.chosen
            if node.options != opts:
                # A thread's message may reach the loop earlier or later than in the run that
                # made this node: wait for the one this path delivers; any other difference
                # means the program itself is not a function of its schedule.
                label = node.options[i]
                if _no_messages(node.options) != _no_messages(opts):
                    raise ScheduleDivergence(
                        f"the program is not deterministic under a fixed schedule: at step "
                        f"{pos} the options were {list(node.options)} in an earlier run with "
                        f"the same choices, now {list(opts)} (does it read the real time, "
                        "random numbers, or depend on a thread's timing?)"
                    )
                if label not in opts:
                    return WAIT
                i = opts.index(label)
        else:
            sleep: frozenset[str] = frozenset()
            if dfs.reduction and stack:
                parent = stack[-1]
                taken = parent.options[parent.chosen]
                sleep = frozenset(
                    s for s in (*parent.sleep, *parent.done) if independent(s, taken)
                )
            i = -1
            dfs.slept += sum(1 for lab in opts if lab in sleep)  # never taken at this node
            for j, lab in enumerate(opts):
                if lab in sleep:
                    continue
                if j and dfs.bound is not None and self.devs + 1 > dfs.bound:
                    break
                i = j
                break
            if i < 0:
                raise _Pruned(f"every option at step {pos} sleeps")
            stack.append(_DfsNode(opts, i, sleep))
        if i:
            self.devs += 1
        self.pos = pos + 1
        return i


class _Observe:
    """Wraps the first DFS run's policy: the options and choice of every step, and where in
    the run's trace the step's events begin (for :func:`_targets`)."""

    __slots__ = ("policy", "steps", "trace")

    def __init__(self, policy: Policy, trace: Trace) -> None:
        self.policy = policy
        self.trace = trace
        self.steps: list[tuple[tuple[str, ...], int, int]] = []

    def choose(self, kind: str, options: Any) -> int:
        start = len(self.trace.events)
        i = self.policy.choose(kind, options)
        if i != WAIT:
            self.steps.append((tuple(options), i, start))
        return i


MAX_TARGETED = 16
"""At most this many targeted runs before the DFS proper (see :func:`_targets`)."""

_TOUCH = frozenset({"wake", "wake_by_ref", "cancel", "waker_drop"})


def _targets(obs: _Observe) -> list[tuple[int, str]]:
    """Where the FIFO run's tasks touch each other: the steps whose poll woke, cancelled or
    dropped the waker of *another* task (a notify, a hand-off, a join, a cancel), earliest
    first, each with the other tasks ready there. Running one of those first, before the
    touching poll, reorders two operations that are known to interact; unlike a deviation at
    a step where a task only yields, it can change what the program does."""
    events = obs.trace.events
    steps = obs.steps
    out: list[tuple[int, str]] = []
    for k, (opts, i, start) in enumerate(steps):
        chosen = opts[i]
        if chosen[0] != "t" or len(opts) < 2:
            continue
        me = int(chosen[1:])
        end = steps[k + 1][2] if k + 1 < len(steps) else len(events)
        if any(e.event in _TOUCH and e.task is not None and e.task != me
               for e in events[start:end]):
            out += [(k, lab) for lab in opts if lab != chosen and lab[0] == "t"]
    return out[:MAX_TARGETED]


class _Targeted:
    """FIFO, except: at step ``step`` poll task ``label`` and keep polling it while it is
    ready (a switch to that task, which then runs on), within ``bound`` deviations."""

    __slots__ = ("bound", "devs", "label", "pos", "step", "sticky")

    def __init__(self, step: int, label: str, bound: int | None) -> None:
        self.step = step
        self.label = label
        self.bound = bound
        self.pos = -1
        self.devs = 0
        self.sticky: str | None = None

    def choose(self, kind: str, options: Any) -> int:
        self.pos += 1
        if self.pos == self.step:
            self.sticky = self.label
        sticky = self.sticky
        if sticky is None or (self.bound is not None and self.devs >= self.bound):
            return 0
        opts = list(options)
        if sticky not in opts:
            self.sticky = None
            return 0
        i = opts.index(sticky)
        if i:
            self.devs += 1
        return i


def _no_messages(options: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(lab for lab in options if lab[0] != "d")


def _derive(seed: int, run: int) -> int:
    return seed * 1_000_003 + run


# --------------------------------------------------------------------------------------------
# explore / replay


def explore(
    main: Main,
    *,
    strategy: str = "random",
    seed: int = 0,
    max_schedules: int = 100,
    time_budget: float | None = None,
    depth: int = 3,
    bound: int | None = 2,
    reduction: bool = True,
    max_steps: int = 10_000,
    stall_timeout: float | None = None,
    shrink: bool = True,
    on_failure: Callable[[Executor, Failure], object] | None = None,
    check_trace: Callable[[Trace], str | None] | None = None,
    check_model: bool = False,
) -> ExploreReport:
    """Run ``main()`` (a fresh coroutine each time) under up to ``max_schedules`` schedules.

    ``strategy``: ``"random"``, ``"pct"`` (``depth`` = d), ``"dfs"`` (``bound`` deviations from
    FIFO per schedule, None for no bound; ``reduction``: sleep sets) or ``"fifo"``.
    ``time_budget`` (seconds) stops early, between runs. A run stops at the first of: every task
    done, nothing can run (a deadlock is a ``"stall"`` failure), ``max_steps`` steps. A program
    whose tasks wait on threads passes ``stall_timeout`` (seconds to wait for an outside event
    before calling the run a stall); without it, a run never waits for other threads.
    ``check_trace``: each run is recorded in a fresh :class:`~refexec.Trace` and passed to it;
    a string returned is a failure of kind ``"model"`` (how a run is checked against the model
    as it is explored, e.g. with ``refexec.models.trace_check.check_trace``).
    ``check_model``: record every run and check its trace against the model
    (:func:`model_check`: the ``reference`` model for the FIFO run, ``reference-any`` for the
    others), failing runs included; a run the model does not explain fails with kind
    ``"model"`` (it takes precedence: the executor, not the program, misbehaved). Off by
    default: it costs milliseconds per scheduled step, hundreds of times the step itself
    (``benchmarks/EXPLORE_RESULTS.md``).
    Stops at the first failure, shrinks it if ``shrink``, and returns the report.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"explore(strategy=) is one of {STRATEGIES}, got {strategy!r}")
    if not callable(main):
        if inspect.iscoroutine(main):
            main.close()  # refused: no "never awaited" warning on top of the error
        raise TypeError(
            f"explore() needs a callable returning a fresh coroutine (e.g. the async function "
            f"itself, or lambda: main(3)), got {main!r}"
        )
    if isinstance(max_schedules, bool) or not isinstance(max_schedules, int) or max_schedules < 1:
        raise ValueError(f"explore(max_schedules=) is an int >= 1, got {max_schedules!r}")
    if bound is not None and (not isinstance(bound, int) or bound < 0):
        raise ValueError(f"explore(bound=) is an int >= 0 or None, got {bound!r}")
    started = time.perf_counter()
    kw: dict[str, Any] = {"max_steps": max_steps, "stall_timeout": stall_timeout,
                          "on_failure": on_failure, "check_trace": check_trace,
                          "check_model": check_model}
    seen: dict[str, None] = {}
    sometimes_seen: dict[str, None] = {}
    sometimes_true: set[str] = set()
    max_k = max_n = pct_n = 0
    runs = pruned = total_steps = 0
    failure: Failure | None = None
    dfs = _Dfs(bound, reduction) if strategy == "dfs" else None
    observe: _Observe | None = None
    targets: list[tuple[int, str]] = []
    targeted: set[str] = set()  # schedules the targeted runs made (DFS does not count them)
    dfs_more = True
    reruns = 0
    finished = False
    while runs < max_schedules:
        if time_budget is not None and runs and time.perf_counter() - started > time_budget:
            break
        policy: Any
        extra: dict[str, Any] = {}
        if dfs is not None and ((targets and runs) or not dfs_more):
            k, label = targets.pop(0)
            policy = _Targeted(k, label, bound)
        elif dfs is not None:
            policy = dfs.policy()
            if runs == 0 and bound != 0:  # the FIFO run: where do its tasks touch?
                observe = policy = _Observe(policy, Trace())
                extra = {"trace": observe.trace}
        elif runs == 0 or strategy == "fifo":
            policy = Fifo()
        elif strategy == "random":
            policy = RandomPolicy(_derive(seed, runs))
        else:
            policy = PCT(_derive(seed, runs), depth, max(max_k, 1))
        try:
            res = _run(main, policy, run=runs, **kw, **extra)
        except _Pruned:
            pruned += 1
            res = None
        if res is not None and isinstance(policy, _DfsRun) and str(res.schedule) in targeted:
            res = None  # run before, as a targeted run: counted there
            reruns += 1
        if res is not None:
            runs += 1
            if isinstance(policy, _Targeted):
                targeted.add(str(res.schedule))
            seen[str(res.schedule)] = None
            max_k = max(max_k, res.steps)
            total_steps += res.steps
            max_n = max(max_n, res.tasks)
            if isinstance(policy, PCT):  # PCT's n: every option that got a priority
                pct_n = max(pct_n, policy.entities)
            sometimes_seen.update(dict.fromkeys(res.sometimes_seen))
            sometimes_true |= res.sometimes_true
            if res.failure is not None:
                failure = res.failure
                break
        if observe is not None:
            targets, observe = _targets(observe), None
        if dfs is not None:
            if not isinstance(policy, _Targeted):
                dfs_more = dfs.advance()
            if not dfs_more and not targets:
                finished = True
                break
        elif strategy == "fifo":
            finished = True
            break
    if failure is not None and shrink and failure.kind not in ("nondeterministic",):
        failure = _shrink(main, failure, kw)
    if dfs is not None:
        pruned += dfs.slept
    coverage = _coverage(strategy, runs, finished, dfs, depth, max(max_n, pct_n), max_k, pruned)
    return ExploreReport(
        strategy=strategy, seed=seed, schedules_run=runs, distinct=len(seen), coverage=coverage,
        exhaustive=finished and dfs is not None, seconds=time.perf_counter() - started,
        failure=failure, max_steps_seen=max_k, max_tasks_seen=max_n, steps=total_steps,
        sometimes_missed=tuple(m for m in sometimes_seen if m not in sometimes_true),
        pruned=pruned, schedules=tuple(seen), reruns=reruns,
    )


def _coverage(  # noqa: PLR0917 (private, one caller)
    strategy: str, runs: int, finished: bool, dfs: _Dfs | None, depth: int, n: int, k: int,
    pruned: int,
) -> str:
    if strategy == "fifo":
        return "the FIFO schedule only"
    if dfs is not None:
        within = "" if dfs.bound is None else f" with <= {dfs.bound} deviation(s) from FIFO"
        por = ""
        if dfs.reduction and pruned:
            por = (f"; sleep sets skipped {pruned} reordering(s) of independent thread/timer "
                   "events equivalent to a schedule run")
            if dfs.bound is not None:
                por += " (which may need more deviations: reduction=False for the literal claim)"
        if finished:
            return f"exhaustive: all {runs:,} schedules{within}{por}"
        return f"incomplete DFS: {runs:,} schedules{within} run before the budget ran out{por}"
    if strategy == "pct":
        p = pct_bound(n, k, depth)
        total = 1.0 - (1.0 - p) ** max(runs - 1, 0)
        return (
            f"PCT d={depth}: each run finds a bug of depth <= {depth} with p >= "
            f"1/(n*k^(d-1)) = {p:.3g} (n={n} tasks and event sources, k={k} steps); "
            f"{runs - 1} PCT run(s): "
            f"found with p >= {total:.3g}"
        )
    return f"random: {runs} run(s), no coverage guarantee"


def _shrink(main: Main, failure: Failure, kw: dict[str, Any], budget: int = 200) -> Failure:
    """Greedy: drop one deviation at a time while the same kind of failure remains."""
    best = failure
    tries = 0
    changed = True
    while changed and tries < budget:
        changed = False
        entries = best.schedule.entries
        for i in range(len(entries)):
            if tries >= budget:
                break
            tries += 1
            cand = best.schedule.without(i)
            res = _run(main, Replay(cand, strict=False), run=failure.run, **kw)
            if res.failure is not None and res.failure.kind == failure.kind and (
                res.schedule.deviations < best.schedule.deviations
            ):
                best = res.failure
                changed = True
                break
    if best is failure:
        return failure
    return replace(best, run=failure.run, original=failure.schedule)


def replay(
    main: Main, schedule: Schedule | str, *, check: bool = True, max_steps: int = 10_000,
    stall_timeout: float | None = None,
    on_failure: Callable[[Executor, Failure], object] | None = None,
    trace: Trace | None = None, check_model: bool = False,
) -> RunResult:
    """Run ``main()`` once under ``schedule`` (a :class:`Schedule` or its string), exactly.

    ``trace``: a :class:`~refexec.Trace` to record the run's events in (to read what the
    failing schedule did, step by step). ``check_model``: check that trace against the model,
    as :func:`explore` does.

    With ``check`` (the default) a failing run raises :class:`ExplorationFailed` (an
    ``AssertionError``; its ``failure`` has the kind, the message, and the original exception as
    ``__cause__``); a run that leaves the schedule raises it with kind ``"divergence"``.
    Otherwise returns the :class:`RunResult`. A schedule with ``#i`` entries (drawn by
    Hypothesis) is followed leniently: ``i`` modulo the number of options.
    """
    sched = Schedule.parse(schedule)
    lenient = any(lab.startswith("#") for _s, lab in sched.entries)
    res = _run(main, Replay(sched, strict=not lenient), max_steps=max_steps,
               stall_timeout=stall_timeout, on_failure=on_failure, trace=trace,
               check_model=check_model)
    if check and res.failure is not None:
        raise ExplorationFailed(res.failure) from res.failure.exception
    return res
