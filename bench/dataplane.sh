#!/usr/bin/env bash
# Data-plane benchmark: head-of-line blocking behind a cold start, and holding many waiting requests.
# See bench/dataplane.py for the scenarios. Needs build/thaw (scripts/build.sh).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
exec "$root/.venv/bin/python" "$root/bench/dataplane.py" "$@"
