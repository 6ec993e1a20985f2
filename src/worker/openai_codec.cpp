#include "worker/openai_codec.h"

#include <fmt/format.h>

#include <cmath>
#include <nlohmann/json.hpp>

namespace thaw::worker {
namespace {

using json = nlohmann::json;

Status bad(std::string_view field, std::string_view what) {
  return Status(Code::kInvalidArgument, fmt::format("'{}' {}", field, what));
}

// A message's content: a string, or an array of {"type": "text", "text": ...} parts (joined).
Result<std::string> content_text(const json& content, size_t index) {
  const std::string field = fmt::format("messages[{}].content", index);
  if (content.is_string()) return content.get<std::string>();
  if (content.is_null()) return std::string();
  if (!content.is_array()) return bad(field, "must be a string or an array of text parts");
  std::string text;
  for (const json& part : content) {
    if (!part.is_object() || part.value("type", json()) != "text" || !part.value("text", json()).is_string())
      return bad(field, "parts must be {\"type\": \"text\", \"text\": \"...\"}; this model takes text only");
    text += part["text"].get<std::string>();
  }
  return text;
}

Result<std::vector<engine::ChatMessage>> parse_messages(const json& body, const CompletionLimits& limits) {
  if (!body.contains("messages")) return bad("messages", "is required");
  const json& ms = body["messages"];
  if (!ms.is_array() || ms.empty()) return bad("messages", "must be a non-empty array");
  if (ms.size() > limits.max_messages)
    return bad("messages", fmt::format("holds more than {} messages", limits.max_messages));
  std::vector<engine::ChatMessage> out;
  for (size_t i = 0; i < ms.size(); ++i) {
    const json& m = ms[i];
    if (!m.is_object()) return bad(fmt::format("messages[{}]", i), "must be an object with role and content");
    const json role = m.value("role", json());
    if (!role.is_string())
      return bad(fmt::format("messages[{}].role", i), "is required (system, user, assistant or tool)");
    std::string r = role.get<std::string>();
    if (r == "developer") r = "system";
    if (r != "system" && r != "user" && r != "assistant" && r != "tool")
      return bad(fmt::format("messages[{}].role", i),
                 fmt::format("'{}' is not system, user, assistant or tool", r));
    if (!m.contains("content") && r != "assistant")
      return bad(fmt::format("messages[{}].content", i), "is required");
    THAW_ASSIGN_OR_RETURN(std::string text, content_text(m.value("content", json()), i));
    out.push_back({std::move(r), std::move(text)});
  }
  return out;
}

Result<std::string> parse_prompt(const json& body) {
  if (!body.contains("prompt")) return bad("prompt", "is required");
  const json& p = body["prompt"];
  if (p.is_string()) return p.get<std::string>();
  if (p.is_array() && p.size() == 1 && p[0].is_string()) return p[0].get<std::string>();
  if (p.is_array() && p.size() > 1) return bad("prompt", "holds several prompts; send one per request");
  return bad("prompt", "must be a string");
}

// A number field in [lo, hi] or absent/null.
Result<std::optional<double>> number(const json& body, std::string_view key, double lo, double hi) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return std::optional<double>();
  if (!it->is_number()) return bad(key, "must be a number");
  const double v = it->get<double>();
  if (!std::isfinite(v) || v < lo || v > hi)
    return bad(key, fmt::format("must be between {} and {}", lo, hi));
  return std::optional<double>(v);
}

Status refuse_unsupported(const json& body) {
  auto it = body.find("n");
  if (it != body.end() && !it->is_null() && !(it->is_number_integer() && it->get<int64_t>() == 1))
    return bad("n", "must be 1: one choice per request");
  it = body.find("best_of");
  if (it != body.end() && !it->is_null() && !(it->is_number_integer() && it->get<int64_t>() == 1))
    return bad("best_of", "must be 1");
  for (const char* key : {"logprobs", "top_logprobs", "echo", "suffix", "tools", "functions", "logit_bias"}) {
    it = body.find(key);
    if (it == body.end() || it->is_null() || (it->is_boolean() && !it->get<bool>())) continue;
    if ((it->is_array() || it->is_object()) && it->empty()) continue;
    return bad(key, "is not supported by this server");
  }
  return Status::ok();
}

json usage_json(const Usage& u) {
  return {{"prompt_tokens", u.prompt_tokens},
          {"completion_tokens", u.completion_tokens},
          {"total_tokens", u.prompt_tokens + u.completion_tokens},
          {"prompt_tokens_details", {{"cached_tokens", u.cached_tokens}}}};
}

std::string sse(const json& j) {
  return "data: " + j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n\n";
}

const char* object_name(CompletionKind kind, bool chunk) {
  if (kind == CompletionKind::kChat) return chunk ? "chat.completion.chunk" : "chat.completion";
  return "text_completion";
}

}  // namespace

Result<CompletionRequest> parse_completion_request(std::string_view text, CompletionKind kind,
                                                   const CompletionLimits& limits) {
  THAW_ASSIGN_OR_RETURN(json body, parse_json_bounded(text, limits.json));
  if (!body.is_object()) return Status(Code::kInvalidArgument, "the request body must be a JSON object");
  CompletionRequest r;
  r.kind = kind;
  if (auto it = body.find("model"); it != body.end() && !it->is_null()) {
    if (!it->is_string()) return bad("model", "must be a string");
    r.model = it->get<std::string>();
  }
  THAW_TRY(refuse_unsupported(body));
  if (kind == CompletionKind::kChat) {
    THAW_ASSIGN_OR_RETURN(r.messages, parse_messages(body, limits));
  } else {
    THAW_ASSIGN_OR_RETURN(r.generate.prompt, parse_prompt(body));
  }
  // max_tokens (max_completion_tokens is the chat API's newer name).
  r.generate.max_tokens = limits.default_max_tokens;
  for (const char* key : {"max_completion_tokens", "max_tokens"}) {
    auto it = body.find(key);
    if (it == body.end() || it->is_null()) continue;
    if (!it->is_number_integer() || it->get<int64_t>() < 1) return bad(key, "must be a positive integer");
    if (it->get<int64_t>() > static_cast<int64_t>(limits.context_length))
      return bad(key, fmt::format("is {} but the model's context holds {} tokens in all", it->get<int64_t>(),
                                  limits.context_length));
    r.generate.max_tokens = static_cast<uint32_t>(it->get<int64_t>());
    break;
  }
  r.generate.max_tokens = std::min(r.generate.max_tokens, limits.context_length);
  r.generate.sampling = limits.defaults;
  THAW_ASSIGN_OR_RETURN(auto temperature, number(body, "temperature", 0, 2));
  if (temperature) r.generate.sampling.temperature = static_cast<float>(*temperature);
  THAW_ASSIGN_OR_RETURN(auto top_p, number(body, "top_p", 0, 1));
  if (top_p) {
    if (*top_p <= 0) return bad("top_p", "must be above 0");
    r.generate.sampling.top_p = static_cast<float>(*top_p);
  }
  for (const char* key : {"presence_penalty", "frequency_penalty"}) {
    THAW_ASSIGN_OR_RETURN(auto v, number(body, key, -2, 2));
    if (v && *v != 0) return bad(key, "is not supported by this server (send 0 or leave it out)");
  }
  if (auto it = body.find("seed"); it != body.end() && !it->is_null()) {
    if (!it->is_number_integer()) return bad("seed", "must be an integer");
    r.generate.sampling.seed =
        it->is_number_unsigned() ? it->get<uint64_t>() : static_cast<uint64_t>(it->get<int64_t>());
  }
  if (auto it = body.find("stop"); it != body.end() && !it->is_null()) {
    std::vector<std::string> stops;
    if (it->is_string()) {
      stops.push_back(it->get<std::string>());
    } else if (it->is_array()) {
      for (const json& s : *it) {
        if (!s.is_string()) return bad("stop", "must be a string or an array of strings");
        stops.push_back(s.get<std::string>());
      }
    } else {
      return bad("stop", "must be a string or an array of strings");
    }
    if (stops.size() > limits.max_stop)
      return bad("stop", fmt::format("holds more than {} strings", limits.max_stop));
    for (const std::string& s : stops) {
      if (s.empty()) return bad("stop", "strings must not be empty");
      if (s.size() > limits.max_stop_bytes)
        return bad("stop", fmt::format("strings must be at most {} bytes", limits.max_stop_bytes));
    }
    r.generate.stop = std::move(stops);
  }
  // llama-server's and vLLM's extension: run to max_tokens whatever the model says.
  if (auto it = body.find("ignore_eos"); it != body.end() && !it->is_null()) {
    if (!it->is_boolean()) return bad("ignore_eos", "must be true or false");
    r.generate.ignore_eos = it->get<bool>();
  }
  if (auto it = body.find("stream"); it != body.end() && !it->is_null()) {
    if (!it->is_boolean()) return bad("stream", "must be true or false");
    r.stream = it->get<bool>();
  }
  if (auto it = body.find("stream_options"); it != body.end() && !it->is_null()) {
    if (!it->is_object()) return bad("stream_options", "must be an object");
    const json u = it->value("include_usage", json());
    if (!u.is_null() && !u.is_boolean()) return bad("stream_options.include_usage", "must be true or false");
    r.include_usage = u.is_boolean() && u.get<bool>();
  }
  return r;
}

json completion_response(CompletionKind kind, const CompletionIds& ids, const std::string& text,
                         const std::string& finish_reason, const Usage& usage) {
  json choice = {{"index", 0}, {"finish_reason", finish_reason}, {"logprobs", nullptr}};
  if (kind == CompletionKind::kChat)
    choice["message"] = {{"role", "assistant"}, {"content", text}};
  else
    choice["text"] = text;
  return {{"id", ids.id},       {"object", object_name(kind, false)}, {"created", ids.created},
          {"model", ids.model}, {"choices", json::array({choice})},   {"usage", usage_json(usage)}};
}

std::string completion_chunk(CompletionKind kind, const CompletionIds& ids, const std::string& text,
                             const std::string& finish_reason, bool role_only) {
  json choice = {{"index", 0},
                 {"logprobs", nullptr},
                 {"finish_reason", finish_reason.empty() ? json(nullptr) : json(finish_reason)}};
  if (kind == CompletionKind::kChat) {
    json delta = json::object();
    if (role_only)
      delta = {{"role", "assistant"}, {"content", ""}};
    else if (finish_reason.empty() || !text.empty())
      delta = {{"content", text}};
    choice["delta"] = delta;
  } else {
    choice["text"] = text;
  }
  return sse({{"id", ids.id},
              {"object", object_name(kind, true)},
              {"created", ids.created},
              {"model", ids.model},
              {"choices", json::array({choice})}});
}

std::string usage_chunk(CompletionKind kind, const CompletionIds& ids, const Usage& usage) {
  return sse({{"id", ids.id},
              {"object", object_name(kind, true)},
              {"created", ids.created},
              {"model", ids.model},
              {"choices", json::array()},
              {"usage", usage_json(usage)}});
}

std::string error_event(std::string_view message) { return sse(openai_error(500, message)) + std::string(kDoneEvent); }

}  // namespace thaw::worker
