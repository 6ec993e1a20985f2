#!/usr/bin/env bash
# The main job on an embedded default: pack the real model (sentence-transformers all-MiniLM-L6-v2)
# into models/minilm.thaw, start the platform (`thaw serve`, which serves every bundle in ./models
# behind one KServe v2 endpoint and scales each to zero), send text from each rung of the
# cold-start ladder, and stop. THAW_DEMO_PORT picks the port (default 8000).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/setup.sh
scripts/build.sh
port=${THAW_DEMO_PORT:-8000}
mkdir -p models
./build/thaw pack models/src/minilm/model.onnx -o models/minilm.thaw --name minilm --version 1 \
  --extra models/src/minilm/tokenizer.json --extra models/src/minilm/config.json
./build/thaw inspect models/minilm.thaw | head -12

events=$(mktemp)
./build/thaw serve --port "$port" >"$events" &
server=$!
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true; rm -f "$events"' EXIT
for _ in $(seq 1 100); do grep -q '"event":"serving"' "$events" && break; sleep 0.1; done
grep -q '"event":"serving"' "$events" || { echo "thaw serve did not start:"; cat "$events"; exit 1; }

base="http://localhost:$port"
body='{"inputs":[{"name":"text","datatype":"BYTES","shape":[2],"data":["Serverless inference without cold starts.","A model that is ready in milliseconds."]}]}'
infer() {  # prints: HTTP status, seconds, the rung it climbed from, the first values
  local headers out
  headers=$(mktemp)
  out=$(curl -s -D "$headers" -w '\n%{http_code} %{time_total}' -X POST "$base/v2/models/minilm/infer" -d "$body")
  local rung
  rung=$(grep -i '^x-thaw-cold-start:' "$headers" | tr -d '\r' | cut -d' ' -f2 || true)
  rm -f "$headers"
  echo "$out" | .venv/bin/python -c "
import json, sys
lines = sys.stdin.read().splitlines()
code, secs = lines[-1].split()
o = json.loads(lines[0])['outputs'][0]
print(f'  HTTP {code} in {float(secs)*1000:7.1f} ms  from rung {\"$rung\" or \"warm\":<10}  {o[\"name\"]} {o[\"shape\"]} {[round(x, 4) for x in o[\"data\"][:3]]}')"
}
drain() { curl -s -X POST "$base/admin/models/minilm/drain" -d "{\"rung\":\"$1\"}" >/dev/null; }

echo "== first request: the model starts from the page cache or disk"
infer
echo "== the same model, warm"
infer
echo "== held at the zygote rung: the request forks a ready instance"
drain zygote
infer
echo "== dropped to disk: a full start"
drain disk
infer
sleep 1.2  # memory is measured once a second
echo "== GET /admin/models"
curl -s "$base/admin/models" | .venv/bin/python -c "
import json, sys
for m in json.load(sys.stdin)['models']:
    print(f\"  {m['name']}: rung {m['rung']}, {len(m['instances'])} instance(s), {m['memory_bytes']/2**20:.0f} MiB PSS, cold starts {m['cold_starts']}\")"
