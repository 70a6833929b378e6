"""The ``any`` scheduling policy (bounds key ``policy`` = 1) for every number of tasks.

``poll(t)`` takes *any* SCHEDULED task, not the head of the queue (the builder's ``m.queued``
instead of ``m.is_head``; the timestamp queue's ``dequeue`` is the task leaving SCHEDULED by
its own row, whichever it is). Nothing else changes, so the core's invariants hold as they
are: EX-QUEUE-EXACT's parametric form (the queue is the SCHEDULED tasks, their timestamps
distinct and below ``tail``) does not depend on which task leaves. EX-FIFO does not apply, nor
(with the driver) EX-TIMER-PROMPT and EX-IO-PROMPT (the fixed-N properties drop them for this
policy: :func:`refexec.models.properties.make_properties`), so they are dropped here too
(``REPLACES``); the policy needs no auxiliary
invariant.
"""

from __future__ import annotations

from refexec.models.reference_parametric import PInvariant, PStep

INVARIANTS: tuple[PInvariant, ...] = ()
STEP_PROPERTIES: tuple[PStep, ...] = ()
REPLACES = ("EX-FIFO", "EX-TIMER-PROMPT", "EX-IO-PROMPT")
"""Step properties that do not hold under the ``any`` policy: any SCHEDULED task may be polled
next, and polling before a due timer or a ready fd is the policy's choice (the fixed-N property
list drops the same three)."""
