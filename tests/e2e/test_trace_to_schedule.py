"""tools/trace_to_schedule.py: trace CSV -> `thaw bench load --schedule` file."""
import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
import trace_to_schedule as t2s  # noqa: E402
from worker_harness import THAW_BIN  # noqa: E402

# The shared traces sit beside the checkout (../shared) or beside its worktree folder (../../shared).
AZURE_CODE = next((p / "shared" / "traces" / "azure-llm-2023" / "code.csv" for p in (ROOT.parent, ROOT.parent.parent)
                   if (p / "shared" / "traces" / "azure-llm-2023" / "code.csv").exists()), Path("/nonexistent"))


def write_trace(path, stamps, tokens=None):
    rows = ["TIMESTAMP,ContextTokens,GeneratedTokens"]
    for i, s in enumerate(stamps):
        rows.append(f"{s},{tokens[i] if tokens else 100},10")
    path.write_text("\n".join(rows) + "\n")
    return path


def schedule_lines(text):
    return [line.split() for line in text.splitlines() if line and not line.startswith("#")]


def run_tool(*args):
    return subprocess.run([sys.executable, str(ROOT / "tools" / "trace_to_schedule.py"), *map(str, args)],
                          capture_output=True, text=True, timeout=120)


def test_timestamps_of_any_precision():
    assert t2s.parse_timestamp("2023-11-16 18:17:04.0319600") - t2s.parse_timestamp("2023-11-16 18:17:03.9799600") \
        == pytest.approx(0.052)
    assert t2s.parse_timestamp("2023-11-16 18:17:05") - t2s.parse_timestamp("2023-11-16 18:17:04.5") == 0.5
    for bad in ("yesterday", "2023-11-16 18:17:04.12x", ""):
        with pytest.raises(ValueError):
            t2s.parse_timestamp(bad)


def test_compress_keeps_the_shape_and_sorts(tmp_path):
    trace = write_trace(tmp_path / "t.csv", ["2023-11-16 00:00:10.0000000", "2023-11-16 00:00:00.5000000",
                                             "2023-11-16 00:00:01.0000000", "2023-11-16 00:00:04.5000000"])
    r = run_tool(trace, "--compress", 2, "--assign", "round-robin", "--models", 2)
    assert r.returncode == 0, r.stderr
    rows = schedule_lines(r.stdout)
    assert [float(o) for o, _ in rows] == [0.0, 0.25, 2.0, 4.75]
    assert [m for _, m in rows] == ["m0", "m1", "m0", "m1"]
    assert r.stdout.startswith("# thaw bench load schedule from t.csv")


def test_max_rate_thins_uniformly_to_the_cap():
    # 1,000 arrivals: a burst of 500 in the first second, then 500 spread over 100 s.
    rows = [(i / 500, 1) for i in range(500)] + [(1 + i / 5, 1) for i in range(500)]
    lines, info = t2s.convert(rows, max_rate=50, rule="round-robin")
    offsets = [float(line.split()[0]) for line in lines]
    assert info["peak_rate_before_cap"] == 500
    assert info["peak_rate"] <= 50
    assert t2s.peak_rate(offsets, 1.0) <= 50
    # The same fraction survives in the burst and in the tail: the shape is kept.
    burst = sum(1 for o in offsets if o < 1)
    tail = len(offsets) - burst
    assert burst == pytest.approx(500 * info["kept_fraction"], abs=2)
    assert tail == pytest.approx(500 * info["kept_fraction"], abs=2)
    again, _ = t2s.convert(rows, max_rate=50, rule="round-robin")
    assert again == lines


def test_zipf_assignment_is_deterministic_and_skewed():
    rows = [(i * 0.01, 1) for i in range(20000)]
    a, info = t2s.convert(rows, models=4, rule="zipf", seed=1)
    b, _ = t2s.convert(rows, models=4, rule="zipf", seed=1)
    c, _ = t2s.convert(rows, models=4, rule="zipf", seed=2)
    assert a == b and a != c
    counts = info["per_model"]
    # Weights 1, 1/2, 1/3, 1/4 of 25/12: 48%, 24%, 16%, 12%.
    for name, share in (("m0", 0.48), ("m1", 0.24), ("m2", 0.16), ("m3", 0.12)):
        assert counts[name] / 20000 == pytest.approx(share, abs=0.015)


def test_size_rule_bands_by_context_tokens():
    rows = [(i, tokens) for i, tokens in enumerate([900, 10, 500, 20, 700, 30])]
    lines, _ = t2s.convert(rows, models=2, rule="size")
    by_offset = {float(o): m for o, m in (line.split() for line in lines)}
    assert [by_offset[float(i)] for i in range(6)] == ["m1", "m0", "m1", "m0", "m1", "m0"]


def test_bad_traces_are_clear_errors(tmp_path):
    no_column = tmp_path / "a.csv"
    no_column.write_text("when,tokens\n1,2\n")
    r = run_tool(no_column)
    assert r.returncode == 2 and "TIMESTAMP" in r.stderr
    bad_row = write_trace(tmp_path / "b.csv", ["2023-11-16 00:00:00.1", "soon"])
    r = run_tool(bad_row)
    assert r.returncode == 2 and "b.csv:3" in r.stderr
    empty = tmp_path / "c.csv"
    empty.write_text("TIMESTAMP,ContextTokens\n")
    r = run_tool(empty)
    assert r.returncode == 2 and "no arrivals" in r.stderr
    r = run_tool(write_trace(tmp_path / "d.csv", ["2023-11-16 00:00:00.1"]), "--compress", 0)
    assert r.returncode == 2


def test_thaw_bench_load_replays_the_output(tmp_path):
    trace = write_trace(tmp_path / "t.csv", [f"2023-11-16 00:00:{i // 10:02d}.{i % 10}000000" for i in range(40)])
    schedule = tmp_path / "s.txt"
    r = run_tool(trace, "-o", schedule, "--compress", 10, "--models", 3, "--assign", "round-robin")
    assert r.returncode == 0, r.stderr
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    out = subprocess.run([THAW_BIN, "bench", "load", "--url", f"http://127.0.0.1:{port}/v2/models/{{model}}/infer",
                          "--schedule", schedule, "--json", "-"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["measured"] == 40
    assert report["error_counts"] == {"connect_refused": 40}
    assert sorted(report["per_model"]) == ["m0", "m1", "m2"]


@pytest.mark.skipif(not AZURE_CODE.exists(), reason="shared Azure LLM trace not present")
def test_azure_llm_code_trace():
    lines, info = t2s.convert(t2s.read_trace(AZURE_CODE), compress=10, max_rate=100, models=3)
    assert info["arrivals"] == len(lines) > 1000
    assert info["peak_rate"] <= 100
    assert info["span_s"] == pytest.approx(3436 / 10, rel=0.02)
