"""thaw's Python worker: serves a user's handler module (init / predict / warmup) under the worker
protocol (docs/worker-protocol.md), as an instance or as a zygote that forks ready instances.

`thaw run` execs it for a bundle packed with `thaw pack --python`; see docs/python.md."""
