#!/usr/bin/env bash
# Mutation testing of the executor core with cosmic-ray (see mutation/README.md).
#
#   pip install -e '.[mutation]'        # cosmic-ray
#   bash mutation/run.sh                # ~20 minutes on 2 cores; report in $WORK/report.txt
#
# cosmic-ray edits the module under test in place, so this never runs in the work tree: it lays
# two copies of the package (the installed layout: refexec = impl/, refexec.models = models/)
# and of tests/ under $WORK, one per worker, and points each worker's PYTHONPATH at its copy.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
WORK=${WORK:-$(mktemp -d)}
PORTS=(9871 9872)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
for i in 0 1; do
  d="$WORK/w$i"
  rm -rf "$d"; mkdir -p "$d/src"
  cp -r "$root/impl" "$d/src/refexec"
  cp -r "$root/models" "$d/src/refexec/models"
  cp -r "$root/tests" "$d/tests"
  cp "$root/pyproject.toml" "$root/mutation/cosmic-ray.toml" "$d/"
  (cd "$d" && PYTHONPATH="$d/src" exec cosmic-ray http-worker --port "${PORTS[$i]}") \
    >"$WORK/worker$i.log" 2>&1 &
  pids+=($!)
done
cd "$WORK/w0"
export PYTHONPATH="$WORK/w0/src"
rm -f session.sqlite
cosmic-ray init cosmic-ray.toml session.sqlite
cr-filter-operators session.sqlite cosmic-ray.toml
cosmic-ray baseline cosmic-ray.toml
cosmic-ray exec cosmic-ray.toml session.sqlite
cr-report session.sqlite --show-output > "$WORK/report.txt" || true
cr-rate session.sqlite --estimate || true
tail -n 4 "$WORK/report.txt"
echo "session: $WORK/w0/session.sqlite  report: $WORK/report.txt"
