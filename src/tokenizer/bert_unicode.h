// Per-code-point character classes of BERT text processing, as Hugging Face `tokenizers` defines them.
// Backed by utf8proc; where utf8proc's Unicode version disagrees with the tables `tokenizers` is built
// with, small override lists pin the `tokenizers` answer (tests/tokenizer checks every code point).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace thaw::tokenizer {

// NUL, U+FFFD and control/format/private-use characters (except \t \n \r): dropped by clean_text.
bool is_bert_removed(char32_t cp);
// Rust's char::is_whitespace (the Unicode White_Space property); \t \n \r included.
bool is_bert_whitespace(char32_t cp);
// ASCII punctuation/symbols plus Unicode general categories P*: each becomes its own word.
bool is_bert_punctuation(char32_t cp);
// CJK Unified Ideographs blocks that BERT surrounds with spaces.
bool is_cjk_ideograph(char32_t cp);
// General category Mn: removed after NFD when accents are stripped.
bool is_nonspacing_mark(char32_t cp);
// Appends the full lowercase mapping of `cp` (U+0130 becomes two code points) to `out`.
void append_lowercase(char32_t cp, std::u32string& out);
// Appends the canonical decomposition of `cp` (Hangul included) to `out`, without reordering.
void append_canonical_decomposition(char32_t cp, std::u32string& out);
// Canonical combining class, for the reordering step of NFD.
int combining_class(char32_t cp);

}  // namespace thaw::tokenizer
