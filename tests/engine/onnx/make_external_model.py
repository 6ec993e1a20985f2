#!/usr/bin/env python3
"""Writes an ONNX model in the bundle's layout: graph.onnx whose every initializer is an external
reference into "thaw.data", with each tensor at a 4 KiB-aligned offset in that file.

Usage: make_external_model.py MODEL.onnx OUT_DIR
"""
import os
import sys

import onnx
from onnx import TensorProto

ALIGN = 4096
DATA_NAME = "thaw.data"


def tensor_bytes(t: TensorProto) -> bytes:
    if t.HasField("raw_data"):
        return t.raw_data
    return onnx.numpy_helper.to_array(t).tobytes()


def externalize(model: onnx.ModelProto, data_path: str) -> None:
    offset = 0
    with open(data_path, "wb") as out:
        for t in model.graph.initializer:
            raw = tensor_bytes(t)
            pad = (-offset) % ALIGN
            out.write(b"\0" * pad)
            offset += pad
            out.write(raw)
            for field in ("float_data", "int32_data", "int64_data", "double_data", "uint64_data",
                          "string_data"):
                t.ClearField(field)
            t.ClearField("raw_data")
            del t.external_data[:]
            t.data_location = TensorProto.EXTERNAL
            for key, value in (("location", DATA_NAME), ("offset", str(offset)),
                               ("length", str(len(raw)))):
                entry = t.external_data.add()
                entry.key = key
                entry.value = value
            offset += len(raw)
        out.write(b"\0" * ((-offset) % ALIGN))


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    src, out_dir = sys.argv[1], sys.argv[2]
    os.makedirs(out_dir, exist_ok=True)
    model = onnx.load(src, load_external_data=True)
    externalize(model, os.path.join(out_dir, DATA_NAME))
    tmp = os.path.join(out_dir, "graph.onnx.tmp")
    with open(tmp, "wb") as f:
        f.write(model.SerializeToString())
    os.replace(tmp, os.path.join(out_dir, "graph.onnx"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
