#!/usr/bin/env bash
# Generative models: thaw's ladder (warm, zygote, page cache, disk) beside llama-server (per request
# and router mode) and a cold Python transformers handler, on one GGUF with the same threads; decode
# tokens/s at 1/4/16 streams; PSS per forked instance. See bench/llm.py for the measurements.
# Usage: bench/llm.sh [--size 0.5b|tiny] [--quant q8_0|f16|q4_k_m|q4_0|...] [bench/llm.py options:
#        --runs N --threads N --streams 1,4,16 ...]
# Builds llama-server (same llama.cpp build as thaw's, cached with it) and the synthetic model once;
# a --quant other than f16/q8_0 is made from the F16 GGUF by `thaw pack --quantize` (llama.cpp's own
# quantizer), once, and its GGUF taken out of the bundle so every peer runs the same file.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${THAW_BUILD_DIR:-$root/build}
size=0.5b
quant=q8_0
while [ $# -gt 0 ]; do
  case "$1" in
    --size) size=$2; shift 2 ;;
    --quant) quant=$2; shift 2 ;;
    *) break ;;
  esac
done
llama_home="${THAW_CACHE:-$HOME/.cache/thaw}/llama.cpp-0.3.36"
[ -f "$llama_home/build/.built" ] || "$root/scripts/setup.sh"
if [ ! -x "$llama_home/build/bin/llama-server" ]; then
  echo "[bench/llm] building llama-server from the same llama.cpp tree (once)" >&2
  nice cmake --build "$llama_home/build" -j2 --target llama-server >/dev/null
fi
model="$root/models/src/llm-$size"
if [ ! -f "$model/model-q8_0.gguf" ]; then
  echo "[bench/llm] making the synthetic $size model (once)" >&2
  HF_HUB_OFFLINE=1 "$root/.venv/bin/python" "$root/tools/make_synthetic_llm.py" --size "$size" --out "$model" \
    --llama-src "$llama_home/src" --types q8_0,f16 >/dev/null
fi
cmake --build "$build" --target thaw thaw_page_cache -j2 >/dev/null
export THAW_BIN=${THAW_BIN:-$build/thaw} THAW_PAGE_CACHE_TOOL="$build/src/loader/thaw_page_cache"
if [ ! -f "$model/model-$quant.gguf" ]; then
  echo "[bench/llm] quantising the $size model to $quant with thaw pack --quantize (once)" >&2
  "$THAW_BIN" pack "$model/model-f16.gguf" --quantize "$quant" -o "$model/model-$quant.thaw" >/dev/null
  "$root/.venv/bin/python" "$root/tools/bundle_file.py" "$model/model-$quant.thaw" model.gguf "$model/model-$quant.gguf"
  rm -f "$model/model-$quant.thaw"
fi
exec "$root/.venv/bin/python" "$root/bench/llm.py" --gguf "$model/model-$quant.gguf" \
  --llama-server "$llama_home/build/bin/llama-server" --workdir "$root/bench/results" "$@"
