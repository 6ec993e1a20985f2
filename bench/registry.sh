#!/usr/bin/env bash
# The registry-rung benchmark, one command: builds what it needs, then runs bench/registry.py.
#   bench/registry.sh [--repeats 3] [--mbps 100] [--rtt-ms 50] [--rates 1000,50] [--delta-mb 200] [--tiny-rates 1000,800,600,400,200]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${THAW_BUILD_DIR:-$root/build}
cmake --build "$build" --target thaw cache_make_bundle -j "$(nproc)" >/dev/null
THAW_BIN="$build/thaw" exec "$root/.venv/bin/python" "$root/bench/registry.py" "$@"
