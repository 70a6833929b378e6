"""Interrupt-safety checks: an interrupt at every line, and at random instants by real signals.

CPython delivers ``KeyboardInterrupt`` (and whatever a signal handler raises, e.g.
``SystemExit``) between two bytecodes of whatever Python code runs on the main thread. An
executor that promises "``run()`` may be called again after an interrupt" must therefore be
consistent at *every* such instant, not only at the places a test happens to stop. This module
checks that promise two ways, for :class:`refexec.Executor` or for any code a user builds on it:

* :class:`LineInterrupter` raises an exception at the *k*-th ``line`` event inside chosen code
  objects (a ``sys.settrace`` hook). :func:`sweep` counts the line events a scenario makes, then
  replays the scenario once per *k*, so the interrupt lands at every line it executes, and
  checks the executor after each. Deterministic: a failure names *k*, the function and the line.
* :func:`signal_trials` interrupts a scenario at random instants with real signals
  (``SIGALRM`` via ``signal.setitimer``, ``SIGINT`` via ``signal.pthread_kill`` and
  ``_thread.interrupt_main()`` from another thread). Timers only choose *when* the signal
  comes; the verdict is read from states, as in :func:`sweep`.

What is checked after the interrupt (:func:`check_after_interrupt`), then again after the
executor is driven on (``run_until_stalled()``, which never sleeps) and closed:

* ``Executor.check_invariants()`` passes;
* every unfinished task is in the ready queue (SCHEDULED) or the idle set (IDLE): none is left
  RUNNING/NOTIFIED or outside both structures;
* the executor is not marked running, and no lock of the scenario's sync structures is held;
* after ``close()`` every task is done, exactly once: it returned, raised, or was reported
  (``Cancelled`` / ``TaskLost``), and each ``finally`` of the scenario's tasks ran once.
"""

from __future__ import annotations

import _thread
import dis
import inspect
import random
import signal
import sys
import threading
import types
from collections.abc import Callable, Collection, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import CodeType, FrameType
from typing import Any

from refexec.executor import Executor, JoinHandle
from refexec.state import TaskState

__all__ = [
    "Built",
    "LOOP_EXCLUDE",
    "LineInterrupter",
    "Problem",
    "arm_signal_points",
    "check_after_interrupt",
    "codes_of",
    "line_of",
    "signal_trials",
    "sweep",
]


# ---------------------------------------------------------------------------------------------
# Choosing where interrupts may land

LOOP_EXCLUDE = frozenset({"check_invariants", "snapshot", "_polled", "_unfinished", "stats",
                          "__repr__", "_stalled", "__del__"})
"""Functions of refexec's loop code an interrupt is not aimed at: the inspection methods a
checker calls itself, and finalizers (an exception there never reaches the program)."""


def codes_of(*objs: Any, exclude: Collection[str] = ()) -> frozenset[CodeType]:
    """The code objects of ``objs`` (functions, classes, modules) and of everything nested in
    them (methods, properties, lambdas, comprehensions), leaving out functions whose name is in
    ``exclude``. Only code defined in the object's own module is taken (not imported names)."""
    out: set[CodeType] = set()
    seen: set[type] = set()

    def add_code(code: CodeType, qualname: str) -> None:
        if code.co_name in exclude or code in out:
            return
        out.add(code)
        _QUALNAMES.setdefault(code, qualname)
        for const in code.co_consts:
            if isinstance(const, CodeType):
                add_code(const, f"{qualname}.<locals>.{const.co_name}")

    def add(obj: Any, module: str | None) -> None:
        if isinstance(obj, (staticmethod, classmethod)):
            obj = obj.__func__
        if isinstance(obj, property):
            for f in (obj.fget, obj.fset, obj.fdel):
                if f is not None:
                    add(f, module)
        elif isinstance(obj, types.FunctionType):
            if module is None or obj.__module__ == module:
                f = inspect.unwrap(obj)  # the decorated function's own code
                add_code(f.__code__, f.__qualname__)
        elif isinstance(obj, type):
            if (module is None or obj.__module__ == module) and obj not in seen:
                seen.add(obj)
                for v in list(vars(obj).values()):
                    add(v, obj.__module__)
        elif isinstance(obj, types.ModuleType) and module is None:
            for v in list(vars(obj).values()):
                add(v, obj.__name__)

    for o in objs:
        add(o, None)
    return frozenset(out)


_QUALNAMES: dict[CodeType, str] = {}
"""A code object's qualified name, for Python 3.10 (3.11+: ``co_qualname``)."""


def _qualname(code: CodeType) -> str:
    return getattr(code, "co_qualname", None) or _QUALNAMES.get(code, code.co_name)


_INSTRUCTIONS: dict[CodeType, dict[int, tuple[str, int, int | None]]] = {}


_SETUP = frozenset({"SETUP_FINALLY", "SETUP_WITH", "SETUP_ASYNC_WITH"})
_GOTO = frozenset({"JUMP_FORWARD", "JUMP_ABSOLUTE"})
_STOP = frozenset({"RETURN_VALUE", "RERAISE", "RAISE_VARARGS"})


def _block_handlers(code: CodeType) -> dict[int, int]:
    """Python 3.10 (no exception table): offset -> the handler an exception raised at that
    instruction goes to, the target of the innermost ``SETUP_*`` block in force, found by
    following the bytecode's control flow with the block stack (``SETUP_*`` pushes,
    ``POP_BLOCK`` pops; a handler is entered with the stack its ``SETUP_*`` found)."""
    ins = list(dis.get_instructions(code))
    index = {i.offset: k for k, i in enumerate(ins)}
    stacks: dict[int, tuple[int, ...]] = {}
    work: list[tuple[int, tuple[int, ...]]] = [(0, ())]
    while work:
        off, stack = work.pop()
        while off in index and off not in stacks:
            stacks[off] = stack
            i = ins[index[off]]
            if i.opname in _SETUP:
                work.append((i.argval, stack))
                stack = (*stack, i.argval)
            elif i.opname == "POP_BLOCK":
                stack = stack[:-1]
            elif i.opcode in dis.hasjrel or i.opcode in dis.hasjabs:
                work.append((i.argval, stack))
                if i.opname in _GOTO:
                    break
            if i.opname in _STOP or index[off] + 1 == len(ins):
                break
            off = ins[index[off] + 1].offset
    return {off: stack[-1] for off, stack in stacks.items() if stack}


def _handler_of(code: CodeType) -> Callable[[int], int | None]:
    entries = getattr(dis.Bytecode(code), "exception_entries", None)
    if entries is None:  # before 3.11
        return _block_handlers(code).get

    def handler(off: int) -> int | None:
        for e in entries:
            if e.start <= off < e.end:
                return int(e.target)
        return None

    return handler


def _handler_targets(code: CodeType) -> frozenset[int]:
    """The offsets where exception handlers start."""
    entries = getattr(dis.Bytecode(code), "exception_entries", None)
    if entries is None:  # before 3.11
        return frozenset(i.argval for i in dis.get_instructions(code) if i.opname in _SETUP)
    return frozenset(int(e.target) for e in entries)


def _instructions(code: CodeType) -> dict[int, tuple[str, int, int | None]]:
    """offset -> (opname, arg, exception handler target) for every instruction of ``code``."""
    try:
        return _INSTRUCTIONS[code]
    except KeyError:
        pass
    handler = _handler_of(code)
    out = _INSTRUCTIONS[code] = {
        i.offset: (i.opname, i.arg or 0, handler(i.offset)) for i in dis.get_instructions(code)
    }
    return out


_UNDELIVERABLE: dict[CodeType, frozenset[int]] = {}
_ENDS_ENTRY = frozenset({"JUMP_BACKWARD", "JUMP_ABSOLUTE", "RERAISE", "RETURN_VALUE",
                         "RAISE_VARARGS"})
_TRY_MARKS = frozenset({"NOP", "SETUP_FINALLY"})
"""What a ``try:`` line compiles to. Its line event comes right after the line before, with no
delivery point between unless that line ended in a call; the marker may even lie outside the
enclosing block's handler range (3.11), or set up the ``try``'s block (3.10)."""


def _undeliverable(code: CodeType) -> frozenset[int]:
    """Offsets of ``code`` where a ``line`` event fires but CPython can never deliver an
    interrupt: those whose exception handler differs from the one of the instruction before,
    and those between the entry of an ``except``/``finally`` handler and its first call.

    CPython raises an asynchronous exception (a signal handler's, ``interrupt_main``'s) only
    at its eval-breaker checks (function entry, backward jumps, after calls), and the exception
    is handled by the handler of the *checking* instruction. A ``line`` event at the first
    instruction of a ``finally`` block, of an ``except`` clause, or of the ``__exit__`` call
    that ends a ``with`` block comes right after an instruction with another handler, so
    raising there would model an interrupt Python cannot produce (e.g. "between the last line
    of a ``with lock:`` block and its release"); so would raising in a handler before its
    first call (nothing there checks for signals: e.g. "before the ``lock.release()`` that
    starts a ``finally``"); so would raising at a ``try:`` line after a line that did not end in
    a call (:data:`_TRY_MARKS`). These events are not counted."""
    try:
        return _UNDELIVERABLE[code]
    except KeyError:
        pass
    handler = _handler_of(code)
    targets = _handler_targets(code)
    skip: set[int] = set()
    prev: int | None = None
    entering = False  # from a handler's first instruction up to its first delivery point
    prev_name = ""
    for ins in dis.get_instructions(code):
        starts = ins.starts_line is not None
        entering = entering or ins.offset in targets
        if starts and (entering or (prev is not None and handler(ins.offset) != handler(prev))):
            skip.add(ins.offset)
        if starts and ins.opname in _TRY_MARKS and not prev_name.startswith("CALL"):
            skip.add(ins.offset)
        if ins.opname.startswith("CALL") or ins.opname in _ENDS_ENTRY:
            entering = False
        prev, prev_name = ins.offset, ins.opname
    out = _UNDELIVERABLE[code] = frozenset(skip)
    return out


def line_of(func: Any, text: str) -> int:
    """The line number of the first line of ``func``'s source that contains ``text``."""
    lines, start = inspect.getsourcelines(func)
    for i, ln in enumerate(lines):
        if text in ln:
            return start + i
    raise ValueError(f"{text!r} is not in the source of {func!r}")


def _in_finalizer(frame: FrameType | None) -> bool:
    while frame is not None:
        if frame.f_code.co_name == "__del__":
            return True
        frame = frame.f_back
    return False


class LineInterrupter:
    """``with LineInterrupter(codes, at=k):`` raises ``exc()`` at the ``k``-th ``line`` event
    (1-based) inside ``codes`` on this thread; with ``at=None`` it only counts the events
    (``hits``). ``where`` names the function and line it fired at. The trace hook is removed on
    exit and as soon as it fired (so exactly one interrupt is delivered). With ``line``, only
    the events at that source line count (to aim at one statement, by its text: see
    :func:`line_of`), or at those lines (a collection).

    ``signal_points``: count instead the instructions where CPython itself can deliver a signal
    (its eval-breaker checks: function entry, after each call, backward jumps). Slower, and
    exact at the bytecode level: it finds the windows inside one line, such as the one between
    ``lock.acquire()`` returning and the ``try`` that would release it.

    ``skip_finalizers``: lines run by a ``__del__`` (directly or below it) are not counted.
    Python swallows an exception raised in a finalizer (it prints "Exception ignored in"), so
    an interrupt there never reaches the program; what refexec does about that point is
    described in the README ("Interrupts"), and checked by its own tests.

    ``when``: count only the events at which ``when()`` is true (e.g. the lockstep machine's
    "not inside a task's poll").

    ``deliverable_only=False``: count line events where no signal can arrive too. For a test
    aimed at one line (``line``) whose event is deliverable on some Python versions only (the
    bytecode's layout differs): the code must handle the interrupt there wherever it can
    happen, so the test asks for it on every version."""

    def __init__(
        self,
        codes: Collection[CodeType],
        at: int | None,
        exc: Callable[[], BaseException] = KeyboardInterrupt,
        *,
        skip_finalizers: bool = True,
        line: int | Collection[int] | None = None,
        signal_points: bool = False,
        when: Callable[[], bool] | None = None,
        deliverable_only: bool = True,
    ) -> None:
        self.codes = codes
        self.when = when
        self.skip_finalizers = skip_finalizers
        self.line = line
        self._lines = frozenset((line,) if isinstance(line, int) else line or ())
        self.signal_points = signal_points
        self.deliverable_only = deliverable_only
        self._prev: dict[int, int] = {}
        self.at = at
        self.exc = exc
        self.hits = 0
        self.where: str | None = None
        self.raised: BaseException | None = None

    def _global(self, frame: FrameType, event: str, arg: object) -> Any:
        if frame.f_code in self.codes and self.where is None:
            if self.signal_points:
                frame.f_trace_opcodes = True
                frame.f_trace_lines = False
            return self._local
        return None

    def _local(self, frame: FrameType, event: str, arg: object) -> Any:
        if self.where is not None:
            return None
        if self.signal_points:
            if event != "opcode" or not self._signal_point(frame):
                return self._local
        elif event != "line":
            return self._local
        if self.skip_finalizers and _in_finalizer(frame):
            return self._local
        if (not self.signal_points and self.deliverable_only
                and frame.f_lasti in _undeliverable(frame.f_code)):
            return self._local
        if self.line is not None and frame.f_lineno not in self._lines:
            return self._local
        if self.when is not None and not self.when():
            return self._local
        self.hits += 1
        if self.hits == self.at:
            self.where = f"{_qualname(frame.f_code)} line {frame.f_lineno}"
            sys.settrace(None)
            self.raised = self.exc()
            raise self.raised
        return self._local

    def _signal_point(self, frame: FrameType) -> bool:
        """Whether CPython could deliver a signal right before this instruction, as if there:
        at a ``RESUME`` that checks (function entry, after a ``yield``), or right after a
        ``CALL`` or backward jump (the checks run at their end) when this instruction has the
        same exception handler as that one (so raising here is handled as raising there)."""
        code, off = frame.f_code, frame.f_lasti
        table = _instructions(code)
        ins = table.get(off)
        key = id(frame)
        prev = self._prev.get(key)
        self._prev[key] = off
        if ins is None:
            return False
        if ins[0] == "RESUME":  # 0: function entry, 1: after a yield (3.13 adds a flag, 4)
            return ins[1] & 3 < 2
        if prev is None or prev not in table:
            return False
        pname, _, phandler = table[prev]
        checks = pname.startswith("CALL") or pname in ("JUMP_BACKWARD", "JUMP_ABSOLUTE")
        return checks and phandler == ins[2]

    def __enter__(self) -> LineInterrupter:
        sys.settrace(self._global)
        return self

    def __exit__(self, *exc_info: object) -> None:
        sys.settrace(None)


# ---------------------------------------------------------------------------------------------
# What a scenario gives the checker


@dataclass
class Built:
    """One instance of a scenario: the executor, the handles of the tasks to account for, the
    locks that must be free whenever no operation is in progress, and ``finally_runs`` (task
    name -> how many times its ``finally`` block ran; each must end at exactly 1)."""

    ex: Executor
    handles: list[JoinHandle[Any]]
    locks: list[Any] = field(default_factory=list)
    finally_runs: dict[str, int] = field(default_factory=dict)
    keep: list[Any] = field(default_factory=list)
    """Objects the scenario's driver holds on to (as a real program's locals would)."""


@dataclass(frozen=True)
class Problem:
    """One violated expectation: at which interrupt (``k``, ``where``) and what went wrong."""

    k: int | None
    where: str | None
    what: str

    def __str__(self) -> str:
        at = f"interrupt #{self.k} at {self.where}" if self.k is not None else self.where
        return f"{at}: {self.what}"


def _structural(b: Built) -> list[str]:
    """Problems of the state right now (between operations): invariants, structures, locks."""
    out: list[str] = []
    ex = b.ex
    try:
        ex.check_invariants()
    except AssertionError as e:
        out.append(str(e))
    snap = ex.snapshot()
    ready, idle = set(snap.ready), {t.id for t in snap.tasks if t.state is TaskState.IDLE}
    for h in b.handles:
        if h.done():
            continue
        st = h.state
        where = "ready" if h.id in ready else "idle" if h.id in idle else None
        if not ((st is TaskState.SCHEDULED and where == "ready") or
                (st is TaskState.IDLE and where == "idle")):
            out.append(f"task {h.id} is {st.name if st else st} in {where or 'no structure'}")
    for lock in b.locks:
        if lock.locked():
            out.append(f"a lock is held: {lock!r}")
    return out


def check_after_interrupt(
    b: Built,
    *,
    resume: bool = True,
    interrupt: BaseException | None = None,
    in_user_code: bool = False,
) -> list[str]:
    """Check ``b`` right after an interrupt left its executor; then (``resume``) drive it on
    with ``run_until_stalled()``, close it, and check that every task finished exactly once and
    every ``finally`` ran once. Returns the problems found (empty: all good).

    ``interrupt`` is the exception that was delivered: a task it ended completes with it, so a
    task awaiting that one re-raises the very same object, which leaves the resumed drive as
    the first did; the drive is then simply resumed again. Any other exception is a problem.

    ``in_user_code``: the interrupt may have landed in the tasks' own code (a real signal), for
    instance at a coroutine's first instruction, before it entered its ``try``: its ``finally``
    then rightly never runs, so a ``finally`` must run at most once instead of exactly once."""
    out = _structural(b)
    if out or not resume:
        return out
    ex = b.ex
    ops = [("run_until_stalled()", ex.run_until_stalled)] if not ex.closed else []
    for what, op in [*ops, ("close()", ex.close)]:
        for h in b.handles:
            if h.done():
                h.exception()  # retrieved: no unretrieved-exception warning for the scenario's
        for _ in range(len(b.handles) + 1):
            try:
                op()
                break
            except BaseException as e:  # the resumed drive must not fail
                if interrupt is None or e is not interrupt:
                    return [f"{what} after the interrupt raised {e!r}"]
        out += [f"after {what}: {p}" for p in _structural(b)]
    for h in b.handles:
        if not h.done():
            out.append(f"task {h.id} is not done after close(): {h.state}")
    for name, n in b.finally_runs.items():
        if n > 1 or (n == 0 and not in_user_code):
            out.append(f"the finally block of {name} ran {n} times")
    st = ex.stats
    if st.spawned != st.completed + st.cancelled + st.tasks_lost:
        out.append(f"counters do not add up after close(): {st}")
    return out


# ---------------------------------------------------------------------------------------------
# Every line


def arm_signal_points(codes: Collection[CodeType], run: Callable[[], object]) -> None:
    """Run ``run()`` once under an uncounted signal-point interrupter (Python 3.12+ only).

    With 3.12's ``sys.monitoring`` under ``sys.settrace``, a code object's opcode events begin
    only after a frame of it asked for them, so a first run misses the first instructions of
    each function (its entry, its first calls); after one run, the next sees them all. An
    interrupt ends tracing (``sys.settrace(None)``), which disarms them again: call it before
    each run that counts signal points with :class:`LineInterrupter`."""
    if sys.version_info >= (3, 12):
        with LineInterrupter(codes, None, signal_points=True):
            run()


def sweep(
    build: Callable[[], Built],
    drive: Callable[[Built], object],
    codes: Collection[CodeType],
    *,
    exc: Callable[[], BaseException] = KeyboardInterrupt,
    ks: Iterable[int] | None = None,
    signal_points: bool = False,
) -> tuple[int, list[Problem]]:
    """Interrupt ``drive(build())`` at each line event inside ``codes`` in turn.

    First runs the scenario once without interrupt, counting the line events (``hits``) and
    checking it finishes cleanly; then for each ``k`` in ``ks`` (default ``1..hits``) runs a
    fresh instance interrupted at the ``k``-th event and calls :func:`check_after_interrupt`.
    ``signal_points``: at every instruction where CPython can deliver a signal instead (see
    :class:`LineInterrupter`).
    Returns ``(hits, problems)``.
    """
    if signal_points:
        arm_signal_points(codes, lambda: drive(build()))
    b = build()
    with LineInterrupter(codes, None, signal_points=signal_points) as counter:
        drive(b)
    problems = [Problem(None, "uninterrupted run", p) for p in check_after_interrupt(b)]
    hits = counter.hits
    for k in ks if ks is not None else range(1, hits + 1):
        if signal_points:
            arm_signal_points(codes, lambda: drive(build()))
        b = build()
        li = LineInterrupter(codes, k, exc, signal_points=signal_points)
        caught: BaseException | None = None
        try:
            with li:
                drive(b)
        except BaseException as e:
            if li.where is None:
                problems.append(Problem(k, None, f"the scenario raised {e!r} by itself"))
                continue
            if e is not li.raised:  # e.g. Stalled: the interrupt was swallowed somewhere
                problems.append(Problem(k, li.where, f"the run raised {e!r}, not the interrupt"))
                continue
            caught = e
        problems += [Problem(k, li.where, p) for p in check_after_interrupt(b, interrupt=caught)]
    return hits, problems


# ---------------------------------------------------------------------------------------------
# Random instants, real signals


@contextmanager
def _handler(signum: int, exc: Callable[[], BaseException]) -> Iterator[None]:
    def raise_it(_sig: int, _frame: object) -> None:
        raise exc()

    old = signal.signal(signum, raise_it)
    try:
        yield
    finally:
        signal.signal(signum, old)


def signal_trials(
    build: Callable[[], Built],
    drive: Callable[[Built], object],
    n: int,
    *,
    seed: int = 0,
    span: float = 0.01,
) -> tuple[int, list[Problem]]:
    """Interrupt ``drive(build())`` ``n`` times at random instants within ``span`` seconds by
    real signals, rotating through ``SIGALRM`` (``setitimer``, raising ``SystemExit``),
    ``SIGINT`` sent by another thread (``pthread_kill``, raising ``KeyboardInterrupt``) and
    ``_thread.interrupt_main()``. Main thread only. Returns ``(interrupted, problems)``: how
    many trials the signal actually interrupted (it may come after the scenario ended; such a
    trial is still checked), and every problem found."""
    if threading.current_thread() is not threading.main_thread():
        raise RuntimeError("signal_trials must run on the main thread (signals go there)")
    rng = random.Random(seed)
    main = threading.get_ident()
    problems: list[Problem] = []
    interrupted = 0
    for i in range(n):
        delay = rng.uniform(0.0, span)
        kind = i % 3
        b = build()
        caught: BaseException | None = None
        timer: threading.Timer | None = None
        try:
            if kind == 0:
                with _handler(signal.SIGALRM, lambda: SystemExit("interrupt")):
                    try:
                        signal.setitimer(signal.ITIMER_REAL, max(delay, 1e-6))
                        drive(b)
                        signal.setitimer(signal.ITIMER_REAL, 0)
                    finally:
                        signal.setitimer(signal.ITIMER_REAL, 0)
            else:
                def send(kind: int = kind) -> None:
                    if kind == 1:
                        signal.pthread_kill(main, signal.SIGINT)
                    else:
                        _thread.interrupt_main()

                with _handler(signal.SIGINT, KeyboardInterrupt):
                    timer = threading.Timer(delay, send)
                    timer.start()
                    try:
                        drive(b)
                    finally:
                        timer.cancel()
                        timer.join()
        except (KeyboardInterrupt, SystemExit) as e:
            interrupted += 1
            caught = e
            if timer is not None:
                timer.join()
        problems += [Problem(i, f"trial {i} ({delay * 1e3:.2f} ms, signal kind {kind})", p)
                     for p in check_after_interrupt(b, interrupt=caught, in_user_code=True)]
    return interrupted, problems

