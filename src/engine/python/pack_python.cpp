#include "engine/python/pack_python.h"

#include <cctype>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace thaw::engine {
namespace {

namespace fs = std::filesystem;

Result<std::string> read_text(const std::string& path, std::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(Code::kNotFound, "cannot read {} {}", what, path);
  std::ostringstream ss;
  ss << in.rdbuf();
  if (!in.good() && !in.eof()) return make_error(Code::kIo, "reading {} {} failed", what, path);
  return std::move(ss).str();
}

bool is_identifier(std::string_view s) {
  if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0]))) return false;
  for (char c : s)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
  return true;
}

}  // namespace

Result<std::unique_ptr<bundle::PackedModel>> pack_python(const std::string& handler,
                                                         const PythonPackOptions& options) {
  const fs::path path(handler);
  const std::string module = path.stem().string();
  if (path.extension() != ".py")
    return make_error(Code::kInvalidArgument, "{} is not a Python module (*.py)", handler);
  if (!is_identifier(module))
    return make_error(
        Code::kInvalidArgument,
        "the handler's module name '{}' is not a Python identifier: rename {} (letters, digits, _)", module,
        handler);
  auto model = std::make_unique<bundle::PackedModel>();
  bundle::BundleContents& c = model->contents;
  c.backend = std::string(kPythonBackendName);
  THAW_ASSIGN_OR_RETURN(std::string code, read_text(handler, "handler"));
  if (code.empty()) return make_error(Code::kInvalidArgument, "handler {} is empty", handler);
  const std::string file = path.filename().string();
  c.files.push_back({file, std::move(code)});
  nlohmann::json py = {{"handler", file}, {"module", module}};
  if (!options.requirements.empty()) {
    THAW_ASSIGN_OR_RETURN(std::string req, read_text(options.requirements, "requirements file"));
    if (file == "requirements.txt")
      return make_error(Code::kInvalidArgument, "the handler may not be called requirements.txt");
    c.files.push_back({"requirements.txt", std::move(req)});
    py["requirements"] = "requirements.txt";
  }
  c.metadata["python"] = py;
  const std::string folder = fs::absolute(path).parent_path().filename().string();
  c.name = module == "handler" && !folder.empty() ? folder : module;
  return model;
}

}  // namespace thaw::engine
