// `thaw tokenize`: runs the built-in WordPiece tokenizer of a tokenizer.json over text, printing
// model-ready ids as JSON, or timing it (--repeat) for benchmarks.
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "common/clock.h"
#include "tokenizer/wordpiece_tokenizer.h"

namespace thaw::cli {
namespace {

struct TokenizeOptions {
  std::string tokenizer_path;
  std::vector<std::string> texts;
  size_t max_length = 0;
  bool batch = false;
  size_t repeat = 0;
};

int exit_code_for(const Status& s) {
  return s.code() == Code::kNotFound ? kExitNotFound
         : s.code() == Code::kInvalidArgument ? kExitUsage
                                              : kExitFailure;
}

Result<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(Code::kNotFound, "cannot open {}", path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Encodes every text `repeat` times and reports throughput as one JSON object.
int time_encoding(const tokenizer::WordPieceTokenizer& tok, const TokenizeOptions& o) {
  SteadyClock clock;
  size_t tokens = 0;
  Nanos start = clock.now();
  for (size_t r = 0; r < o.repeat; ++r) {
    for (const std::string& text : o.texts) {
      tokens += tok.encode(text, o.max_length).input_ids.size();
    }
  }
  double seconds = to_seconds(clock.now() - start);
  nlohmann::json out = {{"sentences", o.texts.size() * o.repeat},
                        {"tokens", tokens},
                        {"seconds", seconds},
                        {"tokens_per_second", seconds > 0 ? tokens / seconds : 0.0},
                        {"sentences_per_second", seconds > 0 ? (o.texts.size() * o.repeat) / seconds : 0.0}};
  std::cout << out.dump() << "\n";
  return kExitOk;
}

int run_tokenize(TokenizeOptions o) {
  auto json_text = read_file(o.tokenizer_path);
  if (!json_text.is_ok()) {
    std::cerr << "thaw tokenize: " << json_text.status().to_string() << "\n";
    return exit_code_for(json_text.status());
  }
  auto tok = tokenizer::WordPieceTokenizer::from_json(*json_text);
  if (!tok.is_ok()) {
    std::cerr << "thaw tokenize: " << o.tokenizer_path << ": " << tok.status().to_string() << "\n";
    return kExitFailure;
  }
  if (o.texts.empty()) {
    for (std::string line; std::getline(std::cin, line);) o.texts.push_back(line);
  }
  if (o.repeat > 0) return time_encoding(*tok, o);
  auto fail = [](const Status& s) {
    std::cerr << "thaw tokenize: " << s.to_string() << "\n";
    return exit_code_for(s);
  };
  if (o.batch) {
    std::vector<std::string_view> views(o.texts.begin(), o.texts.end());
    tokenizer::BatchEncoding b = tok->encode_batch(views, o.max_length);
    nlohmann::json out = {{"shape", {b.batch, b.sequence}},
                          {"input_ids", b.input_ids},
                          {"attention_mask", b.attention_mask},
                          {"token_type_ids", b.token_type_ids}};
    std::cout << out.dump() << "\n";
    return kExitOk;
  }
  for (const std::string& text : o.texts) {
    tokenizer::Encoding e = tok->encode(text, o.max_length);
    nlohmann::json out = {{"input_ids", e.input_ids},
                          {"attention_mask", e.attention_mask},
                          {"token_type_ids", e.token_type_ids}};
    std::cout << out.dump() << "\n";
  }
  return kExitOk;
}

}  // namespace

void register_tokenize(CLI::App& app, int* exit_code) {
  auto opts = std::make_shared<TokenizeOptions>();
  CLI::App* cmd = app.add_subcommand(
      "tokenize",
      "Tokenize text with the built-in WordPiece tokenizer of a Hugging Face tokenizer.json (BERT family)\n"
      "and print the model inputs as JSON, one object per text (or one padded batch with --batch).\n"
      "Texts come from the arguments, or one per line from stdin. Input must be valid UTF-8.");
  cmd->add_option("--tokenizer", opts->tokenizer_path, "Path to tokenizer.json")->required();
  cmd->add_option("texts", opts->texts, "Texts to tokenize (default: lines of stdin)");
  cmd->add_option("--max-length", opts->max_length,
                  "Truncate to this many tokens including [CLS]/[SEP] (default: tokenizer.json's truncation)");
  cmd->add_flag("--batch", opts->batch, "Print one batch padded to the longest text, as [batch, seq] tensors");
  cmd->add_option("--repeat", opts->repeat,
                  "Benchmark: encode all texts this many times and print tokens/s as JSON instead of ids");
  cmd->callback([opts, exit_code] { *exit_code = run_tokenize(*opts); });
}

}  // namespace thaw::cli
