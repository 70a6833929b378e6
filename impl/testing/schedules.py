"""``refexec.testing.schedules``: a Hypothesis strategy of schedules, to shrink and store them.

A schedule drawn before the program runs cannot name its options (nobody knows the labels
yet), so its entries are ``(step, "#i")``: at that step take option ``i`` modulo the number of
options. :func:`refexec.replay` follows such a schedule leniently, and its result's
``schedule`` is the concrete one (real labels) that replays exactly::

    from hypothesis import given
    from refexec.testing.schedules import schedules

    @given(schedules())
    def test_transfer(schedule):
        refexec.replay(main, schedule)      # raises ExplorationFailed on a failing run

Hypothesis shrinks a failing schedule towards FIFO (fewer entries, earlier steps, smaller
indices) and keeps it in its example database, so the next run starts from it.
"""

from __future__ import annotations

from hypothesis import strategies as st
from refexec.schedule import Schedule

__all__ = ["schedules"]


def _schedule(entries: list[tuple[int, int]]) -> Schedule:
    return Schedule(sorted((step, f"#{i}") for step, i in entries))


def schedules(
    *, max_deviations: int = 8, max_step: int = 200, max_index: int = 8
) -> st.SearchStrategy[Schedule]:
    """Schedules of at most ``max_deviations`` deviations from FIFO, at steps
    ``0..max_step``, each taking option ``1..max_index`` (modulo the options there)."""
    entry = st.tuples(st.integers(0, max_step), st.integers(1, max_index))
    return st.lists(entry, max_size=max_deviations, unique_by=lambda e: e[0]).map(_schedule)
