#!/usr/bin/env python3
"""Runs thaw's ladder at the memory of another policy: bisects the ladder's memory budget until its
resident memory (warm + zygote + page cache, GB·s) is as close as it gets to a target without going
over, and writes that run's `thaw sim --json` output. A budget is a cap, and a policy under a cap
averages below it, so a budget equal to the target leaves memory unused; this finds the operating
point where the two policies hold the same memory, which is what a Pareto comparison asks.

    match_memory.py --thaw build-release/thaw --trace DIR --target-gb-s 2.26e7 --out ladder.json \
        [--profile FILE] [--policy-args lambda=1e7] [--iterations 7]
"""
import argparse
import json
import pathlib
import subprocess
import sys
import tempfile

from budget_bisect import bisect_budget


def run(a, budget_gb, out):
    spec = f"ladder:budget_gb={budget_gb:.3f}" + (f",{a.policy_args}" if a.policy_args else "")
    cmd = [a.thaw, "sim", "--trace", a.trace, "--policy", spec, "--threads", "1", "--no-progress", "--json", out]
    if a.profile:
        cmd += ["--profile", a.profile]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return json.loads(pathlib.Path(out).read_text())


def held(j):
    return j["results"][0]["resident_gb_s"], j


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--thaw", required=True)
    ap.add_argument("--trace", required=True)
    ap.add_argument("--target-gb-s", type=float, required=True, help="the other policy's idle memory, GB·s")
    ap.add_argument("--out", required=True, help="where the chosen run's JSON goes")
    ap.add_argument("--profile", help="rung profile for thaw sim")
    ap.add_argument("--policy-args", default="lambda=1e7", help="other ladder parameters")
    ap.add_argument("--iterations", type=int, default=7)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        first = run(a, 1.0, f"{tmp}/probe.json")  # only for the trace's length
        seconds = first["trace"]["minutes"] * 60
        target_gb = a.target_gb_s / seconds
        best = bisect_budget(
            target_gb, target_gb * 2.0, a.iterations,  # the cap at the target is at or under it
            lambda budget, i: held(run(a, budget, f"{tmp}/try{i}.json")), a.target_gb_s,
            lambda budget, got: f"budget {budget:.2f} GB: resident {got / a.target_gb_s:.3f}x the target",
            try_low_first=True)
        if best is None:
            sys.exit("even a budget at the target holds more than the target; nothing to compare")
        budget, j = best
        j["matched_memory"] = {"target_gb_s": a.target_gb_s, "budget_gb": budget,
                               "resident_ratio": j["results"][0]["resident_gb_s"] / a.target_gb_s}
        pathlib.Path(a.out).write_text(json.dumps(j, indent=1))
        print(f"{budget:.2f}")


if __name__ == "__main__":
    main()
