#!/usr/bin/env python3
"""Plots `thaw sim --nodes` results, thaw against the Knative-like baseline: cold starts (% of
requests that found their model not loaded), p99 added latency and mean memory per node, against
the number of nodes or of models (whichever varies in a file; one row of panels per file).

Usage: plot_cluster.py --json cluster.json [--json growth.json] --out cluster.png
"""
import argparse
import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

SIDES = (("thaw", "thaw (ladder per node, KEDA-scaled pods)", "tab:red"),
         ("knative", "Knative-like (pod per model, 60 s window)", "tab:blue"))


def row(axes, doc):
    res = doc["results"]
    vary_models = len({r["models"] for r in res}) > 1
    key = "models" if vary_models else "nodes"
    fixed = res[0]["nodes"] if vary_models else res[0]["models"]
    res = sorted(res, key=lambda r: r[key])
    xs = [r[key] for r in res]
    minutes = doc["trace"]["minutes"]
    real = doc.get("synthesised_beyond", 0)
    where = (f"{fixed} nodes" if vary_models else f"{fixed} models") + \
        f" of {doc['parameters']['node_memory_gb']:.0f} GB, {minutes:.0f} min of the trace"
    panels = (("cold_pct", "cold starts, % of requests", True),
              ("p99", "p99 start latency of requests that waited, ms", True),
              ("node_gb_mean", "mean memory per node, GB", False))
    for ax, (field, label, log) in zip(axes, panels):
        for side, name, color in SIDES:
            ys = [r[side]["waited_latency_ms"]["p99"] if field == "p99" else r[side][field] for r in res]
            ax.plot(xs, ys, marker="o", color=color, label=name)
        if field == "node_gb_mean":
            ax.axhline(doc["parameters"]["node_memory_gb"], ls="--", color="gray", lw=1, label="node memory")
        ax.set_xscale("log")
        if log and all(r[s]["waited_latency_ms"]["p99"] > 0 if field == "p99" else r[s][field] > 0
                       for r in res for s, _, _ in SIDES):
            ax.set_yscale("log")
        ax.set_xlabel(("models" + (f" (beyond {real}: synthesised)" if real else "")) if vary_models else "nodes")
        ax.set_ylabel(label)
        ax.set_title(f"{label.split(',')[0]} vs {key}\n({where})", fontsize=9)
        ax.set_xticks(xs)
        ax.set_xticklabels([str(x) for x in xs], fontsize=8)
        ax.grid(True, which="both", alpha=0.3)


def main():
    ap = argparse.ArgumentParser(description="Plot thaw sim --nodes results")
    ap.add_argument("--json", action="append", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    docs = [json.load(open(p)) for p in a.json]
    fig, axes = plt.subplots(len(docs), 3, figsize=(15, 4.6 * len(docs)), squeeze=False)
    for ax_row, doc in zip(axes, docs):
        row(ax_row, doc)
    axes[0][0].legend(fontsize=8, loc="best")
    axes[0][2].legend(fontsize=8, loc="best")
    fig.suptitle("thaw on a cluster vs a Knative-like baseline (thaw sim --nodes)")
    fig.tight_layout()
    fig.savefig(a.out, dpi=110)


if __name__ == "__main__":
    main()
