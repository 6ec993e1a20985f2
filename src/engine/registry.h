// The backend registry: the plugins this build knows, keyed by manifest.backend. Built explicitly
// at start-up (make_builtin_registry() in builtin_registry.h) and passed to whoever needs it;
// read-only and thread-safe once built.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "engine/plugin.h"

namespace thaw::engine {

class Registry {
 public:
  Registry() = default;
  Registry(Registry&&) = default;
  Registry& operator=(Registry&&) = default;

  // Adds a plugin. Throws std::invalid_argument when its name, or a command-line alias of one of
  // its options, is already taken: a programming error, found at start-up.
  void add(std::unique_ptr<Plugin> plugin);

  // The plugin for manifest.backend `backend`; kNotFound naming it and the known backends.
  Result<const Plugin*> find(std::string_view backend) const;
  // The first plugin that claims `input` for packing; nullptr when none does.
  const Plugin* claim(const std::string& input) const;
  // The load plan of the bundle at `path`, from its manifest (opens the file, reads no data).
  Result<LoadPlan> load_plan(const std::string& path) const;
  // The byte ranges of the bundle file (offset, length) a start reads, when its plugin's plan says
  // it reads only files (LoadPlan::reads_only_files) and the bundle is uncompressed; empty when a
  // start may read anything (or the backend is unknown).
  std::vector<std::pair<uint64_t, uint64_t>> start_ranges(const bundle::Manifest& manifest) const;

  // In the order added.
  std::vector<const Plugin*> plugins() const;
  // "onnx: ONNX models (*.onnx)", "; "-separated, for errors and help.
  std::string describe_packers() const;
  // "onnx, python, llm": the known backends.
  std::string names() const;

 private:
  std::vector<std::unique_ptr<Plugin>> plugins_;
};

}  // namespace thaw::engine
