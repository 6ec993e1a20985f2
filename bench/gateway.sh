#!/usr/bin/env bash
# Gateway benchmark: thaw serve's added latency over a bare worker (tiny model at 1k and 5k req/s),
# MiniLM's first request from each rung, and Ray Serve (scale-to-zero) side by side.
# Usage: bench/gateway.sh [--quick] [--rates 1000,5000] [--duration 10] [--skip-ray] [--out DIR]
# Needs build/thaw (scripts/build.sh). Ray Serve is installed into .venv on first use
# (tools/requirements-bench.txt).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
exec "$root/.venv/bin/python" "$root/bench/gateway.py" "$@"
