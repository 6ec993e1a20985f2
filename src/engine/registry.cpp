#include "engine/registry.h"

#include <fmt/format.h>

#include <stdexcept>

namespace thaw::engine {
namespace {

// Every command-line alias a plugin declares, pack and create options alike.
std::vector<std::string_view> aliases(const Plugin& p) {
  std::vector<std::string_view> out;
  for (auto specs : {p.pack_options(), p.create_options()})
    for (const OptionSpec& s : specs)
      if (!s.alias.empty()) out.push_back(s.alias);
  return out;
}

}  // namespace

void Registry::add(std::unique_ptr<Plugin> plugin) {
  if (plugin == nullptr || plugin->name().empty())
    throw std::invalid_argument("a backend plugin needs a name");
  for (const auto& p : plugins_) {
    if (p->name() == plugin->name())
      throw std::invalid_argument(fmt::format("backend '{}' is registered twice", plugin->name()));
    for (std::string_view a : aliases(*plugin))
      for (std::string_view b : aliases(*p))
        if (a == b)
          throw std::invalid_argument(fmt::format("backends '{}' and '{}' both declare option alias {}",
                                                  p->name(), plugin->name(), a));
  }
  plugins_.push_back(std::move(plugin));
}

Result<const Plugin*> Registry::find(std::string_view backend) const {
  for (const auto& p : plugins_)
    if (p->name() == backend) return p.get();
  return make_error(Code::kNotFound, "no backend '{}' in this build of thaw (known backends: {})", backend,
                    names());
}

const Plugin* Registry::claim(const std::string& input) const {
  for (const auto& p : plugins_)
    if (!p->packs().empty() && p->claims(input)) return p.get();
  return nullptr;
}

Result<LoadPlan> Registry::load_plan(const std::string& path) const {
  THAW_ASSIGN_OR_RETURN(bundle::Reader reader, bundle::Reader::open(path));
  THAW_ASSIGN_OR_RETURN(const Plugin* plugin, find(reader.manifest().backend));
  return plugin->load_plan(reader.manifest());
}

std::vector<std::pair<uint64_t, uint64_t>> Registry::start_ranges(const bundle::Manifest& manifest) const {
  auto plugin = find(manifest.backend);
  if (!plugin.is_ok() || manifest.compression != bundle::Compression::kNone) return {};
  if (!(*plugin)->load_plan(manifest).reads_only_files) return {};
  std::vector<std::pair<uint64_t, uint64_t>> out;
  for (const bundle::FileEntry& f : manifest.files) out.emplace_back(manifest.data_offset + f.offset, f.length);
  return out;
}

std::vector<const Plugin*> Registry::plugins() const {
  std::vector<const Plugin*> out;
  for (const auto& p : plugins_) out.push_back(p.get());
  return out;
}

std::string Registry::describe_packers() const {
  std::string out;
  for (const auto& p : plugins_) {
    if (p->packs().empty()) continue;
    out += fmt::format("{}{}: {}", out.empty() ? "" : "; ", p->name(), p->packs());
  }
  return out;
}

std::string Registry::names() const {
  std::string out;
  for (const auto& p : plugins_) out += fmt::format("{}{}", out.empty() ? "" : ", ", p->name());
  return out.empty() ? "none" : out;
}

}  // namespace thaw::engine
