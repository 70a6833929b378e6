"""``Poll``: the answer of one poll, as in Rust's ``std::task::Poll``.

A future's ``poll(cx)`` returns either ``Ready(value)`` (it has finished, here is its output) or
``Pending`` (not yet: it has arranged for ``cx.waker`` to be woken when it can make progress).

``Pending`` is a singleton, so the idiomatic test is ``p is Pending``; ``Ready`` supports
``==`` and pattern matching (``match p: case Ready(v): ...``).
"""

from __future__ import annotations

from typing import Any, Final, Generic, TypeAlias, TypeVar, final

__all__ = ["Pending", "PendingType", "Poll", "Ready"]

T = TypeVar("T")


@final
class Ready(Generic[T]):
    """A finished poll, carrying the future's output in ``.value``."""

    __slots__ = ("value",)
    __match_args__ = ("value",)

    def __init__(self, value: T) -> None:
        self.value = value

    def __eq__(self, other: object) -> bool:
        return type(other) is Ready and bool(self.value == other.value)

    def __hash__(self) -> int:
        return hash((Ready, self.value))

    def __repr__(self) -> str:
        return f"Ready({self.value!r})"


@final
class PendingType:
    """The type of :data:`Pending`; it has exactly one instance."""

    __slots__ = ()
    _instance: PendingType | None = None

    def __new__(cls) -> PendingType:
        inst = cls._instance
        if inst is None:
            inst = cls._instance = super().__new__(cls)
        return inst

    def __repr__(self) -> str:
        return "Pending"

    def __reduce__(self) -> tuple[Any, ...]:
        return (PendingType, ())


Pending: Final[PendingType] = PendingType()
"""Not ready yet; the future has stored (a clone of) the waker and will have it woken."""

Poll: TypeAlias = Ready[T] | PendingType
"""``Poll[T]`` is ``Ready[T] | Pending``: what ``Future.poll`` returns."""
