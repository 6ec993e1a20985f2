#include "tokenizer/bert_normalizer.h"

#include <utility>

#include "tokenizer/bert_unicode.h"

namespace thaw::tokenizer {
namespace {

// Canonical ordering: stable sort of each run of non-starters by combining class.
void reorder_marks(std::u32string& s) {
  size_t i = 0;
  while (i < s.size()) {
    if (combining_class(s[i]) == 0) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < s.size() && combining_class(s[j]) != 0) ++j;
    for (size_t a = i + 1; a < j; ++a) {  // insertion sort: runs are short
      char32_t c = s[a];
      int cc = combining_class(c);
      size_t b = a;
      while (b > i && combining_class(s[b - 1]) > cc) {
        s[b] = s[b - 1];
        --b;
      }
      s[b] = c;
    }
    i = j;
  }
}

}  // namespace

void bert_normalize(const std::u32string& in, const BertNormalizerOptions& options,
                    std::u32string& out, std::u32string& scratch) {
  out.clear();
  out.reserve(in.size());
  for (char32_t cp : in) {
    if (options.clean_text) {
      if (is_bert_removed(cp)) continue;
      if (is_bert_whitespace(cp)) cp = U' ';
    }
    if (options.handle_chinese_chars && is_cjk_ideograph(cp)) {
      out.push_back(U' ');
      out.push_back(cp);
      out.push_back(U' ');
    } else {
      out.push_back(cp);
    }
  }
  if (options.strip_accents) {
    scratch.clear();
    bool any_non_ascii = false;
    for (char32_t cp : out) {
      if (cp >= 0x80) any_non_ascii = true;
      append_canonical_decomposition(cp, scratch);
    }
    if (any_non_ascii) {
      reorder_marks(scratch);
      out.clear();
      for (char32_t cp : scratch)
        if (!is_nonspacing_mark(cp)) out.push_back(cp);
    }
  }
  if (options.lowercase) {
    scratch.clear();
    for (char32_t cp : out) append_lowercase(cp, scratch);
    std::swap(out, scratch);
  }
}

}  // namespace thaw::tokenizer
