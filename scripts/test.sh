#!/usr/bin/env bash
# Sets up a fresh machine if needed, builds, and runs every test: C++ unit tests (ctest), the
# worker protocol's conformance suite and the end-to-end Python tests (pytest), and a short fuzz
# run of each parser.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/setup.sh
scripts/build.sh
echo "== C++ unit tests (ctest)"
ctest --test-dir build --output-on-failure -j "$(nproc)"
if [ -d tests/conformance ]; then
  echo "== worker protocol conformance of thaw run (pytest)"
  THAW_BIN="$root/build/thaw" .venv/bin/python -m pytest -q tests/conformance
  echo "== worker protocol conformance of the Python worker (pytest)"
  pydir=$(mktemp -d)
  build/thaw pack --python tests/e2e/python_handlers/scale.py --extra tests/e2e/python_handlers/scale \
    -o "$pydir/scale.thaw" >/dev/null
  THAW_BIN="$root/build/thaw" THAW_WORKER_BUNDLE="$pydir/scale.thaw" THAW_PYTHON="$root/.venv/bin/python" \
    THAW_PYTHON_CACHE="$pydir/cache" .venv/bin/python -m pytest -q tests/conformance
  rm -rf "$pydir"
fi
if [ -d tests/python ]; then
  echo "== the Python worker's own tests (pytest)"
  .venv/bin/python -m pytest -q tests/python
fi
if [ -d tests/e2e ]; then
  echo "== end-to-end tests (pytest)"
  THAW_BIN="$root/build/thaw" .venv/bin/python -m pytest -q tests/e2e
fi
if [ -d tests/deploy ]; then
  echo "== Kubernetes manifests in deploy/ (pytest)"
  THAW_BIN="$root/build/thaw" .venv/bin/python -m pytest -q tests/deploy
fi
if [ -x scripts/fuzz.sh ]; then
  echo "== fuzzing the parsers briefly"
  scripts/fuzz.sh --seconds "${THAW_FUZZ_SECONDS:-10}"
fi
