#!/usr/bin/env bash
# Live against simulated: the same arrivals through thaw serve and thaw sim (see bench/live_vs_sim.py).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
exec "$root/.venv/bin/python" "$root/bench/live_vs_sim.py" "$@"
