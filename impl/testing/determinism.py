"""A Hypothesis run whose examples depend on its seed alone, not on what ran before it.

``derandomize=True`` fixes Hypothesis' seed, but two pieces of process state still reach a
lockstep hunt, so the same hunt could find a bug in the full test run and miss it when its file
runs alone (issue 12):

* **Hypothesis' pool of "local constants".** Hypothesis (6.13x on) draws, with probability
  1/20, an integer among the literals of the *local* modules imported so far (every module of
  this project that is not a test file). Which modules are imported depends on what the process
  ran before (the full suite imports the CLI, the benchmarks, the model checkers...), so the
  same seed drew different integers — a different interleaving, a different task — and the
  pool only grows. :func:`stable_generation` empties it for the run (its draws then come from
  Hypothesis' global constants, the same in every process).
* **The cyclic garbage collector.** A collection runs when allocation counts cross a
  threshold, so *where* it runs depends on every allocation since the process began; a waker
  or a spawner freed by it runs its finalizer (a drop through the executor's door) at that
  arbitrary point. Inside :func:`stable_generation` automatic collection is off; the run
  starts after a full collection and ends with one (objects freed by reference counting go at
  the deterministic places where the program drops them, as always).

With both, a derandomized hunt is a function of its settings and the code under test: the
same verdict after the same number of rules, alone or after anything else (tested in
``tests/test_injected_bugs.py``).
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["stable_generation"]


def _freeze_local_constants() -> Callable[[], None]:
    """Make Hypothesis' local-constant pool empty; return the undo. A no-op for a Hypothesis
    without the pool (before 6.131), whose generation never read the imported modules."""
    try:
        from hypothesis.internal.conjecture import providers  # noqa: PLC0415
        from hypothesis.internal.constants_ast import Constants  # noqa: PLC0415
    except ImportError:  # pragma: no cover - an older Hypothesis
        return lambda: None
    getter = getattr(providers, "_get_local_constants", None)
    cache: Any = getattr(providers, "CONSTANTS_CACHE", None)
    if getter is None or cache is None:  # pragma: no cover - an older Hypothesis
        return lambda: None
    empty = Constants()

    def clear() -> None:
        # the cache holds, per kind of draw, the constants it may use: computed from the pool
        cache.cache.clear()

    providers._get_local_constants = lambda: empty
    clear()

    def undo() -> None:
        providers._get_local_constants = getter
        clear()

    return undo


@contextmanager
def stable_generation() -> Iterator[None]:
    """Run the body (a Hypothesis run) independent of the process' history: no local
    constants, no automatic garbage collection (see the module docstring)."""
    gc.collect()
    gc_was = gc.isenabled()
    gc.disable()
    undo = _freeze_local_constants()
    try:
        yield
    finally:
        undo()
        gc.collect()
        if gc_was:
            gc.enable()
