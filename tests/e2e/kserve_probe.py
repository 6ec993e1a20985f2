"""Runs the `kserve` PyPI client (REST or gRPC) against a server: health, readiness, and an inference
checked against the reference embeddings. Exits 0 when every check holds, else prints what failed.

A process of its own: kserve and tritonclient.grpc both register the protobuf package `inference`,
which one Python process cannot hold twice.

    kserve_probe.py rest http://127.0.0.1:8000
    kserve_probe.py grpc 127.0.0.1:8001
"""
import asyncio
import sys

import numpy as np
from kserve import InferenceGRPCClient, InferenceRESTClient, RESTConfig
from kserve.protocol.infer_type import InferInput, InferRequest

from serve_client import REFERENCE, SENTENCES, cosine

MODEL = "minilm"


def check_embeddings(emb, n):
    for i in range(n):
        c = cosine(emb[i], REFERENCE["embeddings"][i])
        if c < 0.9999:
            raise AssertionError(f"sentence {i}: cosine {c} against the reference")


async def rest(base):
    client = InferenceRESTClient(RESTConfig(protocol="v2", retries=1))
    try:
        assert await client.is_server_live(base), "not live"
        assert await client.is_server_ready(base), "not ready"
        assert await client.is_model_ready(base, MODEL), "model not ready"
        request = InferRequest(model_name=MODEL, infer_inputs=[
            InferInput(name="text", shape=[2], datatype="BYTES", data=SENTENCES[:2])])
        response = await client.infer(base, request, model_name=MODEL)
        out = response.outputs[0]
        check_embeddings(np.asarray(out.data, dtype=np.float32).reshape(out.shape), 2)
    finally:
        await client.close()


async def grpc(url):
    client = InferenceGRPCClient(url, retries=2)
    try:
        assert await client.is_server_live(), "not live"
        assert await client.is_server_ready(), "not ready"
        assert await client.is_model_ready(MODEL), "model not ready"
        assert not await client.is_model_ready("no-such-model"), "an unknown model is ready"
        text = InferInput(name="text", shape=[2], datatype="BYTES")
        text.set_data_from_numpy(np.array(SENTENCES[:2], dtype=object), binary_data=True)
        response = await client.infer(InferRequest(model_name=MODEL, infer_inputs=[text]))
        check_embeddings(response.outputs[0].as_numpy(), 2)
    finally:
        await client.close()


if __name__ == "__main__":
    kind, target = sys.argv[1], sys.argv[2]
    asyncio.run(rest(target) if kind == "rest" else grpc(target))
    print("ok")
