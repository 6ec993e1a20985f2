#!/usr/bin/env python3
"""Plots `thaw sim` results: the Pareto frontier of cold starts vs idle memory across each policy
family's parameter sweep, and the per-app cold-start CDF of the configurations run as given (the
shape of Figure 15 of Shahrad et al., ATC 2020).

Usage: plot_sim.py --json results.json --out pareto.png   (also writes pareto-cdf.png)
"""
import argparse
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

COLORS = {"fixed": "tab:gray", "fixed4": "tab:brown", "fixed10": "tab:gray", "fixed20": "black",
          "hybrid": "tab:blue", "gbm": "tab:green", "ladder": "tab:red",
          "spes": "tab:purple", "faascache": "tab:orange"}


def family(r):
    f = r.get("sweep_family") or r["policy"].split(":")[0]
    return "fixed" if f.startswith("fixed") else f


def pareto(points):
    """Points (x, y) not dominated by another (lower x and lower y)."""
    best = []
    for x, y in sorted(points):
        if not best or y < best[-1][1]:
            best.append((x, y))
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--json", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    with open(args.json) as f:
        data = json.load(f)
    results = data["results"]
    if not results:
        sys.exit("no results to plot")

    # The paper's axes: 3rd-quartile app cold-start % vs wasted memory time (app-seconds warm and
    # idle, not weighted by memory), normalised to fixed 10-minute keep-alive.
    base = next((r for r in results if r["policy"] == "fixed:keepalive_min=10"), None)
    norm = base["warm_idle_app_seconds"] if base else 3600.0
    for r in results:
        v = sorted(r.get("app_cold_pct", []))
        r["_p75_app_cold"] = v[min(len(v) - 1, int(0.75 * len(v)))] if v else 0.0
        r["_gbh"] = r["idle_gb_s"] / 3600.0
        r["_wasted"] = r["warm_idle_app_seconds"] / norm
    fig, axes = plt.subplots(1, 3, figsize=(19, 5.5))
    panels = ((axes[0], "_gbh", "expensive_cold_pct", "idle memory, warm instances + zygotes (GB-hours)",
               "expensive cold starts (% of invocations)", True),
              (axes[1], "_gbh", "cold_pct", "idle memory, warm instances + zygotes (GB-hours)",
               "all cold starts incl. zygote (% of invocations)", True),
              (axes[2], "_wasted", "_p75_app_cold",
               "wasted memory time (warm idle app-seconds) / fixed 10 min" if base else "warm idle app-hours",
               "3rd-quartile app cold start % (paper's metric)", False))
    for ax, xkey, key, xlabel, label, logy in panels:
        fams = {}
        for r in results:
            fams.setdefault(family(r), []).append(r)
        for fam, rs in fams.items():
            pts = [(r[xkey], r[key]) for r in rs]
            c = COLORS.get(fam, None)
            ax.scatter([p[0] for p in pts], [p[1] for p in pts], s=14, color=c, alpha=0.5)
            front = pareto(pts)
            ax.plot([p[0] for p in front], [p[1] for p in front], "-", color=c, label=f"{fam} (frontier)")
            for r in rs:
                if not r.get("is_sweep_point", False):
                    ax.scatter([r[xkey]], [r[key]], s=70, color=c, edgecolors="black", zorder=5)
                    ax.annotate(r.get("requested", r["policy"]), (r[xkey], r[key]),
                                fontsize=7, xytext=(4, 4), textcoords="offset points")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(label)
        if logy:
            ax.set_yscale("log")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    trace = data.get("trace", {})
    fig.suptitle(f"thaw sim: cold starts vs idle memory ({trace.get('format', '')}, {trace.get('apps', '?')} apps, "
                 f"{trace.get('invocations', '?')} invocations)")
    fig.tight_layout()
    fig.savefig(args.out, dpi=120)

    # Per-app CDF of the configurations run as given.
    fig, axes = plt.subplots(1, 2, figsize=(13, 5))
    for ax, key, label in ((axes[0], "app_cold_pct", "app cold start % (any rung below warm)"),
                           (axes[1], "app_expensive_cold_pct", "app expensive cold start % (process start)")):
        for r in results:
            if r.get("is_sweep_point", False) or key not in r:
                continue
            v = sorted(r[key])
            n = len(v)
            if n == 0:
                continue
            name = r.get("requested", r["policy"])
            ax.step(v, [(i + 1) / n for i in range(n)], where="post", label=name,
                    color=COLORS.get(name.split(":")[0], COLORS.get(family(r))))
        ax.set_xlabel(label)
        ax.set_ylabel("CDF over apps")
        ax.set_xlim(0, 100)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
    fig.suptitle("Per-app cold-start percentage (cf. Shahrad et al., ATC 2020, Fig. 15)")
    fig.tight_layout()
    root, ext = os.path.splitext(args.out)
    fig.savefig(f"{root}-cdf{ext or '.png'}", dpi=120)


if __name__ == "__main__":
    main()
