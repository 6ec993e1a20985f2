// `thaw bench load`: an open-loop HTTP load generator. Requests go out at scheduled times
// (constant rate, Poisson, or a replayed schedule file) whatever the server does, and latency is
// counted from the scheduled time, so a slow server cannot hide its queueing.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/commands.h"
#include "loadgen/report.h"
#include "loadgen/runner.h"
#include "loadgen/schedule.h"
#include "loadgen/target.h"

namespace thaw::cli {
namespace {

struct BenchLoadArgs {
  std::string url;
  std::string unix_path;
  std::string method;
  std::string body_file;
  std::vector<std::string> headers;
  double rate = 0;
  bool poisson = false;
  uint64_t seed = 1;
  std::string schedule_file;
  double duration = 10;
  bool duration_given = false;
  double warmup = 0;
  size_t connections = 256;
  double timeout = 10;
  std::string model;
  uint64_t max_response = 64 << 20;
  std::string json_out;
  bool quiet = false;
};

Result<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(Code::kNotFound, "cannot open '{}'", path);
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return make_error(Code::kIo, "reading '{}' failed", path);
  return text.str();
}

Result<http::Headers> parse_headers(const std::vector<std::string>& lines) {
  http::Headers out;
  for (const std::string& line : lines) {
    size_t colon = line.find(':');
    if (colon == std::string::npos || colon == 0)
      return make_error(Code::kInvalidArgument, "--header '{}' is not 'Name: value'", line);
    std::string name = line.substr(0, colon);
    std::string value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.erase(value.begin());
    out.emplace_back(std::move(name), std::move(value));
  }
  return out;
}

Result<loadgen::Schedule> build_schedule(const BenchLoadArgs& a) {
  double total = a.warmup + a.duration;
  if (!a.schedule_file.empty()) {
    THAW_ASSIGN_OR_RETURN(loadgen::Schedule s, loadgen::load_schedule_file(a.schedule_file));
    return s;
  }
  if (a.rate <= 0)
    return make_error(Code::kInvalidArgument, "give --rate R (requests per second) or --schedule FILE");
  return a.poisson ? loadgen::poisson(a.rate, total, a.seed) : loadgen::constant_rate(a.rate, total);
}

int run_bench_load(const BenchLoadArgs& a) {
  auto target = loadgen::parse_url(a.url);
  if (!target) {
    fmt::print(stderr, "thaw bench load: {}\n", target.status().message());
    return kExitUsage;
  }
  auto headers = parse_headers(a.headers);
  if (!headers) {
    fmt::print(stderr, "thaw bench load: {}\n", headers.status().message());
    return kExitUsage;
  }
  auto schedule = build_schedule(a);
  if (!schedule) {
    fmt::print(stderr, "thaw bench load: {}\n", schedule.status().message());
    return schedule.status().code() == Code::kNotFound ? kExitNotFound : kExitUsage;
  }
  loadgen::Schedule& s = *schedule;
  // A replayed file honours --duration only when given explicitly (the default plays it all).
  if (!a.schedule_file.empty() && a.duration > 0 && a.duration_given)
    loadgen::truncate_schedule(s, a.warmup + a.duration);

  loadgen::LoadOptions o;
  o.endpoint = a.unix_path.empty() ? target->endpoint : http::Endpoint::unix_socket(a.unix_path);
  o.host_header = target->host_header;
  o.path = target->path;
  o.headers = std::move(*headers);
  o.default_model = a.model;
  o.max_connections = a.connections;
  o.timeout = std::chrono::milliseconds(static_cast<int64_t>(a.timeout * 1000));
  o.max_response_bytes = a.max_response;
  if (!a.body_file.empty()) {
    auto body = read_file(a.body_file);
    if (!body) {
      fmt::print(stderr, "thaw bench load: --body-file: {}\n", body.status().message());
      return kExitNotFound;
    }
    o.body = std::move(*body);
  }
  o.method = a.method.empty() ? (o.body.empty() ? "GET" : "POST") : a.method;

  std::string mode = !a.schedule_file.empty() ? fmt::format("schedule {}", a.schedule_file)
                     : a.poisson              ? fmt::format("poisson {} req/s seed {}", a.rate, a.seed)
                                              : fmt::format("constant {} req/s", a.rate);
  FILE* text_out = a.json_out == "-" ? stderr : stdout;
  if (!a.quiet)
    fmt::print(
        text_out,
        "thaw bench load: {} {}{} | {} | {} requests over {:.1f} s (+{:.1f} s warm-up) | <= {} connections\n",
        o.method, a.url, a.unix_path.empty() ? "" : fmt::format(" via unix:{}", a.unix_path), mode, s.size(),
        std::max(0.0, s.end_s - a.warmup), a.warmup, o.max_connections);
  std::fflush(text_out);

  auto run = loadgen::run_load(s, o);
  if (!run) {
    fmt::print(stderr, "thaw bench load: {}\n", run.status().message());
    return run.status().code() == Code::kInvalidArgument ? kExitUsage : kExitFailure;
  }
  loadgen::LoadReport report = loadgen::summarize_run(s, run->outcomes, a.warmup, run->stats);
  if (!a.quiet) fmt::print(text_out, "{}", loadgen::to_text(report));

  if (!a.json_out.empty()) {
    nlohmann::json description = {{"url", a.url},
                                  {"unix", a.unix_path},
                                  {"method", o.method},
                                  {"mode", mode},
                                  {"rate", a.rate},
                                  {"poisson", a.poisson},
                                  {"seed", a.seed},
                                  {"schedule", a.schedule_file},
                                  {"duration_s", a.duration},
                                  {"warmup_s", a.warmup},
                                  {"connections", a.connections},
                                  {"timeout_s", a.timeout},
                                  {"body_bytes", o.body.size()}};
    std::string text = loadgen::to_json(report, description).dump(2) + "\n";
    if (a.json_out == "-") {
      std::fwrite(text.data(), 1, text.size(), stdout);
    } else {
      std::ofstream out(a.json_out, std::ios::binary | std::ios::trunc);
      out << text;
      if (!out) {
        fmt::print(stderr, "thaw bench load: cannot write '{}'\n", a.json_out);
        return kExitFailure;
      }
    }
  }
  // Every scheduled request ended as a status or a named failure; "unresolved" would be a bug.
  return report.error_counts.contains("unresolved") ? kExitFailure : kExitOk;
}

}  // namespace

void register_bench(CLI::App& app, int* exit_code) {
  CLI::App* bench = app.add_subcommand("bench", "Benchmarks against running servers");
  bench->require_subcommand(1);
  auto a = std::make_shared<BenchLoadArgs>();
  CLI::App* load = bench->add_subcommand(
      "load", "Open-loop HTTP load: requests at scheduled times, latency from the schedule");
  load->footer(
      "Arrivals are fixed before the run: --rate R (evenly spaced, or --poisson with --seed) over\n"
      "--warmup + --duration seconds, or --schedule FILE (one arrival per line: OFFSET_SECONDS [MODEL];\n"
      "'{model}' in the URL path becomes each arrival's model). Requests go out over keep-alive\n"
      "connections, a new one opened whenever all are busy, up to --connections. Latency is measured\n"
      "from the scheduled time (queueing included: no coordinated omission) and from the actual send.\n"
      "Every request ends as an HTTP status or a named error (connect_refused, timeout, queue_timeout,\n"
      "connection_closed, ...); a request unanswered by its scheduled time + --timeout is an error.\n"
      "Warm-up arrivals are sent but not measured. Exit 0 when the run completed, whatever the statuses.");
  load->add_option("--url", a->url, "http://host[:port]/path[?query]; the path may contain {model}")
      ->required();
  load->add_option("--unix", a->unix_path,
                   "Connect to this Unix socket instead (the URL still gives path and Host)");
  load->add_option("--method", a->method, "HTTP method (default: POST with --body-file, else GET)");
  load->add_option("--body-file", a->body_file,
                   "Request body sent with every request (Content-Type defaults to application/json)")
      ->check(CLI::ExistingFile);
  load->add_option("--header,-H", a->headers, "Extra header 'Name: value' (repeatable)");
  auto* rate = load->add_option("--rate", a->rate, "Requests per second")->check(CLI::Range(1e-6, 1e7));
  load->add_flag("--poisson", a->poisson, "Poisson arrivals at --rate instead of evenly spaced ones")
      ->needs(rate);
  load->add_option("--seed", a->seed, "Seed for --poisson")->capture_default_str();
  load->add_option("--schedule", a->schedule_file, "Arrival offsets file (see below)")
      ->check(CLI::ExistingFile)
      ->excludes(rate);
  auto* duration = load->add_option("--duration", a->duration,
                                    "Measured seconds after the warm-up (with --schedule: cut the file here)")
                       ->check(CLI::Range(1e-3, 1e6))
                       ->capture_default_str();
  load->add_option("--warmup", a->warmup, "Seconds of arrivals at the start that are sent but not measured")
      ->check(CLI::Range(0.0, 1e6))
      ->capture_default_str();
  load->add_option("--connections", a->connections, "Most keep-alive connections open at once")
      ->check(CLI::Range(size_t{1}, size_t{100000}))
      ->capture_default_str();
  load->add_option("--timeout", a->timeout,
                   "Seconds from a request's scheduled time to its complete response")
      ->check(CLI::Range(1e-3, 3600.0))
      ->capture_default_str();
  load->add_option("--model", a->model, "Replaces {model} in the URL when the schedule names no models");
  load->add_option("--max-response-bytes", a->max_response,
                   "Larger response bodies count as response_too_large")
      ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 40))
      ->capture_default_str();
  load->add_option("--json", a->json_out,
                   "Write the report as JSON to this file ('-': stdout, text goes to stderr)");
  load->add_flag("--quiet,-q", a->quiet, "No text report");
  load->callback([a, duration, exit_code] {
    a->duration_given = duration->count() > 0;
    *exit_code = run_bench_load(*a);
  });
}

}  // namespace thaw::cli
