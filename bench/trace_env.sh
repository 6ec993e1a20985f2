# Sourced by the simulation benchmarks: sets `trace` (THAW_TRACE, else the shared Azure 2019
# sample beside the checkout), `build` (THAW_RELEASE_BUILD_DIR, default build-release) and `python`
# (THAW_PYTHON, else the project's venv), `out`/`raw` (the results folders); `release_thaw` builds
# thaw in Release there and sets `thaw`. Expects `root`.
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

release_thaw() {
  echo "== Release build ($build)" >&2
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTHAW_BUILD_TESTS=OFF -DTHAW_BUILD_BENCH=OFF >/dev/null
  cmake --build "$build" --target thaw -j "$(nproc)" >/dev/null
  thaw=$build/thaw
}
