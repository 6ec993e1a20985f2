// Request bodies sent with a content coding (Content-Encoding: gzip or deflate, as tritonclient's
// request_compression_algorithm sends them), decoded under a limit on the decoded size so that a
// small compressed body cannot expand without bound (a compression bomb).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"
#include "http/message.h"

namespace thaw::http {

// Decodes `body` sent with `encoding` ("gzip", "x-gzip", "deflate" — zlib-wrapped or raw —, or
// "identity"). Errors: kUnsupported another coding (answer 415); kResourceExhausted the decoded body
// would pass `limit` bytes (413); kInvalidArgument the bytes are not valid for the coding (400).
Result<std::string> decode_content(std::string_view encoding, std::string_view body, uint64_t limit);

// Decodes `request`'s body in place when it has a Content-Encoding, and drops that header.
Status decode_request_body(Request& request, uint64_t limit);

// The response for a decoding error: 415, 413 or 400 with the reason.
Response content_coding_error(const Status& status);

}  // namespace thaw::http
