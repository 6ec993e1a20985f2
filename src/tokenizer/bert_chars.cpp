#include "tokenizer/bert_chars.h"

#include <utf8proc.h>

#include <algorithm>
#include <iterator>

namespace thaw::tokenizer {
namespace {

struct CodeRange {
  char32_t lo;
  char32_t hi;
};
struct LowercaseExpansion {
  char32_t from;
  size_t count;
  char32_t to[3];
};

#include "tokenizer/bert_char_tables.inc"

template <size_t N>
bool in_ranges(const CodeRange (&table)[N], char32_t c) {
  auto it = std::upper_bound(std::begin(table), std::end(table), c,
                             [](char32_t v, const CodeRange& r) { return v < r.lo; });
  if (it == std::begin(table)) return false;
  --it;
  return c >= it->lo && c <= it->hi;
}

}  // namespace

bool is_removed_by_clean_text(char32_t c) { return in_ranges(kRemovedByCleanText, c); }
bool is_bert_punctuation(char32_t c) { return in_ranges(kBertPunctuation, c); }
bool is_nonspacing_mark(char32_t c) { return in_ranges(kNonspacingMarks, c); }

bool is_bert_whitespace(char32_t c) {
  switch (c) {
    case 0x09: case 0x0A: case 0x0B: case 0x0C: case 0x0D: case 0x20: case 0x85: case 0xA0:
    case 0x1680: case 0x2028: case 0x2029: case 0x202F: case 0x205F: case 0x3000:
      return true;
    default:
      return c >= 0x2000 && c <= 0x200A;
  }
}

bool is_cjk_ideograph(char32_t c) { return in_ranges(kCjkIdeographs, c); }

size_t append_lowercase(char32_t c, char32_t* out) {
  for (const auto& e : kLowercaseExpansions) {
    if (e.from == c) {
      std::copy_n(e.to, e.count, out);
      return e.count;
    }
  }
  out[0] = static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(c)));
  return 1;
}

}  // namespace thaw::tokenizer
