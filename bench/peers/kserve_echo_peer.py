"""The peer for bench/protocols.py: KServe's own Python model server (REST and gRPC) serving the same
models' contract with a numpy implementation: `echo` returns its FP32 input, `tiny` computes
y = x @ W + b from tools/make_tiny_model.py's weights. Prints "ready" once both ports answer.

    kserve_echo_peer.py --http-port 8080 --grpc-port 8081
"""
import argparse
import pathlib
import sys

import numpy as np
from kserve import Model, ModelServer
from kserve.protocol.infer_type import InferOutput, InferResponse

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "tools"))
import make_tiny_model  # noqa: E402


class Echo(Model):
    def __init__(self, name, fn):
        super().__init__(name)
        self.fn = fn
        self.ready = True

    async def predict(self, payload, headers=None, response_headers=None):
        x = payload.inputs[0].as_numpy()
        y = self.fn(x).astype(np.float32)
        out = InferOutput(name="output" if self.name == "tiny" else "y", shape=list(y.shape), datatype="FP32")
        # Binary answers for binary requests (REST's extension); gRPC is raw either way.
        binary = payload.from_grpc or "inference-header-content-length" in {k.lower() for k in (headers or {})}
        out.set_data_from_numpy(y, binary_data=binary)
        return InferResponse(model_name=self.name, infer_outputs=[out], response_id=payload.id or "")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--http-port", type=int, required=True)
    ap.add_argument("--grpc-port", type=int, required=True)
    a = ap.parse_args()
    _, w, b, _ = make_tiny_model.build()
    models = [Echo("echo", lambda x: x), Echo("tiny", lambda x: x @ w + b)]
    ModelServer(http_port=a.http_port, grpc_port=a.grpc_port, workers=1, enable_docs_url=False).start(models)
