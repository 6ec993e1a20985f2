#!/usr/bin/env python3
"""Load benchmark: time until every tensor is in memory and every page touched, thaw against its peers.

One run, one machine, the same weights for every method; page cache hot and cold (evicted with
posix_fadvise(DONTNEED), checked with fincore). Limits are measured in the same run: memcpy bandwidth,
hot page-cache read() bandwidth with the same thread count, cold sequential storage reads.
Each trial runs in a fresh process; the median is reported. Prints a markdown table, writes JSON to
bench/results/load-<timestamp>.json and load-latest.json, and a PNG chart beside them.

    bench/load.sh                 # full run: MiniLM, 500 MB and 2 GB, hot and cold, 5 trials
    bench/load.sh --quick         # MiniLM and 500 MB, 2 trials
    bench/load.sh --models 500mb --cache hot --methods thaw-read,safetensors-torch --trials 3
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / "data"
RESULTS = ROOT / "bench" / "results"
PAGE = 4096
SEED = 1234

# Method -> (file kind it reads, whether it materialises tensors in process memory (copies) rather
# than viewing a file mapping).
METHODS = {
    "thaw-mmap": ("thaw", False),
    "thaw-read": ("thaw", True),
    "thaw-read-uring": ("thaw", True),
    "thaw-zstd": ("thaw_zstd", True),
    "safetensors-numpy": ("safetensors", True),
    "safetensors-torch": ("safetensors", False),  # load_file maps the file (MAP_PRIVATE) since 0.4
    "torch-load": ("pt", True),
    "torch-load-mmap": ("pt", False),
    "tensorizer": ("tensorizer", True),
    "runai-streamer": ("safetensors", True),
}
DEFAULT_METHODS = [m for m in METHODS if m != "thaw-read-uring"]

# Synthetic checkpoints: BERT-large-like shapes (hidden 1024, intermediate 4096, vocab 30522), fp32.
HIDDEN, INTER, VOCAB = 1024, 4096, 30522
SYNTH_TARGETS = {"500mb": 500e6, "2gb": 2e9}


# ---------------------------------------------------------------- trials (run in a fresh process)

def touch_numpy(arrays) -> int:
    """Reads one byte per 4 KiB page of every array (and its last byte)."""
    import numpy as np

    total = 0
    for a in arrays:
        b = np.ascontiguousarray(a).reshape(-1).view(np.uint8)
        if b.size:
            total += int(b[::PAGE].sum()) + int(b[-1])
    return total


def touch_torch(tensors) -> int:
    import torch

    total = 0
    for t in tensors:
        b = t.contiguous().reshape(-1).view(torch.uint8)
        if b.numel():
            total += int(b[::PAGE].sum()) + int(b[-1])
    return total


def run_trial(method: str, path: str, threads: int) -> dict:
    """Loads `path` with `method`; returns seconds from the first open to every page touched."""
    if method == "safetensors-numpy":
        from safetensors.numpy import load_file

        t0 = time.perf_counter()
        d = load_file(path)
        touch_numpy(d.values())
        t1 = time.perf_counter()
        return {"seconds": t1 - t0, "tensors": len(d), "bytes": sum(a.nbytes for a in d.values())}

    if method == "runai-streamer":
        os.environ.setdefault("RUNAI_STREAMER_CONCURRENCY", str(threads))
        os.environ.setdefault("RUNAI_STREAMER_LOG_LEVEL", "WARNING")
    import torch

    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    if method == "safetensors-torch":
        from safetensors.torch import load_file

        d = load_file(path, device="cpu")
    elif method == "torch-load":
        d = torch.load(path, weights_only=True)
    elif method == "torch-load-mmap":
        d = torch.load(path, weights_only=True, mmap=True)
    elif method == "tensorizer":
        from tensorizer import TensorDeserializer

        deser = TensorDeserializer(path, device="cpu", num_readers=threads)
        d = {k: deser[k] for k in deser.keys()}
    elif method == "runai-streamer":
        from runai_model_streamer import SafetensorsStreamer

        d = {}
        with SafetensorsStreamer() as s:
            s.stream_file(path)
            for name, t in s.get_tensors():
                d[name] = t
    else:
        raise SystemExit(f"unknown method {method}")
    # Imports inside the timed region happen before t0 for every method but tensorizer/runai, whose
    # import is a few ms once torch is loaded.
    touch_torch(d.values())
    t1 = time.perf_counter()
    return {"seconds": t1 - t0, "tensors": len(d), "bytes": sum(t.numel() * t.element_size() for t in d.values())}


# ---------------------------------------------------------------- data preparation

def synth_layers(target_bytes: float) -> int:
    emb = (VOCAB + 512 + 2) * HIDDEN * 4 + 2 * HIDDEN * 4
    per_layer = (4 * HIDDEN * HIDDEN + 2 * HIDDEN * INTER + 4 * HIDDEN + INTER + HIDDEN + 4 * HIDDEN) * 4
    return max(1, math.ceil((target_bytes - emb) / per_layer))


def synth_state_dict(target_bytes: float):
    """Deterministic BERT-large-like fp32 weights of about `target_bytes`."""
    import numpy as np

    rng = np.random.default_rng(SEED)

    def w(*shape):
        return (rng.standard_normal(shape, dtype=np.float32) * np.float32(0.02)).astype(np.float32)

    sd = {
        "embeddings.word_embeddings.weight": w(VOCAB, HIDDEN),
        "embeddings.position_embeddings.weight": w(512, HIDDEN),
        "embeddings.token_type_embeddings.weight": w(2, HIDDEN),
        "embeddings.LayerNorm.weight": np.ones(HIDDEN, np.float32),
        "embeddings.LayerNorm.bias": np.zeros(HIDDEN, np.float32),
    }
    for i in range(synth_layers(target_bytes)):
        p = f"encoder.layer.{i}."
        for n in ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"):
            sd[p + n + ".weight"] = w(HIDDEN, HIDDEN)
            sd[p + n + ".bias"] = w(HIDDEN)
        sd[p + "attention.output.LayerNorm.weight"] = np.ones(HIDDEN, np.float32)
        sd[p + "attention.output.LayerNorm.bias"] = np.zeros(HIDDEN, np.float32)
        sd[p + "intermediate.dense.weight"] = w(INTER, HIDDEN)
        sd[p + "intermediate.dense.bias"] = w(INTER)
        sd[p + "output.dense.weight"] = w(HIDDEN, INTER)
        sd[p + "output.dense.bias"] = w(HIDDEN)
        sd[p + "output.LayerNorm.weight"] = np.ones(HIDDEN, np.float32)
        sd[p + "output.LayerNorm.bias"] = np.zeros(HIDDEN, np.float32)
    return sd


def pack(thaw: Path, src: Path, dst: Path, compress: bool) -> None:
    cmd = [str(thaw), "pack", str(src), "-o", str(dst)]
    if compress:
        cmd += ["--compress", "zstd"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"`{' '.join(cmd)}` failed ({r.returncode}):\n{r.stderr}")


def prepare(model: str, thaw: Path, log) -> dict:
    """Creates (once) the model in every format; returns {kind: path, 'bytes': tensor bytes}."""
    DATA.mkdir(parents=True, exist_ok=True)
    files = {
        "safetensors": DATA / f"{model}.safetensors",
        "pt": DATA / f"{model}.pt",
        "tensorizer": DATA / f"{model}.tensors",
        "thaw": DATA / f"{model}.thaw",
        "thaw_zstd": DATA / f"{model}.zstd.thaw",
    }
    if model == "minilm":
        src = ROOT / "models" / "src" / "minilm" / "model.safetensors"
        if not src.exists():
            raise SystemExit(f"{src} is missing; run tools/export_minilm.py (scripts/setup.sh does)")
        if not files["safetensors"].exists():
            shutil.copyfile(src, files["safetensors"])
    sd = None

    def state_dict():
        nonlocal sd
        if sd is None:
            if model == "minilm":
                from safetensors.numpy import load_file

                sd = load_file(str(files["safetensors"]))
            else:
                log(f"generating synthetic {model} checkpoint (seed {SEED})")
                sd = synth_state_dict(SYNTH_TARGETS[model])
        return sd

    if not files["safetensors"].exists():
        from safetensors.numpy import save_file

        save_file(state_dict(), str(files["safetensors"]) + ".tmp")
        os.replace(str(files["safetensors"]) + ".tmp", files["safetensors"])
    if not files["pt"].exists() or not files["tensorizer"].exists():
        import torch

        tsd = {k: torch.from_numpy(v) for k, v in state_dict().items()}
        if not files["pt"].exists():
            torch.save(tsd, str(files["pt"]) + ".tmp")
            os.replace(str(files["pt"]) + ".tmp", files["pt"])
        if not files["tensorizer"].exists():
            from tensorizer import TensorSerializer

            ser = TensorSerializer(str(files["tensorizer"]) + ".tmp")
            ser.write_state_dict(tsd)
            ser.close()
            os.replace(str(files["tensorizer"]) + ".tmp", files["tensorizer"])
    for kind, compress in (("thaw", False), ("thaw_zstd", True)):
        if not files[kind].exists():
            log(f"packing {files[kind].name}")
            pack(thaw, files["safetensors"], files[kind], compress)
    sd = None
    header_len = int.from_bytes(files["safetensors"].open("rb").read(8), "little")
    header = json.loads(files["safetensors"].open("rb").read(8 + header_len)[8:])
    nbytes = sum(v["data_offsets"][1] - v["data_offsets"][0] for k, v in header.items() if k != "__metadata__")
    out = {k: str(v) for k, v in files.items()}
    out["bytes"] = nbytes
    out["tensors"] = sum(1 for k in header if k != "__metadata__")
    return out


# ---------------------------------------------------------------- page cache

def evict(path: str) -> float:
    """Drops `path` from the page cache; returns the fraction still resident afterwards."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fdatasync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
    return resident_fraction(path)


def resident_fraction(path: str) -> float:
    size = os.path.getsize(path)
    if shutil.which("fincore") is None or size == 0:
        return -1.0
    r = subprocess.run(["fincore", "--bytes", "--noheadings", "--raw", "-o", "RES", path],
                       capture_output=True, text=True)
    try:
        return int(r.stdout.split()[0]) / size
    except (ValueError, IndexError):
        return -1.0


def warm(path: str) -> None:
    with open(path, "rb", buffering=0) as f:
        while f.read(16 << 20):
            pass


# ---------------------------------------------------------------- running

def thaw_trial(thaw: Path, method: str, path: str, threads: int) -> dict:
    mode = {"thaw-mmap": "mmap", "thaw-read": "read", "thaw-read-uring": "read", "thaw-zstd": "zstd"}[method]
    cmd = [str(thaw), "load", path, "--mode", mode, "--threads", str(threads), "--json"]
    if method == "thaw-read-uring":
        cmd.append("--io-uring")
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        return {"error": f"exit {r.returncode}: {r.stderr.strip()[-300:]}"}
    j = json.loads(r.stdout)
    return {"seconds": j["phases"]["total_ms"] / 1e3, "bytes": j["bytes"], "tensors": j["tensors"],
            "phases": j["phases"]}


def python_trial(method: str, path: str, threads: int) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), PYTHONWARNINGS="ignore")
    cmd = [sys.executable, str(Path(__file__).resolve()), "--trial", method, "--file", path, "--threads", str(threads)]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    if r.returncode != 0:
        return {"error": f"exit {r.returncode}: {r.stderr.strip()[-300:]}"}
    return json.loads(r.stdout.strip().splitlines()[-1])


def limits(thaw: Path, path: str, threads: int, cold: bool) -> dict:
    cmd = [str(thaw), "limits", "--file", path, "--threads", str(threads), "--json", "--repeats", "3"]
    if cold:
        cmd.append("--cold")
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    if r.returncode != 0:
        raise SystemExit(f"`{' '.join(cmd)}` failed: {r.stderr}")
    return json.loads(r.stdout)


def find_thaw(arg: str | None) -> Path:
    candidates = [arg, os.environ.get("THAW_BIN"), ROOT / "build" / "thaw"]
    candidates += sorted(ROOT.glob("build*/thaw"))
    for c in candidates:
        if c and Path(c).is_file() and os.access(c, os.X_OK):
            return Path(c)
    raise SystemExit("no thaw binary: build it (scripts/build.sh) or pass --thaw PATH")


def fmt_row(cols, widths):
    return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cols, widths)) + " |"


def markdown_table(header, rows) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    out = [fmt_row(header, widths), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [fmt_row(r, widths) for r in rows]
    return "\n".join(out)


def chart(results: dict, png: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    groups = sorted({(r["model"], r["cache"]) for r in results["rows"]})
    fig, axes = plt.subplots(1, len(groups), figsize=(5 * len(groups), 5), squeeze=False)
    for ax, (model, cache) in zip(axes[0], groups):
        rows = [r for r in results["rows"] if r["model"] == model and r["cache"] == cache and r.get("gb_per_s")]
        ax.barh([r["method"] for r in rows], [r["gb_per_s"] for r in rows],
                color=["tab:blue" if r["method"].startswith("thaw") else "tab:gray" for r in rows])
        lim = results["limits"].get(model, {})
        key = "page_cache_read_gb_per_s" if cache == "hot" else "storage_read_gb_per_s"
        if lim.get(key):
            ax.axvline(lim[key], color="tab:red", linestyle="--", label=f"limit {lim[key]:.1f} GB/s")
            ax.legend(loc="lower right")
        ax.set_title(f"{model}, {cache} cache")
        ax.set_xlabel("GB/s to all tensors touched (higher is better)")
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default=None, help="comma list of minilm,500mb,2gb (default all; --quick: minilm,500mb)")
    ap.add_argument("--cache", default="hot,cold", help="hot, cold or hot,cold")
    ap.add_argument("--methods", default=",".join(DEFAULT_METHODS), help="comma list; known: " + ",".join(METHODS))
    ap.add_argument("--trials", type=int, default=None, help="trials per cell (default 5; --quick: 2)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="small run for iterating")
    ap.add_argument("--thaw", default=None, help="thaw binary (default build/thaw or $THAW_BIN)")
    ap.add_argument("--out", default=str(RESULTS))
    ap.add_argument("--trial", help=argparse.SUPPRESS)
    ap.add_argument("--file", help=argparse.SUPPRESS)
    a = ap.parse_args()

    if a.trial:
        print(json.dumps(run_trial(a.trial, a.file, a.threads)))
        return 0

    models = (a.models or ("minilm,500mb" if a.quick else "minilm,500mb,2gb")).split(",")
    caches = a.cache.split(",")
    methods = a.methods.split(",")
    trials = a.trials or (2 if a.quick else 5)
    for m in methods:
        if m not in METHODS:
            ap.error(f"unknown method {m}")
    for m in models:
        if m != "minilm" and m not in SYNTH_TARGETS:
            ap.error(f"unknown model {m}")
    thaw = find_thaw(a.thaw)

    def log(msg):
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)

    started = time.time()
    results = {
        "started": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "host": {"machine": platform.machine(), "cpus": os.cpu_count(), "kernel": platform.release()},
        "threads": a.threads, "trials": trials, "thaw": str(thaw),
        "models": {}, "limits": {}, "rows": [], "raw": [],
    }
    for model in models:
        files = prepare(model, thaw, log)
        results["models"][model] = files
        log(f"{model}: {files['bytes'] / 1e6:.0f} MB in {files['tensors']} tensors; measuring limits")
        lim = limits(thaw, files["safetensors"], a.threads, "cold" in caches)
        lim["storage_read_gb_per_s"] = max(lim.get("storage_read_direct_gb_per_s", 0),
                                           lim.get("storage_read_buffered_gb_per_s", 0)) or None
        results["limits"][model] = lim
        for cache in caches:
            for method in methods:
                kind, _ = METHODS[method]
                path = files[kind]
                runs = []
                for t in range(trials):
                    resident = evict(path) if cache == "cold" else (warm(path) or 1.0)
                    r = thaw_trial(thaw, method, path, a.threads) if method.startswith("thaw") else \
                        python_trial(method, path, a.threads)
                    r.update({"trial": t, "resident_before": resident})
                    runs.append(r)
                    results["raw"].append({"model": model, "cache": cache, "method": method, **r})
                ok = [r["seconds"] for r in runs if "seconds" in r]
                row = {"model": model, "cache": cache, "method": method, "materialises": METHODS[method][1],
                       "trials": len(ok), "file_bytes": os.path.getsize(path)}
                if ok:
                    med = statistics.median(ok)
                    row.update({"median_s": med, "min_s": min(ok), "max_s": max(ok), "gb_per_s": files["bytes"] / med / 1e9})
                    limit = lim["page_cache_read_gb_per_s"] if cache == "hot" else lim["storage_read_gb_per_s"]
                    if limit:
                        # Cold: bytes read from storage per second, against the storage limit.
                        moved = row["file_bytes"] if cache == "cold" else files["bytes"]
                        row["pct_of_limit"] = 100 * moved / med / 1e9 / limit
                    if cache == "cold":
                        row["max_resident_before"] = max(r["resident_before"] for r in runs)
                else:
                    row["error"] = runs[-1].get("error")
                results["rows"].append(row)
                log(f"{model} {cache} {method}: " + (f"{row['median_s']:.3f} s, {row['gb_per_s']:.2f} GB/s"
                                                      if ok else f"FAILED {row.get('error')}"))

    results["targets"] = evaluate_targets(results, a.threads)
    results["elapsed_s"] = time.time() - started

    header = ["method", "model", "cache", "median s", "GB/s", "% of limit", "trials"]
    rows = []
    for r in results["rows"]:
        rows.append([r["method"], r["model"], r["cache"],
                     f"{r['median_s']:.3f}" if "median_s" in r else "error",
                     f"{r['gb_per_s']:.2f}" if "gb_per_s" in r else "-",
                     f"{r['pct_of_limit']:.0f}%" if "pct_of_limit" in r else "-", r["trials"]])
    table = markdown_table(header, rows)
    lim_rows = []
    for model, lim in results["limits"].items():
        lim_rows.append([model, f"{lim['memcpy_gb_per_s']:.2f}", f"{lim['page_cache_read_gb_per_s']:.2f}",
                         f"{lim['page_cache_read_fresh_buffer_gb_per_s']:.2f}",
                         f"{lim['storage_read_direct_gb_per_s']:.2f}" if lim.get("storage_read_direct_gb_per_s") else "-",
                         f"{lim['storage_read_buffered_gb_per_s']:.2f}" if lim.get("storage_read_buffered_gb_per_s") else "-"])
    lim_table = markdown_table(["model", "memcpy GB/s", "page-cache read GB/s", "read into fresh buffer GB/s",
                                "storage O_DIRECT GB/s", "storage buffered cold GB/s"], lim_rows)
    print(f"\n## Load benchmark ({a.threads} threads, {trials} trials, median)\n")
    print(table)
    print(f"\n## Limits measured in the same run ({a.threads} threads)\n")
    print(lim_table)
    print("\n## Targets\n")
    for t in results["targets"]:
        print(f"- {'MET' if t['met'] else 'NOT MET' if t['met'] is not None else 'n/a'}: {t['what']}: {t['value']}")

    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    for name in (f"load-{stamp}.json", "load-latest.json"):
        (out / name).write_text(json.dumps(results, indent=2) + "\n")
    chart(results, out / "load-latest.png")
    log(f"wrote {out / f'load-{stamp}.json'}, load-latest.json and load-latest.png in {results['elapsed_s']:.0f} s")
    return 0


def evaluate_targets(results: dict, threads: int) -> list:
    def row(model, cache, method):
        for r in results["rows"]:
            if (r["model"], r["cache"], r["method"]) == (model, cache, method) and "median_s" in r:
                return r
        return None

    out = []
    model = "500mb"
    lim = results["limits"].get(model)
    if lim is None:
        return out
    read = row(model, "hot", "thaw-read")
    if read:
        pct = 100 * read["gb_per_s"] / lim["page_cache_read_gb_per_s"]
        out.append({"what": f"thaw read hot 500 MB >= 85% of page-cache read limit ({lim['page_cache_read_gb_per_s']:.2f} GB/s)",
                    "value": f"{read['gb_per_s']:.2f} GB/s = {pct:.0f}%", "met": pct >= 85})
        peers = [r for r in results["rows"] if r["model"] == model and r["cache"] == "hot" and r["materialises"]
                 and not r["method"].startswith("thaw") and "median_s" in r]
        if peers:
            best = min(peers, key=lambda r: r["median_s"])
            ratio = best["median_s"] / read["median_s"]
            out.append({"what": f"thaw read hot 500 MB >= 2x the fastest materialising peer ({best['method']}, {best['median_s']:.3f} s)",
                        "value": f"{ratio:.2f}x", "met": ratio >= 2})
    z = row(model, "hot", "thaw-zstd")
    if z:
        out.append({"what": f"thaw zstd hot 500 MB >= 1.5 GB/s uncompressed on {threads} threads",
                    "value": f"{z['gb_per_s']:.2f} GB/s", "met": z["gb_per_s"] >= 1.5})
    storage = lim.get("storage_read_gb_per_s")
    for method in ("thaw-read", "thaw-mmap"):
        c = row(model, "cold", method)
        if c and storage:
            out.append({"what": f"{method} cold 500 MB within 15% of storage read limit ({storage:.2f} GB/s)",
                        "value": f"{c['pct_of_limit']:.0f}% of limit (resident before <= {100 * c.get('max_resident_before', 0):.0f}%)",
                        "met": c["pct_of_limit"] >= 85})
    return out


if __name__ == "__main__":
    sys.exit(main())
