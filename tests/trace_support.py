"""Helpers the trace-check tests share (not a test module)."""

from __future__ import annotations

from refexec import TraceEvent
from refexec.models.trace_check import check_trace


def where(events: list[TraceEvent], kind: str, nth: int = 0) -> int:
    """The index of the ``nth`` event of ``kind``."""
    return [i for i, e in enumerate(events) if e.event == kind][nth]


def invalid_at(events: list[TraceEvent], index: int, why: str) -> None:
    """The checker rejects ``events`` at ``index``, for a reason that says ``why``."""
    r = check_trace(events)
    assert not r.ok, r.report()
    assert r.violation is not None
    assert r.violation.index == index, r.report()
    assert why in r.violation.reason, r.report()
