"""Test tiers: the fast CI tier by default; ``--deep`` (or ``REFEXEC_PROFILE=deep``) runs the
tests marked ``@pytest.mark.deep`` and selects the Hypothesis profile ``deep``."""

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


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--deep", action="store_true", default=False,
                     help="run the deep tier (@pytest.mark.deep) and the 'deep' Hypothesis profile")


def _deep(config: pytest.Config) -> bool:
    return (
        bool(config.getoption("--deep"))
        or os.environ.get("REFEXEC_PROFILE") == "deep"
        or bool(os.environ.get("REFEXEC_DEEP"))
    )


def pytest_configure(config: pytest.Config) -> None:
    if _deep(config):
        os.environ["REFEXEC_DEEP"] = "1"  # the older spelling some deep tests check
    settings.load_profile("deep" if _deep(config) else os.environ.get("REFEXEC_PROFILE", "ci"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _deep(config):
        return
    skip = pytest.mark.skip(reason="deep tier: run with --deep or REFEXEC_PROFILE=deep")
    for item in items:
        if "deep" in item.keywords:
            item.add_marker(skip)
