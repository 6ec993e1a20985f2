#include "http/request_parser.h"

#include <gtest/gtest.h>

namespace thaw::http {
namespace {

struct Parsed {
  bool done = false;
  bool failed = false;
  int status = 0;
  std::string message;
  size_t used = 0;
  std::string body;
  Request request;
};

// Feeds `bytes` in pieces of `step` bytes (0: all at once), the way a socket delivers them.
Parsed parse(const std::string& bytes, size_t step = 0, ParserLimits limits = {}) {
  RequestParser p(limits);
  Parsed out;
  std::string pending;
  size_t offered = 0;
  while (!p.done() && !p.failed()) {
    if (offered == bytes.size() && pending.empty()) break;
    size_t n = step == 0 ? bytes.size() - offered : std::min(step, bytes.size() - offered);
    if (n == 0) break;
    pending.append(bytes, offered, n);
    offered += n;
    size_t used = p.feed(pending);
    out.used += used;
    pending.erase(0, used);
  }
  out.done = p.done();
  out.failed = p.failed();
  if (p.failed()) {
    out.status = p.error().status;
    out.message = p.error().message;
  }
  if (p.done()) {
    out.body = p.request().body;
    out.request = std::move(p.request());
  }
  return out;
}

void expect_refused(const std::string& bytes, int status, const std::string& why_contains = "") {
  for (size_t step : {size_t{0}, size_t{1}, size_t{7}}) {
    Parsed r = parse(bytes, step);
    EXPECT_TRUE(r.failed) << "accepted (step " << step << "): " << bytes;
    EXPECT_EQ(r.status, status) << r.message << " (step " << step << "): " << bytes;
    if (!why_contains.empty()) {
      EXPECT_NE(r.message.find(why_contains), std::string::npos) << r.message;
    }
  }
}

TEST(RequestParser, ParsesAPostWithContentLengthInAnyPieces) {
  const std::string req = "POST /v2/models/m/infer?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello";
  for (size_t step : {size_t{0}, size_t{1}, size_t{3}, size_t{16}}) {
    Parsed r = parse(req + "GET / HTTP/1.1\r\n", step);
    ASSERT_TRUE(r.done) << r.message;
    EXPECT_EQ(r.body, "hello");
    EXPECT_EQ(r.used, req.size()) << "the pipelined request is left for later";
    EXPECT_EQ(r.request.method, "POST");
    EXPECT_EQ(r.request.path, "/v2/models/m/infer");
    EXPECT_EQ(r.request.query, "x=1");
    EXPECT_EQ(r.request.header("content-length"), "5");
  }
}

TEST(RequestParser, DecodesChunkedBodiesWithExtensionsAndTrailers) {
  const std::string req =
      "POST /e HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5;name=value;q=\"a \\\"b\"\r\nhello\r\n1 ; x\r\n!\r\n0\r\nX-Trailer: t\r\n\r\n";
  for (size_t step : {size_t{0}, size_t{1}, size_t{5}}) {
    Parsed r = parse(req, step);
    ASSERT_TRUE(r.done) << r.message;
    EXPECT_EQ(r.body, "hello!");
    EXPECT_EQ(r.used, req.size());
    EXPECT_FALSE(r.request.header("x-trailer")) << "trailer fields are dropped, never merged";
  }
}

TEST(RequestParser, KeepAliveFollowsTheVersionAndConnection) {
  RequestParser p;
  p.feed("GET / HTTP/1.0\r\n\r\n");
  EXPECT_TRUE(p.done());
  EXPECT_FALSE(p.keep_alive());
  p.reset();
  p.feed("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  EXPECT_TRUE(p.keep_alive());
  p.reset();
  p.feed("GET / HTTP/1.1\r\nHost: a\r\nConnection: foo, close\r\n\r\n");
  EXPECT_FALSE(p.keep_alive());
  p.reset();
  p.feed("\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n");
  EXPECT_TRUE(p.done()) << "empty lines before a request line are skipped";
  EXPECT_TRUE(p.keep_alive());
}

TEST(RequestParser, ExpectContinueOnlyBeforeABody) {
  RequestParser p;
  p.feed("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n");
  EXPECT_TRUE(p.head_done());
  EXPECT_TRUE(p.expects_continue());
  p.feed("abc");
  EXPECT_TRUE(p.done());
  EXPECT_FALSE(p.expects_continue());
}

// CL.TE: a front end that reads Content-Length and a back end that reads chunked disagree.
TEST(RequestParser, RefusesTransferEncodingWithContentLength) {
  expect_refused(
      "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 13\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nSMUGGLED",
      400, "Transfer-Encoding and Content-Length");
  expect_refused(
      "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n5c\r\nGPOST / HTTP/1.1\r\n",
      400, "Transfer-Encoding and Content-Length");
}

// TE.TE: obfuscated codings one side ignores and the other honours.
TEST(RequestParser, RefusesEveryTransferCodingButASingleChunked) {
  for (const char* te : {"chunked, identity", "identity", "gzip", "xchunked", "chunked, chunked", "gzip, chunked",
                         "chunked;q=1", "\"chunked\"", "chunk", ",", "identity, chunked"}) {
    expect_refused(std::string("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ") + te +
                       "\r\nContent-Length: 44\r\n\r\nPOST /admin/models/minilm/drain HTTP/1.1\r\n\r\n",
                   400);
    expect_refused(std::string("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ") + te + "\r\n\r\n0\r\n\r\n", 400);
  }
  expect_refused("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400);
  expect_refused("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n\r\n", 400);
  expect_refused("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, "HTTP/1.0");
}

TEST(RequestParser, AcceptsChunkedInAnyCaseAndWithEmptyListElements) {
  EXPECT_TRUE(parse("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: CHUNKED\r\n\r\n0\r\n\r\n").done);
  EXPECT_TRUE(parse("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: , chunked ,\r\n\r\n0\r\n\r\n").done);
}

TEST(RequestParser, RefusesObsoleteLineFoldingAndWhitespaceBeforeTheColon) {
  expect_refused("GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n", 400, "folding");
  expect_refused("GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n\tb\r\n\r\n", 400, "folding");
  expect_refused("GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400, "folding");
  expect_refused("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n  , chunked\r\n\r\n0\r\n\r\n", 400);
  expect_refused("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n", 400, "colon");
  expect_refused("POST / HTTP/1.1\r\nHost: a\r\nContent-Length\t: 5\r\n\r\nhello", 400, "colon");
}

TEST(RequestParser, RefusesAmbiguousContentLengths) {
  expect_refused("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello", 400);
  expect_refused("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", 400);
  for (const char* cl : {"5, 5", "+5", "-1", "0x5", "5 5", "", "5a", "1e3"})
    expect_refused(std::string("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: ") + cl + "\r\n\r\nhello", 400);
  expect_refused("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n", 413);
}

TEST(RequestParser, RefusesBareLineEndsAndControlCharacters) {
  expect_refused("GET / HTTP/1.1\nHost: a\n\n", 400, "bare LF");
  expect_refused("GET / HTTP/1.1\r\nHost: a\n\r\n", 400, "bare LF");
  expect_refused("GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n", 400, "bare CR");
  expect_refused(std::string("GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n", 36), 400, "control");
  expect_refused("GET / HTTP/1.1\r\nHost: a\r\nX: a\x7f\r\n\r\n", 400, "control");
  expect_refused("GET /a\x01 HTTP/1.1\r\nHost: a\r\n\r\n", 400, "target");
  expect_refused("GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", 400);
  expect_refused("GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400);
  expect_refused("GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400);
  expect_refused("GET / http/1.1\r\nHost: a\r\n\r\n", 400);
  expect_refused("G@T / HTTP/1.1\r\nHost: a\r\n\r\n", 400);
  expect_refused("GET / HTTP/1.1\r\nX(y): 1\r\nHost: a\r\n\r\n", 400, "field name");
  expect_refused("GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505);
}

TEST(RequestParser, NeedsExactlyOneHostInHttp11) {
  expect_refused("GET / HTTP/1.1\r\n\r\n", 400, "Host");
  expect_refused("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, "Host");
  expect_refused("GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400, "Host");
  expect_refused("GET / HTTP/1.1\r\nHost: a/b@c\r\n\r\n", 400, "Host");
  EXPECT_TRUE(parse("GET / HTTP/1.0\r\n\r\n").done);
  EXPECT_TRUE(parse("GET / HTTP/1.1\r\nHost: [::1]:8000\r\n\r\n").done);
}

TEST(RequestParser, RefusesMalformedChunks) {
  const std::string head = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (const char* body : {"5\r\nhelloX\r\n0\r\n\r\n", "5\r\nhello\n0\r\n\r\n", "x\r\n", "0x5\r\nhello\r\n0\r\n\r\n",
                           " 5\r\nhello\r\n0\r\n\r\n", "5 \r\nhello\r\n0\r\n\r\n", "5;\r\nhello\r\n0\r\n\r\n",
                           "5;a=\"b\r\nhello\r\n0\r\n\r\n", "5\nhello\r\n0\r\n\r\n", "-5\r\n",
                           "10000000000000000\r\n", "0\r\nX: a\r\n b\r\n\r\n", "0\r\n X: a\r\n\r\n",
                           "0\r\nX : a\r\n\r\n", "0\r\n\n"})
    expect_refused(head + body, 400);
}

TEST(RequestParser, EnforcesLimits) {
  ParserLimits small{.max_header_bytes = 64, .max_body_bytes = 8, .max_fields = 3, .max_chunk_line = 16};
  auto refused = [&](const std::string& bytes) {
    Parsed r = parse(bytes, 0, small);
    return r.failed ? r.status : 0;
  };
  EXPECT_EQ(refused("GET /" + std::string(100, 'a') + " HTTP/1.1\r\nHost: a\r\n\r\n"), 431);
  EXPECT_EQ(refused("GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n"), 431);
  EXPECT_EQ(refused("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9\r\n\r\n"), 413);
  EXPECT_EQ(refused("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n4\r\nabcd\r\n"), 413);
  EXPECT_EQ(refused("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1;aaaaaaaaaaaaaaaaaaaaaa"), 400);
  EXPECT_EQ(refused(std::string(200, '\r') + "\n"), 431);
}

}  // namespace
}  // namespace thaw::http
