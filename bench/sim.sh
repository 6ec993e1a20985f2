#!/usr/bin/env bash
# Policy benchmark on the Azure Functions 2019 sample, one command:
#   paper comparison (fixed 10 min vs hybrid histogram), thaw's ladder against the published peers
#   (hybrid histogram, SPES, FaaSCache: each at its default, and the ladder at each one's idle
#   memory, its budget bisected to match it: bench/match_memory.py), GBM vs fixed 4 min, every family's parameter sweep on
#   both cores, single-core speed, and the peers against the ladder with MiniLM's measured rung
#   profile. Release build. Prints a markdown table and writes
#   bench/results/sim-latest.json, bench/results/sim-pareto.png and sim-pareto-cdf.png.
# Env: THAW_TRACE (trace dir), THAW_RELEASE_BUILD_DIR (default build-release), THAW_PYTHON.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/bench/trace_env.sh"
release_thaw

echo "== Speed: one configuration per run, one core (wall time includes reading the trace)" >&2
: > "$raw/speed.txt"
for p in fixed10 fixed4 hybrid ladder gbm spes faascache; do
  start=$("$python" -c "import time; print(time.time())")
  # CPU seconds too: on a loaded machine wall time counts the other processes' turns.
  /usr/bin/time -f "%U %S" -o "$raw/cpu-$p.txt" \
    "$thaw" sim --trace "$trace" --policy "$p" --threads 1 --no-progress --json "$raw/speed-$p.json" >/dev/null
  end=$("$python" -c "import time; print(time.time())")
  echo "$p $start $end $(awk '{print $1 + $2}' "$raw/cpu-$p.txt")" >> "$raw/speed.txt"
done

echo "== Sweeps on both cores (fixed, hybrid, ladder, gbm, spes, faascache)" >&2
start=$("$python" -c "import time; print(time.time())")
"$thaw" sim --trace "$trace" --policy fixed10 --policy hybrid --policy ladder --policy fixed4 --policy gbm \
  --policy spes --policy faascache --sweep --threads 2 --json "$raw/sim-sweep.json"
end=$("$python" -c "import time; print(time.time())")
echo "sweep $start $end" >> "$raw/speed.txt"

# The ladder at each peer's memory: its budget bisected until everything the ladder holds (warm +
# zygote + page cache) comes as close as it gets to the peer's idle memory without going over
# (bench/match_memory.py; a budget equal to the peer's average would leave memory unused).
targets=$("$python" -c "
import json
j=json.load(open('$raw/sim-sweep.json'))
for name in ('hybrid', 'spes', 'faascache'):
    r=next(r for r in j['results'] if r['requested']==name)
    print(name, r['idle_gb_s'])")
budget_args=()
while read -r name target; do
  echo "== Ladder at the $name policy's memory ($target GB·s)" >&2
  "$python" "$root/bench/match_memory.py" --thaw "$thaw" --trace "$trace" --target-gb-s "$target" \
    --out "$raw/sim-budget-$name.json" >/dev/null
  budget_args+=(--budget "$name=$raw/sim-budget-$name.json")
done <<< "$targets"

# The same comparison with the rung costs thaw serve measured for MiniLM (profiles/minilm-measured.yaml,
# bench/profile.sh): defaults of the peers and the ladder, then the ladder at the best peer's memory.
measured_profile=$root/profiles/minilm-measured.yaml
echo "== Defaults with the measured profile ($measured_profile)" >&2
"$thaw" sim --trace "$trace" --profile "$measured_profile" --policy hybrid --policy spes --policy faascache \
  --policy ladder --threads 2 --no-progress --json "$raw/sim-measured.json" >/dev/null
read -r mname mtarget < <("$python" -c "
import json
j=json.load(open('$raw/sim-measured.json'))
rs={r['requested']: r for r in j['results']}
exp=lambda r: r['starts_by_rung']['page_cache']+r['starts_by_rung']['disk']
best=min(('hybrid','spes','faascache'), key=lambda k: exp(rs[k]))
print(best, rs[best]['idle_gb_s'])")
echo "== Ladder at $mname's memory with the measured profile ($mtarget GB·s)" >&2
"$python" "$root/bench/match_memory.py" --thaw "$thaw" --trace "$trace" --profile "$measured_profile" \
  --target-gb-s "$mtarget" --out "$raw/sim-measured-budget.json" >/dev/null

"$python" "$root/bench/sim_summary.py" --sweep "$raw/sim-sweep.json" "${budget_args[@]}" \
  --measured "$raw/sim-measured.json" --measured-budget "$mname=$raw/sim-measured-budget.json" \
  --speed "$raw/speed.txt" --speed-json-dir "$raw" --out "$out/sim-latest.json"
"$python" "$root/tools/plot_sim.py" --json "$raw/sim-sweep.json" --out "$out/sim-pareto.png"
echo "wrote $out/sim-latest.json, $out/sim-pareto.png, $out/sim-pareto-cdf.png" >&2
