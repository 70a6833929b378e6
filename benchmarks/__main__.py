"""``python -m benchmarks``: see :mod:`benchmarks.runner`."""

from __future__ import annotations

import sys

try:
    import refexec  # noqa: F401
except ImportError:
    sys.exit(
        "python -m benchmarks: refexec is not installed; from the repository root run "
        "`pip install -e '.[bench]'` first."
    )

from benchmarks.runner import main

raise SystemExit(main())
