#!/usr/bin/env bash
# One command for the load benchmark: thaw mmap/read/zstd against safetensors, torch.load, tensorizer
# and the Run:ai streamer, hot and cold page cache, with the machine's limits measured in the same run.
# Arguments go to bench/load.py (--quick, --models, --cache, --methods, --trials, --threads, --thaw).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
py=${THAW_PYTHON:-$root/.venv/bin/python}
exec "$py" "$root/bench/load.py" "$@"
