#!/usr/bin/env python3
"""Merges bench/cluster_sim.sh's runs into one result file and a markdown table."""
import argparse
import json
import os
import pathlib


def table(doc, title):
    lines = [f"### {title}", "",
             "| nodes | models | requests | side | cold starts | cold % | expensive % | pods started "
             "| waited p50 ms | waited p99 ms | all p99 ms | GB/node mean | GB/node max | page cache GB/node | refused / overcommitted |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    real = doc.get("synthesised_beyond", 0)
    for r in doc["results"]:
        for side in ("thaw", "knative"):
            s = r[side]
            bad = s["rejected"] if side == "thaw" else s["overcommitted_pods"]
            models = f"{r['models']}{' (synth.)' if r['models'] > real else ''}"
            lines.append(f"| {r['nodes']} | {models} | {r['invocations']} | {side} | {s['cold_requests']} "
                         f"| {s['cold_pct']:.3f} | {s['expensive_pct']:.3f} | {s['pod_starts']} "
                         f"| {s['waited_latency_ms']['p50']:.1f} | {s['waited_latency_ms']['p99']:.1f} "
                         f"| {s['latency_ms']['p99']:.1f} | {s['node_gb_mean']:.1f} "
                         f"| {s['node_gb_max']:.1f} | {s['node_page_cache_gb_mean']:.1f} | {bad} |")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", required=True)
    ap.add_argument("--models", required=True)
    ap.add_argument("--pod-start", required=True)
    ap.add_argument("--models-big", required=True)
    ap.add_argument("--matched", nargs="+", default=[])
    ap.add_argument("--times", nargs=3, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--md", required=True)
    a = ap.parse_args()
    nodes = json.load(open(a.nodes))
    models = json.load(open(a.models))
    big = json.load(open(a.models_big))
    matched = [json.load(open(m)) for m in a.matched]
    pod = json.load(open(a.pod_start))
    times = [float(pathlib.Path(t).read_text().split()[-1]) for t in a.times]
    out = {"loadavg": os.getloadavg(), "pod_start": pod, "parameters": nodes["parameters"],
           "profile": nodes["profile"], "trace": nodes["trace"], "synthesis": models["synthesis"],
           "by_nodes": nodes["results"], "by_models": models["results"], "by_models_big_nodes": big["results"],
           "big_node_memory_gb": big["parameters"]["node_memory_gb"],
           "at_knative_memory": [{"matched": m["matched_memory"], **m["results"][0]} for m in matched],
           "by_models_trace": models["trace"], "wall_s": {"by_nodes": times[0], "by_models": times[1], "by_models_big_nodes": times[2]}}
    pathlib.Path(a.out).write_text(json.dumps(out, indent=1))
    p = nodes["parameters"]
    m = pod["median"]
    md = ["## thaw sim --nodes (bench/cluster_sim.sh)", "",
          f"thaw serve exec to ready, measured here: median {m['ready_ms']:.1f} ms (first answer of a cold model "
          f"{m['first_answer_ms']:.0f} ms), idle RSS {m['idle_rss_mb']:.1f} MB; Kubernetes' part of a pod start "
          f"assumed {p['k8s_pod_start_ms']:.0f} ms. Knative-like pod start uniform in "
          f"{p['knative_pod_start_ms'][0]:.0f}-{p['knative_pod_start_ms'][1]:.0f} ms + model load "
          f"{p['knative_model_load_ms']:.0f} ms; window {p['knative_window_s']:.0f} s. Node memory "
          f"{p['node_memory_gb']:.0f} GB; {p['pod_target']} requests per pod on both sides. "
          f"Load average {out['loadavg'][0]:.1f}; wall {times[0]:.0f} s + {times[1]:.0f} s + {times[2]:.0f} s.", "",
          table(nodes, f"The sample ({nodes['trace']['apps']} models, {nodes['trace']['minutes']:.0f} minutes)"),
          table(models, f"Models grown to 10,000 (beyond {models['synthesised_beyond']}: synthesised from the "
                        f"trace's distributions; first {models['trace']['minutes']:.0f} minutes), "
                        f"{p['node_memory_gb']:.0f} GB nodes"),
          table(big, f"The same on {big['parameters']['node_memory_gb']:.0f} GB nodes")]
    if matched:
        md += ["### thaw at the Knative-like baseline's memory per node (the sample day)", "",
               "The ladder's budget per node bisected until thaw's mean memory per node is at or just under "
               "the baseline's (bench/cluster_match_memory.py).", "",
               "| nodes | ladder budget GB/node | side | GB/node mean | cold % | expensive % | waited p50 ms "
               "| waited p99 ms | mean added ms (all requests) |", "|---|---|---|---|---|---|---|---|---|"]
        for m in matched:
            r = m["results"][0]
            for side in ("thaw", "knative"):
                s = r[side]
                md.append(f"| {r['nodes']} | {m['matched_memory']['budget_gb_per_node']:.2f} | {side} "
                          f"| {s['node_gb_mean']:.2f} | {s['cold_pct']:.3f} | {s['expensive_pct']:.3f} "
                          f"| {s['waited_latency_ms']['p50']:.1f} | {s['waited_latency_ms']['p99']:.1f} "
                          f"| {s['latency_ms']['mean']:.2f} |")
        md.append("")
    pathlib.Path(a.md).write_text("\n".join(md))


if __name__ == "__main__":
    main()
