#!/usr/bin/env python3
"""Writes the expected Hugging Face `tokenizers` output that tests/tokenizer compares against.

Builds a deterministic (seeded) set of varied sentences and sentence pairs, encodes them with
Tokenizer.from_file(tokenizer.json) truncated to --max-length, and records, for every Unicode
code point, how BertNormalizer and BertPreTokenizer treat it.

Usage: make_tokenizer_cases.py --tokenizer models/src/minilm/tokenizer.json --out cases.json
"""
import argparse
import json
import random
import sys

from tokenizers import Tokenizer, normalizers, pre_tokenizers

WORDS = ("the quick brown fox jumps over lazy dog serverless inference model load cold start "
         "warm instance gateway request latency embedding sentence token vector memory budget "
         "policy ladder zygote fork bundle tensor weight page cache disk network throughput "
         "running unbelievably antidisestablishmentarianism tokenization preprocessing").split()
ACCENTED = ("café naïve résumé Ångström Straße Øresund İstanbul façade jalapeño crème brûlée "
            "Ærøskøbing Dvořák Łódź São Paulo Zürich Škoda Ğüzel cañón fiancée ÉCOLE Ÿ ß ẞ "
            "Ǆemal ǅ ǆ ﬁnal ﬂow Ⅻ ⅻ").split()
SCRIPTS = [
    "東京は日本の首都です。", "我爱北京天安门，天安门上太阳升！", "漢字と仮名の混じった文章", "𠮷野家で牛丼を食べた",
    "カタカナとひらがなとﾊﾝｶｸｶﾅ", "こんにちは、世界！", "한국어 문장입니다. 서울은 크다", "안녕하세요",
    "مرحبا بالعالم", "اَلْعَرَبِيَّةُ لُغَةٌ جَمِيلَةٌ", "שָׁלוֹם עוֹלָם", "Привет, мир! Ёлка и ЁЖ",
    "Съешь же ещё этих мягких французских булок", "Γειά σου Κόσμε· ΆΈΉΊΌΎΏ ΣΊΣΥΦΟΣ ς", "ὀδυσσεύς ᾅ ῼ",
    "नमस्ते दुनिया", "क्षत्रिय हिन्दी", "สวัสดีชาวโลก", "ສະບາຍດີ", "ሰላም ልዑል", "Ꭰ Ꮳ ꭰ ꮳ Ᏸ ᏸ",
    "Ა ა Ჾ ჾ", "Ⴀ ⴀ", "ⲁⲃⲅ Ⲁ", "𐐀𐐨 Deseret", "Ᾰ ᾰ ǰ", "Tiếng Việt có dấu", "ǅungla",
    "ꙮ 𓀀 𓂀 𒀭", "ᚠᚢᚦᚨᚱᚲ ᚛ᚁ᚜", "ⴰⵣⵓⵍ", "ᐊᐃᑦᑎᓯ", "ꦲꦏ꧀ꦱꦫ", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝐁𝐨𝐥𝐝 𝕯𝖔𝖚𝖇𝖑𝖊",
    "ＡＢＣ ｆｕｌｌｗｉｄｔｈ １２３", "①②③ ⑴ ⒜ ㈱ ㍿", "℃ ℉ № ™ ℡ Å K",
]
EMOJI = ["🙂", "🚀", "👍🏽", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🇯🇵", "🇺🇳", "1️⃣", "#️⃣", "❤️", "🫠", "🥲",
         "🧑🏿‍🚀", "👩🏻‍❤️‍💋‍👨🏼", "🏴󠁧󠁢󠁳󠁣󠁴󠁿", "😀😃😄", "🦄", "☃", "⚡", "♞", "☕", "🀄", "🃏"]
PUNCT = list("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~¡¿«»‹›‘’“”„‟†‡•…‰′″‴※‼⁇⁈⁉、。〃〈〉《》「」『』【】〔〕〖〗〘〙〚〛〜〝〞〟・"
             "–—―‖‗¶§·¦¬¯°±²³´µ¸¹º¼½¾×÷¢£¤¥€₹₽₿∑∫≈≠≤≥∞√∂∆∇∈∉∩∪⊂⊃⊕⊗←↑→↓↔⇒⇔■□▲△▼▽◆◇○●★☆"
             "٪؛؟،჻᙭᙮᠁᠂᠃᠄᠅᠆᠇᠈᠉᠊⸰⸱⸲⸳⸴⸵⸶⸷⸸⸹⸺⸻⸼⸽⸾⸿⹀⹁⹂⹃⹄⹅⹎⹏⹐⹑⹒꘍꘎꘏꛲꛳꛴꛵꛶꛷")
CONTROL = ["\x00", "\x01", "\x07", "\x08", "\t", "\n", "\r", "\x0b", "\x0c", "\x1b", "\x1c", "\x1f", "\x7f",
           "\x85", "\xa0", "\xad", "\u200b", "\u200c", "\u200d", "\u200e", "\u2028", "\u2029", "\u2060",
           "\u2066", "\ufeff", "\ufffd", "\ufff9", "\ue000", "\U000f0000", "\U000e0001", "\U000e0041",
           "\u0378", "\u0890", "\u08e2", "\U000110cd", "\U00013430", "\U0001343f", "\u1680", "\u3000",
           "\u2003", "\u205f", "\u180e", "\u061c", "\u0600"]
COMBINING = ["\u0301", "\u0300", "\u0308", "\u0323", "\u0327", "\u030c", "\u0338", "\u20dd", "\u20e3",
             "\u0489", "\u0903", "\u093c", "\u0e31", "\ufe0f", "\ufe0e", "\U0001d165", "\U0001d16d"]
URLS = ["https://example.com/path?q=1&x=%20y#frag", "http://127.0.0.1:8080/v2/models/minilm/infer",
        "user.name+tag@example.co.uk", "C:\\Program Files\\thaw\\thaw.exe", "~/models/*.thaw",
        "git@github.com:org/repo.git", "s3://bucket/key/part-00001.parquet"]
SPECIAL = ["[CLS]", "[SEP]", "[MASK]", "[PAD]", "[UNK]", "[cls]", "[MASK", "[[MASK]]", "[SEP][SEP]"]


# Hand-picked inputs where BERT tokenizers commonly go wrong; always the first sentences.
EDGE_CASES = [
    "", " ", "\x00", "\ufffd", "a\u200db", "İstanbul İ", "İ̇", "ǅ ǈ ǋ ǲ", "ΣΊΣΥΦΟΣ σίσυφος ς", "ß ẞ ŉ ǰ ΐ",
    "e\u0301 e\u0301\u0323 e\u0323\u0301 a\u0308\u0323\u0301", "\u0301start", "Å Å Å", "ﬁ ﬂ ﬃ",
    "한국어 한국어", "한", "東京 東 京", "\U00020000\U0002a6df\U0002a6e0\U0002b81f\U0002b820\U0002ceaf",
    "\u3400\u4dbf\u4dc0\u9fff\ua000\uf900\ufaff\ufb00", "[CLS][SEP][MASK][PAD][UNK]", "[MASK]ed [masked]",
    "x[SEP]y", "[[UNK]]", "\t\n\r\x0b\x0c\x85\xa0\u1680\u2000\u200a\u2028\u2029\u202f\u205f\u3000",
    "\x1c\x1d\x1e\x1f", "\u180e\u200b\u2060\ufeff", "\u2e43\u2e5d\u166d\U000111c9\u1734\U00011938",
    "\ua7cb\ua7dc\u1c89\U00010d50\U00016ea0", "\u0890\u08e2\U00013430", "a" * 100, "a" * 101,
    "é" * 100 + " " + "é" * 101, "un" + "aff" * 40, "1,000,000.00 3.14159 -42 1e-9 ½ ⅞ ²³",
    "👨‍👩‍👧‍👦 👍🏽 🇯🇵 1️⃣ 🏴󠁧󠁢󠁳󠁣󠁴󠁿", "\ue000\U000f0000\U0010fffd", "\u0378\U0001fffe\U0010ffff",
]


def rand_codepoint(rng):
    while True:
        cp = rng.choice([rng.randrange(0x20, 0x800), rng.randrange(0x800, 0x10000),
                         rng.randrange(0x10000, 0x30000), rng.randrange(0, 0x110000)])
        if not 0xD800 <= cp <= 0xDFFF:
            return chr(cp)


def rand_word(rng):
    kind = rng.randrange(12)
    if kind < 4:
        w = rng.choice(WORDS)
        return w.upper() if rng.random() < 0.15 else (w.capitalize() if rng.random() < 0.2 else w)
    if kind == 4:
        return rng.choice(ACCENTED)
    if kind == 5:
        return rng.choice(SCRIPTS)
    if kind == 6:
        return "".join(rng.choice(EMOJI) for _ in range(rng.randint(1, 3)))
    if kind == 7:
        return "".join(rng.choice(PUNCT) for _ in range(rng.randint(1, 4)))
    if kind == 8:
        return str(rng.choice([rng.randint(0, 10**9), round(rng.uniform(-1e4, 1e4), rng.randint(0, 5))]))
    if kind == 9:  # unknown word
        return "".join(rng.choice("bcdfghjklmnpqrstvwxzqxj") for _ in range(rng.randint(3, 14)))
    if kind == 10:
        base = rng.choice("aeiouAEIOUnczsyαωиж")
        return base + "".join(rng.choice(COMBINING) for _ in range(rng.randint(1, 3)))
    return rng.choice(URLS + SPECIAL)


def sentence(rng, i):
    kind = i % 20
    if kind == 0:
        return " ".join(rand_word(rng) for _ in range(rng.randint(200, 500)))  # truncated
    if kind == 1:
        return "".join(rand_codepoint(rng) for _ in range(rng.randint(1, 60)))
    if kind == 2:
        return rng.choice(["", " ", "\t\n ", "\u3000\u2003", "\x00\x00", "\ufffd", "\u200b", "   \r\n  "])
    if kind == 3:  # control characters sprinkled into words
        words = [rand_word(rng) for _ in range(rng.randint(2, 8))]
        return "".join(w + rng.choice(CONTROL) for w in words)
    if kind == 4:  # very long single word -> [UNK]
        return rng.choice(["a", "ab", "é", "東"]) * rng.randint(95, 130) + " tail"
    if kind == 5:  # no spaces: punctuation and scripts glued together
        return "".join(rand_word(rng) for _ in range(rng.randint(2, 10)))
    sep = rng.choice([" ", " ", " ", "  ", "\t", "\n", "\u00a0", "\u3000", ""])
    return sep.join(rand_word(rng) for _ in range(rng.randint(1, 25)))


def ranges(cps):
    out = []
    for cp in cps:
        if out and out[-1][1] == cp - 1:
            out[-1][1] = cp
        else:
            out.append([cp, cp])
    return out


def codepoint_table():
    """How BertNormalizer / BertPreTokenizer treat each code point on its own."""
    cps = [c for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    sep = "\x01"

    def per_char(normalizer, chunk):
        out = normalizer.normalize_str(sep + sep.join(chr(c) for c in chunk) + sep)
        parts = out.split(sep)[1:-1]
        assert len(parts) == len(chunk)
        return parts

    def each(normalizer):
        for i in range(0, len(cps), 4096):
            chunk = [c for c in cps[i:i + 4096] if c != ord(sep)]  # the separator maps to itself
            yield from zip(chunk, per_char(normalizer, chunk))

    def bert(**kw):
        opts = dict(clean_text=False, handle_chinese_chars=False, strip_accents=False, lowercase=False)
        opts.update(kw)
        return normalizers.BertNormalizer(**opts)

    removed, whitespace, cjk = [], [], []
    clean = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=False, strip_accents=False,
                                       lowercase=False)
    for i in range(0, len(cps), 4096):  # \x01 itself is removed by clean_text: use 'a' instead
        chunk = cps[i:i + 4096]
        parts = clean.normalize_str("a" + "a".join(chr(c) for c in chunk if c != 0x61) + "a").split("a")[1:-1]
        for c, p in zip([c for c in chunk if c != 0x61], parts):
            if p == "":
                removed.append(c)
            elif p == " " and c != 0x20:
                whitespace.append(c)
    for c, p in each(bert(handle_chinese_chars=True)):
        if p == " " + chr(c) + " ":
            cjk.append(c)
    strip = {c: p for c, p in each(bert(strip_accents=True)) if p != chr(c)}
    lower = {c: p for c, p in each(bert(lowercase=True)) if p != chr(c)}
    pre = pre_tokenizers.BertPreTokenizer()
    punctuation, split_ws = [], []
    for c in cps:
        if c in (0x61,):
            continue
        pieces = pre.pre_tokenize_str("a" + chr(c) + "a")
        if len(pieces) == 3:
            punctuation.append(c)
        elif len(pieces) == 2:
            split_ws.append(c)
    return {
        "removed": ranges(removed), "whitespace": ranges(whitespace), "cjk": ranges(cjk),
        "punctuation": ranges(punctuation), "split_whitespace": ranges(split_ws),
        "strip_accents": [[c, [ord(x) for x in p]] for c, p in sorted(strip.items())],
        "lowercase": [[c, [ord(x) for x in p]] for c, p in sorted(lower.items())],
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokenizer", required=True, help="tokenizer.json to encode with")
    ap.add_argument("--out", required=True, help="JSON file to write")
    ap.add_argument("--count", type=int, default=1200, help="number of single sentences")
    ap.add_argument("--pairs", type=int, default=300, help="number of sentence pairs")
    ap.add_argument("--max-length", type=int, default=256)
    ap.add_argument("--seed", type=int, default=20261128)
    ap.add_argument("--no-codepoints", action="store_true", help="skip the per-code-point table")
    args = ap.parse_args()

    rng = random.Random(args.seed)
    tok = Tokenizer.from_file(args.tokenizer)
    tok.no_padding()
    tok.enable_truncation(args.max_length)
    texts = EDGE_CASES + [sentence(rng, i) for i in range(args.count)]
    singles = [{"text": t, "ids": e.ids, "type_ids": e.type_ids}
               for t, e in zip(texts, tok.encode_batch(texts))]
    pairs = []
    for i in range(args.pairs):
        a, b = sentence(rng, rng.randrange(3, 20)), sentence(rng, rng.randrange(0, 20))
        max_length = rng.choice([3, 4, 5, 8, 16, 32, 64, 128, 256, 512])
        tok.enable_truncation(max_length)
        e = tok.encode(a, b)
        pairs.append({"a": a, "b": b, "max_length": max_length, "ids": e.ids, "type_ids": e.type_ids})
    doc = {"max_length": args.max_length, "seed": args.seed, "singles": singles, "pairs": pairs}
    if not args.no_codepoints:
        doc["codepoints"] = codepoint_table()
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=True)
    print(f"wrote {len(singles)} sentences, {len(pairs)} pairs to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
