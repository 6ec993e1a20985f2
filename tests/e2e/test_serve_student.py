"""A cold model with a student: the student answers at once while the model starts."""
import json
import time

import pytest

from serve_harness import Gateway
from worker_harness import pack_minilm

TEXT = {"inputs": [{"name": "text", "datatype": "BYTES", "shape": [1], "data": ["a student answers first"]}]}


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return pack_minilm(tmp_path_factory.mktemp("student"))


def write_config(tmp_path, bundle, student_warm=True):
    # The same MiniLM bundle plays both parts here; a real student is a smaller model with the
    # same inputs and outputs.
    config = tmp_path / "thaw.yaml"
    config.write_text(json.dumps({
        "server": {"policy": "fixed:keepalive_min=5"},
        "models_dir": str(tmp_path / "none"),
        "models": [
            {"name": "teacher", "bundle": str(bundle), "student": "student"},
            {"name": "student", "bundle": str(bundle), "min_instances": 1 if student_warm else 0},
        ],
    }))
    return config


def test_student_answers_while_the_teacher_starts(bundle, tmp_path):
    gw = Gateway("--config", str(write_config(tmp_path, bundle)), log_path=tmp_path / "serve.log")
    try:
        gw.wait_until(lambda: len(gw.models()["student"]["instances"]) == 1, what="the student's floor")
        first = gw.post("/v2/models/teacher/infer", json=TEXT)
        assert first.status_code == 200, first.text
        assert first.headers.get("X-Thaw-Served-By") == "student"
        assert first.json()["outputs"][0]["shape"] == [1, 384]
        gw.wait_until(lambda: len(gw.models()["teacher"]["instances"]) == 1, what="the teacher to start")
        later = gw.post("/v2/models/teacher/infer", json=TEXT)
        assert later.status_code == 200
        assert "X-Thaw-Served-By" not in later.headers
        a = first.json()["outputs"][0]["data"]
        b = later.json()["outputs"][0]["data"]
        assert max(abs(x - y) for x, y in zip(a, b)) < 1e-4  # same bundle, same answer
        metrics = gw.get("/metrics").text
        assert 'thaw_gateway_student_answers_total{model="teacher"} 1' in metrics
    finally:
        assert gw.stop() == 0


def test_a_student_must_be_another_configured_model(bundle, tmp_path):
    config = tmp_path / "thaw.yaml"
    config.write_text(json.dumps({"models_dir": str(tmp_path / "none"),
                                  "models": [{"name": "teacher", "bundle": str(bundle), "student": "ghost"}]}))
    with pytest.raises(AssertionError) as err:
        Gateway("--config", str(config), log_path=tmp_path / "serve.log", timeout=20)
    assert "ghost" in str(err.value)
