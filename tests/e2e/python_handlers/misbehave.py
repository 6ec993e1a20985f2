"""A handler that misbehaves on request: input `mode` (BYTES) picks what predict() does.
ok: answers; raise: raises; hang: never returns; leak: keeps 300 MB more per call; print: writes
to stdout (fd 1 and sys.stdout) and answers; wrong_type: returns a string; abort: os.abort()."""
import os
import sys
import time

import numpy as np

INPUTS = [{"name": "mode", "datatype": "BYTES", "shape": [1]}]
OUTPUTS = [{"name": "pid", "datatype": "INT64", "shape": [1]}]

kept = []


class Handler:
    def init(self):
        self.calls = 0

    def predict(self, inputs):
        mode = str(inputs["mode"].ravel()[0])
        self.calls += 1
        if mode == "raise":
            raise ValueError("this handler refuses the input")
        if mode == "hang":
            while True:
                time.sleep(1)
        if mode == "leak":
            kept.append(np.ones(300 << 18, dtype=np.float32))  # 300 MiB, touched
        if mode == "print":
            print("a handler's print that must not reach the event stream")
            os.write(1, b"and a raw write to fd 1\n")
            sys.stdout.flush()
        if mode == "wrong_type":
            return "not a dict of arrays"
        if mode == "abort":
            os.abort()
        return {"pid": np.array([os.getpid()], dtype=np.int64)}
