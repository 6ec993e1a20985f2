#!/usr/bin/env bash
# The cluster on paper, one command: thaw on N nodes (each node's ladder under its memory, pods
# scaled by a KEDA-like scaler) against a Knative-like baseline (a pod per model, scale to zero after
# 60 s, pod starts 0.8-4 s), with thaw's own part of a pod start measured here first
# (bench/pod_start.py: thaw serve from exec to its readiness probe's first 200, and its idle memory).
#   1. the Azure 2019 sample, the whole day, on 1, 4 and 16 nodes;
#   2. the number of models grown to 10,000 on 16 nodes (models beyond the sample's 500 are
#      SYNTHESISED from its per-app distributions; the first THAW_GROWTH_MINUTES minutes of the day),
#      on nodes of THAW_NODE_MEMORY_GB and of 4 times that (where 10,000 models still fit);
#   3. thaw on 4 and 16 nodes at the baseline's memory per node (bench/cluster_match_memory.py).
# Writes bench/results/cluster-sim-latest.json, cluster-sim-latest.md and cluster-sim.png.
# Env: THAW_TRACE, THAW_RELEASE_BUILD_DIR (default build-release), THAW_PYTHON, THAW_NODE_MEMORY_GB
# (default 64), THAW_K8S_POD_START_MS (Kubernetes' part of a pod start, assumed; default 800),
# THAW_GROWTH_MINUTES (default 60).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/bench/trace_env.sh"
node_gb=${THAW_NODE_MEMORY_GB:-64}
k8s_ms=${THAW_K8S_POD_START_MS:-800}
minutes=${THAW_GROWTH_MINUTES:-60}
bundle=${THAW_BUNDLE:-$root/models/minilm.thaw}
release_thaw

echo "== thaw serve: exec to ready, idle memory (5 starts, $bundle)" >&2
"$python" "$root/bench/pod_start.py" --thaw "$thaw" --bundle "$bundle" --runs 5 --out "$raw/pod-start.json" >&2
read -r start_ms base_mb < <("$python" -c "
import json; m=json.load(open('$raw/pod-start.json'))['median']; print(m['ready_ms'], m['idle_rss_mb'])")

common=(--trace "$trace" --thaw-start-ms "$start_ms" --k8s-pod-start-ms "$k8s_ms"
        --pod-base-mb "$base_mb" --profile "$root/profiles/minilm-measured.yaml" --threads 2 --no-progress)
echo "== 1, 4, 16 nodes, the whole sample" >&2
/usr/bin/time -f "%e" -o "$raw/cluster-nodes.time" "$thaw" sim "${common[@]}" --node-memory "$node_gb" --nodes 1 --nodes 4 --nodes 16 \
  --json "$raw/cluster-nodes.json" >&2
echo "== 500 to 10,000 models (synthesised beyond 500) on 16 nodes, first $minutes minutes" >&2
/usr/bin/time -f "%e" -o "$raw/cluster-models.time" "$thaw" sim "${common[@]}" --node-memory "$node_gb" --nodes 16 --minutes "$minutes" \
  --models 500 --models 1000 --models 2500 --models 5000 --models 10000 --json "$raw/cluster-models.json" >&2

big_gb=$("$python" -c "print(4 * float('$node_gb'))")
echo "== the same on 16 nodes of $big_gb GB" >&2
/usr/bin/time -f "%e" -o "$raw/cluster-models-big.time" "$thaw" sim "${common[@]}" --node-memory "$big_gb" --nodes 16 \
  --minutes "$minutes" --models 500 --models 1000 --models 2500 --models 5000 --models 10000 \
  --json "$raw/cluster-models-big.json" >&2

for n in 4 16; do
  echo "== thaw on $n nodes at the Knative-like baseline's memory per node (ladder budget bisected)" >&2
  "$python" "$root/bench/cluster_match_memory.py" --thaw "$thaw" --nodes "$n" --out "$raw/cluster-matched-$n.json" \
    -- "${common[@]}" --node-memory "$node_gb" >&2
done

"$python" "$root/bench/cluster_summary.py" --nodes "$raw/cluster-nodes.json" --models "$raw/cluster-models.json" \
  --models-big "$raw/cluster-models-big.json" --matched "$raw/cluster-matched-4.json" "$raw/cluster-matched-16.json" \
  --pod-start "$raw/pod-start.json" --times "$raw/cluster-nodes.time" "$raw/cluster-models.time" \
  "$raw/cluster-models-big.time" \
  --out "$out/cluster-sim-latest.json" --md "$out/cluster-sim-latest.md"
"$python" "$root/tools/plot_cluster.py" --json "$raw/cluster-nodes.json" --json "$raw/cluster-models.json" \
  --json "$raw/cluster-models-big.json" --out "$out/cluster-sim.png"
cat "$out/cluster-sim-latest.md"
echo "wrote $out/cluster-sim-latest.json, cluster-sim-latest.md, cluster-sim.png" >&2
