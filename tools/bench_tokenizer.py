#!/usr/bin/env python3
"""Tokenizer throughput: thaw's built-in WordPiece vs Hugging Face `tokenizers`, same sentences, one run.

Encodes a deterministic set of typical English sentences (plus the model's reference sentences)
with truncation at 256, single-threaded on both sides, and reports the median of --runs runs.
Prints a table and writes JSON (default bench/results/tokenizer.json).

Usage: tools/bench_tokenizer.py [--thaw build/thaw] [--tokenizer models/src/minilm/tokenizer.json]
"""
import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time

os.environ.setdefault("RAYON_NUM_THREADS", "1")  # compare one thread with one thread
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
from tokenizers import Tokenizer  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORDS = ("the a of to and in is it that for on with as was this be at by not are from or have an they "
         "which one you had all were there been has their more when will would who so if out up what "
         "model request latency serverless inference warm cold start instance memory page cache disk "
         "fast slower tokenization embedding vector sentence transformer deployment endpoint scaling "
         "unbelievable internationalization café naïve résumé ").split()


def typical_sentences(n, seed):
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        words = [rng.choice(WORDS) for _ in range(rng.randint(8, 40))]
        words[0] = words[0].capitalize()
        for i in range(2, len(words), rng.randint(5, 9)):
            words[i] += rng.choice([",", "", "", ";"])
        out.append(" ".join(words) + rng.choice([".", "?", "!", "."]))
    return out


def time_hf(tok, texts, repeat, batch):
    start = time.perf_counter()
    tokens = 0
    for _ in range(repeat):
        if batch:
            tokens += sum(len(e.ids) for e in tok.encode_batch(texts))
        else:
            for t in texts:
                tokens += len(tok.encode(t).ids)
    return tokens, time.perf_counter() - start


def time_thaw(thaw, tokenizer, texts, repeat):
    out = subprocess.run([thaw, "tokenize", "--tokenizer", tokenizer, "--max-length", "256", "--repeat", str(repeat)],
                         input="\n".join(texts) + "\n", capture_output=True, text=True, check=True)
    r = json.loads(out.stdout)
    return r["tokens"], r["seconds"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--thaw", default=os.path.join(ROOT, "build", "thaw"))
    ap.add_argument("--tokenizer", default=os.path.join(ROOT, "models", "src", "minilm", "tokenizer.json"))
    ap.add_argument("--sentences", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=5, help="passes over the sentences per run")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "tokenizer.json"))
    args = ap.parse_args()

    texts = typical_sentences(args.sentences, args.seed)
    with open(os.path.join(ROOT, "models", "src", "minilm", "reference.json"), encoding="utf-8") as f:
        texts += json.load(f)["sentences"]
    tok = Tokenizer.from_file(args.tokenizer)
    tok.no_padding()
    tok.enable_truncation(256)

    # Same ids on the benchmark sentences, or the comparison means nothing.
    proc = subprocess.run([args.thaw, "tokenize", "--tokenizer", args.tokenizer, "--max-length", "256"],
                          input="\n".join(texts) + "\n", capture_output=True, text=True, check=True)
    ours = [json.loads(line)["input_ids"] for line in proc.stdout.splitlines()]
    theirs = [e.ids for e in tok.encode_batch(texts)]
    if ours != theirs:
        sys.exit("ids differ between thaw and Hugging Face tokenizers on the benchmark sentences")

    contenders = {
        "thaw WordPieceTokenizer (C++)": lambda: time_thaw(args.thaw, args.tokenizer, texts, args.repeat),
        "HF tokenizers encode_batch (1 thread)": lambda: time_hf(tok, texts, args.repeat, True),
        "HF tokenizers encode (per call)": lambda: time_hf(tok, texts, args.repeat, False),
    }
    results = {}
    for name, fn in contenders.items():
        rates = []
        for _ in range(args.runs):
            tokens, seconds = fn()
            rates.append(tokens / seconds)
        results[name] = {"tokens_per_second_median": statistics.median(rates), "runs": rates,
                         "tokens_per_pass": tokens // args.repeat}
    base = results["HF tokenizers encode_batch (1 thread)"]["tokens_per_second_median"]
    print(f"{len(texts)} sentences, {results['thaw WordPieceTokenizer (C++)']['tokens_per_pass']} tokens per pass, "
          f"{args.repeat} passes, median of {args.runs} runs")
    print(f"{'tokenizer':42s} {'tokens/s':>12s} {'vs HF batch':>12s}")
    for name, r in results.items():
        print(f"{name:42s} {r['tokens_per_second_median']:12,.0f} {r['tokens_per_second_median'] / base:11.2f}x")
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump({"sentences": len(texts), "repeat": args.repeat, "runs": args.runs, "results": results}, f, indent=2)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
