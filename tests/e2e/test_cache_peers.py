"""End-to-end: a node's `thaw cache` warms from its peers' caches before the registry (--peer), with
two (or three) real cache processes in front of a real HTTP registry."""
import subprocess

import pytest

from cache_harness import Cache, Upstream, get, make_bundle
from worker_harness import THAW_BIN, free_port


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    root = tmp_path_factory.mktemp("registry")
    make_bundle(root / "m" / "1.thaw", "m", "1", 16, tensors=8)
    make_bundle(root / "n" / "1.thaw", "n", "1", 8, tensors=4, seed_base=5000)
    make_bundle(root / "z" / "1.thaw", "z", "1", 8, tensors=4, zstd=True, seed_base=9000)
    return root


@pytest.fixture
def upstream(registry):
    u = Upstream(registry)
    yield u
    u.stop()


@pytest.fixture
def caches(tmp_path):
    started = []

    def start(upstream_url, *extra):
        c = Cache(upstream_url, tmp_path / f"cache{len(started)}", "--retries", "2", "--backoff-ms", "20",
                  "--timeout-ms", "5000", *extra)
        started.append(c)
        return c
    yield start
    for c in started:
        c.stop()


def test_a_node_warms_from_its_peer_instead_of_the_registry(registry, upstream, caches):
    a = caches(upstream.base)
    want = (registry / "m" / "1.thaw").read_bytes()
    assert get(a.base + "/models/m/1")[2] == want
    registry_bytes = upstream.stats()["bytes"]
    # The second node lists a dead peer first: it is passed over.
    b = caches(upstream.base, "--peer", f"http://127.0.0.1:{free_port()}", "--peer", a.base)
    status, headers, body = get(b.base + "/models/m/1")
    assert status == 200 and body == want
    assert headers["X-Thaw-Cache"] == "miss"
    assert upstream.stats()["bytes"] == registry_bytes, "the registry was asked again"
    s = b.stats()
    assert s["upstream"]["requests"] == 0
    assert s["peers"][1]["bytes"] >= len(want) - (1 << 20)
    assert s["peers"][0]["bytes"] == 0
    # And it is now whole on b: a hit that asks nobody.
    peer_requests = s["peers"][1]["requests"]
    status, headers, body = get(b.base + "/models/m/1")
    assert status == 200 and headers["X-Thaw-Cache"] == "hit" and body == want
    assert b.stats()["peers"][1]["requests"] == peer_requests
    # Compressed chunks travel as stored and are verified the same way.
    assert get(a.base + "/models/z/1")[0] == 200
    assert get(b.base + "/models/z/1")[2] == (registry / "z" / "1.thaw").read_bytes()
    assert b.stats()["upstream"]["requests"] == 0


def test_only_if_cached_never_sends_a_peer_to_its_registry(registry, upstream, caches):
    a = caches(upstream.base)
    before = upstream.stats()["requests"]
    status, _, body = get(a.base + "/models/n/1", headers={"Cache-Control": "only-if-cached"})
    assert status == 504 and b"only-if-cached" in body
    assert upstream.stats()["requests"] == before
    assert a.stats()["upstream"]["requests"] == 0
    # A node whose peer lacks the version goes to the registry itself; the peer stays cold.
    b = caches(upstream.base, "--peer", a.base)
    assert get(b.base + "/models/n/1")[2] == (registry / "n" / "1.thaw").read_bytes()
    assert b.stats()["upstream"]["requests"] > 0
    assert a.stats()["upstream"]["requests"] == 0 and a.stats()["versions"] == []
    # Once whole on the peer, only-if-cached is served.
    assert get(a.base + "/models/n/1")[0] == 200
    status, headers, _ = get(a.base + "/models/n/1", headers={"Cache-Control": "only-if-cached"})
    assert status == 200 and headers["X-Thaw-Cache"] == "hit"


def test_peers_that_list_each_other_do_not_loop(registry, upstream, caches, tmp_path):
    # a lists b and b lists a (started on a fixed port so each can name the other).
    port_b = free_port()
    a = caches(upstream.base, "--peer", f"http://127.0.0.1:{port_b}")
    b = Cache(upstream.base, tmp_path / "cache-b", "--peer", a.base, port=port_b)
    try:
        want = (registry / "m" / "1.thaw").read_bytes()
        assert get(a.base + "/models/m/1", timeout=60)[2] == want  # b has nothing: a goes to the registry
        assert a.stats()["upstream"]["requests"] > 0
        assert b.stats()["upstream"]["requests"] == 0 and b.stats()["versions"] == []
        assert get(b.base + "/models/m/1", timeout=60)[2] == want  # now from a
        assert b.stats()["upstream"]["requests"] == 0
    finally:
        b.stop()


def test_a_bad_peer_url_fails_at_start(upstream, tmp_path):
    r = subprocess.run([THAW_BIN, "cache", "--upstream", upstream.base, "--dir", str(tmp_path / "c"), "--port", "0",
                        "--peer", "ftp://nowhere"], capture_output=True, text=True, timeout=30)
    assert r.returncode != 0
    assert "--peer" in r.stderr and "http://" in r.stderr, r.stderr
