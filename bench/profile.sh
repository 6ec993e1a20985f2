#!/usr/bin/env bash
# MiniLM's rung profile measured by thaw serve (see bench/rung_profile.py).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
exec "$root/.venv/bin/python" "$root/bench/rung_profile.py" "$@"
