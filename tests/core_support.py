"""Small poll-based futures the core tests drive executors with (not a test module)."""

from __future__ import annotations

from typing import Any

from refexec import Context, FutureBase, Pending, Poll, Ready, Waker


class Slot(FutureBase[Any]):
    """A one-shot value: Pending (keeping a clone of the waker) until ``set()`` wakes it."""

    def __init__(self) -> None:
        self.waker: Waker | None = None
        self.value: Any = None
        self.is_set = False
        self.polls = 0

    def poll(self, cx: Context) -> Poll[Any]:
        self.polls += 1
        if self.is_set:
            return Ready(self.value)
        if self.waker is None or not self.waker.will_wake(cx.waker):
            self.waker = cx.waker.clone()  # replacing drops the old handle
        return Pending

    def set(self, value: Any = None) -> None:
        self.value = value
        self.is_set = True
        w, self.waker = self.waker, None
        if w is not None:
            w.wake()


class Forgetful(FutureBase[None]):
    """Returns Pending and keeps no waker: its task can never be woken again (lost)."""

    def poll(self, cx: Context) -> Poll[None]:
        return Pending


class WakeSelf(FutureBase[str]):
    """On its first poll wakes its own task ``times`` times (by ref) and returns Pending."""

    def __init__(self, times: int = 1) -> None:
        self.times = times
        self.polls = 0

    def poll(self, cx: Context) -> Poll[str]:
        self.polls += 1
        if self.polls == 1:
            for _ in range(self.times):
                cx.waker.wake_by_ref()
            return Pending
        return Ready("done")


class KeepBorrowed(FutureBase[None]):
    """Misuse: stores the *borrowed* waker instead of a clone."""

    def __init__(self) -> None:
        self.kept: Waker | None = None

    def poll(self, cx: Context) -> Poll[None]:
        self.kept = cx.waker
        cx.waker.wake_by_ref()  # so the task does not get lost while the test inspects
        return Ready(None)


DRIVE_CALLS = ("run", "run_until_stalled", "block_on", "step")
"""Every way to drive an executor once."""


def drive_once(ex: Any, drive: str, handle: Any) -> None:
    """Drive ``ex`` by ``drive`` (one of :data:`DRIVE_CALLS`; ``block_on`` waits for
    ``handle``, ``step`` must poll a task)."""
    if drive == "step":
        assert ex.step()
    elif drive == "block_on":
        ex.block_on(handle)
    else:
        getattr(ex, drive)()


class ParkOnce(FutureBase[None]):
    """Pending once with a kept waker clone (woken later by the test), then Ready."""

    def __init__(self) -> None:
        self.waker: Any = None

    def poll(self, cx: Context) -> Poll[None]:
        if self.waker is None:
            self.waker = cx.waker.clone()
            return Pending
        return Ready(None)


class ModelWalk:
    """A concrete reading of a model walked one named action at a time; every step is checked
    against every property (a failing check names the property and the action)."""

    def __init__(self, system: Any) -> None:
        from refexec.models.concrete import ConcreteModel  # noqa: PLC0415

        self.m = ConcreteModel(system)
        self.s = self.m.initial()

    def go(self, name: str, **params: int) -> ModelWalk:
        nxt = self.m.step(self.s, name, **params)
        assert self.m.check_step(self.s, nxt, name, params) == []
        assert self.m.check(nxt) == []
        self.s = nxt
        return self

    def can(self, name: str, **params: int) -> bool:
        return bool(self.m.is_enabled(self.s, self.m.system.action(name), params))
