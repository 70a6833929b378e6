"""The ``refexec`` command."""

from __future__ import annotations


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``refexec`` console script."""
    raise SystemExit("refexec: not yet implemented")
