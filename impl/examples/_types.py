"""The executor type the examples accept: either of refexec's two executors."""

from __future__ import annotations

from typing import TYPE_CHECKING, Union

if TYPE_CHECKING:
    from refexec.executor import Executor
    from refexec.simple import SimpleExecutor

AnyExecutor = Union["Executor", "SimpleExecutor"]

__all__ = ["AnyExecutor"]
