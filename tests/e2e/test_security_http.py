"""Security of thaw's HTTP side, tried as an attacker would, against real `thaw serve`, `thaw run`
and `thaw cache` processes (issue 14): request smuggling, a client hanging up mid-download, slow
clients and descriptor exhaustion, authentication (admin token, API keys with tiers and rate
limits, Origin and Host checks, internal details, the admin listener, TLS), duplicate tier headers,
the access and audit logs."""
import json
import os
import pathlib
import re
import resource
import signal
import socket
import ssl
import subprocess
import time

import pytest
import requests

from cache_harness import Cache, Upstream, make_bundle
from serve_client import infer, json_error, text_body
from serve_harness import Gateway
from worker_harness import THAW_BIN, Worker, pack_minilm

ADMIN = "admin-0123456789abcdef0123456789abcdef"
ALICE = "alice-0123456789abcdef0123456789abcdef"
BATCHY = "batchy-0123456789abcdef0123456789abcdef"


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return pack_minilm(tmp_path_factory.mktemp("bundle"))


def secret(path, value):
    path.write_text(value + "\n")
    path.chmod(0o600)
    return str(path)


@pytest.fixture()
def serve(tmp_path, bundle):
    started = []

    def start(server=None, security=None, models=("minilm",), per_model=None, args=(), preexec_fn=None):
        config = {"server": {"tick_interval_ms": 50, **(server or {})},
                  "models": [{"name": m, "bundle": str(bundle), **(per_model or {}).get(m, {})} for m in models]}
        if security is not None:
            config["security"] = security
        path = tmp_path / f"thaw{len(started)}.yaml"
        path.write_text(json.dumps(config))
        g = Gateway("--config", str(path), *args, log_path=tmp_path / f"serve{len(started)}.log")
        started.append(g)
        return g

    yield start
    for g in started:
        if g.proc.returncode is None:
            assert g.alive(), g.log_tail()
            assert g.stop() == 0, g.log_tail()


def eventually_text(path, needle, timeout=5):
    """The file's text once it holds `needle` (a log line is written just after its response)."""
    deadline = time.monotonic() + timeout
    while True:
        text = path.read_text() if path.exists() else ""
        if needle in text or time.monotonic() > deadline:
            return text
        time.sleep(0.05)


def exchange(port, raw, timeout=10, host="127.0.0.1"):
    """Sends raw bytes, reads until the server closes; returns everything it sent back."""
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(raw)
        out = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                return out
            out += chunk
        raise AssertionError(f"the server kept the connection open; it sent {out[:300]!r}")


# ---------------------------------------------------------------- 3: request smuggling

HIDDEN = b"POST /admin/models/minilm/drain HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n"


def smuggle(framing, body=b"0\r\n\r\n" + HIDDEN, version=b"HTTP/1.1"):
    return (b"POST /v2/health/ready " + version + b"\r\nHost: 127.0.0.1\r\n" + framing +
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


SMUGGLING = {
    "CL.TE": smuggle(b"Transfer-Encoding: chunked\r\n"),
    "TE.CL": (b"POST /v2/health/ready HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 4\r\n"
              b"Transfer-Encoding: chunked\r\n\r\n" + b"%x\r\n" % len(HIDDEN) + HIDDEN + b"\r\n0\r\n\r\n"),
    "TE chunked, identity": smuggle(b"Transfer-Encoding: chunked, identity\r\n"),
    "TE xchunked": smuggle(b"Transfer-Encoding: xchunked\r\n"),
    "TE gzip": smuggle(b"Transfer-Encoding: gzip\r\n"),
    "TE identity": smuggle(b"Transfer-Encoding: identity\r\n"),
    "TE twice": smuggle(b"Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n"),
    "TE with space before colon": smuggle(b"Transfer-Encoding : chunked\r\n"),
    "TE folded": smuggle(b"Transfer-Encoding: identity\r\n chunked\r\n"),
    "TE in HTTP/1.0": smuggle(b"Transfer-Encoding: chunked\r\n", version=b"HTTP/1.0"),
    "TE chunked alone in 1.0": (b"POST /v2/health/ready HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                                b"0\r\n\r\n" + HIDDEN),
    "two Content-Lengths": (b"POST /v2/health/ready HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n"
                            b"Content-Length: %d\r\n\r\n" % len(HIDDEN) + HIDDEN),
    "Content-Length list": (b"POST /v2/health/ready HTTP/1.1\r\nHost: a\r\nContent-Length: 0, %d\r\n\r\n"
                            % len(HIDDEN) + HIDDEN),
    "Content-Length with sign": b"POST /v2/health/ready HTTP/1.1\r\nHost: a\r\nContent-Length: +0\r\n\r\n" + HIDDEN,
    "bare LF": b"POST /v2/health/ready HTTP/1.1\nHost: a\nContent-Length: 0\n\n" + HIDDEN,
    "chunk size 0x": (b"POST /v2/health/ready HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                      b"0x0\r\n\r\n" + HIDDEN),
    "two Hosts": b"GET /v2/health/ready HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n" + HIDDEN,
}


def assert_refused_once(answer, name):
    assert answer.startswith(b"HTTP/1.1 400 "), (name, answer[:200])
    assert len(re.findall(rb"(?:^|\r\n)HTTP/1\.[01] \d{3} ", answer)) == 1, f"{name}: a second response means a smuggled request ran: {answer!r}"
    assert b"connection: close" in answer.lower(), (name, answer[:300])


def test_smuggling_variants_are_refused_by_the_gateway(serve):
    g = serve()
    for name, raw in SMUGGLING.items():
        assert_refused_once(exchange(g.port, raw), name)
    # Nothing ran: the model was never drained (it would say so), and the gateway still serves.
    assert g.get("/v2/health/ready").status_code == 200
    m = g.models()["minilm"]
    assert m["rung"] == "disk" and m["cold_starts"] == {k: 0 for k in m["cold_starts"]}
    assert "drain" not in pathlib.Path(g.log_path).read_text()


def test_smuggling_variants_are_refused_by_a_worker(bundle):
    w = Worker(bundle, "--port", "0")
    try:
        port = w.port
        for name, raw in SMUGGLING.items():
            assert_refused_once(exchange(port, raw.replace(b"/v2/health/ready", b"/v2/health/live")), name)
    finally:
        w.stop()


def test_a_chunked_body_without_length_still_works(serve):
    g = serve()
    body = json.dumps({"ready": False}).encode()
    raw = (b"POST /v2/repository/index HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
           b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n")
    answer = exchange(g.port, raw)
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:200]
    assert b'"minilm"' in answer


# ---------------------------------------------------------------- 1: a client hanging up mid-download


def test_cache_survives_clients_hanging_up_mid_download(tmp_path):
    root = tmp_path / "registry"
    want = make_bundle(root / "big" / "1.thaw", "big", "1", 48, tensors=8).read_bytes()
    up = Upstream(root)
    cache = Cache(up.base, tmp_path / "cache")
    try:
        for _ in range(6):
            with socket.create_connection(("127.0.0.1", cache.port), timeout=10) as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                s.sendall(b"GET /models/big/1 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                s.recv(4096)
                # A reset, not a polite close: the server's next write fails with EPIPE/ECONNRESET.
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            time.sleep(0.2)
        assert cache.proc.poll() is None, f"thaw cache died: exit {cache.proc.returncode}"
        got = requests.get(cache.base + "/models/big/1", timeout=60)
        assert got.status_code == 200 and got.content == want
    finally:
        cache.stop()
        up.stop()


# ---------------------------------------------------------------- 5: slow clients and descriptors


def test_slow_headers_and_bodies_are_cut_off(serve):
    g = serve(server={"header_timeout_ms": 1000, "body_timeout_ms": 1000})
    slow = []
    for _ in range(40):
        s = socket.create_connection(("127.0.0.1", g.port), timeout=10)
        s.sendall(b"GET /v2/health/ready HTTP/1.1\r\n")
        slow.append(s)
    body_slow = socket.create_connection(("127.0.0.1", g.port), timeout=10)
    body_slow.sendall(b"POST /v2/repository/index HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n{")
    t0 = time.monotonic()
    for s in slow + [body_slow]:
        # A byte now and then does not keep a head alive past its deadline.
        try:
            s.sendall(b"X")
        except OSError:
            pass
    for s in slow + [body_slow]:
        data = b""
        while True:
            try:
                chunk = s.recv(4096)
            except (ConnectionResetError, socket.timeout):
                break
            if not chunk:
                break
            data += chunk
        assert data == b"" or data.startswith(b"HTTP/1.1 408"), data[:100]
        s.close()
    assert time.monotonic() - t0 < 8, "slow clients were held far past the 1 s timeouts"
    assert g.get("/v2/health/ready").status_code == 200


def test_connections_per_client_are_capped(serve):
    g = serve(server={"max_connections_per_client": 5})
    held = [socket.create_connection(("127.0.0.1", g.port), timeout=10) for _ in range(5)]
    try:
        time.sleep(0.2)
        answer = exchange(g.port, b"GET /v2/health/ready HTTP/1.1\r\nHost: a\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 503 "), answer[:200]
        assert b"too many connections from your address" in answer
    finally:
        for s in held:
            s.close()
    time.sleep(0.3)
    assert g.get("/v2/health/ready").status_code == 200


def test_out_of_descriptors_answers_503_instead_of_hanging(tmp_path, bundle):
    def low_limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (96, 96))

    config = tmp_path / "thaw.yaml"
    config.write_text(json.dumps({"models": [{"name": "minilm", "bundle": str(bundle)}]}))
    log = tmp_path / "serve.log"
    proc = subprocess.Popen([THAW_BIN, "serve", "--port", "0", "--config", str(config)],
                            stdout=subprocess.PIPE, stderr=open(log, "wb"), preexec_fn=low_limit)
    try:
        line = proc.stdout.readline()
        port = json.loads(line)["port"]
        held = []
        try:
            for _ in range(120):
                s = socket.create_connection(("127.0.0.1", port), timeout=10)
                held.append(s)
            answers = []
            for _ in range(3):
                answers.append(exchange(port, b"GET /v2/health/ready HTTP/1.1\r\nHost: a\r\n\r\n", timeout=10))
            assert any(a.startswith(b"HTTP/1.1 503 ") for a in answers), answers
        finally:
            for s in held:
                s.close()
        deadline = time.monotonic() + 10
        while True:
            try:
                if requests.get(f"http://127.0.0.1:{port}/v2/health/ready", timeout=5).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, "the gateway did not recover once descriptors were free"
            time.sleep(0.2)
        assert "out of file descriptors" in log.read_text()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0


# ---------------------------------------------------------------- 4: authentication


def test_admin_routes_need_the_token(serve, tmp_path):
    g = serve(security={"admin_token_file": secret(tmp_path / "admin", ADMIN)})
    auth = {"Authorization": "Bearer " + ADMIN}
    for method, path in (("GET", "/admin/models"), ("POST", "/admin/models/minilm/drain"),
                         ("POST", "/admin/models/minilm/prewarm"), ("POST", "/v2/repository/index"),
                         ("POST", "/v2/repository/models/minilm/unload"), ("POST", "/v2/repository/models/minilm/load")):
        r = g.session.request(method, g.base + path, timeout=30)
        assert r.status_code == 401, (path, r.status_code, r.text)
        assert r.headers["WWW-Authenticate"].startswith("Bearer")
        r = g.session.request(method, g.base + path, headers={"Authorization": "Bearer not-the-token-at-all"}, timeout=30)
        assert r.status_code == 401, (path, r.text)
    r = g.get("/admin/models", headers=auth)
    assert r.status_code == 200 and r.json()["models"][0]["bundle"]
    assert g.post("/v2/repository/index", headers=auth).status_code == 200
    assert g.post("/admin/models/minilm/drain", headers=auth, json={"rung": "disk"}).status_code == 200
    # Inference stays open without API keys; health and metrics too.
    assert infer(g, "minilm", [0]).status_code == 200
    assert g.get("/v2/health/ready").status_code == 200 and g.get("/metrics").status_code == 200


def test_a_token_file_others_can_read_is_refused(tmp_path, bundle):
    token = tmp_path / "admin"
    token.write_text(ADMIN)
    token.chmod(0o644)
    with pytest.raises(AssertionError):
        Gateway("--models", str(bundle.parent), "--admin-token-file", str(token), timeout=10)


def test_foreign_origins_and_rebinding_hosts_cannot_change_state(serve):
    g = serve()
    # A cross-site form post (text/plain, no preflight) to drain a model.
    r = g.post("/admin/models/minilm/drain", data="{}", headers={"Origin": "http://evil.example",
                                                                "Content-Type": "text/plain"})
    assert r.status_code == 403 and "evil.example" in json_error(r)
    r = g.post("/v2/models/minilm/infer", json=text_body(["hi"]), headers={"Origin": "http://evil.example"})
    assert r.status_code == 403
    # A page on a name that rebinds to 127.0.0.1 sends its own Host (and a same-origin Origin).
    r = g.post("/admin/models/minilm/drain", headers={"Host": f"rebind.example:{g.port}",
                                                      "Origin": f"http://rebind.example:{g.port}"})
    assert r.status_code == 403 and "Host" in json_error(r)
    r = g.get("/admin/models", headers={"Host": f"rebind.example:{g.port}"})
    assert r.status_code == 403
    # The server's own origin and no origin at all are fine.
    assert g.post("/admin/models/minilm/drain", headers={"Origin": g.base}).status_code == 200
    assert g.post("/admin/models/minilm/drain").status_code == 200


def test_api_keys_with_tiers_and_rate_limits(serve, tmp_path):
    g = serve(security={
        "admin_token_file": secret(tmp_path / "admin", ADMIN),
        "api_keys": [{"name": "alice", "key_file": secret(tmp_path / "alice", ALICE), "tier": "premium"},
                     {"name": "batchy", "key_file": secret(tmp_path / "batchy", BATCHY), "tier": "batch",
                      "rate_per_second": 0.2, "burst": 2}],
        "access_log": str(tmp_path / "access.log")})
    r = infer(g, "minilm", [0])
    assert r.status_code == 401 and "API key" in json_error(r)
    assert g.get("/v2/models/minilm").status_code == 401, "metadata needs a key too"
    assert g.get("/v2/health/ready").status_code == 200
    body = text_body(["a sentence"])
    ok = g.post("/v2/models/minilm/infer", json=body, headers={"X-API-Key": ALICE, "X-Latency-Tier": "premium"})
    assert ok.status_code == 200, ok.text
    assert g.post("/v2/models/minilm/infer", json=body, headers={"Authorization": "Bearer " + ADMIN}).status_code == 200
    codes = [g.post("/v2/models/minilm/infer", json=body, headers={"X-API-Key": BATCHY}).status_code for _ in range(4)]
    assert codes[:2] == [200, 200] and 429 in codes[2:], codes
    limited = g.post("/v2/models/minilm/infer", json=body, headers={"X-API-Key": BATCHY})
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
    assert "batchy" in json_error(limited)
    time.sleep(5.5)  # one token back at 0.2/s
    r = g.post("/v2/models/minilm/infer", json=body, headers={"X-API-Key": BATCHY, "X-Latency-Tier": "premium"})
    assert r.status_code == 403 and "batch" in json_error(r)
    # An API key is not an admin token.
    assert g.get("/admin/models", headers={"X-API-Key": ALICE}).status_code == 403
    text = eventually_text(tmp_path / "access.log", " batchy ")
    assert " alice " in text and " batchy " in text and "127.0.0.1:" in text, text


def test_internal_details_only_to_the_admin(serve, tmp_path):
    g = serve(models=("broken",), per_model={"broken": {"worker_args": ["--no-such-flag"]}},
              security={"admin_token_file": secret(tmp_path / "admin", ADMIN)})
    r = infer(g, "broken", [0])
    assert r.status_code == 503
    err = json_error(r)
    for secret_detail in ("--no-such-flag", str(g.runtime_dir), "pid", ".log", "unix:"):
        assert secret_detail not in err, (secret_detail, err)
    r = g.post("/v2/models/broken/infer", json=text_body(["x"]), headers={"Authorization": "Bearer " + ADMIN})
    assert r.status_code == 503 and "--no-such-flag" in json_error(r)
    assert "--no-such-flag" in g.log_tail(200), "the details are in the server's log"


def test_a_non_loopback_listener_without_a_token_warns_loudly(tmp_path, bundle):
    g = Gateway("--models", str(bundle.parent), "--host", "0.0.0.0", log_path=tmp_path / "serve.log")
    try:
        time.sleep(0.2)
        log = g.log_tail(100)
        assert "SECURITY" in log and "WITHOUT an admin token" in log, log
    finally:
        assert g.stop() == 0


def test_admin_routes_on_their_own_unix_socket(serve, tmp_path):
    sock = tmp_path / "admin.sock"
    g = serve(args=("--admin-listen", f"unix:{sock}"))
    assert g.get("/admin/models").status_code == 404, "admin routes are gone from the public listener"
    assert g.post("/admin/models/minilm/drain").status_code == 404
    assert infer(g, "minilm", [0]).status_code == 200
    assert oct(sock.stat().st_mode & 0o777) == "0o600"
    s = socket.socket(socket.AF_UNIX)
    s.connect(str(sock))
    s.sendall(b"GET /admin/models HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    data = b""
    while chunk := s.recv(65536):
        data += chunk
    s.close()
    assert data.startswith(b"HTTP/1.1 200 ") and b'"minilm"' in data, data[:300]


def make_cert(d, name, cn="localhost", ca=None):
    key, crt = d / f"{name}.key", d / f"{name}.crt"
    if ca is None:
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={cn}",
                        "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", str(key), "-out", str(crt)],
                       check=True, capture_output=True)
    else:
        csr = d / f"{name}.csr"
        subprocess.run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={cn}", "-keyout", str(key),
                        "-out", str(csr)], check=True, capture_output=True)
        subprocess.run(["openssl", "x509", "-req", "-in", str(csr), "-CA", str(ca[1]), "-CAkey", str(ca[0]),
                        "-CAcreateserial", "-days", "2", "-out", str(crt)], check=True, capture_output=True)
    key.chmod(0o600)
    return key, crt


def test_tls_with_reload_on_sighup_and_client_certificates(serve, tmp_path):
    key, crt = make_cert(tmp_path, "one")
    ca = make_cert(tmp_path, "ca", cn="thaw test CA")
    client = make_cert(tmp_path, "client", cn="alice-client", ca=ca)
    g = serve(security={"tls_cert_file": str(crt), "tls_key_file": str(key), "tls_client_ca_file": str(ca[1]),
                        "tls_client_cert": "optional"})
    url = f"https://127.0.0.1:{g.port}"
    r = requests.get(url + "/v2/health/ready", verify=str(crt), timeout=10)
    assert r.status_code == 200
    r = requests.post(url + "/v2/models/minilm/infer", json=text_body(["over tls"]), verify=str(crt),
                      cert=(str(client[1]), str(client[0])), timeout=120)
    assert r.status_code == 200, r.text
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"http://127.0.0.1:{g.port}/v2/health/ready", timeout=5)
    # New certificate files, SIGHUP: new connections get the new certificate.
    key2, crt2 = make_cert(tmp_path, "two")
    os.replace(key2, key)
    os.replace(crt2, crt)
    g.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while True:
        pem = ssl.get_server_certificate(("127.0.0.1", g.port))
        if pem.strip() == crt.read_text().strip():
            break
        assert time.monotonic() < deadline, "the certificate was not reloaded"
        time.sleep(0.1)
    assert requests.get(url + "/v2/health/ready", verify=str(crt), timeout=10).status_code == 200


def test_client_certificates_can_be_required(serve, tmp_path):
    key, crt = make_cert(tmp_path, "srv")
    ca = make_cert(tmp_path, "ca", cn="thaw test CA")
    client = make_cert(tmp_path, "client", cn="bob", ca=ca)
    g = serve(security={"tls_cert_file": str(crt), "tls_key_file": str(key), "tls_client_ca_file": str(ca[1]),
                        "tls_client_cert": "require", "access_log": str(tmp_path / "access.log")})
    url = f"https://127.0.0.1:{g.port}/v2/health/ready"
    with pytest.raises(requests.exceptions.RequestException):
        requests.get(url, verify=str(crt), timeout=10)
    assert requests.get(url, verify=str(crt), cert=(str(client[1]), str(client[0])), timeout=10).status_code == 200
    assert "CN=bob" in eventually_text(tmp_path / "access.log", "CN=bob")


# ---------------------------------------------------------------- 8: tier headers, access and audit logs


def test_two_tier_headers_are_refused(serve):
    g = serve()
    raw = (b"POST /v2/models/minilm/infer HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Latency-Tier: batch\r\n"
           b"X-Latency-Tier: premium\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
    answer = exchange(g.port, raw)
    assert answer.startswith(b"HTTP/1.1 400 ") and b"X-Latency-Tier" in answer, answer[:300]


def test_access_and_audit_logs(serve, tmp_path):
    g = serve(security={"admin_token_file": secret(tmp_path / "admin", ADMIN),
                        "access_log": str(tmp_path / "access.log"), "audit_log": str(tmp_path / "audit.log")})
    assert g.post("/admin/models/minilm/drain").status_code == 401
    assert g.post("/admin/models/minilm/drain", headers={"Authorization": "Bearer " + ADMIN}).status_code == 200
    assert g.get("/admin/models", headers={"Authorization": "Bearer " + ADMIN}).status_code == 200
    assert infer(g, "minilm", [0]).status_code == 200
    eventually_text(tmp_path / "access.log", "/infer")
    audit = [json.loads(line) for line in (tmp_path / "audit.log").read_text().splitlines()]
    assert [(a["target"], a["status"], a["user"]) for a in audit] == [
        ("/admin/models/minilm/drain", 401, "-"), ("/admin/models/minilm/drain", 200, "admin")], audit
    assert all(a["remote"].startswith("127.0.0.1:") for a in audit)
    access = (tmp_path / "access.log").read_text().splitlines()
    assert len(access) == 4, access
    assert access[1].startswith("127.0.0.1:") and " admin " in access[1]
    assert '"POST /v2/models/minilm/infer HTTP/1.1" 200' in access[3]


def test_cache_directory_that_takes_no_writes_fails_before_the_status_line(tmp_path):
    root = tmp_path / "registry"
    make_bundle(root / "m" / "1.thaw", "m", "1", 8, tensors=4)
    want2 = make_bundle(root / "m" / "2.thaw", "m", "2", 8, tensors=4, changed=4, seed_base=77).read_bytes()
    up = Upstream(root)
    cache = Cache(up.base, tmp_path / "cache")
    chunks = tmp_path / "cache" / "chunks"
    try:
        assert requests.get(cache.base + "/models/m/1", timeout=60).status_code == 200
        assert requests.get(cache.base + "/healthz", timeout=10).status_code == 200
        # A web page cannot make the cache fetch or pin.
        r = requests.post(cache.base + "/prefetch", data='{"name":"m","version":"2"}',
                          headers={"Origin": "http://evil.example", "Content-Type": "text/plain"}, timeout=10)
        assert r.status_code == 403
        assert requests.post(cache.base + "/pin/m/1", headers={"Origin": "null"}, timeout=10).status_code == 403
        # The directory goes away under the running cache (a file where it was: no write can succeed,
        # whoever the process runs as).
        chunks.rename(tmp_path / "chunks.away")
        chunks.write_text("not a directory")
        r = requests.get(cache.base + "/models/m/2", timeout=60)
        assert r.status_code == 503 and "cannot store" in r.json()["error"], (r.status_code, r.content[:200])
        h = requests.get(cache.base + "/healthz", timeout=10)
        assert h.status_code == 503 and h.json()["status"] == "unhealthy"
        # Writable again: healthy, and the miss is served whole.
        chunks.unlink()
        (tmp_path / "chunks.away").rename(chunks)
        assert requests.get(cache.base + "/healthz", timeout=10).status_code == 200
        r = requests.get(cache.base + "/models/m/2", timeout=60)
        assert r.status_code == 200 and r.content == want2
    finally:
        cache.stop()
        up.stop()
    err = cache.proc.stderr.read().decode(errors="replace")
    assert "takes no writes" in err and "takes writes again" in err, err


def test_grpc_calls_meet_the_same_access_rules(serve, tmp_path):
    import numpy as np
    import tritonclient.grpc as tgrpc
    from tritonclient.utils import InferenceServerException

    g = serve(server={"grpc_port": 0}, security={
        "admin_token_file": secret(tmp_path / "admin", ADMIN),
        "api_keys": [{"name": "alice", "key_file": secret(tmp_path / "alice", ALICE), "tier": "batch"}]})
    c = tgrpc.InferenceServerClient(f"127.0.0.1:{g.events[-1]['grpc_port']}")
    t = tgrpc.InferInput("text", [1], "BYTES")
    t.set_data_from_numpy(np.array(["over grpc"], dtype=object))
    try:
        with pytest.raises(InferenceServerException) as e:
            c.infer("minilm", [t])
        assert e.value.status() == "StatusCode.UNAUTHENTICATED", e.value
        assert c.infer("minilm", [t], headers={"x-api-key": ALICE}).as_numpy("sentence_embedding").shape == (1, 384)
        with pytest.raises(InferenceServerException) as e:
            c.infer("minilm", [t], headers={"x-api-key": ALICE, "x-latency-tier": "premium"})
        assert e.value.status() == "StatusCode.PERMISSION_DENIED", e.value
        with pytest.raises(InferenceServerException) as e:
            c.unload_model("minilm")
        assert e.value.status() == "StatusCode.UNAUTHENTICATED", e.value
        with pytest.raises(InferenceServerException) as e:
            c.unload_model("minilm", headers={"x-api-key": ALICE})
        assert e.value.status() == "StatusCode.PERMISSION_DENIED", e.value
        c.unload_model("minilm", headers={"authorization": "Bearer " + ADMIN})
        c.load_model("minilm", headers={"authorization": "Bearer " + ADMIN})
    finally:
        c.close()
