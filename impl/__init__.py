"""refexec: a reference async executor whose semantics are a checked state machine.

``import refexec`` is light: it never imports z3 or Hypothesis (those live in
``refexec.models``).
"""

from refexec.blocking import block_on
from refexec.clock import Clock, MonotonicClock, VirtualClock
from refexec.errors import Cancelled, DeadlockError, RefexecError, Stalled, TaskLost, WakerError
from refexec.executor import (
    Executor,
    ExecutorSnapshot,
    JoinHandle,
    RunReport,
    Spawner,
    Stats,
    TaskSnapshot,
)
from refexec.explore import (
    AlwaysViolated,
    ExplorationFailed,
    ExploreReport,
    always,
    explore,
    replay,
    sometimes,
)
from refexec.future import Future, FutureBase, spawn, yield_now
from refexec.group import TaskGroup, TaskGroupError, gather, race, select
from refexec.locks import (
    Barrier,
    BoundedSemaphore,
    Condition,
    Lock,
    Queue,
    QueueEmpty,
    QueueFull,
    Semaphore,
)
from refexec.net import (
    Server,
    Stream,
    open_connection,
    start_server,
    wait_readable,
    wait_writable,
)
from refexec.poll import Pending, PendingType, Poll, Ready
from refexec.schedule import Schedule, ScheduleDivergence
from refexec.simple import SimpleExecutor, SimpleSnapshot, SimpleTaskSnapshot
from refexec.state import FINAL_STATES, TRANSITIONS, TaskEvent, TaskState
from refexec.sync import (
    ChannelClosed,
    ChannelEmpty,
    ChannelFull,
    Event,
    OneshotReceiver,
    OneshotSender,
    Receiver,
    Sender,
    channel,
    oneshot,
)
from refexec.tasks import current_task
from refexec.threads import to_thread
from refexec.timers import now, now_ns, sleep, sleep_until, timeout, with_timeout
from refexec.trace import Trace, TraceEvent
from refexec.waitqueue import WaitQueue, Woken
from refexec.waker import Context, RawWaker, RawWakerVTable, Waker, noop_waker

__all__ = [
    "Barrier",
    "BoundedSemaphore",
    "Condition",
    "Lock",
    "Queue",
    "QueueEmpty",
    "QueueFull",
    "Semaphore",
    "WaitQueue",
    "Woken",
    "Clock",
    "MonotonicClock",
    "VirtualClock",
    "now",
    "now_ns",
    "sleep",
    "sleep_until",
    "timeout",
    "with_timeout",
    "Server",
    "Stream",
    "open_connection",
    "start_server",
    "wait_readable",
    "wait_writable",
    "ChannelClosed",
    "ChannelEmpty",
    "ChannelFull",
    "Event",
    "OneshotReceiver",
    "OneshotSender",
    "Receiver",
    "Sender",
    "channel",
    "oneshot",
    "FINAL_STATES",
    "TRANSITIONS",
    "Cancelled",
    "Context",
    "DeadlockError",
    "Executor",
    "ExecutorSnapshot",
    "Future",
    "FutureBase",
    "JoinHandle",
    "Pending",
    "PendingType",
    "Poll",
    "RawWaker",
    "RawWakerVTable",
    "Ready",
    "RefexecError",
    "RunReport",
    "SimpleExecutor",
    "SimpleSnapshot",
    "SimpleTaskSnapshot",
    "Spawner",
    "Stalled",
    "Stats",
    "TaskEvent",
    "TaskGroup",
    "TaskGroupError",
    "TaskLost",
    "TaskSnapshot",
    "TaskState",
    "Trace",
    "TraceEvent",
    "Waker",
    "WakerError",
    "block_on",
    "current_task",
    "gather",
    "noop_waker",
    "race",
    "select",
    "spawn",
    "to_thread",
    "yield_now",
    # schedule exploration
    "AlwaysViolated",
    "ExplorationFailed",
    "ExploreReport",
    "Schedule",
    "ScheduleDivergence",
    "always",
    "explore",
    "replay",
    "sometimes",
]
__version__ = "0.1.0"
