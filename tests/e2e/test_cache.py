"""End-to-end tests of `thaw cache` against a real HTTP upstream with injected faults."""
import concurrent.futures
import hashlib
import json
import os
import pathlib
import shutil
import socket
import time
import urllib.request

import pytest

from cache_harness import Cache, Upstream, get, make_bundle, post


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    root = tmp_path_factory.mktemp("registry")
    v1 = make_bundle(root / "m" / "1.thaw", "m", "1", 24, tensors=12)
    v2 = make_bundle(root / "m" / "2.thaw", "m", "2", 24, tensors=12, changed=1, seed_base=1000)
    make_bundle(root / "z" / "1.thaw", "z", "1", 8, tensors=4, zstd=True)
    make_bundle(root / "n" / "1.thaw", "n", "1", 12, tensors=4, changed=4, seed_base=5000)
    return root


@pytest.fixture
def upstream(registry):
    u = Upstream(registry)
    yield u
    u.stop()


@pytest.fixture
def cache(upstream, tmp_path):
    c = Cache(upstream.base, tmp_path / "cache", "--retries", "3", "--backoff-ms", "20", "--timeout-ms", "5000")
    yield c
    c.stop()


def versions_settle(cache, want, timeout=10):
    """The cached (name, version) set once it equals `want` (leases end just after a response)."""
    deadline = time.monotonic() + timeout
    while True:
        got = {(v["name"], v["version"]) for v in cache.stats()["versions"]}
        if got == want or time.monotonic() > deadline:
            return got
        time.sleep(0.05)


def file_bytes(registry, name, version):
    return (registry / name / f"{version}.thaw").read_bytes()


def test_miss_then_hit_serves_identical_bytes(registry, upstream, cache):
    want = file_bytes(registry, "m", "1")
    status, headers, body = get(cache.base + "/models/m/1")
    assert status == 200 and body == want
    assert headers["X-Thaw-Cache"] == "miss"
    fetched = upstream.stats()["bytes"]
    status, headers, body = get(cache.base + "/models/m/1")
    assert status == 200 and body == want
    assert headers["X-Thaw-Cache"] == "hit"
    assert upstream.stats()["bytes"] == fetched  # the hit never touched the upstream
    s = cache.stats()
    assert s["hits"] == 1 and s["misses"] == 1
    assert s["store"]["bytes"] >= len(want) - (1 << 20)


def test_compressed_bundle_round_trips(registry, upstream, cache):
    want = file_bytes(registry, "z", "1")
    assert get(cache.base + "/models/z/1")[2] == want
    assert get(cache.base + "/models/z/1")[2] == want


def test_range_requests_on_miss_and_hit(registry, upstream, cache):
    want = file_bytes(registry, "m", "1")
    n = len(want)
    for rng, (a, b) in [("bytes=0-99", (0, 100)), ("bytes=5000000-9000000", (5000000, 9000001)),
                        ("bytes=-4096", (n - 4096, n)), (f"bytes={n - 10}-", (n - 10, n))]:
        status, headers, body = get(cache.base + "/models/m/1", {"Range": rng})
        assert status == 206, rng
        assert body == want[a:b], rng
        assert headers["Content-Range"] == f"bytes {a}-{b - 1}/{n}"
    status, headers, _ = get(cache.base + "/models/m/1", {"Range": f"bytes={n}-"})
    assert status == 416


def test_shared_chunks_are_fetched_once(registry, upstream, cache):
    v1, v2 = file_bytes(registry, "m", "1"), file_bytes(registry, "m", "2")
    assert get(cache.base + "/models/m/1")[2] == v1
    before = upstream.stats()["bytes"]
    assert get(cache.base + "/models/m/2")[2] == v2
    fetched = upstream.stats()["bytes"] - before
    # One of twelve tensors differs: the second version costs its new chunks plus the manifest.
    assert fetched < len(v2) * 0.2, fetched
    assert fetched > len(v2) / 12 * 0.8, fetched


def test_concurrent_misses_make_one_upstream_fetch(registry, tmp_path):
    up = Upstream(registry, mbps=40)
    c = Cache(up.base, tmp_path / "cache")
    try:
        want = file_bytes(registry, "m", "1")
        with concurrent.futures.ThreadPoolExecutor(16) as ex:
            results = list(ex.map(lambda _: get(c.base + "/models/m/1"), range(16)))
        assert all(r[0] == 200 and r[2] == want for r in results)
        st = up.stats()
        # Every byte crossed from the upstream once: the head probe plus each chunk.
        recipe = json.loads((tmp_path / "cache" / "versions" / "m" / "1.json").read_text())
        assert st["requests"] == 1 + len(recipe["chunks"])
        assert st["bytes"] <= len(want) + (1 << 20)
        assert c.stats()["upstream"]["requests"] == st["requests"]
    finally:
        c.stop()
        up.stop()


@pytest.mark.parametrize("kind", ["status", "drop", "truncate", "corrupt"])
@pytest.mark.parametrize("after", [0, 3], ids=["head", "chunk"])
def test_transient_upstream_faults_are_retried(registry, upstream, cache, kind, after):
    # after=0 hits the header+manifest read, after=3 hits chunk reads.
    upstream.fault(kind, count=2, path_contains="/m/1.thaw", after=after)
    status, _, body = get(cache.base + "/models/m/1")
    assert status == 200 and body == file_bytes(registry, "m", "1")
    s = cache.stats()
    assert s["upstream"]["retries"] >= 1
    if kind == "corrupt" and after:
        assert s["corrupt_chunks"] >= 1


def test_upstream_that_keeps_failing_gives_502_and_timeouts_give_504(registry, tmp_path):
    up = Upstream(registry)
    c = Cache(up.base, tmp_path / "cache", "--retries", "1", "--backoff-ms", "10", "--timeout-ms", "500")
    try:
        up.fault("status", count=1000, status=503)
        status, _, body = get(c.base + "/models/m/1")
        assert status == 502 and b"error" in body
        up.control("/_reset")
        up.fault("delay", count=1000, delay_ms=1500)
        status, _, body = get(c.base + "/models/m/1")
        assert status == 504 and b"error" in body
        up.control("/_reset")
        assert get(c.base + "/models/nope/1")[0] == 404
    finally:
        c.stop()
        up.stop()


def test_serves_cached_versions_while_the_upstream_is_down(registry, tmp_path):
    up = Upstream(registry)
    c = Cache(up.base, tmp_path / "cache", "--retries", "1", "--backoff-ms", "10", "--timeout-ms", "1000")
    try:
        want = file_bytes(registry, "m", "1")
        assert get(c.base + "/models/m/1")[2] == want
        up.kill9()
        status, headers, body = get(c.base + "/models/m/1")
        assert status == 200 and body == want and headers["X-Thaw-Cache"] == "hit"
        assert get(c.base + "/models/m/2")[0] == 502
    finally:
        c.stop()


def test_kill9_during_fill_leaves_no_corrupt_entry(registry, tmp_path):
    up = Upstream(registry, mbps=20)
    cache_dir = tmp_path / "cache"
    c = Cache(up.base, cache_dir)
    want = file_bytes(registry, "m", "1")
    try:
        with concurrent.futures.ThreadPoolExecutor(1) as ex:
            fut = ex.submit(get, c.base + "/models/m/1", None, 60)
            # Kill while chunks are being written (some stored, some in flight).
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and c.stats()["store"]["chunks"] < 2:
                time.sleep(0.05)
            c.kill9()
            try:
                fut.result()
            except Exception:
                pass
        up.control("/_config", {"mbps": 0})
        # Corrupt one stored chunk on disk as well: the restart must drop it too.
        chunks = [p for p in (cache_dir / "chunks").rglob("*") if p.is_file() and not p.name.endswith(".tmp")]
        assert chunks
        data = bytearray(chunks[0].read_bytes())
        data[0] ^= 0xFF
        chunks[0].write_bytes(bytes(data))
        c = Cache(up.base, cache_dir)
        assert c.ready["corrupt_removed"] >= 1
        assert not list((cache_dir / "chunks").rglob("*.tmp"))
        status, _, body = get(c.base + "/models/m/1")
        assert status == 200 and body == want
    finally:
        c.stop()
        up.stop()


def test_keep_last_n_versions_and_pinning(registry, upstream, tmp_path):
    c = Cache(upstream.base, tmp_path / "cache", "--keep-versions", "1")
    try:
        assert get(c.base + "/models/m/1")[0] == 200
        assert post(c.base + "/pin/m/1", {})[0] == 200
        assert get(c.base + "/models/m/2")[0] == 200
        # The pinned version stays and does not count against --keep-versions.
        assert versions_settle(c, {("m", "1"), ("m", "2")}) == {("m", "1"), ("m", "2")}
        assert post(c.base + "/unpin/m/1", {})[0] == 200
        assert get(c.base + "/models/n/1")[0] == 200
        assert versions_settle(c, {("m", "2"), ("n", "1")}) == {("m", "2"), ("n", "1")}
        assert post(c.base + "/unpin/m/1", {})[0] == 404  # gone already
        assert c.stats()["evictions"]["versions"] == 1
        assert not (tmp_path / "cache" / "versions" / "m" / "1.json").exists()
    finally:
        c.stop()


def test_byte_budget_evicts_least_recently_used(registry, upstream, tmp_path):
    c = Cache(upstream.base, tmp_path / "cache", "--max-bytes", "30M")
    try:
        assert get(c.base + "/models/m/1")[0] == 200  # 24 MB
        assert get(c.base + "/models/n/1")[0] == 200  # 12 MB more: over budget, m/1 is least recent
        assert versions_settle(c, {("n", "1")}) == {("n", "1")}
        s = c.stats()
        assert s["store"]["bytes"] <= 30 << 20
        assert s["evictions"]["bytes"] > 20 << 20
    finally:
        c.stop()


def test_prefetch_then_hit_and_chunk_by_id(registry, upstream, cache, tmp_path):
    status, body = post(cache.base + "/prefetch", {"name": "m", "version": "1"})
    assert status == 200, body
    n = upstream.stats()["requests"]
    status, headers, _ = get(cache.base + "/models/m/1")
    assert headers["X-Thaw-Cache"] == "hit"
    assert upstream.stats()["requests"] == n
    recipe = json.loads(next((tmp_path / "cache" / "versions").rglob("1.json")).read_text())
    c0 = recipe["chunks"][0]
    status, _, body = get(cache.base + "/chunks/" + c0["id"])
    assert status == 200
    assert body == file_bytes(registry, "m", "1")[c0["file_offset"]:c0["file_offset"] + c0["stored_length"]]
    assert get(cache.base + "/chunks/" + "0" * 32)[0] == 404
    assert get(cache.base + "/chunks/xyz")[0] == 400
    assert post(cache.base + "/prefetch", {"name": "m"})[0] == 400
    assert post(cache.base + "/prefetch", {"name": "nope", "version": "1"})[0] == 404


def test_bad_requests_get_clear_errors(cache):
    assert get(cache.base + "/models/..%2F..%2Fetc/passwd")[0] in (400, 404)
    assert get(cache.base + "/models/a%20b/1")[0] == 400
    assert get(cache.base + "/nothing")[0] == 404
    status, headers, body = get(cache.base + "/metrics")
    assert status == 200 and b"thaw_cache_hits_total" in body
    assert get(cache.base + "/healthz")[0] == 200


def test_s3_style_upstream_paths(registry, tmp_path):
    root = tmp_path / "s3"
    (root / "models" / "bucket" / "m").mkdir(parents=True)
    shutil.copy(registry / "m" / "1.thaw", root / "models" / "bucket" / "m" / "1.thaw")
    up = Upstream(root)
    c = Cache(up.base + "/models", tmp_path / "cache", "--upstream-kind", "s3", "--bucket", "bucket")
    try:
        status, _, body = get(c.base + "/models/m/1")
        assert status == 200 and body == file_bytes(registry, "m", "1")
        assert all(p.startswith("/models/bucket/m/1.thaw") for p in up.stats()["by_path"])
    finally:
        c.stop()
        up.stop()


def test_bad_flags_fail_at_start(tmp_path):
    import subprocess
    from cache_harness import THAW_BIN
    for args in (["--upstream", "ftp://x", "--dir", str(tmp_path)],
                 ["--upstream", "http://127.0.0.1:1", "--dir", str(tmp_path), "--max-bytes", "12Q"],
                 ["--upstream", "http://127.0.0.1:1", "--dir", str(tmp_path), "--upstream-kind", "s3"]):
        r = subprocess.run([THAW_BIN, "cache", "--port", "0", *args], capture_output=True, timeout=30)
        assert r.returncode == 2, (args, r.stderr)
        assert r.stderr


def head(url, headers=None):
    req = urllib.request.Request(url, headers=headers or {}, method="HEAD")
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def held(cache, cache_dir):
    """What the cache process holds for clients: open files under its directory, and client
    connections not yet closed on its side (its upstream connection pool is not counted)."""
    fd_dir = f"/proc/{cache.proc.pid}/fd"
    files = 0
    for fd in os.listdir(fd_dir):
        try:
            files += os.readlink(f"{fd_dir}/{fd}").startswith(str(cache_dir))
        except OSError:
            pass
    conns = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in f.readlines()[1:]:
                local, state = line.split()[1], line.split()[3]
                if int(local.rsplit(":", 1)[1], 16) == cache.port and state not in ("0A", "06"):  # LISTEN, TIME_WAIT
                    conns += 1
    return files, conns


def raw_get(port, path, rcvbuf=None):
    """A GET on a bare socket (optionally with a small receive window) that the test may stop reading."""
    s = socket.socket()
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.connect(("127.0.0.1", port))
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    return s


def settle(fn, timeout=30):
    deadline = time.monotonic() + timeout
    while not fn():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def in_use(cache):
    return sum(v["in_use"] for v in cache.stats()["versions"])


def test_head_and_ranges_on_a_miss_and_a_hit(registry, upstream, cache):
    want = file_bytes(registry, "m", "1")
    n = len(want)
    status, headers, body = head(cache.base + "/models/m/1")
    assert status == 200 and body == b""
    assert headers["X-Thaw-Cache"] == "miss" and headers["Content-Length"] == str(n)
    assert headers["ETag"] == '"m-1"' and headers["Accept-Ranges"] == "bytes"
    status, headers, body = head(cache.base + "/models/m/1", {"Range": "bytes=10-19"})
    assert status == 206 and headers["Content-Length"] == "10" and body == b""
    assert headers["Content-Range"] == f"bytes 10-19/{n}"
    assert get(cache.base + "/models/m/1")[2] == want
    status, headers, body = head(cache.base + "/models/m/1")
    assert status == 200 and headers["X-Thaw-Cache"] == "hit" and body == b""
    status, headers, body = get(cache.base + "/models/m/1", {"Range": f"bytes={n - 5000}-"})
    assert status == 206 and body == want[n - 5000:]
    status, headers, _ = head(cache.base + "/models/m/1", {"Range": f"bytes={n}-"})
    assert status == 416 and headers["Content-Range"] == f"bytes */{n}"


def test_client_that_stops_reading_is_cut_off_and_others_are_served(registry, upstream, tmp_path):
    c = Cache(upstream.base, tmp_path / "cache", "--timeout-ms", "1500", "--wait-threads", "1")
    try:
        want = file_bytes(registry, "m", "1")
        assert post(c.base + "/prefetch", {"name": "m", "version": "1"})[0] == 200
        stalled = raw_get(c.port, "/models/m/1", rcvbuf=16 << 10)  # 24 MB it never reads
        assert settle(lambda: c.stats()["serving"]["streams"] == 1)
        # Its connection, still open (the prefetch's may take a moment to close under load).
        assert settle(lambda: held(c, tmp_path / "cache")[1] == 1)
        # Others are served meanwhile: a hit, and a miss needing the only waiting thread.
        status, headers, body = get(c.base + "/models/m/1")
        assert status == 200 and body == want
        status, headers, body = get(c.base + "/models/n/1")
        assert status == 200 and headers["X-Thaw-Cache"] == "miss"
        assert body == file_bytes(registry, "n", "1")
        # The write timeout ends the stalled download and frees what it held.
        assert settle(lambda: c.stats()["serving"]["streams"] == 0)
        assert settle(lambda: in_use(c) == 0)
        stalled.settimeout(10)
        got = 0
        try:
            while chunk := stalled.recv(1 << 20):
                got += len(chunk)
        except (ConnectionResetError, TimeoutError):
            pass
        stalled.close()
        assert got < len(want)
        assert settle(lambda: held(c, tmp_path / "cache") == (0, 0))
    finally:
        c.stop()


def test_client_that_hangs_up_mid_miss_leaves_a_complete_version_and_nothing_behind(registry, tmp_path):
    up = Upstream(registry, mbps=20)
    c = Cache(up.base, tmp_path / "cache")
    try:
        want = file_bytes(registry, "m", "1")
        s = raw_get(c.port, "/models/m/1")
        got = 0
        while got < (2 << 20):
            got += len(s.recv(1 << 16))
        s.close()  # mid-download: the upstream is still sending the rest
        assert settle(lambda: c.stats()["versions"][0]["complete"], timeout=60)
        assert settle(lambda: c.stats()["serving"]["streams"] == 0 and in_use(c) == 0)
        s = c.stats()
        assert s["bytes_served"] < len(want) and s["serving"]["wait_busy"] == 0
        assert not list((tmp_path / "cache" / "chunks").rglob("*.tmp"))
        assert settle(lambda: held(c, tmp_path / "cache") == (0, 0))
        before = up.stats()["requests"]
        status, headers, body = get(c.base + "/models/m/1")
        assert status == 200 and headers["X-Thaw-Cache"] == "hit" and body == want
        assert up.stats()["requests"] == before
    finally:
        c.stop()
        up.stop()
