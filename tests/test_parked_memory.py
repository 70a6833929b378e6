"""The per-primitive memory workloads (``benchmarks/parked_memory.py``) do what they claim: every
task parks on the primitive (none finishes before the release) and every one finishes once
released, on each runtime that has the primitive. No figure is asserted here (they belong in
``benchmarks/RESULTS.md``); that a parked task holds no coroutine frame of refexec's is."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import parked_memory as pm  # noqa: E402


@pytest.mark.parametrize(("runtime", "prim"), [
    (rt, p) for rt in pm.RUNTIMES for p in pm.PRIMITIVES if pm.supported(rt, p)])
def test_workload_parks_every_task_then_finishes_them(runtime: str, prim: str) -> None:
    if runtime == "trio":
        pytest.importorskip("trio")
    assert pm.CYCLES[runtime](prim, 8, False) == 0  # untraced: raises if a task did not park


@pytest.mark.parametrize("prim", [p for p in pm.PRIMITIVES if p != "join"])
def test_a_parked_task_awaits_the_waiter_itself(prim: str) -> None:
    """Frameless waits: what a parked task's coroutine awaits is the primitive's waiter object
    (no generator or coroutine of refexec's in between). ``join`` awaits a JoinHandle, whose
    wait belongs to the executor."""
    from refexec import Executor  # noqa: PLC0415
    from refexec.waitqueue import Wait  # noqa: PLC0415

    ex = Executor()
    makers, release = pm._refexec_setup(prim, 2, ex)
    hs = [ex.spawn(mk()) for mk in makers]
    ex.run_until_stalled()
    for h in hs:
        aw = h._coro.cr_await
        while type(aw).__name__ == "coroutine":  # the user's own nested coroutines, if any
            aw = aw.cr_await
        assert isinstance(aw, Wait), aw
    release()
    ex.run()
    assert all(h.done() for h in hs)
