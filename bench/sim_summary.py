#!/usr/bin/env python3
"""Summarises bench/sim.sh runs: a markdown table against the targets, and a compact JSON."""
import argparse
import glob
import json
import os


def p75(values):
    v = sorted(values)
    return v[min(len(v) - 1, int(0.75 * len(v)))] if v else 0.0


def expensive(r):
    s = r["starts_by_rung"]
    return s["page_cache"] + s["disk"]


def cold(r):
    s = r["starts_by_rung"]
    return s["zygote"] + s["page_cache"] + s["disk"]


def compact(r):
    return {k: v for k, v in r.items() if not k.startswith("app_")} | {
        "p75_app_cold_pct": p75(r.get("app_cold_pct", [])),
        "p75_app_expensive_cold_pct": p75(r.get("app_expensive_cold_pct", [])),
        "expensive_starts": expensive(r), "cold_starts": cold(r)}


def pct(new, old):
    return 100.0 * (new - old) / old if old else float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sweep", required=True)
    ap.add_argument("--budget", action="append", default=[],
                    help="NAME=FILE: the ladder run under a budget equal to peer NAME's idle memory")
    ap.add_argument("--measured", help="defaults of the peers and the ladder with the measured profile")
    ap.add_argument("--measured-budget", help="NAME=FILE: the ladder at peer NAME's memory, measured profile")
    ap.add_argument("--speed", required=True)
    ap.add_argument("--speed-json-dir", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    sweep = json.load(open(a.sweep))
    budgets = {}
    for arg in a.budget:
        name, path = arg.split("=", 1)
        budgets[name] = json.load(open(path))["results"][0]
    res = sweep["results"]
    by_req = {r["requested"]: r for r in res if not r.get("is_sweep_point")}
    fixed10, hybrid, ladder, fixed4, gbm = (by_req[k] for k in ("fixed10", "hybrid", "ladder", "fixed4", "gbm"))
    peers = {k: by_req[k] for k in ("hybrid", "spes", "faascache") if k in by_req}
    rows = []

    def row(name, r, base=None):
        c = {"name": name, "policy": r["policy"], "invocations": r["invocations"], "cold": cold(r),
             "expensive": expensive(r), "cold_pct": r["cold_pct"], "expensive_pct": r["expensive_cold_pct"],
             "p75_app_cold_pct": p75(r["app_cold_pct"]), "lat_mean": r["latency_ms"]["mean"],
             "lat_p50": r["latency_ms"]["p50"], "lat_p99": r["latency_ms"]["p99"], "idle_gb_s": r["idle_gb_s"],
             "page_cache_gb_s": r["page_cache_gb_s"], "resident_gb_s": r["resident_gb_s"],
             "warm_idle_app_s": r["warm_idle_app_seconds"], "cost_usd": r["cost_usd"], "runtime_s": r["runtime_s"]}
        rows.append(c)
        return c

    named = [("fixed 10 min", fixed10), ("hybrid histogram (paper)", hybrid), ("fixed 4 min", fixed4),
             ("GBM predictor", gbm)]
    if "spes" in peers:
        named.append(("SPES", peers["spes"]))
    if "faascache" in peers:
        named.append(("FaaSCache (greedy-dual)", peers["faascache"]))
    named.append(("thaw ladder (default)", ladder))
    named += [(f"thaw ladder (budget = {k} memory)", r) for k, r in budgets.items()]
    for name, r in named:
        row(name, r)

    print(f"Trace: {sweep['trace']['path']} ({sweep['trace']['apps']} apps, {sweep['trace']['invocations']} "
          f"invocations, {sweep['trace']['minutes']:.0f} min). Rungs: " +
          ", ".join(f"{k} {v['latency_ms']:g} ms / {v['memory_fraction']:g}x mem"
                    for k, v in sweep["profile"].items() if isinstance(v, dict)))
    print()
    print("| policy | cold starts | expensive (page cache + disk) | expensive % | p75 app cold % | "
          "added latency mean / p99 ms | idle GB·s (warm+zygote) | page cache GB·s | $ idle | sim s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for c in rows:
        print(f"| {c['name']} | {c['cold']} | {c['expensive']} | {c['expensive_pct']:.4f} | "
              f"{c['p75_app_cold_pct']:.1f} | {c['lat_mean']:.3f} / {c['lat_p99']:.0f} | {c['idle_gb_s']:.3g} | "
              f"{c['page_cache_gb_s']:.3g} | {c['cost_usd']:.2f} | {c['runtime_s']:.2f} |")
    print()

    # Paper comparison (their axes: 3rd-quartile app cold %, wasted memory time normalised to fixed 10).
    paper = {
        "fixed10_p75_app_cold_pct": p75(fixed10["app_cold_pct"]),
        "hybrid_p75_app_cold_pct": p75(hybrid["app_cold_pct"]),
        "hybrid_wasted_memory_time_vs_fixed10": hybrid["warm_idle_app_seconds"] / fixed10["warm_idle_app_seconds"],
        "hybrid_idle_gb_s_vs_fixed10": hybrid["idle_gb_s"] / fixed10["idle_gb_s"],
        "hybrid_cold_starts_vs_fixed10_pct": pct(cold(hybrid), cold(fixed10)),
    }
    print("Paper comparison (fixed 10 min vs hybrid, the paper's metrics): 3rd-quartile app cold start "
          f"{paper['fixed10_p75_app_cold_pct']:.1f} % -> {paper['hybrid_p75_app_cold_pct']:.1f} %; wasted memory "
          f"time x{paper['hybrid_wasted_memory_time_vs_fixed10']:.2f} (GB·s x{paper['hybrid_idle_gb_s_vs_fixed10']:.2f}); "
          f"all cold starts {paper['hybrid_cold_starts_vs_fixed10_pct']:+.1f} %.")

    targets = {}

    def versus(lr, peer):
        return {"expensive_vs_peer_pct": pct(expensive(lr), expensive(peer)),
                "idle_gb_s_ratio": lr["idle_gb_s"] / peer["idle_gb_s"] if peer["idle_gb_s"] else float("inf"),
                "resident_gb_s_ratio": lr["resident_gb_s"] / peer["resident_gb_s"] if peer["resident_gb_s"] else float("inf"),
                "ladder_expensive": expensive(lr), "peer_expensive": expensive(peer),
                "mean_latency_ms": lr["latency_ms"]["mean"], "peer_mean_latency_ms": peer["latency_ms"]["mean"]}

    # Each peer at its default against the ladder at the same idle memory.
    for name, peer in peers.items():
        t = {"default": versus(ladder, peer)}
        if name in budgets:
            t["at_peer_memory"] = versus(budgets[name], peer)
        targets[f"ladder_vs_{name}"] = t
        for how, v in t.items():
            print(f"Ladder ({how}) vs {name}: expensive cold starts {v['ladder_expensive']} vs {v['peer_expensive']} "
                  f"({v['expensive_vs_peer_pct']:+.1f} %), idle memory x{v['idle_gb_s_ratio']:.2f} (incl. page cache "
                  f"x{v['resident_gb_s_ratio']:.2f}), mean added latency {v['mean_latency_ms']:.3f} vs "
                  f"{v['peer_mean_latency_ms']:.3f} ms")
    # The bar: the best peer (fewest expensive cold starts at its default) against the ladder at its memory.
    def the_bar(peers, budgets, label):
        best_name = min(peers, key=lambda k: expensive(peers[k]))
        bar = {"best_peer": best_name}
        if best_name in budgets:
            v = versus(budgets[best_name], peers[best_name])
            bar.update(v)
            bar["met"] = v["expensive_vs_peer_pct"] <= -30.0 and v["idle_gb_s_ratio"] <= 1.0
            print(f"Bar ({label}): best peer at its default is {best_name} ({v['peer_expensive']} expensive); the "
                  f"ladder at its memory has {v['ladder_expensive']}, {v['expensive_vs_peer_pct']:+.1f} % (need <= -30 %) "
                  f"at x{v['idle_gb_s_ratio']:.2f} its idle memory (need <= 1; x{v['resident_gb_s_ratio']:.2f} counting "
                  f"page cache) -> {'MET' if bar['met'] else 'NOT MET'}")
        return bar

    if peers:
        targets["bar"] = the_bar(peers, budgets, "default profile")
    measured = None
    if a.measured:
        mj = json.load(open(a.measured))
        mres = {r["requested"]: r for r in mj["results"]}
        mbudgets = {}
        if a.measured_budget:
            name, path = a.measured_budget.split("=", 1)
            mbudgets[name] = json.load(open(path))["results"][0]
        print()
        print(f"With the measured profile ({mj['profile'].get('source', '')}): " +
              ", ".join(f"{k} {v['latency_ms']:g} ms / {v['memory_fraction']:g}x mem"
                        for k, v in mj["profile"].items() if isinstance(v, dict)))
        print("| policy | cold starts | expensive | added latency mean ms | idle GB·s (warm+zygote) | page cache GB·s |")
        print("|---|---:|---:|---:|---:|---:|")
        mrows = list(mres.items()) + [(f"ladder (budget = {k} memory)", r) for k, r in mbudgets.items()]
        for name, r in mrows:
            print(f"| {name} | {cold(r)} | {expensive(r)} | {r['latency_ms']['mean']:.3f} | {r['idle_gb_s']:.3g} | "
                  f"{r['page_cache_gb_s']:.3g} |")
        mpeers = {k: mres[k] for k in ("hybrid", "spes", "faascache") if k in mres}
        measured = {"profile": mj["profile"], "results": [compact(r) for r in mres.values()] +
                    [compact(r) | {"budget_of": k} for k, r in mbudgets.items()]}
        if mpeers:
            measured["bar"] = the_bar(mpeers, mbudgets, "measured profile")
            if "ladder" in mres:
                measured["ladder_default_vs_peers"] = {k: versus(mres["ladder"], r) for k, r in mpeers.items()}
    # Frontiers: every peer configuration against the ladder's best configuration within its memory.
    ladder_points = [r for r in res if r.get("sweep_family") == "ladder"] + list(budgets.values())
    frontier = []
    for r in res:
        fam = r.get("sweep_family")
        if fam not in peers:
            continue
        under = [lr for lr in ladder_points if lr["idle_gb_s"] <= r["idle_gb_s"]]
        best = min(under, key=expensive) if under else None
        frontier.append({"peer": r["policy"], "peer_expensive": expensive(r), "peer_idle_gb_s": r["idle_gb_s"],
                         "ladder": best["policy"] if best else None,
                         "ladder_expensive": expensive(best) if best else None,
                         "ladder_idle_gb_s": best["idle_gb_s"] if best else None,
                         "expensive_vs_peer_pct": pct(expensive(best), expensive(r)) if best else None})
    targets["frontier"] = frontier
    print("Frontier (each peer configuration vs the ladder's best run within its idle memory; ladder points: its "
          "sweep and the budget runs):")
    for f in frontier:
        if f["ladder"] is None:
            print(f"  {f['peer']}: {f['peer_expensive']} expensive at {f['peer_idle_gb_s']:.3g} GB·s; no ladder run "
                  "within that memory")
        else:
            print(f"  {f['peer']}: {f['peer_expensive']} at {f['peer_idle_gb_s']:.3g} GB·s vs {f['ladder']}: "
                  f"{f['ladder_expensive']} at {f['ladder_idle_gb_s']:.3g} GB·s ({f['expensive_vs_peer_pct']:+.1f} %)")

    g = {"cold_vs_fixed4_pct": pct(cold(gbm), cold(fixed4)),
         "idle_gb_s_vs_fixed4_pct": pct(gbm["idle_gb_s"], fixed4["idle_gb_s"]),
         "claim": "83 % fewer cold starts at 37 % less idle memory"}
    g["claim_holds"] = g["cold_vs_fixed4_pct"] <= -83 and g["idle_gb_s_vs_fixed4_pct"] <= -37
    gs = [r for r in res if r.get("sweep_family") == "gbm"]
    g["sweep"] = [{"policy": r["policy"], "cold_vs_fixed4_pct": pct(cold(r), cold(fixed4)),
                   "idle_gb_s_vs_fixed4_pct": pct(r["idle_gb_s"], fixed4["idle_gb_s"])} for r in gs]
    targets["gbm_vs_fixed4"] = g
    print(f"GBM vs fixed 4 min: cold starts {cold(gbm)} vs {cold(fixed4)} ({g['cold_vs_fixed4_pct']:+.1f} %), idle "
          f"memory {gbm['idle_gb_s']:.3g} vs {fixed4['idle_gb_s']:.3g} GB·s ({g['idle_gb_s_vs_fixed4_pct']:+.1f} %); "
          f"claim (-83 % / -37 %): {'holds' if g['claim_holds'] else 'not reproduced'}. Sweep: " +
          "; ".join(f"{s['policy'].split(',')[0]}: {s['cold_vs_fixed4_pct']:+.0f} % cold, "
                    f"{s['idle_gb_s_vs_fixed4_pct']:+.0f} % mem" for s in g["sweep"]))

    speed = {}
    for line in open(a.speed):
        name, start, end, *cpu = line.split()
        speed[name] = {"wall_s": float(end) - float(start)}
        if cpu:
            speed[name]["cpu_s"] = float(cpu[0])
        f = os.path.join(a.speed_json_dir, f"speed-{name}.json")
        if os.path.exists(f):
            speed[name]["sim_s"] = json.load(open(f))["results"][0]["runtime_s"]
    speed_met = all(v["wall_s"] <= 10.0 for k, v in speed.items() if k != "sweep")
    targets["speed_met"] = speed_met
    targets["speed_met_cpu"] = all(v.get("cpu_s", v["wall_s"]) <= 10.0 for k, v in speed.items() if k != "sweep")
    targets["loadavg_at_end"] = os.getloadavg()
    print("Speed (Release, one core; wall includes reading the trace; target <= 10 s per configuration; load "
          f"average {os.getloadavg()[0]:.1f}): " +
          ", ".join(f"{k} {v['wall_s']:.2f} s" + (f" (cpu {v['cpu_s']:.2f} s)" if "cpu_s" in v else "") +
                    (f" (sim {v['sim_s']:.2f} s)" if "sim_s" in v else "")
                    for k, v in speed.items()) + f"; {len(res)} configurations in the two-core sweep.")

    out = {"trace": sweep["trace"], "profile": sweep["profile"], "price_gb_s": sweep["price_gb_s"], "table": rows,
           "paper_comparison": paper, "targets": targets, "speed": speed, "measured_profile": measured,
           "results": [compact(r) for r in res] + [compact(r) | {"budget_of": k} for k, r in budgets.items()]}
    with open(a.out, "w") as f:
        json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
