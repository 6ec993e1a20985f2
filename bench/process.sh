#!/usr/bin/env bash
# Process-layer benchmark (MiniLM): start -> ready of `thaw run` from disk, after warm_page_cache
# and with a hot page cache; zygote fork -> ready; stop times; PSS of a worker, a template and its
# children. Prints markdown tables; writes bench/results/process-latest.json.
#
#   bench/process.sh              # REPS=10 CHILDREN=4 by default
#   REPS=3 bench/process.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${THAW_BUILD_DIR:-$root/build}
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
cmake --build "$build" --target thaw thaw_process_bench -j "$(nproc)" >/dev/null
work=$build/bench-process
mkdir -p "$work" "$root/bench/results"
bundle=$work/minilm.thaw
src=$root/models/src/minilm
if [ ! -f "$bundle" ] || [ "$build/thaw" -nt "$bundle" ]; then
  "$build/thaw" pack "$src/model.onnx" --extra "$src/tokenizer.json" -o "$bundle" >/dev/null
fi
"$build/src/manager/thaw_process_bench" --thaw "$build/thaw" --bundle "$bundle" \
  --reps "${REPS:-10}" --children "${CHILDREN:-4}" --json "$root/bench/results/process-latest.json"
