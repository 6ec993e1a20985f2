"""all-MiniLM-L6-v2 sentence embeddings through sentence-transformers (torch, CPU): thaw's example
Python handler. Pack it with the model folder beside it (docs/python.md):

    thaw pack --python examples/python/minilm/handler.py \
        --requirements examples/python/minilm/requirements.txt --extra path/to/model -o minilm-py.thaw

Input `text` (BYTES, one sentence per element); output `embedding` (FP32, [n, 384])."""
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
