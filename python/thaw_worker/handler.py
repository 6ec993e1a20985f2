"""The handler contract (docs/python.md): a module with init(), predict(inputs) and optionally
warmup(), before_fork() and after_fork() (zygote hooks), or a class `Handler` in it with the same methods. inputs: {name: numpy array}; predict
returns {name: array}. Optional INPUTS / OUTPUTS (lists of {"name", "datatype", "shape"}) describe
the model in its KServe metadata."""
import importlib
import inspect
import json
import os
import sys


class HandlerError(Exception):
    """The handler module does not follow the contract."""


class Handler:
    # OpenAI-style routes a handler may serve with plain JSON in and out, and the method for each.
    JSON_ROUTES = {"/v1/embeddings": "embeddings", "/v1/chat/completions": "chat_completions",
                   "/v1/completions": "completions"}

    def __init__(self, directory):
        self.directory = directory
        with open(os.path.join(directory, ".thaw-manifest.json")) as f:
            manifest = json.load(f)
        self.name = manifest.get("name") or "model"
        self.version = manifest.get("version") or "1"
        meta = (manifest.get("metadata") or {}).get("python") or {}
        self.module_name = meta.get("module")
        if not self.module_name:
            raise HandlerError("the bundle names no handler module (metadata.python.module): pack it with "
                               "thaw pack --python handler.py")
        self.module = None
        self.target = None

    def import_module(self):
        """Imports the module from the handler's folder (the working directory from now on, so
        the handler opens its files by relative path)."""
        os.chdir(self.directory)
        if self.directory not in sys.path:
            sys.path.insert(0, self.directory)
        self.module = importlib.import_module(self.module_name)
        cls = getattr(self.module, "Handler", None)
        if cls is not None and not inspect.isclass(cls):
            raise HandlerError(f"{self.module_name}.Handler is a {type(cls).__name__}, not a class")
        if cls is None and not callable(getattr(self.module, "predict", None)):
            raise HandlerError(f"module {self.module_name} has neither a predict(inputs) function nor a class Handler")

    def init(self):
        cls = getattr(self.module, "Handler", None)
        self.target = cls() if cls is not None else self.module
        if not callable(getattr(self.target, "predict", None)):
            raise HandlerError(f"{self.module_name}.Handler has no predict(inputs) method")
        init = getattr(self.target, "init", None)
        if callable(init):
            init()

    def warmup(self):
        fn = getattr(self.target, "warmup", None)
        if callable(fn):
            fn()
            return True
        return False

    def predict(self, inputs):
        return self.target.predict(inputs)

    def hook(self, name):
        """Calls the handler's optional before_fork() / after_fork(); False when it has none."""
        fn = getattr(self.target, name, None)
        if not callable(fn):
            return False
        fn()
        return True

    def json_route(self, route):
        """The handler's method for an OpenAI-style route, or None."""
        name = self.JSON_ROUTES.get(route)
        fn = getattr(self.target, name, None) if name else None
        return fn if callable(fn) else None

    def json_routes(self):
        return [r for r in self.JSON_ROUTES if self.json_route(r) is not None]

    def signature(self, which):
        sig = getattr(self.target, which, None) or getattr(self.module, which, None) or []
        if not isinstance(sig, list):
            return []
        out = []
        for t in sig:
            if isinstance(t, dict) and isinstance(t.get("name"), str):
                out.append({"name": t["name"], "datatype": str(t.get("datatype", "BYTES")),
                            "shape": list(t.get("shape", [-1]))})
        return out
