"""A torch model for the fork tests: a seeded MLP, big enough that torch runs its matmuls on its
intra-op thread pool when it has more than one thread. Also answers with a fresh random draw, the
threads torch uses, its pid and how often its fork hooks ran, and registers an atexit handler that logs its pid to $THAW_TEST_ATEXIT_LOG."""
import atexit
import os

import numpy as np
import torch

INPUTS = [{"name": "x", "datatype": "FP32", "shape": [-1, 256]}]


def build():
    torch.manual_seed(1234)
    return torch.nn.Sequential(torch.nn.Linear(256, 1024), torch.nn.GELU(), torch.nn.Linear(1024, 1024),
                               torch.nn.GELU(), torch.nn.Linear(1024, 32)).eval()


model = None
hooks = {"before_fork": 0, "after_fork": 0}


def _log_exit(pid=os.getpid()):
    path = os.environ.get("THAW_TEST_ATEXIT_LOG")
    if path:
        with open(path, "a") as f:
            f.write(f"{pid} {os.getpid()}\n")


atexit.register(_log_exit)


def init():
    global model
    model = build()


def before_fork():
    hooks["before_fork"] += 1


def after_fork():
    hooks["after_fork"] += 1


def warmup():
    with torch.inference_mode():
        model(torch.ones(64, 256))


def predict(inputs):
    with torch.inference_mode():
        y = model(torch.from_numpy(np.ascontiguousarray(inputs["x"], dtype=np.float32)))
    return {"y": y, "rand": torch.rand(4, dtype=torch.float64), "threads": np.array([torch.get_num_threads()]),
            "pid": np.array([os.getpid()]), "hooks": np.array([hooks["before_fork"], hooks["after_fork"]])}
