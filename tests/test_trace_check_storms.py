"""The trace checker accepts every real run, under heavy interleaving (issue 10 §1).

Each case is a real run of ``SimpleExecutor`` or ``Executor`` with a tiny
``sys.setswitchinterval``: tasks park handing waker clones to a shared pool, spawn children from
inside their polls, and yield; other threads meanwhile take wakers from the pool and clone,
``wake_by_ref``, ``wake`` or drop them (and, on ``Executor``, spawn through a ``Spawner``). The
seed runs use a tiny channel, so other threads' sends wait for room and the loop's own sends
can deadlock. Whatever interleaving the run took, its trace is a behaviour of the model: any
rejection is a checker or model bug, never a flake to retry.

The fast tier checks 1,000 seed and 100 reference traces (a reference trace reaches many new
model states, each evaluated against every property once); the deep tier (``--deep``) 5,500.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import random
import sys
import threading
from collections.abc import Iterator

from refexec import (
    Context,
    DeadlockError,
    Executor,
    FutureBase,
    Pending,
    Poll,
    Ready,
    SimpleExecutor,
    Trace,
    Waker,
    yield_now,
)
from refexec.models.trace_check import check_trace

DEEP = bool(os.environ.get("REFEXEC_DEEP"))
SEED_RUNS = 4000 if DEEP else 1000
REFERENCE_RUNS = 1500 if DEEP else 100


class _Pool:
    """Waker handles shared between tasks and storm threads (every handle ends exactly once)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.wakers: list[Waker] = []

    def put(self, w: Waker) -> None:
        with self.lock:
            self.wakers.append(w)

    def take(self, rng: random.Random) -> Waker | None:
        with self.lock:
            if not self.wakers:
                return None
            return self.wakers.pop(rng.randrange(len(self.wakers)))

    def drain(self) -> None:
        with self.lock:
            left, self.wakers = self.wakers, []
        for w in left:
            w.drop()


class _Park(FutureBase[None]):
    """Pending once, handing ``copies`` clones of its waker to the pool; Ready when re-polled."""

    def __init__(self, pool: _Pool, copies: int, self_wake: bool) -> None:
        self.pool = pool
        self.copies = copies
        self.self_wake = self_wake
        self.polled = False

    def poll(self, cx: Context) -> Poll[None]:
        if self.polled:
            return Ready(None)
        self.polled = True
        for _ in range(self.copies):
            self.pool.put(cx.waker.clone())
        if self.self_wake:
            cx.waker.wake_by_ref()
        return Pending


def _storm(pool: _Pool, rng: random.Random, stop: threading.Event) -> None:
    """Another thread: clone, wake_by_ref, wake or drop what is in the pool until told to stop,
    then end every handle it still has."""
    while not stop.is_set():
        w = pool.take(rng)
        if w is None:
            stop.wait(0.0002)
            continue
        op = rng.random()
        if op < 0.15:
            pool.put(w.clone())
            pool.put(w)
        elif op < 0.4:
            w.wake_by_ref()
            pool.put(w)
        elif op < 0.75:
            w.wake()
        else:
            w.drop()


def _program(ex: Executor | SimpleExecutor, pool: _Pool, rng: random.Random, n_tasks: int,
             spawn: object) -> None:
    async def child() -> None:
        await yield_now()

    async def task(k: int) -> None:
        for _ in range(k):
            r = rng.random()
            if r < 0.6:
                await _Park(pool, rng.randrange(0, 3), rng.random() < 0.2)
            elif r < 0.8:
                await yield_now()
            else:
                spawn(child())  # type: ignore[operator]

    for _ in range(n_tasks):
        ex.spawn(task(rng.randrange(1, 4)))


def _threads(pool: _Pool, rng: random.Random, stop: threading.Event, n: int
             ) -> list[threading.Thread]:
    out = [threading.Thread(target=_storm, args=(pool, random.Random(rng.random()), stop),
                            daemon=True) for _ in range(n)]
    for th in out:
        th.start()
    return out


@contextlib.contextmanager
def _tiny_switch_interval() -> Iterator[None]:
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(old)


def _seed_run(seed: int) -> tuple[Trace, int]:
    rng = random.Random(seed)
    capacity = rng.choice([2, 3, 5, 100])
    tr = Trace()
    ex = SimpleExecutor(capacity, trace=tr)
    pool = _Pool()
    stop = threading.Event()
    _program(ex, pool, rng, rng.randrange(1, min(capacity, 4) + 1), ex.spawn)
    ths = _threads(pool, rng, stop, rng.randrange(1, 4))

    finished = threading.Event()

    def closer() -> None:
        # the seed's run() stays open while any waker lives: once the storm has had its go,
        # end every handle left (tasks still running may hand over more) until run() returns
        stop.wait(0.002)
        stop.set()
        for th in ths:
            th.join()
        while not finished.is_set():
            pool.drain()
            finished.wait(0.0005)

    cl = threading.Thread(target=closer, daemon=True)
    cl.start()
    try:
        ex.run()
    except DeadlockError:
        pass
    finally:
        finished.set()
        stop.set()
        cl.join()
        pool.drain()
    return tr, capacity


def _reference_run(seed: int) -> Trace:
    rng = random.Random(seed)
    tr = Trace()
    ex = Executor(trace=tr)
    pool = _Pool()
    stop = threading.Event()
    spawner = ex.spawner()
    _program(ex, pool, rng, rng.randrange(1, 5), ex.spawn)
    ths = _threads(pool, rng, stop, rng.randrange(1, 4))

    async def noop() -> None:
        await yield_now()

    finished = threading.Event()

    def remote_spawns() -> None:
        for _ in range(rng.randrange(0, 4)):
            spawner.spawn(noop())
        stop.wait(0.002)
        stop.set()
        for th in ths:
            th.join()
        spawner.close()
        while not finished.is_set():
            pool.drain()
            finished.wait(0.0005)

    sp = threading.Thread(target=remote_spawns, daemon=True)
    sp.start()
    try:
        ex.run()
    finally:
        finished.set()
        stop.set()
        sp.join()
        pool.drain()
    return tr


def _in_windows(tr: Trace) -> int:
    """Other threads' events right after the loop's make_waker, poll, pending or ready: inside
    the windows the old checker closed to them."""
    return sum(1 for a, b in itertools.pairwise(tr.events)
               if b.detail in ("thread", "inbox") and (
                   a.event in ("poll", "pending", "ready") or a.detail == "make_waker"))


def test_every_storm_trace_of_simple_executor_is_a_seed_behaviour() -> None:
    inside = 0
    with _tiny_switch_interval():
        for seed in range(SEED_RUNS):
            tr, capacity = _seed_run(seed)
            r = check_trace(tr, "seed", capacity=capacity)
            assert r.ok and r.complete, f"seed {seed}, capacity {capacity}:\n{r.report()}"
            inside += _in_windows(tr)
    assert inside > 0, "the storms never reached the loop's windows"


def test_every_storm_trace_of_executor_is_a_reference_behaviour() -> None:
    inside = 0
    with _tiny_switch_interval():
        for seed in range(REFERENCE_RUNS):
            tr = _reference_run(seed)
            r = check_trace(tr, "reference")
            assert r.ok and r.complete, f"seed {seed}:\n{r.report()}"
            assert r.violated() == [], f"seed {seed}:\n{r.report()}"
            inside += _in_windows(tr)
    assert inside > 0, "the storms never reached the loop's windows"
