// Errors as values for request paths: Status (ok or code+message) and Result<T> (value or Status).
#pragma once

#include <cassert>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include <fmt/format.h>

namespace thaw {

enum class Code {
  kOk = 0,
  kInvalidArgument,   // caller's input is wrong (bad flag, wrong shape, malformed request)
  kNotFound,          // file, model, tensor or route does not exist
  kCorrupt,           // a file's bytes contradict its own header (truncated, bad offsets, bad checksum)
  kUnsupported,       // valid but not handled (newer format version, unknown dtype)
  kIo,                // the OS refused: open/read/mmap/write failed
  kResourceExhausted, // over a limit: queue full, body too large, memory budget
  kUnavailable,       // not ready yet or shutting down; retry later
  kDeadlineExceeded,  // a wait ran past its timeout
  kCancelled,         // the caller went away (a client disconnected) before the work finished
  kInternal,          // a bug: an invariant broke
  kUpstream,          // a server this one depends on failed or answered wrongly (a registry's 404, bad bytes)
  kNoSpace,           // the disk has no room for what must be written
};

std::string_view code_name(Code code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}
  static Status ok() { return {}; }

  bool is_ok() const { return code_ == Code::kOk; }
  explicit operator bool() const { return is_ok(); }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  // "corrupt: tensor 'x' offset 12 is past the end of the file"
  std::string to_string() const;
  // Adds context in front: "reading bundle m.thaw: <message>".
  Status with_context(std::string_view context) const;

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

template <typename... Args>
Status make_error(Code code, fmt::format_string<Args...> f, Args&&... args) {
  return Status(code, fmt::format(f, std::forward<Args>(args)...));
}

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}          // NOLINT(google-explicit-constructor)
  Result(Status status) : v_(std::move(status)) {     // NOLINT(google-explicit-constructor)
    assert(!std::get<Status>(v_).is_ok() && "Result built from an ok Status");
  }

  bool is_ok() const { return std::holds_alternative<T>(v_); }
  explicit operator bool() const { return is_ok(); }
  const Status& status() const {
    static const Status kOk;
    return is_ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace thaw

// Early-return helpers. THAW_TRY(status_expr); THAW_ASSIGN_OR_RETURN(auto x, result_expr);
#define THAW_TRY(expr)                          \
  do {                                          \
    ::thaw::Status thaw_try_s_ = (expr);        \
    if (!thaw_try_s_.is_ok()) return thaw_try_s_; \
  } while (0)

#define THAW_CONCAT_INNER_(a, b) a##b
#define THAW_CONCAT_(a, b) THAW_CONCAT_INNER_(a, b)
#define THAW_ASSIGN_OR_RETURN(lhs, expr) THAW_ASSIGN_OR_RETURN_IMPL_(THAW_CONCAT_(thaw_r_, __LINE__), lhs, expr)
#define THAW_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                \
  if (!tmp.is_ok()) return tmp.status();            \
  lhs = std::move(tmp).value()
