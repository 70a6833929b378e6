"""The ``any`` scheduling policy (bounds key ``policy`` = 1) for every number of tasks.

``poll(t)`` takes *any* SCHEDULED task, not the head of the queue (the builder's ``m.queued``
instead of ``m.is_head``; the timestamp queue's ``dequeue`` is the task leaving SCHEDULED by
its own row, whichever it is). Nothing else changes, so the core's invariants hold as they
are: EX-QUEUE-EXACT's parametric form (the queue is the SCHEDULED tasks, their timestamps
distinct and below ``tail``) does not depend on which task leaves. EX-FIFO does not apply
(the fixed-N properties drop it for this policy: :func:`refexec.models.properties.make_properties`),
so the step property is dropped here too (``REPLACES``); the policy needs no auxiliary
invariant.
"""

from __future__ import annotations

from refexec.models.reference_parametric import PInvariant, PStep

INVARIANTS: tuple[PInvariant, ...] = ()
STEP_PROPERTIES: tuple[PStep, ...] = ()
REPLACES = ("EX-FIFO",)
"""Core step properties that do not hold under the ``any`` policy (any SCHEDULED task may be
polled next)."""
