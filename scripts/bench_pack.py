#!/usr/bin/env python3
"""Packs a model in each storage mode and reports bundle size, compression ratio and pack and
verify throughput as a table, plus JSON (--out).

Usage: .venv/bin/python scripts/bench_pack.py [MODEL] [--thaw build/thaw] [--repeats 3] [--out FILE]
Defaults: models/src/minilm/model.onnx, $THAW_BIN or build/thaw, 3 repeats (best time is kept).
The ratio is logical data-section bytes / stored bytes (what `thaw inspect` shows)."""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = [
    ("none", []),
    ("zstd-1", ["--compress", "zstd", "--level", "1", "--no-shuffle"]),
    ("zstd-1+shuffle", ["--compress", "zstd", "--level", "1"]),
    ("zstd-3", ["--compress", "zstd", "--level", "3", "--no-shuffle"]),
    ("zstd-3+shuffle", ["--compress", "zstd", "--level", "3"]),
    ("zstd-9", ["--compress", "zstd", "--level", "9", "--no-shuffle"]),
    ("zstd-9+shuffle", ["--compress", "zstd", "--level", "9"]),
]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", nargs="?", default=str(ROOT / "models/src/minilm/model.onnx"))
    ap.add_argument("--thaw", default=os.environ.get("THAW_BIN", str(ROOT / "build/thaw")))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="pack threads (0: all cores)")
    ap.add_argument("--out", help="write the results as JSON here")
    a = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, flags in VARIANTS:
            out = Path(tmp) / f"{name}.thaw"
            best_pack, best_verify, summary = None, None, None
            for _ in range(a.repeats):
                r = subprocess.run([a.thaw, "pack", a.model, "-o", out, "--json", "-t", str(a.threads), *flags],
                                   capture_output=True, text=True)
                if r.returncode != 0:
                    sys.exit(f"pack {name} failed: {r.stderr}")
                summary = json.loads(r.stdout)
                best_pack = min(best_pack or 1e9, summary["seconds"])
                t0 = time.perf_counter()
                subprocess.run([a.thaw, "verify", "-q", out], check=True)
                best_verify = min(best_verify or 1e9, time.perf_counter() - t0)
            info = json.loads(subprocess.run([a.thaw, "inspect", "--json", out], capture_output=True, text=True,
                                             check=True).stdout)
            mib = info["data_length"] / 2**20
            rows.append({"variant": name, "file_size": info["file_size"], "data_length": info["data_length"],
                         "stored": info["data_stored_length"], "ratio": info["ratio"],
                         "pack_seconds": best_pack, "pack_mib_per_s": mib / best_pack,
                         "verify_seconds": best_verify, "verify_mib_per_s": mib / best_verify})
    print(f"model {a.model}, {os.cpu_count()} cores, best of {a.repeats}")
    print(f"{'variant':<16} {'file MiB':>9} {'ratio':>7} {'pack s':>7} {'pack MiB/s':>11} {'verify s':>9} {'verify MiB/s':>13}")
    for r in rows:
        print(f"{r['variant']:<16} {r['file_size'] / 2**20:9.1f} {r['ratio']:7.3f} {r['pack_seconds']:7.2f} "
              f"{r['pack_mib_per_s']:11.0f} {r['verify_seconds']:9.2f} {r['verify_mib_per_s']:13.0f}")
    if a.out:
        Path(a.out).write_text(json.dumps({"model": a.model, "cores": os.cpu_count(), "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
