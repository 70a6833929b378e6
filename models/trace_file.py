"""Checking a trace *file* end to end: read its header, pick the model, stream the events.

:func:`~refexec.models.trace_check.check_trace` judges a sequence of events against a model
variant it is told. A file on disk (or a pipe) adds three questions this module answers before
any event is judged:

* Which model? The header (``spec/TRACE-FORMAT.md``) names the variant and its parameters, so a
  file needs no flags. A caller may still name them; if they disagree with the header, the check
  is refused rather than run: a SimpleExecutor trace checked against the reference design is
  "INVALID" for a reason that has nothing to do with the run, and a seed trace checked at the
  wrong capacity can be "VALID" for a run that never happened. A file without a header (an
  older producer's) is checked when the caller names the variant, and refused when nobody does.
* Is it a trace at all? Every malformed line is a :class:`TraceFileError` that names the file and
  the line; an empty file, or one of blank lines only, is refused as such (it is not a valid run
  of nothing).
* How big? The file is read as a stream, one line at a time, and the events are handed to the
  checker as they are parsed; nothing here holds more than the current line, so a trace of
  millions of events costs what the checker keeps for the live tasks.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from refexec.models.trace_check import TraceCheckError, TraceCheckResult, check_trace
from refexec.trace import TraceFormatError, TraceHeader, TraceReader

__all__ = [
    "MODEL_PARAMS",
    "TraceFileError",
    "TraceFileResult",
    "check_trace_file",
    "resolve_model",
]

MODEL_PARAMS: Mapping[str, Mapping[str, int]] = {
    "reference": {},
    "reference-any": {},
    "seed": {"capacity": 100},
}
"""The model variants a trace file can name, with each one's parameters and their defaults (the
seed's channel capacity is the seed's own 100). A parameter not listed for a variant is refused:
a checker that ignored it would judge a different system than the one that ran."""


class TraceFileError(TraceCheckError):
    """A trace file that cannot be checked: unreadable, malformed, empty, or meant for another
    model than the one asked for. ``source`` names the file, ``line`` the line (or None)."""

    def __init__(self, source: str, reason: str, line: int | None = None) -> None:
        where = source if line is None else f"{source}: line {line}"
        super().__init__(f"{where}: {reason}")
        self.source = source
        self.reason = reason
        self.line = line


@dataclass(frozen=True)
class TraceFileResult:
    """The verdict on a file: the checker's :class:`TraceCheckResult` plus what the file said.

    ``complete`` is the checker's (a trace cut inside a run is a *prefix* of a run: valid so far,
    not a whole run); ``violation_line`` is the file line of the first event the model does not
    explain, so an editor can jump to it.
    """

    source: str
    header: TraceHeader | None
    variant: str
    params: Mapping[str, int]
    result: TraceCheckResult
    violation_line: int | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return self.result.ok

    @property
    def complete(self) -> bool:
        """False when the checker says the trace is a prefix of a run (see module docstring)."""
        return self.result.complete

    @property
    def valid(self) -> bool:
        """A whole run the model allows: no event contradicts it, and the trace is complete."""
        return self.result.valid

    def __bool__(self) -> bool:
        return self.valid

    def exit_status(self) -> int:
        """``refexec check-trace``'s exit status: 0 valid, 1 invalid, 3 valid but incomplete."""
        if not self.ok:
            return 1
        return 0 if self.complete else 3

    def origin(self) -> str:
        """Where the model came from, for the first line of the report."""
        ps = ", ".join(f"{k}={v}" for k, v in sorted(self.params.items()))
        model = f"model '{self.variant}'" + (f" ({ps})" if ps else "")
        if self.header is None:
            return f"{self.source}: no header; checked against {model} as asked"
        return f"{self.source}: recorded by {self.header.producer or 'an unnamed producer'}, " \
               f"checked against {model}"

    def report(self) -> str:
        """What ``refexec check-trace`` prints: the origin, the verdict, and where in the file."""
        lines = [self.origin()]
        body = self.result.report().splitlines()
        lines.extend(body)
        if self.violation_line is not None:
            lines.append(f"the first unexplained event is line {self.violation_line} of "
                         f"{self.source}")
        lines.extend(f"note: {n}" for n in self.notes)
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """The verdict as JSON-ready data (``refexec check-trace --json``).

        Events are numbered from 1 here too (``event_number``), as in the text report, in
        ``refexec run``'s table and in ``refexec explain``'s steps: event number k is the k-th
        event of the trace, so one convention holds wherever a person or a tool reads one."""
        r = self.result
        v = r.violation
        return {
            "file": self.source,
            "valid": r.ok,
            "complete": self.complete,
            "variant": self.variant,
            "params": dict(self.params),
            "header": None if self.header is None else {
                "producer": self.header.producer, "variant": self.header.variant,
                "params": dict(self.header.params), "version": self.header.version},
            "events": r.events,
            "tasks": r.spawned,
            "violation": None if v is None else {
                "event_number": v.index + 1, "line": self.violation_line,
                "event": v.event._asdict(), "reason": v.reason, "state": v.state,
            },
            "properties_violated": [
                {"id": p.id, "event_number": p.index + 1, "title": p.title} for p in r.properties
            ],
            "notes": [*r.notes, *self.notes],
        }


def resolve_model(source: str, header: TraceHeader | None, variant: str | None,
                  capacity: int | None) -> tuple[str, dict[str, int], tuple[str, ...]]:
    """The variant and parameters to check against, from the header and the caller's choice;
    refuses a disagreement. Returns ``(variant, params, notes)``."""
    if capacity is not None and (type(capacity) is not int or capacity < 1):
        raise TraceFileError(source, f"capacity must be a positive integer, got {capacity!r}")
    named = header.variant if header is not None else None
    if named is not None and variant is not None and named != variant:
        raise TraceFileError(
            source, f"the header says this trace was recorded for model '{named}'; checking it "
                    f"against '{variant}' is refused (leave the variant out, or name "
                    f"'{named}')")
    chosen = variant if variant is not None else named
    if chosen is None:
        why = "has no header" if header is None else "has a header that names no model variant"
        raise TraceFileError(
            source, f"{why}: name the model to check it against (--variant "
                    f"{' or --variant '.join(MODEL_PARAMS)})")
    if chosen not in MODEL_PARAMS:
        said = "the header names" if variant is None else "asked for"
        raise TraceFileError(
            source, f"{said} model variant {chosen!r}, which refexec does not know (known: "
                    f"{', '.join(MODEL_PARAMS)})")
    defaults = MODEL_PARAMS[chosen]
    recorded = dict(header.params) if header is not None else {}
    unknown = sorted(set(recorded) - set(defaults))
    if unknown:
        raise TraceFileError(
            source, f"the header gives the '{chosen}' model parameter(s) "
                    f"{', '.join(map(repr, unknown))} it does not have (it has: "
                    f"{', '.join(defaults) or 'none'})")
    for k, v in recorded.items():
        if v < 1:
            raise TraceFileError(source, f"the header's {k} must be positive, got {v}")
    if capacity is not None:
        if "capacity" not in defaults:
            raise TraceFileError(
                source, f"capacity is a parameter of the seed model only, not of '{chosen}'")
        if "capacity" in recorded and recorded["capacity"] != capacity:
            raise TraceFileError(
                source, f"the header says the trace was recorded at capacity "
                        f"{recorded['capacity']}; checking it at capacity {capacity} is "
                        f"refused (leave the capacity out, or give {recorded['capacity']})")
        recorded["capacity"] = capacity
    notes = tuple(f"{k} not recorded in the trace: the model's default {v} was assumed"
                  for k, v in defaults.items() if k not in recorded)
    return chosen, {**defaults, **recorded}, notes


def check_trace_file(
    source: str | os.PathLike[str] | IO[bytes] | IO[str],
    variant: str | None = None,
    *,
    capacity: int | None = None,
    properties: bool | None = None,
    name: str | None = None,
) -> TraceFileResult:
    """Check a trace file (a path, or an open stream such as ``sys.stdin.buffer``) against the
    model its header names, or ``variant``/``capacity`` when given (they must agree with the
    header). ``name`` is what errors and reports call a stream (default ``<stream>``).

    Raises :class:`TraceFileError` (a ``TraceCheckError``, a ``ValueError``) when the file
    cannot be checked; returns the verdict otherwise.
    """
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        label = name or path
        if path == "":
            raise TraceFileError(
                "''", "an empty file name: name a trace file, or '-' for standard input "
                      "on the command line")
        try:
            stream: IO[Any] = Path(path).open("rb")  # noqa: SIM115 (closed below)
        except IsADirectoryError:
            raise TraceFileError(label, "is a directory, not a trace file") from None
        except FileNotFoundError:
            raise TraceFileError(label, "no such file") from None
        except OSError as e:
            raise TraceFileError(label, f"cannot be read: {e.strerror or e}") from None
        with stream:
            return _check_stream(stream, label, variant, capacity, properties)
    return _check_stream(source, name or "<stream>", variant, capacity, properties)


def _check_stream(stream: IO[Any], label: str, variant: str | None, capacity: int | None,
                  properties: bool | None) -> TraceFileResult:
    try:
        reader = TraceReader(stream)
        events = iter(reader)
        first = next(events, None)
        if first is None:
            if reader.header is not None:
                why = "has a header but no events"
            elif reader.line == 0:
                why = "is empty"
            else:
                why = "has only blank lines"
            raise TraceFileError(label, f"{why}: there is no run to check (a trace has at "
                                        "least one event)")
        var, params, notes = resolve_model(label, reader.header, variant, capacity)
        result = check_trace(itertools.chain((first,), events), var,
                             capacity=params.get("capacity", 100), properties=properties)
    except TraceFormatError as e:
        raise TraceFileError(label, e.reason, e.line) from None
    except TraceFileError:
        raise
    except TraceCheckError as e:  # the checker cannot judge the events (too ambiguous, ...)
        raise TraceFileError(label, str(e)) from None
    except OSError as e:  # a read failing half-way (a device error, a directory on some systems)
        raise TraceFileError(label, f"cannot be read: {e.strerror or e}") from None
    v = result.violation
    line = reader.line_of(v.index) if v is not None and v.index < reader.events_read else None
    notes += tuple(
        f"line {n}: detail {d!r} of a {e} event is not one the trace format defines "
        "(spec/TRACE-FORMAT.md, section 3.2); it was read as is"
        for (e, d), n in reader.unknown_details.items())
    return TraceFileResult(label, reader.header, var, params, result, line, notes)
