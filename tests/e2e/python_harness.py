"""Packing the test handlers (tests/e2e/python_handlers) with `thaw pack --python`, and the
environment the Python worker needs: the venv's interpreter (THAW_PYTHON) and a handler cache of
the test's own (THAW_PYTHON_CACHE). Imported before a worker starts, it sets both for every
process the tests start."""
import os
import pathlib
import subprocess

from worker_harness import ROOT, THAW_BIN

HANDLERS = pathlib.Path(__file__).resolve().parent / "python_handlers"
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"

os.environ.setdefault("THAW_PYTHON", str(VENV_PYTHON))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def use_cache(path):
    os.environ["THAW_PYTHON_CACHE"] = str(path)


def pack_handler(module, out_dir, *args, extra=()):
    """Packs python_handlers/<module>.py (and extra paths) into out_dir/<module>.thaw."""
    out = pathlib.Path(out_dir) / f"{module}.thaw"
    cmd = [THAW_BIN, "pack", "--python", str(HANDLERS / f"{module}.py"), "-o", str(out), *args]
    for e in extra:
        cmd += ["--extra", str(e)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return out
