"""The Python worker's KServe v2 codec: every input form, every refusal, and random bytes never
raising anything but a RequestError."""
import json
import random
import struct

import numpy as np
import pytest

from thaw_worker import kserve

LIMITS = kserve.Limits(max_inputs=4, max_batch=8, max_response_bytes=1 << 16, max_elements=1 << 12)


def req(*inputs, **extra):
    return json.dumps({"inputs": list(inputs), **extra}).encode()


def test_json_tensors_become_numpy_arrays_of_their_dtype_and_shape():
    inputs, wanted, rid, binary = kserve.decode_request(req(
        {"name": "a", "datatype": "FP32", "shape": [2, 2], "data": [[1, 2], [3, 4.5]]},
        {"name": "b", "datatype": "INT64", "shape": [3], "data": [1, -2, 3]},
        {"name": "t", "datatype": "BYTES", "shape": [2], "data": ["x", "é"]},
        {"name": "f", "datatype": "BOOL", "shape": [1], "data": [True]}, id="r1", outputs=[{"name": "y"}]), None, LIMITS)
    assert inputs["a"].dtype == np.float32 and inputs["a"].shape == (2, 2) and inputs["a"][1, 1] == 4.5
    assert inputs["b"].dtype == np.int64 and inputs["b"].tolist() == [1, -2, 3]
    assert inputs["t"].dtype == object and inputs["t"].tolist() == ["x", "é"]
    assert inputs["f"].dtype == np.bool_
    assert wanted == ["y"] and rid == "r1" and binary == set()


def test_binary_tensors_after_the_json_header():
    head = json.dumps({"inputs": [
        {"name": "x", "datatype": "FP32", "shape": [2], "parameters": {"binary_data_size": 8}},
        {"name": "s", "datatype": "BYTES", "shape": [2], "parameters": {"binary_data_size": 11}}]}).encode()
    blob = struct.pack("<2f", 1.5, -2) + struct.pack("<I", 3) + b"abc" + struct.pack("<I", 0)
    inputs, _, _, _ = kserve.decode_request(head + blob, str(len(head)), LIMITS)
    assert inputs["x"].tolist() == [1.5, -2.0]
    assert inputs["s"].tolist() == [b"abc", b""]


@pytest.mark.parametrize("body, status, words", [
    (b"{", 400, "not JSON"),
    (b"[]", 400, "JSON object"),
    (req(), 400, "non-empty list"),
    (req(*[{"name": f"i{k}", "datatype": "FP32", "shape": [1], "data": [1]} for k in range(5)]), 413, "inputs"),
    (req({"name": "a", "datatype": "FP99", "shape": [1], "data": [1]}), 400, "unknown datatype"),
    (req({"name": "a", "datatype": "FP32", "shape": [-1], "data": [1]}), 400, "non-negative"),
    (req({"name": "a", "datatype": "FP32", "shape": [3], "data": [1, 2]}), 400, "holds 3 elements"),
    (req({"name": "a", "datatype": "FP32", "shape": [1], "data": ["x"]}), 400, "numbers"),
    (req({"name": "a", "datatype": "INT8", "shape": [1], "data": [300]}), 400, "does not fit"),
    (req({"name": "a", "datatype": "INT32", "shape": [1], "data": [1.5]}), 400, "does not fit"),
    (req({"name": "a", "datatype": "BYTES", "shape": [1], "data": [1]}), 400, "strings"),
    (req({"name": "a", "datatype": "FP32", "shape": [9], "data": [0] * 9}), 413, "max-batch"),
    (req({"name": "a", "datatype": "FP32", "shape": [4096, 2], "data": [0]}), 413, "elements"),
    (req({"name": "a", "datatype": "FP32", "shape": [1], "data": [1]},
         {"name": "a", "datatype": "FP32", "shape": [1], "data": [1]}), 400, "twice"),
    (b"[" * 100000 + b"]" * 100000, 400, "nested"),
])
def test_bad_requests_get_a_status_and_a_message(body, status, words):
    with pytest.raises(kserve.RequestError) as e:
        kserve.decode_request(body, None, LIMITS)
    assert e.value.status == status and words in e.value.message, e.value.message


def test_json_values_are_bounded_before_parsing():
    small = kserve.Limits(max_values=100)
    data = {"name": "t", "datatype": "BYTES", "shape": [1], "data": ["," * 5000]}
    inputs, _, _, _ = kserve.decode_request(req(data), None, small)  # commas inside a string are not values
    assert inputs["t"][0] == "," * 5000
    many = {"name": "a", "datatype": "FP32", "shape": [200], "data": [0] * 200}
    with pytest.raises(kserve.RequestError) as e:
        kserve.decode_request(req(many), None, small)
    assert e.value.status == 413 and "max-json-values" in e.value.message
    assert kserve.json_value_bound(b'{"a": [1, 2, {"b": "x,y"}]}') >= 5


def test_outputs_are_encoded_or_refused_with_a_message():
    body, head = kserve.encode_outputs({"y": np.arange(4, dtype=np.float32).reshape(2, 2), "s": ["a", b"b"]}, None,
                                       "m", "1", "r", LIMITS)
    assert head is None
    out = json.loads(body)
    assert out["id"] == "r" and out["outputs"][0] == {"name": "y", "datatype": "FP32", "shape": [2, 2],
                                                      "data": [0.0, 1.0, 2.0, 3.0]}
    assert out["outputs"][1]["datatype"] == "BYTES" and out["outputs"][1]["data"] == ["a", "b"]
    picked = json.loads(kserve.encode_outputs({"y": [1], "z": [2]}, ["z"], "m", "1", None, LIMITS)[0])
    assert [o["name"] for o in picked["outputs"]] == ["z"]
    for bad in ("text", None, {}, {"y": object()}, {"y": np.array([1 + 2j])}, {"y": [{"a": 1}]}):
        with pytest.raises(kserve.HandlerOutputError):
            kserve.encode_outputs(bad, None, "m", "1", None, LIMITS)
    with pytest.raises(kserve.RequestError):
        kserve.encode_outputs({"y": [1]}, ["nope"], "m", "1", None, LIMITS)
    with pytest.raises(kserve.RequestError):
        kserve.encode_outputs({"y": np.zeros(1 << 15)}, None, "m", "1", None, LIMITS)


def test_binary_outputs_when_asked_for_each_or_all():
    body = req({"name": "a", "datatype": "FP32", "shape": [1], "data": [1]},
               outputs=[{"name": "y", "parameters": {"binary_data": True}}, {"name": "s"}])
    _, wanted, _, binary = kserve.decode_request(body, None, LIMITS)
    assert wanted == ["y", "s"] and binary == {"y"}
    data, head = kserve.encode_outputs({"y": np.array([1.5, 2], dtype=np.float32), "s": ["ab"]}, wanted, "m", "1",
                                       None, LIMITS, binary)
    meta = json.loads(data[:head])
    assert meta["outputs"][0]["parameters"] == {"binary_data_size": 8} and "data" not in meta["outputs"][0]
    assert meta["outputs"][1]["data"] == ["ab"]
    assert struct.unpack("<2f", data[head:]) == (1.5, 2.0)
    _, _, _, every = kserve.decode_request(req({"name": "a", "datatype": "FP32", "shape": [1], "data": [1]},
                                               parameters={"binary_data_output": True}), None, LIMITS)
    assert every is True
    data, head = kserve.encode_outputs({"s": ["ab", b"c"]}, None, "m", "1", None, LIMITS, True)
    assert data[head:] == struct.pack("<I", 2) + b"ab" + struct.pack("<I", 1) + b"c"


def test_random_bodies_only_ever_raise_request_errors():
    rng = random.Random(12)
    seeds = [req({"name": "a", "datatype": "FP32", "shape": [2], "data": [1, 2]}),
             req({"name": "t", "datatype": "BYTES", "shape": [1], "data": ["x"]})]
    for _ in range(3000):
        body = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 6)):
            i = rng.randrange(len(body))
            body[i] = rng.randrange(256)
        try:
            kserve.decode_request(bytes(body), rng.choice([None, "10", str(len(body) // 2)]), LIMITS)
        except kserve.RequestError:
            pass
