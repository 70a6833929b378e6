"""Test tiers, one switch each:

* default (CI, the README's ``python -m pytest -n 2``): everything but ``@pytest.mark.deep``,
  with the Hypothesis profile ``ci``;
* ``--deep`` or ``REFEXEC_PROFILE=deep``: the deep tier too (``@pytest.mark.deep``), with the
  Hypothesis profile ``deep`` (``refexec.testing.lockstep_settings`` reads the same switch);
* ``-m "not slow"``: the fast tier, for a quick check while editing (under two minutes on two
  cores): it leaves out the modules listed in ``SLOW_MODULES`` (model checking with z3 and the
  exhaustive explorer, the lockstep machines, the bug hunts), which CI still runs.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "deep", max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

SLOW_MODULES = frozenset({
    "test_agreement",
    "test_benchmarks_smoke",
    "test_chc",
    "test_cli_verify",
    "test_injected_bugs",
    "test_lockstep_asyncio",
    "test_lockstep_reference",
    "test_lockstep_seed",
    "test_model_exhaustive",
    "test_model_witnesses",
    "test_mutation_survivors",
    "test_package",
    "test_parametric",
    "test_proofs",
    "test_repro_seed",
    "test_symbolic",
})
"""Test modules of the full tier only (marked ``slow``): each takes tens of seconds or more."""


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--deep", action="store_true", default=False,
                     help="run the deep tier (@pytest.mark.deep) and the 'deep' Hypothesis profile")


def _deep(config: pytest.Config) -> bool:
    return bool(config.getoption("--deep")) or os.environ.get("REFEXEC_PROFILE") == "deep"


def pytest_configure(config: pytest.Config) -> None:
    if "REFEXEC_DEEP" in os.environ:
        # The old second switch: refuse it rather than silently run the fast tier instead.
        raise pytest.UsageError(
            "REFEXEC_DEEP is not read any more: select the deep tier with `pytest --deep` or "
            "REFEXEC_PROFILE=deep"
        )
    if _deep(config):
        os.environ["REFEXEC_PROFILE"] = "deep"  # what refexec.testing.lockstep_settings reads
    settings.load_profile("deep" if _deep(config) else os.environ.get("REFEXEC_PROFILE", "ci"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    slow = pytest.mark.slow
    for item in items:
        if item.path.stem in SLOW_MODULES:
            item.add_marker(slow)
    if _deep(config):
        return
    skip = pytest.mark.skip(reason="deep tier: run with --deep or REFEXEC_PROFILE=deep")
    for item in items:
        if "deep" in item.keywords:
            item.add_marker(skip)
