"""A tiny handler (numpy only) for the worker-protocol conformance suite and quick tests:
y = x * factor, factor read at init() from a file packed beside it."""
import json

import numpy as np

INPUTS = [{"name": "x", "datatype": "FP32", "shape": [-1]}]
OUTPUTS = [{"name": "y", "datatype": "FP32", "shape": [-1]}]

factor = None


def init():
    global factor
    with open("scale/config.json") as f:
        factor = np.float32(json.load(f)["factor"])


def warmup():
    predict({"x": np.ones(4, dtype=np.float32)})


def predict(inputs):
    return {"y": inputs["x"].astype(np.float32) * factor}


def embeddings(request):
    """POST /v1/embeddings: each input string's length, times the factor, as its 'embedding'."""
    texts = request["input"] if isinstance(request.get("input"), list) else [request.get("input", "")]
    return {"object": "list", "data": [{"object": "embedding", "index": i, "embedding": [float(len(t) * factor)]}
                                       for i, t in enumerate(texts)]}
