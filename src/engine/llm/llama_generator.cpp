#include "engine/llm/llama_generator.h"

#include <fmt/format.h>
#include <llama.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <random>
#include <thread>

#include "common/usable_cores.h"
#include "engine/llm/forward_order_read.h"
#include "engine/llm/lazy_mapping.h"
#include "engine/llm/stop_filter.h"

namespace thaw::engine {
namespace {

// llama.cpp logs to stderr by default; keep warnings and errors only.
void quiet_log(ggml_log_level level, const char* text, void*) {
  if (level == GGML_LOG_LEVEL_ERROR || level == GGML_LOG_LEVEL_WARN) std::fputs(text, stderr);
}

struct ModelDeleter {
  void operator()(llama_model* m) const { llama_model_free(m); }
};
struct ContextDeleter {
  void operator()(llama_context* c) const { llama_free(c); }
};
struct SamplerDeleter {
  void operator()(llama_sampler* s) const { llama_sampler_free(s); }
};
using SamplerPtr = std::unique_ptr<llama_sampler, SamplerDeleter>;

// Wakes the decoding thread; shared with the jobs so cancel() works after the generator is gone.
struct Wake {
  std::mutex mu;
  std::condition_variable cv;
};

class Job final : public Generation {
 public:
  Job(GenerateRequest r, GenerationSink s, std::vector<llama_token> t, std::shared_ptr<Wake> w)
      : request(std::move(r)), sink(std::move(s)), tokens(std::move(t)), wake_(std::move(w)) {}
  void cancel() override {
    cancelled = true;
    std::lock_guard lock(wake_->mu);
    wake_->cv.notify_all();
  }
  GenerateRequest request;
  GenerationSink sink;
  std::vector<llama_token> tokens;  // the prompt
  size_t reused = 0;                // prompt tokens whose KV came from the prompt cache
  std::atomic<bool> cancelled{false};

 private:
  std::shared_ptr<Wake> wake_;
};

struct Slot {
  llama_seq_id seq = 0;
  std::shared_ptr<Job> job;  // null: free
  SamplerPtr sampler;
  size_t fed = 0;             // prompt tokens in the KV cache
  llama_pos pos = 0;          // next position
  llama_token last = -1;      // sampled, not yet fed
  int32_t logits_index = -1;  // row of this step's batch whose logits it samples; -1: none
  uint32_t generated = 0;
  StopFilter filter;
  std::vector<llama_token> held;  // the tokens whose KV the sequence holds, positions 0..n-1
};

size_t common_prefix(const std::vector<llama_token>& a, const std::vector<llama_token>& b) {
  const size_t n = std::min(a.size(), b.size());
  size_t i = 0;
  while (i < n && a[i] == b[i]) ++i;
  return i;
}

SamplerPtr make_sampler(const SamplingParams& p) {
  llama_sampler_chain_params cp = llama_sampler_chain_default_params();
  cp.no_perf = true;
  SamplerPtr chain(llama_sampler_chain_init(cp));
  if (p.temperature <= 0.0f) {
    llama_sampler_chain_add(chain.get(), llama_sampler_init_greedy());
    return chain;
  }
  if (p.top_p < 1.0f) llama_sampler_chain_add(chain.get(), llama_sampler_init_top_p(p.top_p, 1));
  llama_sampler_chain_add(chain.get(), llama_sampler_init_temp(p.temperature));
  const uint64_t seed = p.seed ? *p.seed : std::random_device{}();
  llama_sampler_chain_add(chain.get(), llama_sampler_init_dist(static_cast<uint32_t>(seed ^ (seed >> 32))));
  return chain;
}

// A copy moves a whole sequence's KV stream; worth it when it saves more than a few tokens' prefill.
constexpr size_t kCopyThreshold = 4;

class LlamaBackend final : public Backend, public Generator {
 public:
  LlamaBackend(std::unique_ptr<llama_model, ModelDeleter> model,
               std::unique_ptr<llama_context, ContextDeleter> ctx, const LlamaOptions& options,
               GeneratorInfo info, std::unique_ptr<ForwardOrderRead> reader)
      : reader_(std::move(reader)),
        model_(std::move(model)),
        ctx_(std::move(ctx)),
        vocab_(llama_model_get_vocab(model_.get())),
        options_(options),
        info_(std::move(info)),
        wake_(std::make_shared<Wake>()),
        batch_(llama_batch_init(static_cast<int32_t>(options.batch), 0, 1)) {
    slots_.resize(options_.slots);
    for (uint32_t i = 0; i < options_.slots; ++i) slots_[i].seq = static_cast<llama_seq_id>(i);
    if (const char* t = llama_model_chat_template(model_.get(), nullptr)) chat_template_ = t;
  }
  ~LlamaBackend() override {
    {
      std::lock_guard lock(wake_->mu);
      stopping_ = true;
      wake_->cv.notify_all();
    }
    if (thread_.joinable()) thread_.join();
    for (auto& job : queue_) finish(*job, "cancelled", 0, {});
    for (Slot& s : slots_)
      if (s.job) finish(*s.job, "cancelled", s.generated, {});
    llama_batch_free(batch_);
  }

  // --- Backend
  const ModelSignature& signature() const override { return signature_; }
  Result<std::vector<OutputTensor>> infer(std::span<const InputTensor>,
                                          std::span<const std::string>) override {
    return make_error(Code::kInvalidArgument,
                      "this is a generative model: send POST /v1/completions or /v1/chat/completions");
  }
  Generator* generator() override { return this; }

  // --- Generator
  const GeneratorInfo& info() const override { return info_; }

  Result<std::string> apply_chat_template(const std::vector<ChatMessage>& messages) const override {
    std::vector<llama_chat_message> chat;
    chat.reserve(messages.size());
    size_t bytes = 0;
    for (const ChatMessage& m : messages) {
      chat.push_back({m.role.c_str(), m.content.c_str()});
      bytes += m.role.size() + m.content.size();
    }
    const char* tmpl = chat_template_.empty() ? nullptr : chat_template_.c_str();
    std::string out(bytes * 2 + 256, '\0');
    int32_t n = llama_chat_apply_template(tmpl, chat.data(), chat.size(), true, out.data(),
                                          static_cast<int32_t>(out.size()));
    if (n > static_cast<int32_t>(out.size())) {
      out.resize(static_cast<size_t>(n));
      n = llama_chat_apply_template(tmpl, chat.data(), chat.size(), true, out.data(),
                                    static_cast<int32_t>(out.size()));
    }
    if (n < 0)
      return make_error(Code::kInvalidArgument, "the model's chat template cannot render these messages");
    out.resize(static_cast<size_t>(n));
    return out;
  }

  Result<std::vector<int32_t>> tokenize(const std::string& text) const override {
    if (text.size() > static_cast<size_t>(INT32_MAX / 2))
      return make_error(Code::kInvalidArgument, "prompt of {} bytes is too long", text.size());
    std::vector<llama_token> tokens(text.size() + 8);
    int32_t n =
        llama_tokenize(vocab_, text.data(), static_cast<int32_t>(text.size()), tokens.data(),
                       static_cast<int32_t>(tokens.size()), /*add_special=*/true, /*parse_special=*/true);
    if (n < 0) {
      tokens.resize(static_cast<size_t>(-n));
      n = llama_tokenize(vocab_, text.data(), static_cast<int32_t>(text.size()), tokens.data(),
                         static_cast<int32_t>(tokens.size()), true, true);
    }
    if (n < 0) return make_error(Code::kInvalidArgument, "the prompt cannot be tokenized");
    tokens.resize(static_cast<size_t>(n));
    return tokens;
  }

  Result<std::shared_ptr<Generation>> submit(GenerateRequest request, GenerationSink sink) override {
    THAW_ASSIGN_OR_RETURN(std::vector<int32_t> tokens, tokenize(request.prompt));
    THAW_TRY(check_fits(tokens.size(), request.max_tokens));
    auto job = std::make_shared<Job>(std::move(request), std::move(sink), std::move(tokens), wake_);
    {
      std::lock_guard lock(wake_->mu);
      if (stopping_) return make_error(Code::kUnavailable, "the model is stopping");
      if (in_flight_ >= options_.slots + options_.queue)
        return make_error(Code::kResourceExhausted,
                          "all {} slots are busy and {} requests are already waiting; retry later",
                          options_.slots, queue_.size());
      in_flight_++;
      queue_.push_back(job);
      if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
      wake_->cv.notify_all();
    }
    return std::shared_ptr<Generation>(job);
  }

  Status warm_up() override {
    std::lock_guard serial(warm_mu_);
    if (thread_.joinable()) return Status::ok();  // serving already: nothing left to warm
    struct JoinReader {  // a warmed instance (a zygote template) holds no thread: it may fork
      std::unique_ptr<ForwardOrderRead>& r;
      ~JoinReader() {
        if (r) r->join();
        r.reset();
      }
    } join_reader{reader_};
    for (const std::string& prompt : options_.warmup_prompts) {
      GenerateRequest r;
      r.prompt = prompt;
      r.max_tokens = std::max(1u, std::min(options_.warmup_tokens, info_.context_length / 2));
      r.sampling.temperature = 0.0f;
      Status result;
      THAW_ASSIGN_OR_RETURN(std::vector<int32_t> tokens, tokenize(r.prompt));
      THAW_TRY(check_fits(tokens.size(), r.max_tokens));
      auto job = std::make_shared<Job>(
          std::move(r),
          [&result](GenerationEvent e) {
            if (e.done && e.finish_reason == "error") result = e.error;
          },
          std::move(tokens), wake_);
      {
        std::lock_guard lock(wake_->mu);
        in_flight_++;
        queue_.push_back(job);
      }
      while (busy()) step();  // on this thread: no decoding thread exists yet
      THAW_TRY(result);
    }
    return Status::ok();
  }

 private:
  Status check_fits(size_t prompt_tokens, uint32_t max_tokens) const {
    if (prompt_tokens == 0) return make_error(Code::kInvalidArgument, "the prompt is empty");
    if (prompt_tokens + max_tokens > info_.context_length)
      return make_error(
          Code::kInvalidArgument,
          "the prompt ({} tokens) plus max_tokens ({}) exceeds the model's context of {} tokens; "
          "shorten the prompt or lower max_tokens",
          prompt_tokens, max_tokens, info_.context_length);
    return Status::ok();
  }

  bool busy() {
    std::lock_guard lock(wake_->mu);
    return !queue_.empty() ||
           std::any_of(slots_.begin(), slots_.end(), [](const Slot& s) { return s.job != nullptr; });
  }

  void run() {
    while (true) {
      {
        std::unique_lock lock(wake_->mu);
        wake_->cv.wait(lock, [&] {
          return stopping_ || !queue_.empty() ||
                 std::any_of(slots_.begin(), slots_.end(), [](const Slot& s) { return s.job != nullptr; });
        });
        if (stopping_) return;
      }
      step();
    }
  }

  void finish(Job& job, const char* reason, uint32_t generated, Status error) {
    {
      std::lock_guard lock(wake_->mu);
      in_flight_--;
    }
    GenerationEvent e;
    e.done = true;
    e.finish_reason = reason;
    e.prompt_tokens = static_cast<uint32_t>(job.tokens.size());
    e.cached_tokens = static_cast<uint32_t>(job.reused);
    e.completion_tokens = generated;
    e.error = std::move(error);
    job.sink(std::move(e));
  }

  void release(Slot& s, const char* reason, Status error = {}) {
    std::string tail = s.filter.flush();
    if (!tail.empty() && std::strcmp(reason, "cancelled") != 0 && std::strcmp(reason, "error") != 0) {
      GenerationEvent e;
      e.text = std::move(tail);
      s.job->sink(std::move(e));
    }
    const bool keep = options_.prompt_cache && error.is_ok();
    finish(*s.job, reason, s.generated, std::move(error));
    if (!keep) forget(s);
    s.job.reset();
    s.sampler.reset();
  }

  void forget(Slot& s) {
    llama_memory_seq_rm(llama_get_memory(ctx_.get()), s.seq, -1, -1);
    s.held.clear();
  }

  // Puts `job` in the free slot `s`, reusing the longest prefix of its prompt kept by any slot.
  void admit(Slot& s, std::shared_ptr<Job> job) {
    s.job = std::move(job);
    s.sampler = make_sampler(s.job->request.sampling);
    s.last = -1;
    s.generated = 0;
    s.filter = StopFilter(s.job->request.stop);
    const std::vector<llama_token>& prompt = s.job->tokens;
    size_t reuse = 0;
    if (options_.prompt_cache) {
      reuse = common_prefix(s.held, prompt);
      // Another slot's prefix is copied only when it is longer by more than kCopyThreshold.
      Slot* source = nullptr;
      size_t source_n = reuse + kCopyThreshold;
      for (Slot& other : slots_) {
        if (&other == &s) continue;
        if (const size_t n = common_prefix(other.held, prompt); n > source_n) {
          source = &other;
          source_n = n;
        }
      }
      if (source != nullptr) {  // a whole-sequence copy (per-sequence KV streams), trimmed below
        llama_memory_seq_cp(llama_get_memory(ctx_.get()), source->seq, s.seq, -1, -1);
        s.held = source->held;
        reuse = source_n;
      }
      // The last prompt token is always fed again: its logits give the first token.
      reuse = std::min(reuse, prompt.size() - 1);
    }
    if (reuse == 0 || !llama_memory_seq_rm(llama_get_memory(ctx_.get()), s.seq, static_cast<llama_pos>(reuse), -1)) {
      forget(s);
      reuse = 0;
    }
    s.held.resize(reuse);
    s.fed = reuse;
    s.pos = static_cast<llama_pos>(reuse);
    s.job->reused = reuse;
  }

  // The free slot for `prompt`: the one keeping its longest prefix, else the first.
  Slot* free_slot(const std::vector<llama_token>& prompt) {
    Slot* best = nullptr;
    size_t best_n = 0;
    for (Slot& s : slots_) {
      if (s.job) continue;
      const size_t n = options_.prompt_cache ? common_prefix(s.held, prompt) : 0;
      // Ties go to the slot keeping the least, so that other kept prefixes survive.
      if (best == nullptr || n > best_n || (n == best_n && s.held.size() < best->held.size())) {
        best = &s;
        best_n = n;
      }
    }
    return best;
  }

  // One decoding step over every active sequence.
  void step() {
    // Admit waiting requests into free slots; drop cancelled ones (their sinks run unlocked).
    for (Slot& s : slots_)
      if (s.job && s.job->cancelled) release(s, "cancelled");
    std::vector<std::shared_ptr<Job>> dropped;
    {
      std::lock_guard lock(wake_->mu);
      while (!queue_.empty()) {
        if (queue_.front()->cancelled) {
          dropped.push_back(std::move(queue_.front()));
          queue_.pop_front();
          continue;
        }
        Slot* s = free_slot(queue_.front()->tokens);
        if (s == nullptr) break;
        admit(*s, std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    for (auto& job : dropped) finish(*job, "cancelled", 0, {});
    // Build the batch: decoding sequences first (one token each), then prompt chunks.
    batch_.n_tokens = 0;
    const auto add = [&](Slot& s, llama_token t, bool logits) {
      const int32_t i = batch_.n_tokens++;
      batch_.token[i] = t;
      batch_.pos[i] = s.pos++;
      batch_.n_seq_id[i] = 1;
      batch_.seq_id[i][0] = s.seq;
      batch_.logits[i] = logits;
      if (logits) s.logits_index = i;
      s.held.push_back(t);
    };
    const int32_t capacity = static_cast<int32_t>(options_.batch);
    for (Slot& s : slots_) {
      s.logits_index = -1;
      if (s.job && s.fed == s.job->tokens.size() && s.last >= 0 && batch_.n_tokens < capacity)
        add(s, s.last, true);
    }
    for (Slot& s : slots_) {
      if (!s.job || s.fed == s.job->tokens.size()) continue;
      while (s.fed < s.job->tokens.size() && batch_.n_tokens < capacity) {
        const bool last = s.fed + 1 == s.job->tokens.size();
        add(s, s.job->tokens[s.fed++], last);
      }
    }
    if (batch_.n_tokens == 0) return;
    const int32_t rc = llama_decode(ctx_.get(), batch_);
    if (rc != 0) {
      Status err(Code::kInternal, fmt::format("llama_decode failed ({})", rc));
      for (Slot& s : slots_) {
        if (s.job) release(s, "error", err);
        forget(s);  // what a failed step left in the cache is unknown
      }
      return;
    }
    for (Slot& s : slots_) {
      if (!s.job || s.logits_index < 0) continue;
      if (s.job->cancelled) {
        release(s, "cancelled");
        continue;
      }
      const llama_token t = llama_sampler_sample(s.sampler.get(), ctx_.get(), s.logits_index);
      s.generated++;
      if (llama_vocab_is_eog(vocab_, t) && !s.job->request.ignore_eos) {
        release(s, "stop");
        continue;
      }
      char buf[256];
      int32_t n = llama_token_to_piece(vocab_, t, buf, sizeof buf, 0, false);
      std::string text = s.filter.push(std::string_view(buf, n > 0 ? static_cast<size_t>(n) : 0));
      if (!text.empty()) {
        GenerationEvent e;
        e.text = std::move(text);
        s.job->sink(std::move(e));
      }
      if (s.filter.stopped()) {
        release(s, "stop");
      } else if (s.generated >= s.job->request.max_tokens) {
        release(s, "length");
      } else {
        s.last = t;
      }
    }
  }

  std::unique_ptr<ForwardOrderRead> reader_;  // the weights' read in progress; gone after warm_up()
  std::unique_ptr<llama_model, ModelDeleter> model_;
  std::unique_ptr<llama_context, ContextDeleter> ctx_;
  const llama_vocab* vocab_;
  LlamaOptions options_;
  GeneratorInfo info_;
  ModelSignature signature_;
  std::string chat_template_;
  std::shared_ptr<Wake> wake_;
  llama_batch batch_;
  std::vector<Slot> slots_;                 // decoding thread (or warm_up) only
  std::deque<std::shared_ptr<Job>> queue_;  // wake_->mu
  bool stopping_ = false;                   // wake_->mu
  uint32_t in_flight_ = 0;                  // wake_->mu: queued or in a slot
  std::mutex warm_mu_;
  std::thread thread_;  // started by the first submit
};

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};

}  // namespace

bool have_llama_runtime() { return true; }

Result<std::unique_ptr<Backend>> create_llama_backend(const std::string& path, uint64_t offset,
                                                      const LlamaOptions& options) {
  static std::once_flag init;
  std::call_once(init, [] {
    llama_log_set(quiet_log, nullptr);
    llama_backend_init();
  });
  std::unique_ptr<std::FILE, FileCloser> file(std::fopen(path.c_str(), "rb"));
  if (!file) return make_error(Code::kIo, "cannot open {}: {}", path, std::strerror(errno));
  if (::fseeko(file.get(), static_cast<off_t>(offset), SEEK_SET) != 0)
    return make_error(Code::kIo, "cannot seek in {}: {}", path, std::strerror(errno));
  llama_model_params mp = llama_model_default_params();
  mp.n_gpu_layers = 0;
  mp.load_mode = LLAMA_LOAD_MODE_MMAP;  // the weights stay the bundle's pages, shared by every fork
  std::unique_ptr<llama_model, ModelDeleter> model;
  {
    LazyMappingScope lazy(!options.populate);
    model.reset(llama_model_load_from_file_ptr(file.get(), mp));
  }
  if (!model) return make_error(Code::kInvalidArgument, "llama.cpp cannot load the GGUF model in {}", path);
  // Started once llama.cpp has read the header (its small reads would otherwise wait behind the
  // weights' queued reads); the weights are read while the context is built and the first request
  // computes.
  auto reader = options.populate ? nullptr : std::make_unique<ForwardOrderRead>(path, offset);

  GeneratorInfo info = options.defaults;
  char arch[64] = {0};
  if (llama_model_meta_val_str(model.get(), "general.architecture", arch, sizeof arch) > 0)
    info.architecture = arch;
  const uint32_t trained = static_cast<uint32_t>(std::max(0, llama_model_n_ctx_train(model.get())));
  info.context_length =
      options.context ? options.context : std::min<uint32_t>(trained ? trained : 4096, 4096);
  info.slots = options.slots;
  info.queue_limit = options.queue;

  llama_context_params cp = llama_context_default_params();
  cp.n_seq_max = options.slots;
  cp.n_ctx = info.context_length * options.slots;
  cp.n_batch = options.batch;
  cp.n_ubatch = std::min<uint32_t>(options.batch, 512);
  cp.kv_unified = false;  // every sequence its own share of the cache: one long prompt cannot starve the rest
  const uint32_t threads =
      options.threads ? options.threads : std::max(1u, usable_cores());
  cp.n_threads = static_cast<int32_t>(threads);
  cp.n_threads_batch = static_cast<int32_t>(threads);
  cp.no_perf = true;
  std::unique_ptr<llama_context, ContextDeleter> ctx(llama_init_from_model(model.get(), cp));
  if (!ctx)
    return make_error(Code::kResourceExhausted, "llama.cpp cannot create a context of {} tokens", cp.n_ctx);
  return std::unique_ptr<Backend>(
      new LlamaBackend(std::move(model), std::move(ctx), options, std::move(info), std::move(reader)));
}

}  // namespace thaw::engine
