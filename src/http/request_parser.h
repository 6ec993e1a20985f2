// A strict HTTP/1.1 request parser (RFC 9112) for the server, fed bytes as they arrive, one
// request at a time. It never guesses a body's length: a request whose framing two parties could
// read two ways (request smuggling) is refused, never served.
//
// Refused with 400 (the connection must then close): Transfer-Encoding with Content-Length; a
// transfer coding other than a single "chunked"; Transfer-Encoding in HTTP/1.0; more than one
// Content-Length or one that is not 1*DIGIT; obsolete line folding (a field line starting with
// SP/HTAB); whitespace between a field name and its colon; a bare CR or LF as a line end; control
// characters in a field value or the request target; an HTTP/1.1 request without exactly one
// Host; a malformed chunk size, extension or chunk end. Heads (and trailer sections) over the limit
// get 431, bodies over the limit 413, an HTTP major version other than 1 gets 505.
// Empty lines before a request line are skipped (RFC 9112 §2.2); trailer fields are discarded.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "http/message.h"

namespace thaw::http {

struct ParserLimits {
  size_t max_header_bytes = 16 << 10;  // request line, fields and blank line; the same for trailers
  uint64_t max_body_bytes = 64 << 20;
  size_t max_fields = 256;             // header (or trailer) field lines
  size_t max_chunk_line = 4096;        // a chunk-size line with its extensions
};

struct ParseError {
  int status = 400;
  std::string message;
};

class RequestParser {
 public:
  explicit RequestParser(ParserLimits limits = {}) : limits_(limits) {}

  // Forgets the request parsed so far; the next feed() starts a new one.
  void reset();

  // Parses as much of `data` as it can and returns how many bytes it used; the caller keeps the
  // rest (an incomplete line, or the next pipelined request) and offers it again with more bytes.
  // Stops at the end of a request and at the first error.
  size_t feed(std::string_view data);

  bool head_done() const { return head_done_; }
  bool done() const { return state_ == State::kDone; }
  bool failed() const { return state_ == State::kFailed; }
  const ParseError& error() const { return error_; }
  // Nothing of a request has arrived yet (only skipped empty lines, if anything).
  bool idle() const { return state_ == State::kStart && head_bytes_ == 0; }

  // The request: method, target, path, query and headers once head_done(), the body once done().
  Request& request() { return request_; }
  unsigned version() const { return version_; }  // 10 or 11
  bool keep_alive() const { return keep_alive_; }
  // An HTTP/1.1 "Expect: 100-continue" whose body has not started yet.
  bool expects_continue() const { return expect_continue_ && head_done_ && !body_started_ && !done() && !failed(); }
  bool chunked() const { return chunked_; }

 private:
  enum class State { kStart, kFields, kBody, kChunkSize, kChunkData, kChunkEnd, kTrailers, kDone, kFailed };

  bool refuse(int status, std::string message);  // always false
  // One complete line (without its CRLF) of the head or the trailers; false on error.
  bool on_request_line(std::string_view line);
  bool on_field_line(std::string_view line, bool trailer);
  bool finish_head();
  bool on_chunk_size(std::string_view line);

  ParserLimits limits_;
  State state_ = State::kStart;
  bool head_done_ = false;
  ParseError error_;
  Request request_;
  unsigned version_ = 11;
  size_t head_bytes_ = 0;  // bytes of the head (or trailer section) consumed so far
  size_t fields_ = 0;
  // Framing fields seen in the head.
  int hosts_ = 0;
  int content_lengths_ = 0;
  int codings_ = 0;         // transfer codings listed, over every Transfer-Encoding line
  bool bad_coding_ = false;
  std::string bad_coding_name_;
  bool transfer_encoding_ = false;
  bool connection_close_ = false, connection_keep_alive_ = false;
  bool expect_continue_ = false;
  // The body.
  bool chunked_ = false;
  bool keep_alive_ = true;
  bool body_started_ = false;
  uint64_t content_length_ = 0;
  uint64_t remaining_ = 0;  // of the body (Content-Length) or of the current chunk
};

}  // namespace thaw::http
