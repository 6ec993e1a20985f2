"""What breaks when a Python process that has imported torch forks, and what the worker does about
it (docs/python.md, "What a fork changes"):

- helper threads: tqdm's monitor thread (started by the first progress bar) is stopped before the
  first fork (stop_known_threads()); any other thread left is reported in a warning event.
- thread pools: a forked child has only the forking thread, so any pool started in the template
  (torch's intra-op OpenMP team, OpenBLAS/MKL threads, the tokenizers' Rayon pool) is gone but
  believed alive; libgomp then hangs in the child. The template therefore runs with one thread per
  pool (before_imports(): OMP/MKL/OpenBLAS threads 1, TOKENIZERS_PARALLELISM=false) so no pool is
  ever started there, and each child sets its own thread count (after_fork()), starting fresh pools.
- random seeds: every child would draw the template's random sequence; after_fork() re-seeds
  random, numpy and torch from os.urandom.
- open files and sockets: the control socket and the ready descriptor are closed in the child by
  the zygote; the HTTP listener is the child's own, made after the fork.
- atexit handlers: the template's (temp-file clean-up, library shutdown) must not run again in
  each child, so the child clears them and runs only its own at exit."""
import atexit
import os
import sys
import threading

POOL_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS",
                  "VECLIB_MAXIMUM_THREADS")


def before_imports(threads):
    """Sets thread-pool sizes before numpy or torch is imported (they read them once)."""
    for var in POOL_VARIABLES:
        os.environ[var] = str(threads)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def thread_names():
    """The names of this process's threads (from /proc: the interpreter's own and native ones)."""
    names = []
    try:
        for tid in sorted(os.listdir("/proc/self/task")):
            try:
                with open(f"/proc/self/task/{tid}/comm") as f:
                    names.append(f.read().strip())
            except OSError:
                pass
    except OSError:
        pass
    return names


def seed_everything(seed):
    import random
    random.seed(seed)
    np = sys.modules.get("numpy")
    if np is not None:
        np.random.seed(seed % (1 << 32))
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.manual_seed(seed)


def stop_known_threads():
    """Stops the helper threads libraries start on their own and that a fork would copy mid-lock:
    tqdm's monitor (started by the first progress bar, e.g. transformers' "Loading weights"), which
    wakes every 10 s and takes tqdm's and stderr's locks. Progress bars keep working without it."""
    tqdm = sys.modules.get("tqdm")
    if tqdm is not None and hasattr(tqdm, "tqdm"):
        cls = tqdm.tqdm
        cls.monitor_interval = 0  # no new monitor
        monitor = getattr(cls, "monitor", None)
        if monitor is not None:
            monitor.exit()
            cls.monitor = None
    for t in threading.enumerate():  # monitors of tqdm subclasses (tqdm.auto, transformers' own)
        if type(t).__name__ == "TMonitor" and t.is_alive():
            t.exit()


def prepare_template():
    """In the template before its first fork: stops known helper threads, runs the seeding paths
    once (numpy's first seed() costs ~20 ms of lazy set-up that every child would otherwise pay),
    then freezes the heap so the children's garbage collections do not touch (and copy) the
    template's objects."""
    import gc
    stop_known_threads()
    seed_everything(0)
    gc.collect()
    gc.freeze()


def after_fork(threads):
    """In a forked child, before it serves: fresh thread pools, fresh seeds, no inherited atexit."""
    atexit._clear()
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)
    seed_everything(int.from_bytes(os.urandom(8), "little"))
    # threading's state after fork is reset by CPython itself (only this thread remains).
    assert threading.active_count() >= 1


def leave(status):
    """Ends the process: its atexit handlers (in a forked child only those registered after the
    fork), flushed streams, then _exit, without joining threads a hung handler may hold."""
    try:
        atexit._run_exitfuncs()
    finally:
        try:
            sys.stderr.flush()
        finally:
            os._exit(status)
