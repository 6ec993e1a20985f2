#include "protocol/worker_protocol.h"

#include <algorithm>
#include <charconv>
#include <optional>

namespace thaw::protocol {
namespace {

constexpr std::string_view kReadyWord = "ready ";
constexpr std::string_view kErrorWord = "error";
constexpr std::string_view kForkWord = "fork";
constexpr std::string_view kSpec = "docs/worker-protocol.md, \"Versioning\"";

// Parses a whole decimal number; nullopt for anything else.
template <typename Int>
std::optional<Int> parse_number(std::string_view text) {
  Int value{};
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

std::vector<std::string> with_tail(std::string_view bundle, std::vector<std::string> mode,
                                   std::span<const std::string> extra) {
  std::vector<std::string> args{std::string(bundle)};
  args.insert(args.end(), mode.begin(), mode.end());
  args.insert(args.end(), {std::string(kFlagReadyFd), std::to_string(kReadyFd)});
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

std::string line(std::string text) {
  std::replace(text.begin(), text.end(), '\n', ' ');
  std::replace(text.begin(), text.end(), '\r', ' ');
  return text + "\n";
}

// The rest of an "error" line ("error" alone carries no message), or nullopt.
std::optional<std::string_view> error_message(std::string_view line) {
  if (line == kErrorWord) return std::string_view("(no reason given)");
  if (!line.starts_with(kErrorWord) || line.size() == kErrorWord.size() || line[kErrorWord.size()] != ' ')
    return std::nullopt;
  return line.substr(kErrorWord.size() + 1);
}

}  // namespace

std::vector<std::string> instance_args(std::string_view bundle, const http::Endpoint& listen,
                                       std::span<const std::string> extra) {
  std::vector<std::string> mode =
      listen.is_unix() ? std::vector<std::string>{std::string(kFlagUnix), listen.unix_path}
                       : std::vector<std::string>{std::string(kFlagHost), listen.host, std::string(kFlagPort),
                                                  std::to_string(listen.port)};
  return with_tail(bundle, std::move(mode), extra);
}

std::vector<std::string> zygote_args(std::string_view bundle, std::string_view control_path,
                                     std::span<const std::string> extra) {
  return with_tail(bundle, {std::string(kFlagZygote), std::string(control_path)}, extra);
}

std::string announced_versions() { return std::to_string(kVersion); }

Result<int> choose_version(const char* announced) {
  if (announced == nullptr) return kVersion;
  std::string_view rest = announced;
  bool speaks = false;
  while (true) {
    size_t comma = rest.find(',');
    auto version = parse_number<int>(rest.substr(0, comma));
    if (!version || *version <= 0)
      return make_error(Code::kInvalidArgument,
                        "{}='{}' is not a list of worker protocol versions (e.g. \"1\" or \"1,2\"); this "
                        "worker speaks version {}",
                        kVersionEnv, announced, kVersion);
    speaks = speaks || *version == kVersion;
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  if (speaks) return kVersion;
  const char* versions =
      std::string_view(announced).find(',') == std::string_view::npos ? "version" : "versions";
  return make_error(
      Code::kUnsupported,
      "the supervisor speaks worker protocol {} {} ({}={}), but this worker speaks version {}: "
      "start it from a thaw release that speaks version {}, or use a worker that speaks {} {} ({})",
      versions, announced, kVersionEnv, announced, kVersion, kVersion, versions, announced, kSpec);
}

std::string format_ready(const http::Endpoint& endpoint) {
  return line(fmt::format("{}v{} {}", kReadyWord, kVersion, endpoint.to_string()));
}

std::string format_error(std::string_view message) { return line(fmt::format("{} {}", kErrorWord, message)); }

Result<ReadyReport> parse_ready_report(std::string_view text) {
  if (auto message = error_message(text)) return ReadyReport{false, {}, std::string(*message)};
  if (!text.starts_with(kReadyWord))
    return make_error(Code::kCorrupt,
                      "reported '{}' instead of \"ready v{} <endpoint>\" or \"error <message>\"", text,
                      kVersion);
  std::string_view rest = text.substr(kReadyWord.size());
  size_t space = rest.find(' ');
  std::string_view word = rest.substr(0, space);
  auto version = word.starts_with('v') ? parse_number<int>(word.substr(1)) : std::nullopt;
  if (!version)
    return make_error(
        Code::kUnsupported,
        "reported '{}', a ready line without a protocol version (a worker older than worker "
        "protocol version 1), but this thaw speaks version {}: use a worker that speaks version "
        "{}, such as the `thaw run` of this release ({})",
        text, kVersion, kVersion, kSpec);
  if (*version != kVersion)
    return make_error(
        Code::kUnsupported,
        "speaks worker protocol version {}, but this thaw speaks version {}: use a worker that "
        "speaks version {} (the `thaw run` of this release does), or a thaw release that speaks "
        "version {} ({})",
        *version, kVersion, kVersion, *version, kSpec);
  if (space == std::string_view::npos)
    return make_error(Code::kCorrupt, "reported '{}': a ready line without an endpoint", text);
  auto endpoint = http::Endpoint::parse(rest.substr(space + 1));
  if (!endpoint.is_ok())
    return make_error(Code::kCorrupt, "reported '{}': {}", text, endpoint.status().message());
  return ReadyReport{true, std::move(endpoint).value(), {}};
}

std::string format_fork(const http::Endpoint& listen) {
  return line(fmt::format("{} {}", kForkWord, listen.to_string()));
}

Result<http::Endpoint> parse_fork(std::string_view text) {
  if (text == kForkWord) return kDefaultForkEndpoint;
  if (!text.starts_with(kForkWord) || text.size() == kForkWord.size() || text[kForkWord.size()] != ' ')
    return make_error(Code::kInvalidArgument, "unknown command '{}'; send \"{} [ENDPOINT]\"", text,
                      kForkWord);
  return http::Endpoint::parse(text.substr(kForkWord.size() + 1));
}

std::string format_forked(pid_t pid, const http::Endpoint& endpoint) {
  return line(fmt::format("{}{} {}", kReadyWord, pid, endpoint.to_string()));
}

Result<ForkReply> parse_forked(std::string_view text, pid_t* stray) {
  if (auto message = error_message(text)) return Status(Code::kUnavailable, std::string(*message));
  if (!text.starts_with(kReadyWord))
    return make_error(Code::kCorrupt, "the zygote answered '{}' instead of \"ready <pid> <endpoint>\"", text);
  std::string_view rest = text.substr(kReadyWord.size());
  size_t space = rest.find(' ');
  auto pid = parse_number<pid_t>(rest.substr(0, space));
  if (!pid || *pid <= 0 || space == std::string_view::npos)
    return make_error(Code::kCorrupt, "the zygote answered '{}': no pid and endpoint", text);
  auto endpoint = http::Endpoint::parse(rest.substr(space + 1));
  if (!endpoint.is_ok()) {
    if (stray != nullptr) *stray = *pid;
    return make_error(Code::kCorrupt, "the zygote answered '{}': {}", text, endpoint.status().message());
  }
  return ForkReply{*pid, std::move(endpoint).value()};
}

std::string infer_path(std::string_view model) { return fmt::format("/v2/models/{}{}", model, kInferSuffix); }

}  // namespace thaw::protocol
