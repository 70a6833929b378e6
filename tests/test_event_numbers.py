"""One convention for event numbers (issue 13 §3): ``refexec run``'s table, ``refexec check-trace``
(text and ``--json``) and ``refexec explain`` all count events from 1.

Before, ``check-trace --json`` gave the offending event's 0-based ``index`` while the text report
said ``event #index+1``: a tool and a person reading the same verdict disagreed by one.
"""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path

import pytest
from refexec import Executor, Trace, TraceEvent
from refexec.cli import main
from refexec.examples.cli_run import format_table
from refexec.models.trace_check import PropertyHit, TraceCheckResult
from refexec.models.trace_file import TraceFileResult


def _broken_hello(tmp_path: Path) -> tuple[Path, list[TraceEvent]]:
    """The hello example's trace with its first ``wake_by_ref`` removed (the model then cannot
    explain a later event)."""
    tr = Trace()
    importlib.import_module("refexec.examples.hello").main(Executor(trace=tr))
    events = list(tr)
    del events[next(i for i, e in enumerate(events) if e.event == "wake_by_ref")]
    path = tmp_path / "bad.jsonl"
    Trace(events).dump(path)
    return path, events


def test_check_trace_json_and_text_and_run_table_number_the_same_event(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path, events = _broken_hello(tmp_path)
    assert main(["check-trace", str(path), "--variant", "reference"]) == 1
    text = capsys.readouterr().out
    shown = int(re.search(r"^event #(\d+):", text, re.M).group(1))  # type: ignore[union-attr]

    assert main(["check-trace", str(path), "--json", "--variant", "reference"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["violation"]["event_number"] == shown
    assert "index" not in data["violation"]  # the old 0-based field is gone, not kept beside
    # event number k is the k-th event: the one the JSON shows, and row k of run's table
    assert events[shown - 1]._asdict() == data["violation"]["event"]
    row = next(r for r in format_table(events)[1:] if r.split()[0] == str(shown))
    assert row.split()[1] == events[shown - 1].event


def test_property_hits_are_numbered_from_one_in_json_as_in_text() -> None:
    hit = PropertyHit("EX-X", 4, "a property")
    result = TraceFileResult(
        "t.jsonl", None, "reference", {},
        TraceCheckResult("reference", 9, None, properties=(hit,)),
    )
    assert "violated at event #5" in result.report()
    assert result.to_dict()["properties_violated"] == [
        {"id": "EX-X", "event_number": 5, "title": "a property"}]


def test_explain_numbers_actions_from_one_after_the_initial_state(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["explain", "double-enqueue", "EX-QUEUE-EXACT", "--no-mermaid"]) == 0
    out = capsys.readouterr().out
    rows = [ln.split("|") for ln in out.splitlines() if re.match(r"^\d+ *\|", ln)]
    assert rows[0][0].strip() == "0" and rows[0][1].strip() == "init"
    assert [int(r[0]) for r in rows[1:]] == list(range(1, len(rows)))
