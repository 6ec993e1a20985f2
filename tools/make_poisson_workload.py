#!/usr/bin/env python3
"""A seeded multi-model workload, written twice: as a `thaw bench load` schedule (live replay through
`thaw serve`) and as an Azure Functions 2021 trace (`thaw sim --trace`), with the same arrivals.

Each model gets Poisson arrivals; the mean gaps are spread geometrically from --min-gap to --max-gap
seconds (six models from 4 s to 80 s by default). Offsets are exact to the microsecond in both files.

Usage: tools/make_poisson_workload.py --out DIR [--models 6] [--min-gap 4] [--max-gap 80]
                                      [--seconds 300] [--seed 1] [--duration-ms 1]
Writes DIR/workload.sched, DIR/workload.csv and DIR/workload.json (the parameters and counts).
"""
import argparse
import json
import pathlib

import numpy as np


def arrivals(models, min_gap, max_gap, seconds, seed):
    rng = np.random.default_rng(seed)
    gaps = np.geomspace(min_gap, max_gap, models) if models > 1 else np.array([min_gap])
    out = []
    for k, gap in enumerate(gaps):
        t = rng.exponential(gap)
        while t < seconds:
            out.append((round(t, 6), f"m{k}"))
            t += rng.exponential(gap)
    out.sort()
    return out, [float(g) for g in gaps]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, type=pathlib.Path)
    ap.add_argument("--models", type=int, default=6)
    ap.add_argument("--min-gap", type=float, default=4.0, help="mean gap of the busiest model, seconds")
    ap.add_argument("--max-gap", type=float, default=80.0, help="mean gap of the quietest model, seconds")
    ap.add_argument("--seconds", type=float, default=300.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--duration-ms", type=float, default=1.0, help="execution time written into the trace")
    a = ap.parse_args()
    if a.models < 1 or a.min_gap <= 0 or a.max_gap < a.min_gap or a.seconds <= 0:
        ap.error("need --models >= 1, 0 < --min-gap <= --max-gap and --seconds > 0")
    a.out.mkdir(parents=True, exist_ok=True)
    events, gaps = arrivals(a.models, a.min_gap, a.max_gap, a.seconds, a.seed)
    with open(a.out / "workload.sched", "w") as f:
        f.write(f"# {len(events)} arrivals over {a.seconds:g} s, {a.models} models, seed {a.seed}\n")
        for t, m in events:
            f.write(f"{t:.6f} {m}\n")
    duration = a.duration_ms / 1000.0
    with open(a.out / "workload.csv", "w") as f:
        f.write("app,func,end_timestamp,duration\n")
        for t, m in events:
            f.write(f"{m},{m},{t + duration:.6f},{duration:.6f}\n")
    counts = {f"m{k}": sum(1 for _, m in events if m == f"m{k}") for k in range(a.models)}
    (a.out / "workload.json").write_text(json.dumps(
        {"models": a.models, "mean_gaps_s": gaps, "seconds": a.seconds, "seed": a.seed,
         "duration_ms": a.duration_ms, "arrivals": len(events), "per_model": counts}, indent=1))
    print(f"{len(events)} arrivals over {a.seconds:g} s for {a.models} models -> {a.out}")


if __name__ == "__main__":
    main()
