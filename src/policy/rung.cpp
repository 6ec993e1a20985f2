#include "policy/rung.h"

#include <cmath>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

namespace thaw::policy {

std::string_view rung_name(Rung r) {
  switch (r) {
    case Rung::kWarm: return "warm";
    case Rung::kZygote: return "zygote";
    case Rung::kPageCache: return "page_cache";
    case Rung::kDisk: return "disk";
    case Rung::kRegistry: return "registry";
  }
  return "?";
}

Result<RungProfile> parse_rung_profile(std::string_view yaml_text) {
  RungProfile p;
  try {
    YAML::Node root = YAML::Load(std::string(yaml_text));
    if (!root.IsMap()) return make_error(Code::kInvalidArgument, "rung profile: top level must be a map");
    YAML::Node rungs = root["rungs"];
    if (!rungs || !rungs.IsMap())
      return make_error(Code::kInvalidArgument, "rung profile: missing 'rungs' map");
    for (Rung r : kAllRungs) {
      std::string name(rung_name(r));
      YAML::Node n = rungs[name];
      if (!n && r == Rung::kRegistry) {
        const RungProfile builtin;
        p.latency_ms[index(r)] = p.latency_ms[index(Rung::kDisk)] + builtin.latency_ms[index(r)] -
                                 builtin.latency_ms[index(Rung::kDisk)];
        p.memory_fraction[index(r)] = 0.0;
        continue;
      }
      if (!n || !n.IsMap()) return make_error(Code::kInvalidArgument, "rung profile: missing rung '{}'", name);
      if (!n["latency_ms"] || !n["memory_fraction"])
        return make_error(Code::kInvalidArgument, "rung profile: rung '{}' needs latency_ms and memory_fraction", name);
      p.latency_ms[index(r)] = n["latency_ms"].as<double>();
      p.memory_fraction[index(r)] = n["memory_fraction"].as<double>();
    }
    if (root["source"]) p.source = root["source"].as<std::string>();
  } catch (const YAML::Exception& e) {
    return make_error(Code::kInvalidArgument, "rung profile: {}", e.what());
  }
  for (int i = 0; i < kRungCount; ++i) {
    if (!(p.latency_ms[i] >= 0.0) || !(p.memory_fraction[i] >= 0.0) || !std::isfinite(p.latency_ms[i]) ||
        !std::isfinite(p.memory_fraction[i]))
      return make_error(Code::kInvalidArgument, "rung profile: rung '{}' needs latency_ms >= 0 and memory_fraction >= 0",
                        rung_name(static_cast<Rung>(i)));
    if (i > 0 && p.latency_ms[i] < p.latency_ms[i - 1])
      return make_error(Code::kInvalidArgument, "rung profile: down the ladder latency must not fall (at '{}')",
                        rung_name(static_cast<Rung>(i)));
  }
  if (p.memory_fraction[index(Rung::kDisk)] != 0.0)
    return make_error(Code::kInvalidArgument, "rung profile: the disk rung holds no memory");
  if (p.memory_fraction[index(Rung::kRegistry)] != 0.0)
    return make_error(Code::kInvalidArgument, "rung profile: the registry rung holds no memory");
  return p;
}

std::string rungs_yaml(const RungProfile& p, int indent) {
  const std::string pad(static_cast<size_t>(indent), ' ');
  std::string out;
  for (Rung r : kAllRungs)
    out += fmt::format("{}{}: {{latency_ms: {:.6g}, memory_fraction: {:.6g}}}\n", pad, rung_name(r),
                       p.latency_ms[index(r)], p.memory_fraction[index(r)]);
  return out;
}

Result<RungProfile> load_rung_profile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return make_error(Code::kNotFound, "cannot open profile {}", path);
  std::stringstream text;
  text << in.rdbuf();
  auto profile = parse_rung_profile(text.str());
  if (!profile.is_ok()) return profile.status().with_context(path);
  return profile;
}

}  // namespace thaw::policy
