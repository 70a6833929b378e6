"""Counterexample -> regression test (issue 4 §3): the seed model's findings on SimpleExecutor.

(a) the generated files in ``tests/regressions/`` are what the checker's counterexamples give
today (regenerate with ``python -m refexec.models.repro --write tests/regressions``);
(b) every finding, translated into a program and run on SimpleExecutor, shows the behaviour the
model predicts, and its trace, checked against the seed model, violates the same property;
(c) the comparison can fail: a finding's program does not show another finding's behaviour, and
z3's counterexamples translate into programs that reproduce the same findings.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from refexec.models.repro import (
    FINDINGS,
    Counterexample,
    Poll_,
    Program,
    Untranslatable,
    agreement,
    derive,
    expected_files,
    run_program,
    translate,
)
from refexec.models.variants import expected_violations

REGRESSIONS = Path(__file__).resolve().parent / "regressions"
REGEN = "python -m refexec.models.repro --write tests/regressions"


@pytest.fixture(scope="module")
def findings() -> dict[str, Counterexample]:
    return derive("exhaustive")


def test_every_seed_finding_has_a_counterexample(findings: dict[str, Counterexample]) -> None:
    assert set(findings) == set(FINDINGS)
    # the self-block needs the channel filled: the checker works at the seed's capacity, 100
    assert len(findings["EX-NO-SELF-BLOCK"].actions) > 100
    assert findings["EX-NO-SELF-BLOCK"].capacity == 100


def test_generated_regression_tests_are_up_to_date() -> None:
    want = expected_files("exhaustive")
    have = {p.name: p.read_text(encoding="utf-8") for p in REGRESSIONS.glob("test_seed_*.py")}
    assert sorted(have) == sorted(want), f"regression files differ; run: {REGEN}"
    stale = [name for name, text in want.items() if have[name] != text]
    assert not stale, f"out of date: {stale}; run: {REGEN}"


@pytest.mark.parametrize("pid", list(FINDINGS))
def test_model_prediction_and_simple_executor_agree(
    pid: str, findings: dict[str, Counterexample]
) -> None:
    outcome = run_program(translate(findings[pid]))
    assert agreement(pid, outcome) == []


def test_a_findings_program_does_not_show_the_others(findings: dict[str, Counterexample]) -> None:
    """The agreement check is specific: each program shows its own finding's behaviour only
    where the behaviours are distinct (a silent loss is no deadlock, and so on)."""
    outcomes = {pid: run_program(translate(cx)) for pid, cx in findings.items()}
    for pid, outcome in outcomes.items():
        for other in FINDINGS:
            if other != pid:
                assert agreement(other, outcome) != [], (pid, other)


def test_translation_follows_the_path_poll_by_poll(findings: dict[str, Counterexample]) -> None:
    lost = translate(findings["EX-LOST-REPORTED"])
    assert lost.before_run == (("spawn", 0, 1),)
    assert lost.tasks == ((Poll_((), ready=False),),)
    block = translate(findings["EX-NO-SELF-BLOCK"])
    # 101 wakes in one poll: 100 fill the channel, the 101st would block the loop's own thread
    assert block.tasks[0][0].ops == (("wake_by_ref", 0, 101),)
    finished = translate(findings["EX-SLEEP-SAFE"])
    assert finished.tasks[0][0] == Poll_((("clone", 0, 1),), ready=True)


def test_a_program_that_does_nothing_wrong_agrees_with_no_finding() -> None:
    healthy = Program(100, ((Poll_((("wake_by_ref", 0, 1),), ready=False), Poll_((), True)),),
                      (("spawn", 0, 1),))
    outcome = run_program(healthy)
    assert outcome.raised is None and outcome.dropped_pending == 0
    for pid in FINDINGS:
        assert agreement(pid, outcome) != []


def test_remote_actions_during_a_poll_are_refused() -> None:
    cx = Counterexample("EX-LOST-REPORTED", "hand", (
        ("spawn", (("remote", 1),)),), 100)
    with pytest.raises(Untranslatable):
        translate(cx)


def test_z3_counterexamples_reproduce_the_same_findings() -> None:
    """The shallow findings come from z3's BMC too (the self-block, 104 steps deep, from the
    exhaustive explorer): the shortest paths have the same length and reproduce likewise."""
    by_z3 = derive("z3", z3_depth=6)
    by_bfs = derive("exhaustive")
    for pid, cx in by_z3.items():
        assert len(cx.actions) == len(by_bfs[pid].actions), pid
        if cx.source == "z3":
            assert agreement(pid, run_program(translate(cx))) == []
    assert {cx.source for cx in by_z3.values()} == {"z3", "exhaustive"}


def test_every_expected_seed_violation_has_a_regression() -> None:
    """A new seed finding in the model's expectations needs its reproduction here too."""
    # EX-PROGRESS's seed violation is the self-block itself (the loop stuck on its own full
    # channel, the same 104 steps): reproduced by the EX-NO-SELF-BLOCK regression.
    assert set(FINDINGS) == set(expected_violations("seed")) - {"EX-PROGRESS"}
    assert "EX-NO-SELF-BLOCK" in FINDINGS
