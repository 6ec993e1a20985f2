#include "http/content_coding.h"

#include <strings.h>
#include <zlib.h>

#include <algorithm>
#include <cctype>

namespace thaw::http {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && ::strncasecmp(a.data(), b.data(), a.size()) == 0;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// zlib's window bits: 15+16 gzip only, 15 zlib-wrapped deflate, -15 raw deflate.
Result<std::string> inflate_all(std::string_view body, int window_bits, uint64_t limit, std::string_view what) {
  z_stream z{};
  if (inflateInit2(&z, window_bits) != Z_OK) return make_error(Code::kInternal, "zlib could not start");
  std::string out;
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(body.data()));
  z.avail_in = static_cast<uInt>(body.size());
  int rc = Z_OK;
  char buf[64 << 10];
  while (rc != Z_STREAM_END) {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof(buf);
    rc = inflate(&z, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) {
      inflateEnd(&z);
      return make_error(Code::kInvalidArgument, "the {} request body is corrupt ({})", what,
                        z.msg != nullptr ? z.msg : "truncated");
    }
    const size_t produced = sizeof(buf) - z.avail_out;
    if (out.size() + produced > limit) {
      inflateEnd(&z);
      return make_error(Code::kResourceExhausted, "the {} request body decodes to more than the limit of {} bytes",
                        what, limit);
    }
    out.append(buf, produced);
    if (rc == Z_OK && produced == 0 && z.avail_in == 0) {
      inflateEnd(&z);
      return make_error(Code::kInvalidArgument, "the {} request body is truncated", what);
    }
  }
  const bool trailing = z.avail_in > 0;
  inflateEnd(&z);
  if (trailing) return make_error(Code::kInvalidArgument, "the {} request body has bytes after its end", what);
  return out;
}

}  // namespace

Result<std::string> decode_content(std::string_view encoding, std::string_view body, uint64_t limit) {
  const std::string_view coding = trim(encoding);
  if (coding.empty() || iequals(coding, "identity")) {
    if (body.size() > limit)
      return make_error(Code::kResourceExhausted, "the request body is larger than the limit of {} bytes", limit);
    return std::string(body);
  }
  if (iequals(coding, "gzip") || iequals(coding, "x-gzip")) return inflate_all(body, 15 + 16, limit, "gzip");
  if (iequals(coding, "deflate")) {
    // "deflate" means zlib-wrapped (RFC 9110), but some clients send raw deflate.
    auto wrapped = inflate_all(body, 15, limit, "deflate");
    if (wrapped.is_ok() || wrapped.status().code() == Code::kResourceExhausted) return wrapped;
    return inflate_all(body, -15, limit, "deflate");
  }
  return make_error(Code::kUnsupported, "Content-Encoding '{}' is not supported; send gzip, deflate or identity",
                    coding);
}

Status decode_request_body(Request& request, uint64_t limit) {
  auto coding = request.header("content-encoding");
  if (!coding) return Status::ok();
  THAW_ASSIGN_OR_RETURN(std::string decoded, decode_content(*coding, request.body, limit));
  request.body = std::move(decoded);
  std::erase_if(request.headers, [](const auto& h) { return iequals(h.first, "content-encoding"); });
  return Status::ok();
}

Response content_coding_error(const Status& s) {
  switch (s.code()) {
    case Code::kUnsupported: return Response::error(415, s.message());
    case Code::kResourceExhausted: return Response::error(413, s.message());
    default: return Response::error(400, s.message());
  }
}

}  // namespace thaw::http
