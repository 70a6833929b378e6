"""placeholder"""

from __future__ import annotations

from refexec.models.reference_parametric import PInvariant, PStep

INVARIANTS: tuple[PInvariant, ...] = ()
STEP_PROPERTIES: tuple[PStep, ...] = ()
