#!/usr/bin/env bash
# Worker cold start: exec -> first correct response for MiniLM and a synthetic BERT-large-shaped
# model: thaw run (page cache hot and cold, --zygote) vs a Python handler and plain ONNX Runtime C++.
# Usage: bench/worker.sh [--runs N] [--models minilm,bertlarge] [--warm-requests N] [--skip-python] [--out FILE]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${THAW_BUILD_DIR:-$root/build}
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
cmake --build "$build" --target thaw thaw_ort_first_answer thaw_page_cache -j "$(nproc)" >/dev/null
export THAW_BIN=${THAW_BIN:-$build/thaw}
exec "$root/.venv/bin/python" "$root/bench/worker.py" "$@"
