"""python -m thaw_worker --handler-dir DIR BUNDLE LISTEN --ready-fd 3 ...: thaw's Python worker.
`thaw run` execs it for a bundle packed with `thaw pack --python` (docs/python.md)."""
import os
import signal
import sys
import time

from .timeline import Timeline

TIMELINE = Timeline(os.environ.get("THAW_EXEC_BOOTTIME_NS"))
TIMELINE.mark("interpreter")

from . import args as worker_args  # noqa: E402
from . import fork_hygiene, protocol  # noqa: E402

STOP = {signal.SIGTERM, signal.SIGINT}


class Start:
    def __init__(self, events, ready, version=1):
        self.events = events
        self.ready = ready
        self.version = version
        self.cleanup = []

    def fail(self, stage, message):
        """W7: an error event, the error line, a non-zero exit."""
        for fn in reversed(self.cleanup):
            try:
                fn()
            except Exception:  # noqa: BLE001 - best effort on the way out
                pass
        self.events.emit("error", stage=stage, error=message)
        sys.stderr.write(f"thaw_worker: {stage}: {message}\n")
        self.ready.error(f"{stage}: {message}")
        sys.stderr.flush()
        os._exit(1)

    def stop_requested(self, wait_s=0.0):
        """A stop signal that came during the start (W8), waiting up to wait_s for one."""
        if wait_s > 0:
            info = signal.sigtimedwait(STOP, wait_s)
            return info.si_signo if info else None
        pending = signal.sigpending() & STOP
        return pending.pop() if pending else None

    def stopped_before_ready(self, signo):
        for fn in reversed(self.cleanup):
            fn()
        self.ready.close()
        self.events.emit("stopped", signal=int(signo))
        fork_hygiene.leave(0)


def _requirements_env(handler_dir, start):
    """Re-execs in the handler's requirements environment when it has one (pyenv.py)."""
    req = os.path.join(handler_dir, "requirements.txt")
    if not os.path.exists(req) or os.environ.get("THAW_PYENV_SKIP") == "1":
        return
    from . import pyenv
    try:
        python = pyenv.ensure(req, log=lambda m: sys.stderr.write(f"thaw_worker: {m}\n"))
    except (RuntimeError, OSError) as e:
        start.fail("load", str(e))
    if os.path.realpath(sys.prefix) == os.path.realpath(os.path.dirname(os.path.dirname(python))):
        return
    if os.environ.get(pyenv.ACTIVE_ENV) == python:
        start.fail("load", f"re-exec into {python} did not take effect")
    os.environ[pyenv.ACTIVE_ENV] = python
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(python, [python, "-m", "thaw_worker", *sys.argv[1:]])


def main():
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP)  # held until asked for (W8, W22)
    a = worker_args.parser().parse_args()
    start = Start(protocol.Events(1), protocol.ReadyFd(a.ready_fd))
    try:
        start.version = protocol.negotiate(os.environ.get(protocol.VERSION_ENV))
    except protocol.ProtocolError as e:
        start.fail("protocol", str(e))
    if a.grpc_port is not None:
        start.fail("listen", "the Python worker serves HTTP only; gRPC clients reach it through thaw serve's gateway")
    try:
        opts = worker_args.backend_options(a.backend_opt)
    except ValueError as e:
        start.fail("load", str(e))
    _requirements_env(a.handler_dir, start)
    zygote = bool(a.zygote)
    # One thread per pool in a template (nothing to lose at fork); the instance's own count otherwise.
    fork_hygiene.before_imports(1 if zygote else opts["threads"])
    start.events = protocol.take_stdout_for_events()

    try:
        from . import http_server, instance as inst_mod, kserve
        from .handler import Handler, HandlerError
    except ImportError as e:
        start.fail("load", f"the Python worker cannot import {e.name or e} with {sys.executable}: install numpy there, "
                           "or point THAW_PYTHON (--backend-opt python=PATH) at an interpreter that has it")
    TIMELINE.mark("worker")
    try:
        handler = Handler(a.handler_dir)
    except (OSError, ValueError, HandlerError) as e:
        start.fail("load", f"reading the handler in {a.handler_dir}: {e}")
    model = a.model_name or handler.name
    server_options = {"max_connections": a.max_connections, "idle_timeout_s": a.idle_timeout_ms / 1000,
                      "stop_grace_s": a.stop_grace_ms / 1000}
    instance_options = inst_mod.Options(
        predict_timeout_s=opts["predict_timeout_ms"] / 1000, memory_limit_bytes=opts["memory_limit_mb"] << 20,
        limits=kserve.Limits(max_inputs=a.max_inputs, max_batch=a.max_batch or None,
                             max_response_bytes=a.max_response_bytes, max_values=a.max_json_values),
        max_body=a.max_body)
    events = start.events

    def make_instance():
        i = inst_mod.Instance(handler, model, instance_options, events, TIMELINE)

        def after_response():
            if i.failed is not None:
                sys.stderr.write(f"thaw_worker: {i.failed}\n")
                sys.stderr.flush()
                os._exit(inst_mod.EXIT_HANDLER_FAILED)
        i.after_response = after_response
        return i

    def load():
        try:
            handler.import_module()
            TIMELINE.mark("imports")
        except BaseException as e:  # noqa: BLE001 - the user's module failed to import
            start.fail("load", f"importing {handler.module_name}: {type(e).__name__}: {e}")
        try:
            handler.init()
            TIMELINE.mark("init")
        except BaseException as e:  # noqa: BLE001
            start.fail("load", f"{handler.module_name} init(): {type(e).__name__}: {e}")

    def warm():
        if a.warmup <= 0:
            return
        try:
            for _ in range(a.warmup):
                if not handler.warmup():
                    break
            TIMELINE.mark("warmup")
        except BaseException as e:  # noqa: BLE001
            start.fail("warm-up", f"{handler.module_name} warmup(): {type(e).__name__}: {e}")

    if zygote:
        from .zygote import Zygote
        signo = start.stop_requested(a.debug_start_delay_ms / 1000)
        if signo:
            start.stopped_before_ready(signo)
        load()
        warm()
        try:
            handler.hook("before_fork")
        except BaseException as e:  # noqa: BLE001
            start.fail("load", f"{handler.module_name} before_fork(): {type(e).__name__}: {e}")
        http_server.warm_up_stack(make_instance())
        fork_hygiene.prepare_template()
        z = Zygote(a.zygote, make_instance, events, model, opts["threads"], STOP, server_options,
                   after_fork=lambda: handler.hook("after_fork"), spares=opts["spares"],
                   warm_spare=handler.warmup if a.warmup > 0 else None)
        try:
            z.listen()
        except OSError as e:
            start.fail("listen", f"listening on {a.zygote}: {e.strerror}")
        start.cleanup.append(z.stop)
        signo = start.stop_requested()
        if signo:
            start.stopped_before_ready(signo)
        TIMELINE.mark("ready")
        threads = fork_hygiene.thread_names()
        if len(threads) > 1:
            events.emit("warning", model=model, message=f"the template holds {len(threads)} threads ({', '.join(threads)}) "
                        "after init and warm-up; a pool started before fork is lost in the children")
        events.emit("zygote_ready", control=a.zygote, model=model, pid=os.getpid(), protocol=start.version,
                    timeline=TIMELINE.to_json(), threads=len(threads))
        start.ready.ready(start.version, f"unix:{a.zygote}")
        signo = z.serve()
        z.stop()
        events.emit("stopped", signal=int(signo))
        fork_hygiene.leave(0)

    instance = make_instance()
    endpoint = f"unix:{a.unix}" if a.unix else (f"[{a.host}]:{a.port}" if ":" in a.host else f"{a.host}:{a.port}")
    try:
        server = http_server.listen(endpoint, instance, server_options)
    except (OSError, ValueError) as e:
        start.fail("listen", f"listening on {endpoint}: {e.strerror if isinstance(e, OSError) else e}")
    start.cleanup.append(lambda: server.drain(0))
    instance.start()
    http_server.serve_in_background(server)
    events.emit("listening", endpoint=server.endpoint, port=server.port, model=model)
    TIMELINE.mark("listening")
    signo = start.stop_requested(a.debug_start_delay_ms / 1000)
    if signo:
        start.stopped_before_ready(signo)
    load()
    warm()
    signo = start.stop_requested()
    if signo:
        start.stopped_before_ready(signo)
    instance.ready = True
    TIMELINE.mark("ready")
    events.emit("ready", endpoint=server.endpoint, port=server.port, model=model, version=handler.version,
                pid=os.getpid(), protocol=start.version, timeline=TIMELINE.to_json())
    start.ready.ready(start.version, server.endpoint)
    signo = signal.sigwait(STOP)
    server.drain(a.stop_grace_ms / 1000)
    events.emit("stopped", signal=int(signo))
    fork_hygiene.leave(0)


if __name__ == "__main__":
    main()
