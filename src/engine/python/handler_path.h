// Which bundle file names may be written under a handler's folder when it is unpacked.
#pragma once

#include <string_view>

namespace thaw::engine {

// True for a relative path of plain components: no "", "." or ".." component, no leading '/', no
// NUL, and not one of the names the unpacker writes itself (".thaw-*" at the top).
bool is_safe_handler_path(std::string_view name);

}  // namespace thaw::engine
