"""Everything the observed state says of an endpoint, a deployment or an instance, in lines of
text: `workbench status` prints it, the dashboard's describe view (`v`) shows it."""

from __future__ import annotations

from workbench.state import DeploymentState, EndpointState, InstanceState


def describe(endpoint: EndpointState, deployment: str | None = None, instance: str | None = None) -> str:
    """The endpoint with all its deployments; or only `deployment` (and only `instance` of it)."""
    lines = []
    if deployment is None:
        lines.append(
            f"{endpoint.name}  {endpoint.provisioning_state.value}  auth {endpoint.auth_mode}  "
            f"scoring uri {endpoint.scoring_uri or '-'}"
        )
        if endpoint.limits:
            lines.append(f"  limits: {endpoint.limits}")
        if endpoint.traffic_override:
            lines.append(f"  traffic: {_shares(endpoint.traffic)}; {endpoint.traffic_override}")
    for state in endpoint.deployments:
        if deployment is None or state.name == deployment:
            lines.extend(_deployment(endpoint, state, instance))
            if deployment is not None and instance is None and state.spec:  # one deployment: its YAML too
                lines.append("    spec:")
                lines.extend(f"      {key}: {value}" for key, value in state.spec.items())
    return "\n".join(lines)


def _deployment(endpoint: EndpointState, deployment: DeploymentState, only: str | None) -> list[str]:
    ready = sum(1 for i in deployment.instances if i.serves)
    share = endpoint.traffic.get(deployment.name, 0)
    mirror = endpoint.mirror_traffic.get(deployment.name)
    traffic = f"{share}%" + (f" (+{mirror}% mirror)" if mirror else "")
    lines = [
        f"  {deployment.name}  {deployment.provisioning_state.value}  "
        f"{ready}/{deployment.instance_count} ready  traffic {traffic}"
    ]
    lines.extend(_instance(i) for i in deployment.instances if only is None or i.id == only)
    if deployment.failure:
        lines.append(f"    your code failed at {deployment.failure.summary()}")
    if deployment.last_scoring_error:
        lines.append(
            f"    run() last failed at {deployment.last_scoring_error.summary()} "
            f"({deployment.scoring_errors} request(s) so far)"
        )
    if deployment.reason:
        lines.extend("    " + line for line in deployment.reason.splitlines())
    if deployment.last_reload:
        lines.append(f"    last reload: {deployment.last_reload}")
    if deployment.faults:
        lines.append(f"    faults injected: {deployment.faults}")
    if deployment.scaled:
        lines.append(f"    scaled: {deployment.scaled}")
    if deployment.autoscale:
        lines.append(f"    autoscale: {deployment.autoscale}")
    return lines


def _instance(instance: InstanceState) -> str:
    line = (
        f"    {instance.id}  {instance.state.value}  pid {instance.pid}  {instance.url}  "
        f"restarts {instance.restarts}"
    )
    if instance.handing_over:
        line += "  (its previous process serves until this one is ready)"
    if instance.exit_code is not None:
        line += f"  last exit code {instance.exit_code}"
    if instance.debug_port is not None:
        line += f"  debugpy on 127.0.0.1:{instance.debug_port}"
    return line


def _shares(table: dict[str, int]) -> str:
    return " ".join(f"{name}={share}" for name, share in table.items()) or "none"
