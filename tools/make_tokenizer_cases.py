#!/usr/bin/env python3
"""Write tokenizer test cases: >= 1,000 varied texts and the ids Hugging Face `tokenizers` gives them.

Deterministic (seeded). Used by tests/tokenizer to prove thaw's WordPiece tokenizer matches exactly.
"""
import argparse
import json
import random
import sys

from tokenizers import Tokenizer

WORDS = ("the quick brown fox jumps over lazy dog model serving cold start latency inference "
         "weights bundle zygote kernel page cache memory throughput request response embedding "
         "tokenizer unbelievable antidisestablishmentarianism pneumonoultramicroscopicsilicovolcanoconiosis "
         "xylophone quizzically jabberwocky supercalifragilistic naïve café résumé coöperate").split()
ACCENTED = ["Café au lait", "naïve résumé", "Ångström", "Straße", "Zürich", "Łódź", "São Paulo", "Ærøskøbing",
            "Tiếng Việt có dấu", "Čeština", "Français élégant", "Español: ¿Qué tal? ¡Olé!", "Ğüşöçİı",
            "İstanbul", "ΑΒΓ Ελληνικά ΣΊΣΥΦΟΣ", "Русский ЯЗЫК Ёж", "Ⅻ Ⅳ ⅰ", "ﬁ ﬂ ﬀ", "Ǆ ǅ ǆ", "ẞ"]
SCRIPTS = ["東京は日本の首都です。", "我爱自然语言处理！", "한국어 문장입니다.", "カタカナとひらがな", "العربية لغة جميلة",
           "עברית יפה", "ภาษาไทย", "हिन्दी भाषा", "ქართული", "Հայերեն", "ᏣᎳᎩ ᎦᏬᏂᎯᏍᏗ", "𐐀𐐨 Deseret",
           "𠀀𠀁 rare CJK", "ｆｕｌｌｗｉｄｔｈ　ＡＢＣ", "㍿ ㈱ ℡"]
EMOJI = ["🙂", "🚀", "👍🏽", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🇯🇵", "1️⃣", "❤️", "🧑🏿‍💻", "🫠", "😀😃😄", "🥰"]
PUNCT = list("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~¡¿«»‹›—–…‘’“”·•§¶†‡※‼⁇⁈、。「」『』【】〈〉")
SPECIAL = ["[MASK]", "[CLS]", "[SEP]", "[PAD]", "[UNK]", "[mask]", "[ MASK ]", "[[MASK]]"]
ODD = ["\u200b", "\u200d", "\ufeff", "\u00a0", "\t", "\n", "\r\n", "\x00", "\x07", "\x1b", "\x7f", "\u2028",
       "\u3000", "\ufffd", "\u0301", "\u0308", "\u20dd", "\ue000", "\U000f0000", "\u0378", "\u2e43", "\u180e"]


def soup(rng):
    blocks = [(0x20, 0x7e), (0xa0, 0x24f), (0x370, 0x52f), (0x590, 0x6ff), (0x900, 0x97f), (0x1e00, 0x1fff),
              (0x2000, 0x2bff), (0x2e00, 0x2e7f), (0x3000, 0x30ff), (0x4e00, 0x4eff), (0xac00, 0xacff),
              (0xfb00, 0xfdff), (0xfe00, 0xffff), (0x10400, 0x1044f), (0x13a0, 0x13ff), (0xab70, 0xabbf),
              (0x1f300, 0x1faff), (0x20000, 0x2004f), (0x0, 0x1f), (0xe0000, 0xe007f)]
    out = []
    for _ in range(rng.randint(1, 40)):
        lo, hi = rng.choice(blocks)
        cp = rng.randint(lo, hi)
        if 0xD800 <= cp <= 0xDFFF:
            continue
        out.append(chr(cp))
        if rng.random() < 0.2:
            out.append(" ")
    return "".join(out)


def sentence(rng, kind):
    if kind == 0:
        s = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 20)))
        return s.capitalize() + rng.choice([".", "!", "?", "...", ""])
    if kind == 1:
        return " ".join(rng.choice(ACCENTED + WORDS) for _ in range(rng.randint(1, 8)))
    if kind == 2:
        return " ".join(rng.choice(SCRIPTS + WORDS) for _ in range(rng.randint(1, 6)))
    if kind == 3:
        return "".join(rng.choice(EMOJI + WORDS + [" "]) for _ in range(rng.randint(1, 12)))
    if kind == 4:
        return "".join(rng.choice(PUNCT + WORDS + [" "]) for _ in range(rng.randint(1, 30)))
    if kind == 5:
        return "".join(rng.choice(ODD + WORDS + [" "]) for _ in range(rng.randint(1, 15)))
    if kind == 6:
        return rng.choice(["Visit https://example.com/a/b?c=1&d=2#frag now", "mail me: a.b+c@example.org",
                           "3.14159 2,718 $100.00 1e-9 0x1F 10% -42 +7", "def f(x): return x**2  # comment",
                           "C:\\Program Files\\thaw", "2026-11-28T08:05:00Z", "v1.2.3-rc.4"]) + " " + str(rng.random())
    if kind == 7:
        return " ".join(rng.choice(WORDS + SPECIAL) for _ in range(rng.randint(1, 10)))
    if kind == 8:
        return ("very long input " + " ".join(rng.choice(WORDS + SCRIPTS) for _ in range(rng.randint(150, 400))))
    if kind == 9:
        return rng.choice(["", " ", "\t\n", "\u3000", "\u200b", "\x00\x00", "a", ".", "##", "##ing"])
    if kind == 10:
        return "x" * rng.randint(95, 105) + " " + "é" * rng.randint(99, 101) + " ok"
    if kind == 11:
        # Decomposed and odd combining sequences.
        base = rng.choice(["e", "a", "o", "n", "ι", "и", "ア"])
        return base + "".join(chr(rng.randint(0x300, 0x36f)) for _ in range(rng.randint(1, 4))) + " " + rng.choice(WORDS)
    return soup(rng)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--tokenizer", required=True, help="tokenizer.json")
    ap.add_argument("--out", required=True)
    ap.add_argument("--count", type=int, default=1500)
    ap.add_argument("--max-length", type=int, default=256)
    ap.add_argument("--seed", type=int, default=20261128)
    args = ap.parse_args()
    tok = Tokenizer.from_file(args.tokenizer)
    tok.no_padding()
    tok.enable_truncation(max_length=args.max_length)
    rng = random.Random(args.seed)
    texts = [sentence(rng, i % 13) for i in range(args.count)]
    cases = [{"text": t, "ids": tok.encode(t).ids} for t in texts]
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump({"max_length": args.max_length, "cases": cases}, f, ensure_ascii=False)
    print(f"wrote {len(cases)} tokenizer cases to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
