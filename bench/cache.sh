#!/usr/bin/env bash
# The cache benchmark, one command: builds what it needs, then runs bench/cache.py (see there).
#   bench/cache.sh [--mb 500] [--mbps 100] [--rtt-ms 50]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${THAW_BUILD_DIR:-$root/build}
cmake --build "$build" --target thaw cache_make_bundle -j "$(nproc)" >/dev/null
THAW_BIN="$build/thaw" exec "$root/.venv/bin/python" "$root/bench/cache.py" "$@"
