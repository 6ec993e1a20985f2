#!/usr/bin/env python3
"""Converts a Hugging Face model directory to GGUF with llama.cpp's own converter
(convert_hf_to_gguf.py and the gguf-py beside it, from the llama.cpp tree scripts/setup.sh builds),
offline. `thaw pack HF_DIR` runs it; tools/make_synthetic_llm.py too.

    hf_to_gguf.py --llama-src ~/.cache/thaw/llama.cpp-0.3.36/src DIR --outtype f16 --outfile m.gguf

One addition to the converter: it names a BPE tokenizer's pre-tokenizer by hashing how a known text
tokenizes, so a tokenizer trained or extended anew (a new vocabulary, the same pre-tokenizer) is
refused. When the hash is unknown, the pre-tokenizer is named here by its split regex instead, for
the regexes llama.cpp implements and this table knows.
"""
import argparse
import json
import os
import runpy
import sys

# Split regexes of tokenizer.json pre-tokenizers, by llama.cpp's name for them (llama-vocab.cpp).
KNOWN_PRE = {
    "qwen2": r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
             r"\s*[\r\n]+|\s+(?!\S)|\s+",
    "llama-bpe": r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
                 r"\s*[\r\n]+|\s+(?!\S)|\s+",
}


def split_regexes(model_dir):
    try:
        with open(os.path.join(model_dir, "tokenizer.json"), encoding="utf-8") as f:
            pt = json.load(f).get("pre_tokenizer") or {}
    except (OSError, ValueError):
        return []
    parts = pt.get("pretokenizers", [pt])
    return [p.get("pattern", {}).get("Regex") for p in parts if p.get("type") == "Split"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--llama-src", required=True, help="the llama.cpp source tree (convert_hf_to_gguf.py, gguf-py)")
    ap.add_argument("model_dir")
    ap.add_argument("--outtype", default="f16", choices=["f32", "f16", "bf16", "q8_0"])
    ap.add_argument("--outfile", required=True)
    a = ap.parse_args()
    src = os.path.abspath(a.llama_src)
    converter = os.path.join(src, "convert_hf_to_gguf.py")
    if not os.path.isfile(converter):
        sys.exit(f"hf_to_gguf: no convert_hf_to_gguf.py in {src}: run scripts/setup.sh")
    sys.path[:0] = [src, os.path.join(src, "gguf-py")]  # the gguf-py of the same tree, never another
    os.environ["NO_LOCAL_GGUF"] = "1"
    os.environ["HF_HUB_OFFLINE"] = "1"  # nothing is downloaded
    import conversion.base as base

    by_hash = base.TextModel.get_vocab_base_pre

    def get_vocab_base_pre(self, tokenizer):
        try:
            return by_hash(self, tokenizer)
        except NotImplementedError:
            found = split_regexes(self.dir_model)
            for name, regex in KNOWN_PRE.items():
                if regex in found:
                    print(f"hf_to_gguf: pre-tokenizer named '{name}' by its split regex", file=sys.stderr)
                    return name
            raise

    base.TextModel.get_vocab_base_pre = get_vocab_base_pre
    sys.argv = [converter, a.model_dir, "--outtype", a.outtype, "--outfile", a.outfile]
    runpy.run_path(converter, run_name="__main__")


if __name__ == "__main__":
    main()
