"""`workbench export azureml`: the project as `az ml` takes it to the cloud, in Azure's
safe-rollout order.

The endpoint and deployment files are written as they are (their keys, values and `azureml:`
references untouched), with `--set` values applied as `az ml ... --set` would, local paths made
relative to where the files are written, and the endpoint's `traffic` and `mirror_traffic` taken
out: Azure refuses traffic when it creates an endpoint, so they become the last command. Nothing
of `workbench.yaml` goes to the cloud. Beside the files, `deploy.sh` runs, in order: the local
assets that deployments refer to by name (`az ml model create`, `az ml environment create`), the
endpoint, each deployment without traffic (each created, or updated where it exists: the script
runs again after a change), then the traffic in steps (a new deployment mirrored, then a small
share, then its own, each step gated on its state) and the mirror share. It names the group and
workspace on every command and changes nothing of az's own configuration.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from workbench.layout import mark_as_output
from workbench.spec import Project
from workbench.spec.deployment import DeploymentSpec
from workbench.spec.local import EndpointSettings
from workbench.spec.overrides import apply as apply_overrides
from workbench.spec.project import classify
from workbench.spec.rollout import RolloutSettings

PATH_KEYS = (
    ("code_configuration", "code"),
    ("model", "path"),
    ("environment", "conda_file"),
    ("environment", "build", "path"),
    ("path",),
    ("conda_file",),
    ("build", "path"),
)
"""Where the files of Azure's YAML name local paths (deployments, and model / environment assets)."""


@dataclass
class Export:
    folder: Path
    files: list[Path] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """What behaves differently in the cloud, or must exist there first."""

    @property
    def script(self) -> Path:
        return self.folder / "deploy.sh"


def export_azureml(project: Project, folder: Path) -> Export:
    project.raise_for_errors()
    folder = folder.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    mark_as_output(folder)
    result = Export(folder)
    for asset in _referenced_assets(project):
        written = _write(asset, project, result, folder / "assets" / asset.name, overrides=False)
        kind = "model" if _kind_of(asset) == "model" else "environment"
        result.commands.append(_asset_command(kind, written, folder))
    for endpoint in project.endpoints:
        target = folder / endpoint.name
        written = _write(
            endpoint.spec.file, project, result, target / endpoint.spec.file.name, overrides=False
        )
        result.commands.append(f"create_or_update online-endpoint {_rel(written, folder)} -n {endpoint.name}")
        for deployment in endpoint.deployments:
            written = _write(deployment.file, project, result, target / deployment.file.name, overrides=True)
            result.commands.append(
                f"create_or_update online-deployment {_rel(written, folder)} -n {deployment.name} "
                f"-e {endpoint.name}"
            )
            result.notes += _cloud_notes(deployment)
        traffic, mirror = dict(endpoint.spec.traffic), dict(endpoint.spec.mirror_traffic)
        plan = project.settings.endpoints.get(endpoint.name, EndpointSettings()).rollout
        if plan is None:
            result.commands += _traffic_steps(endpoint.name, traffic, mirror)
        else:
            result.commands += _planned_steps(endpoint.name, traffic, mirror, plan)
    result.notes += [p.format(relative_to=project.root) for p in project.problems if not p.is_error]
    _write_script(result, project)
    return result


def _write(source: Path, project: Project, result: Export, target: Path, *, overrides: bool) -> Path:
    """`source` as Azure takes it, into `target`: paths relative to it, `--set` applied."""
    root = yaml.compose(source.read_text(encoding="utf-8"))
    assert isinstance(root, yaml.MappingNode)
    files = [p for p in project.named if p.is_file()]  # else a folder: --set goes to its deployments
    if project.overrides and (source.absolute() in files if files else overrides):
        apply_overrides(root, project.overrides)
    _drop(root, ("traffic",), ("mirror_traffic",))
    for keys in PATH_KEYS:
        node = _at(root, keys)
        if isinstance(node, yaml.ScalarNode) and node.value and not _remote(node.value):
            local = (source.parent / node.value).resolve()
            node.value = os.path.relpath(local, target.parent)
            node.style = None
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(
        f"# from {_shown(source, project)} by `workbench export azureml`\n" + yaml.serialize(root)
    )
    result.files.append(target)
    return target


def _shown(source: Path, project: Project) -> str:
    return str(source.relative_to(project.root)) if source.is_relative_to(project.root) else str(source)


def _at(root: yaml.MappingNode, keys: tuple[str, ...]) -> yaml.Node | None:
    node: yaml.Node | None = root
    for key in keys:
        if not isinstance(node, yaml.MappingNode):
            return None
        node = next((v for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == key), None)
    return node


def _drop(root: yaml.MappingNode, *paths: tuple[str, ...]) -> None:
    for path in paths:
        parent = _at(root, path[:-1]) if len(path) > 1 else root
        if isinstance(parent, yaml.MappingNode):
            parent.value = [
                (k, v)
                for k, v in parent.value
                if not (isinstance(k, yaml.ScalarNode) and k.value == path[-1])
            ]


def _remote(value: str) -> bool:
    return value.startswith(("azureml:", "http://", "https://", "wasbs://", "abfss://", "git+"))


def _referenced_assets(project: Project) -> list[Path]:
    """The model and environment files of the folder that deployments name (`azureml:NAME:V`)."""
    wanted: dict[Path, None] = {}
    for endpoint in project.endpoints:
        for deployment in endpoint.deployments:
            for spec in (deployment.model, deployment.environment):
                declared = getattr(spec, "declared_at", None)
                file = getattr(declared, "file", None)
                if file is not None and file != deployment.file and Path(file).is_file():
                    wanted[Path(file)] = None
    return list(wanted)


def _kind_of(path: Path) -> str:
    root = yaml.compose(path.read_text(encoding="utf-8"))
    kind = classify(root) if root is not None else None
    return kind.value if kind else ""


def _cloud_notes(deployment: DeploymentSpec) -> list[str]:
    name = f"{deployment.endpoint_name}/{deployment.name}"
    notes = [
        f"{name}: create the secret behind {variable} ({reference}) and give the endpoint's identity access"
        for variable, reference in deployment.secret_references().items()
    ]
    image = deployment.environment.image if deployment.environment else None
    if image and "/" not in image.split(":")[0]:
        notes.append(
            f"{name}: image {image} names no registry; Azure pulls images from a registry it can reach"
        )
    return notes


FIRST_STEP = 10
"""The share a deployment that takes no traffic yet gets first (and mirrors before that), where
workbench.yaml gives the endpoint no rollout plan."""
DEFAULT_STEP_S = 60

PRELUDE = """\
#!/usr/bin/env bash
# Generated by `workbench export azureml`. Azure's safe-rollout order: the assets deployments
# name, the endpoint, each deployment without traffic, then the traffic in steps: a deployment
# that takes none yet gets a mirrored copy first, then a small live share, then its own. Each
# step waits its interval (60 s, or the endpoint's rollout plan's; TRAFFIC_STEP_S, when set, for
# every step: 0 for none) and goes on only while the deployment Succeeded.
# Run it again after a change: what exists is updated. It changes nothing of az's configuration:
# every command names the group and the workspace.
set -euo pipefail
: "${AZURE_RESOURCE_GROUP:?set AZURE_RESOURCE_GROUP}"
: "${AZURE_ML_WORKSPACE:?set AZURE_ML_WORKSPACE}"
cd "$(dirname "$0")"
where=(--resource-group "$AZURE_RESOURCE_GROUP" --workspace-name "$AZURE_ML_WORKSPACE")

exists() { az ml "$@" "${where[@]}" >/dev/null 2>&1; }

create_or_update() {  # KIND FILE NAME-ARGUMENTS...
  local kind="$1" file="$2"
  shift 2
  if exists "$kind" show "$@"; then
    az ml "$kind" update -f "$file" "${where[@]}" >/dev/null
    echo "$file: updated"
  else
    az ml "$kind" create -f "$file" "${where[@]}" >/dev/null
    echo "$file: created"
  fi
}

share() {  # ENDPOINT DEPLOYMENT: its live share now, 0 for none
  local now
  now="$(az ml online-endpoint show -n "$1" --query "traffic.\"$2\"" -o tsv "${where[@]}")"
  case "$now" in "" | None | null) echo 0 ;; *) echo "$now" ;; esac
}

succeeded() {  # ENDPOINT DEPLOYMENT: stops here unless the deployment Succeeded
  local state
  state="$(az ml online-deployment show -n "$2" -e "$1" --query provisioning_state -o tsv "${where[@]}")"
  if [ "$state" != "Succeeded" ]; then
    echo "deploy.sh: $1/$2 is $state: its traffic stays as it is" >&2
    exit 1
  fi
}

traffic() {  # ENDPOINT SHARES
  az ml online-endpoint update -n "$1" --traffic "$2" "${where[@]}" >/dev/null
  echo "$1: traffic $2"
}

mirror() {  # ENDPOINT SHARES
  az ml online-endpoint update -n "$1" --mirror-traffic "$2" "${where[@]}" >/dev/null
  echo "$1: mirror traffic $2"
}

pause() {  # SECONDS: a step's interval (TRAFFIC_STEP_S instead, when set)
  sleep "${TRAFFIC_STEP_S:-$1}"
}

new_here() {  # ENDPOINT DEPLOYMENT OTHER...: true when DEPLOYMENT takes no traffic yet and an OTHER does
  local endpoint="$1" deployment="$2" name
  shift 2
  [ "$(share "$endpoint" "$deployment")" -eq 0 ] || return 1
  for name in "$@"; do
    [ "$(share "$endpoint" "$name")" -gt 0 ] && return 0
  done
  return 1
}

step() {  # ENDPOINT DEPLOYMENT SHARE OTHER...: DEPLOYMENT at SHARE; the rest to the OTHERs that
  # serve now, in their proportions (whole percents: the largest takes the rounding). Bash 3 too.
  local endpoint="$1" deployment="$2" given="$3" i total=0 largest=0 handed=0 split=""
  shift 3
  local names=("$@") live=() part=()
  for i in "${!names[@]}"; do
    live[i]="$(share "$endpoint" "${names[i]}")"
    total=$((total + live[i]))
    [ "${live[i]}" -gt "${live[largest]}" ] && largest=$i
  done
  for i in "${!names[@]}"; do
    part[i]=$(((100 - given) * live[i] / total))
    handed=$((handed + part[i]))
  done
  part[largest]=$((part[largest] + 100 - given - handed))
  for i in "${!names[@]}"; do
    [ "${part[i]}" -gt 0 ] && split+="${names[i]}=${part[i]} "
  done
  traffic "$endpoint" "${split}$deployment=$given"
}
"""


def _asset_command(kind: str, written: Path, folder: Path) -> str:
    """Created unless that version exists (an asset's version is immutable in Azure)."""
    data = yaml.safe_load(written.read_text(encoding="utf-8")) or {}
    name, version = data.get("name"), data.get("version")
    create = f'az ml {kind} create -f {_rel(written, folder)} "${{where[@]}}"'
    if not (name and version):
        return create  # a new version each run
    return f"exists {kind} show -n {shlex.quote(str(name))} -v {shlex.quote(str(version))} || {create}"


def _traffic_steps(endpoint: str, traffic: dict[str, int], mirror: dict[str, int]) -> list[str]:
    """The endpoint's traffic in steps toward `traffic`: the deployment with the largest share
    keeps the rest while each other one with a share is mirrored (when it is the only one),
    then given FIRST_STEP, then its share. Where the largest has no live traffic yet (a new
    endpoint), there is nobody to protect: the shares are set at once."""
    if not traffic:
        return [f"mirror {endpoint} {shlex.quote(_shares(mirror))}"] if mirror else []
    largest = max(traffic, key=lambda name: traffic[name])
    newcomers = [name for name, share in traffic.items() if share > 0 and name != largest]
    lines = [f"# {endpoint}: traffic {_shares(traffic)}, in steps"]
    lines += [f"succeeded {endpoint} {name}" for name, share in traffic.items() if share > 0]
    if newcomers:
        lines.append(f'if [ "$(share {endpoint} {largest})" -gt 0 ]; then')
        for name in newcomers[:1] if len(newcomers) == 1 else []:
            lines += [
                f'  if [ "$(share {endpoint} {name})" -eq 0 ]; then',
                f"    mirror {endpoint} {name}={FIRST_STEP}",
                f"    pause {DEFAULT_STEP_S}",
                f"    succeeded {endpoint} {name}",
                f"    mirror {endpoint} {name}=0",
                "  fi",
            ]
        first = {name: min(traffic[name], FIRST_STEP) for name in newcomers}
        if first != {name: traffic[name] for name in newcomers}:
            step = {largest: 100 - sum(first.values()), **first}
            lines += [
                f'  if [ "$(share {endpoint} {newcomers[0]})" -lt {first[newcomers[0]]} ]; then',
                f"    traffic {endpoint} {shlex.quote(_shares(step))}",
                f"    pause {DEFAULT_STEP_S}",
                *(f"    succeeded {endpoint} {name}" for name in newcomers),
                "  fi",
            ]
        lines.append("fi")
    lines.append(f"traffic {endpoint} {shlex.quote(_shares(traffic))}")
    if mirror:
        lines.append(f"mirror {endpoint} {shlex.quote(_shares(mirror))}")
    return lines


def _planned_steps(
    endpoint: str, traffic: dict[str, int], mirror: dict[str, int], plan: RolloutSettings
) -> list[str]:
    """The endpoint's traffic toward `traffic` in the steps of its rollout plan (workbench.yaml),
    as `workbench rollout` takes them: the deployment that gets a share and takes none yet while
    others do is mirrored (the plan's mirror_first), then given each of the plan's shares below
    its own, the others keeping the rest in their proportions; each step lasts the plan's
    interval and goes on only while it Succeeded. Then the shares, and the mirror share."""
    if not traffic:
        return [f"mirror {endpoint} {shlex.quote(_shares(mirror))}"] if mirror else []
    interval = f"{plan.interval_s:g}"
    thresholds = [f"its requests failing at most {plan.max_error_rate:g}%"]
    if plan.max_p99_ms is not None:
        thresholds.append(f"its p99 at most {plan.max_p99_ms:g} ms")
    lines = [
        f"# {endpoint}: traffic {_shares(traffic)}, in the steps of workbench.yaml's rollout plan",
        f"# (judged by `workbench rollout` here: {', '.join(thresholds)}; Azure Monitor's",
        "# RequestsPerMinute and RequestLatency_P99 by deployment show the same in the cloud)",
    ]
    lines += [f"succeeded {endpoint} {name}" for name, share in traffic.items() if share > 0]
    names = list(traffic)
    branch = "if"
    for name in sorted((n for n in names if traffic[n] > 0), key=lambda n: -traffic[n]):
        others = " ".join(n for n in names if n != name)
        if not others:
            continue
        lines.append(f"{branch} new_here {endpoint} {name} {others}; then")
        branch = "elif"
        if plan.mirror_first:
            lines += [
                f"  mirror {endpoint} {name}={plan.mirror_first}",
                f"  pause {interval}",
                f"  succeeded {endpoint} {name}",
                f"  mirror {endpoint} {name}=0",
            ]
        for share in (s for s in plan.steps if s < traffic[name]):
            lines += [
                f"  step {endpoint} {name} {share} {others}",
                f"  pause {interval}",
                f"  succeeded {endpoint} {name}",
            ]
    if branch == "elif":
        lines.append("fi")
    lines.append(f"traffic {endpoint} {shlex.quote(_shares(traffic))}")
    if mirror:
        lines.append(f"mirror {endpoint} {shlex.quote(_shares(mirror))}")
    return lines


def _shares(table: dict[str, int]) -> str:
    return " ".join(f"{name}={share}" for name, share in table.items())


def _write_script(result: Export, project: Project) -> None:
    result.script.write_text(PRELUDE + "\n" + "\n".join(result.commands) + "\n")
    result.script.chmod(0o755)


def _rel(path: Path, folder: Path) -> str:
    return shlex.quote(path.relative_to(folder).as_posix())
