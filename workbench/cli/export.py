"""`workbench export azureml`: the project as `az ml` takes it to the cloud (promote/azureml.py)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from workbench.cli.validate import add_set_argument
from workbench.spec.overrides import parse_overrides


def add_parser(commands: Any) -> None:
    export = commands.add_parser("export", help="write what another platform needs to run the project")
    targets = export.add_subparsers(dest="target", metavar="TARGET", required=True)
    azureml = targets.add_parser(
        "azureml",
        help="the endpoint and deployment YAML for `az ml`, and deploy.sh in Azure's safe-rollout order",
    )
    azureml.add_argument("path", nargs="?", type=Path, default=Path("."), metavar="PATH")
    azureml.add_argument(
        "--out", type=Path, default=Path("azureml-export"), help="(default: ./azureml-export)"
    )
    add_set_argument(azureml)
    azureml.set_defaults(run=run_export_azureml)


def run_export_azureml(args: argparse.Namespace) -> int:
    from workbench.promote.azureml import export_azureml
    from workbench.spec import load_project

    project = load_project(args.path, parse_overrides(args.set))
    exported = export_azureml(project, args.out)
    for file in exported.files:
        print(f"wrote {file}")
    print(f"wrote {exported.script}")
    for note in exported.notes:
        print(f"note: {note}", file=sys.stderr)
    print(
        f"next: az login, then AZURE_RESOURCE_GROUP=... AZURE_ML_WORKSPACE=... {exported.script}",
        file=sys.stderr,
    )
    return 0
