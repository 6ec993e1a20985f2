#!/usr/bin/env bash
# The main job on an embedded default: pack the real model (all-MiniLM-L6-v2) into a .thaw bundle
# and load it, printing the phase timings.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/setup.sh
scripts/build.sh
mkdir -p models
./build/thaw pack models/src/minilm/model.onnx -o models/minilm.thaw --name minilm --version 1 \
  --extra models/src/minilm/tokenizer.json --extra models/src/minilm/config.json
./build/thaw inspect models/minilm.thaw
./build/thaw load models/minilm.thaw --mode auto
