#!/usr/bin/env python3
"""Writes one file of an uncompressed .thaw bundle back out, byte for byte: e.g. the GGUF of a
generative model's bundle (stored whole), to give a quantised GGUF made by `thaw pack --quantize`
to other tools.

    bundle_file.py models/qwen.thaw model.gguf qwen-q4_k_m.gguf [--thaw build/thaw]

Where the file lies comes from `thaw inspect --json` (the data section's offset, the file's offset
and length); its checksum is what `thaw verify` checks.
"""
import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[1]


def locate(bundle, name, thaw):
    m = json.loads(subprocess.run([thaw, "inspect", str(bundle), "--json"], check=True, capture_output=True,
                                  text=True).stdout)
    if m.get("compression", "none") != "none":
        sys.exit(f"bundle_file: {bundle} is compressed; repack it without --compress to take files out")
    for f in m["files"]:
        if f["name"] == name:
            return m["data_offset"] + f["offset"], f["length"]
    sys.exit(f"bundle_file: {bundle} has no file {name!r}; it has {[f['name'] for f in m['files']]}")


def extract(bundle, name, out, thaw=None):
    thaw = thaw or os.environ.get("THAW_BIN") or str(ROOT / "build" / "thaw")
    offset, length = locate(bundle, name, thaw)
    out = str(out)
    # A regular file is written whole or not at all (a temporary beside it, renamed); anything else
    # (a pipe, /dev/stdout, a device) is written to as it is, never replaced.
    direct = out == "-" or (os.path.exists(out) and not os.path.isfile(out))
    if direct:
        dst = sys.stdout.buffer if out == "-" else open(out, "wb")
    else:
        fd, tmp = tempfile.mkstemp(prefix=".bundle_file-", dir=os.path.dirname(os.path.abspath(out)))
        dst = os.fdopen(fd, "wb")
    try:
        with open(bundle, "rb") as src:
            src.seek(offset)
            left = length
            while left:
                chunk = src.read(min(left, 16 << 20))
                if not chunk:
                    sys.exit(f"bundle_file: {bundle} ends before {name} does")
                dst.write(chunk)
                left -= len(chunk)
        dst.flush()
        if not direct:
            dst.close()
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
            os.replace(tmp, out)
    except BaseException:
        if not direct:
            dst.close()
            os.unlink(tmp)
        raise
    finally:
        if direct and out != "-":
            dst.close()
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("bundle")
    ap.add_argument("name", help="the file's name in the bundle, e.g. model.gguf")
    ap.add_argument("out", help="where to write it ('-': standard output)")
    ap.add_argument("--thaw", help="the thaw binary (default $THAW_BIN, else build/thaw)")
    a = ap.parse_args()
    extract(a.bundle, a.name, a.out, a.thaw)


if __name__ == "__main__":
    main()
