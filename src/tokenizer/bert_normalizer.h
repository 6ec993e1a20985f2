// BERT text normalisation (Hugging Face `BertNormalizer`): clean-up, CJK spacing, accent
// stripping and lowercasing, applied in that order to a sequence of code points.
#pragma once

#include <string>

namespace thaw::tokenizer {

struct BertNormalizerOptions {
  bool clean_text = true;            // drop control chars and U+FFFD, map whitespace to ' '
  bool handle_chinese_chars = true;  // surround CJK ideographs with spaces
  bool strip_accents = true;         // NFD, then drop nonspacing marks (Mn)
  bool lowercase = true;             // full Unicode lowercase, code point by code point
};

// Normalises `in` into `out` (cleared first). `scratch` is reused between calls to avoid allocation.
void bert_normalize(const std::u32string& in, const BertNormalizerOptions& options,
                    std::u32string& out, std::u32string& scratch);

}  // namespace thaw::tokenizer
