#!/usr/bin/env bash
# Policy benchmark on the Azure Functions 2019 sample, one command:
#   paper comparison (fixed 10 min vs hybrid histogram), thaw's ladder vs hybrid (default, and at
#   the hybrid's idle memory via the ladder's memory budget), GBM vs fixed 4 min, parameter sweeps
#   on both cores, and single-core speed. Release build. Prints a markdown table and writes
#   bench/results/sim-latest.json, bench/results/sim-pareto.png and sim-pareto-cdf.png.
# Env: THAW_TRACE (trace dir), THAW_RELEASE_BUILD_DIR (default build-release), THAW_PYTHON.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
trace=${THAW_TRACE:-}
if [ -z "$trace" ]; then
  for c in "$root/../shared/traces/azure2019-sample" "$root/../../shared/traces/azure2019-sample" /work/shared/traces/azure2019-sample; do
    if [ -d "$c" ]; then trace=$c; break; fi
  done
fi
[ -d "$trace" ] || { echo "trace directory not found; set THAW_TRACE" >&2; exit 2; }
build=${THAW_RELEASE_BUILD_DIR:-$root/build-release}
python=${THAW_PYTHON:-$root/.venv/bin/python}
[ -x "$python" ] || python=python3
out=$root/bench/results
raw=$out/raw
mkdir -p "$out" "$raw"

echo "== Release build ($build)" >&2
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTHAW_BUILD_TESTS=OFF -DTHAW_BUILD_BENCH=OFF >/dev/null
cmake --build "$build" --target thaw -j "$(nproc)" >/dev/null
thaw=$build/thaw

echo "== Speed: one configuration per run, one core (wall time includes reading the trace)" >&2
: > "$raw/speed.txt"
for p in fixed10 fixed4 hybrid ladder gbm; do
  start=$("$python" -c "import time; print(time.time())")
  "$thaw" sim --trace "$trace" --policy "$p" --threads 1 --no-progress --json "$raw/speed-$p.json" >/dev/null
  end=$("$python" -c "import time; print(time.time())")
  echo "$p $start $end" >> "$raw/speed.txt"
done

echo "== Sweeps on both cores (fixed, hybrid, ladder, gbm)" >&2
start=$("$python" -c "import time; print(time.time())")
"$thaw" sim --trace "$trace" --policy fixed10 --policy hybrid --policy ladder --policy fixed4 --policy gbm \
  --sweep --threads 2 --json "$raw/sim-sweep.json"
end=$("$python" -c "import time; print(time.time())")
echo "sweep $start $end" >> "$raw/speed.txt"

# The ladder under a memory budget equal to the hybrid policy's average idle memory, counting
# everything the ladder holds (warm + zygote + page cache) against it.
budget=$("$python" -c "
import json,sys
j=json.load(open('$raw/sim-sweep.json'))
h=next(r for r in j['results'] if r['requested']=='hybrid')
print(h['idle_gb_s']/(j['trace']['minutes']*60))")
echo "== Ladder at the hybrid policy's memory: budget_gb=$budget" >&2
"$thaw" sim --trace "$trace" --policy "ladder:budget_gb=$budget,lambda=1e7" --threads 1 --no-progress \
  --json "$raw/sim-budget.json"

"$python" "$root/bench/sim_summary.py" --sweep "$raw/sim-sweep.json" --budget "$raw/sim-budget.json" \
  --speed "$raw/speed.txt" --speed-json-dir "$raw" --out "$out/sim-latest.json"
"$python" "$root/tools/plot_sim.py" --json "$raw/sim-sweep.json" --out "$out/sim-pareto.png"
echo "wrote $out/sim-latest.json, $out/sim-pareto.png, $out/sim-pareto-cdf.png" >&2
