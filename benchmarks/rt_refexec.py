"""refexec's executors: ``Executor`` (variants ``"executor"`` and ``"traced"``) and
``SimpleExecutor`` (variant ``"simple"``).

Tasks are spawned from outside before ``run()``, so the timed region is spawn plus run, as for
every other runtime. The yield is ``refexec.yield_now()``, the channel ``refexec.sync.channel``,
and the park a minimal leaf future written the Rust way (:class:`Park`): its poll stores
``cx.waker.clone()`` and returns ``Pending``; the cross-thread wake is ``Waker.wake()`` on that
stored clone, called from the waking thread. The memory workload parks every task on one shared
:class:`Gate` future (each waiting task leaves one waker clone in it), as asyncio's parks every
task on one shared ``asyncio.Future`` (each waiting task leaves one callback in it).
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import sys
import time
from typing import Any

from benchmarks.common import (
    CHANNEL_CAPACITY,
    ECHO_CHUNK,
    ECHO_MESSAGE,
    SLEEP_SPAN_REAL,
    SLEEP_SPAN_VIRTUAL,
    TIMEOUT_S,
    YIELDS_PER_TASK,
    Count,
    Mark,
    NotSupported,
    Sample,
    WakerThread,
    bulk_chunks,
    bytes_per_timer,
    consumer,
    deadlines,
    parked,
    producer,
    sleeper,
    timeouts_async,
    traced_bytes,
    trivial,
    yielder,
)

#: Extra queue room given to SimpleExecutor beyond the tasks spawned up front (see NOTES).
SIMPLE_SLACK = 16

NOTES = {
    "executor": "`Executor()`; tasks spawned from outside before `run()`; tracing off "
    "(`trace=None`: each hook is an `if trace is not None:` test on a local variable).",
    "traced": "`Executor(trace=Trace())`: every event appended to an in-memory list.",
    "nohooks": "a build of `Executor` without the tracing hooks, made for this comparison only: "
    "the source of `refexec.executor`, every `if <trace> is not None:` statement (and the "
    "local it tests) removed from the syntax tree, loaded as a separate module.",
    "simple": "`SimpleExecutor(capacity=N + 16)`: the seed's queue of capacity 100 cannot hold "
    "N tasks spawned up front (the executor's own thread filling its own queue raises "
    "DeadlockError), so the capacity is raised to fit; everything else is the seed's design "
    "(a new waker per poll, every wake enqueues).",
}


def _refexec() -> Any:
    return importlib.import_module("refexec")


def _lookup(*candidates: str) -> Any:
    """The first of ``module:attr`` names that exists (the package is still settling)."""
    for spec in candidates:
        module_name, attr = spec.split(":")
        try:
            value = getattr(importlib.import_module(module_name), attr, None)
        except ImportError:
            value = None
        if value is not None:
            return value
    return None


def available(variant: str) -> str | None:
    name = "SimpleExecutor" if variant == "simple" else "Executor"
    if _lookup(f"refexec:{name}", f"refexec.{'simple' if name[0] == 'S' else 'executor'}:{name}"):
        return None
    return f"refexec.{name} does not exist yet"


class _StripTraceHooks(ast.NodeTransformer):
    """Remove ``if X is not None: ...`` where X is a trace (``trace``, ``tr``, ``*._trace``)."""

    NAMES = frozenset({"trace", "tr"})

    def __init__(self, attrs: frozenset[str] = frozenset({"_trace"})) -> None:
        self.stripped = 0
        self.attrs = attrs  # the trace attributes: ``x._trace``, and ``drv.trace`` in the driver

    def _is_hook_test(self, test: ast.expr) -> bool:
        if not (
            isinstance(test, ast.Compare)
            and len(test.ops) == 1
            and isinstance(test.ops[0], ast.IsNot)
            and isinstance(test.comparators[0], ast.Constant)
            and test.comparators[0].value is None
        ):
            return False
        left = test.left
        return (isinstance(left, ast.Name) and left.id in self.NAMES) or (
            isinstance(left, ast.Attribute) and left.attr in self.attrs
        )

    def visit_If(self, node: ast.If) -> Any:
        self.generic_visit(node)
        if self._is_hook_test(node.test):
            self.stripped += 1
            return node.orelse or None
        return node

    def visit_FunctionDef(self, node: ast.FunctionDef) -> Any:
        self.generic_visit(node)
        if not node.body:
            node.body = [ast.Pass()]
        loads = {
            n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)
        }

        def dead_trace_local(stmt: ast.stmt) -> bool:
            return (
                isinstance(stmt, ast.Assign)
                and len(stmt.targets) == 1
                and isinstance(stmt.targets[0], ast.Name)
                and stmt.targets[0].id in self.NAMES
                and stmt.targets[0].id not in loads
                and isinstance(stmt.value, ast.Attribute)
                and stmt.value.attr == "_trace"
            )

        for block_owner in ast.walk(node):
            for field in ("body", "orelse", "finalbody"):
                block = getattr(block_owner, field, None)
                if isinstance(block, list) and block and isinstance(block[0], ast.stmt):
                    kept = [s for s in block if not dead_trace_local(s)]
                    setattr(block_owner, field, kept or ([ast.Pass()] if field == "body" else []))
        return node

    def generic_visit(self, node: ast.AST) -> ast.AST:
        super().generic_visit(node)
        for name in ("body", "orelse", "finalbody"):
            block = getattr(node, name, None)
            if isinstance(block, list) and not block and name == "body":
                setattr(node, name, [ast.Pass()])
        return node


def _stripped_module(source: str, name: str, attrs: frozenset[str]) -> Any:
    """A copy of module ``source`` with its ``if <trace> is not None:`` hooks removed."""
    module = sys.modules.get(name)
    if module is not None:
        return module
    spec = importlib.util.find_spec(source)
    if spec is None or spec.origin is None:
        raise NotSupported(f"{source} does not exist yet")
    with open(spec.origin, encoding="utf-8") as f:
        tree = ast.parse(f.read(), spec.origin)
    stripper = _StripTraceHooks(attrs)
    tree = ast.fix_missing_locations(stripper.visit(tree))
    if stripper.stripped == 0:
        raise NotSupported(f"found no `if trace is not None:` hooks in {source}")
    module = type(sys)(name)
    module.__file__ = spec.origin
    module.HOOKS_STRIPPED = stripper.stripped  # type: ignore[attr-defined]
    sys.modules[name] = module
    exec(compile(tree, spec.origin, "exec"), module.__dict__)
    return module


def _nohooks_executor_class() -> Any:
    """``Executor`` from a copy of ``refexec.executor`` with its tracing hooks stripped, and
    driving a copy of ``refexec.driver`` (timers, reactor) stripped the same way."""
    module = _stripped_module("refexec.executor", "refexec._bench_executor_nohooks",
                              frozenset({"_trace"}))
    driver = _stripped_module("refexec.driver", "refexec._bench_driver_nohooks",
                              frozenset({"_trace", "trace"}))
    for attr in ("Driver", "DoorCondition", "_select"):
        setattr(module, attr, getattr(driver, attr))
    # refexec.timers' fast paths recognise an Executor task by its class: this process runs
    # the stripped executor only, so its task class is the one to recognise
    importlib.import_module("refexec.timers").JoinHandle = module.JoinHandle
    return module.Executor


def _executor(variant: str, n: int) -> Any:
    rx = _refexec()
    if variant == "nohooks":
        return _nohooks_executor_class()()
    if variant == "simple":
        cls = _lookup("refexec:SimpleExecutor", "refexec.simple:SimpleExecutor")
        return cls(capacity=n + SIMPLE_SLACK)
    cls = _lookup("refexec:Executor", "refexec.executor:Executor")
    if variant == "traced":
        trace_cls = getattr(rx, "Trace", None) or _lookup("refexec.trace:Trace")
        return cls(trace=trace_cls())
    return cls()


def _yield_now() -> Any:
    fn = _lookup("refexec:yield_now", "refexec.future:yield_now")
    if fn is None:
        raise NotSupported("refexec.yield_now does not exist yet")
    return fn


def spawn(variant: str, n: int) -> Sample:
    ex = _executor(variant, n)
    Count.reset()
    t0 = time.perf_counter()
    sp = ex.spawn
    for _ in range(n):
        sp(trivial())
    ex.run()
    seconds = time.perf_counter() - t0
    Count.check(n, f"refexec {variant} spawn")
    return {"seconds": seconds, "ops": n}


def pingpong(variant: str, n: int) -> Sample:
    ex = _executor(variant, n)
    yield_now = _yield_now()
    Count.reset()
    t0 = time.perf_counter()
    sp = ex.spawn
    for _ in range(n):
        sp(yielder(yield_now))
    ex.run()
    seconds = time.perf_counter() - t0
    Count.check(n, f"refexec {variant} pingpong")
    return {"seconds": seconds, "ops": n * YIELDS_PER_TASK}


def prodcons(variant: str, n: int) -> Sample:
    channel = _lookup("refexec:channel", "refexec.sync:channel")
    if channel is None:
        raise NotSupported("refexec.sync.channel does not exist yet")
    ex = _executor(variant, 2)
    Count.reset()
    t0 = time.perf_counter()
    tx, rx = channel(CHANNEL_CAPACITY)
    ex.spawn(consumer(rx.recv))
    ex.spawn(producer(tx.send, n))
    del tx, rx  # the tasks hold the bound methods; the channel closes with them
    ex.run()
    seconds = time.perf_counter() - t0
    Count.check(n, f"refexec {variant} prodcons")
    return {"seconds": seconds, "ops": n}


def _park_class() -> Any:
    """:class:`Park`, built on the refexec classes once they exist."""
    base = _lookup("refexec:FutureBase", "refexec.future:FutureBase")
    ready = _lookup("refexec:Ready", "refexec.poll:Ready")
    pending = _lookup("refexec:Pending", "refexec.poll:Pending")
    if base is None or ready is None or pending is None:
        raise NotSupported("refexec.future.FutureBase does not exist yet")
    done = ready(None)

    class Park(base):  # type: ignore[misc, valid-type]
        """Pending until woken: the poll stores ``cx.waker.clone()`` in ``sink`` (once)."""

        __slots__ = ("sink", "waker")

        def __init__(self, sink: list[Any]) -> None:
            self.sink = sink
            self.waker: Any = None

        def poll(self, cx: Any) -> Any:
            if self.waker is None:
                self.waker = cx.waker.clone()
                self.sink.append(self)
                return pending
            self.waker = None  # consumed by wake(); this is the re-poll it caused
            return done

    return Park


def _gate_class() -> Any:
    """:class:`Gate`: one future every task of the memory workload waits on, as asyncio's
    memory workload awaits one shared ``asyncio.Future`` (the cheapest pending task each
    runtime has). Its poll keeps ``cx.waker.clone()`` (one Waker handle per waiting task, as
    asyncio keeps one callback per waiting task); ``open()`` wakes them all."""
    base = _lookup("refexec:FutureBase", "refexec.future:FutureBase")
    ready = _lookup("refexec:Ready", "refexec.poll:Ready")
    pending = _lookup("refexec:Pending", "refexec.poll:Pending")
    if base is None or ready is None or pending is None:
        raise NotSupported("refexec.future.FutureBase does not exist yet")
    done = ready(None)

    class Gate(base):  # type: ignore[misc, valid-type]
        __slots__ = ("is_open", "wakers")

        def __init__(self) -> None:
            self.is_open = False
            self.wakers: list[Any] = []

        def poll(self, cx: Any) -> Any:
            if self.is_open:
                return done
            self.wakers.append(cx.waker.clone())
            return pending

        def open(self) -> None:
            self.is_open = True
            wakers, self.wakers = self.wakers, []
            for w in wakers:
                w.wake()

    return Gate


def park_cycle(variant: str, n: int, mark: Mark) -> None:
    gate = _gate_class()()
    ex = _executor(variant, n)
    sink = gate.wakers

    def park() -> Any:
        return gate

    Count.reset()
    mark("start")
    sp = ex.spawn
    for _ in range(n):
        sp(parked(park))

    async def all_parked() -> None:
        # FIFO: this runs after every task above has been polled once, so all are pending.
        if len(sink) != n:
            raise AssertionError(f"{len(sink)} of {n} tasks parked")
        mark("parked")
        gate.open()

    sp(all_parked())
    ex.run()
    Count.check(n, f"refexec {variant} park cycle")


def xthread(variant: str, n: int) -> Sample:
    park_cls = _park_class()
    ex = _executor(variant, n)
    sink: list[Any] = []

    def park() -> Any:
        return park_cls(sink)

    def wake(i: int) -> None:
        sink[i].waker.wake()

    Count.reset()
    sp = ex.spawn
    for _ in range(n):
        sp(parked(park))
    thread = WakerThread(n, lambda: len(sink) == n, wake)
    thread.start()
    ex.run()
    t1 = time.perf_counter()
    thread.join()
    Count.check(n, f"refexec {variant} xthread")
    return {"seconds": t1 - thread.t0, "ops": n}


# --- time and I/O (issue 14 §4) ----------------------------------------------------------------


def _clocked_executor(variant: str, virtual: bool) -> Any:
    """An ``Executor`` of ``variant`` on the real clock or a ``VirtualClock(autojump=True)``."""
    if variant == "simple":
        raise NotSupported("SimpleExecutor has no clock, timers or reactor (the seed's design)")
    rx = _refexec()
    kwargs: dict[str, Any] = {"clock": rx.VirtualClock(autojump=True)} if virtual else {}
    if variant == "nohooks":
        return _nohooks_executor_class()(**kwargs)
    if variant == "traced":
        kwargs["trace"] = rx.Trace()
    return rx.Executor(**kwargs)


def _sleepers(variant: str, n: int, virtual: bool) -> Sample:
    ex = _clocked_executor(variant, virtual)
    sleep = _refexec().sleep
    ds = deadlines(n, SLEEP_SPAN_VIRTUAL if virtual else SLEEP_SPAN_REAL)
    Count.reset()
    t0 = time.perf_counter()
    sp = ex.spawn
    for d in ds:
        sp(sleeper(sleep, d))
    ex.run()
    seconds = time.perf_counter() - t0
    Count.check(n, f"refexec {variant} sleepers")
    return {"seconds": seconds, "ops": n}


def sleepers(variant: str, n: int) -> Sample:
    return _sleepers(variant, n, False)


def sleepers_virtual(variant: str, n: int) -> Sample:
    return _sleepers(variant, n, True)


def _timeouts(variant: str, n: int, virtual: bool) -> Sample:
    ex = _clocked_executor(variant, virtual)
    Count.reset()
    t0 = time.perf_counter()
    ex.spawn(timeouts_async(_refexec().timeout, n))
    ex.run()
    seconds = time.perf_counter() - t0
    Count.check(1, f"refexec {variant} timeouts")
    if ex._driver.armed or ex._driver.heap_size > 64:
        raise AssertionError(f"timers left behind: {ex._driver.heap_size} heap entries")
    return {"seconds": seconds, "ops": n}


def timeouts(variant: str, n: int) -> Sample:
    return _timeouts(variant, n, False)


def timeouts_virtual(variant: str, n: int) -> Sample:
    return _timeouts(variant, n, True)


def _waiting_bytes(variant: str, n: int, sleep: bool) -> float:
    rx = _refexec()
    ex = _clocked_executor(variant, True)
    ev = rx.Event()

    async def task() -> None:
        if sleep:
            await rx.sleep(TIMEOUT_S)
        else:
            await ev.wait()

    coros = [task() for _ in range(n)]

    def setup() -> object:
        for c in coros:
            ex.spawn(c)
        ex.run_until_stalled()
        return None

    grown = traced_bytes(setup)
    ex.close()
    return grown / n


def timer_memory(variant: str, n: int) -> Sample:
    t0 = time.perf_counter()
    per_timer = bytes_per_timer(lambda m, s: _waiting_bytes(variant, m, s), n)
    return {"seconds": time.perf_counter() - t0, "ops": n, "bytes_per_timer": per_timer}


async def _echo_handler(stream: Any) -> None:
    async with stream:
        while data := await stream.recv(65536):
            await stream.sendall(data)


def _echo_run(variant: str, client_body: Any) -> float:
    rx = _refexec()
    ex = _clocked_executor(variant, False)

    async def main() -> float:
        server = await rx.start_server(_echo_handler)
        client = await rx.open_connection("127.0.0.1", server.port)
        try:
            return float(await client_body(client, rx.spawn))
        finally:
            client.close()
            server.close()

    seconds = float(ex.block_on(main(), stall_timeout=60))
    ex.run(stall_timeout=60)  # the connection's handler sees the end of stream and ends
    return seconds


async def _round_trips(client: Any, n: int) -> float:
    msg = b"x" * ECHO_MESSAGE
    recv, sendall = client.recv, client.sendall
    t0 = time.perf_counter()
    for _ in range(n):
        await sendall(msg)
        got = 0
        while got < ECHO_MESSAGE:
            got += len(await recv(65536))
    return time.perf_counter() - t0


async def _bulk(client: Any, spawn: Any, n: int) -> float:
    chunk = b"x" * ECHO_CHUNK
    total = n * ECHO_CHUNK

    async def writer() -> None:
        for _ in range(n):
            await client.sendall(chunk)

    t0 = time.perf_counter()
    w = spawn(writer())
    got = 0
    while got < total:
        got += len(await client.recv(65536))
    await w
    return time.perf_counter() - t0


def echo(variant: str, n: int) -> Sample:
    return {"seconds": _echo_run(variant, lambda c, _sp: _round_trips(c, n)), "ops": n}


def echo_bulk(variant: str, n: int) -> Sample:
    chunks = bulk_chunks(n)
    seconds = _echo_run(variant, lambda c, sp: _bulk(c, sp, chunks))
    return {"seconds": seconds, "ops": chunks, "bytes": chunks * ECHO_CHUNK}
