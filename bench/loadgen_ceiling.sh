#!/usr/bin/env bash
# The load generator's own ceiling against a tiny-model worker on this machine.
# Usage: bench/loadgen_ceiling.sh [--rates 2000,5000,10000,15000,20000,30000] [--duration 5] [--target infer|live]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
exec "$root/.venv/bin/python" "$root/bench/loadgen_ceiling.py" "$@"
