#!/usr/bin/env python3
"""The peer for an ONNX sentence encoder: a plain Python HTTP handler that loads the .onnx with
onnxruntime (default session options) and tokenizes with the `tokenizers` library.

Usage: peer_ort_server.py MODEL.onnx TOKENIZER.json NAME
Serves POST /v2/models/{name}/infer with the KServe JSON text input thaw takes
({"inputs":[{"name":"text","datatype":"BYTES","shape":[n],"data":[...]}]}) and prints
{"event":"ready","port":N,"model":NAME} on stdout once the model is loaded and has run one warm-up.
"""
import json
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

import numpy as np
import onnxruntime
from tokenizers import Tokenizer

MODEL_PATH, TOKENIZER_PATH, NAME = sys.argv[1:4]
SESSION = onnxruntime.InferenceSession(MODEL_PATH, providers=["CPUExecutionProvider"])
TOKENIZER = Tokenizer.from_file(TOKENIZER_PATH)
TOKENIZER.no_padding()
INPUTS = {i.name for i in SESSION.get_inputs()}


def encode(texts):
    out = []
    for text in texts:
        ids = np.asarray([TOKENIZER.encode(text).ids], dtype=np.int64)
        feed = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}
        out.append(SESSION.run(["sentence_embedding"], {k: v for k, v in feed.items() if k in INPUTS})[0][0])
    return np.stack(out)


encode(["warm up"])


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        emb = encode(body["inputs"][0]["data"])
        out = json.dumps({"model_name": NAME, "outputs": [
            {"name": "sentence_embedding", "datatype": "FP32", "shape": list(emb.shape),
             "data": emb.reshape(-1).tolist()}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)


server = HTTPServer(("127.0.0.1", 0), Handler)
print(json.dumps({"event": "ready", "port": server.server_address[1], "model": NAME}), flush=True)
server.serve_forever()
