#include "worker/bundle_model.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include <sys/resource.h>
#include <cerrno>
#include <unistd.h>

#include "bundle/bundle.h"
#include "bundle/mapped_file.h"
#include "bundle/verified_cache.h"
#include "loader/loader.h"
#include "worker/text_encoder_factory.h"

namespace thaw::worker {
namespace {

// The route families this worker serves (see routes.h).
constexpr engine::RouteFamily kServedRoutes[] = {engine::RouteFamily::kOpenInference,
                                                  engine::RouteFamily::kOpenAICompletions};

std::string as_string(std::span<const std::byte> bytes) {
  return std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

// Everything decided from the manifest before any data is read.
struct Preparation {
  const engine::Plugin* plugin = nullptr;
  engine::BackendOptions options;
  engine::LoadPlan plan;
};

Result<Preparation> prepare(const engine::Registry& backends, const bundle::Manifest& m,
                            const BundleModelOptions& options) {
  Preparation p;
  THAW_ASSIGN_OR_RETURN(p.plugin, backends.find(m.backend));
  const std::string owner = fmt::format("backend '{}'", m.backend);
  THAW_ASSIGN_OR_RETURN(
      p.options, engine::BackendOptions::parse(options.backend_options, p.plugin->create_options(), owner));
  for (engine::RouteFamily family : p.plugin->protocol().routes) {
    if (std::find(std::begin(kServedRoutes), std::end(kServedRoutes), family) == std::end(kServedRoutes))
      return make_error(Code::kUnsupported,
                        "{} is served under the {} routes, which this worker does not serve", owner,
                        engine::route_family_name(family));
  }
  p.plan = p.plugin->load_plan(m);
  if (options.zygote && !p.plan.zygote_safe)
    return make_error(Code::kUnsupported,
                      "{} cannot run as a zygote: forking a loaded instance is unsafe for it", owner);
  return p;
}

// Loads the data section as `plan` says: everything, or a lazy mapping with only the plan's files
// faulted in (so a cold start reads no more than the backend uses).
Result<loader::LoadedBundle> load_data(const bundle::Reader& reader, const engine::LoadPlan& plan) {
  loader::LoadOptions lo;
  lo.threads = 1;  // no threads left behind: a zygote may fork after loading
  const bool lazy = (!plan.fault_in.empty() || plan.runtime_maps_file) &&
                    reader.manifest().compression == bundle::Compression::kNone;
  if (lazy) {
    lo.mode = loader::Mode::kMmap;
    lo.touch = lo.populate = lo.willneed = false;
  }
  THAW_ASSIGN_OR_RETURN(loader::LoadedBundle loaded, loader::load(reader, lo));
  if (lazy)
    for (const std::string& file : plan.fault_in)
      (void)loaded.fault_in_file(file);  // best effort: else on use
  return loaded;
}

Result<std::vector<std::vector<OwnedTensor>>> warmup_requests(const loader::LoadedBundle& bundle) {
  std::vector<std::vector<OwnedTensor>> out;
  for (const bundle::WarmupRequest& w : bundle.manifest().warmup) {
    std::vector<OwnedTensor> request;
    for (const bundle::WarmupInput& in : w.inputs) {
      auto bytes = bundle.file(in.file);
      if (!bytes.is_ok()) return bytes.status().with_context(fmt::format("warm-up input {}", in.file));
      OwnedTensor t{in.tensor_name, in.dtype, in.shape, {}};
      t.data.assign(bytes->begin(), bytes->end());
      request.push_back(std::move(t));
    }
    out.push_back(std::move(request));
  }
  return out;
}

// Hashes the file through a mapping: no copy, and the pages it brings in are the load's too.
Status verify_file(const std::string& path) {
  THAW_ASSIGN_OR_RETURN(bundle::MappedFile map, bundle::MappedFile::open(path));
  THAW_ASSIGN_OR_RETURN(bundle::Reader reader, bundle::Reader::from_memory(map.bytes()));
  return reader.verify();
}

// Checks every byte of the bundle on a thread of its own, unless the cache says this file passed
// before. Reading the whole file also brings into the page cache what the load reads next.
class BackgroundVerify {
 public:
  BackgroundVerify(const std::string& path, const BundleModelOptions& options) : cache_(options.verify_cache_dir) {
    if (options.verify == VerifyMode::kNever) return;
    if (options.verify == VerifyMode::kFirstStart && cache_.verified(path)) return;
    auto key = bundle::VerifiedCache::key(path);
    if (key.is_ok() && options.verify == VerifyMode::kFirstStart) key_ = *key;
    thread_ = std::jthread([this, path] {
      // Below the load in priority (its helper threads inherit this): on a busy machine the check
      // takes the cycles the load leaves, and the start waits for it only at the end.
      const id_t self = static_cast<id_t>(::gettid());
      errno = 0;
      const int nice = ::getpriority(PRIO_PROCESS, self);
      if (errno == 0) (void)::setpriority(PRIO_PROCESS, self, std::min(nice + 10, 19));
      result_ = verify_file(path);
    });
  }
  bool running() const { return thread_.joinable(); }
  // Waits for the check; remembers a pass in the cache.
  Status finish() {
    if (!thread_.joinable()) return Status::ok();
    thread_.join();
    if (!result_.is_ok())
      return Status(result_.code() == Code::kIo ? Code::kIo : Code::kCorrupt,
                    "its data failed the check: " + result_.message());
    if (!key_.empty()) (void)cache_.mark(key_);  // best effort: else checked again next start
    return Status::ok();
  }

 private:
  bundle::VerifiedCache cache_;
  std::string key_;
  Status result_;
  std::jthread thread_;  // last: joined before the members it writes go
};

}  // namespace

Result<LoadedModel> load_bundle_model(const engine::Registry& backends, const std::string& path,
                                      const BundleModelOptions& options, ColdStartTimeline& timeline) {
  BackgroundVerify verify(path, options);
  auto reader = bundle::Reader::open(path);
  if (!reader.is_ok()) return reader.status().with_context(fmt::format("opening bundle {}", path));
  auto prepared = prepare(backends, reader->manifest(), options);
  if (!prepared.is_ok()) return prepared.status().with_context(fmt::format("bundle {}", path));
  auto res = std::make_shared<loader::LoadedBundle>();
  {
    auto loaded = load_data(*reader, prepared->plan);
    if (!loaded.is_ok()) return loaded.status().with_context(fmt::format("opening bundle {}", path));
    *res = std::move(loaded).value();
  }
  timeline.mark("bundle_open");
  const bundle::Manifest& m = res->manifest();

  // The tokenizer parses on a second core while the backend is created on this one. The thread is
  // always joined before returning (jthread), so a zygote still forks with one thread.
  std::optional<Result<std::unique_ptr<TextEncoder>>> encoder;
  std::jthread tokenizer_loader;
  if (auto tok = res->file("tokenizer.json"); tok.is_ok()) {
    tokenizer_loader =
        std::jthread([&encoder, json = as_string(*tok)] { encoder.emplace(make_text_encoder(json)); });
  }

  auto backend = prepared->plugin->create(*res, prepared->options);
  if (!backend.is_ok())
    return backend.status().with_context(fmt::format("creating the backend for {}", path));
  timeline.mark("session_create");

  LoadedModel model;
  model.name = m.name;
  model.version = m.version.empty() ? "1" : m.version;
  model.platform = prepared->plugin->protocol().platform;
  model.backend = std::move(backend).value();
  model.keep_alive = res;

  model.max_text_tokens = options.max_text_tokens;
  if (model.max_text_tokens == 0 && m.metadata.contains("max_seq_length") &&
      m.metadata["max_seq_length"].is_number_unsigned())
    model.max_text_tokens = m.metadata["max_seq_length"].get<size_t>();
  if (model.max_text_tokens == 0) model.max_text_tokens = 512;
  // Positions: the bundle's, else those of the BERT family (512), or the text length if longer.
  for (const char* key : {"max_positions", "max_position_embeddings"})
    if (m.metadata.contains(key) && m.metadata[key].is_number_unsigned() && model.max_positions == 0)
      model.max_positions = m.metadata[key].get<size_t>();
  if (model.max_positions == 0) model.max_positions = std::max<size_t>(512, model.max_text_tokens);

  if (tokenizer_loader.joinable()) {
    tokenizer_loader.join();
    if (!encoder->is_ok()) return encoder->status().with_context(fmt::format("tokenizer.json in {}", path));
    model.text_encoder = std::move(*encoder).value();  // null: this build takes no text
    timeline.mark("tokenizer_load");                   // only the wait beyond session creation
  }

  THAW_ASSIGN_OR_RETURN(model.warmup, warmup_requests(*res));
  if (verify.running()) {
    if (Status s = verify.finish(); !s.is_ok()) return s.with_context(fmt::format("bundle {}", path));
    timeline.mark("verify");  // only the wait beyond the load
  }
  return model;
}

}  // namespace thaw::worker
