#!/usr/bin/env python3
"""Make a synthetic BERT-large-shaped sentence encoder for benchmarks: no download, fixed seed.

Hidden 1024, 16 heads, intermediate 4096, vocab 30522 (BERT-large's shape). --layers picks the
depth: 8 (default) gives ~530 MB of fp32 weights, 24 the full BERT-large (~1.34 GB). Weights are
random (BERT's initialiser, seeded). The graph has the MiniLM export's signature: input_ids,
attention_mask, token_type_ids (int64, [batch, seq]) -> sentence_embedding (mean-pooled,
L2-normalised, [batch, 1024]), so the same requests and tokenizer (bert-base-uncased vocabulary,
MiniLM's tokenizer.json) serve both.

Writes into --out: model.onnx (initializers inline), tokenizer.json, reference.json (sentences,
input_ids from the tokenizers library, embeddings from onnxruntime on model.onnx) and, unless
--no-pack, model.thaw (`thaw pack` with the tokenizer). Does nothing when all of them exist.
"""
import argparse
import json
import os
import pathlib
import shutil
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
MINILM = ROOT / "models" / "src" / "minilm"


def export(out, layers, seed):
    import torch
    from transformers import BertConfig, BertModel

    sys.path.insert(0, str(ROOT / "tools"))
    from export_minilm import SentenceEmbedding

    torch.manual_seed(seed)
    config = BertConfig(vocab_size=30522, hidden_size=1024, num_hidden_layers=layers, num_attention_heads=16,
                        intermediate_size=4096, max_position_embeddings=512, type_vocab_size=2)
    model = SentenceEmbedding(BertModel(config, add_pooling_layer=False)).eval()
    ids = torch.tensor([[101, 7592, 2088, 102, 0], [101, 1037, 2117, 6251, 102]], dtype=torch.int64)
    mask = (ids != 0).to(torch.int64)
    example = (ids, mask, torch.zeros_like(ids))
    dyn = {"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"},
           "token_type_ids": {0: "batch", 1: "sequence"}, "sentence_embedding": {0: "batch"}}
    tmp_dir = out / "export.tmp"
    tmp_dir.mkdir(exist_ok=True)
    with torch.no_grad():
        torch.onnx.export(model, example, str(tmp_dir / "model.onnx"),
                          input_names=["input_ids", "attention_mask", "token_type_ids"],
                          output_names=["sentence_embedding"], dynamic_axes=dyn, opset_version=17, dynamo=False)
    import onnx
    m = onnx.load(str(tmp_dir / "model.onnx"), load_external_data=True)
    # One self-contained file (under protobuf's 2 GB limit), the plain .onnx people ship.
    onnx.save_model(m, str(out / "model.onnx.tmp"), save_as_external_data=False)
    os.replace(out / "model.onnx.tmp", out / "model.onnx")
    shutil.rmtree(tmp_dir)


def reference(out):
    import numpy as np
    import onnxruntime as ort
    from tokenizers import Tokenizer

    sentences = json.loads((MINILM / "reference.json").read_text())["sentences"]
    tok = Tokenizer.from_file(str(out / "tokenizer.json"))
    tok.no_padding()  # one sequence per request, as the worker tokenizes it
    sess = ort.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    ids, embs = [], []
    for s in sentences:
        e = tok.encode(s).ids
        x = np.asarray([e], dtype=np.int64)
        emb = sess.run(["sentence_embedding"], {"input_ids": x, "attention_mask": np.ones_like(x),
                                                "token_type_ids": np.zeros_like(x)})[0][0]
        ids.append(e)
        embs.append(emb.astype(float).tolist())
    (out / "reference.json").write_text(json.dumps({"sentences": sentences, "input_ids": ids, "embeddings": embs}))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=pathlib.Path, default=None, help="output folder (default bench/data/bertlarge-L<layers>)")
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--thaw", default=os.environ.get("THAW_BIN", str(ROOT / "build" / "thaw")))
    ap.add_argument("--no-pack", action="store_true", help="skip model.thaw")
    args = ap.parse_args()
    out = args.out or ROOT / "bench" / "data" / f"bertlarge-L{args.layers}"
    out.mkdir(parents=True, exist_ok=True)
    if not (out / "model.onnx").exists():
        print(f"exporting a {args.layers}-layer BERT-large-shaped model to {out}", file=sys.stderr)
        export(out, args.layers, args.seed)
    if not (out / "tokenizer.json").exists():
        shutil.copyfile(MINILM / "tokenizer.json", out / "tokenizer.json")
    if not (out / "reference.json").exists():
        reference(out)
    if not args.no_pack and not (out / "model.thaw").exists():
        subprocess.run([args.thaw, "pack", str(out / "model.onnx"), "--extra", str(out / "tokenizer.json"),
                        "--name", "bertlarge", "-o", str(out / "model.thaw")], check=True)
    print(out)


if __name__ == "__main__":
    main()
