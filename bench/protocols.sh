#!/usr/bin/env bash
# gRPC against REST on thaw serve and on KServe's model server, with the loopback floor, in one run.
# Usage: bench/protocols.sh [--rounds 10] [--per-round 20] [--skip-peer] [--out DIR]
# Needs build/thaw (scripts/build.sh) and the venv (scripts/setup.sh).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
exec "$root/.venv/bin/python" "$root/bench/protocols.py" "$@"
