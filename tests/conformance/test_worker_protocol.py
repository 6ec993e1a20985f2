"""Conformance of a worker to the worker protocol, version 1 (docs/worker-protocol.md). Each test
names the requirements (W1, ...) it checks. It runs `$THAW_BIN run` unless THAW_WORKER_CMD names
another worker (see the spec's section 9)."""
import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from supervisor import (ROOT, THAW_BIN, Worker, control, gone, infer_body, parent_of, request,  # noqa: E402
                        status, wait_until)

MODEL = "conformance"
LIVE, READY, WARM = "/v2/health/live", "/v2/health/ready", "/warm"
INFER = f"/v2/models/{MODEL}/infer"


@pytest.fixture(scope="session")
def bundle(tmp_path_factory):
    if os.environ.get("THAW_WORKER_BUNDLE"):
        return os.environ["THAW_WORKER_BUNDLE"]
    src = ROOT / "models" / "src" / "minilm"
    out = tmp_path_factory.mktemp("bundle") / "minilm.thaw"
    subprocess.run([THAW_BIN, "pack", str(src / "model.onnx"), "--extra", str(src / "tokenizer.json"), "-o", str(out)],
                   check=True, capture_output=True, timeout=300)
    return str(out)


@pytest.fixture
def sockets():
    """A directory with a short path: Unix socket paths must stay under 108 bytes."""
    with tempfile.TemporaryDirectory(prefix="thaw-cf-") as d:
        yield d


@pytest.fixture
def start(bundle, tmp_path):
    workers = []

    def start(*args, versions="1", bundle_path=None):
        w = Worker(bundle_path or bundle, args, tmp_path, versions)
        workers.append(w)
        return w

    yield start
    for w in workers:
        w.close()


def split_tcp(endpoint):
    host, _, port = endpoint.rpartition(":")
    return host.strip("[]"), int(port)


def serving(endpoint, path=LIVE):
    """The status of GET path, or None when nothing answers (refused, or reset by a closing listener)."""
    try:
        return status(endpoint, path)
    except (ConnectionError, FileNotFoundError, http.client.HTTPException):
        return None


def infer(endpoint, body):
    code, answer = request(endpoint, "POST", INFER, body, {"Content-Type": "application/json"})
    return code, answer


# ----- an instance ------------------------------------------------------------------------------

def test_ready_line_on_tcp_then_serving_then_sigterm(start):
    """W1 W2 W5 W6 W9 W10 W11 W12 W13 W22: the supervisor's command line on TCP port 0."""
    w = start("--host", "127.0.0.1", "--port", "0", "--ready-fd", "3", "--model-name", MODEL)
    ep = w.endpoint()
    host, port = split_tcp(ep)
    assert host == "127.0.0.1" and port != 0, ep
    assert w.ready_closed() == b"", "fd 3 carries one line, then end-of-file"
    ev = w.event("ready")
    assert ev["pid"] == w.pid and ev["protocol"] == 1 and ev["model"] == MODEL and ev["endpoint"] == ep, ev
    assert (status(ep, LIVE), status(ep, READY), status(ep, WARM)) == (200, 200, 200)
    assert infer(ep, infer_body(ep, MODEL))[0] == 200
    w.signal(signal.SIGTERM)
    assert w.wait() == 0
    assert w.event("stopped")["signal"] == signal.SIGTERM
    w.drain_events()


def test_unix_socket_503_until_ready_then_sigint(start, sockets):
    """W1 W2 W5 W11 W12 W13 W14 W15 W22 W24: flags in another order, a stale socket file replaced,
    the live-but-not-ready window, and the socket removed at exit."""
    path = os.path.join(sockets, "w.sock")
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(path)
    stale.close()
    w = start("--debug-start-delay-ms", "2500", "--ready-fd", "3", "--model-name", MODEL, "--unix", path)
    ep = f"unix:{path}"
    wait_until(lambda: serving(ep) == 200, 60, "GET /v2/health/live answers 200 once listening")
    assert w.ready_line_pending(), "the ready line came before the delay ended"
    assert (status(ep, READY), status(ep, WARM)) == (503, 503)
    assert infer(ep, b'{"inputs": []}')[0] == 503
    assert w.endpoint() == ep
    assert (status(ep, READY), status(ep, WARM)) == (200, 200)
    assert infer(ep, infer_body(ep, MODEL))[0] == 200
    w.signal(signal.SIGINT)
    assert w.wait() == 0
    w.event("stopped")
    assert not os.path.exists(path), "the socket file outlived the worker"


def read_interim_response(conn):
    """Reads one interim response head (up to the blank line) byte by byte, leaving what follows."""
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        byte = conn.recv(1)
        assert byte, f"the connection closed after {head!r}"
        head += byte
    return head


def test_a_request_in_flight_finishes_after_sigterm(start):
    """W12 W22: a request whose header the worker has read (it answered 100 Continue) when SIGTERM
    comes is run and answered; then exit 0."""
    w = start("--host", "127.0.0.1", "--port", "0", "--ready-fd", "3", "--model-name", MODEL)
    ep = w.endpoint()
    body = infer_body(ep, MODEL)
    conn = socket.create_connection(split_tcp(ep), timeout=30)
    conn.sendall(f"POST {INFER} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 f"Content-Length: {len(body)}\r\nExpect: 100-continue\r\n\r\n".encode())
    interim = read_interim_response(conn)
    assert interim.startswith(b"HTTP/1.1 100"), interim
    w.signal(signal.SIGTERM)
    wait_until(lambda: serving(ep, READY) != 200, 10, "readiness turns false after SIGTERM")
    conn.sendall(body)
    resp = http.client.HTTPResponse(conn)
    resp.begin()
    answer = resp.read()
    conn.close()
    assert resp.status == 200, answer
    assert b"outputs" in answer
    assert w.wait() == 0
    w.event("stopped")


def test_a_stop_during_the_start_exits_0_without_a_ready_line(start, sockets):
    """W8 W10 W24"""
    path = os.path.join(sockets, "w.sock")
    w = start("--unix", path, "--ready-fd", "3", "--model-name", MODEL, "--debug-start-delay-ms", "60000")
    wait_until(lambda: serving(f"unix:{path}") == 200, 60, "listening")
    w.signal(signal.SIGTERM)
    assert w.wait() == 0
    assert w.ready_line() is None
    w.event("stopped")


@pytest.mark.parametrize("mode", ["instance", "zygote"])
@pytest.mark.parametrize("versions", ["999", "2,3", "one"])
def test_a_supervisor_of_another_version_is_refused(start, sockets, mode, versions):
    """W4 W7 W10: an error line naming both sides' versions, a non-zero exit, nothing listening."""
    path = os.path.join(sockets, "w.sock")
    listen = ["--unix", path] if mode == "instance" else ["--zygote", path]
    w = start(*listen, "--ready-fd", "3", "--model-name", MODEL, versions=versions)
    line = w.ready_line()
    assert line is not None and line.startswith("error "), line
    assert versions in line and re.search(r"\b1\b", line), f"the refusal names both versions: {line}"
    assert w.wait() != 0
    assert not os.path.exists(path)
    ev = w.event("error")
    assert ev["stage"] and ev["error"], ev


@pytest.mark.parametrize("versions", ["1,999", None])
def test_a_shared_version_or_none_announced_is_spoken(start, versions):
    """W4: the worker speaks version 1 from a list that holds it, and when no list is given."""
    w = start("--host", "127.0.0.1", "--port", "0", "--ready-fd", "3", "--model-name", MODEL, versions=versions)
    assert w.ready_line().startswith("ready v1 ")


def test_a_failed_start_reports_an_error_line_and_exits_non_zero(start, sockets, tmp_path):
    """W7 W10"""
    w = start("--unix", os.path.join(sockets, "w.sock"), "--ready-fd", "3", "--model-name", MODEL,
              bundle_path=str(tmp_path / "no-such-bundle"))
    line = w.ready_line()
    assert line is not None and line.startswith("error ") and len(line) > len("error "), line
    assert w.wait() != 0
    ev = w.event("error")
    assert ev["stage"] and ev["error"], ev


def test_an_unknown_flag_is_refused(start, sockets):
    """W3"""
    w = start("--unix", os.path.join(sockets, "w.sock"), "--ready-fd", "3", "--no-such-conformance-flag", "1")
    line = w.ready_line()
    assert line is None or line.startswith("error "), line
    assert w.wait() != 0


HELPER = """
import sys, time
sys.path.insert(0, {dir!r})
from supervisor import Worker
w = Worker({bundle!r}, {args!r}, {log!r})
print(w.pid, flush=True)
w.endpoint()
print("ready", flush=True)
time.sleep(300)
"""


def test_a_worker_dies_with_its_supervisor(bundle, tmp_path):
    """W23: started with the parent-death signal, the worker ends when its supervisor is killed."""
    args = ["--host", "127.0.0.1", "--port", "0", "--ready-fd", "3", "--model-name", MODEL]
    code = HELPER.format(dir=os.path.dirname(os.path.abspath(__file__)), bundle=bundle, args=args, log=str(tmp_path))
    helper = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    pid = int(helper.stdout.readline())
    try:
        assert helper.stdout.readline().strip() == "ready"
        helper.kill()
        helper.wait()
        wait_until(lambda: gone(pid), 15, f"worker {pid} ends after its supervisor died")
    finally:
        if not gone(pid):
            os.kill(pid, signal.SIGKILL)
        helper.stdout.close()


# ----- a zygote ---------------------------------------------------------------------------------

@pytest.fixture
def zygote(start, sockets):
    ctl = os.path.join(sockets, "z.sock")
    z = start("--zygote", ctl, "--ready-fd", "3", "--model-name", MODEL)
    assert z.endpoint() == f"unix:{ctl}"
    z.control = ctl
    return z


def fork(z, endpoint=None):
    """(pid, endpoint) of a child forked on request."""
    reply = control(z.control, ("fork" + (f" {endpoint}" if endpoint else "") + "\n").encode())
    assert reply is not None and reply.startswith("ready "), reply
    _, pid, ep = reply.split(" ", 2)
    return int(pid), ep


def test_a_zygote_reports_its_control_socket_and_forks_ready_children(zygote, sockets):
    """W6 W10 W16 W17 W20"""
    z = zygote
    assert z.ready_closed() == b"", "fd 3 carries one line, then end-of-file, before any fork"
    ev = z.event("zygote_ready")
    assert ev["pid"] == z.pid and ev["protocol"] == 1, ev

    pid, ep = fork(z)
    host, port = split_tcp(ep)
    assert host == "127.0.0.1" and port != 0, ep
    assert status(ep, READY) == 200, "a child is ready before its reply"
    assert parent_of(pid) == z.pid
    z.event("forked", where=lambda e: e["pid"] == pid)
    z.event("ready", where=lambda e: e.get("forked") is True and e["pid"] == pid)

    path = os.path.join(sockets, "child.sock")
    pid2, ep2 = fork(z, f"unix:{path}")
    assert ep2 == f"unix:{path}" and pid2 != pid
    assert (status(ep2, READY), status(ep2, WARM)) == (200, 200)
    assert infer(ep2, infer_body(ep2, MODEL))[0] == 200
    assert infer(ep, infer_body(ep, MODEL))[0] == 200, "the first child still serves"


def test_bad_commands_get_error_replies_and_the_zygote_carries_on(zygote, sockets):
    """W18"""
    z = zygote
    for command in (b"explode\n", b"fork no-port-here\n", b"x" * 5000 + b"\n",
                    f"fork unix:{sockets}/no/such/dir/x.sock\n".encode()):
        reply = control(z.control, command)
        assert reply is not None and reply.startswith("error ") and len(reply) > len("error "), (command[:40], reply)
    silent = control(z.control, b"", timeout=10)
    assert silent is not None and silent.startswith("error "), f"no command within 2 s: {silent!r}"
    pid, ep = fork(z)
    assert status(ep, READY) == 200


def test_a_child_whose_requester_hung_up_exits(zygote):
    """W19"""
    z = zygote
    before = {e["pid"] for e in z.events if e["event"] == "forked"}
    control(z.control, b"fork\n", shut_read=True)
    pid = z.event("forked", where=lambda e: e["pid"] not in before)["pid"]
    wait_until(lambda: gone(pid), 15, f"abandoned child {pid} exits")


def test_a_child_stops_on_sigterm(zygote):
    """W20 W22"""
    pid, ep = fork(zygote)
    os.kill(pid, signal.SIGTERM)
    wait_until(lambda: gone(pid), 15, f"child {pid} exits after SIGTERM")


def test_sigterm_to_the_template_stops_its_children(zygote):
    """W21"""
    z = zygote
    pids = [fork(z)[0], fork(z)[0]]
    z.signal(signal.SIGTERM)
    assert z.wait(30) == 0
    for pid in pids:
        assert gone(pid), f"child {pid} outlived its template"
    assert not os.path.exists(z.control), "the control socket outlived the template"
    z.event("stopped")


def test_children_die_with_their_template(zygote):
    """W20"""
    z = zygote
    pid, _ = fork(z)
    z.signal(signal.SIGKILL)
    z.wait()
    try:
        wait_until(lambda: gone(pid), 15, f"child {pid} ends after its template died")
    finally:
        if not gone(pid):
            os.kill(pid, signal.SIGKILL)
