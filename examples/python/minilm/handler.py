"""all-MiniLM-L6-v2 sentence embeddings through sentence-transformers (torch, CPU): thaw's example
Python handler. Pack it with the model folder beside it (docs/python.md):

    thaw pack --python examples/python/minilm/handler.py \
        --requirements examples/python/minilm/requirements.txt --extra path/to/model -o minilm-py.thaw

KServe v2: input `text` (BYTES, one sentence per element), output `embedding` (FP32, [n, 384]).
OpenAI-style: POST /v1/embeddings {"input": "text" or ["texts"]} answers like OpenAI's API."""
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # weights come from the bundle; nothing is downloaded

import numpy as np  # noqa: E402
from sentence_transformers import SentenceTransformer  # noqa: E402

INPUTS = [{"name": "text", "datatype": "BYTES", "shape": [-1]}]
OUTPUTS = [{"name": "embedding", "datatype": "FP32", "shape": [-1, 384]}]

model = None


def init():
    """Loads the model from the bundle's `model/` folder (the working directory is the bundle's)."""
    global model
    model = SentenceTransformer("model", device="cpu")


def warmup():
    model.encode(["thaw runs warm-up before the first request", "so the first answer is fast"])


def predict(inputs):
    texts = [t.decode() if isinstance(t, bytes) else str(t) for t in inputs["text"].ravel()]
    return {"embedding": np.asarray(model.encode(texts, convert_to_numpy=True), dtype=np.float32)}


def embeddings(request):
    """POST /v1/embeddings: plain JSON in, plain JSON out, in the OpenAI API's shape."""
    texts = request.get("input")
    if isinstance(texts, str):
        texts = [texts]
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
        raise ValueError('"input" must be a string or a non-empty list of strings')
    vectors = model.encode(texts, convert_to_numpy=True)
    tokens = sum(len(ids) for ids in model.tokenizer(texts)["input_ids"])
    return {"object": "list", "model": request.get("model", "all-MiniLM-L6-v2"),
            "data": [{"object": "embedding", "index": i, "embedding": v.tolist()} for i, v in enumerate(vectors)],
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}
