#!/usr/bin/env python3
"""Generative models: time to first token from each rung of thaw's ladder beside llama-server
(started per request, and its router mode loading the model on demand) and a Python transformers
handler started cold; decode tokens/s at 1, 4 and 16 concurrent streams beside llama-server; PSS of
forked instances. Same GGUF, same thread count, one run. Prints a table, writes JSON.

Run through bench/llm.sh (it builds llama-server and the synthetic 0.5 B model first).
"""
import argparse
import concurrent.futures
import http.client
import json
import os
import pathlib
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
from worker_harness import THAW_BIN, Worker, fork_child  # noqa: E402

PROMPT = "Tell me about the cold start of a warm model."
# A chat request as an application sends it: its fixed system prompt, then the user's message. The
# prompt-cache figures pack the bundle with this system prompt rendered by the model's own chat
# template as the warm-up prompt, as a deployment would.
SYSTEM = ("You are the support assistant of a company that runs machine learning models for its "
          "customers. Answer in plain words, in at most three sentences, and say so when you do not "
          "know. Never invent prices, dates or names.")
PAGE_CACHE_TOOL = os.environ.get("THAW_PAGE_CACHE_TOOL", str(ROOT / "build" / "src" / "loader" / "thaw_page_cache"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def evict(*paths):
    subprocess.run([PAGE_CACHE_TOOL, "evict", *map(str, paths)], check=True, capture_output=True)


def residency(path):
    out = subprocess.run([PAGE_CACHE_TOOL, "residency", str(path)], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.splitlines()[0])["fraction"]


def read_all(path):
    t0 = time.perf_counter()
    with open(path, "rb", buffering=0) as f:
        while f.read(8 << 20):
            pass
    return time.perf_counter() - t0


def first_token(host, port, body, path="/v1/completions", timeout=300, usage=None):
    """POSTs a streamed completion; returns (seconds to the first non-empty token, seconds to the end,
    tokens seen). Retries the connection while the server is not yet listening. `usage` (a dict)
    receives the stream's usage chunk (prompt_tokens, prompt_tokens_details.cached_tokens)."""
    t0 = time.perf_counter()
    extra = {"stream_options": {"include_usage": True}} if usage is not None else {}
    payload = json.dumps(dict(body, stream=True, **extra)).encode()
    deadline = t0 + timeout
    while True:
        try:
            conn = http.client.HTTPConnection(host, port, timeout=timeout)
            conn.request("POST", path, body=payload, headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            if resp.status == 503 and time.perf_counter() < deadline:  # loading (llama-server)
                resp.read()
                conn.close()
                time.sleep(0.002)
                continue
            break
        except (ConnectionRefusedError, ConnectionResetError, http.client.RemoteDisconnected):
            if time.perf_counter() > deadline:
                raise
            time.sleep(0.002)
    if resp.status != 200:
        raise RuntimeError(f"{host}:{port}{path} answered {resp.status}: {resp.read()[:300]!r}")
    t_first, tokens = None, 0
    buf = b""
    while True:
        chunk = resp.read1(65536) if hasattr(resp, "read1") else resp.read(1)
        if not chunk:
            break
        buf += chunk
        while b"\n\n" in buf:
            event, buf = buf.split(b"\n\n", 1)
            if not event.startswith(b"data: ") or event == b"data: [DONE]":
                continue
            j = json.loads(event[6:])
            if usage is not None and j.get("usage"):
                usage.update(j["usage"])
            for ch in j.get("choices", []):
                text = ch.get("text") or (ch.get("delta") or {}).get("content") or ""
                if text:
                    tokens += 1
                    if t_first is None:
                        t_first = time.perf_counter() - t0
    conn.close()
    return t_first, time.perf_counter() - t0, tokens


def wait_http(port, path="/health", timeout=300):
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            c.request("GET", path)
            r = c.getresponse()
            r.read()
            c.close()
            if r.status == 200:
                return
        except OSError:
            pass
        time.sleep(0.002)
    raise RuntimeError(f"port {port} never answered {path}")


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def rollup(pid):
    """/proc/PID/smaps_rollup in KiB: Rss, Pss, Private_Clean, Private_Dirty, ..."""
    out = {}
    for line in open(f"/proc/{pid}/smaps_rollup"):
        parts = line.split()
        if len(parts) >= 2 and parts[1].isdigit():
            out[parts[0].rstrip(":")] = int(parts[1])
    return out


def pss_kib(pid):
    return rollup(pid).get("Pss", 0)


def fork_ready_child(control):
    """(pid, host, port) of a child forked by a `thaw run --zygote` template."""
    status, pid, endpoint = fork_child(control, timeout=60)
    assert status == "ready", (status, pid, endpoint)
    host, port = endpoint.rsplit(":", 1)
    return int(pid), host, int(port)


def render_system(hf):
    """The chat template's rendering of a conversation holding only SYSTEM: the prefix every chat
    request of the application shares (rendered by the model's own template, through transformers)."""
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(str(hf))
    return tok.apply_chat_template([{"role": "system", "content": SYSTEM}], tokenize=False,
                                   add_generation_prompt=False)


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


class Bench:
    def __init__(self, a):
        self.a = a
        self.gguf = pathlib.Path(a.gguf).resolve()
        self.tmp = pathlib.Path(tempfile.mkdtemp(prefix="thaw-llm-bench-", dir=a.workdir))
        self.bundle = self.tmp / "model.thaw"
        subprocess.run([THAW_BIN, "pack", str(self.gguf), "-o", str(self.bundle)], check=True, capture_output=True)
        self.router_dir = self.tmp / "router-models"
        self.router_dir.mkdir()
        os.link(self.gguf, self.router_dir / self.gguf.name) if self.gguf.stat().st_dev == self.router_dir.stat().st_dev \
            else shutil.copy(self.gguf, self.router_dir / self.gguf.name)
        self.chat_bundle = None
        hf = self.gguf.parent / "hf"
        if hf.exists():
            self.chat_bundle = self.tmp / "model-chat.thaw"
            subprocess.run([THAW_BIN, "pack", str(self.gguf), "-o", str(self.chat_bundle), "--backend-opt",
                            f"warmup_prompt={render_system(hf)}"], check=True, capture_output=True)
        self.opts = ["--backend-opt", f"threads={a.threads}", "--backend-opt", f"context={a.context}"]
        self.body = {"prompt": PROMPT, "max_tokens": 1, "temperature": 0}
        self.results = {"gguf": str(self.gguf), "gguf_bytes": self.gguf.stat().st_size, "threads": a.threads,
                        "runs": a.runs, "context": a.context, "loadavg_start": os.getloadavg()}

    # --- physical limits
    def storage(self):
        reads = []
        for _ in range(max(1, self.a.runs // 2)):
            evict(self.bundle)
            reads.append(read_all(self.bundle))
        hot = read_all(self.bundle)
        size = self.bundle.stat().st_size
        self.results["storage_read_s"] = med(reads)
        self.results["hot_read_s"] = hot
        self.results["storage_mib_s"] = size / (1 << 20) / med(reads)

    # --- thaw rungs
    def thaw_warm(self):
        """The same prompt again and again: without the prompt cache (every request prefills it whole,
        as a new prompt would: the bar's warm figure) and with it (all but its last token reused)."""
        for key, cache in (("thaw_warm_ttft_s", 0), ("thaw_warm_cached_ttft_s", 1)):
            w = Worker(self.bundle, "--port", "0", *self.opts, "--backend-opt", "slots=4",
                       "--backend-opt", f"prompt_cache={cache}")
            try:
                first_token("127.0.0.1", w.port, self.body)  # its first request, not measured
                ttft = [first_token("127.0.0.1", w.port, self.body)[0] for _ in range(self.a.runs * 2)]
            finally:
                w.stop()
            self.results[key] = med(ttft)

    def thaw_zygote(self):
        control = self.tmp / "zygote.sock"
        z = Worker(self.bundle, "--zygote", str(control), *self.opts, "--backend-opt", "slots=4", wait_ready=False)
        try:
            z.wait_for("zygote_ready", 300)
            pss_before = pss_kib(z.proc.pid)
            ttft, children = [], []
            for _ in range(self.a.runs):
                # From the fork command to the child's first token.
                t0 = time.perf_counter()
                pid, host, port = fork_ready_child(control)
                t_req = time.perf_counter()
                t_first, _, _ = first_token(host, port, self.body)
                ttft.append(None if t_first is None else t_req - t0 + t_first)
                children.append(pid)
            self.results["thaw_zygote_ttft_s"] = med(ttft)
            # Memory once every child has answered a request (its compute buffers and KV cache
            # touched). A child's own PSS shares the weights with the zygote and its siblings (1/N
            # each), so the cost of one more instance is the growth of the family's total PSS per
            # child, and the child's private pages (what only it holds).
            rolls = [rollup(pid) for pid in children]
            total_after = pss_kib(z.proc.pid) + sum(r["Pss"] for r in rolls)
            marginal = (total_after - pss_before) / len(children)
            private = [r.get("Private_Clean", 0) + r.get("Private_Dirty", 0) for r in rolls]
            self.results["zygote_pss_kib"] = pss_before
            self.results["child_pss_kib"] = [r["Pss"] for r in rolls]
            self.results["child_private_kib"] = private
            self.results["marginal_pss_per_child_kib"] = marginal
            self.results["child_pss_fraction_of_weights"] = marginal * 1024 / self.results["gguf_bytes"]
            self.results["child_private_fraction_of_weights"] = med(private) * 1024 / self.results["gguf_bytes"]
            for pid in children:
                try:
                    os.kill(pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        finally:
            z.stop()

    def thaw_exec(self):
        """exec -> first token; with --baseline-bin, that binary's in the same runs, interleaved."""
        bins = [("", THAW_BIN)] + ([("_baseline", self.a.baseline_bin)] if self.a.baseline_bin else [])
        for key, cold in (("thaw_page_cache_ttft_s", False), ("thaw_disk_ttft_s", True)):
            runs = {suffix: [] for suffix, _ in bins}
            for _ in range(self.a.runs):
                for suffix, binary in bins:
                    runs[suffix] += self.timed_exec(lambda port: [binary, "run", str(self.bundle), "--port", str(port),
                                                                  *self.opts, "--backend-opt", "slots=4"],
                                                    self.bundle, cold, "/v2/health/ready", runs=1)
            for suffix, xs in runs.items():
                self.results[key + suffix] = med(xs)

    def timed_exec(self, argv_for_port, file, cold, health, model=None, runs=None):
        """exec -> first token, polling readiness on `health` then streaming one token."""
        out = []
        for _ in range(runs or self.a.runs):
            if cold:
                evict(file)
            else:
                read_all(file)
            port = free_port()
            t0 = time.perf_counter()
            p = subprocess.Popen(argv_for_port(port), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                wait_http(port, health)
                body = dict(self.body, model=model) if model else self.body
                t_req = time.perf_counter()
                t_first, _, _ = first_token("127.0.0.1", port, body)
                out.append(None if t_first is None else t_req - t0 + t_first)
            finally:
                stop(p)
        return out

    # --- peers
    def llama_server_argv(self, port, *extra):
        return [self.a.llama_server, "--host", "127.0.0.1", "--port", str(port), "-t", str(self.a.threads),
                "-tb", str(self.a.threads), "--no-webui", "-ngl", "0", *extra]

    def llama_server_per_request(self):
        for key, cold in (("llama_server_exec_ttft_s", False), ("llama_server_exec_disk_ttft_s", True)):
            self.results[key] = med(self.timed_exec(
                lambda port: self.llama_server_argv(port, "-m", str(self.gguf), "-c", str(4 * self.a.context), "-np", "4"),
                self.gguf, cold, "/health"))

    def router_ttft(self, body, path="/v1/completions"):
        """Router mode: the router is up, the model is not loaded; a request loads it on demand."""
        out = []
        for _ in range(self.a.runs):
            read_all(self.gguf)
            port = free_port()
            p = subprocess.Popen(self.llama_server_argv(port, "--models-dir", str(self.router_dir), "-c",
                                                        str(4 * self.a.context), "-np", "4"),
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                wait_http(port, "/health")
                t_first, _, _ = first_token("127.0.0.1", port, dict(body, model=self.gguf.stem), path=path)
                out.append(t_first)
            finally:
                stop(p)
        return med(out)

    def llama_server_router(self):
        self.results["llama_server_router_ttft_s"] = self.router_ttft(self.body)

    def chat_prefix(self):
        """A chat request with the application's system prompt: thaw's zygote child (whose template
        kept the system prompt's KV from its warm-up) and, for reference, one without the prompt
        cache, beside llama-server's router loading the model on demand for the same request."""
        if self.chat_bundle is None:
            return
        body = {"messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": PROMPT}],
                "max_tokens": 1, "temperature": 0}
        path = "/v1/chat/completions"
        for key, cache in (("thaw_zygote_chat_cached_ttft_s", 1), ("thaw_zygote_chat_uncached_ttft_s", 0)):
            control = self.tmp / f"zygote-chat-{cache}.sock"
            z = Worker(self.chat_bundle, "--zygote", str(control), *self.opts, "--backend-opt", "slots=4",
                       "--backend-opt", f"prompt_cache={cache}", wait_ready=False)
            try:
                z.wait_for("zygote_ready", 300)
                ttft = []
                for _ in range(self.a.runs):
                    t0 = time.perf_counter()
                    pid, host, port = fork_ready_child(control)
                    t_req = time.perf_counter()
                    usage = {}
                    t_first, _, _ = first_token(host, port, body, path=path, usage=usage)
                    ttft.append(None if t_first is None else t_req - t0 + t_first)
                    os.kill(pid, signal.SIGTERM)
                self.results[key] = med(ttft)
                self.results[key.replace("_ttft_s", "_usage")] = usage
            finally:
                z.stop()
        self.results["llama_server_router_chat_ttft_s"] = self.router_ttft(body, path)

    def python_cold(self):
        hf = self.gguf.parent / "hf"
        if self.a.skip_python or not hf.exists():
            return
        script = ("import sys, torch; from transformers import AutoTokenizer, AutoModelForCausalLM;"
                  f"tok = AutoTokenizer.from_pretrained({str(hf)!r});"
                  f"m = AutoModelForCausalLM.from_pretrained({str(hf)!r}, dtype=torch.float32);"
                  f"torch.set_num_threads({self.a.threads});"
                  f"ids = tok({PROMPT!r}, return_tensors='pt').input_ids;"
                  "out = m.generate(ids, max_new_tokens=1, do_sample=False);"
                  "print(tok.decode(out[0, ids.shape[1]:]), flush=True)")
        out = []
        for _ in range(max(1, self.a.runs // 2)):
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-c", script], check=True, capture_output=True,
                           env=dict(os.environ, HF_HUB_OFFLINE="1"))
            out.append(time.perf_counter() - t0)
        self.results["python_transformers_cold_ttft_s"] = med(out)

    # --- decode speed
    def decode(self, host, port, streams, model=None):
        body = {"prompt": PROMPT, "max_tokens": self.a.decode_tokens, "temperature": 0, "ignore_eos": True}
        if model:
            body["model"] = model
        t0 = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(streams) as pool:
            runs = list(pool.map(lambda _: first_token(host, port, body), range(streams)))
        wall = time.perf_counter() - t0
        per_stream = [(n - 1) / (end - first) for first, end, n in runs if first is not None and n > 1 and end > first]
        return {"per_stream_tok_s": med(per_stream), "aggregate_tok_s": sum(n for _, _, n in runs) / wall,
                "tokens": [n for _, _, n in runs]}

    def decode_all(self):
        streams = [int(s) for s in self.a.streams.split(",")]
        slots = max(streams)
        res = {}
        w = Worker(self.bundle, "--port", "0", *self.opts, "--backend-opt", f"slots={slots}")
        try:
            self.decode("127.0.0.1", w.port, 1)
            res["thaw"] = {s: self.decode("127.0.0.1", w.port, s) for s in streams}
        finally:
            w.stop()
        port = free_port()
        p = subprocess.Popen(self.llama_server_argv(port, "-m", str(self.gguf), "-c", str(slots * self.a.context), "-np",
                                                    str(slots)), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_http(port, "/health")
            self.decode("127.0.0.1", port, 1)
            res["llama_server"] = {s: self.decode("127.0.0.1", port, s) for s in streams}
        finally:
            stop(p)
        self.results["decode"] = res

    def run(self):
        steps = [self.storage, self.thaw_warm, self.thaw_zygote, self.thaw_exec, self.llama_server_per_request,
                 self.llama_server_router, self.chat_prefix, self.python_cold, self.decode_all]
        if self.a.only:
            names = self.a.only.split(",")
            steps = [s for s in steps if s.__name__ in names]
        for step in steps:
            t0 = time.perf_counter()
            try:
                step()
            except Exception as e:  # a peer that fails still leaves the rest of the table
                self.results.setdefault("errors", {})[step.__name__] = repr(e)
            print(f"[llm bench] {step.__name__}: {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
        self.results["loadavg_end"] = os.getloadavg()
        shutil.rmtree(self.tmp, ignore_errors=True)
        return self.results


def report(r):
    ms = lambda s: "-" if s is None else f"{s * 1000:.1f} ms"  # noqa: E731
    warm = r.get("thaw_warm_ttft_s")
    lines = [f"GGUF {r['gguf']} ({r['gguf_bytes'] / 2**20:.0f} MiB), {r['threads']} threads, {r['runs']} runs, "
             f"load {r['loadavg_start'][0]:.2f} -> {r['loadavg_end'][0]:.2f}",
             f"storage read of the bundle (cold): {ms(r.get('storage_read_s'))} ({r.get('storage_mib_s', 0):.0f} MiB/s)",
             "", "time to first token (median):"]
    for key, name in [("thaw_warm_ttft_s", "thaw warm (prompt prefilled whole)"),
                      ("thaw_warm_cached_ttft_s", "thaw warm, same prompt again (prompt cache)"),
                      ("thaw_zygote_ttft_s", "thaw zygote (fork -> token)"),
                      ("thaw_page_cache_ttft_s", "thaw page cache (exec -> token)"),
                      ("thaw_page_cache_ttft_s_baseline", "  baseline binary, same runs"),
                      ("thaw_disk_ttft_s", "thaw disk, 0 % resident (exec -> token)"),
                      ("thaw_disk_ttft_s_baseline", "  baseline binary, same runs"),
                      ("llama_server_exec_ttft_s", "llama-server per request, page cache"),
                      ("llama_server_exec_disk_ttft_s", "llama-server per request, disk"),
                      ("llama_server_router_ttft_s", "llama-server router, on-demand load"),
                      ("python_transformers_cold_ttft_s", "Python transformers handler, cold")]:
        lines.append(f"  {name:45s} {ms(r.get(key))}")
    z, d, rt = r.get("thaw_zygote_ttft_s"), r.get("thaw_disk_ttft_s"), r.get("llama_server_router_ttft_s")
    if warm and z:
        lines.append(f"  zygote - warm = {ms(z - warm)} (target <= 10 ms)")
    if warm and d and r.get("storage_read_s"):
        lines.append(f"  disk - (storage read + warm) = {ms(d - r['storage_read_s'] - warm)} (target <= 50 ms)")
    if rt and z:
        lines.append(f"  llama-server router on-demand / thaw zygote = {rt / z:.1f}x (target >= 10x)")
        if warm and rt > warm and z > warm:
            lines.append(f"  start cost beyond a warm first token: router {ms(rt - warm)}, zygote {ms(z - warm)} "
                         f"= {(rt - warm) / (z - warm):.1f}x")
    if rt and d:
        lines.append(f"  llama-server router on-demand / thaw disk   = {rt / d:.1f}x")
    db = r.get("thaw_disk_ttft_s_baseline")
    if warm and db and r.get("storage_read_s"):
        lines.append(f"  baseline: disk - (storage read + warm) = {ms(db - r['storage_read_s'] - warm)}")
    zc, zu, rc = (r.get(k) for k in ("thaw_zygote_chat_cached_ttft_s", "thaw_zygote_chat_uncached_ttft_s",
                                     "llama_server_router_chat_ttft_s"))
    if zc:
        u = r.get("thaw_zygote_chat_cached_usage") or {}
        cached = (u.get("prompt_tokens_details") or {}).get("cached_tokens")
        lines.append(f"chat request with a system prompt ({u.get('prompt_tokens')} prompt tokens, {cached} of them "
                     f"kept by the zygote's warm-up): zygote {ms(zc)}, without the prompt cache {ms(zu)}, "
                     f"llama-server router on-demand {ms(rc)}")
        if rc:
            lines.append(f"  llama-server router on-demand / thaw zygote, chat = {rc / zc:.1f}x (target >= 10x)")
    if "marginal_pss_per_child_kib" in r:
        lines.append(f"memory per forked instance ({len(r['child_pss_kib'])} children): family PSS grows "
                     f"{r['marginal_pss_per_child_kib'] / 1024:.1f} MiB per child = "
                     f"{100 * r['child_pss_fraction_of_weights']:.1f} % of the weights (target < 10 %); private "
                     f"{med(r['child_private_kib']) / 1024:.1f} MiB = {100 * r['child_private_fraction_of_weights']:.2f} %")
    for s, t in (r.get("decode", {}).get("thaw") or {}).items():
        l = r["decode"].get("llama_server", {}).get(s) or {}
        ratio = (t["aggregate_tok_s"] / l["aggregate_tok_s"]) if l.get("aggregate_tok_s") else None
        pr = (t["per_stream_tok_s"] / l["per_stream_tok_s"]) if l.get("per_stream_tok_s") and t["per_stream_tok_s"] else None
        lines.append(f"decode {s:>2} streams: thaw {t['per_stream_tok_s'] or 0:.1f} tok/s/stream, {t['aggregate_tok_s']:.1f} "
                     f"aggregate; llama-server {l.get('per_stream_tok_s') or 0:.1f} / {l.get('aggregate_tok_s') or 0:.1f}; "
                     f"ratio per stream {pr or 0:.2f}, aggregate {ratio or 0:.2f} (target >= 0.95)")
    for k, v in r.get("errors", {}).items():
        lines.append(f"error in {k}: {v}")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gguf", default=str(ROOT / "models/src/llm-0.5b/model-q8_0.gguf"))
    ap.add_argument("--llama-server", required=True)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1, help="compute threads, thaw and llama-server alike")
    ap.add_argument("--context", type=int, default=512, help="tokens per slot, thaw and llama-server alike")
    ap.add_argument("--streams", default="1,4,16")
    ap.add_argument("--decode-tokens", type=int, default=32)
    ap.add_argument("--skip-python", action="store_true")
    ap.add_argument("--only", default=None,
                    help="comma-separated steps to run (storage, thaw_warm, thaw_zygote, thaw_exec, "
                         "llama_server_per_request, llama_server_router, chat_prefix, python_cold, decode_all)")
    ap.add_argument("--baseline-bin", default=None,
                    help="another thaw binary whose page-cache and disk rungs run interleaved in the same runs")
    ap.add_argument("--workdir", default=None, help="where the bundle is written (default: the system temp dir)")
    ap.add_argument("--out", default=str(ROOT / "bench/results/llm.json"))
    a = ap.parse_args()
    r = Bench(a).run()
    print(report(r))
    pathlib.Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    pathlib.Path(a.out).write_text(json.dumps(r, indent=1, default=str))
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
