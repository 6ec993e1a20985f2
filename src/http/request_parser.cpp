#include "http/request_parser.h"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

namespace thaw::http {

namespace {

constexpr size_t kBodyReserve = 1 << 20;  // a claimed length is trusted this far before bytes arrive

// tchar (RFC 9110 §5.6.2): the characters of a token.
constexpr bool is_tchar(unsigned char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+': case '-': case '.':
    case '^': case '_': case '`': case '|': case '~':
      return true;
    default:
      return false;
  }
}
bool is_token(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return is_tchar(static_cast<unsigned char>(c)); });
}
constexpr bool is_ows(char c) { return c == ' ' || c == '\t'; }
// field-vchar, SP or HTAB: visible ASCII and obs-text, never a control character or DEL.
constexpr bool is_field_char(unsigned char c) { return c == '\t' || c == ' ' || (c >= 0x21 && c != 0x7f); }
// qdtext (RFC 9110 §5.6.4).
constexpr bool is_qdtext(unsigned char c) {
  return c == '\t' || c == ' ' || c == 0x21 || (c >= 0x23 && c <= 0x5b) || (c >= 0x5d && c <= 0x7e) || c >= 0x80;
}
// What a Host value may hold: uri-host [":" port] (unreserved, pct-encoded, sub-delims, IP literals).
constexpr bool is_host_char(unsigned char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::strchr("-._~%!$&'()*+,;=:[]", c) != nullptr && c != 0;
}

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

// Calls fn(element) for each non-empty element of a comma-separated list, trimmed.
template <class Fn>
void for_each_element(std::string_view list, Fn fn) {
  while (!list.empty()) {
    size_t comma = list.find(',');
    std::string_view element = trim_ows(list.substr(0, comma));
    if (!element.empty()) fn(element);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] ), the value a token
// or a quoted-string.
bool valid_chunk_ext(std::string_view ext) {
  size_t i = 0;
  const size_t n = ext.size();
  auto skip_ows = [&] {
    while (i < n && is_ows(ext[i])) ++i;
  };
  auto token = [&] {
    size_t start = i;
    while (i < n && is_tchar(static_cast<unsigned char>(ext[i]))) ++i;
    return i > start;
  };
  auto quoted = [&] {
    if (i >= n || ext[i] != '"') return false;
    for (++i; i < n; ++i) {
      const auto c = static_cast<unsigned char>(ext[i]);
      if (c == '"') {
        ++i;
        return true;
      }
      if (c == '\\') {
        if (++i >= n) return false;
        const auto e = static_cast<unsigned char>(ext[i]);
        if (!(e == '\t' || e == ' ' || (e >= 0x21 && e != 0x7f))) return false;
      } else if (!is_qdtext(c)) {
        return false;
      }
    }
    return false;
  };
  while (i < n) {
    skip_ows();
    if (i >= n || ext[i] != ';') return false;
    ++i;
    skip_ows();
    if (!token()) return false;
    size_t after_name = i;
    skip_ows();
    if (i < n && ext[i] == '=') {
      ++i;
      skip_ows();
      if (!token() && !quoted()) return false;
    } else {
      i = after_name;
    }
  }
  return true;
}

}  // namespace

void RequestParser::reset() {
  ParserLimits limits = limits_;
  *this = RequestParser(limits);
}

bool RequestParser::refuse(int status, std::string message) {
  state_ = State::kFailed;
  error_ = ParseError{status, std::move(message)};
  return false;
}

size_t RequestParser::feed(std::string_view data) {
  size_t used = 0;
  for (;;) {
    const char* at = data.data() + used;
    const size_t avail = data.size() - used;
    switch (state_) {
      case State::kStart:
      case State::kFields:
      case State::kTrailers:
      case State::kChunkSize: {
        const bool chunk_line = state_ == State::kChunkSize;
        const void* nl = avail ? std::memchr(at, '\n', avail) : nullptr;
        const size_t line_bytes = nl ? static_cast<size_t>(static_cast<const char*>(nl) - at) + 1 : avail;
        if (chunk_line ? line_bytes > limits_.max_chunk_line : head_bytes_ + line_bytes > limits_.max_header_bytes) {
          if (chunk_line)
            refuse(400, fmt::format("a chunk-size line is longer than {} bytes", limits_.max_chunk_line));
          else
            refuse(431, fmt::format("request {} is larger than the limit of {} bytes",
                                    state_ == State::kTrailers ? "trailer section" : "header", limits_.max_header_bytes));
          return used;
        }
        if (!nl) return used;
        if (line_bytes < 2 || at[line_bytes - 2] != '\r') {
          refuse(400, "a line ends in a bare LF instead of CRLF");
          return used;
        }
        std::string_view line(at, line_bytes - 2);
        if (line.find('\r') != std::string_view::npos) {
          refuse(400, "a bare CR inside a line");
          return used;
        }
        used += line_bytes;
        if (!chunk_line) head_bytes_ += line_bytes;
        bool ok = true;
        if (state_ == State::kStart) {
          if (!line.empty()) ok = on_request_line(line);  // empty lines before a request are skipped
        } else if (state_ == State::kFields) {
          ok = line.empty() ? finish_head() : on_field_line(line, false);
        } else if (state_ == State::kTrailers) {
          if (line.empty()) {
            state_ = State::kDone;
            return used;
          }
          ok = on_field_line(line, true);
        } else {
          ok = on_chunk_size(line);
        }
        if (!ok) return used;
        if (state_ == State::kDone) return used;
        break;
      }
      case State::kBody:
      case State::kChunkData: {
        const size_t take = static_cast<size_t>(std::min<uint64_t>(remaining_, avail));
        request_.body.append(at, take);
        used += take;
        remaining_ -= take;
        if (take > 0) body_started_ = true;
        if (remaining_ > 0) return used;
        state_ = state_ == State::kBody ? State::kDone : State::kChunkEnd;
        if (state_ == State::kDone) return used;
        break;
      }
      case State::kChunkEnd: {
        if ((avail >= 1 && at[0] != '\r') || (avail >= 2 && at[1] != '\n')) {
          refuse(400, "chunk data is not followed by CRLF");
          return used;
        }
        if (avail < 2) return used;
        used += 2;
        state_ = State::kChunkSize;
        break;
      }
      case State::kDone:
      case State::kFailed:
        return used;
    }
  }
}

bool RequestParser::on_request_line(std::string_view line) {
  // request-line = method SP request-target SP HTTP-version
  const size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos || sp1 == 0) return refuse(400, "malformed request line");
  std::string_view method = line.substr(0, sp1);
  if (!is_token(method)) return refuse(400, "malformed request method");
  std::string_view rest = line.substr(sp1 + 1);
  const size_t sp2 = rest.find(' ');
  if (sp2 == std::string_view::npos || sp2 == 0) return refuse(400, "malformed request line");
  std::string_view target = rest.substr(0, sp2);
  for (char ch : target) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x21 || c > 0x7e) return refuse(400, "invalid character in the request target");
  }
  std::string_view v = rest.substr(sp2 + 1);
  if (v.size() != 8 || v.substr(0, 5) != "HTTP/" || v[5] < '0' || v[5] > '9' || v[6] != '.' || v[7] < '0' ||
      v[7] > '9')
    return refuse(400, "malformed HTTP version");
  if (v[5] != '1') return refuse(505, fmt::format("HTTP/{}.{} is not supported; use HTTP/1.1", v[5], v[7]));
  version_ = v[7] == '0' ? 10 : 11;  // a later 1.x is read as 1.1 (RFC 9110 §2.5)
  request_.method = std::string(method);
  request_.target = std::string(target);
  const size_t q = target.find('?');
  request_.path = std::string(target.substr(0, q));
  if (q != std::string_view::npos) request_.query = std::string(target.substr(q + 1));
  state_ = State::kFields;
  return true;
}

bool RequestParser::on_field_line(std::string_view line, bool trailer) {
  if (++fields_ > limits_.max_fields)
    return refuse(431, fmt::format("more than {} {} fields", limits_.max_fields, trailer ? "trailer" : "header"));
  if (is_ows(line.front()))
    return refuse(400, "obsolete line folding (a field line that starts with whitespace) is not accepted");
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos) return refuse(400, "a field line without a colon");
  std::string_view name = line.substr(0, colon);
  if (!name.empty() && is_ows(name.back()))
    return refuse(400, "whitespace between a field name and its colon is not accepted");
  if (!is_token(name)) return refuse(400, "malformed field name");
  std::string_view value = trim_ows(line.substr(colon + 1));
  for (char ch : value)
    if (!is_field_char(static_cast<unsigned char>(ch)))
      return refuse(400, fmt::format("a control character in the value of field '{}'", name));
  if (trailer) return true;  // trailer fields are read and dropped

  if (iequals(name, "host")) {
    ++hosts_;
    if (!std::all_of(value.begin(), value.end(), [](char c) { return is_host_char(static_cast<unsigned char>(c)); }))
      return refuse(400, "malformed Host");
  } else if (iequals(name, "content-length")) {
    if (++content_lengths_ > 1) return refuse(400, "more than one Content-Length");
    if (value.empty() || !std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; }))
      return refuse(400, "Content-Length must be a decimal number of bytes");
    uint64_t n = 0;
    for (char c : value) {
      const uint64_t digit = static_cast<uint64_t>(c - '0');
      if (n > (UINT64_MAX - digit) / 10) {
        n = UINT64_MAX;
        break;
      }
      n = n * 10 + digit;
    }
    if (n > limits_.max_body_bytes)
      return refuse(413, fmt::format("request body is larger than the limit of {} bytes", limits_.max_body_bytes));
    content_length_ = n;
  } else if (iequals(name, "transfer-encoding")) {
    transfer_encoding_ = true;
    for_each_element(value, [&](std::string_view coding) {
      ++codings_;
      if (!iequals(coding, "chunked") && !bad_coding_) {
        bad_coding_ = true;
        bad_coding_name_ = is_token(coding) ? std::string(coding) : "(malformed)";
      }
    });
  } else if (iequals(name, "connection")) {
    for_each_element(value, [&](std::string_view option) {
      if (iequals(option, "close")) connection_close_ = true;
      if (iequals(option, "keep-alive")) connection_keep_alive_ = true;
    });
  } else if (iequals(name, "expect")) {
    if (iequals(value, "100-continue")) expect_continue_ = true;
  }
  request_.headers.emplace_back(std::string(name), std::string(value));
  return true;
}

bool RequestParser::finish_head() {
  if (version_ == 11 && hosts_ != 1)
    return refuse(400, hosts_ == 0 ? "an HTTP/1.1 request needs a Host header" : "more than one Host header");
  if (hosts_ > 1) return refuse(400, "more than one Host header");
  if (transfer_encoding_) {
    if (version_ == 10) return refuse(400, "Transfer-Encoding in an HTTP/1.0 request");
    if (content_lengths_ > 0)
      return refuse(400, "Transfer-Encoding and Content-Length together: the body's length is ambiguous; send one");
    if (bad_coding_)
      return refuse(400, fmt::format("transfer coding '{}' is not supported; only chunked is", bad_coding_name_));
    if (codings_ != 1) return refuse(400, "Transfer-Encoding must name chunked exactly once");
    chunked_ = true;
  }
  head_done_ = true;
  keep_alive_ = version_ == 11 ? !connection_close_ : connection_keep_alive_ && !connection_close_;
  expect_continue_ = expect_continue_ && version_ == 11 && (chunked_ || content_length_ > 0);
  head_bytes_ = 0;  // from here on: the trailer section's size
  fields_ = 0;
  if (chunked_) {
    state_ = State::kChunkSize;
  } else if (content_length_ > 0) {
    request_.body.reserve(static_cast<size_t>(std::min<uint64_t>(content_length_, kBodyReserve)));
    remaining_ = content_length_;
    state_ = State::kBody;
  } else {
    state_ = State::kDone;
  }
  return true;
}

bool RequestParser::on_chunk_size(std::string_view line) {
  // chunk-size [ chunk-ext ]
  size_t i = 0;
  uint64_t size = 0;
  for (; i < line.size(); ++i) {
    const int h = hex_value(line[i]);
    if (h < 0) break;
    if (i >= 16) return refuse(400, "a chunk size of more than 16 hex digits");
    size = size * 16 + static_cast<uint64_t>(h);
  }
  if (i == 0) return refuse(400, "malformed chunk size");
  if (!valid_chunk_ext(line.substr(i))) return refuse(400, "malformed chunk extension");
  body_started_ = true;
  if (size == 0) {
    state_ = State::kTrailers;
    return true;
  }
  if (size > limits_.max_body_bytes - std::min<uint64_t>(limits_.max_body_bytes, request_.body.size()))
    return refuse(413, fmt::format("request body is larger than the limit of {} bytes", limits_.max_body_bytes));
  remaining_ = size;
  state_ = State::kChunkData;
  return true;
}

}  // namespace thaw::http
