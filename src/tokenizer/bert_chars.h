// Character classes used by BERT normalisation and pre-tokenisation, pinned to the reference
// tokenizer's Unicode tables (see tools/gen_bert_char_tables.py) so ids match it exactly.
#pragma once

#include <cstddef>
#include <cstdint>

namespace thaw::tokenizer {

// Dropped by clean_text: NUL, U+FFFD, controls other than \t \n \r, format and private-use chars.
bool is_removed_by_clean_text(char32_t c);
// Whitespace as BERT sees it (\t \n \r and Unicode White_Space).
bool is_bert_whitespace(char32_t c);
// Split off as its own word by the BERT pre-tokenizer.
bool is_bert_punctuation(char32_t c);
// Combining marks removed by strip_accents after canonical decomposition.
bool is_nonspacing_mark(char32_t c);
// CJK ideographs that handle_chinese_chars surrounds with spaces.
bool is_cjk_ideograph(char32_t c);
// Appends the lowercase form of `c` (one or more code points) to `out`; returns how many.
size_t append_lowercase(char32_t c, char32_t* out);

}  // namespace thaw::tokenizer
