"""``refexec verify`` and ``refexec explain``: output and exit codes (small runs)."""

from __future__ import annotations

import json

import pytest
from refexec.cli import main


def test_verify_one_mutant_prints_table_and_succeeds(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["verify", "--variant", "mutant:lost-unreported", "--jobs", "1"])
    out, err = capsys.readouterr()
    assert code == 0
    assert "mutant:lost-unreported" in out
    assert "viol@5" in out and "caught" in out
    assert out.strip().splitlines()[-1].startswith("OK: 1/1 mutants caught")
    assert "exhaustive" in err and "symbolic" in err  # progress goes to stderr


def test_verify_reference_proved_with_json(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["verify", "--variant", "reference", "--bound", "3", "--json", "-q",
                 "--no-exhaustive"])
    out, err = capsys.readouterr()
    assert code == 0
    assert err == ""
    data = json.loads(out)
    ref = data["variants"]["reference"]
    assert ref["status"] == "proved"
    assert all(p["symbolic"]["status"] == "proved" for p in ref["properties"].values())
    assert ref["termination"]["ok"] is True
    assert any(x.startswith("AUX-") for x in ref["inductive_invariant"])


def test_verify_fails_when_the_reference_is_not_proved(capsys: pytest.CaptureFixture[str]) -> None:
    # without the symbolic checker nothing is proved for unbounded depth: exit status 1
    code = main(["verify", "--variant", "reference", "--property", "EX-FIFO",
                 "--no-symbolic", "--bound", "4", "-q"])
    out, _ = capsys.readouterr()
    assert code == 1
    assert "NOT PROVED" in out
    assert out.strip().splitlines()[-1].startswith("FAILED")


@pytest.mark.parametrize("argv", [
    ["verify", "--variant", "nope"],
    ["verify", "--property", "EX-NOPE"],
    ["verify", "--no-exhaustive", "--no-symbolic"],
])
def test_verify_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "valid" in err or "nothing to do" in err


def test_verify_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", "--list"]) == 0
    out = capsys.readouterr().out
    assert "reference" in out and "EX-FIFO" in out


@pytest.mark.parametrize("checker", ["exhaustive", "z3"])
def test_explain_prints_table_and_mermaid(checker: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["explain", "mutant:unlocked-decision", "EX-RUN-END", "--checker", checker])
    out = capsys.readouterr().out
    assert code == 0
    assert "shortest counterexample: 6 steps" in out
    lines = out.splitlines()
    assert any(line.startswith("6 | run_end()") for line in lines)
    assert "sequenceDiagram" in out and "participant L as run loop" in out
    assert "O->>L" in out  # the other thread's spawn


def test_explain_property_that_holds_is_a_verdict_not_a_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["explain", "mutant:lost-unreported", "EX-FIFO"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("nothing to explain (holds): EX-FIFO")


@pytest.mark.parametrize("argv", [
    ["explain", "nope", "EX-FIFO"],
    ["explain", "reference", "EX-NOPE"],
])
def test_explain_unknown_names_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert "valid" in capsys.readouterr().err


@pytest.mark.parametrize(("variant", "pid"), [("threads", "EX-CLOSE-FINAL"),
                                               ("reference", "EX-NO-LOST-WAKE")])
def test_one_property_alone_is_proved_as_in_the_full_run(variant: str, pid: str) -> None:
    """``refexec verify --property P`` used to drop the other invariant properties from the
    inductive invariant, so a property the full run proves was reported NOT PROVED alone."""
    from refexec.models.verify import check_variant  # noqa: PLC0415

    rep = check_variant(variant, properties=[pid], exhaustive=False)
    assert rep.cells[pid].symbolic.status == "proved", rep.status_text()
