// thaw.yaml parsing: any text gives a config or an error value, never a crash or an exception.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "manager/serve_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto config = thaw::manager::parse_serve_config(text, "/nonexistent-base");
  if (config.is_ok()) (void)thaw::manager::validate(*config);
  return 0;
}
