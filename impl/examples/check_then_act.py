"""A check-then-act over an await: two withdrawals both pass the balance check, and overdraw.

``withdraw_buggy`` checks the balance, then awaits (it writes an audit record), then debits.
Between the check and the debit other tasks run: a second withdrawal can check the same, not yet
debited balance. Under FIFO the second customer happens to arrive after the first debit, so a
plain run passes; one scheduling choice (the second customer checking before the first one
resumes) overdraws the account. ``withdraw_fixed`` holds a refexec ``Lock`` across check and
debit, so the check is still true when it acts.

``refexec.explore(buggy, strategy="dfs")`` finds the overdraft; ``explore(fixed, strategy="dfs",
bound=None)`` covers every schedule with no failure.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from refexec.examples._types import AnyExecutor
from refexec.executor import Executor
from refexec.explore import always
from refexec.future import spawn, yield_now
from refexec.locks import Lock

EXECUTORS = ("reference",)

Withdraw = Callable[["Account", int], Awaitable[bool]]


class Account:
    def __init__(self, balance: int) -> None:
        self.balance = balance
        self.lock = Lock()
        self.audit: list[str] = []


async def write_audit(acct: Account, entry: str) -> None:
    acct.audit.append(entry)
    await yield_now()  # the record goes out: other tasks run meanwhile


async def withdraw_buggy(acct: Account, amount: int) -> bool:
    if acct.balance < amount:  # check ...
        return False
    await write_audit(acct, f"withdraw {amount}")  # ... await: the check may go stale ...
    acct.balance -= amount  # ... act on it
    return True


async def withdraw_fixed(acct: Account, amount: int) -> bool:
    async with acct.lock:  # check and act in one critical section
        if acct.balance < amount:
            return False
        await write_audit(acct, f"withdraw {amount}")
        acct.balance -= amount
        return True


async def customer(acct: Account, withdraw: Withdraw, amount: int, think: int) -> bool:
    for _ in range(think):  # browsing before paying
        await yield_now()
    return await withdraw(acct, amount)


async def bank(withdraw: Withdraw) -> int:
    acct = Account(100)
    first = spawn(customer(acct, withdraw, 80, 0))
    second = spawn(customer(acct, withdraw, 80, 2))
    paid = [await first, await second]
    always(acct.balance >= 0, f"overdrawn: balance {acct.balance} after withdrawals {paid}")
    return acct.balance


async def buggy() -> int:
    """The program with the bug (a fresh coroutine per call, as ``refexec.explore`` wants)."""
    return await bank(withdraw_buggy)


async def fixed() -> int:
    """The same program with the fix."""
    return await bank(withdraw_fixed)


def main(executor: AnyExecutor) -> str:
    """Run the buggy program once, under FIFO: it passes (the bug needs another schedule)."""
    assert isinstance(executor, Executor), "runs on the reference Executor only"
    h = executor.spawn(buggy())
    executor.run()
    return (f"FIFO run: balance {h.result()} (fine by luck); refexec.explore(buggy) finds a "
            "schedule that overdraws the account")
