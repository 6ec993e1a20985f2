"""Open Inference Protocol (KServe v2) tensors <-> numpy arrays: the request body a handler's
predict() gets its inputs from, and the answer built from what it returns (docs/protocol.md).

JSON tensors, and the binary tensor extension (Inference-Header-Content-Length) both ways.
Errors are RequestError(status, message): the worker answers {"error": message} with that status."""
import json
import re
import struct

import numpy as np

DTYPES = {
    "BOOL": np.bool_, "UINT8": np.uint8, "UINT16": np.uint16, "UINT32": np.uint32, "UINT64": np.uint64,
    "INT8": np.int8, "INT16": np.int16, "INT32": np.int32, "INT64": np.int64,
    "FP16": np.float16, "FP32": np.float32, "FP64": np.float64, "BYTES": np.object_,
}
NAMES = {np.dtype(v): k for k, v in DTYPES.items() if k != "BYTES"}


class RequestError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message


_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"')


def json_value_bound(text):
    """An upper bound on the values (scalars, arrays, objects) in a JSON text, counted before it is
    parsed so that a body's memory stays bounded: each value but the first follows a ',' or an
    opening bracket outside strings."""
    def count(b):
        return b.count(b",") + b.count(b"[") + b.count(b"{") + 1
    rough = count(text)
    return rough if rough <= 1024 else count(_STRINGS.sub(b'""', text))


class Limits:
    def __init__(self, max_inputs=64, max_batch=None, max_response_bytes=64 << 20, max_elements=1 << 26,
                 max_values=1 << 20):
        self.max_inputs = max_inputs
        self.max_values = max_values
        self.max_batch = max_batch
        self.max_response_bytes = max_response_bytes
        self.max_elements = max_elements


def _flatten(data, out, depth=0):
    if depth > 64:
        raise RequestError(400, "tensor data is nested more than 64 levels deep")
    for v in data:
        if isinstance(v, list):
            _flatten(v, out, depth + 1)
        else:
            out.append(v)


def _shape(t, where):
    shape = t.get("shape")
    if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
        raise RequestError(400, f"{where}: \"shape\" must be a list of non-negative integers")
    count = 1
    for d in shape:
        count *= d
    return shape, count


def _json_tensor(t, where, limits):
    shape, count = _shape(t, where)
    dtype = t.get("datatype")
    if dtype not in DTYPES:
        raise RequestError(400, f"{where}: unknown datatype {dtype!r}; use one of {', '.join(DTYPES)}")
    if count > limits.max_elements:
        raise RequestError(413, f"{where}: {count} elements is more than this worker takes ({limits.max_elements})")
    data = t.get("data")
    if not isinstance(data, list):
        raise RequestError(400, f"{where}: \"data\" must be a list")
    flat = []
    _flatten(data, flat)
    if len(flat) != count:
        raise RequestError(400, f"{where}: shape {shape} holds {count} elements but \"data\" has {len(flat)}")
    if dtype == "BYTES":
        if not all(isinstance(v, str) for v in flat):
            raise RequestError(400, f"{where}: BYTES data must be strings")
        arr = np.empty(count, dtype=object)
        arr[:] = flat
        return arr.reshape(shape)
    if dtype == "BOOL":
        if not all(isinstance(v, bool) for v in flat):
            raise RequestError(400, f"{where}: BOOL data must be true or false")
    elif not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in flat):
        raise RequestError(400, f"{where}: {dtype} data must be numbers")
    try:
        with np.errstate(all="raise"):
            arr = np.array(flat, dtype=DTYPES[dtype])
        if dtype.startswith(("INT", "UINT")) and any(isinstance(v, float) and not v.is_integer() for v in flat):
            raise ValueError("a fraction")
        if dtype.startswith(("INT", "UINT")) and flat and not np.array_equal(arr.astype(object), np.array(flat, dtype=object)):
            raise ValueError("out of range")
    except (ValueError, OverflowError, FloatingPointError) as e:
        raise RequestError(400, f"{where}: a value does not fit {dtype} ({e})")
    return arr.reshape(shape)


def _binary_tensor(t, where, raw):
    shape, count = _shape(t, where)
    dtype = t.get("datatype")
    if dtype not in DTYPES:
        raise RequestError(400, f"{where}: unknown datatype {dtype!r}")
    if dtype != "BYTES":
        want = count * np.dtype(DTYPES[dtype]).itemsize
        if len(raw) != want:
            raise RequestError(400, f"{where}: binary_data_size is {len(raw)} bytes but shape {shape} of {dtype} needs {want}")
        return np.frombuffer(raw, dtype=np.dtype(DTYPES[dtype]).newbyteorder("<")).reshape(shape).copy()
    items, pos = [], 0
    while pos < len(raw):
        if pos + 4 > len(raw):
            raise RequestError(400, f"{where}: BYTES element length runs past the tensor's data")
        (n,) = struct.unpack_from("<I", raw, pos)
        pos += 4
        if pos + n > len(raw):
            raise RequestError(400, f"{where}: a BYTES element runs past the tensor's data")
        items.append(bytes(raw[pos:pos + n]))
        pos += n
    if len(items) != count:
        raise RequestError(400, f"{where}: shape {shape} holds {count} elements but the data has {len(items)}")
    arr = np.empty(count, dtype=object)
    arr[:] = items
    return arr.reshape(shape)


def decode_request(body, header_length, limits):
    """(inputs: {name: ndarray}, requested output names or None, request id or None, the outputs to
    answer as binary tensors: a set of names, or True for all)."""
    if header_length is not None:
        try:
            n = int(header_length)
        except ValueError:
            raise RequestError(400, "Inference-Header-Content-Length is not a number")
        if n < 0 or n > len(body):
            raise RequestError(400, f"Inference-Header-Content-Length {n} is past the body's {len(body)} bytes")
        head, rest = body[:n], memoryview(body)[n:]
    else:
        head, rest = body, None
    if json_value_bound(bytes(head)) > limits.max_values:
        raise RequestError(413, f"the request holds more than --max-json-values {limits.max_values} JSON values")
    try:
        req = json.loads(head)
    except RecursionError:
        raise RequestError(400, "the request's JSON is nested too deeply")
    except (ValueError, UnicodeDecodeError) as e:
        raise RequestError(400, f"the request body is not JSON: {e}")
    if not isinstance(req, dict):
        raise RequestError(400, "the request must be a JSON object with \"inputs\"")
    tensors = req.get("inputs")
    if not isinstance(tensors, list) or not tensors:
        raise RequestError(400, "\"inputs\" must be a non-empty list of tensors")
    if len(tensors) > limits.max_inputs:
        raise RequestError(413, f"{len(tensors)} inputs is more than this worker takes ({limits.max_inputs})")
    inputs, pos = {}, 0
    for i, t in enumerate(tensors):
        if not isinstance(t, dict) or not isinstance(t.get("name"), str):
            raise RequestError(400, f"inputs[{i}] must be an object with a string \"name\"")
        where = f"input '{t['name']}'"
        if t["name"] in inputs:
            raise RequestError(400, f"{where} is given twice")
        params = t.get("parameters") or {}
        size = params.get("binary_data_size") if isinstance(params, dict) else None
        if size is not None:
            if rest is None or not isinstance(size, int) or size < 0 or pos + size > len(rest):
                raise RequestError(400, f"{where}: binary_data_size {size!r} does not fit the binary part of the body")
            inputs[t["name"]] = _binary_tensor(t, where, rest[pos:pos + size])
            pos += size
        else:
            inputs[t["name"]] = _json_tensor(t, where, limits)
        arr = inputs[t["name"]]
        if limits.max_batch and arr.ndim and arr.shape[0] > limits.max_batch:
            raise RequestError(413, f"{where}: batch {arr.shape[0]} is more than --max-batch {limits.max_batch}")
    outputs = req.get("outputs")
    wanted = None
    params = req.get("parameters") if isinstance(req.get("parameters"), dict) else {}
    binary = set()
    all_binary = params.get("binary_data_output") is True
    if outputs is not None:
        if not isinstance(outputs, list) or not all(isinstance(o, dict) and isinstance(o.get("name"), str) for o in outputs):
            raise RequestError(400, "\"outputs\" must be a list of objects with a string \"name\"")
        wanted = [o["name"] for o in outputs]
        for o in outputs:
            p = o.get("parameters")
            if isinstance(p, dict) and "binary_data" in p:
                if p["binary_data"] is True:
                    binary.add(o["name"])
            elif all_binary:
                binary.add(o["name"])
    rid = req.get("id")
    return inputs, wanted, rid if isinstance(rid, str) else None, (True if all_binary and outputs is None else binary)


class HandlerOutputError(Exception):
    """predict() returned something that is not a dict of arrays."""


def _as_array(name, value):
    if hasattr(value, "detach") and hasattr(value, "numpy"):  # a torch tensor
        value = value.detach().cpu().numpy()
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, (str, bytes)) for v in value):
        arr = np.empty(len(value), dtype=object)
        arr[:] = list(value)
        return arr
    if isinstance(value, (str, bytes)):
        arr = np.empty(1, dtype=object)
        arr[0] = value
        return arr
    try:
        arr = np.asarray(value)
    except Exception as e:  # noqa: BLE001 - any conversion failure is the handler's
        raise HandlerOutputError(f"output '{name}' is a {type(value).__name__}, not an array ({e})")
    if arr.dtype.kind in "USO":
        out = np.empty(arr.shape, dtype=object)
        out[...] = arr
        arr = out
    return arr


def _binary(arr):
    if arr.dtype == object:
        parts = []
        for v in arr.ravel():
            b = v.encode() if isinstance(v, str) else bytes(v)
            parts += [struct.pack("<I", len(b)), b]
        return b"".join(parts)
    return np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<")).tobytes()


def encode_outputs(result, wanted, model, version, rid, limits, binary=frozenset()):
    """The answer for predict()'s result: (body, None) for JSON, or (body, JSON header length) when
    outputs go as binary tensors (`binary`: names, or True for all). Raises HandlerOutputError for a
    wrong type and RequestError for an unknown requested output or an answer over the limit."""
    if not isinstance(result, dict) or not result or not all(isinstance(k, str) for k in result):
        raise HandlerOutputError(
            f"predict() returned {type(result).__name__}; it must return a non-empty dict mapping output names to "
            "numpy arrays (or torch tensors, lists of numbers, lists of strings)")
    names = list(result)
    if wanted is not None:
        missing = [w for w in wanted if w not in result]
        if missing:
            raise RequestError(400, f"unknown output {missing[0]!r}; the model has {', '.join(names)}")
        names = wanted
    outs, blobs, size = [], [], 0
    for name in names:
        arr = _as_array(name, result[name])
        if arr.dtype == object:
            bad = [v for v in arr.ravel() if not isinstance(v, (str, bytes))]
            if bad:
                raise HandlerOutputError(f"output '{name}' holds a {type(bad[0]).__name__}; BYTES outputs hold str or bytes")
            dtype = "BYTES"
        elif arr.dtype in NAMES:
            dtype = NAMES[arr.dtype]
        else:
            raise HandlerOutputError(f"output '{name}' has dtype {arr.dtype}, which KServe v2 cannot carry")
        out = {"name": name, "datatype": dtype, "shape": list(arr.shape)}
        if binary is True or name in binary:
            blob = _binary(arr)
            size += len(blob)
            if size > limits.max_response_bytes:
                raise RequestError(413, f"the answer is more than --max-response-bytes {limits.max_response_bytes}")
            out["parameters"] = {"binary_data_size": len(blob)}
            blobs.append(blob)
        elif dtype == "BYTES":
            out["data"] = [v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in arr.ravel()]
        else:
            out["data"] = arr.ravel().tolist()
        outs.append(out)
    answer = {"model_name": model, "model_version": version, "outputs": outs}
    if rid is not None:
        answer["id"] = rid
    head = json.dumps(answer).encode()
    if len(head) + size > limits.max_response_bytes:
        raise RequestError(413, f"the answer is {len(head) + size} bytes, more than --max-response-bytes "
                                f"{limits.max_response_bytes}")
    if not blobs:
        return head, None
    return head + b"".join(blobs), len(head)
