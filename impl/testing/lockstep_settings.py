"""Hypothesis settings for the lockstep machines, derived from the active profile.

The project registers its ``ci`` and ``deep`` profiles in ``tests/conftest.py``; the lockstep
machines run :data:`CI_EXAMPLES` examples, or :data:`DEEP_EXAMPLES` when the ``deep`` profile
is active (``pytest --deep`` or ``REFEXEC_PROFILE=deep``), on top of the active profile's other
settings. They add what stateful runs need: a step budget per example, no deadline (a ``run()``
waits for real threads), and no health check on data size (scripts nest).
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

__all__ = ["CI_EXAMPLES", "DEEP_EXAMPLES", "deep_active", "lockstep_settings"]

CI_EXAMPLES = 500
"""Examples per lockstep machine in CI: enough to catch every injected bug (see the tests)."""
DEEP_EXAMPLES = 5000


def deep_active() -> bool:
    """Whether the deep tier is selected (``--deep`` or ``REFEXEC_PROFILE=deep``)."""
    return os.environ.get("REFEXEC_PROFILE") == "deep" or (
        settings.get_current_profile_name() == "deep"
    )


def lockstep_settings(*, max_examples: int | None = None, steps: int = 50) -> settings:
    """Settings for one lockstep machine: the active profile plus stateful needs."""
    if max_examples is None:
        max_examples = DEEP_EXAMPLES if deep_active() else CI_EXAMPLES
    return settings(
        settings.default,
        max_examples=max_examples,
        stateful_step_count=steps,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                               HealthCheck.filter_too_much],
    )
