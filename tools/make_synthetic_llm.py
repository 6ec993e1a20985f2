#!/usr/bin/env python3
"""Makes a seeded synthetic generative model of a real architecture (Qwen2) with a real byte-level
BPE tokenizer, as a Hugging Face model directory, and converts it to GGUF (F16, Q8_0, optionally F32)
with llama.cpp's own converter (convert_hf_to_gguf.py and gguf-py from the llama-cpp-python sdist
that scripts/setup.sh builds).

No package ships instruction-tuned GGUF weights, so thaw's tests and benchmarks use this model:
random weights (seeded, rounded to F16 so the F16 GGUF holds exactly the transformers weights),
Qwen2's pre-tokenizer and ChatML chat template, a BPE vocabulary trained with `tokenizers` on a
fixed, seeded corpus. Output text is gibberish; the shapes, the tokenizer and the compute are real.

    make_synthetic_llm.py --size tiny  --out models/src/llm-tiny   (tests: ~1 M parameters)
    make_synthetic_llm.py --size 0.5b  --out models/src/llm-0.5b   (bench: Qwen2-0.5B shape, ~0.5 B)
"""
import argparse
import json
import random
import subprocess
import sys
from pathlib import Path

SIZES = {
    # name: (hidden, layers, heads, kv_heads, intermediate, vocab)
    "tiny": (64, 2, 4, 2, 192, 2048),
    "0.5b": (896, 30, 14, 2, 4864, 32768),
}
# Qwen2's pre-tokenizer regex (as in Qwen2's tokenizer.json); llama.cpp knows it as "qwen2".
QWEN2_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
               r"\s*[\r\n]+|\s+(?!\S)|\s+")
CHATML = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + "
          "'<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
WORDS = ("the of and to in is that it for on with as was at by an be this from or are not have had but "
         "what all were when we there can your which their said if do will each about how up out them "
         "then she many some so these would other into has more her two like him see time could no make "
         "than first been its who now people my made over did down only way find use may water long "
         "little very after words called just where most know get through back much before go good new "
         "write our used me man too any day same right look think also around another came come work "
         "three word must because does part even place well such here take why things help put years "
         "different away again off went old number great tell men say small every found still between "
         "name should home big give air line set own under read last never us left end along while might "
         "next sound below saw something thought both few those always looked show large often together "
         "asked house world going want school important until form food keep children feet land side "
         "without boy once animals life enough took sometimes four head above kind began almost live page "
         "got earth need far hand high year mother light parts country father let night following picture "
         "model serve request answer token stream cold start warm zygote memory disk cache thaw").split()


def corpus(seed: int, lines: int):
    rng = random.Random(seed)
    punct = [".", ",", "?", "!", ":", ";"]
    for _ in range(lines):
        n = rng.randint(4, 16)
        words = [rng.choice(WORDS) for _ in range(n)]
        if rng.random() < 0.3:
            words[0] = words[0].capitalize()
        if rng.random() < 0.2:
            words.insert(rng.randint(0, n), str(rng.randint(0, 9999)))
        yield " ".join(words) + rng.choice(punct) + ("\n" if rng.random() < 0.1 else "")


def make_tokenizer(vocab: int, seed: int, out: Path):
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(unk_token=None, fuse_unk=False, byte_fallback=False))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_REGEX), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab - len(SPECIALS), min_frequency=2, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), special_tokens=[])
    tok.train_from_iterator(corpus(seed, 20000), trainer=trainer)
    tok.add_special_tokens(SPECIALS)
    tok.save(str(out / "tokenizer.json"))
    (out / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": 32768,
        "bos_token": None, "eos_token": "<|im_end|>", "pad_token": "<|endoftext|>", "unk_token": None,
        "add_bos_token": False, "chat_template": CHATML,
        "added_tokens_decoder": {str(tok.token_to_id(s)): {"content": s, "special": True, "lstrip": False,
                                                            "rstrip": False, "normalized": False,
                                                            "single_word": False} for s in SPECIALS},
    }, indent=1))
    return tok


def make_model(size: str, seed: int, out: Path, tok):
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    hidden, layers, heads, kv, inter, _ = SIZES[size]
    vocab = tok.get_vocab_size()
    cfg = Qwen2Config(vocab_size=vocab, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                      num_key_value_heads=kv, intermediate_size=inter, max_position_embeddings=4096,
                      rope_theta=1000000.0, rms_norm_eps=1e-6, tie_word_embeddings=False,
                      bos_token_id=tok.token_to_id("<|endoftext|>"), eos_token_id=tok.token_to_id("<|im_end|>"),
                      pad_token_id=tok.token_to_id("<|endoftext|>"), initializer_range=0.05,
                      torch_dtype="float32")
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(cfg)
    with torch.no_grad():
        # Rounded to F16, so the F16 GGUF carries exactly these weights; peaked logits (a larger
        # output head) make greedy decoding stable against the runtimes' summation orders.
        model.lm_head.weight.mul_(4.0)
        for p in model.parameters():
            p.copy_(p.half().float())
    model.generation_config.do_sample = False
    model.save_pretrained(out, safe_serialization=True)
    (out / "generation_config.json").write_text(json.dumps({
        "bos_token_id": cfg.bos_token_id, "eos_token_id": [cfg.eos_token_id, cfg.pad_token_id],
        "temperature": 0.7, "top_p": 0.8, "max_new_tokens": 256}, indent=1))
    return sum(p.numel() for p in model.parameters())


def convert(llama_src: Path, model_dir: Path, outtype: str, dest: Path):
    """Runs llama.cpp's convert_hf_to_gguf.py through tools/hf_to_gguf.py, which names our trained
    tokenizer's pre-tokenizer ("qwen2") by its regex, since the converter does not know its hash."""
    tool = Path(__file__).resolve().parent / "hf_to_gguf.py"
    subprocess.run([sys.executable, str(tool), "--llama-src", str(llama_src), str(model_dir), "--outtype", outtype,
                    "--outfile", str(dest)], check=True, cwd=str(llama_src))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", choices=sorted(SIZES), default="tiny")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--out", required=True, help="folder: hf/ (transformers) and model-<type>.gguf")
    ap.add_argument("--llama-src", required=True, help="llama.cpp source tree (from the llama-cpp-python sdist)")
    ap.add_argument("--types", default="f16,q8_0", help="GGUF types to write: f32, f16, bf16, q8_0")
    a = ap.parse_args()
    out = Path(a.out).resolve()
    hf = out / "hf"
    hf.mkdir(parents=True, exist_ok=True)
    tok = make_tokenizer(SIZES[a.size][5], a.seed, hf)
    n = make_model(a.size, a.seed, hf, tok)
    print(f"[make_synthetic_llm] {a.size}: {n/1e6:.1f} M parameters, vocab {tok.get_vocab_size()}")
    for t in a.types.split(","):
        convert(Path(a.llama_src), hf, t, out / f"model-{t}.gguf")


if __name__ == "__main__":
    main()
