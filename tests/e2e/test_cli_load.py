"""End-to-end checks of `thaw load` and `thaw limits`: real bundles packed by `thaw pack`, real files."""
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

ROOT = Path(__file__).resolve().parents[2]
THAW = os.environ.get("THAW_BIN", str(ROOT / "build" / "thaw"))


def thaw(*args, check=True):
    r = subprocess.run([THAW, *map(str, args)], capture_output=True, text=True, timeout=120)
    if check and r.returncode != 0:
        raise AssertionError(f"thaw {' '.join(map(str, args))} exited {r.returncode}: {r.stderr}")
    return r


@pytest.fixture(scope="module")
def bundles(tmp_path_factory):
    d = tmp_path_factory.mktemp("load")
    rng = np.random.default_rng(7)
    weights = {
        "emb": (rng.standard_normal((500, 128)) * 0.02).astype(np.float32),
        "w": (rng.standard_normal((256, 300)) * 0.02).astype(np.float32),
        "b": rng.standard_normal(300).astype(np.float32),
    }
    src = d / "m.safetensors"
    save_file(weights, str(src))
    plain, zstd = d / "m.thaw", d / "m.zstd.thaw"
    thaw("pack", src, "-o", plain)
    thaw("pack", src, "-o", zstd, "--compress", "zstd", "--chunk-mib", "1")
    return {"dir": d, "plain": plain, "zstd": zstd, "b": weights["b"].tobytes(),
            "bytes": sum(a.nbytes for a in weights.values()), "tensors": len(weights)}


@pytest.mark.parametrize("bundle,mode", [("plain", "mmap"), ("plain", "read"), ("plain", "auto"),
                                         ("zstd", "zstd"), ("zstd", "auto")])
def test_json_reports_every_phase(bundles, bundle, mode):
    j = json.loads(thaw("load", bundles[bundle], "--mode", mode, "--json", "--verify", "-t", "3").stdout)
    assert j["mode"] == (mode if mode != "auto" else ("zstd" if bundle == "zstd" else "mmap"))
    assert j["tensors"] == bundles["tensors"]
    assert j["bytes"] >= bundles["bytes"]
    assert j["threads"] == 3 and j["verified"] and j["touched"]
    phases = j["phases"]
    for p in ("open_ms", "index_ms", "touch_ms", "verify_ms", "total_ms"):
        assert p in phases
    assert ("decompress_ms" in phases) == (j["mode"] == "zstd")
    assert ("map_ms" in phases) == (j["mode"] == "mmap")
    assert phases["total_ms"] >= phases["open_ms"]


def test_human_output_names_mode_and_phases(bundles):
    out = thaw("load", bundles["plain"], "--mode", "read", "--io-uring").stdout
    assert "mode read" in out and "read " in out and "touch" in out


def test_evict_reports_residency(bundles):
    j = json.loads(thaw("load", bundles["plain"], "--evict", "--json").stdout)
    assert 0.0 <= j["resident_before"] <= 1.0


def test_exit_codes(bundles):
    assert thaw("load", bundles["dir"] / "missing.thaw", check=False).returncode == 4
    assert thaw("load", bundles["zstd"], "--mode", "read", check=False).returncode == 2
    assert thaw("load", bundles["plain"], "--mode", "zstd", check=False).returncode == 2
    assert thaw("load", bundles["plain"], "--mode", "fast", check=False).returncode == 2
    assert thaw("load", bundles["plain"], "--threads", "0", check=False).returncode == 2
    assert thaw("load", check=False).returncode == 2
    truncated = bundles["dir"] / "truncated.thaw"
    truncated.write_bytes(bundles["plain"].read_bytes()[:5000])
    r = thaw("load", truncated, check=False)
    assert r.returncode == 3 and r.stderr.strip()
    flipped = bundles["dir"] / "flipped.thaw"
    data = bytearray(bundles["plain"].read_bytes())
    at = bytes(data).find(bundles["b"])
    assert at > 0
    data[at + 17] ^= 0xFF  # inside tensor "b"
    flipped.write_bytes(bytes(data))
    assert thaw("load", flipped, check=False).returncode == 0  # not checked without --verify
    r = thaw("load", flipped, "--verify", check=False)
    assert r.returncode == 3 and "'b'" in r.stderr and "checksum" in r.stderr


def test_help_documents_exit_codes():
    for cmd in ("load", "limits"):
        out = thaw(cmd, "--help").stdout
        assert "Exit codes" in out


def test_limits_json(bundles):
    j = json.loads(thaw("limits", "--file", bundles["plain"], "--threads", "2", "--memcpy-mib", "16",
                        "--repeats", "1", "--json").stdout)
    for k in ("memcpy_gb_per_s", "page_cache_read_gb_per_s", "page_cache_read_fresh_buffer_gb_per_s"):
        assert j[k] > 0
    assert thaw("limits", "--file", bundles["dir"] / "nope", check=False).returncode == 4
