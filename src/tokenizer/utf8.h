// UTF-8 <-> code points. Decoding never fails: each invalid byte becomes U+FFFD.
#pragma once

#include <string>
#include <string_view>

namespace thaw::tokenizer {

std::u32string decode_utf8(std::string_view bytes);
void append_utf8(char32_t c, std::string& out);

}  // namespace thaw::tokenizer
