#include "strict_framing.h"

#include <cctype>
#include <optional>
#include <vector>

namespace thaw::fuzz {

namespace {

bool tchar(unsigned char c) {
  return std::isalnum(c) || std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}
bool token(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!tchar(static_cast<unsigned char>(c))) return false;
  return true;
}
std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}
std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Reads the CRLF-terminated line at `pos`: nullopt when incomplete; sets *bad on a bare CR or LF.
std::optional<std::string_view> line_at(std::string_view in, size_t& pos, bool* bad) {
  const size_t lf = in.find('\n', pos);
  if (lf == std::string_view::npos) return std::nullopt;
  if (lf == pos || in[lf - 1] != '\r') {
    *bad = true;
    return std::string_view();
  }
  std::string_view line = in.substr(pos, lf - 1 - pos);
  if (line.find('\r') != std::string_view::npos) *bad = true;
  pos = lf + 1;
  return line;
}

struct Field {
  std::string name;  // lower case
  std::string_view value;
};

// A field line: name ":" OWS value OWS, the name a token right before the colon, never folded.
std::optional<Field> field(std::string_view line) {
  if (line.empty() || line[0] == ' ' || line[0] == '\t') return std::nullopt;
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos || !token(line.substr(0, colon))) return std::nullopt;
  std::string_view value = trim(line.substr(colon + 1));
  for (char ch : value) {
    const auto c = static_cast<unsigned char>(ch);
    if (c != '\t' && c != ' ' && (c < 0x21 || c == 0x7f)) return std::nullopt;
  }
  return Field{lower(line.substr(0, colon)), value};
}

bool host_ok(std::string_view v) {
  for (char c : v)
    if (!std::isalnum(static_cast<unsigned char>(c)) &&
        std::string_view("-._~%!$&'()*+,;=:[]").find(c) == std::string_view::npos)
      return false;
  return true;
}

Framing refused() { return Framing{Framing::kRefused, 0, {}}; }
Framing incomplete() { return Framing{Framing::kIncomplete, 0, {}}; }

}  // namespace

Framing strict_framing(std::string_view in) {
  size_t pos = 0;
  bool bad = false;
  // Empty lines before the request line are skipped.
  std::optional<std::string_view> start;
  for (;;) {
    start = line_at(in, pos, &bad);
    if (bad) return refused();
    if (!start) return incomplete();
    if (!start->empty()) break;
  }
  // method SP target SP HTTP/x.y
  const std::string_view rl = *start;
  const size_t a = rl.find(' ');
  const size_t b = a == std::string_view::npos ? a : rl.find(' ', a + 1);
  if (b == std::string_view::npos || !token(rl.substr(0, a)) || b == a + 1) return refused();
  for (char c : rl.substr(a + 1, b - a - 1))
    if (static_cast<unsigned char>(c) < 0x21 || static_cast<unsigned char>(c) > 0x7e) return refused();
  const std::string_view v = rl.substr(b + 1);
  if (v.size() != 8 || v.substr(0, 5) != "HTTP/" || !std::isdigit(static_cast<unsigned char>(v[5])) || v[6] != '.' ||
      !std::isdigit(static_cast<unsigned char>(v[7])) || v[5] != '1')
    return refused();
  const bool http10 = v[7] == '0';

  int hosts = 0, lengths = 0;
  bool te = false;
  std::vector<std::string> codings;
  std::string_view cl;
  for (;;) {
    auto line = line_at(in, pos, &bad);
    if (bad) return refused();
    if (!line) return incomplete();
    if (line->empty()) break;
    auto f = field(*line);
    if (!f) return refused();
    if (f->name == "host") {
      ++hosts;
      if (!host_ok(f->value)) return refused();
    } else if (f->name == "content-length") {
      if (++lengths > 1) return refused();
      cl = f->value;
      if (cl.empty()) return refused();
      for (char c : cl)
        if (!std::isdigit(static_cast<unsigned char>(c))) return refused();
      if (cl.size() > 12) return Framing{Framing::kUnknown, 0, {}};  // over any body limit: not a framing question
    } else if (f->name == "transfer-encoding") {
      te = true;
      std::string_view list = f->value;
      for (;;) {
        const size_t comma = list.find(',');
        std::string_view e = trim(list.substr(0, comma));
        if (!e.empty()) codings.push_back(lower(e));
        if (comma == std::string_view::npos) break;
        list.remove_prefix(comma + 1);
      }
    }
  }
  if (http10 ? hosts > 1 : hosts != 1) return refused();
  Framing done{Framing::kDone, 0, {}};
  if (te) {
    if (http10 || lengths > 0 || codings.size() != 1 || codings[0] != "chunked") return refused();
    for (;;) {
      auto line = line_at(in, pos, &bad);
      if (bad) return refused();
      if (!line) return incomplete();
      size_t digits = 0;
      uint64_t size = 0;
      while (digits < line->size() && std::isxdigit(static_cast<unsigned char>((*line)[digits]))) {
        if (digits == 16) return refused();
        const char c = (*line)[digits];
        size = size * 16 + static_cast<uint64_t>(std::isdigit(static_cast<unsigned char>(c)) ? c - '0' : std::tolower(c) - 'a' + 10);
        ++digits;
      }
      if (digits == 0) return refused();
      if (digits < line->size()) return Framing{Framing::kUnknown, 0, {}};  // an extension
      if (size == 0) break;
      if (size > (uint64_t{1} << 40)) return Framing{Framing::kUnknown, 0, {}};  // a body limit, not framing
      if (in.size() - pos < size) return incomplete();
      done.body.append(in.substr(pos, size));
      pos += size;
      if (in.size() - pos < 2) {
        if (in.size() > pos && in[pos] != '\r') return refused();
        return incomplete();
      }
      if (in.substr(pos, 2) != "\r\n") return refused();
      pos += 2;
    }
    for (;;) {  // trailer section: checked, dropped
      auto line = line_at(in, pos, &bad);
      if (bad) return refused();
      if (!line) return incomplete();
      if (line->empty()) break;
      if (!field(*line)) return refused();
    }
  } else if (lengths == 1) {
    const size_t n = std::stoull(std::string(cl));
    if (in.size() - pos < n) return incomplete();
    done.body = std::string(in.substr(pos, n));
    pos += n;
  }
  done.length = pos;
  return done;
}

}  // namespace thaw::fuzz
