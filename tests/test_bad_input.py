"""Bad input gets a clear error at the call, not later (issue 11, section 4)."""

from __future__ import annotations

from typing import Any

import pytest
from refexec.waker import RawWaker, RawWakerVTable, Waker


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
