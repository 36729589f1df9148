"""`workbench export azureml | kubernetes`: the project as `az ml` takes it to the cloud
(promote/azureml.py), or as a Kubernetes cluster runs it (engine/bundle.py builds the images,
promote/kubernetes.py writes the manifests)."""

from __future__ import annotations

import argparse
import asyncio
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
    kubernetes = targets.add_parser(
        "kubernetes",
        help="images as the Docker runtime builds them, and manifests for `kubectl apply -k` with the "
        "workbench's router in front",
    )
    kubernetes.add_argument("path", nargs="?", type=Path, default=Path("."), metavar="PATH")
    kubernetes.add_argument(
        "--out", type=Path, default=Path("kubernetes-export"), help="(default: ./kubernetes-export)"
    )
    kubernetes.add_argument(
        "--registry", metavar="REG", help="push the images there (e.g. myregistry.azurecr.io/team)"
    )
    kubernetes.add_argument(
        "--gateway", metavar="NAME", help="also write a Gateway API HTTPRoute attached to this Gateway"
    )
    add_set_argument(kubernetes)
    kubernetes.set_defaults(run=run_export_kubernetes)


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


def run_export_kubernetes(args: argparse.Namespace) -> int:
    from workbench.engine.bundle import Bundler
    from workbench.promote.kubernetes import Images, export_kubernetes, name
    from workbench.spec import load_project

    project = load_project(args.path, parse_overrides(args.set)).raise_for_errors()
    prefix = args.registry.rstrip("/") + "/" if args.registry else ""

    def say(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    async def build() -> Images:
        bundler = Bundler(project.root, project.settings, args.out, say)
        router = await bundler.router(f"{prefix}workbench-router")
        deployments = {}
        for endpoint in project.endpoints:
            for deployment in endpoint.deployments:
                deployments[(endpoint.name, deployment.name)] = await bundler.deployment(
                    endpoint.name, deployment, prefix + name(endpoint.name, deployment.name)
                )
        if args.registry:
            for tag in (router, *deployments.values()):
                await bundler.push(tag)
        return Images(router, deployments)

    images = asyncio.run(build())
    exported = export_kubernetes(project, images, args.out, gateway=args.gateway)
    for file in exported.files:
        print(f"wrote {file}")
    for note in exported.notes:
        print(f"note: {note}", file=sys.stderr)
    first = project.endpoints[0].name if project.endpoints else "ENDPOINT"
    if not args.registry:
        say("note: the images are on this machine only: --registry pushes them where the cluster pulls")
    say(
        f"next: kubectl apply -k {args.out}; kubectl port-forward svc/{name(first, 'router')} 8080:80; "
        f"then POST http://127.0.0.1:8080/score with the key in {args.out / first / 'router.secrets.env'}"
    )
    return 0
