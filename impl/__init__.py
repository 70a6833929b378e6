"""refexec: a reference async executor whose semantics are a checked state machine."""

from refexec.state import FINAL_STATES, TRANSITIONS, TaskEvent, TaskState

__all__ = ["FINAL_STATES", "TRANSITIONS", "TaskEvent", "TaskState"]
__version__ = "0.1.0"
