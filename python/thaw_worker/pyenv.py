"""The handler's requirements as an environment of their own: a venv made once per distinct
requirements file and base interpreter, cached outside the bundle under
$THAW_PYENV_CACHE or ~/.cache/thaw/pyenv/<hash>.

The venv is layered on the base interpreter's packages (a .pth file puts the base's site-packages
after the venv's own), then `pip install -r requirements.txt` adds what the base lacks. When the
base already satisfies every requirement, nothing is downloaded and the venv holds only the layer
(how the example handler runs from the project's venv). Pin versions (name==x.y) for an
environment that is the same on every machine.

    python -m thaw_worker.pyenv requirements.txt      # make it ahead of time (deploy step)"""
import hashlib
import os
import shutil
import site
import subprocess
import sys
import sysconfig

ACTIVE_ENV = "THAW_PYENV"


def cache_root():
    if os.environ.get("THAW_PYENV_CACHE"):
        return os.environ["THAW_PYENV_CACHE"]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "thaw", "pyenv")


def env_key(requirements_text, base=None):
    h = hashlib.sha256()
    h.update(requirements_text.encode())
    h.update(b"\0" + os.path.realpath(base or sys.executable).encode())
    h.update(b"\0" + sys.version.encode())
    return h.hexdigest()[:32]


def _base_site_dirs():
    dirs = list(site.getsitepackages())
    if site.ENABLE_USER_SITE and os.path.isdir(site.getusersitepackages()):
        dirs.append(site.getusersitepackages())
    return [d for d in dirs if os.path.isdir(d)]


def ensure(requirements_path, log=lambda m: None):
    """The interpreter of the environment for requirements_path, made if missing."""
    with open(requirements_path) as f:
        text = f.read()
    key = env_key(text)
    root = cache_root()
    final = os.path.join(root, key)
    python = os.path.join(final, "bin", "python")
    if os.path.exists(os.path.join(final, ".complete")):
        return python
    os.makedirs(root, exist_ok=True)
    tmp = os.path.join(root, f".make-{os.getpid()}-{key}")
    shutil.rmtree(tmp, ignore_errors=True)
    log(f"making the handler's environment {final} from {requirements_path}")
    try:
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", tmp], check=True, stdout=sys.stderr)
        purelib = sysconfig.get_path("purelib", vars={"base": tmp, "platbase": tmp})
        with open(os.path.join(purelib, "_thaw_base.pth"), "w") as f:
            f.write("\n".join(_base_site_dirs()) + "\n")
        subprocess.run([sys.executable, "-m", "pip", "--python", os.path.join(tmp, "bin", "python"), "install",
                        "--disable-pip-version-check", "-r", os.path.abspath(requirements_path)],
                       check=True, stdout=sys.stderr, cwd=os.path.dirname(os.path.abspath(requirements_path)))
        with open(os.path.join(tmp, ".complete"), "w") as f:
            f.write(text)
        # The venv's scripts name their folder; the interpreter itself does not, so a rename is safe.
        os.rename(tmp, final)
    except FileExistsError:
        shutil.rmtree(tmp, ignore_errors=True)
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        if not os.path.exists(os.path.join(final, ".complete")):
            raise RuntimeError(f"making the environment for {requirements_path}: {e}") from e
    except subprocess.CalledProcessError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise RuntimeError(f"installing {requirements_path} failed (pip exited {e.returncode}; its output is in "
                           "the log): fix the requirements, or install them into the interpreter thaw runs "
                           "(THAW_PYTHON)") from e
    return python


def main(argv):
    if len(argv) != 1:
        sys.stderr.write("usage: python -m thaw_worker.pyenv REQUIREMENTS.txt\n")
        return 2
    print(ensure(argv[0], log=lambda m: sys.stderr.write(m + "\n")))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
