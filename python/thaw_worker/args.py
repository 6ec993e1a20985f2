"""The command line: the worker protocol's (docs/worker-protocol.md, section 2.1) and every flag of
`thaw run`, which execs this worker with its own arguments. Flags that only make sense for thaw's
C++ worker are accepted (the supervisor's worker_args are the same for every backend) and ignored;
the handler's own options come as --backend-opt KEY=VALUE (docs/python.md)."""
import argparse

# `thaw run` flags this worker takes without using them (token limits of the C++ text models,
# the bundle check it already did before exec).
IGNORED = ["--max-tokens", "--max-request-tokens", "--max-attention-cells", "--max-positions", "--max-json-depth",
           "--verify", "--verify-cache", "--max-header", "--request-timeout-ms", "--threads"]

BACKEND_OPTS = {"python": str, "predict_timeout_ms": int, "memory_limit_mb": int, "threads": int, "spares": int}


def parser():
    p = argparse.ArgumentParser(prog="python -m thaw_worker", description=__doc__, allow_abbrev=False)
    p.add_argument("--handler-dir", required=True, help="the handler's unpacked files (thaw run passes it)")
    p.add_argument("bundle", help="the .thaw bundle (its files are in --handler-dir)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--unix", default="")
    p.add_argument("--zygote", default="")
    p.add_argument("--ready-fd", type=int, default=None)
    p.add_argument("--model-name", default="")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--max-body", type=int, default=64 << 20)
    p.add_argument("--max-batch", type=int, default=0)
    p.add_argument("--max-inputs", type=int, default=64)
    p.add_argument("--max-json-values", type=int, default=1 << 20)
    p.add_argument("--max-response-bytes", type=int, default=64 << 20)
    p.add_argument("--max-connections", type=int, default=1024)
    p.add_argument("--idle-timeout-ms", type=int, default=60_000)
    p.add_argument("--stop-grace-ms", type=int, default=10_000)
    p.add_argument("--debug-start-delay-ms", type=int, default=0)
    p.add_argument("--grpc-port", type=int, default=None)
    p.add_argument("--backend-opt", action="append", default=[])
    for flag in IGNORED:
        p.add_argument(flag, default=None, help=argparse.SUPPRESS)
    return p


def backend_options(items):
    """{key: value} from KEY=VALUE items; ValueError naming a bad one."""
    out = {"python": "", "predict_timeout_ms": 30_000, "memory_limit_mb": 0, "threads": 1, "spares": 1}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or key not in BACKEND_OPTS:
            raise ValueError(f"unknown backend option {item!r}; the python backend takes {', '.join(BACKEND_OPTS)}")
        out[key] = BACKEND_OPTS[key](value)
    return out
