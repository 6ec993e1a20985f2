#include "cli/backend_opts.h"

#include <fmt/format.h>

namespace thaw::cli {

std::vector<std::string> BackendOptItems::all() const {
  std::vector<std::string> out = aliased;
  out.insert(out.end(), given.begin(), given.end());
  return out;
}

void add_backend_opts(CLI::App* cmd, const engine::Registry& backends, BackendOptKind kind,
                      BackendOptItems* items) {
  cmd->add_option("--backend-opt", items->given,
                  "KEY=VALUE for the backend (repeatable); unknown keys and bad values are refused. The keys "
                  "each backend takes are listed below")
      ->allow_extra_args(false);
  std::string footer;
  for (const engine::Plugin* p : backends.plugins()) {
    auto specs = kind == BackendOptKind::kPack ? p->pack_options() : p->create_options();
    footer += fmt::format("\nBackend {} options (--backend-opt):\n{}", p->name(),
                          specs.empty() ? "  none\n" : engine::describe_options(specs));
    for (const engine::OptionSpec& s : specs) {
      if (s.alias.empty()) continue;
      const std::string key = s.key;
      if (s.alias_value.empty()) {
        cmd->add_option_function<std::string>(
            s.alias, [items, key](const std::string& v) { items->aliased.push_back(key + "=" + v); },
            fmt::format("Same as --backend-opt {}=VALUE", key));
      } else {
        const std::string item = key + "=" + s.alias_value;
        cmd->add_flag_function(
            s.alias, [items, item](int64_t) { items->aliased.push_back(item); },
            fmt::format("Same as --backend-opt {}", item));
      }
    }
  }
  const std::string before = cmd->get_footer();
  cmd->footer(before.empty() ? footer.substr(1) : before + "\n" + footer);
}

}  // namespace thaw::cli
