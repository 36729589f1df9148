"""The values of a deployment's secret references (`${{azureml://connections/...}}`,
`${{keyvault:...}}`), as workbench.yaml's `secrets:` gives them: literal, or `{env: NAME}` read
from the engine's environment, else from what a promote sent to this host over SSH
(`.workbench/secrets.json`). Read when a deployment is prepared, so a changed value (a promote
that rotated it) reaches new instances; its digest is part of the deployment's fingerprint, so a
change rolls the deployments that read it out as any other change does."""

from __future__ import annotations

import hashlib
import os

from workbench.engine.files import read_json
from workbench.errors import StartupError
from workbench.layout import ProjectFiles
from workbench.spec.deployment import DeploymentSpec
from workbench.spec.local import LocalSettings


def resolve(spec: DeploymentSpec, settings: LocalSettings, files: ProjectFiles) -> dict[str, str]:
    """Each secret environment variable's value; SecretsInjectionError, as Azure says it, for one
    with no value here."""
    values: dict[str, str] = {}
    sent = _sent(files)
    for variable, reference in spec.secret_references().items():
        secret = settings.secrets.get(reference)
        value = None
        if secret is not None:
            value = secret.literal if secret.literal is not None else os.environ.get(secret.env or "")
            if value is None and secret.env is not None:
                value = sent.get(secret.env)
        if value is None and secret is not None and secret.env is not None:
            raise StartupError(
                f"SecretsInjectionError: {reference} ({variable}) reads ${secret.env}, which is not set "
                f"in the engine's environment: export {secret.env}=... before `workbench up` (a promote "
                "sends it from the machine it runs on)"
            )
        if value is None:
            raise StartupError(
                f"SecretsInjectionError: no local value for {reference} ({variable}); give one under "
                "secrets: in workbench.yaml as {env: NAME} and export NAME (a literal there would be "
                "shipped with the project)"
            )
        values[variable] = value
    return values


def digest(spec: DeploymentSpec, settings: LocalSettings, files: ProjectFiles) -> str:
    """A digest of the deployment's secret values ("" when it reads none, or one is missing: its
    preparation then says so)."""
    if not spec.secret_references():
        return ""
    try:
        values = resolve(spec, settings, files)
    except StartupError:
        return ""
    return hashlib.sha256(repr(sorted(values.items())).encode()).hexdigest()[:16]


def _sent(files: ProjectFiles) -> dict[str, str]:
    sent = read_json(files.secrets, {})
    if not isinstance(sent, dict):
        return {}
    return {str(k): v for k, v in sent.items() if isinstance(v, str)}
