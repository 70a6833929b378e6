"""Re-run the survivors of a cosmic-ray session against the core tests plus the tests written for
them (``tests/test_mutation_survivors.py``), and print which the new tests kill.

    python mutation/recheck_survivors.py SESSION.sqlite COPY_DIR

``COPY_DIR`` is a copy laid as ``mutation/run.sh`` lays one (``src/refexec``, ``tests``): the
module is mutated there in place, one survivor at a time, and restored after each.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

TESTS = [
    "tests/test_executor.py",
    "tests/test_executor_threads.py",
    "tests/test_mutation_survivors.py",
]


def main() -> int:
    session, copy = sys.argv[1], Path(sys.argv[2]).resolve()
    dump = subprocess.run(["cosmic-ray", "dump", session], capture_output=True, text=True,
                          check=True).stdout
    module = copy / "src/refexec/executor.py"
    pristine = module.read_text()
    env = dict(os.environ, PYTHONPATH=str(copy / "src"))
    killed = survived = 0
    for line in dump.splitlines():
        item, res = json.loads(line)
        if not res or res.get("test_outcome") != "survived":
            continue
        m = item["mutations"][0]
        op, occ = m["operator_name"], m["occurrence"]
        try:
            subprocess.run(["cosmic-ray", "apply", str(module), op, str(occ)], check=True,
                           capture_output=True, cwd=copy)
            r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p",
                                "no:cacheprovider", *TESTS], cwd=copy, env=env,
                               capture_output=True, text=True, timeout=60, check=False)
            dead = r.returncode != 0
        except subprocess.TimeoutExpired:
            dead = True
        finally:
            module.write_text(pristine)
        killed += dead
        survived += not dead
        print(f"{'KILLED  ' if dead else 'SURVIVES'} line {m['start_pos'][0]:>5} {op} #{occ}")
    print(f"survivors re-run: {killed} now killed, {survived} still survive")
    shutil.rmtree(copy / ".pytest_cache", ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
