// `thaw sim`: replays a serverless trace through one or more keep-alive / pre-warm policies and
// reports cold starts per rung, added latency, idle memory and its cost.
#include <cstdio>
#include <algorithm>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/python_tool.h"
#include "cli/sim_cluster.h"
#include "cli/write_file.h"
#include "common/progress.h"
#include "policy/policy_spec.h"
#include "sim/report.h"
#include "sim/trace.h"

namespace thaw::cli {
namespace {

struct SimArgs {
  std::string trace;
  std::vector<std::string> policies;
  bool sweep = false;
  std::string profile;
  std::string json_out, csv_out, plot_out;
  int threads = 2;
  uint64_t seed = 1;
  double price = 0.0000166667;
  double default_memory_mb = 170.0;
  size_t max_apps = 0;
  bool progress = true;
  std::string model = "manager";
  int concurrency = 0;
  int max_instances = 1;
  int min_instances = 0;
  ClusterArgs cluster;
  bool from_registry = false;
  double store_budget_gb = 0.0;
};

int run_sim(const SimArgs& a) {
  if (!a.cluster.nodes.empty()) {
    if (a.policies.size() > 1 || a.sweep || a.model != "manager" || !a.csv_out.empty()) {
      fmt::print(stderr, "error: --nodes runs one policy (default ladder) through the manager; drop --sweep, "
                         "--csv, --model and extra --policy flags\n");
      return kExitUsage;
    }
    return run_cluster(a.cluster, a.trace, a.policies.empty() ? "ladder" : a.policies.front(), a.profile, a.seed,
                       a.default_memory_mb, a.threads, a.json_out, a.plot_out);
  }
  if (!a.cluster.models.empty() || a.cluster.minutes > 0) {
    fmt::print(stderr, "error: --models and --minutes belong to the cluster simulation; add --nodes N\n");
    return kExitUsage;
  }
  policy::RungProfile profile;
  if (!a.profile.empty()) {
    auto p = policy::load_rung_profile(a.profile);
    if (!p.is_ok()) {
      fmt::print(stderr, "error: {}\n", p.status().to_string());
      return p.status().code() == Code::kNotFound ? kExitNotFound : kExitUsage;
    }
    profile = *p;
  }
  std::vector<std::string> specs;
  std::vector<std::string> requested = a.policies;
  if (requested.empty()) requested = {"fixed10", "hybrid", "ladder", "fixed4", "gbm", "spes", "faascache"};
  for (const auto& p : requested) {
    specs.push_back(p);  // the configuration as given is always run
    if (!a.sweep) continue;
    std::string family = p.substr(0, p.find(':'));
    auto sw = policy::sweep_specs(family);
    if (!sw.is_ok()) {
      fmt::print(stderr, "error: {}\n", sw.status().message());
      return kExitUsage;
    }
    for (auto& s : *sw) specs.push_back(s);
  }
  for (const auto& s : specs) {  // reject bad specs before reading the trace
    auto pol = policy::make_policy(s, profile);
    if (!pol.is_ok()) {
      fmt::print(stderr, "error: {}\n", pol.status().message());
      return kExitUsage;
    }
  }
  sim::TraceOptions topts;
  topts.seed = a.seed;
  topts.default_memory_mb = a.default_memory_mb;
  topts.max_apps = a.max_apps;
  auto trace = sim::read_trace(a.trace, topts);
  if (!trace.is_ok()) {
    fmt::print(stderr, "error: {}\n", trace.status().to_string());
    return trace.status().code() == Code::kNotFound ? kExitNotFound : kExitFailure;
  }
  fmt::print(stderr, "trace {}: {} apps, {} invocations, {:.0f} minutes; {} configuration(s)\n", trace->format,
             trace->apps.size(), trace->invocations, policy::to_minutes(trace->horizon), specs.size());
  sim::SimOptions opts;
  opts.profile = profile;
  opts.price_gb_s = a.price;
  if (a.concurrency > 0) opts.concurrency = a.concurrency;
  opts.max_instances = a.max_instances;
  opts.min_instances = a.min_instances;
  opts.from_registry = a.from_registry;
  opts.store_budget_bytes = static_cast<uint64_t>(a.store_budget_gb * 1024.0 * 1024.0 * 1024.0);
  ProgressBar bar("sim", trace->invocations * specs.size(), a.progress && ProgressBar::stderr_is_tty());
  uint64_t shown = 0;
  opts.progress = [&](uint64_t n) {
    if (n > shown) bar.advance(n - shown);
    shown = n;
  };
  auto results = sim::run_specs(*trace, specs, opts, a.threads, a.model == "plans");
  bar.finish();

  nlohmann::json j;
  j["trace"] = {{"path", a.trace}, {"format", trace->format}, {"apps", trace->apps.size()},
                {"invocations", trace->invocations}, {"minutes", policy::to_minutes(trace->horizon)}, {"seed", a.seed}};
  j["profile"] = {{"source", profile.source}};
  for (policy::Rung r : policy::kAllRungs)
    j["profile"][std::string(policy::rung_name(r))] = {{"latency_ms", profile.latency_ms[policy::index(r)]},
                                                       {"memory_fraction", profile.memory_fraction[policy::index(r)]}};
  j["price_gb_s"] = a.price;
  j["model"] = a.model;
  j["serving"] = {{"concurrency", a.concurrency > 0 ? nlohmann::json(a.concurrency) : nlohmann::json("unbounded")},
                  {"max_instances", a.max_instances}, {"min_instances", a.min_instances}};
  j["results"] = nlohmann::json::array();
  std::string csv = sim::csv_header() + "\n";
  int rc = kExitOk;
  fmt::print("{:<40} {:>8} {:>8} {:>8} {:>8} {:>11} {:>11} {:>6}\n", "policy", "cold%", "expens%", "mean ms",
             "p99 ms", "idle GB*s", "pcache GB*s", "run s");
  for (size_t i = 0; i < specs.size(); ++i) {
    if (!results[i].is_ok()) {
      fmt::print(stderr, "error: {}: {}\n", specs[i], results[i].status().to_string());
      rc = kExitFailure;
      continue;
    }
    const auto& r = *results[i];
    fmt::print("{:<40} {:>8.3f} {:>8.3f} {:>8.2f} {:>8.1f} {:>11.0f} {:>11.0f} {:>6.2f}\n", specs[i], r.cold_pct,
               r.expensive_pct, r.latency_mean_ms, r.latency_p99_ms, r.idle_gb_s, r.page_cache_gb_s, r.runtime_s);
    auto rj = sim::to_json(r, true);
    rj["requested"] = specs[i];
    rj["sweep_family"] = specs[i].substr(0, specs[i].find(':'));
    rj["is_sweep_point"] = a.sweep && std::find(requested.begin(), requested.end(), specs[i]) == requested.end();
    j["results"].push_back(std::move(rj));
    csv += sim::csv_row(r) + "\n";
  }
  std::string json_path = a.json_out;
  if (json_path.empty() && !a.plot_out.empty()) json_path = a.plot_out + ".json";
  if (!json_path.empty()) {
    if (Status s = write_file(json_path, j.dump(1)); !s.is_ok()) {
      fmt::print(stderr, "error: {}\n", s.message());
      return kExitFailure;
    }
  }
  if (!a.csv_out.empty()) {
    if (Status s = write_file(a.csv_out, csv); !s.is_ok()) {
      fmt::print(stderr, "error: {}\n", s.message());
      return kExitFailure;
    }
  }
  if (!a.plot_out.empty()) {
    if (Status s = run_python_tool("tools/plot_sim.py", {"--json", json_path, "--out", a.plot_out}); !s.is_ok()) {
      fmt::print(stderr, "error: plotting: {}\n", s.message());
      return kExitFailure;
    }
  }
  return rc;
}

}  // namespace

void register_sim(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<SimArgs>();
  CLI::App* cmd = app.add_subcommand(
      "sim",
      "Replay a serverless trace through keep-alive / pre-warm policies, carried out by the same\n"
      "manager code as `thaw serve` (instance pool, ladder controller) over a simulated launcher.\n"
      "Reports per policy: starts by rung (warm hit, zygote, page cache, disk), % cold and % expensive\n"
      "(process start or worse), added latency mean/p50/p99, idle memory in GB*s (warm instances +\n"
      "zygotes, PSS; page-cache GB*s apart) and its $ cost. Policies: " + policy::policy_help() + ".\n"
      "With --nodes: the cluster on paper (docs/sim.md#the-cluster-on-paper-thaw-sim---nodes).\n"
      "Example: thaw sim --trace traces/azure2019 --policy fixed10 --policy hybrid --sweep --plot out.png\n"
      "         thaw sim --trace traces/azure2019 --nodes 1 --nodes 4 --nodes 16 --node-memory 16 --plot c.png");
  cmd->add_option("--trace", args->trace,
                  "Azure Functions 2019 directory (invocations*.csv [+ durations, memory]) or 2021 CSV file")
      ->required();
  cmd->add_option("--policy", args->policies, "Policy spec name[:param=value,...]; repeatable (default: all)");
  cmd->add_flag("--sweep", args->sweep, "Also run each policy family's parameter sweep (Pareto frontier)");
  cmd->add_option("--profile", args->profile,
                  "Rung profile YAML (latency and memory per rung): profiles/*.yaml, or the one `thaw serve` "
                  "measured (GET /admin/profile, --write-profile)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--json", args->json_out, "Write results as JSON");
  cmd->add_option("--csv", args->csv_out, "Write results as CSV");
  cmd->add_option("--plot", args->plot_out,
                  "Write the Pareto frontier PNG here and the per-app cold-start CDF next to it (*-cdf.png), "
                  "via tools/plot_sim.py (matplotlib)");
  cmd->add_option("--threads", args->threads, "Configurations run in parallel")->check(CLI::Range(1, 256));
  cmd->add_option("--seed", args->seed, "Seed of the within-minute arrival spreading");
  cmd->add_option("--price-gb-s", args->price, "$ per GB*s of idle memory (default: AWS Lambda list price)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--default-memory-mb", args->default_memory_mb, "Memory of apps without a memory record")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--max-apps", args->max_apps, "Replay only the first N apps (0 = all)");
  cmd->add_flag("!--no-progress", args->progress, "Hide the progress bar");
  cmd->add_option("--concurrency", args->concurrency,
                  "Requests per instance, as a model's `concurrency` in thaw.yaml (default: unbounded, one "
                  "instance serves all of an app's requests)")
      ->check(CLI::Range(1, 1 << 30));
  cmd->add_option("--max-instances", args->max_instances, "Instances per app, as in thaw.yaml")
      ->check(CLI::Range(1, 1 << 20))->capture_default_str();
  cmd->add_option("--min-instances", args->min_instances, "Warm floor per app, as in thaw.yaml")
      ->check(CLI::Range(0, 1 << 20))->capture_default_str();
  cmd->add_flag("--from-registry", args->from_registry,
                "Every app's bundle starts in a registry (thaw.yaml `source:`): its first start pays the "
                "registry rung (the profile's fetch cost), later ones start from disk");
  cmd->add_option("--store-budget", args->store_budget_gb,
                  "With --from-registry: the model store's disk budget in GB (thaw.yaml store.budget_mb); a "
                  "fetch past it evicts the least recently used copies not in use, which pay the registry "
                  "rung again (0 = no budget)")
      ->check(CLI::NonNegativeNumber)->needs("--from-registry");
  cmd->add_option("--model", args->model,
                  "manager: replay through the manager (default); plans: the earlier analytic model that "
                  "evaluates each idle plan without carrying it out (for comparison)")
      ->check(CLI::IsMember({"manager", "plans"}))->capture_default_str();
  add_cluster_flags(*cmd, args->cluster);
  cmd->callback([args, exit_code] { *exit_code = run_sim(*args); });
}

}  // namespace thaw::cli
