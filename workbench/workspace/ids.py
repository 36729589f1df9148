"""Resource ids of a local workspace's things, shaped as Azure Resource Manager's, so that scripts
that pass them on (`--resource $(... --query id -o tsv)`) work unchanged. The subscription is
all zeros: a local workspace is in none."""

from __future__ import annotations

SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
TENANT = "00000000-0000-0000-0000-000000000000"
PROVIDER = "Microsoft.MachineLearningServices"


def workspace_id(group: str, workspace: str) -> str:
    return f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{group}/providers/{PROVIDER}/workspaces/{workspace}"


def endpoint_id(group: str, workspace: str, endpoint: str) -> str:
    return f"{workspace_id(group, workspace)}/onlineEndpoints/{endpoint}"


def endpoint_property_id(group: str, workspace: str, endpoint: str) -> str:
    """`properties."azureml.onlineendpointid"`: the same id, in lower case, as Azure writes it."""
    return endpoint_id(group, workspace, endpoint).lower()


def deployment_id(group: str, workspace: str, endpoint: str, deployment: str) -> str:
    return f"{endpoint_id(group, workspace, endpoint)}/deployments/{deployment}"


def asset_id(group: str, workspace: str, kind: str, name: str, version: str) -> str:
    """`azureml:/subscriptions/...`: how `az ml model show --query id` gives a registered asset."""
    return f"azureml:{workspace_id(group, workspace)}/{kind}s/{name}/versions/{version}"


def autoscale_id(group: str, name: str) -> str:
    group_id = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{group}"
    return f"{group_id}/providers/microsoft.insights/autoscalesettings/{name}"
