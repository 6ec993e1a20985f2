#include "engine/plugin.h"

namespace thaw::engine {

std::string_view route_family_name(RouteFamily family) {
  switch (family) {
    case RouteFamily::kOpenInference:
      return "open_inference";
    case RouteFamily::kOpenAIEmbeddings:
      return "openai_embeddings";
    case RouteFamily::kOpenAICompletions:
      return "openai_completions";
  }
  return "unknown";
}

}  // namespace thaw::engine
