"""The package as a user gets it: the sdist and its tests, the metadata, the install without the
checkers' dependencies, and type-checking a user's code against an editable install.

These build and install (with the registry's setuptools, as ``pip install`` does), so the module
is in the full tier only (``SLOW_MODULES`` in conftest.py).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tarfile
import venv
from email.parser import Parser
from pathlib import Path

import pytest
import refexec

ROOT = Path(__file__).resolve().parent.parent


def _run(argv: list[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          check=False)


@pytest.fixture(scope="module")
def sdist_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    res = _run([sys.executable, "-m", "build", "--sdist", "--outdir", str(out), str(ROOT)], ROOT)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    (archive,) = out.glob("refexec-*.tar.gz")
    dest = tmp_path_factory.mktemp("unpacked")
    with tarfile.open(archive) as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(dest, filter="data")
        else:  # pragma: no cover (Python < 3.10.12 / 3.11.4)
            tar.extractall(dest)
    (root,) = dest.iterdir()
    return root


def _collected(cwd: Path) -> int:
    res = _run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"],
               cwd)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    m = re.search(r"(\d+) tests? collected", res.stdout)
    assert m is not None, res.stdout[-2000:]
    return int(m.group(1))


def test_sdist_carries_what_its_tests_need(sdist_root: Path) -> None:
    for path in ("LICENSE", "README.md", "tests/conftest.py", "tests/core_support.py",
                 "tests/injected_bugs.py", "spec/SPEC.md", "benchmarks/runner.py"):
        assert (sdist_root / path).is_file(), f"the sdist lacks {path}"
    assert (sdist_root / "tests" / "regressions").is_dir()
    assert _collected(sdist_root) == _collected(ROOT)


def test_metadata_license_classifiers_keywords(sdist_root: Path) -> None:
    meta = Parser().parsestr((sdist_root / "PKG-INFO").read_text(encoding="utf-8"))
    assert meta["License-Expression"] == "MIT"
    assert "LICENSE" in (meta.get_all("License-File") or [])
    classifiers = meta.get_all("Classifier") or []
    for v in ("3.10", "3.11", "3.12", "3.13"):
        assert f"Programming Language :: Python :: {v}" in classifiers
    assert any(c.startswith("Development Status ::") for c in classifiers)
    assert not any(c.startswith("Framework :: AsyncIO") for c in classifiers)
    assert "executor" in (meta["Keywords"] or "") and meta["Author"]
    requires = meta.get_all("Requires-Dist") or []
    z3 = [r for r in requires if r.startswith("z3-solver")]
    assert z3 and all('extra == "verify"' in r for r in z3), requires
    # the Quick start's `pip install -e '.[dev]'` installs the checkers too
    assert any(r.startswith("refexec[verify]") and 'extra == "dev"' in r for r in requires)
    assert (sdist_root / "LICENSE").read_text(encoding="utf-8").startswith("MIT License")


def test_readme_has_no_relative_links_that_break_on_the_package_index() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)]+)\)", text)
    assert all(t.startswith(("http://", "https://", "#")) for t in targets), targets


def test_gitignore_covers_local_virtual_environments() -> None:
    lines = (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()
    for name in (".venv/", "venv/"):
        assert name in lines


@pytest.fixture(scope="module")
def bare_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with refexec installed as the README says for type-checking (editable,
    strict mode) and *without* its extras: the executor alone."""
    where = tmp_path_factory.mktemp("venv") / "v"
    venv.create(where, with_pip=True)
    py = where / "bin" / "python"
    if not py.exists():  # pragma: no cover (Windows)
        py = where / "Scripts" / "python.exe"
    res = _run([str(py), "-m", "pip", "install", "-q", "--no-deps", "-e", str(ROOT),
                "--config-settings", "editable_mode=strict"], ROOT)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return py


def test_executor_runs_without_z3_or_hypothesis_and_verify_names_the_extra(
    bare_venv: Path, tmp_path: Path
) -> None:
    code = ("import sys, refexec\n"
            "async def main():\n    return 41 + 1\n"
            "assert refexec.block_on(main()) == 42\n"
            "assert 'z3' not in sys.modules and 'hypothesis' not in sys.modules\n")
    res = _run([str(bare_venv), "-c", code], tmp_path)
    assert res.returncode == 0, res.stderr
    cli = [str(bare_venv), "-c", "import sys; from refexec.cli import main; sys.exit(main())"]
    res = _run([*cli, "run", "hello"], tmp_path)
    assert res.returncode == 0, res.stderr
    res = _run([*cli, "verify"], tmp_path)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "pip install 'refexec[verify]'" in res.stderr


def test_mypy_finds_refexec_after_the_documented_editable_install(
    bare_venv: Path, tmp_path: Path
) -> None:
    user = tmp_path / "user.py"
    user.write_text(
        "import refexec\n\n\nasync def main() -> int:\n    return 1\n\n\n"
        "ok: int = refexec.block_on(main())\nwrong: str = refexec.block_on(main())\n",
        encoding="utf-8",
    )
    res = _run([sys.executable, "-m", "mypy", "--strict", "--no-incremental",
                "--python-executable", str(bare_venv), str(user)], tmp_path)
    assert "import-not-found" not in res.stdout and "missing library stubs" not in res.stdout
    # refexec's types were read: the one wrong assignment is found, the right one is not
    assert res.stdout.count("error:") == 1 and "user.py:9:" in res.stdout, res.stdout
    assert refexec.__version__ in (ROOT / "pyproject.toml").read_text(encoding="utf-8")


def _collect(
    args: list[str], env_extra: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("REFEXEC_DEEP", "REFEXEC_PROFILE")}
    env.update(env_extra or {})
    return subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False, env=env,
    )


def test_fast_tier_leaves_out_exactly_the_slow_modules() -> None:
    from conftest import SLOW_MODULES  # noqa: PLC0415

    full = _collect([])
    fast = _collect(["-m", "not slow"])
    assert full.returncode == 0 and fast.returncode == 0, fast.stderr
    fast_files = {line.split("::")[0] for line in fast.stdout.splitlines() if "::" in line}
    full_files = {line.split("::")[0] for line in full.stdout.splitlines() if "::" in line}
    assert {Path(f).stem for f in full_files - fast_files} == set(SLOW_MODULES)
    assert "tests/test_executor.py" in fast_files


def test_the_old_deep_switch_is_refused_not_ignored() -> None:
    res = _collect([], {"REFEXEC_DEEP": "1"})
    assert res.returncode != 0 and "REFEXEC_PROFILE=deep" in (res.stdout + res.stderr)
