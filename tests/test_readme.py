"""Every Python example in README.md runs as written, and the Quick start stays two commands."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
TEXT = README.read_text(encoding="utf-8")
FRAGMENT = "# (a fragment"
"""A block that starts with this comment is an excerpt, not a program; it is not run."""
BLOCKS = [b for b in re.findall(r"```python\n(.*?)```", TEXT, re.S) if not b.startswith(FRAGMENT)]


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_python_example_runs(index: int) -> None:
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", BLOCKS[index]],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"README example {index} failed:\n{result.stderr}"


def test_quick_start_has_exactly_two_commands_install_verify_and_tests() -> None:
    section = re.search(r"^## Quick start\n(.*?)(?=^## )", TEXT, re.S | re.M)
    assert section is not None
    block = re.search(r"```[a-z]*\n(.*?)```", section.group(1), re.S)
    assert block is not None
    commands = [line for line in block.group(1).splitlines() if line.strip()]
    assert len(commands) == 2
    assert "refexec verify" in commands[0]
    assert commands[1] == "python -m pytest -n 2"
    ci = (README.parent / ".ci" / "run").read_text(encoding="utf-8")
    assert commands[1] in ci.splitlines(), ".ci/run must run exactly the README's test command"
