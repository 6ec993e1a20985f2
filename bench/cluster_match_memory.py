#!/usr/bin/env python3
"""thaw on N nodes at the Knative-like baseline's memory per node: bisects the ladder's memory budget
(`ladder:budget_gb=B` per node, as bench/match_memory.py does on one machine) until thaw's mean
memory per node is as close as it gets to the baseline's without going over, and writes that run's
`thaw sim --nodes` JSON with the budget found. Cold starts can then be compared at equal memory.

    cluster_match_memory.py --thaw build-release/thaw --nodes 16 --out m16.json -- --trace DIR --node-memory 64 ...
"""
import argparse
import json
import pathlib
import subprocess
import sys
import tempfile

from budget_bisect import bisect_budget


def run(a, extra, budget_gb, out):
    spec = "ladder" + (f":budget_gb={budget_gb:.3f},{a.policy_args}" if budget_gb else "")
    cmd = [a.thaw, "sim", *extra, "--nodes", str(a.nodes), "--policy", spec, "--no-progress", "--json", out]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return json.loads(pathlib.Path(out).read_text())["results"][0], json.loads(pathlib.Path(out).read_text())


def held(result):
    r, doc = result
    return r["thaw"]["node_gb_mean"], doc


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--thaw", required=True)
    ap.add_argument("--nodes", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--policy-args", default="lambda=1e7", help="other ladder parameters (as match_memory.py)")
    ap.add_argument("--iterations", type=int, default=7)
    ap.add_argument("extra", nargs=argparse.REMAINDER, help="-- then thaw sim's other flags")
    a = ap.parse_args()
    extra = [x for x in a.extra if x != "--"]
    with tempfile.TemporaryDirectory() as tmp:
        free, _ = run(a, extra, 0, f"{tmp}/free.json")
        target = free["knative"]["node_gb_mean"]
        best = bisect_budget(
            0.0, max(target, free["thaw"]["node_gb_mean"]), a.iterations,  # the budget caps idle memory per node
            lambda budget, i: held(run(a, extra, budget, f"{tmp}/try{i}.json")), target,
            lambda budget, got: (f"{a.nodes} nodes, ladder budget {budget:.2f} GB/node: {got:.2f} GB/node "
                                 f"({got / target:.3f}x Knative's)"))
        if best is None:
            sys.exit("thaw holds more than the baseline even at the smallest budget tried (its busy models alone)")
        budget, doc = best
        r = doc["results"][0]
        doc["matched_memory"] = {"target_node_gb": target, "budget_gb_per_node": budget,
                                 "ratio": r["thaw"]["node_gb_mean"] / target}
        pathlib.Path(a.out).write_text(json.dumps(doc, indent=1))
        print(f"{budget:.2f}")


if __name__ == "__main__":
    main()
