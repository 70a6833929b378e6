"""An optional recorder of what an executor does, in the vocabulary of DESIGN.md.

Pass ``trace=Trace()`` to ``Executor`` or ``SimpleExecutor``; every event is appended to
``trace.events`` as a :class:`TraceEvent` ``(event, task, poll, detail)``:

``spawn``        a task entered the executor (``poll`` = 0)
``poll``         a poll of the task began; ``poll`` is its number (1 for the first poll)
``pending``      that poll returned Pending
``ready``        that poll returned Ready, or raised (``detail`` = the exception's type name)
``wake``         a waker handle was consumed by ``wake()``: the task is woken *and* that handle
                 ends (no separate ``waker_drop`` follows)
``wake_by_ref``  the task is woken; the handle survives (``yield_now()`` is one of these)
``waker_clone``  a new waker handle for the task exists (the task's live-waker count rises)
``waker_drop``   a waker handle ended without waking (``drop()``, or freed by Python)
``cancel``       the task was cancelled (its future dropped)
``lost``         the task could never be woken again and was moved to CANCELLED (reported)
``run_start``    ``run()``, ``run_until_stalled()`` or ``block_on()`` began (``detail``:
                 which; ``step()`` is not traced)
``run_end``      it returned (``detail``: ``"done"``, ``"stalled"``, ``"interrupted"``,
                 ``"raised"``)
``close_start``  ``Executor.close()`` set the closed flag and acts as the loop: it takes in
                 the inbox, then cancels every unfinished task (``cancel`` events);
                 ``detail`` ``"again"`` when it finishes a close() an interrupt cut short
``close_end``    that close() returned (``detail``: ``"done"``, or ``"interrupted"``)

``poll`` is always the task's poll count when the event happened, so a wake carries the number
of the poll during or after which it came. Operations from other threads are recorded when the
executor's loop takes them in (``detail="inbox"``): that is the moment they act on the state.
``SimpleExecutor`` records them where they happen, with ``detail="thread"``.

Recording costs nothing when it is off: the executors test ``trace is not None`` on a local
variable and never build an event.

Saved traces are a *file format* other executors write too (``spec/TRACE-FORMAT.md`` is the
contract): JSON lines, a header line first, then one object per event::

    {"format": "refexec-trace", "version": 1, "producer": "refexec.Executor", ...}
    {"event": "poll", "task": 1, "poll": 1}

The header names the model the trace is checked against, so ``refexec check-trace FILE`` needs
no flags and cannot check a run against the wrong design. A file without a header (an older
producer's) still loads; then whoever checks it names the variant. Reading is strict, because a
reader that guesses turns a producer's bug into a verdict about a run that never happened:
``true``/``false`` are not integers, a field the format does not define is refused (a typo in a
field name must not silently become "field absent"), and every error names the line.
:class:`TraceReader` reads a file as a stream, one line at a time, so a trace of millions of
events is checked without being held in memory.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, NamedTuple, cast

__all__ = [
    "DETAILS",
    "DRIVER_EVENTS",
    "EVENTS",
    "FORMAT",
    "FORMAT_VERSION",
    "MAX_LINE_BYTES",
    "Trace",
    "TraceEvent",
    "TraceFormatError",
    "TraceHeader",
    "TraceReader",
    "attach_trace",
]

EVENTS = frozenset(
    {
        "spawn",
        "poll",
        "pending",
        "ready",
        "wake",
        "wake_by_ref",
        "waker_clone",
        "waker_drop",
        "cancel",
        "lost",
        "run_start",
        "run_end",
        "close_start",
        "close_end",
        "timer_arm",
        "timer_fire",
        "timer_cancel",
        "clock_jump",
        "io_register",
        "io_ready",
        "io_cancel",
    }
)
"""Every event name a trace may hold."""

DRIVER_EVENTS = frozenset({"timer_arm", "timer_fire", "timer_cancel", "clock_jump",
                           "io_register", "io_ready", "io_cancel"})
"""The time and I/O driver's events (``refexec.driver``), checked against the reference
model's driver (``refexec.models.refinement.DRIVER_EVENTS``); their details are instants or
file descriptors, which the trace checker maps itself."""

RUN_EVENTS = frozenset({"run_start", "run_end"})
"""The drive calls' start and end."""
CLOSE_EVENTS = frozenset({"close_start", "close_end"})
"""``Executor.close()``'s start (the closed flag set) and end."""
EXECUTOR_EVENTS = RUN_EVENTS | CLOSE_EVENTS | {"clock_jump"}
"""The executor-wide events: their ``task`` is ``null``; every other event names a task."""
_TASK_EVENTS = EVENTS - EXECUTOR_EVENTS

_WHERE = frozenset({None, "inbox", "thread"})
DETAILS: Mapping[str, frozenset[str | None] | None] = {
    "spawn": _WHERE,
    "poll": frozenset({None}),
    "pending": frozenset({None}),
    "ready": None,  # any: the type name of the exception the poll raised
    "wake": _WHERE,
    "wake_by_ref": _WHERE,
    "waker_clone": _WHERE | {"make_waker"},
    "waker_drop": _WHERE,
    "cancel": frozenset({None, "inbox"}),  # "inbox": posted by another thread
    "lost": frozenset({None, "silent"}),
    "run_start": frozenset({None, "run", "run_until_stalled", "block_on"}),  # None: "run"
    "run_end": frozenset({"done", "stalled", "interrupted", "raised"}),
    "close_start": frozenset({None, "again"}),
    "close_end": frozenset({"done", "interrupted"}),
    "timer_arm": None,  # any: the deadline, in the clock's nanoseconds
    "timer_fire": None,  # any: the deadline
    "timer_cancel": None,  # any: the deadline (absent in older traces)
    "clock_jump": None,  # any: the instant the virtual clock jumped to
    "io_register": None,  # any: "fd=N r" or "fd=N w"
    "io_ready": None,  # any: "fd=N"
    "io_cancel": None,  # any: "fd=N"
}
"""The ``detail`` values the format defines for each event (``spec/TRACE-FORMAT.md`` §3.2);
``None`` for ``ready``: any string. Another value is read as is and reported by the reader
(:attr:`TraceReader.unknown_details`), not refused: a detail refines an event rather than
changing what it is, and a new executor feature should not make old readers reject its traces."""

MAX_UNKNOWN_DETAILS = 10
"""How many distinct unknown ``(event, detail)`` pairs a reader keeps to report."""

FORMAT = "refexec-trace"
"""The value of the header's ``format`` field: what marks a line as the header."""

FORMAT_VERSION = 1
"""The header's ``version`` this module writes and reads. A reader refuses a newer version
rather than misread it; a change that old readers would misread gets a new number."""

MAX_LINE_BYTES = 65_536
"""The longest line a reader accepts. An event line is under 200 bytes; a cap keeps a corrupt
file (a single line of 100 MB) from being read into memory before it is refused."""

_EVENT_FIELDS = frozenset({"event", "task", "poll", "detail"})
_HEADER_FIELDS = frozenset({"format", "version", "producer", "variant", "params", "meta"})


class TraceFormatError(ValueError):
    """A trace that is not in the format. ``line`` is the 1-based line number in the file (None
    when a single line was parsed on its own), ``reason`` the message without it."""

    def __init__(self, reason: str, line: int | None = None) -> None:
        super().__init__(reason if line is None else f"line {line}: {reason}")
        self.reason = reason
        self.line = line


class TraceEvent(NamedTuple):
    """One recorded event. ``task`` is ``None`` for executor-wide events (run_start, run_end)."""

    event: str
    task: int | None
    poll: int
    detail: str | None = None

    def to_json(self) -> str:
        """This event as one JSON object (no newline); ``detail`` only when present."""
        d: dict[str, object] = {"event": self.event, "task": self.task, "poll": self.poll}
        if self.detail is not None:
            d["detail"] = self.detail
        return json.dumps(d, separators=(", ", ": "))

    @classmethod
    def from_json(cls, line: str) -> TraceEvent:
        """Parse one JSON line holding an event (not a header); strict, see :func:`_event`."""
        obj = _json_object(line, None)
        if "format" in obj:
            raise TraceFormatError("this is a trace header, not an event")
        return _event(obj, None)


@dataclass(frozen=True)
class TraceHeader:
    """The first line of a trace file: who wrote it and which model it is checked against.

    ``variant`` is a model variant of ``refexec.models`` (``"reference"`` for a design like
    ``Executor``, ``"seed"`` for one like ``SimpleExecutor``) and ``params`` its parameters
    (``{"capacity": 100}`` for ``seed``); ``None`` when the producer does not say (then whoever
    checks the trace names the variant). ``meta`` is the producer's own free-form data (a JSON
    object nobody interprets: a host name, a command line): the one place for fields the format
    does not define, so that everything else can be refused when unknown.
    """

    producer: str | None = None
    variant: str | None = None
    params: Mapping[str, int] = field(default_factory=dict)
    meta: Mapping[str, Any] = field(default_factory=dict)
    version: int = FORMAT_VERSION

    def to_json(self) -> str:
        """The header as one JSON object (no newline)."""
        d: dict[str, object] = {
            "format": FORMAT,
            "version": self.version,
            "producer": self.producer,
            "variant": self.variant,
            "params": dict(self.params),
        }
        if self.meta:
            d["meta"] = dict(self.meta)
        return json.dumps(d, separators=(", ", ": "))

    @classmethod
    def from_json(cls, line: str) -> TraceHeader:
        """Parse one header line; strict, like events."""
        return _header(_json_object(line, None), None)

    def describe(self) -> str:
        """A short phrase for reports: ``refexec.SimpleExecutor, model 'seed' (capacity=100)``."""
        who = self.producer or "an unnamed producer"
        if self.variant is None:
            return f"{who}, no model variant named"
        ps = ", ".join(f"{k}={v}" for k, v in sorted(self.params.items()))
        return f"{who}, model '{self.variant}'" + (f" ({ps})" if ps else "")


# ---------------------------------------------------------------------------------------------
# Parsing one line
# ---------------------------------------------------------------------------------------------


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``json`` keeps the last of two equal keys; a trace line with two ``"task"`` fields has no
    meaning, so it is refused instead."""
    d = dict(pairs)
    if len(d) != len(pairs):
        seen: set[str] = set()
        for k, _ in pairs:
            if k in seen:
                raise ValueError(f"the field {k!r} appears twice in one object")
            seen.add(k)
    return d


_scan = json.JSONDecoder(object_pairs_hook=_no_duplicate_keys).raw_decode
_plain_scan = json.JSONDecoder().raw_decode


def _json_object(text: str, line: int | None) -> dict[str, Any]:
    """One line's JSON object; every way it can fail becomes a :class:`TraceFormatError`."""
    s = text.strip()
    lead = len(text) - len(text.lstrip())
    try:
        obj, end = _scan(s)
    except json.JSONDecodeError as e:
        if s.startswith("\ufeff"):
            raise TraceFormatError("starts with a byte-order mark: write UTF-8 without one",
                                   line) from None
        raise TraceFormatError(f"not JSON: {e.msg} (column {e.colno + lead})", line) from None
    except RecursionError:
        raise TraceFormatError("JSON nested too deeply (a trace line is one flat object)",
                               line) from None
    except ValueError as e:  # a duplicate key; an integer of more digits than Python converts
        raise TraceFormatError(str(e), line) from None
    if end != len(s):
        raise TraceFormatError(
            f"extra text after the JSON object (column {end + lead + 1}): one object per line",
            line)
    if type(obj) is not dict:
        raise TraceFormatError(
            f"a trace line must be a JSON object, got {_json_kind(obj)}", line)
    return obj


def _json_kind(v: object) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return f"the boolean {json.dumps(v)}"
    if isinstance(v, (int, float)):
        return f"the number {v!r}"
    if isinstance(v, str):
        return f"the string {v!r}"
    return "an array" if isinstance(v, list) else "an object"


def _event(d: dict[str, Any], line: int | None) -> TraceEvent:
    """An event from its JSON object. ``type(x) is int`` and not ``isinstance``: JSON's
    ``true`` is a Python ``bool``, a subclass of ``int``, and a producer writing ``"poll":
    false`` has a bug that must not read as poll 0."""
    event = d.get("event")
    task = d.get("task")
    poll = d.get("poll")
    detail = d.get("detail")
    if len(d) != 3 + ("detail" in d) or "event" not in d or "task" not in d or "poll" not in d:
        unknown = sorted(set(d) - _EVENT_FIELDS)
        if unknown:
            raise TraceFormatError(
                f"unknown field(s) {', '.join(map(repr, unknown))} in an event: an event has "
                "exactly 'event', 'task', 'poll' and optionally 'detail' (a header's 'meta' "
                "holds a producer's own data)", line)
        missing = next(name for name in ("event", "task", "poll") if name not in d)
        raise TraceFormatError(f"an event needs the field {missing!r}", line)
    if type(event) is not str:
        raise TraceFormatError(
            f"'event' must be a string naming the event, got {_json_kind(event)}", line)
    if event not in EVENTS:
        raise TraceFormatError(
            f"unknown trace event {event!r}: one of {', '.join(sorted(EVENTS))}", line)
    if event in EXECUTOR_EVENTS:
        if task is not None:
            raise TraceFormatError(
                f"'task' of a {event} event must be null (it is executor-wide), got "
                f"{_json_kind(task)}", line)
    elif type(task) is not int or task < 0:
        raise TraceFormatError(
            f"'task' of a {event} event must be a non-negative integer (the task's id), got "
            f"{_json_kind(task)}", line)
    if type(poll) is not int or poll < 0:
        raise TraceFormatError(
            f"'poll' must be a non-negative integer (the task's poll count), got "
            f"{_json_kind(poll)}", line)
    if detail is not None and type(detail) is not str:
        raise TraceFormatError(
            f"'detail' must be a string or null, got {_json_kind(detail)}", line)
    return TraceEvent(event, task, poll, detail)


def _header(d: dict[str, Any], line: int | None) -> TraceHeader:
    """A header from its JSON object (one with a ``format`` field)."""
    unknown = sorted(set(d) - _HEADER_FIELDS)
    if unknown:
        raise TraceFormatError(
            f"unknown field(s) {', '.join(map(repr, unknown))} in the header: it has "
            "'format', 'version', 'producer', 'variant', 'params' and 'meta' (put a producer's "
            "own data under 'meta')", line)
    if d["format"] != FORMAT:
        raise TraceFormatError(
            f"not a refexec trace: the header's 'format' is {_json_kind(d['format'])}, not "
            f"{FORMAT!r}", line)
    version = d.get("version")
    if type(version) is not int or version < 1:
        raise TraceFormatError(
            f"the header's 'version' must be a positive integer, got {_json_kind(version)}", line)
    if version > FORMAT_VERSION:
        raise TraceFormatError(
            f"trace format version {version} is newer than this refexec reads "
            f"({FORMAT_VERSION}): upgrade refexec", line)
    texts: dict[str, str | None] = {}
    for name in ("producer", "variant"):
        v = d.get(name)
        if v is not None and (type(v) is not str or not v):
            raise TraceFormatError(
                f"the header's {name!r} must be a non-empty string or null, got "
                f"{_json_kind(v)}", line)
        texts[name] = v
    params = d.get("params", {})
    if params is None:
        params = {}
    if type(params) is not dict:
        raise TraceFormatError(
            f"the header's 'params' must be an object, got {_json_kind(params)}", line)
    for k, v in params.items():
        if type(v) is not int:
            raise TraceFormatError(
                f"the header's parameter {k!r} must be an integer, got {_json_kind(v)}", line)
    meta = d.get("meta", {})
    if type(meta) is not dict:
        raise TraceFormatError(
            f"the header's 'meta' must be an object, got {_json_kind(meta)}", line)
    return TraceHeader(texts["producer"], texts["variant"], params, meta, version)


# ---------------------------------------------------------------------------------------------
# Reading a file: a stream of lines
# ---------------------------------------------------------------------------------------------


def _text(raw: str | bytes, line: int) -> str:
    """One line as text, refused when longer than :data:`MAX_LINE_BYTES` or not UTF-8."""
    if len(raw) > MAX_LINE_BYTES and len(raw.strip()) > MAX_LINE_BYTES:
        raise TraceFormatError(f"line longer than {MAX_LINE_BYTES} bytes: not a trace line", line)
    if isinstance(raw, bytes):
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise TraceFormatError(f"not UTF-8 text: {e.reason} at byte {e.start}", line) from None
    return raw


def _limited_lines(stream: IO[Any]) -> Iterator[str | bytes]:
    """The lines of a stream, none read much past :data:`MAX_LINE_BYTES` (the reader refuses a
    longer one from its length)."""
    readline = stream.readline
    while line := readline(MAX_LINE_BYTES + 2):
        yield line


class TraceReader:
    """A trace read line by line: :attr:`header` at once, the events as they are iterated.

    ``lines`` is any iterable of lines (``str`` or UTF-8 ``bytes``), or a binary stream (an
    ``open(path, "rb")`` file, ``sys.stdin.buffer``), read with a bound on the line length.
    Constructing the reader reads up to the first non-blank line, to know whether it is a
    header; iterating yields each event once, in order, holding only the current line. Blank
    lines are skipped; a header anywhere but first, and every malformed line, raise
    :class:`TraceFormatError` naming the line.

    Why a stream: a real run's trace is millions of events (100 MB); the checker consumes
    events in one pass, so memory stays bounded by the live tasks, not by the file.
    """

    def __init__(self, lines: Iterable[str] | Iterable[bytes] | IO[bytes]) -> None:
        self._lines: Iterator[str | bytes] = (
            _limited_lines(cast("IO[Any]", lines)) if hasattr(lines, "readline")
            else iter(lines))
        self.line = 0
        """The number of the last line read (1-based; 0 before any)."""
        self.events_read = 0
        """How many events have been yielded so far."""
        self._blanks: list[list[int]] = []
        # blank lines after the header or first event, run-length: [events before them, count]
        self._started = False
        self._first: TraceEvent | None = None
        self.header: TraceHeader | None = None
        """The file's header, or None for a file without one."""
        self.unknown_details: dict[tuple[str, str | None], int] = {}
        """``(event, detail)`` pairs the format does not define, each with the first line it
        is on (at most :data:`MAX_UNKNOWN_DETAILS`)."""
        for text in self._texts():
            if not text.strip():
                continue
            obj = _json_object(text, self.line)
            if "format" in obj:
                self.header = _header(obj, self.line)
            else:
                self._first = self._checked(_event(obj, self.line))
            break
        self._events_start = self.line if self._first is None else self.line - 1
        # line of event #i = _events_start + 1 + i + (blank lines before it)

    def _texts(self) -> Iterator[str]:
        for raw in self._lines:
            self.line += 1
            yield _text(raw, self.line)

    def __iter__(self) -> Iterator[TraceEvent]:
        if self._started:
            raise RuntimeError("a TraceReader is read once: it streams the file")
        self._started = True
        return self._events()

    def _events(self) -> Iterator[TraceEvent]:
        """The events after the first. This loop is the reader's hot path (a million events a
        run): a line that is well-formed takes the inlined checks below; anything else goes to
        the strict helpers (:func:`_json_object`, :func:`_event`), which raise the precise error
        or return what the fast path would have."""
        if self._first is not None:
            self.events_read = 1
            yield self._first
            self._first = None
        blanks = self._blanks
        scan = _plain_scan
        new = tuple.__new__
        max_len = MAX_LINE_BYTES
        for raw in self._lines:
            self.line += 1
            if len(raw) > max_len or type(raw) is not bytes:
                text = _text(raw, self.line)
            else:
                try:
                    text = raw.decode()
                except UnicodeDecodeError:
                    text = _text(raw, self.line)  # raises, naming the line
            s = text.strip()
            if not s:
                if blanks and blanks[-1][0] == self.events_read:
                    blanks[-1][1] += 1
                else:
                    blanks.append([self.events_read, 1])
                continue
            try:
                d, end = scan(s)
            except (ValueError, RecursionError):
                d, end = _json_object(text, self.line), len(s)  # raises the precise error
            if end != len(s) or type(d) is not dict or s.count(":") != len(d):
                # extra text, not an object, or maybe a key twice (each key has its colon; a
                # colon inside a string only makes the count larger): the strict parse decides
                d = _json_object(text, self.line)
            if "format" in d:
                raise TraceFormatError(
                    "a header ('format' field) may only be the first line of a trace", self.line)
            event = d.get("event")
            task = d.get("task")
            poll = d.get("poll")
            detail = d.get("detail")
            if (type(event) is str and event in _TASK_EVENTS and type(task) is int and task >= 0
                    and type(poll) is int and poll >= 0 and len(d) == 3 + ("detail" in d)
                    and "task" in d and (detail is None or type(detail) is str)):
                ev: TraceEvent = new(TraceEvent, (event, task, poll, detail))
            else:
                ev = _event(d, self.line)
            if detail is not None or event == "run_end":
                self._checked(ev)
            self.events_read += 1
            yield ev

    def _checked(self, ev: TraceEvent) -> TraceEvent:
        known = DETAILS[ev.event]
        unknown = self.unknown_details
        if (known is not None and ev.detail not in known and len(unknown) < MAX_UNKNOWN_DETAILS):
            unknown.setdefault((ev.event, ev.detail), self.line)
        return ev

    def line_of(self, index: int) -> int:
        """The file line of event ``index`` (0-based, among the events already read)."""
        before = sum(count for n, count in self._blanks if n <= index)
        return self._events_start + 1 + index + before


# ---------------------------------------------------------------------------------------------
# The recorder
# ---------------------------------------------------------------------------------------------


def attach_trace(trace: object, producer: str, variant: str,
                 params: Mapping[str, int] | None = None) -> Trace | None:
    """What an executor's constructor does with its ``trace=`` argument: ``None`` stays None;
    a :class:`Trace` is told who records into it (:meth:`Trace.recorded_by`) and returned;
    anything else is refused at once, since a wrong object would otherwise fail only at the
    first event, deep inside a poll."""
    if trace is None:
        return None
    if not isinstance(trace, Trace):
        raise TypeError(
            f"trace= must be a refexec.Trace or None, got {type(trace).__name__}: pass "
            "trace=refexec.Trace() to record the run")
    trace.recorded_by(producer, variant, params)
    return trace


class Trace:
    """A list of :class:`TraceEvent`, in the order the executor performed them, and the
    :class:`TraceHeader` that says who recorded them."""

    __slots__ = ("events", "header")

    def __init__(self, events: Iterable[TraceEvent] = (), *,
                 header: TraceHeader | None = None) -> None:
        self.events: list[TraceEvent] = list(events)
        self.header: TraceHeader | None = header
        """Who recorded the events, for what model; None until an executor records into
        this trace (or when a loaded file had no header)."""

    def recorded_by(self, producer: str, variant: str,
                    params: Mapping[str, int] | None = None) -> None:
        """Name the producer and the model variant (with its parameters) this trace records;
        the executors call it when constructed with ``trace=``. The header written by
        :meth:`dump` carries them, so the saved trace is checked against the right model with no
        flags. A trace already recording for another producer or model is refused: its events
        would mix two executors' task ids under one header."""
        new = TraceHeader(producer, variant, dict(params or {}))
        old = self.header
        if old is not None and (old.producer, old.variant, dict(old.params)) != (
                new.producer, new.variant, dict(new.params)):
            raise ValueError(
                f"this Trace already records {old.describe()}; it cannot also record "
                f"{new.describe()}: give each executor its own Trace()")
        if old is None:
            self.header = new

    def record(self, event: str, task: int | None, poll: int, detail: str | None = None) -> None:
        """Append one event (``list.append``: safe from any thread)."""
        self.events.append(TraceEvent(event, task, poll, detail))

    def __iter__(self) -> Iterator[TraceEvent]:
        return iter(self.events)

    def __len__(self) -> int:
        return len(self.events)

    def __repr__(self) -> str:
        return f"Trace({len(self.events)} events)"

    def kinds(self, task: int | None = None) -> list[str]:
        """The event names, in order; only those of ``task`` when given."""
        if task is None:
            return [e.event for e in self.events]
        return [e.event for e in self.events if e.task == task]

    def of_task(self, task: int) -> list[TraceEvent]:
        """The events of one task, in order."""
        return [e for e in self.events if e.task == task]

    def clear(self) -> None:
        """Forget the events (the header stays: the same executor goes on recording)."""
        self.events.clear()

    def _lines(self) -> Iterator[str]:
        yield (self.header or TraceHeader()).to_json() + "\n"
        for e in self.events:
            yield e.to_json() + "\n"

    def to_jsonl(self) -> str:
        """The whole trace as JSON lines: the header, then one event per line (trailing
        newline). A trace no executor recorded gets a header naming no producer or variant."""
        return "".join(self._lines())

    @classmethod
    def from_jsonl(cls, text: str) -> Trace:
        """Parse JSON lines (with or without a header; blank lines are skipped)."""
        reader = TraceReader(text.splitlines())
        return cls(reader, header=reader.header)

    def dump(self, path: str | Path) -> None:
        """Write :meth:`to_jsonl` to ``path``, a line at a time."""
        with Path(path).open("w", encoding="utf-8") as f:
            f.writelines(self._lines())

    @classmethod
    def load(cls, path: str | Path) -> Trace:
        """Read a trace file (see :meth:`from_jsonl`), streaming it line by line."""
        with Path(path).open("rb") as f:
            reader = TraceReader(f)
            return cls(reader, header=reader.header)
