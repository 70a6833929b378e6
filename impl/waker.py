"""Wakers and contexts: Rust's ``std::task::{RawWaker, RawWakerVTable, Waker, Context}``.

A :class:`Waker` is a *handle* that can wake one task. Handles follow Rust's ownership rules,
because the executor counts them to know whether a waiting task can still be woken:

* ``clone()`` makes a new handle (the vtable's ``clone``);
* ``wake()`` wakes the task and **consumes** the handle (the vtable's ``wake``);
* ``wake_by_ref()`` wakes the task and keeps the handle (``wake_by_ref``);
* ``drop()`` ends the handle without waking (``drop``); so does leaving a ``with`` block, and
  so does Python freeing a handle that was simply forgotten (``__del__``), as Rust drops a value
  at the end of its scope.

Using a handle after it ended raises :class:`~refexec.WakerError`; it never silently does
nothing.

A :class:`Context` lends its poll a *borrowed* waker, ``cx.waker`` (Rust's ``&Waker``). The
borrow is valid only while that poll runs: it is not a handle of its own (it does not keep the
task wakeable), it cannot be consumed (``cx.waker.wake()`` and ``cx.waker.drop()`` raise
``WakerError``: call ``wake_by_ref()``, or keep a clone), and **using it after its poll returned
raises** ``WakerError``. The documented way to keep a waker is ``cx.waker.clone()``.

:class:`RawWaker` and :class:`RawWakerVTable` build custom wakers exactly as in the seed:
``RawWaker(data, vtable)``, where ``vtable.clone(data)`` returns a new ``RawWaker`` and
``wake``/``wake_by_ref``/``drop`` take ``data`` and return ``None``. The executors' own wakers
are built this way. Vtable functions may be called from any thread.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Any, Final

from refexec.errors import WakerError

__all__ = ["Context", "RawWaker", "RawWakerVTable", "Waker", "noop_waker"]


class RawWakerVTable:
    """The four functions behind a waker: ``clone(data) -> RawWaker``, and ``wake(data)``,
    ``wake_by_ref(data)``, ``drop(data)`` returning ``None``. Compared by identity, as Rust
    compares vtable pointers in ``will_wake``.

    Each must be callable, checked here: a vtable is called long after it is built (on some
    other task's completion, possibly from another thread), where a ``TypeError`` would name
    neither the vtable nor the code that built it.
    """

    __slots__ = ("clone", "drop", "wake", "wake_by_ref")

    def __init__(
        self,
        clone: Callable[[Any], RawWaker],
        wake: Callable[[Any], None],
        wake_by_ref: Callable[[Any], None],
        drop: Callable[[Any], None],
    ) -> None:
        for name, fn in (("clone", clone), ("wake", wake), ("wake_by_ref", wake_by_ref),
                         ("drop", drop)):
            if not callable(fn):
                raise TypeError(
                    f"RawWakerVTable {name} must be a callable taking the waker's data, got "
                    f"{fn!r}; pass functions: RawWakerVTable(clone, wake, wake_by_ref, drop)"
                )
        self.clone = clone
        self.wake = wake
        self.wake_by_ref = wake_by_ref
        self.drop = drop

    def __repr__(self) -> str:
        return f"<RawWakerVTable clone={getattr(self.clone, '__qualname__', self.clone)}>"


class RawWaker:
    """The data pointer and vtable of one waker handle (Rust's ``RawWaker``).

    ``vtable`` must be a :class:`RawWakerVTable` (checked here, not at the first wake, which
    may happen far away and on another thread).
    """

    __slots__ = ("data", "vtable")

    def __init__(self, data: Any, vtable: RawWakerVTable) -> None:
        if type(vtable) is not RawWakerVTable and not isinstance(vtable, RawWakerVTable):
            raise TypeError(
                f"RawWaker needs a RawWakerVTable as its vtable, got {vtable!r}; build one "
                "with RawWakerVTable(clone, wake, wake_by_ref, drop)"
            )
        self.data = data
        self.vtable = vtable

    def __repr__(self) -> str:
        return f"RawWaker({self.data!r}, {self.vtable!r})"


_RAW_TYPES: set[type] = {RawWaker}
"""The types a :class:`Waker` accepts as its raw waker: ``RawWaker``, and the task types of
refexec's executors, which carry ``data`` and ``vtable`` themselves. Rust keeps the RawWaker
inline in the Waker, with no allocation; here a task that *is* its own raw waker (``data`` the
task, ``vtable`` its executor's) spares an object per stored waker."""


def _waker_failed(
    failure: BaseException | None, err: BaseException, raw: object, op: str
) -> BaseException:
    """Record that one waker's ``op`` raised ``err`` while waking a group; return the failure
    to raise once the whole group is done.

    Why not stop at the first exception: a waker runs code of whoever registered it (a custom
    vtable). The other waiters of the same event are innocent, and the wakers not yet called
    would be dropped unwoken, so their tasks would wait for ever (the reference executor
    reports them lost). So the executor (a task's awaiters) and ``refexec.sync`` (wake-all
    paths) act on every waker first, then raise the failure once, to the caller of the
    operation that woke them (which itself took effect).

    ``err`` gets a note naming the waker (its raw waker: the data and vtable, which identify
    the code that built it). The first failure is the one raised, with the later ones named in
    a note, except that an interrupt (a ``BaseException`` that is not an ``Exception``, e.g.
    ``KeyboardInterrupt``) outranks an ordinary error, so it is never swallowed.
    """
    _add_note(
        err,
        f"raised by {op}() of the waker {raw!r}; refexec still woke every other waiter of the "
        "same event, then re-raised this",
    )
    if failure is None:
        return err
    if isinstance(failure, Exception) and not isinstance(err, Exception):
        _add_note(err, f"an earlier waker of the same event also failed: {failure!r}")
        return err
    _add_note(failure, f"another waker of the same event also failed: {raw!r} raised {err!r}")
    return failure


def _add_note(err: BaseException, note: str) -> None:
    """``err.add_note(note)``, also on Python 3.10 (where ``__notes__`` is kept, not shown)."""
    notes = getattr(err, "__notes__", None)
    if not isinstance(notes, list):
        try:
            err.__notes__ = notes = []  # type: ignore[attr-defined]
        except AttributeError:  # an exception type without a __dict__: keep it unnoted
            return
    notes.append(note)


def _register_raw_type(cls: type) -> None:
    """Let ``cls`` instances (with ``data`` and ``vtable`` attributes) serve as raw wakers."""
    _RAW_TYPES.add(cls)


_CONSUMED = (
    "this Waker was already consumed by wake() or drop(); a handle cannot be used after it "
    "ended. Call wake_by_ref() to wake and keep the handle, or clone() it first."
)
_EXPIRED = (
    "this waker was borrowed from a Context (cx.waker) whose poll has already returned; a "
    "borrowed waker is valid only during its poll. Store cx.waker.clone() to wake the task later."
)
_BORROWED = (
    "cx.waker is borrowed from the poll's Context and cannot be consumed by {op}(); "
    "use cx.waker.wake_by_ref(), or keep w = cx.waker.clone() and call w.{op}() on it."
)


class Waker:
    """A handle that wakes one task. See the module docstring for the ownership rules."""

    __slots__ = ("_cx", "_raw")

    def __init__(self, raw: RawWaker, _cx: Context | None = None) -> None:
        self._cx = _cx  # None: an owned handle; else the Context this view is borrowed from
        if type(raw) not in _RAW_TYPES:
            self._raw: RawWaker | None = None
            raise TypeError(f"Waker needs a RawWaker, got {raw!r}")
        self._raw = raw

    # -- construction -------------------------------------------------------------------------

    @classmethod
    def from_raw(cls, raw: RawWaker) -> Waker:
        """A waker that owns ``raw`` (Rust's ``unsafe Waker::from_raw``)."""
        return cls(raw)

    @classmethod
    def from_fn(cls, fn: Callable[[], object]) -> Waker:
        """A waker whose ``wake``/``wake_by_ref`` call ``fn()`` (clone and drop do nothing)."""
        if not callable(fn):
            raise TypeError(f"Waker.from_fn needs a callable, got {fn!r}")
        return cls(RawWaker(fn, _FN_VTABLE))

    # -- the handle's operations --------------------------------------------------------------

    def _check(self) -> RawWaker:
        raw = self._raw
        if raw is None:
            raise WakerError(_CONSUMED)
        cx = self._cx
        if cx is not None and not cx._is_live():
            raise WakerError(_EXPIRED)
        return raw

    def clone(self) -> Waker:
        """A new handle that wakes the same task (keeps it wakeable until it ends)."""
        raw = self._check()
        new = raw.vtable.clone(raw.data)
        if type(new) not in _RAW_TYPES:
            raise TypeError(f"RawWakerVTable.clone must return a RawWaker, got {new!r}")
        w = Waker.__new__(Waker)
        w._raw = new
        w._cx = None
        return w

    def wake(self) -> None:
        """Wake the task and end this handle (it cannot be used afterwards)."""
        raw = self._check()
        if self._cx is not None:
            raise WakerError(_BORROWED.format(op="wake"))
        self._raw = None  # first: the vtable's wake may free what holds this very handle
        raw.vtable.wake(raw.data)

    def wake_by_ref(self) -> None:
        """Wake the task; this handle stays usable."""
        raw = self._check()
        raw.vtable.wake_by_ref(raw.data)

    def drop(self) -> None:
        """End this handle without waking (Rust's ``drop(waker)``)."""
        raw = self._check()
        if self._cx is not None:
            raise WakerError(_BORROWED.format(op="drop"))
        self._raw = None
        raw.vtable.drop(raw.data)

    def will_wake(self, other: Waker) -> bool:
        """Whether ``other`` wakes the same task: same data (by identity) and same vtable."""
        raw = self._check()
        o = other._raw
        return o is not None and o.data is raw.data and o.vtable is raw.vtable

    @property
    def consumed(self) -> bool:
        """True once the handle ended (``wake()``, ``drop()``, or its borrow expired)."""
        cx = self._cx
        return self._raw is None or (cx is not None and not cx._is_live())

    @property
    def borrowed(self) -> bool:
        """True for ``cx.waker`` (a borrow valid during its poll), False for an owned handle."""
        return self._cx is not None

    # -- scope-based ending ---------------------------------------------------------------------

    def __enter__(self) -> Waker:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        raw = self._raw
        if raw is not None and self._cx is None:
            self._raw = None
            raw.vtable.drop(raw.data)

    def __del__(self) -> None:
        try:
            raw, cx = self._raw, self._cx
        except AttributeError:  # __init__ was cut short (an interrupt): no handle was made
            return
        if raw is not None and cx is None:
            self._raw = None
            try:
                raw.vtable.drop(raw.data)
            except BaseException as e:
                _finalizer_interrupted(e)
                raise

    def __repr__(self) -> str:
        raw = self._raw
        if raw is None:
            return "<Waker (consumed)>"
        kind = "borrowed " if self._cx is not None else ""
        return f"<{kind}Waker data={raw.data!r}>"


DEFERRED_INTERRUPTS: list[BaseException] = []
"""Interrupts that landed in a finalizer, where Python swallows them: ``Executor``'s run loop
raises them again at its next safe point (see :func:`_finalizer_interrupted`)."""


def _finalizer_interrupted(e: BaseException) -> None:
    """An exception is leaving a finalizer (``__del__``), where Python swallows it (it prints
    "Exception ignored in ..."). If it is an interrupt (``KeyboardInterrupt``, ``SystemExit``
    from a signal handler, any non-``Exception``), keep it so that the run loop raises it again
    between two rounds of polls, or when it returns: the user's Ctrl-C is not lost. (Raising
    it from here, even by ``_thread.interrupt_main()``, would only land in this finalizer.)"""
    if not isinstance(e, Exception):
        DEFERRED_INTERRUPTS.append(e)


class Context:
    """What a poll receives: ``cx.waker``, a waker borrowed for the duration of the poll.

    ``Context(waker)`` lends ``waker`` (which the caller keeps owning), as Rust's
    ``Context::from_waker(&waker)`` does; ``cx.waker`` is the borrowed view.
    """

    __slots__ = ("_borrowed", "_live", "_owner")

    def __init__(self, waker: Waker) -> None:
        if not isinstance(waker, Waker):
            raise TypeError(f"Context needs a Waker, got {waker!r}")
        self._owner: Waker | None = waker
        self._borrowed: Waker | None = None
        self._live = True

    @property
    def waker(self) -> Waker:
        """The borrowed waker of this poll. Keep ``cx.waker.clone()``, never ``cx.waker``."""
        b = self._borrowed
        if b is None:
            if not self._is_live():
                raise WakerError(_EXPIRED)
            b = self._borrowed = Waker(self._lent_raw(), self)
        return b

    def _lent_raw(self) -> RawWaker:
        owner = self._owner
        assert owner is not None and owner._raw is not None
        return owner._raw

    def _is_live(self) -> bool:
        """Whether the poll this context was made for is still running."""
        owner = self._owner
        return self._live and owner is not None and owner._raw is not None

    def _expire(self) -> None:
        """Called by an executor when the poll returns: the borrow ends."""
        self._live = False

    def __repr__(self) -> str:
        return f"<Context live={self._is_live()}>"


def _noop(_data: object) -> None:
    return None


def _noop_clone(data: object) -> RawWaker:
    return RawWaker(data, _NOOP_VTABLE)


_NOOP_VTABLE: Final = RawWakerVTable(_noop_clone, _noop, _noop, _noop)


def noop_waker() -> Waker:
    """A waker that does nothing when woken (Rust's ``Waker::noop``): for polling by hand."""
    return Waker(RawWaker(None, _NOOP_VTABLE))


def _fn_clone(fn: Callable[[], object]) -> RawWaker:
    return RawWaker(fn, _FN_VTABLE)


def _fn_wake(fn: Callable[[], object]) -> None:
    fn()


_FN_VTABLE: Final = RawWakerVTable(_fn_clone, _fn_wake, _fn_wake, _noop)
