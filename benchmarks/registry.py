"""The runtimes and workloads the suite knows, in the order the report lists them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Runtime:
    name: str
    module: str  # the benchmarks.rt_* module that drives it
    variant: str  # passed to every function of that module
    about: str


@dataclass(frozen=True)
class Workload:
    name: str
    unit: str  # what one op is
    about: str


RUNTIMES: dict[str, Runtime] = {
    r.name: r
    for r in [
        Runtime("refexec", "benchmarks.rt_refexec", "executor", "refexec.Executor, tracing off"),
        Runtime(
            "refexec-traced", "benchmarks.rt_refexec", "traced", "refexec.Executor, tracing on"
        ),
        Runtime(
            "refexec-nohooks",
            "benchmarks.rt_refexec",
            "nohooks",
            "refexec.Executor rebuilt without its tracing hooks",
        ),
        Runtime("simple", "benchmarks.rt_refexec", "simple", "refexec.SimpleExecutor"),
        Runtime("asyncio", "benchmarks.rt_asyncio", "asyncio", "asyncio, default event loop"),
        Runtime("uvloop", "benchmarks.rt_asyncio", "uvloop", "asyncio on uvloop's event loop"),
        Runtime("trio", "benchmarks.rt_trio", "trio", "trio, one nursery"),
        Runtime("bare", "benchmarks.rt_bare", "bare", "bare loop: deque + coro.send(None)"),
        Runtime(
            "bare-task",
            "benchmarks.rt_bare",
            "task",
            "bare loop + the least task object and spawn() call: the floor for task executors",
        ),
    ]
}

WORKLOADS: dict[str, Workload] = {
    w.name: w
    for w in [
        Workload("spawn", "task", "spawn N trivial tasks and run them all to completion"),
        Workload(
            "pingpong",
            "switch",
            "N tasks, each yielding 4 times with the runtime's own yield (ops = 4N switches)",
        ),
        Workload(
            "prodcons",
            "message",
            "one producer, one consumer, N messages over the runtime's bounded channel (cap 100)",
        ),
        Workload(
            "xthread",
            "wake",
            "N parked tasks, each woken once from another thread (time: first wake to last done)",
        ),
        Workload(
            "memory",
            "task",
            "N tasks pending at once: bytes per pending task (tracemalloc) and peak RSS",
        ),
        # time and I/O (issue 14 §4)
        Workload(
            "sleepers",
            "sleep",
            "N tasks, each sleeping a random duration in [0, 1 ms) (same seed for all), real clock",
        ),
        Workload(
            "timeouts",
            "timeout",
            "one task arming and cancelling N timeouts (an empty `timeout(60)` block), real clock",
        ),
        Workload(
            "sleepers-virtual",
            "sleep",
            "N tasks sleeping random durations in [0, 1 h) on a virtual clock that jumps when "
            "idle (refexec VirtualClock(autojump=True), trio MockClock(autojump_threshold=0), "
            "asyncio under looptime)",
        ),
        Workload(
            "timeouts-virtual",
            "timeout",
            "the timeouts workload on the virtual clocks of sleepers-virtual",
        ),
        Workload(
            "echo",
            "round trip",
            "TCP echo on 127.0.0.1: one client, N round trips of 64 bytes (the runtime's "
            "stream API on both ends; timed from the first send to the last reply)",
        ),
        Workload(
            "echo-bulk",
            "64 KiB chunk",
            "TCP echo on 127.0.0.1: N/16 chunks of 64 KiB written by one task while another "
            "reads the echo (throughput: ops/s x 64 KiB)",
        ),
        Workload(
            "timer-memory",
            "timer",
            "bytes one armed timer adds to a waiting task: N tasks sleeping 60 s minus N tasks "
            "waiting on an Event (tracemalloc, N <= 20,000)",
        ),
    ]
}

#: The workloads whose ratio is of bytes (lower is better), with the metric they compare.
BYTES_METRIC = {"memory": "overhead_bytes_per_task", "timer-memory": "bytes_per_timer"}

#: The baselines every ratio is taken against.
BASELINES = ("asyncio", "bare")
