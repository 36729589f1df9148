"""The JSON that `az ml` prints for an online endpoint, a deployment, a model, an environment, a
workspace and an account (azure-ai-ml's own shapes: snake_case fields, ARM ids, provisioning
states), filled from the workspace's staged files and the engine's observed state. Everything
local is marked as such: `"workbench": "local"` in properties and tags."""

from __future__ import annotations

import dataclasses
import getpass
from typing import Any

from workbench.spec.deployment import DeploymentSpec
from workbench.spec.project import Endpoint
from workbench.state import DeploymentState, EndpointState
from workbench.workspace import ids
from workbench.workspace.assets import Asset

LOCAL = {"workbench": "local"}


@dataclasses.dataclass(frozen=True)
class Where:
    """The workspace that things are in, as ids name it."""

    workspace: str
    group: str
    location: str
    resources: dict[str, Any]
    """workspace.json's record of when each resource was made."""

    def times(self, resource: str) -> dict[str, Any]:
        entry = self.resources.get(resource, {})
        return {"createdAt": entry.get("created_at"), "lastModifiedAt": entry.get("modified_at")}


def endpoint(
    where: Where, staged: dict[str, Any], spec: Endpoint | None, state: EndpointState | None
) -> dict[str, Any]:
    name = str(staged["name"])
    deployments = [d.name for d in spec.deployments] if spec is not None else []
    traffic = {d: 0 for d in deployments}
    traffic.update(state.traffic if state is not None else staged.get("traffic") or {})
    mirror = state.mirror_traffic if state is not None else staged.get("mirror_traffic") or {}
    scoring = state.scoring_uri if state is not None else None
    return {
        "auth_mode": str(staged.get("auth_mode", "key")),
        "description": staged.get("description"),
        "id": ids.endpoint_id(where.group, where.workspace, name),
        "identity": {"principal_id": None, "tenant_id": ids.TENANT, "type": "system_assigned"},
        "kind": "Managed",
        "location": where.location,
        "mirror_traffic": {k: v for k, v in mirror.items() if v},
        "name": name,
        "openapi_uri": scoring.rsplit("/", 1)[0] + "/swagger.json" if scoring else None,
        "properties": {
            "azureml.onlineendpointid": ids.endpoint_property_id(where.group, where.workspace, name),
            "createdBy": getpass.getuser(),
            **where.times(f"onlineEndpoints/{name}"),
            **LOCAL,
        },
        "provisioning_state": state.provisioning_state.value if state is not None else "Creating",
        "public_network_access": "enabled",
        "resourceGroup": where.group,
        "scoring_uri": scoring,
        "tags": staged.get("tags") or {},
        "traffic": traffic,
    }


def deployment(
    where: Where, staged: dict[str, Any], spec: DeploymentSpec | None, state: DeploymentState | None
) -> dict[str, Any]:
    endpoint_name, name = str(staged["endpoint_name"]), str(staged["name"])
    shape: dict[str, Any] = {
        "app_insights_enabled": bool(staged.get("app_insights_enabled", False)),
        "code_configuration": staged.get("code_configuration"),
        "egress_public_network_access": str(staged.get("egress_public_network_access", "enabled")),
        "endpoint_name": endpoint_name,
        "environment": staged.get("environment"),
        "environment_variables": staged.get("environment_variables") or {},
        "id": ids.deployment_id(where.group, where.workspace, endpoint_name, name),
        "instance_count": int(staged.get("instance_count", 1)),
        "instance_type": staged.get("instance_type"),
        "model": staged.get("model"),
        "name": name,
        "properties": {**where.times(f"onlineEndpoints/{endpoint_name}/deployments/{name}"), **LOCAL},
        "provisioning_state": state.provisioning_state.value if state is not None else "Creating",
        "resourceGroup": where.group,
        "scale_settings": {"type": "default"},
        "tags": staged.get("tags") or {},
        "type": "Managed",
    }
    if spec is not None:
        shape["request_settings"] = dataclasses.asdict(spec.request_settings)
        shape["liveness_probe"] = dataclasses.asdict(spec.liveness_probe)
        shape["readiness_probe"] = dataclasses.asdict(spec.readiness_probe)
        if spec.model is not None:
            shape["model"] = ids.asset_id(
                where.group, where.workspace, "model", spec.model.name, spec.model.version
            )
        if spec.environment is not None:
            environment = spec.environment
            shape["environment"] = ids.asset_id(
                where.group, where.workspace, "environment", environment.name, environment.version
            )
    if state is not None:
        shape["instance_count"] = state.instance_count
        if state.reason:
            shape["properties"]["reason"] = state.reason
    return shape


def asset(where: Where, data: dict[str, Any], found: Asset) -> dict[str, Any]:
    resource = found.resource
    times = where.times(resource)
    shape = {
        "creation_context": {
            "created_at": times["createdAt"],
            "created_by": getpass.getuser(),
            "created_by_type": "User",
            "last_modified_at": times["lastModifiedAt"],
        },
        "description": data.get("description"),
        "id": ids.asset_id(where.group, where.workspace, found.kind, found.name, found.version),
        "name": found.name,
        "properties": data.get("properties") or {},
        "resourceGroup": where.group,
        "stage": data.get("stage") or "Development",
        "tags": {**(data.get("tags") or {}), **LOCAL},
        "version": found.version,
    }
    if found.kind == "model":
        shape.update(
            path=data.get("path"), type=data.get("type", "custom_model"), flavors=data.get("flavors")
        )
    else:
        shape.update(
            image=data.get("image"),
            conda_file=data.get("conda_file"),
            build=data.get("build"),
            inference_config=data.get("inference_config"),
            os_type=data.get("os_type", "linux"),
        )
    return shape


def workspace(where: Where, root: str) -> dict[str, Any]:
    return {
        "description": f"a local workspace of the endpoint workbench, at {root}",
        "display_name": where.workspace,
        "id": ids.workspace_id(where.group, where.workspace),
        "location": where.location,
        "name": where.workspace,
        "public_network_access": "Disabled",
        "resourceGroup": where.group,
        "tags": LOCAL,
    }


def account() -> dict[str, Any]:
    return {
        "environmentName": "AzureCloud",
        "homeTenantId": ids.TENANT,
        "id": ids.SUBSCRIPTION,
        "isDefault": True,
        "managedByTenants": [],
        "name": "endpoint workbench (local)",
        "state": "Enabled",
        "tenantId": ids.TENANT,
        "user": {"name": getpass.getuser(), "type": "user"},
    }
