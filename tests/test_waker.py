"""Waker handles follow Rust's ownership rules; misuse raises WakerError."""

from __future__ import annotations

import gc
from typing import Any

import pytest
from refexec import Context, RawWaker, RawWakerVTable, Waker, WakerError, noop_waker


class Counting:
    """A vtable that records every call, as the seed's make_waker would touch its Arc."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.vtable = RawWakerVTable(self.clone, self.wake, self.wake_by_ref, self.drop)

    def clone(self, data: Any) -> RawWaker:
        self.calls.append("clone")
        return RawWaker(data, self.vtable)

    def wake(self, data: Any) -> None:
        self.calls.append("wake")

    def wake_by_ref(self, data: Any) -> None:
        self.calls.append("wake_by_ref")

    def drop(self, data: Any) -> None:
        self.calls.append("drop")

    def waker(self, data: Any = "task") -> Waker:
        return Waker.from_raw(RawWaker(data, self.vtable))


def test_from_fn_wakes_by_calling_the_function() -> None:
    hits: list[int] = []
    w = Waker.from_fn(lambda: hits.append(1))
    w.wake_by_ref()
    w.clone().wake()
    w.wake()
    assert hits == [1, 1, 1]


def test_wake_consumes_the_handle_and_reuse_raises() -> None:
    c = Counting()
    w = c.waker()
    w.wake()
    assert w.consumed
    for use in (w.wake, w.wake_by_ref, w.clone, w.drop):
        with pytest.raises(WakerError, match="consumed"):
            use()
    assert c.calls == ["wake"]


def test_drop_ends_the_handle_without_waking() -> None:
    c = Counting()
    w = c.waker()
    w.drop()
    with pytest.raises(WakerError):
        w.wake()
    assert c.calls == ["drop"]


def test_wake_by_ref_keeps_the_handle() -> None:
    c = Counting()
    w = c.waker()
    w.wake_by_ref()
    w.wake_by_ref()
    w.drop()
    assert c.calls == ["wake_by_ref", "wake_by_ref", "drop"]


def test_clone_is_an_independent_handle() -> None:
    c = Counting()
    w = c.waker()
    w2 = w.clone()
    w.drop()
    w2.wake()
    assert c.calls == ["clone", "drop", "wake"]


def test_context_manager_drops_unless_consumed() -> None:
    c = Counting()
    with c.waker() as w:
        w.wake_by_ref()
    with c.waker() as w2:
        w2.wake()
    assert c.calls == ["wake_by_ref", "drop", "wake"]


def test_forgotten_handle_is_dropped_when_python_frees_it() -> None:
    c = Counting()
    w = c.waker()
    w.clone()  # the clone is freed at once: dropped, as at the end of a Rust scope
    assert c.calls == ["clone", "drop"]
    del w
    gc.collect()
    assert c.calls == ["clone", "drop", "drop"]


def test_will_wake_compares_data_identity_and_vtable() -> None:
    c, other = Counting(), Counting()
    data = object()
    w = c.waker(data)
    assert w.will_wake(w.clone())
    assert not w.will_wake(c.waker(object()))
    assert not w.will_wake(other.waker(data))


def test_noop_waker_does_nothing_and_can_be_cloned() -> None:
    w = noop_waker()
    w.wake_by_ref()
    w.clone().wake()
    w.wake()
    assert w.consumed


def test_borrowed_waker_cannot_be_consumed() -> None:
    c = Counting()
    owner = c.waker()
    cx = Context(owner)
    assert cx.waker.borrowed and not owner.borrowed
    with pytest.raises(WakerError, match="borrowed"):
        cx.waker.wake()
    with pytest.raises(WakerError, match="borrowed"):
        cx.waker.drop()
    cx.waker.wake_by_ref()
    kept = cx.waker.clone()
    assert kept.will_wake(owner) and not kept.borrowed
    kept.wake()
    assert c.calls == ["wake_by_ref", "clone", "wake"]


def test_borrowed_waker_used_after_its_poll_raises() -> None:
    cx = Context(noop_waker())
    borrowed = cx.waker
    cx._expire()  # what an executor does when the poll returns
    assert borrowed.consumed
    with pytest.raises(WakerError, match=r"clone\(\)"):
        borrowed.wake_by_ref()
    with pytest.raises(WakerError):
        cx.waker.clone()


def test_borrowed_waker_expires_when_its_owner_is_dropped() -> None:
    owner = noop_waker()
    cx = Context(owner)
    borrowed = cx.waker
    owner.drop()
    with pytest.raises(WakerError):
        borrowed.clone()


def test_constructors_check_their_arguments() -> None:
    with pytest.raises(TypeError, match="RawWaker"):
        Waker("not raw")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="Waker"):
        Context("not a waker")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="callable"):
        Waker.from_fn(3)  # type: ignore[arg-type]


def test_vtable_clone_must_return_a_raw_waker() -> None:
    vt = RawWakerVTable(lambda d: "oops", lambda d: None, lambda d: None, lambda d: None)  # type: ignore[arg-type, return-value]
    w = Waker.from_raw(RawWaker(None, vt))
    with pytest.raises(TypeError, match="RawWaker"):
        w.clone()
    w.drop()


def test_repr_says_what_the_handle_is() -> None:
    w = noop_waker()
    cx = Context(w)
    assert "borrowed" in repr(cx.waker)
    w.drop()
    assert repr(w) == "<Waker (consumed)>"
