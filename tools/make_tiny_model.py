#!/usr/bin/env python3
"""Builds the tiny ONNX model for latency benchmarks, packs it, and writes a matching request.

The model is y = x @ W + b with x f32 [1, 16] ("input"), W f32 [16, 16], b f32 [16] drawn from a
fixed seed, and y f32 [1, 16] ("output"): small enough that a request measures the serving path,
not the math. Writes into --out (default bench/data/):
  tiny.onnx           the model
  tiny.thaw           `thaw pack` of it (skipped with --no-pack), with the request as warm-up input
  tiny_request.json   a KServe v2 infer body for it
  tiny_expected.json  the output the body must produce (numpy reference)
  tiny_warmup.json    the request in `thaw pack --warmup` form
"""
import argparse
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = pathlib.Path(__file__).resolve().parents[1]
WIDTH = 16
SEED = 20231116


def build(seed=SEED, width=WIDTH):
    """Returns (model, weights, bias, request_input) for the given seed."""
    rng = np.random.default_rng(seed)
    weights = rng.standard_normal((width, width)).astype(np.float32) / np.float32(np.sqrt(width))
    bias = rng.standard_normal(width).astype(np.float32)
    x = np.round(rng.standard_normal((1, width)), 3).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["input", "W"], ["xw"]), helper.make_node("Add", ["xw", "b"], ["output"])],
        "tiny",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, width])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, width])],
        initializer=[numpy_helper.from_array(weights, "W"), numpy_helper.from_array(bias, "b")],
    )
    model = helper.make_model(graph, producer_name="thaw-tools", opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8  # readable by every ONNX Runtime the project supports
    onnx.checker.check_model(model)
    return model, weights, bias, x


def request_body(x):
    return {"inputs": [{"name": "input", "datatype": "FP32", "shape": list(x.shape),
                        "data": [round(float(v), 6) for v in x.ravel()]}]}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(ROOT / "bench" / "data"), help="output directory")
    ap.add_argument("--name", default="tiny", help="model name and file stem")
    ap.add_argument("--thaw", default=os.environ.get("THAW_BIN", str(ROOT / "build" / "thaw")), help="thaw binary")
    ap.add_argument("--no-pack", action="store_true", help="write the ONNX model and request only")
    args = ap.parse_args(argv)

    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model, weights, bias, x = build()
    onnx_path = out / f"{args.name}.onnx"
    onnx.save(model, str(onnx_path))
    body = request_body(x)
    (out / f"{args.name}_request.json").write_text(json.dumps(body) + "\n")
    expected = (x @ weights + bias).astype(np.float32)
    (out / f"{args.name}_expected.json").write_text(json.dumps({"output": [float(v) for v in expected.ravel()]}) + "\n")
    print(f"wrote {onnx_path} and {args.name}_request.json", flush=True)
    if args.no_pack:
        return 0
    warmup = out / f"{args.name}_warmup.json"
    warmup.write_text(json.dumps({"input": {"dtype": "FP32", "shape": [1, WIDTH], "data": body["inputs"][0]["data"]}}))
    bundle = out / f"{args.name}.thaw"
    r = subprocess.run([args.thaw, "pack", str(onnx_path), "-o", str(bundle), "--name", args.name,
                        "--warmup", str(warmup)], capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        print(f"thaw pack failed ({r.returncode}): {r.stderr.strip()}", file=sys.stderr)
        return 1
    print(f"wrote {bundle}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
