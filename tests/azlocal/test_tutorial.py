"""Azure's safe-rollout tutorial (azureml-examples cli/deploy-safe-rollout-online-endpoints.sh),
its autoscale script and its registered-asset steps, run as bash scripts against `az` = azlocal:
real engines, real instances, curl with the key azlocal gives. Each output is checked against
the shape `az ml` prints."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from tests.azlocal.harness import Az
from tests.conftest import require_program
from tests.engine.harness import until

# The top-level fields `az ml online-endpoint show` and `az ml online-deployment show` print for
# managed ones (azure-ai-ml's ManagedOnlineEndpoint / ManagedOnlineDeployment, plus az's
# resourceGroup), as in Azure's documented outputs.
ENDPOINT_FIELDS = {
    "auth_mode", "description", "id", "identity", "kind", "location", "mirror_traffic", "name",
    "openapi_uri", "properties", "provisioning_state", "public_network_access", "resourceGroup",
    "scoring_uri", "tags", "traffic",
}  # fmt: skip
DEPLOYMENT_FIELDS = {
    "app_insights_enabled", "code_configuration", "egress_public_network_access", "endpoint_name",
    "environment", "environment_variables", "id", "instance_count", "instance_type", "liveness_probe",
    "model", "name", "properties", "provisioning_state", "readiness_probe", "request_settings",
    "resourceGroup", "scale_settings", "tags", "type",
}  # fmt: skip
ARM = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/local/providers/"
WORKSPACE = ARM + "Microsoft.MachineLearningServices/workspaces/local"

SAFE_ROLLOUT = """\
export ENDPOINT_NAME=endpt-`echo $RANDOM`
echo $ENDPOINT_NAME > out/name
az ml online-endpoint create --name $ENDPOINT_NAME -f endpoints/online/managed/saferollout/endpoint.yml \\
  > out/endpoint.json
az ml online-deployment create --name blue --endpoint $ENDPOINT_NAME \\
  -f endpoints/online/managed/saferollout/blue-deployment.yml --all-traffic > out/blue.json
az ml online-endpoint invoke --name $ENDPOINT_NAME \\
  --request-file endpoints/online/model-1/sample-request.json > out/invoke-blue.json
az ml online-deployment update --name blue --endpoint $ENDPOINT_NAME --set instance_count=2 \\
  > out/blue-scaled.json
az ml online-deployment create --name green --endpoint $ENDPOINT_NAME \\
  -f endpoints/online/managed/saferollout/green-deployment.yml > out/green.json
az ml online-endpoint show -n $ENDPOINT_NAME --query traffic > out/traffic-green-created.json
az ml online-endpoint invoke --name $ENDPOINT_NAME --deployment green \\
  --request-file endpoints/online/model-2/sample-request.json > out/invoke-green.json
ENDPOINT_KEY=$(az ml online-endpoint get-credentials -n $ENDPOINT_NAME -o tsv --query primaryKey)
SCORING_URI=$(az ml online-endpoint show -n $ENDPOINT_NAME -o tsv --query scoring_uri)
curl --fail --silent --request POST "$SCORING_URI" --header "Authorization: Bearer $ENDPOINT_KEY" \\
  --header 'Content-Type: application/json' --header "azureml-model-deployment: green" \\
  --data @endpoints/online/model-2/sample-request.json > out/curl-green.json
az ml online-endpoint update --name $ENDPOINT_NAME --mirror-traffic "green=10" > out/mirror.json
az ml online-endpoint update --name $ENDPOINT_NAME --mirror-traffic "green=0" > out/mirror-off.json
az ml online-endpoint update --name $ENDPOINT_NAME --traffic "blue=90 green=10" > out/split.json
az ml online-endpoint update --name $ENDPOINT_NAME --traffic "blue=0 green=100" > out/all-green.json
endpoint_status=`az ml online-endpoint show --name $ENDPOINT_NAME --query "provisioning_state" -o tsv`
deploy_status=`az ml online-deployment show --name green --endpoint $ENDPOINT_NAME \\
  --query "provisioning_state" -o tsv`
echo "$endpoint_status $deploy_status" > out/states
az ml online-deployment get-logs --name green --endpoint $ENDPOINT_NAME --lines 5 > out/logs.txt
az ml online-deployment get-logs --name green --endpoint $ENDPOINT_NAME --container storage-initializer \\
  > out/storage.txt
az ml online-deployment list --endpoint $ENDPOINT_NAME --query "[].name" -o tsv > out/deployments.tsv
az ml online-deployment delete --name blue --endpoint $ENDPOINT_NAME --yes --no-wait
az ml online-endpoint delete --name $ENDPOINT_NAME --yes --no-wait
"""


def test_the_safe_rollout_tutorial_runs_unchanged(az: Az) -> None:
    require_program("curl")
    (az.folder / "out").mkdir()
    done = az.script(SAFE_ROLLOUT)
    assert done.returncode == 0, done.stderr
    out = az.folder / "out"
    name = (out / "name").read_text().strip()

    endpoint = json.loads((out / "endpoint.json").read_text())
    assert set(endpoint) == ENDPOINT_FIELDS
    assert endpoint["id"] == f"{WORKSPACE}/onlineEndpoints/{name}"
    assert endpoint["properties"]["azureml.onlineendpointid"] == endpoint["id"].lower()
    assert endpoint["provisioning_state"] == "Succeeded"
    assert endpoint["scoring_uri"].startswith("http://127.0.0.1:")
    assert endpoint["scoring_uri"].endswith("/score")

    blue = json.loads((out / "blue.json").read_text())
    assert set(blue) == DEPLOYMENT_FIELDS
    assert (blue["name"], blue["endpoint_name"], blue["provisioning_state"]) == ("blue", name, "Succeeded")
    assert blue["request_settings"]["request_timeout_ms"] == 5000
    assert json.loads((out / "invoke-blue.json").read_text()) == json.dumps(
        {"model": "model-1", "echo": {"data": [[1, 2, 3]]}, "tag": ""}
    ), "invoke prints the answer as a JSON string, as az does"
    assert json.loads((out / "blue-scaled.json").read_text())["instance_count"] == 2

    assert json.loads((out / "traffic-green-created.json").read_text()) == {"blue": 100, "green": 0}
    assert json.loads(json.loads((out / "invoke-green.json").read_text()))["model"] == "model-2"
    assert json.loads((out / "curl-green.json").read_text())["model"] == "model-2"
    assert json.loads((out / "mirror.json").read_text())["mirror_traffic"] == {"green": 10}
    assert json.loads((out / "mirror-off.json").read_text())["mirror_traffic"] == {}
    assert json.loads((out / "split.json").read_text())["traffic"] == {"blue": 90, "green": 10}
    assert json.loads((out / "all-green.json").read_text())["traffic"] == {"blue": 0, "green": 100}
    assert (out / "states").read_text().split() == ["Succeeded", "Succeeded"]
    logs = (out / "logs.txt").read_text().splitlines()
    assert len(logs) == 5
    assert "POST /score 200" in logs[-1], "the last lines: the request curl sent"
    assert "storage-initializer" in (out / "storage.txt").read_text()
    assert (out / "deployments.tsv").read_text().split() == ["blue", "green"]

    _wait_until_no_endpoint(az)


def test_registered_assets_and_autoscale_as_the_scripts_make_them(az: Az) -> None:
    (az.folder / "model.yml").write_text(
        "name: diabetes\npath: endpoints/online/model-1/model\ntype: custom_model\n"
    )
    (az.folder / "environment.yml").write_text("name: sk-env\nimage: python:3.11-slim\n")
    (az.folder / "registered.yml").write_text(
        "name: reg\nendpoint_name: somewhere\nmodel: azureml:diabetes:7\nenvironment: azureml:sk-env@latest\n"
        "code_configuration:\n  code: endpoints/online/model-1/onlinescoring\n  scoring_script: score.py\n"
        "instance_type: Standard_DS3_v2\n"
    )
    model = az.json("ml", "model", "create", "-f", "model.yml", "--set", "version=7")
    assert isinstance(model, dict)
    assert (model["name"], model["version"], model["type"]) == ("diabetes", "7", "custom_model")
    assert model["id"] == f"azureml:{WORKSPACE}/models/diabetes/versions/7"
    assert model["path"] == str(az.folder / "endpoints/online/model-1/model")
    assert (
        az(
            "ml", "environment", "create", "-f", "environment.yml", "--set", "version=3", "--query", "version"
        ).stdout.strip()
        == '"3"'
    )
    assert (
        az("ml", "environment", "create", "-f", "environment.yml", "-o", "tsv", "--query", "version").stdout
        == "4\n"
    )
    assert (
        az(
            "ml", "model", "show", "-n", "diabetes", "--label", "latest", "-o", "tsv", "--query", "version"
        ).stdout
        == "7\n"
    )

    az("ml", "online-endpoint", "create", "-n", "assets-ep", "-o", "none")  # no file: Azure's defaults
    deployment = az.json(
        "ml", "online-deployment", "create", "-e", "assets-ep", "-f", "registered.yml", "--all-traffic"
    )
    assert isinstance(deployment, dict)
    assert deployment["model"] == f"azureml:{WORKSPACE}/models/diabetes/versions/7"
    assert deployment["environment"] == f"azureml:{WORKSPACE}/environments/sk-env/versions/4"
    assert deployment["provisioning_state"] == "Succeeded"

    done = az.script("""\
        DEPLOYMENT_RESOURCE_ID=$(az ml online-deployment show -e assets-ep -n reg -o tsv --query "id")
        ENDPOINT_RESOURCE_ID=$(az ml online-endpoint show -n assets-ep -o tsv \\
          --query "properties.\\"azureml.onlineendpointid\\"")
        az monitor autoscale create --name scaler --resource $DEPLOYMENT_RESOURCE_ID \\
          --min-count 1 --max-count 3 --count 1
        az monitor autoscale rule create --autoscale-name scaler \\
          --condition "CpuUtilizationPercentage > 70 avg 5m" --scale out 2
        az monitor autoscale rule create --autoscale-name scaler --condition "RequestLatency > 70 avg 5m" \\
          --scale out 1 --resource $ENDPOINT_RESOURCE_ID
        az monitor autoscale profile create --name weekend-profile --autoscale-name scaler \\
          --min-count 2 --count 2 --max-count 2 --recurrence week sat sun \\
          --timezone "Pacific Standard Time" -o none
    """)
    assert done.returncode == 0, done.stderr
    setting, cpu_rule, latency_rule = _json_documents(done.stdout)
    assert setting["targetResourceUri"] == f"{WORKSPACE}/onlineEndpoints/assets-ep/deployments/reg"
    assert setting["profiles"][0]["capacity"] == {"default": "1", "maximum": "3", "minimum": "1"}
    assert cpu_rule["scaleAction"] == {
        "cooldown": "PT5M",
        "direction": "Increase",
        "type": "ChangeCount",
        "value": "2",
    }
    assert cpu_rule["metricTrigger"]["timeWindow"] == "PT5M"
    assert (
        latency_rule["metricTrigger"]["metricResourceUri"] == f"{WORKSPACE}/onlineEndpoints/assets-ep".lower()
    )
    status = az.workbench("status", "--workspace", "local")
    assert (
        "autoscale: 1..3 instances; out 2 when CpuUtilizationPercentage average > 70 over 5 min"
        in status.stdout
    )

    profiles = az.json("monitor", "autoscale", "show", "-n", "scaler", "--query", "profiles[].name")
    assert profiles == ["default", "weekend-profile"]
    az("monitor", "autoscale", "delete", "-n", "scaler")
    assert "autoscale:" not in az.workbench("status", "--workspace", "local").stdout
    az("ml", "model", "archive", "-n", "diabetes", "-v", "7")
    assert az.json("ml", "model", "list") == []


def test_failures_say_what_az_says_and_change_nothing(az: Az) -> None:
    az("ml", "online-endpoint", "create", "-n", "fail-ep", "-o", "none")
    missing = az("ml", "online-endpoint", "show", "-n", "nope", check=False)
    assert missing.returncode == 3
    assert missing.stderr.startswith("ERROR: (ResourceNotFound)")
    arguments = az("ml", "online-deployment", "create", "-e", "fail-ep", check=False)
    assert arguments.returncode == 2
    assert "--file/-f" in arguments.stderr
    cloud = az("acr", "build", "--registry", "r", ".", check=False)
    assert cloud.returncode == 1
    assert "needs Azure" in cloud.stderr

    bad = az(
        "ml", "online-deployment", "create", "-n", "blue", "-e", "fail-ep",
        "-f", "endpoints/online/managed/saferollout/blue-deployment.yml", "--set", "instance_count=lots",
        check=False,
    )  # fmt: skip
    assert bad.returncode == 1
    assert "endpoints/online/managed/saferollout/blue-deployment.yml:12:" in bad.stderr, bad.stderr
    assert az.json("ml", "online-deployment", "list", "-e", "fail-ep") == [], (
        "a refused create stages nothing"
    )

    (az.folder / "endpoints/online/model-1/model/broken").write_text("")
    broken = az(
        "ml", "online-deployment", "create", "-n", "blue", "-e", "fail-ep",
        "-f", "endpoints/online/managed/saferollout/blue-deployment.yml", check=False,
    )  # fmt: skip
    assert broken.returncode == 1
    assert "ERROR: (ResourceNotReady) deployment blue of endpoint fail-ep failed" in broken.stderr
    assert "the model is broken" in broken.stderr
    state = az(
        "ml",
        "online-deployment",
        "show",
        "-n",
        "blue",
        "-e",
        "fail-ep",
        "--query",
        "provisioning_state",
        "-o",
        "tsv",
    )
    assert state.stdout == "Failed\n"

    (az.folder / "endpoints/online/model-1/model/broken").unlink()
    fixed = az(
        "ml", "online-deployment", "update", "-n", "blue", "-e", "fail-ep", "--query", "provisioning_state"
    )
    assert json.loads(fixed.stdout) == "Succeeded"
    live = az("ml", "online-endpoint", "update", "-n", "fail-ep", "--traffic", "blue=100", "-o", "none")
    assert live.returncode == 0
    refused = az("ml", "online-deployment", "delete", "-n", "blue", "-e", "fail-ep", "--yes", check=False)
    assert refused.returncode == 1
    assert "cannot be deleted" in refused.stderr


def test_local_mode_has_no_auth_and_one_deployment(az: Az) -> None:
    az("ml", "online-endpoint", "create", "--local", "-n", "local-ep", "-o", "none")
    empty = az(
        "ml",
        "online-endpoint",
        "invoke",
        "--local",
        "-n",
        "local-ep",
        "-r",
        "endpoints/online/model-1/sample-request.json",
        check=False,
    )
    assert "This local endpoint does not have any deployments" in empty.stderr
    for name in ("blue", "green"):
        az(
            "ml", "online-deployment", "create", "--local", "-n", name, "-e", "local-ep",
            "-f", f"endpoints/online/managed/saferollout/{name}-deployment.yml", "-o", "none",
        )  # fmt: skip
    assert az.json("ml", "online-deployment", "list", "--local", "-e", "local-ep", "--query", "[].name") == [
        "green"
    ]
    uri = az(
        "ml", "online-endpoint", "show", "--local", "-n", "local-ep", "-o", "tsv", "--query", "scoring_uri"
    ).stdout.strip()
    request = urllib.request.Request(uri, data=b'{"data": 1}', headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:  # no Authorization header at all
        assert json.loads(answer.read())["model"] == "model-2"
    credentials = az("ml", "online-endpoint", "get-credentials", "-n", "local-ep", check=False)
    assert credentials.returncode == 1
    assert "asks no key" in credentials.stderr


def test_the_workspace_outlives_its_engine(az: Az) -> None:
    az("ml", "online-endpoint", "create", "-n", "kept-ep", "-o", "none")
    az(
        "ml", "online-deployment", "create", "-n", "blue", "-e", "kept-ep",
        "-f", "endpoints/online/managed/saferollout/blue-deployment.yml", "--all-traffic", "-o", "none",
    )  # fmt: skip
    key = az(
        "ml", "online-endpoint", "get-credentials", "-n", "kept-ep", "-o", "tsv", "--query", "primaryKey"
    ).stdout
    uri = az("ml", "online-endpoint", "show", "-n", "kept-ep", "-o", "tsv", "--query", "scoring_uri").stdout
    assert az.workbench("down", "--workspace", "local").returncode == 0
    az("configure", "--defaults", "workspace=local", "group=my-rg")
    assert az.json("configure", "-l", "--query", "[].name") == ["group", "workspace"]
    again = az(
        "ml", "online-endpoint", "get-credentials", "-n", "kept-ep", "-o", "tsv", "--query", "primaryKey"
    )
    assert again.stdout == key
    assert "starting the engine" in again.stderr
    assert (
        az("ml", "online-endpoint", "show", "-n", "kept-ep", "-o", "tsv", "--query", "scoring_uri").stdout
        == uri
    )
    answer = az(
        "ml",
        "online-endpoint",
        "invoke",
        "-n",
        "kept-ep",
        "-r",
        "endpoints/online/model-1/sample-request.json",
    )
    assert json.loads(json.loads(answer.stdout))["model"] == "model-1"
    request = "endpoints/online/model-1/sample-request.json"
    az(
        "ml",
        "online-deployment",
        "update",
        "-n",
        "blue",
        "-e",
        "kept-ep",
        "--set",
        "environment_variables.MODEL_TAG=v2",
    )
    answer = az("ml", "online-endpoint", "invoke", "-n", "kept-ep", "-r", request)
    assert json.loads(json.loads(answer.stdout))["tag"] == "v2", "update returns once new instances serve"
    account = az.json("account", "show")
    assert isinstance(account, dict)
    assert account["name"] == "endpoint workbench (local)"
    assert az.json("ml", "workspace", "show", "--query", "tags") == {"workbench": "local"}


def _json_documents(text: str) -> list[Any]:
    decoder, documents, at = json.JSONDecoder(), [], 0
    while at < len(text.rstrip()):
        document, at = decoder.raw_decode(text, at)
        documents.append(document)
        while at < len(text) and text[at].isspace():
            at += 1
    return documents


def _wait_until_no_endpoint(az: Az) -> None:
    """`delete --no-wait` returned at once; the endpoint goes a moment later."""
    until(lambda: az.json("ml", "online-endpoint", "list") == [], 120, lambda: "the endpoint never went")
