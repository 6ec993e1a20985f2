// Process-layer benchmark for `thaw serve`: how fast the manager gets a serving instance on each
// rung (a fresh `thaw run` with the bundle on disk only, after warm_page_cache, with a hot cache;
// a fork from a zygote template), what stopping costs, and what each instance costs in memory
// (PSS). Prints markdown tables and writes JSON.
//
// Usage: thaw_process_bench --thaw BIN --bundle B.thaw [--reps N] [--children K] [--json out.json]
// "ready" means the handle returned and GET /v2/health/ready answered 200.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "http/client.h"
#include "loader/page_cache.h"
#include "manager/process.h"
#include "protocol/worker_protocol.h"

namespace {

using namespace thaw;
using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

struct Stats {
  double median = NAN, p90 = NAN, min = NAN;
};
Stats stats(std::vector<double> v) {
  if (v.empty()) return {};
  std::sort(v.begin(), v.end());
  auto at = [&](double q) {
    return v[std::min(v.size() - 1, static_cast<size_t>(q * double(v.size() - 1) + 0.5))];
  };
  return {at(0.5), at(0.9), v.front()};
}

[[noreturn]] void die(const std::string& what) {
  std::cerr << "thaw_process_bench: " << what << "\n";
  std::exit(1);
}

template <typename T>
T must(Result<T> r, const char* what) {
  if (!r.is_ok()) die(std::string(what) + ": " + r.status().to_string());
  return std::move(r).value();
}

void must_ready(const http::Endpoint& ep) {
  http::Client client(http::ClientOptions{ep, std::chrono::seconds(30)});
  auto r = client.get(protocol::kReadyPath);
  if (!r.is_ok() || r->status != 200) die("instance at " + ep.to_string() + " is not ready");
}

double mib(uint64_t bytes) { return double(bytes) / (1 << 20); }

}  // namespace

int main(int argc, char** argv) {
  std::string thaw_bin, bundle, json_path;
  int reps = 10, children = 4;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--thaw")
      thaw_bin = argv[i + 1];
    else if (flag == "--bundle")
      bundle = argv[i + 1];
    else if (flag == "--reps")
      reps = std::max(1, std::atoi(argv[i + 1]));
    else if (flag == "--children")
      children = std::max(1, std::atoi(argv[i + 1]));
    else if (flag == "--json")
      json_path = argv[i + 1];
    else
      die("unknown flag " + flag);
  }
  if (thaw_bin.empty() || bundle.empty())
    die("usage: --thaw BIN --bundle B.thaw [--reps N] [--children K] [--json F]");

  std::string work =
      (std::filesystem::temp_directory_path() / ("thaw_process_bench_" + std::to_string(::getpid())))
          .string();
  std::filesystem::create_directories(work);
  manager::LaunchOptions options;
  options.thaw_exe = thaw_bin;
  options.bundle = bundle;
  options.args = {"--warmup", "1"};
  options.log_path = work + "/bench.log";
  const auto tcp0 = http::Endpoint::tcp("127.0.0.1", 0);
  nlohmann::json out;

  // A fresh `thaw run` per rep; `prepare` sets the page cache up before each start.
  auto spawn_series = [&](const char* name, auto prepare) {
    std::vector<double> ready_ms, stop_ms, prepare_ms;
    for (int i = 0; i < reps; ++i) {
      auto t_prep = Clock::now();
      prepare();
      prepare_ms.push_back(ms_since(t_prep));
      auto t0 = Clock::now();
      auto w = must(manager::InstanceProcess::spawn(options, tcp0), "spawn");
      must_ready(w->endpoint());
      ready_ms.push_back(ms_since(t0));
      auto t1 = Clock::now();
      w->stop(std::chrono::seconds(10));
      stop_ms.push_back(ms_since(t1));
    }
    Stats r = stats(ready_ms), s = stats(stop_ms), p = stats(prepare_ms);
    out["spawn"][name] = {{"ready_ms", ready_ms}, {"stop_ms", stop_ms}, {"prepare_ms", prepare_ms}};
    std::printf("| %-28s | %8.1f | %8.1f | %8.1f | %8.1f | %10.1f |\n", name, r.median, r.p90, r.min,
                s.median, p.median);
  };
  auto evict = [&] {
    if (Status s = loader::evict(bundle); !s.is_ok()) die(s.to_string());
  };
  std::printf("machine: %ld cores, load %s\n", ::sysconf(_SC_NPROCESSORS_ONLN),
              [] {
                std::ifstream f("/proc/loadavg");
                std::string a, b, c;
                f >> a >> b >> c;
                return a + " " + b + " " + c;
              }()
                  .c_str());
  std::printf("\nStart to ready (ms), %d reps each\n\n", reps);
  std::printf("| %-28s | %8s | %8s | %8s | %8s | %10s |\n", "rung", "median", "p90", "min", "stop",
              "prepare");
  std::printf("|%s|%s|%s|%s|%s|%s|\n", std::string(30, '-').c_str(), std::string(10, '-').c_str(),
              std::string(10, '-').c_str(), std::string(10, '-').c_str(), std::string(10, '-').c_str(),
              std::string(12, '-').c_str());
  spawn_series("disk (evicted)", evict);
  spawn_series("page cache (warm_page_cache)", [&] {
    evict();
    if (Status s = loader::warm_page_cache(bundle); !s.is_ok()) die(s.to_string());
  });
  spawn_series("hot page cache", [] {});

  // A standalone worker's memory, measured before any template maps the same bundle.
  auto solo = must(manager::InstanceProcess::spawn(options, tcp0), "spawn");
  must_ready(solo->endpoint());
  uint64_t solo_pss = must(manager::pss_bytes(solo->pid()), "pss");
  uint64_t solo_rss = must(manager::rss_bytes(solo->pid()), "rss");
  solo.reset();

  // Zygote: one template, then forks; each child answers ready before the next fork.
  auto t_zygote = Clock::now();
  auto zygote = must(manager::ZygoteProcess::spawn(options, work + "/zygote.sock"), "zygote");
  double zygote_ms = ms_since(t_zygote);
  std::vector<double> fork_ms, fork_stop_ms;
  for (int i = 0; i < reps; ++i) {
    auto t0 = Clock::now();
    auto child = must(zygote->fork_instance(tcp0, std::chrono::seconds(30)), "fork");
    must_ready(child->endpoint());
    fork_ms.push_back(ms_since(t0));
    auto t1 = Clock::now();
    child->stop(std::chrono::seconds(10));
    fork_stop_ms.push_back(ms_since(t1));
  }
  Stats f = stats(fork_ms), fs = stats(fork_stop_ms);
  std::printf("| %-28s | %8.1f | %8.1f | %8.1f | %8.1f | %10.1f |\n", "zygote fork", f.median, f.p90, f.min,
              fs.median, zygote_ms);
  std::printf("\n(prepare: evict / warm before each start; for the zygote row, its own start once)\n");
  out["zygote"] = {{"template_ready_ms", zygote_ms}, {"fork_ready_ms", fork_ms}, {"stop_ms", fork_stop_ms}};

  // Memory: the template with K ready children (no inference yet) next to the standalone worker.
  std::vector<std::unique_ptr<manager::InstanceProcess>> kids;
  for (int i = 0; i < children; ++i) {
    kids.push_back(must(zygote->fork_instance(tcp0, std::chrono::seconds(30)), "fork"));
    must_ready(kids.back()->endpoint());
  }
  uint64_t z_pss = must(manager::pss_bytes(zygote->pid()), "pss");
  uint64_t z_rss = must(manager::rss_bytes(zygote->pid()), "rss");
  uint64_t kids_pss = 0;
  for (auto& k : kids) kids_pss += must(manager::pss_bytes(k->pid()), "pss");
  std::printf("\nMemory (MiB)\n\n| %-34s | %8s | %8s |\n|%s|%s|%s|\n", "process", "PSS", "RSS",
              std::string(36, '-').c_str(), std::string(10, '-').c_str(), std::string(10, '-').c_str());
  std::printf("| %-34s | %8.1f | %8.1f |\n", "standalone worker", mib(solo_pss), mib(solo_rss));
  std::printf("| %-34s | %8.1f | %8.1f |\n", "zygote template", mib(z_pss), mib(z_rss));
  std::printf("| %-34s | %8.1f | %8s |\n", "forked child (mean)", mib(kids_pss / kids.size()), "");
  std::printf("| %-34s | %8.1f | %8s |\n", ("template + " + std::to_string(children) + " children").c_str(),
              mib(z_pss + kids_pss), "");
  out["memory"] = {{"worker_pss", solo_pss}, {"worker_rss", solo_rss}, {"zygote_pss", z_pss},
                   {"zygote_rss", z_rss},    {"children", children},   {"children_pss_total", kids_pss}};
  kids.clear();
  zygote.reset();
  std::filesystem::remove_all(work);
  if (!json_path.empty()) std::ofstream(json_path) << out.dump(2) << "\n";
  return 0;
}
