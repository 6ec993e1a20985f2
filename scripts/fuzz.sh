#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) into build-fuzz/ (or $THAW_FUZZ_BUILD_DIR)
# and runs each for N seconds, starting from seed bundles written by bundle_fuzz_seeds.
# Usage: scripts/fuzz.sh [--seconds N] [--jobs J]   (default 20 s per target, 1 job)
# Crashes are saved as build-fuzz/crash-*; the script exits non-zero if any target fails.
set -euo pipefail
seconds=20
jobs=1
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    -h|--help) sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "fuzz.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
done
root=$(cd "$(dirname "$0")/.." && pwd)
build=${THAW_FUZZ_BUILD_DIR:-$root/build-fuzz}
command -v clang++ >/dev/null || { echo "fuzz.sh: clang++ not found (scripts/setup.sh installs it)" >&2; exit 1; }
if [ ! -f "$build/CMakeCache.txt" ]; then
  CC=clang CXX=clang++ cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DTHAW_BUILD_FUZZERS=ON -DTHAW_BUILD_TESTS=OFF -DTHAW_BUILD_BENCH=OFF -DTHAW_SANITIZE=address,undefined \
    -DCMAKE_CXX_FLAGS=-fsanitize=fuzzer-no-link -DCMAKE_C_FLAGS=-fsanitize=fuzzer-no-link >/dev/null
fi
targets=(bundle_reader_fuzz safetensors_fuzz fuzz_kserve_request fuzz_json_bounded fuzz_http_router
         fuzz_http_request_parser tokenizer_fuzz serve_config_fuzz fuzz_grpc_infer fuzz_handler_path
         source_url_fuzz recipe_fuzz fuzz_openai_request fuzz_llm_memory_estimate)
cmake --build "$build" -j "$(nproc)" --target "${targets[@]}" bundle_fuzz_seeds
"$build/fuzz/bundle_fuzz_seeds" "$build/seeds"
status=0
for t in "${targets[@]}"; do
  corpus="$build/corpus/$t"
  case "$t" in
    fuzz_kserve_request|fuzz_json_bounded|fuzz_http_router) seeds="$root/fuzz/worker/corpus" ;;
    tokenizer_fuzz) seeds="$root/fuzz/tokenizer/corpus" ;;
    serve_config_fuzz) seeds="$root/fuzz/manager/corpus" ;;
    source_url_fuzz) seeds="$root/fuzz/cache/corpus" ;;
    recipe_fuzz) seeds="$build/seeds/bundle_reader" ;;
    fuzz_grpc_infer) seeds="$root/fuzz/grpc/corpus" ;;
    fuzz_http_request_parser) seeds="$root/fuzz/http/corpus" ;;
    fuzz_handler_path) seeds="$root/fuzz/engine/corpus" ;;
    fuzz_llm_memory_estimate) seeds="$root/fuzz/engine/corpus_llm" ;;
    fuzz_openai_request) seeds="$root/fuzz/worker/corpus_openai" ;;
    *) seeds="$build/seeds/${t%_fuzz}" ;;
  esac
  mkdir -p "$corpus"
  dict="$root/fuzz/${t%_fuzz}.dict"
  args=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$build/")
  [ -f "$dict" ] && args+=(-dict="$dict")
  [ "$jobs" -gt 1 ] && args+=(-fork="$jobs")
  echo "== $t for ${seconds}s"
  start=$(date +%s)
  if (cd "$build" && "$(find "$build/fuzz" -type f -name "$t" -perm -u+x | head -1)" "${args[@]}" "$corpus" "$seeds" 2>"$build/$t.log"); then
    echo "$t: ran clean for $(( $(date +%s) - start ))s; $(grep -E 'stat::number_of_executed_units' "$build/$t.log" | awk '{print $2}') runs, corpus $(ls "$corpus" | wc -l) inputs"
  else
    echo "$t: FAILED after $(( $(date +%s) - start ))s; see $build/$t.log" >&2
    tail -40 "$build/$t.log" >&2
    status=1
  fi
done
exit $status
