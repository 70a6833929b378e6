"""The pytest plugin (refexec.pytest_plugin): a user's test suite run in a fresh pytest process.

Each test writes a small test module, runs pytest on it in a subprocess (with the project's own
strictness: ``--strict-markers``, warnings as errors) and asserts on the outcome and output.
``-p no:refexec -p refexec.pytest_plugin`` loads the plugin whether or not the entry point of
this checkout is installed.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from importlib.metadata import entry_points
from pathlib import Path

import pytest

USER_TESTS = '''
import pytest
import refexec


def bank_main():
    async def main():
        state = {"balance": 100}

        async def withdraw(n):
            if state["balance"] >= n:
                await refexec.yield_now()
                state["balance"] -= n

        a = refexec.spawn(withdraw(80))
        await refexec.yield_now()
        b = refexec.spawn(withdraw(80))
        await a
        await b
        refexec.always(state["balance"] >= 0, "balance never negative")
    return main


@pytest.fixture
def amount():
    return 80


@pytest.mark.refexec
async def test_runs_on_refexec(amount):
    await refexec.sleep(3600)  # virtual time: no real wait
    assert refexec.current_task() is not None
    assert amount == 80


@pytest.mark.refexec(explore=100, strategy="random")
async def test_overdraw():
    await bank_main()()


@pytest.mark.refexec(explore=50, strategy="dfs", bound=2)
async def test_clean():
    lock = refexec.Lock()
    hits = []

    async def w(i):
        async with lock:
            hits.append(i)
            await refexec.yield_now()

    hs = [refexec.spawn(w(i)) for i in range(2)]
    for h in hs:
        await h
    assert sorted(hits) == [0, 1]


def test_plain():
    assert True
'''


def _pytest(
    tmp_path: Path, *args: str, source: str = USER_TESTS
) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_user.py").write_text(textwrap.dedent(source))
    cmd = [
        # looptime (a bench extra's plugin) fails at every fixture without pytest-asyncio
        sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:refexec",
        "-p", "no:looptime_plugin",
        "-p", "refexec.pytest_plugin", "--strict-markers", "-W", "error", "-q",
        "--rootdir", str(tmp_path), str(tmp_path / "test_user.py"), *args,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=300,
                          check=False)


def test_entry_point_is_declared() -> None:
    text = (Path(__file__).parent.parent / "pyproject.toml").read_text()
    assert '[project.entry-points.pytest11]\nrefexec = "refexec.pytest_plugin"' in text
    eps = [e for e in entry_points(group="pytest11") if e.value == "refexec.pytest_plugin"]
    if not eps:
        pytest.fail("the pytest11 entry point is not installed: run `pip install -e .` again")


def test_marked_tests_run_and_an_explored_bug_fails_with_its_replay_line(tmp_path: Path) -> None:
    out = _pytest(tmp_path)
    text = out.stdout + out.stderr
    assert out.returncode == 1, text
    assert "1 failed, 3 passed" in text
    assert "FAILED test_user.py::test_overdraw" in text
    assert "always: always('balance never negative') was false" in text
    m = re.search(r"--refexec-replay '([^']+)'", text)
    assert m is not None, text
    assert m.group(1) != "fifo"
    line = f"replay this run: pytest 'test_user.py::test_overdraw' --refexec-replay '{m.group(1)}'"
    assert line in text
    assert "pytest_plugin.py" not in text  # the plugin's own frames are hidden


def test_replay_option_reproduces_the_failure(tmp_path: Path) -> None:
    first = _pytest(tmp_path, "-k", "overdraw")
    m = re.search(r"--refexec-replay '([^']+)'", first.stdout)
    assert m is not None, first.stdout
    schedule = m.group(1)
    again = _pytest(tmp_path, "-k", "overdraw", "--refexec-replay", schedule)
    assert again.returncode == 1
    assert f"schedule: {schedule} " in again.stdout
    fifo = _pytest(tmp_path, "-k", "overdraw", "--refexec-replay", "fifo")
    assert fifo.returncode == 0, fifo.stdout  # FIFO happens to pass


def test_seed_option_is_deterministic(tmp_path: Path) -> None:
    a = _pytest(tmp_path, "-k", "overdraw", "--refexec-seed", "5")
    b = _pytest(tmp_path, "-k", "overdraw", "--refexec-seed", "5")
    sched = [re.search(r"--refexec-replay '([^']+)'", r.stdout) for r in (a, b)]
    assert sched[0] is not None and sched[1] is not None
    assert sched[0].group(1) == sched[1].group(1)
    assert "seed=5" in a.stdout


def test_mark_on_a_sync_test_is_a_usage_error(tmp_path: Path) -> None:
    out = _pytest(tmp_path, source='''
        import pytest

        @pytest.mark.refexec
        def test_sync():
            pass
    ''')
    assert out.returncode != 0
    assert "not an async def test" in out.stdout + out.stderr


def test_bad_explore_count_is_a_usage_error(tmp_path: Path) -> None:
    out = _pytest(tmp_path, source='''
        import pytest

        @pytest.mark.refexec(explore=True)
        async def test_it():
            pass
    ''')
    assert out.returncode != 0
    assert "takes the number of schedules" in out.stdout + out.stderr


def test_sometimes_never_true_fails_an_explored_test(tmp_path: Path) -> None:
    out = _pytest(tmp_path, source='''
        import pytest
        import refexec

        @pytest.mark.refexec(explore=5)
        async def test_vacuous():
            refexec.sometimes(False, "the interesting case")
    ''')
    assert out.returncode == 1
    assert "the interesting case" in out.stdout


def test_plugin_works_under_xdist(tmp_path: Path) -> None:
    out = _pytest(tmp_path, "-n", "2")
    text = out.stdout + out.stderr
    assert out.returncode == 1, text
    assert "1 failed, 3 passed" in text
    assert "--refexec-replay '" in text
