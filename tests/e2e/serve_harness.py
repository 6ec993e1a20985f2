"""Starts and stops a real `thaw serve` for the end-to-end tests and the benchmark."""
import json
import pathlib
import subprocess
import time

import requests

from worker_harness import THAW_BIN, EventLines


class Gateway(EventLines):
    """A `thaw serve` process. Events are the JSON lines on stdout; logs (stderr) go to a file."""

    what = "thaw serve"

    def __init__(self, *args, cwd=None, timeout=60, log_path=None):
        self.log_path = pathlib.Path(log_path) if log_path else None
        self._log = open(self.log_path, "wb") if self.log_path else subprocess.DEVNULL
        self.proc = subprocess.Popen([THAW_BIN, "serve", "--port", "0", *args], stdout=subprocess.PIPE,
                                     stderr=self._log, cwd=cwd)
        self.events = []
        self._buf = b""
        ev = self.wait_for("serving", timeout)
        self.port = ev["port"]
        self.url = f"127.0.0.1:{self.port}"
        self.base = f"http://{self.url}"
        self.runtime_dir = pathlib.Path(ev["runtime_dir"])
        self.session = requests.Session()

    @classmethod
    def over_bundles(cls, tmp_path, bundles):
        """`thaw serve` on its default models folder (tmp_path/models), holding a link to each bundle
        under the model name given: {"name": path}."""
        models = pathlib.Path(tmp_path) / "models"
        models.mkdir()
        for name, path in bundles.items():
            (models / f"{name}.thaw").symlink_to(path)
        return cls(cwd=tmp_path, log_path=pathlib.Path(tmp_path) / "serve.log")

    def failure_detail(self):
        return "log=" + self.log_tail()

    def log_tail(self, n=40):
        if not self.log_path or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])

    def get(self, path, **kw):
        return self.session.get(self.base + path, timeout=kw.pop("timeout", 60), **kw)

    def post(self, path, **kw):
        return self.session.post(self.base + path, timeout=kw.pop("timeout", 60), **kw)

    def models(self):
        return {m["name"]: m for m in self.get("/admin/models").json()["models"]}

    def wait_until(self, predicate, timeout=30, what="condition"):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}; models={self.models()}")

    def stop(self, timeout=30):
        code = super().stop(timeout)
        if self._log is not subprocess.DEVNULL:
            self._log.close()
        return code


class Gateways:
    """`thaw serve` processes started from config dicts (written as JSON, which YAML reads) under
    `tmp_path`; close() checks that each one the test did not stop itself is alive and stops cleanly."""

    def __init__(self, tmp_path):
        self.tmp_path = pathlib.Path(tmp_path)
        self.started = []

    def start(self, config, *args):
        n = len(self.started)
        path = self.tmp_path / f"thaw{n}.yaml"
        path.write_text(json.dumps(config))
        g = Gateway("--config", str(path), *args, log_path=self.tmp_path / f"serve{n}.log")
        self.started.append(g)
        return g

    def close(self):
        for g in self.started:
            if g.proc.returncode is None:  # not stopped or killed by the test itself
                assert g.alive(), f"thaw serve died during the test: {g.log_tail()}"
                assert g.stop() == 0, g.log_tail()
