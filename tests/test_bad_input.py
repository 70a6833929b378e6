"""Bad input gets a clear error at the call, not later (issue 11, section 4)."""

from __future__ import annotations

import contextlib
import inspect
import threading
import time
from collections.abc import Generator
from typing import Any

import pytest
import refexec
from refexec import Executor, SimpleExecutor, cli
from refexec.future import FutureBase, yield_now
from refexec.poll import Pending, Poll, Ready
from refexec.waker import Context, RawWaker, RawWakerVTable, Waker


def _noop(_data: object) -> None:
    return None


def _clone(data: object) -> RawWaker:
    return RawWaker(data, VT)


VT = RawWakerVTable(_clone, _noop, _noop, _noop)


@pytest.mark.parametrize("slot", range(4))
@pytest.mark.parametrize("bad", [None, 42, "wake"])
def test_raw_waker_vtable_with_a_non_callable_fails_at_construction(slot: int, bad: Any) -> None:
    fns: list[Any] = [_clone, _noop, _noop, _noop]
    fns[slot] = bad
    name = ("clone", "wake", "wake_by_ref", "drop")[slot]
    with pytest.raises(TypeError, match=rf"RawWakerVTable {name} must be a callable"):
        RawWakerVTable(*fns)


@pytest.mark.parametrize("bad", [None, _noop, (_clone, _noop, _noop, _noop)])
def test_raw_waker_with_a_non_vtable_fails_at_construction(bad: Any) -> None:
    with pytest.raises(TypeError, match="RawWaker needs a RawWakerVTable"):
        RawWaker(None, bad)


def test_a_valid_raw_waker_still_works() -> None:
    w = Waker.from_raw(RawWaker("d", VT))
    w.clone().wake()
    w.drop()


# ---------------------------------------------------------------------------------------------
# spawn of a coroutine that is not fresh


async def _twice() -> int:
    await yield_now()
    return 1


def test_spawning_a_finished_coroutine_fails_its_first_poll_naming_the_state() -> None:
    ex = Executor()
    c = _twice()
    h = ex.spawn(c)
    ex.run()
    assert h.result() == 1
    again = ex.spawn(c)  # telling CORO_CLOSED from CORO_CREATED at spawn costs a frame object
    ex.run()
    err = again.exception()
    assert isinstance(err, RuntimeError)
    assert "first poll of task 2" in str(err) and "'_twice' is CORO_CLOSED" in str(err)


def test_spawning_a_coroutine_suspended_in_another_task_fails_at_spawn() -> None:
    ex = Executor()
    c = _twice()
    h = ex.spawn(c)
    assert ex.step()  # c is now suspended at its yield_now, owned by h
    with pytest.raises(RuntimeError, match="is CORO_SUSPENDED"):
        ex.spawn(c)
    ex.run()
    assert h.result() == 1
    assert ex.stats.spawned == 1


def test_spawning_a_coroutine_started_by_hand_fails_at_spawn() -> None:
    c = _twice()
    c.send(None)  # as another event loop would
    with pytest.raises(RuntimeError, match="is CORO_SUSPENDED"):
        Executor().spawn(c)
    c.close()


def test_a_spawner_refuses_a_coroutine_that_is_not_fresh() -> None:
    ex = Executor()
    c = _twice()
    c.send(None)
    with ex.spawner() as sp:
        result: list[BaseException] = []

        def other_thread() -> None:
            try:
                sp.spawn(c)
            except RuntimeError as e:
                result.append(e)

        t = threading.Thread(target=other_thread)
        t.start()
        t.join()
    assert "CORO_SUSPENDED" in str(result[0])
    assert ex.snapshot().inbox == 0
    c.close()


def test_the_same_coroutine_spawned_twice_runs_in_one_task_only() -> None:
    ex = Executor()
    c = _twice()
    first = ex.spawn(c)
    second = ex.spawn(c)  # still CORO_CREATED: caught at the second task's first poll
    ex.run()
    assert first.result() == 1
    err = second.exception()
    assert isinstance(err, RuntimeError)
    assert "is CORO_SUSPENDED" in str(err) and "first poll of task 2" in str(err)
    assert second.poll_count == 1
    ex.check_invariants()


def test_cancelling_the_unpolled_duplicate_leaves_the_coroutine_to_the_task_running_it() -> None:
    ex = Executor()
    c = _twice()
    first = ex.spawn(c)
    second = ex.spawn(c)
    assert ex.step()  # first starts c; it waits at its yield_now
    assert second.cancel()
    ex.run()
    assert first.result() == 1
    assert second.cancelled()


def test_a_task_spawning_its_own_running_coroutine_gets_an_error_not_a_second_run() -> None:
    ex = Executor()
    runs = []

    async def selfish() -> None:
        runs.append(1)
        me = ex.spawn(this)  # running right now: caught before it can run twice
        await yield_now()
        await me

    this = selfish()
    h = ex.spawn(this)
    ex.run()
    assert runs == [1]
    assert isinstance(h.exception(), RuntimeError)
    assert "CORO_SUSPENDED" in str(h.exception())


# ---------------------------------------------------------------------------------------------
# run(stall_timeout=...)


@pytest.mark.parametrize("bad", [0, 0.0, -1, -0.5, float("nan"), float("-inf")])
def test_run_refuses_a_stall_timeout_that_is_not_a_positive_number(bad: float) -> None:
    ex = Executor()
    h = ex.spawn(_twice())
    with pytest.raises(ValueError, match="stall_timeout must be a positive number"):
        ex.run(stall_timeout=bad)
    assert ex.stats.polls == 0  # refused at the call: nothing ran
    assert not ex.snapshot().running
    ex.run()
    assert h.result() == 1


@pytest.mark.parametrize("bad", ["1", True, [1], complex(1, 0)])
def test_run_refuses_a_stall_timeout_that_is_not_a_number(bad: Any) -> None:
    with pytest.raises(TypeError, match="stall_timeout must be a number of seconds or None"):
        Executor().run(stall_timeout=bad)


class _PendingOnce(FutureBase[None]):
    """Pending on its first poll (keeping a waker clone), Ready on the next."""

    def __init__(self, kept: list[Waker]) -> None:
        self.kept = kept

    def poll(self, cx: Context) -> Poll[None]:
        if self.kept:
            return Ready(None)
        self.kept.append(cx.waker.clone())
        return Pending


@pytest.mark.parametrize("forever", [float("inf"), 10**400, 1e300])
def test_an_infinite_stall_timeout_means_no_timeout(forever: float) -> None:
    ex = Executor()
    kept: list[Waker] = []

    async def waits() -> str:
        await _PendingOnce(kept)
        return "woken"

    h = ex.spawn(waits())

    def wake_when_asleep() -> None:
        while not ex.snapshot().sleeping:  # decided by the executor's state, not by a timer
            time.sleep(0.001)
        kept[0].wake()

    t = threading.Thread(target=wake_when_asleep)
    t.start()
    ex.run(stall_timeout=forever)  # sleeps (no Stalled, no OverflowError) until woken
    t.join()
    assert h.result() == "woken"


def test_block_on_refuses_a_bad_stall_timeout_and_closes_the_coroutine() -> None:
    c = _twice()
    with pytest.raises(ValueError, match="stall_timeout"):
        Executor().block_on(c, stall_timeout=-1)
    assert inspect.getcoroutinestate(c) == inspect.CORO_CLOSED


def test_refexec_block_on_refuses_a_bad_stall_timeout() -> None:
    with pytest.raises(TypeError, match="stall_timeout"):
        refexec.block_on(_twice(), stall_timeout="soon")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# A coroutine that retries a refused foreign await


class _Foreign:
    """Stands for an asyncio future: its __await__ yields an object refexec cannot drive."""

    def __await__(self) -> Generator[Any, None, None]:
        yield self


async def _stubborn(refusals: list[int]) -> str:
    while len(refusals) < 1000:  # bounded, so a test cannot hang on broken code
        try:
            await _Foreign()
        except TypeError:
            refusals.append(1)
    return "gave up"


def test_simple_executor_fails_a_retried_foreign_await_after_one_refusal() -> None:
    refusals: list[int] = []
    ex = SimpleExecutor()
    ex.spawn(_stubborn(refusals))
    with pytest.raises(TypeError, match="again in the same poll"):
        ex.run()
    assert len(refusals) == 1


def test_retrying_a_refused_foreign_await_fails_the_task_after_one_refusal() -> None:
    refusals: list[int] = []
    ex = Executor()
    h = ex.spawn(_stubborn(refusals))
    other = ex.spawn(_twice())
    ex.run()
    assert len(refusals) == 1
    err = h.exception()
    assert isinstance(err, TypeError)
    assert "yielded" in str(err) and "again in the same poll" in str(err)
    assert h.poll_count == 1
    assert other.result() == 1
    ex.check_invariants()


def test_a_coroutine_that_handles_the_refusal_and_awaits_refexec_futures_goes_on() -> None:
    async def recovers() -> str:
        with contextlib.suppress(TypeError):
            await _Foreign()
        await yield_now()
        return "ok"

    assert refexec.block_on(recovers()) == "ok"


# ---------------------------------------------------------------------------------------------
# SimpleExecutor(capacity=...)


@pytest.mark.parametrize("bad", [True, False, 1.0, 100.0, float("nan"), float("inf"), "100", None])
def test_simple_executor_capacity_must_be_an_int(bad: Any) -> None:
    with pytest.raises(TypeError, match="capacity must be a positive int"):
        SimpleExecutor(bad)


@pytest.mark.parametrize("bad", [0, -1])
def test_simple_executor_capacity_must_be_positive(bad: int) -> None:
    with pytest.raises(ValueError, match="capacity must be at least 1"):
        SimpleExecutor(bad)


def test_simple_executor_accepts_a_positive_int_capacity() -> None:
    assert SimpleExecutor(1).capacity == 1


# ---------------------------------------------------------------------------------------------
# Numeric command-line options: a usage error (exit status 2) naming the option


@pytest.mark.parametrize(
    ("argv", "option"),
    [
        (["explain", "seed", "EX-FIFO", "--bound", "-1"], "--bound"),
        (["explain", "seed", "EX-FIFO", "--depth", "0"], "--bound"),
        (["explain", "seed", "EX-FIFO", "--bound", "2.5"], "--bound"),
        (["verify", "--bound", "-1"], "--bound"),
        (["verify", "--bound", "0"], "--bound"),
        (["verify", "--jobs", "0"], "--jobs"),
        (["verify", "-j", "-2"], "--jobs"),
        (["bench", "--timeout", "nan"], "--timeout"),
        (["bench", "--timeout", "inf"], "--timeout"),
        (["bench", "--timeout", "-5"], "--timeout"),
        (["bench", "--verify-budget", "0"], "--verify-budget"),
        (["bench", "--sizes", "inf"], "--sizes"),
        (["bench", "--reps", "0"], "--reps"),
        (["bench", "--instructions", "-1"], "--instructions"),
    ],
)
def test_cli_refuses_bad_numbers_with_exit_status_2(
    argv: list[str], option: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {option}" in err, err
