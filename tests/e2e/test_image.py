"""End-to-end: the container image deploy/image/build.sh builds FROM scratch (no base image
downloaded) runs a request under podman. Skips, saying why, where podman is not installed or cannot
start a container on this machine.

Where podman runs here (a VM without CAP_SYS_RESOURCE, cgroups v1 with a v2 hierarchy beside it):
crun refuses the hybrid cgroup layout, so the test falls back to runc; podman's default rlimits
(nofile 1048576) are above what may be set here, so it passes the limits the runtime already has."""
import json
import os
import pathlib
import resource
import shutil
import subprocess
import time
import uuid

import pytest
import requests

from serve_client import SENTENCES, assert_reference, text_body
from worker_harness import THAW_BIN, free_port, pack_minilm

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD = ROOT / "deploy" / "image" / "build.sh"


def run(args, timeout=120):
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout)


def runtime_options(image):
    """The first podman option set that starts the image here, or (None, why not)."""
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    limits = ["--ulimit", f"nofile={nofile}:{nofile}", "--ulimit", "nproc=32768:32768"]
    candidates = [[]]
    if shutil.which("crun"):
        candidates.append(["--runtime", "crun", *limits])
    if shutil.which("runc"):
        candidates.append(["--runtime", "runc", *limits])
    errors = []
    for opts in candidates:
        r = run(["podman", "run", "--rm", *opts, image, "--version"], timeout=60)
        if r.returncode == 0 and r.stdout.startswith("thaw "):
            return opts, None
        errors.append(f"{' '.join(opts) or 'defaults'}: {r.stderr.strip().splitlines()[-1] if r.stderr.strip() else r.returncode}")
    return None, "; ".join(errors)


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    if not shutil.which("podman"):
        pytest.skip("podman is not installed (Debian: apt-get install podman runc); the image test needs it")
    tag = f"localhost/thaw-test:{uuid.uuid4().hex[:8]}"
    env = dict(os.environ, THAW_BUILD_DIR=str(pathlib.Path(THAW_BIN).resolve().parent), THAW_IMAGE=tag)
    r = subprocess.run([str(BUILD)], capture_output=True, text=True, timeout=300, env=env)
    if r.returncode != 0 and ("storage" in r.stderr or "overlay" in r.stderr or "mount" in r.stderr):
        pytest.skip(f"podman cannot build images here: {r.stderr.strip().splitlines()[-1]}")
    assert r.returncode == 0, r.stderr
    yield tag
    run(["podman", "rmi", "-f", tag])


def test_the_image_is_from_scratch_and_small(image):
    r = run(["podman", "image", "inspect", image])
    assert r.returncode == 0, r.stderr
    (info,) = json.loads(r.stdout)
    assert len(info["RootFS"]["Layers"]) == 1, "one layer: the assembled root filesystem, no base image"
    assert info["Config"]["User"] == "65532:65532"
    assert info["Config"]["Entrypoint"] == ["/usr/local/bin/thaw"]
    assert info["Size"] < 400 * 2**20, info["Size"]


def test_the_image_serves_a_request_under_podman(image, tmp_path):
    opts, why = runtime_options(image)
    if opts is None:
        pytest.skip(f"podman cannot start a container here: {why}")
    bundle = pack_minilm(tmp_path)
    bundle.chmod(0o644)
    port = free_port()
    name = f"thaw-test-{uuid.uuid4().hex[:8]}"
    r = run(["podman", "run", "-d", "--name", name, *opts, "-p", f"127.0.0.1:{port}:8080",
             "-v", f"{bundle}:/models/minilm.thaw:ro", image])
    assert r.returncode == 0, r.stderr
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(base + "/v2/health/ready", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, run(["podman", "logs", name]).stderr
            time.sleep(0.1)
        resp = requests.post(base + "/v2/models/minilm/infer", json=text_body([SENTENCES[0], SENTENCES[1]]),
                             timeout=60)
        assert resp.status_code == 200, resp.text
        assert_reference(resp.json(), [0, 1])
        # SIGTERM (podman stop) drains and exits 0.
        assert run(["podman", "stop", "-t", "30", name]).returncode == 0
        code = run(["podman", "inspect", "-f", "{{.State.ExitCode}}", name]).stdout.strip()
        assert code == "0", run(["podman", "logs", name]).stderr
    finally:
        run(["podman", "rm", "-f", name])
