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
``run_start``    ``run()``, ``run_until_stalled()``, ``block_on()`` or ``step()`` began
``run_end``      it returned (``detail``: ``"done"``, ``"stalled"``, ``"interrupted"``,
                 ``"raised"``)

``poll`` is always the task's poll count when the event happened, so a wake carries the number
of the poll during or after which it came. Operations from other threads are recorded when the
executor's loop takes them in (``detail="inbox"``): that is the moment they act on the state.
``SimpleExecutor`` records them where they happen, with ``detail="thread"``.

Recording costs nothing when it is off: the executors test ``trace is not None`` on a local
variable and never build an event. Saved traces are JSON lines, one object per event::

    {"event": "poll", "task": 1, "poll": 1}
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import NamedTuple

__all__ = ["EVENTS", "Trace", "TraceEvent"]

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
    }
)
"""Every event name a trace may hold."""


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
        """Parse one JSON line, checking the event name and field types."""
        d = json.loads(line)
        if not isinstance(d, dict):
            raise ValueError(f"a trace line must be a JSON object, got {line!r}")
        event, task, poll, detail = d.get("event"), d.get("task"), d.get("poll"), d.get("detail")
        if event not in EVENTS:
            raise ValueError(f"unknown trace event {event!r} in line {line!r}")
        if not (task is None or isinstance(task, int)) or not isinstance(poll, int):
            raise ValueError(f"'task' must be an int or null and 'poll' an int: {line!r}")
        if not (detail is None or isinstance(detail, str)):
            raise ValueError(f"'detail' must be a string when present: {line!r}")
        return cls(str(event), task, poll, detail)


class Trace:
    """A list of :class:`TraceEvent`, in the order the executor performed them."""

    __slots__ = ("events",)

    def __init__(self, events: Iterable[TraceEvent] = ()) -> None:
        self.events: list[TraceEvent] = list(events)

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
        self.events.clear()

    def to_jsonl(self) -> str:
        """The whole trace as JSON lines (one event per line, trailing newline)."""
        return "".join(e.to_json() + "\n" for e in self.events)

    @classmethod
    def from_jsonl(cls, text: str) -> Trace:
        """Parse JSON lines written by :meth:`to_jsonl` (blank lines are skipped)."""
        return cls(TraceEvent.from_json(line) for line in text.splitlines() if line.strip())

    def dump(self, path: str | Path) -> None:
        Path(path).write_text(self.to_jsonl(), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> Trace:
        return cls.from_jsonl(Path(path).read_text(encoding="utf-8"))
