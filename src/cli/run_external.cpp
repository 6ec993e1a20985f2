#include "cli/run_external.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "bundle/bundle.h"
#include "cli/commands.h"
#include "protocol/worker_protocol.h"
#include "worker/ready_descriptor.h"

namespace thaw::cli {
namespace {

// This process's arguments after the `run` subcommand, as the kernel holds them.
std::vector<std::string> run_arguments() {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::string> args;
  for (size_t start = 0; start < all.size();) {
    size_t end = all.find('\0', start);
    if (end == std::string::npos) end = all.size();
    args.emplace_back(all.substr(start, end - start));
    start = end + 1;
  }
  for (size_t i = 1; i < args.size(); ++i)
    if (args[i] == "run") return {args.begin() + static_cast<std::ptrdiff_t>(i + 1), args.end()};
  return {};
}

int fail(const Status& s, int ready_fd) {
  const std::string message = s.to_string();
  const nlohmann::json ev = {{"event", protocol::event::kError}, {"stage", "load"}, {"error", message}};
  std::fprintf(stdout, "%s\n", ev.dump().c_str());
  std::fflush(stdout);
  std::fprintf(stderr, "thaw run: %s\n", message.c_str());
  worker::ReadyDescriptor(ready_fd).error("load: " + message);
  return kExitFailure;
}

}  // namespace

bool exec_external_worker(const engine::Registry& backends, const std::string& bundle,
                          const std::vector<std::string>& backend_opts, int ready_fd, int* exit_code) {
  auto reader = bundle::Reader::open(bundle);
  if (!reader.is_ok()) return false;
  auto plugin = backends.find(reader->manifest().backend);
  if (!plugin.is_ok()) return false;
  auto options = engine::BackendOptions::parse(backend_opts, (*plugin)->create_options(),
                                               fmt::format("backend '{}'", (*plugin)->name()));
  if (!options.is_ok()) return false;  // the in-process path reports bad options the same way
  auto worker = (*plugin)->external_worker(*reader, *options);
  if (!worker.is_ok()) {
    *exit_code = fail(worker.status().with_context(fmt::format("starting the {} worker", (*plugin)->name())),
                      ready_fd);
    return true;
  }
  if (worker->argv.empty()) return false;
  for (const auto& [key, value] : worker->env) ::setenv(key.c_str(), value.c_str(), 1);
  std::vector<std::string> args = worker->argv;
  for (auto& a : run_arguments()) args.push_back(std::move(a));
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::fflush(stdout);
  std::fflush(stderr);
  ::execv(argv[0], argv.data());
  *exit_code = fail(make_error(Code::kIo, "cannot execute {}: {}", args[0], std::strerror(errno)), ready_fd);
  return true;
}

}  // namespace thaw::cli
