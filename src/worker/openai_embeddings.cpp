#include "worker/openai_embeddings.h"

#include <fmt/format.h>
#include <openssl/evp.h>

#include <cstring>
#include <nlohmann/json.hpp>

#include "worker/openai_codec.h"

namespace thaw::worker {
namespace {

using json = nlohmann::json;

// The [batch, dim] FP32 output embeddings come from; empty when the model has none.
std::string embedding_output(const ModelService& s) {
  std::string found;
  const json meta = s.metadata();
  for (const auto& o : meta["outputs"]) {
    if (o["datatype"] != "FP32" || o["shape"].size() != 2) continue;
    if (o["name"] == "sentence_embedding") return "sentence_embedding";
    if (found.empty()) found = o["name"].get<std::string>();
  }
  return found;
}

std::string base64(const std::vector<float>& v) {
  std::string out(4 * ((v.size() * sizeof(float) + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(v.data()),
                                static_cast<int>(v.size() * sizeof(float)));
  out.resize(static_cast<size_t>(n));
  return out;
}

http::Response embed(ModelService* s, const std::string& output, const http::Request& r) {
  auto parsed = parse_json_bounded(r.body, JsonLimits{});
  if (!parsed.is_ok()) return openai_error_response(http::http_status_for(parsed.status().code()), parsed.status().message());
  const json& body = *parsed;
  if (!body.is_object()) return openai_error_response(400, "the request body must be a JSON object");
  if (auto m = body.find("model"); m != body.end() && !m->is_null() && (!m->is_string() || *m != s->name()))
    return openai_error_response(404, fmt::format("model '{}' does not exist; this server has '{}'", m->dump(), s->name()));
  json texts = json::array();
  auto in = body.find("input");
  if (in == body.end()) return openai_error_response(400, "'input' is required: a string or an array of strings");
  if (in->is_string())
    texts.push_back(*in);
  else if (in->is_array() && !in->empty() &&
           std::all_of(in->begin(), in->end(), [](const json& t) { return t.is_string(); }))
    texts = *in;
  else
    return openai_error_response(400,
                 "'input' must be a string or a non-empty array of strings (token arrays are not accepted)");
  const std::string format = body.value("encoding_format", json("float")).is_string()
                                 ? body.value("encoding_format", std::string("float"))
                                 : "";
  if (format != "float" && format != "base64") return openai_error_response(400, "'encoding_format' must be float or base64");
  if (auto d = body.find("dimensions"); d != body.end() && !d->is_null())
    return openai_error_response(400, "'dimensions' is not supported: this model's embeddings have a fixed size");

  http::Request infer;
  infer.method = "POST";
  infer.body = json{{"inputs",
                     {{{"name", "text"}, {"datatype", "BYTES"}, {"shape", {texts.size()}}, {"data", texts}}}},
                    {"outputs", {{{"name", output}, {"parameters", {{"binary_data", false}}}}}}}
                   .dump();
  http::Response answer = s->infer(infer);
  if (answer.status != 200) {
    json e = json::parse(answer.body, nullptr, false);
    return openai_error_response(answer.status,
                 e.is_object() && e.contains("error") ? e["error"].get<std::string>() : answer.body);
  }
  json out = json::parse(answer.body, nullptr, false);
  if (!out.is_object() || !out.contains("outputs") || out["outputs"].empty())
    return openai_error_response(500, "the model's answer has no outputs");
  const json& t = out["outputs"][0];
  const size_t rows = t["shape"][0].get<size_t>(), dim = t["shape"][1].get<size_t>();
  const auto& data = t["data"];
  json list = json::array();
  for (size_t i = 0; i < rows; ++i) {
    std::vector<float> v(dim);
    for (size_t k = 0; k < dim; ++k) v[k] = data[i * dim + k].get<float>();
    list.push_back({{"object", "embedding"},
                    {"index", i},
                    {"embedding", format == "base64" ? json(base64(v)) : json(v)}});
  }
  // Usage: bytes of input stand in for tokens (the tokenizer's count is not returned by /infer).
  size_t chars = 0;
  for (const auto& x : texts) chars += x.get_ref<const std::string&>().size();
  return http::Response::json(200, {{"object", "list"},
                                    {"data", list},
                                    {"model", s->name()},
                                    {"usage", {{"prompt_tokens", chars}, {"total_tokens", chars}}}});
}

}  // namespace

void add_embeddings_route(http::Router& router, ModelService* s) {
  if (s->generator() != nullptr || !s->accepts_text()) return;
  std::string output = embedding_output(*s);
  if (output.empty()) return;
  router.post("/v1/embeddings", [s, output](const http::Request& r) { return embed(s, output, r); });
  router.get("/v1/models", [s](const http::Request&) {
    return http::Response::json(
        200,
        {{"object", "list"},
         {"data",
          json::array({{{"id", s->name()}, {"object", "model"}, {"created", 0}, {"owned_by", "thaw"}}})}});
  });
}

}  // namespace thaw::worker
