#!/usr/bin/env bash
# Worker cold start: exec -> first correct response, thaw run vs Python + sentence-transformers.
# Usage: bench/worker.sh [--runs N] [--warm-requests N] [--skip-python] [--out FILE]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
exec "$root/.venv/bin/python" "$root/bench/worker.py" "$@"
