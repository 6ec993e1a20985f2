// Turns the bytes a generator produces token by token into text safe to stream: never a partial
// UTF-8 sequence, never the start of a stop string that may still complete, nothing from the first
// stop string on. Pure code, no runtime: one per generation, used from one thread.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace thaw::engine {

class StopFilter {
 public:
  explicit StopFilter(std::vector<std::string> stops = {});

  // Adds the next piece; returns the text now safe to send (possibly empty). After a stop string
  // is found, returns the text before it and stopped() turns true; later pushes return nothing.
  std::string push(std::string_view piece);
  // The text still held back at the end of generation (an incomplete UTF-8 tail becomes U+FFFD).
  std::string flush();
  bool stopped() const { return stopped_; }

 private:
  std::vector<std::string> stops_;
  std::string held_;
  bool stopped_ = false;
};

// Bytes at the end of `s` that start a UTF-8 sequence not yet complete (0 to 3).
size_t incomplete_utf8_tail(std::string_view s);

}  // namespace thaw::engine
