#!/usr/bin/env bash
# Session-creation benchmark for the ONNX Runtime backend (MiniLM). One command: builds the bench,
# lays the model out like a bundle, measures plain ORT against every zero-copy weight source with
# and without pack-time optimisation, first/warm inference, and exec -> first answer in fresh
# processes. Prints markdown tables; writes bench/results/session-latest.json.
#
#   bench/session.sh                 # REPS=20 EXEC_REPS=10 by default
#   REPS=5 EXEC_REPS=3 bench/session.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${THAW_BUILD_DIR:-$root/build}
python=${THAW_PYTHON:-$root/.venv/bin/python}
model=$root/models/src/minilm/model.onnx
work=$build/bench-session
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
cmake --build "$build" --target thaw_session_bench -j "$(nproc)" >/dev/null
mkdir -p "$work" "$root/bench/results"
if [ ! -f "$work/graph.onnx" ] || [ "$model" -nt "$work/graph.onnx" ]; then
  "$python" "$root/tests/engine/onnx/make_external_model.py" "$model" "$work"
fi
# Hot page cache for every variant: read the inputs once.
cat "$model" "$work/thaw.data" > /dev/null
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg)"
"$build/src/engine/onnx/thaw_session_bench" --model "$model" --bundle-dir "$work" \
  --reference "$root/models/src/minilm/reference.json" \
  --reps "${REPS:-20}" --exec-reps "${EXEC_REPS:-10}" --json "$root/bench/results/session-latest.json"
