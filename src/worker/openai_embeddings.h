// POST /v1/embeddings for text encoder models (e.g. all-MiniLM-L6-v2): OpenAI's request
// ({"input": text or [texts], "model", "encoding_format": "float"|"base64"}) runs through the
// model's own /infer path (text in, tokenized by the bundle's tokenizer, every limit of that path),
// and the sentence embedding output comes back in OpenAI's list shape.
#pragma once

#include "http/router.h"
#include "worker/model_service.h"

namespace thaw::worker {

// Adds the route when the model takes text and gives a [batch, dim] FP32 output (the one named
// "sentence_embedding" if there are several).
void add_embeddings_route(http::Router& router, ModelService* service);

}  // namespace thaw::worker
