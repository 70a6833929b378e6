"""The refexec pytest plugin (entry point ``pytest11``: on whenever refexec is installed).

* ``@pytest.mark.refexec`` runs an ``async def`` test on refexec: one run, FIFO, on a virtual
  clock (sleeps take no time), checked as :func:`refexec.explore` checks a run (an exception
  out of any task, ``always``, a deadlock, a lost task, a coroutine never awaited);
* ``@pytest.mark.refexec(explore=200, strategy="pct")`` explores it: the keyword arguments
  other than ``explore`` go to :func:`refexec.explore` (``strategy``, ``bound``, ``depth``,
  ``max_steps``, ``stall_timeout``, ``seed``...); a ``sometimes`` never true fails the test;
* ``--refexec-seed N`` overrides the seed of every explored test;
* ``--refexec-replay SCHEDULE`` runs every selected refexec test once, under that schedule.

A failure prints the failure kind, the schedule and the one-line command that replays it.
Fixtures are passed in as usual (synchronous fixtures; an async fixture is not run on refexec).
The plugin changes nothing for tests without the mark.
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from refexec.explore import ExploreReport, Failure, RunResult, explore, replay

__all__ = ["pytest_addoption", "pytest_configure", "pytest_pyfunc_call"]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("refexec", "refexec schedule exploration")
    group.addoption(
        "--refexec-seed", type=int, default=None, metavar="N",
        help="seed for every @pytest.mark.refexec(explore=...) test (overrides the mark's)",
    )
    group.addoption(
        "--refexec-replay", default=None, metavar="SCHEDULE",
        help="run the selected @pytest.mark.refexec tests once, under this schedule",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "refexec(explore=0, **options): run this async def test on refexec (explore=N: under N "
        "schedules, options as for refexec.explore)",
    )


class RefexecTestFailed(AssertionError):
    """A refexec-marked test failed under a schedule (the message says how to replay it)."""


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    marker = pyfuncitem.get_closest_marker("refexec")
    if marker is None:
        return None
    __tracebackhide__ = True  # the failure is in the user's test, not in this hook
    fn = pyfuncitem.obj
    if not inspect.iscoroutinefunction(fn):
        raise pytest.UsageError(
            f"@pytest.mark.refexec marks {pyfuncitem.nodeid}, which is not an async def test: "
            "the mark runs a coroutine function on refexec"
        )
    if marker.args:
        raise pytest.UsageError(
            f"@pytest.mark.refexec takes keyword arguments only (explore=N, strategy=...), got "
            f"{marker.args!r} on {pyfuncitem.nodeid}"
        )
    names = pyfuncitem._fixtureinfo.argnames
    kwargs = {name: pyfuncitem.funcargs[name] for name in names}

    def main() -> Any:
        return fn(**kwargs)

    config = pyfuncitem.config
    options = dict(marker.kwargs)
    n = options.pop("explore", 0)
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise pytest.UsageError(
            f"@pytest.mark.refexec(explore=N) takes the number of schedules to run (an int "
            f">= 1; 0 for one FIFO run), got {n!r} on {pyfuncitem.nodeid}"
        )
    schedule = config.getoption("--refexec-replay")
    seed = config.getoption("--refexec-seed")
    if seed is not None:
        options["seed"] = seed
    run_opts = {k: options[k] for k in ("max_steps", "stall_timeout") if k in options}
    if schedule is not None:
        _check_run(pyfuncitem, replay(main, schedule, check=False, **run_opts))
    elif n:
        _check_report(pyfuncitem, explore(main, max_schedules=n, **options))
    else:
        _check_run(pyfuncitem, replay(main, "fifo", check=False, **run_opts))
    return True


def _replay_line(item: pytest.Function, failure: Failure) -> str:
    return f"pytest '{item.nodeid}' --refexec-replay '{failure.schedule}'"


def _fail(item: pytest.Function, failure: Failure, head: str) -> None:
    __tracebackhide__ = True
    msg = f"{head}\n{failure}\nreplay this run: {_replay_line(item, failure)}"
    raise RefexecTestFailed(msg) from failure.exception


def _check_run(item: pytest.Function, res: RunResult) -> None:
    __tracebackhide__ = True
    if res.failure is not None:
        _fail(item, res.failure, f"refexec: the run failed ({res.steps} steps)")


def _check_report(item: pytest.Function, report: ExploreReport) -> None:
    __tracebackhide__ = True
    if report.failure is not None:
        _fail(item, report.failure, str(report).split("\nFAILED", 1)[0])
    if report.sometimes_missed:
        raise RefexecTestFailed(
            f"{report}\nno explored schedule made these sometimes() conditions true: the test "
            "never exercised the case they describe (explore more schedules, or check them)"
        )
