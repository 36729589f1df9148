"""`workbench export kubernetes`: manifests checked against the Kubernetes schemas
(kubernetes-validate, strict) and against the project they came from; and the exported images
run under the real Docker engine as the manifests run them in a cluster (each deployment's pods
under its Service's name, the router with its ConfigMap and Secret), serving the quickstart
through the router's scoring URI with Azure's semantics.

No cluster runs here: a user-defined Docker network stands in for the cluster's DNS (a name with
one address per container answering to it, as a headless Service has one per ready pod)."""

from __future__ import annotations

import contextlib
import json
import stat
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import httpx
import kubernetes_validate
import pytest
import yaml

from tests.conftest import QUICKSTART, require_docker, run_workbench
from tests.engine.harness import copy_project
from workbench.promote.kubernetes import Images, export_kubernetes, name
from workbench.router.standalone import PRIMARY_KEY, SECONDARY_KEY, RouterConfig
from workbench.spec import load_project
from workbench.spec.overrides import parse_overrides

KUBERNETES_VERSION = "1.33"
CUSTOM_KINDS = {"HTTPRoute", "Kustomization"}
"""Kinds without a schema in kubernetes-validate (a CRD, kustomize's own file): checked here."""


def documents(out: Path) -> list[tuple[Path, dict[str, Any]]]:
    return [
        (path, document)
        for path in sorted(out.rglob("*.yaml"))
        if "images" not in path.relative_to(out).parts
        for document in yaml.safe_load_all(path.read_text())
    ]


def test_manifests_validate_and_say_what_the_project_says(tmp_path: Path) -> None:
    folder = copy_project(QUICKSTART, tmp_path / "quickstart")
    endpoint_file = folder / "endpoint.yml"
    endpoint_file.write_text(
        endpoint_file.read_text().replace("blue: 90\n  green: 10", "blue: 100\n  green: 0")
        + "mirror_traffic:\n  green: 20\n"
    )
    blue = folder / "blue-deployment.yml"
    blue.write_text(
        blue.read_text()
        + "environment_variables:\n  API_KEY: ${{azureml://connections/store/credentials/key}}\n"
        + "liveness_probe:\n  period: 7\n  failure_threshold: 4\n"
    )
    green_file = folder / "green-deployment.yml"
    green_file.write_text(green_file.read_text().replace("instance_count: 1", "instance_count: 2"))
    project = load_project(folder, parse_overrides(["instance_count=3"])).raise_for_errors()
    images = Images(
        "registry.example/workbench-router:1",
        {
            ("quickstart", "blue"): "registry.example/blue:1",
            ("quickstart", "green"): "registry.example/green:1",
        },
    )
    out = tmp_path / "out"
    exported = export_kubernetes(project, images, out, gateway="shared-gateway")

    found = documents(out)
    kinds = Counter(document["kind"] for _, document in found)
    assert kinds == {"Deployment": 3, "Service": 3, "ConfigMap": 1, "HTTPRoute": 1, "Kustomization": 1}
    for _, document in found:
        if document["kind"] not in CUSTOM_KINDS:
            kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)  # raises if invalid
    by_name = {(d["kind"], d["metadata"]["name"]): d for _, d in found if d["kind"] != "Kustomization"}

    blue_pods = by_name[("Deployment", "quickstart-blue")]["spec"]
    green_pods = by_name[("Deployment", "quickstart-green")]["spec"]
    assert (blue_pods["replicas"], green_pods["replicas"]) == (3, 3), "instance_count, --set applied"
    [server] = blue_pods["template"]["spec"]["containers"]
    assert server["image"] == "registry.example/blue:1"
    assert server["livenessProbe"]["periodSeconds"] == 7
    assert server["livenessProbe"]["failureThreshold"] == 4
    assert server["readinessProbe"]["httpGet"] == {"path": "/", "port": 5001}
    assert server["resources"]["limits"] == {"cpu": "4", "memory": "14336Mi"}, "Standard_DS3_v2's"
    assert server["securityContext"]["runAsNonRoot"] is True
    assert server["env"] == [
        {
            "name": "API_KEY",
            "valueFrom": {"secretKeyRef": {"name": "quickstart-blue-secrets", "key": "API_KEY"}},
        }
    ]
    assert by_name[("Service", "quickstart-blue")]["spec"]["clusterIP"] == "None", "one address per pod"

    config = RouterConfig.from_json(by_name[("ConfigMap", "quickstart-router")]["data"]["router.json"])
    assert (config.auth_mode, config.traffic, config.mirror_traffic) == (
        "key",
        {"blue": 100, "green": 0},
        {"green": 20},
    )
    assert config.deployments["green"].host == "quickstart-green"
    green = project.endpoints[0].deployment("green")
    assert green is not None
    assert config.deployments["green"].request_timeout_ms == green.request_settings.request_timeout_ms

    route = by_name[("HTTPRoute", "quickstart-route")]["spec"]
    default = route["rules"][-1]
    assert [(b["name"], b["weight"]) for b in default["backendRefs"]] == [("quickstart-blue", 100)]
    assert default["filters"][0]["requestMirror"] == {
        "backendRef": {"name": "quickstart-green", "port": 5001},
        "percent": 20,
    }
    pinned = {
        r["matches"][0]["headers"][0]["value"]: r["backendRefs"][0]["name"] for r in route["rules"][:-1]
    }
    assert pinned == {"blue": "quickstart-blue", "green": "quickstart-green"}
    assert "no key or token auth" in (out / "quickstart" / "httproute.yaml").read_text()

    kustomization = yaml.safe_load((out / "kustomization.yaml").read_text())
    for resource in kustomization["resources"]:
        assert (out / resource).is_file(), resource
    listed = {f for g in kustomization["secretGenerator"] for f in g["envs"]}
    assert listed == {"quickstart/router.secrets.env", "quickstart/blue.secrets.env"}
    keys = out / "quickstart" / "router.secrets.env"
    assert stat.S_IMODE(keys.stat().st_mode) == 0o600
    values = dict(line.split("=", 1) for line in keys.read_text().splitlines())
    assert len(values[PRIMARY_KEY]) > 30
    assert (out / "quickstart" / "blue.secrets.env").read_text() == "API_KEY=\n", "no local secret exported"
    for path, _ in found:
        assert values[PRIMARY_KEY] not in path.read_text(), f"a key in {path}"
    assert "*.env" in (out / ".gitignore").read_text()
    assert any("fill in quickstart/blue.secrets.env" in note for note in exported.notes)

    again = export_kubernetes(project, images, out)
    assert keys.read_text() == "\n".join(f"{k}={v}" for k, v in values.items()) + "\n", "keys kept"
    assert (out / "quickstart" / "httproute.yaml") not in again.files


def test_long_names_are_cut_to_what_kubernetes_accepts() -> None:
    long = name("an-endpoint-whose-name-is-as-long-as-azure", "allows-and-then-a-deployment")
    assert len(long) <= 63
    assert long != name("an-endpoint-whose-name-is-as-long-as-azure", "allows-and-then-a-deployment2")
    assert name("Quickstart", "Blue") == "quickstart-blue"


@pytest.fixture
def docker_client() -> Iterator[docker.DockerClient]:
    require_docker()
    client = docker.from_env()
    try:
        yield client
    finally:
        client.close()


@contextlib.contextmanager
def cluster_on_docker(client: docker.DockerClient, out: Path) -> Iterator[str]:
    """The exported manifests run as a cluster would run them: each Deployment's pods as
    containers answering to their Service's name, the router with its ConfigMap mounted and its
    Secret in its environment, unprivileged; yields the router's scoring URI on 127.0.0.1."""
    network = client.networks.create(f"wb-k8s-{uuid.uuid4().hex[:8]}")
    started = []
    try:
        found = documents(out)
        config_maps = {d["metadata"]["name"]: d["data"] for _, d in found if d["kind"] == "ConfigMap"}
        kustomization = yaml.safe_load((out / "kustomization.yaml").read_text())
        secrets = {
            generator["name"]: dict(
                line.split("=", 1)
                for env in generator["envs"]
                for line in (out / env).read_text().splitlines()
            )
            for generator in kustomization["secretGenerator"]
        }
        for _, deployment in found:
            if deployment["kind"] != "Deployment":
                continue
            service = deployment["metadata"]["name"]
            [container] = deployment["spec"]["template"]["spec"]["containers"]
            environment = {
                variable["name"]: secrets[ref["name"]][ref["key"]]
                for variable in container.get("env", [])
                for ref in [variable["valueFrom"]["secretKeyRef"]]
            }
            volumes = {}
            for mount in container.get("volumeMounts", []):
                files = tmp_path_for(out, service)
                for file, text in config_maps[service].items():
                    (files / file).write_text(text)
                volumes[str(files)] = {"bind": mount["mountPath"], "mode": "ro"}
            published = service.endswith("-router")
            security = container["securityContext"]
            for replica in range(deployment["spec"]["replicas"]):
                started.append(
                    client.containers.run(
                        container["image"],
                        name=f"{network.name}-{service}-{replica}",
                        detach=True,
                        environment=environment,
                        volumes=volumes,
                        ports={f"{container['ports'][0]['containerPort']}/tcp": ("127.0.0.1", None)}
                        if published
                        else {},
                        network=network.name,
                        networking_config={
                            network.name: client.api.create_endpoint_config(aliases=[service])
                        },
                        user=f"{security['runAsUser']}:{security['runAsGroup']}",
                        cap_drop=security["capabilities"]["drop"],
                        security_opt=["no-new-privileges"],
                    )
                )
        router = next(c for c in started if "-router-" in str(c.name))
        router.reload()
        port = router.ports["8080/tcp"][0]["HostPort"]
        yield f"http://127.0.0.1:{port}/score"
    finally:
        for container in started:
            with contextlib.suppress(docker.errors.DockerException):
                print(container.name, container.logs(tail=30).decode(errors="replace"))
                container.remove(force=True)
        network.remove()


def tmp_path_for(out: Path, service: str) -> Path:
    folder = out.parent / f"{service}-config"
    folder.mkdir(exist_ok=True)
    folder.chmod(0o755)  # read by the unprivileged router
    return folder


def until_answered(uri: str, headers: dict[str, str], body: bytes, timeout: float = 120) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        try:
            answer = httpx.post(uri, content=body, headers=headers, timeout=30)
            if answer.status_code == 200:
                return answer
        except httpx.TransportError:
            answer = None
        if time.monotonic() > deadline:
            raise AssertionError(f"no 200 from {uri} after {timeout} s: {answer and answer.text}")
        time.sleep(0.5)


@pytest.mark.docker
@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_exported_images_serve_the_quickstart_with_azures_semantics(
    docker_client: docker.DockerClient, tmp_path: Path
) -> None:
    folder = copy_project(QUICKSTART, tmp_path / "quickstart")
    out = tmp_path / "out"
    exported = run_workbench("export", "kubernetes", "--out", str(out), cwd=folder, timeout=840)
    assert exported.returncode == 0, exported.stderr
    assert f"wrote {out / 'kustomization.yaml'}" in exported.stdout
    assert "next: kubectl apply -k" in exported.stderr
    keys = dict(
        line.split("=", 1) for line in (out / "quickstart" / "router.secrets.env").read_text().splitlines()
    )
    body = (folder / "sample-request.json").read_bytes()
    with cluster_on_docker(docker_client, out) as uri:
        key = {"Authorization": f"Bearer {keys[PRIMARY_KEY]}", "Content-Type": "application/json"}
        served = until_answered(uri, key, body)
        assert len(json.loads(served.text)) == 2
        secondary = httpx.post(
            uri, content=body, headers={**key, "Authorization": f"Bearer {keys[SECONDARY_KEY]}"}
        )
        assert secondary.status_code == 200
        refused = httpx.post(uri, content=body, headers={**key, "Authorization": "Bearer wrong"})
        assert refused.status_code == 401
        for deployment in ("blue", "green"):  # header pinning, each to its own pods
            pinned = httpx.post(
                uri, content=body, headers={**key, "azureml-model-deployment": deployment}, timeout=30
            )
            assert pinned.status_code == 200, pinned.text
            assert pinned.headers["azureml-model-deployment"] == deployment
        unknown = httpx.post(uri, content=body, headers={**key, "azureml-model-deployment": "red"})
        assert unknown.status_code == 404
        split = Counter(
            httpx.post(uri, content=body, headers=key, timeout=30).headers.get("azureml-model-deployment")
            for _ in range(100)
        )
        assert set(split) == {"blue", "green"}, split
        assert split["blue"] > split["green"], f"90 / 10 split: {split}"


CUSTOM = """\
name: tfserving
endpoint_name: custom
model: {path: model}
environment:
  image: docker.io/tensorflow/serving:2.15.0
  inference_config:
    liveness_route: {port: 8501, path: /v1/models/half}
    readiness_route: {port: 8501, path: /v1/models/half}
    scoring_route: {port: 8501, path: "/v1/models/half:predict"}
environment_variables: {MODEL_BASE_PATH: /var/azureml-app/azureml-models/half/1}
instance_type: Standard_F2s_v2
"""


def test_a_custom_container_keeps_its_port_routes_and_user(tmp_path: Path) -> None:
    folder = tmp_path / "custom"
    (folder / "model").mkdir(parents=True)
    (folder / "model" / "saved_model.pb").write_bytes(b"model")
    (folder / "endpoint.yml").write_text("name: custom\nauth_mode: key\ntraffic: {tfserving: 100}\n")
    (folder / "tfserving.yml").write_text(CUSTOM)
    project = load_project(folder).raise_for_errors()
    out = tmp_path / "out"
    export_kubernetes(project, Images("router:1", {("custom", "tfserving"): "custom-tfserving:1"}), out)
    found = documents(out)
    for _, document in found:
        if document["kind"] not in CUSTOM_KINDS:
            kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
    by_name = {(d["kind"], d["metadata"]["name"]): d for _, d in found if d["kind"] != "Kustomization"}
    [server] = by_name[("Deployment", "custom-tfserving")]["spec"]["template"]["spec"]["containers"]
    assert server["ports"] == [{"name": "http", "containerPort": 8501}]
    assert server["readinessProbe"]["httpGet"] == {"path": "/v1/models/half", "port": 8501}
    assert "runAsUser" not in server["securityContext"], "the image's own user"
    assert server["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    config = RouterConfig.from_json(by_name[("ConfigMap", "custom-router")]["data"]["router.json"])
    upstream = config.deployments["tfserving"]
    assert (upstream.port, upstream.scoring_path) == (8501, "/v1/models/half:predict")
