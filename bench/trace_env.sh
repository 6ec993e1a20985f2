# Sourced by the simulation benchmarks: sets `trace` (THAW_TRACE, else the shared Azure 2019
# sample beside the checkout), `build` (THAW_RELEASE_BUILD_DIR, default build-release) and `python`
# (THAW_PYTHON, else the project's venv). Expects `root`.
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
