#!/usr/bin/env bash
# The main job on an embedded default: pack the real model (sentence-transformers all-MiniLM-L6-v2)
# into a .thaw bundle, serve it with `thaw run` (KServe v2 over HTTP), send text, print the answer
# and the cold-start timeline, and stop. THAW_DEMO_PORT picks the port (default 8000).
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
./build/thaw load models/minilm.thaw --mode auto

events=$(mktemp)
./build/thaw run models/minilm.thaw --port "$port" --max-tokens 256 >"$events" &
worker=$!
trap 'kill $worker 2>/dev/null || true; wait $worker 2>/dev/null || true; rm -f "$events"' EXIT
for _ in $(seq 1 100); do grep -q '"event":"ready"' "$events" && break; sleep 0.1; done
grep -q '"event":"ready"' "$events" || { echo "thaw run did not become ready:"; cat "$events"; exit 1; }
echo "== cold-start timeline (ms from exec)"
grep '"event":"ready"' "$events" | .venv/bin/python -c 'import json,sys; t=json.load(sys.stdin)["timeline"]; [print(f"  {k[:-3]:<18} {v:8.1f}") for k,v in t.items() if k.endswith("_ms")]'
echo "== POST /v2/models/minilm/infer with text"
curl -s -X POST "localhost:$port/v2/models/minilm/infer" \
  -d '{"inputs":[{"name":"text","datatype":"BYTES","shape":[2],"data":["Serverless inference without cold starts.","A model that is ready in milliseconds."]}]}' |
  .venv/bin/python -c "import json,sys; o=json.load(sys.stdin)['outputs'][0]; print(' ', o['name'], 'shape', o['shape'], 'first values', [round(x, 4) for x in o['data'][:4]])"
echo "== GET /warm: $(curl -s "localhost:$port/warm")"
