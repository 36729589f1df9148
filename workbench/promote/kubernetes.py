"""`workbench export kubernetes`: the project's endpoints as Kubernetes manifests, in one folder
that `kubectl apply -k` takes.

Per deployment, a Deployment of its image (built by engine/bundle.py) with Azure's probes on the
inference server's `/`, the instance type's resources (or a Kubernetes deployment's own
`resources:`), `instance_count` replicas, and a headless Service: one DNS address per ready pod.
Per endpoint, the workbench's own router as a Deployment and Service, configured by a ConfigMap,
its keys from a Secret: the cluster gets the semantics tested locally (key or token auth, traffic
split, header pinning, mirroring, 408 / 424 / 429), the router counting each ready pod as it
counts each instance here. With a gateway named, an HTTPRoute too, for users who prefer their
gateway to the router; what it does not do is written at its top.

Secrets are never written into manifests: the endpoint's keys (new ones, as a new endpoint in
Azure gets, kept by a later export) and each deployment's secret variables (empty, to fill in) go
to `.env` files of mode 0600 that kustomize's secretGenerator reads; a `.gitignore` keeps them out
of version control.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from workbench.layout import mark_as_output
from workbench.router.credentials import new_key
from workbench.router.standalone import PRIMARY_KEY, SECONDARY_KEY, TOKEN_SECRET, RouterConfig, Upstream
from workbench.spec import Project
from workbench.spec.deployment import DeploymentSpec, ProbeSettings
from workbench.spec.skus import find_sku

SERVER_PORT = 5001
ROUTER_PORT = 8080
LABEL = "app.kubernetes.io/name"
PART = "app.kubernetes.io/part-of"
UNPRIVILEGED = 65534
GATEWAY_NOTE = """\
# Gateway API routing for {endpoint}, for clusters that route with their own gateway instead of
# the workbench's router ({endpoint}-router). What this route does not do that the router does:
# - no key or token auth: the gateway forwards every request (add your gateway's own auth);
# - no 429 when a deployment is at capacity, no 424 with the model's status, no 408 after
#   request_timeout_ms: the gateway's own timeouts and errors apply;
# - requests are spread by the Service (kube-proxy), not sent to the least busy instance;
# - the mirror copy's answer is dropped, not compared with the live one;
# - a custom container's scoring route other than /score is not rewritten to.
"""


@dataclass(frozen=True)
class Images:
    """What engine/bundle.py built: the router's image and each deployment's."""

    router: str
    deployments: Mapping[tuple[str, str], str]
    """(endpoint, deployment) -> image"""


@dataclass
class Exported:
    files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def name(*parts: str) -> str:
    """A Kubernetes name (an RFC 1035 label) from `parts`: lower case, at most 63 characters, a
    digest of the whole kept where it had to be cut."""
    whole = "-".join(parts).lower()
    if len(whole) <= 63:
        return whole
    return whole[:54].rstrip("-") + "-" + hashlib.sha256(whole.encode()).hexdigest()[:8]


def export_kubernetes(project: Project, images: Images, out: Path, *, gateway: str | None = None) -> Exported:
    exported = Exported()
    resources: list[str] = []
    generators: list[dict[str, Any]] = []
    out.mkdir(parents=True, exist_ok=True)
    mark_as_output(out)
    for endpoint in project.endpoints:
        folder = out / endpoint.name
        folder.mkdir(exist_ok=True)
        upstreams = {}
        for deployment in endpoint.deployments:
            service = name(endpoint.name, deployment.name)
            config = deployment.environment.inference_config if deployment.environment else None
            upstreams[deployment.name] = Upstream(
                host=service,
                port=config.scoring_route.port if config else SERVER_PORT,
                request_timeout_ms=deployment.request_settings.request_timeout_ms,
                max_concurrent_requests_per_instance=deployment.request_settings.max_concurrent_requests_per_instance,
                scoring_path=config.scoring_route.path if config else None,
            )
            secrets = sorted(deployment.secret_references())
            if secrets:
                env_file = folder / f"{deployment.name}.secrets.env"
                _write_secret(env_file, {variable: "" for variable in secrets}, keep=True)
                generators.append(_generator(name(service, "secrets"), env_file, out))
                exported.notes.append(
                    f"{endpoint.name}/{deployment.name} reads secrets ({', '.join(secrets)}): fill in "
                    f"{env_file.relative_to(out)} before applying"
                )
            image = images.deployments[(endpoint.name, deployment.name)]
            manifest = folder / f"{deployment.name}.yaml"
            _write(manifest, _deployment(endpoint.name, deployment, service, image, secrets))
            resources.append(manifest.relative_to(out).as_posix())
            exported.files.append(manifest)
            if deployment.kind == "managed" and deployment.instance_type and not deployment.resources:
                exported.notes.append(
                    f"{endpoint.name}/{deployment.name}: resources are {deployment.instance_type}'s; lower "
                    "them with a kustomize patch for a small cluster"
                )
        router_config = RouterConfig(
            endpoint=endpoint.name,
            auth_mode=endpoint.spec.auth_mode.value,
            port=ROUTER_PORT,
            traffic=dict(endpoint.spec.traffic),
            mirror_traffic=dict(endpoint.spec.mirror_traffic),
            deployments=upstreams,
        )
        keys = folder / "router.secrets.env"
        _write_secret(
            keys, {PRIMARY_KEY: new_key(), SECONDARY_KEY: new_key(), TOKEN_SECRET: new_key()}, keep=True
        )
        generators.append(_generator(name(endpoint.name, "keys"), keys, out))
        router = folder / "router.yaml"
        _write(router, _router(endpoint.name, router_config, images.router))
        resources.append(router.relative_to(out).as_posix())
        exported.files.append(router)
        if gateway is not None:
            route = folder / "httproute.yaml"
            route.write_text(
                GATEWAY_NOTE.format(endpoint=endpoint.name)
                + yaml.safe_dump(_http_route(endpoint.name, router_config, gateway), sort_keys=False)
            )
            resources.append(route.relative_to(out).as_posix())
            exported.files.append(route)
    kustomization = out / "kustomization.yaml"
    _write(
        kustomization,
        [
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "resources": resources,
                "secretGenerator": generators,
                "generatorOptions": {"disableNameSuffixHash": True},
            }
        ],
    )
    exported.files.append(kustomization)
    (out / ".gitignore").write_text("# the endpoints' keys and the deployments' secrets\n*.env\n")
    return exported


def _deployment(
    endpoint: str, spec: DeploymentSpec, service: str, image: str, secrets: list[str]
) -> list[dict[str, Any]]:
    labels = {LABEL: service, PART: endpoint}
    config = spec.environment.inference_config if spec.environment else None
    port = config.scoring_route.port if config else SERVER_PORT
    liveness, readiness = (config.liveness_route, config.readiness_route) if config else (None, None)
    container: dict[str, Any] = {
        "name": "inference-server",
        "image": image,
        "ports": [{"name": "http", "containerPort": port}],
        "livenessProbe": _probe(spec.liveness_probe, liveness.path if liveness else "/", port),
        "readinessProbe": _probe(spec.readiness_probe, readiness.path if readiness else "/", port),
        "resources": _resources(spec),
        # a custom container keeps its own user, as the Docker runtime runs it
        "securityContext": _unprivileged(own_user=config is not None),
    }
    if secrets:
        container["env"] = [
            {
                "name": variable,
                "valueFrom": {"secretKeyRef": {"name": name(service, "secrets"), "key": variable}},
            }
            for variable in secrets
        ]
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": service, "labels": labels},
        "spec": {
            "replicas": spec.instance_count,
            "selector": {"matchLabels": {LABEL: service}},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "automountServiceAccountToken": False,
                    "terminationGracePeriodSeconds": max(
                        30, spec.request_settings.request_timeout_ms // 1000 + 5
                    ),
                    "containers": [container],
                },
            },
        },
    }
    headless = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": service, "labels": labels},
        "spec": {
            "clusterIP": "None",  # one address per ready pod: the router picks the least busy
            "selector": {LABEL: service},
            "ports": [{"name": "http", "port": port, "targetPort": port}],
        },
    }
    return [deployment, headless]


def _router(endpoint: str, config: RouterConfig, image: str) -> list[dict[str, Any]]:
    router = name(endpoint, "router")
    labels = {LABEL: router, PART: endpoint}
    keys = name(endpoint, "keys")
    return [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": router, "labels": labels},
            "data": {"router.json": config.to_json()},
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": router, "labels": labels},
            "spec": {
                # one router: Azure's 429 counts requests in flight per instance, which one
                # router sees whole
                "replicas": 1,
                "selector": {"matchLabels": {LABEL: router}},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "automountServiceAccountToken": False,
                        "containers": [
                            {
                                "name": "router",
                                "image": image,
                                "ports": [{"name": "http", "containerPort": ROUTER_PORT}],
                                "env": [
                                    {
                                        "name": variable,
                                        "valueFrom": {"secretKeyRef": {"name": keys, "key": variable}},
                                    }
                                    for variable in (PRIMARY_KEY, SECONDARY_KEY, TOKEN_SECRET)
                                ],
                                "volumeMounts": [
                                    {"name": "config", "mountPath": "/etc/workbench", "readOnly": True}
                                ],
                                "readinessProbe": {"tcpSocket": {"port": ROUTER_PORT}, "periodSeconds": 5},
                                "livenessProbe": {"tcpSocket": {"port": ROUTER_PORT}, "periodSeconds": 10},
                                "resources": {
                                    "requests": {"cpu": "100m", "memory": "128Mi"},
                                    "limits": {"memory": "512Mi"},
                                },
                                "securityContext": _unprivileged(),
                            }
                        ],
                        "volumes": [{"name": "config", "configMap": {"name": router}}],
                    },
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": router, "labels": labels},
            "spec": {
                "selector": {LABEL: router},
                "ports": [{"name": "http", "port": 80, "targetPort": ROUTER_PORT}],
            },
        },
    ]


def _http_route(endpoint: str, config: RouterConfig, gateway: str) -> dict[str, Any]:
    def backend(deployment: str, weight: int | None = None) -> dict[str, Any]:
        ref: dict[str, Any] = {
            "name": name(endpoint, deployment),
            "port": config.deployments[deployment].port,
        }
        return {**ref, "weight": weight} if weight is not None else ref

    score = {"path": {"type": "Exact", "value": "/score"}}
    rules: list[dict[str, Any]] = [
        {
            "matches": [{**score, "headers": [{"name": "azureml-model-deployment", "value": deployment}]}],
            "backendRefs": [backend(deployment)],
        }
        for deployment in sorted(config.deployments)
    ]
    live = {d: share for d, share in config.traffic.items() if share > 0}
    if live:
        default: dict[str, Any] = {
            "matches": [score],
            "backendRefs": [backend(d, share) for d, share in sorted(live.items())],
        }
        mirrors = [(d, share) for d, share in sorted(config.mirror_traffic.items()) if share > 0]
        if mirrors:
            deployment, share = mirrors[0]  # Azure mirrors to one deployment at most
            default["filters"] = [
                {
                    "type": "RequestMirror",
                    "requestMirror": {"backendRef": backend(deployment), "percent": share},
                }
            ]
        rules.append(default)
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": name(endpoint, "route"), "labels": {PART: endpoint}},
        "spec": {"parentRefs": [{"name": gateway}], "rules": rules},
    }


def _probe(probe: ProbeSettings, path: str, port: int) -> dict[str, Any]:
    """Azure's probe settings, field for field, on the inference server's `/` (a custom
    container's own route)."""
    return {
        "httpGet": {"path": path, "port": port},
        "initialDelaySeconds": probe.initial_delay,
        "periodSeconds": probe.period,
        "timeoutSeconds": probe.timeout,
        "successThreshold": probe.success_threshold,
        "failureThreshold": probe.failure_threshold,
    }


def _resources(spec: DeploymentSpec) -> dict[str, Any]:
    """A Kubernetes deployment's own `resources:`, else the instance type's CPUs, memory and GPUs."""
    if spec.resources:
        return {kind: dict(values) for kind, values in spec.resources.items()}
    sku = find_sku(spec.instance_type) if spec.instance_type else None
    if sku is None:
        return {}
    wanted: dict[str, Any] = {"cpu": str(sku.vcpus), "memory": f"{int(sku.memory_gib * 1024)}Mi"}
    if sku.gpus:
        wanted["nvidia.com/gpu"] = str(sku.gpus)
    return {"requests": dict(wanted), "limits": dict(wanted)}


def _unprivileged(*, own_user: bool = False) -> dict[str, Any]:
    """As the Docker runtime runs instances: no root (unless the image's own user), no
    capabilities, no privilege escalation."""
    user = {} if own_user else {"runAsNonRoot": True, "runAsUser": UNPRIVILEGED, "runAsGroup": UNPRIVILEGED}
    return {
        **user,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _generator(secret: str, env_file: Path, out: Path) -> dict[str, Any]:
    return {"name": secret, "envs": [env_file.relative_to(out).as_posix()]}


def _write_secret(path: Path, values: Mapping[str, str], *, keep: bool = False) -> None:
    """`values` as an env file, mode 0600 from its creation; with `keep`, an existing file (keys
    already handed out, secrets the user filled in) is left as it is."""
    if keep and path.exists():
        return
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.writelines(f"{key}={value}\n" for key, value in values.items())
    path.chmod(0o600)


def _write(path: Path, documents: list[dict[str, Any]]) -> None:
    path.write_text(yaml.safe_dump_all(documents, sort_keys=False))
