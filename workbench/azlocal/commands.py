"""The `az` commands azlocal answers, each with the arguments `az` gives it (long and short
names as `az` spells them), and what runs it. Arguments `az` takes that change nothing locally
(`--resource-group`, `--subscription`, `--skip-script-validation`) are taken and ignored."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.azlocal import account, assets, deployments, endpoints, monitor
from workbench.azlocal.output import FORMATS

Handler = Callable[[Any], Any]
Arguments = Callable[[argparse.ArgumentParser], None]


@dataclass(frozen=True)
class Command:
    words: tuple[str, ...]
    run: Handler
    arguments: Arguments
    summary: str
    engine: bool = True
    """Whether it works on a workspace (and takes -w)."""


def _none(parser: argparse.ArgumentParser) -> None:
    pass


def _endpoint_name(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    parser.add_argument("-n", "--name", required=required, help="the endpoint's name")


def _endpoint_common(parser: argparse.ArgumentParser) -> None:
    _endpoint_name(parser, required=False)
    parser.add_argument("-f", "--file", type=Path, help="the endpoint's YAML")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE", help="a value put into the YAML")
    parser.add_argument("--no-wait", action="store_true", help="return before the change is done")
    parser.add_argument("--local", action="store_true", help="Azure's local mode (one deployment, no auth)")
    parser.add_argument("--web", action="store_true", help=argparse.SUPPRESS)


def _endpoint_create(parser: argparse.ArgumentParser) -> None:
    _endpoint_common(parser)
    parser.add_argument("--auth-mode", choices=("key", "aml_token", "aad_token"))


def _endpoint_update(parser: argparse.ArgumentParser) -> None:
    _endpoint_common(parser)
    parser.add_argument("-t", "--traffic", nargs="+", help='"blue=90 green=10"')
    parser.add_argument("--mirror-traffic", nargs="+", help='"green=10" (green=0: no mirror)')


def _endpoint_delete(parser: argparse.ArgumentParser) -> None:
    _endpoint_name(parser)
    parser.add_argument("-y", "--yes", action="store_true")
    parser.add_argument("--no-wait", action="store_true")
    parser.add_argument("--local", action="store_true")


def _endpoint_invoke(parser: argparse.ArgumentParser) -> None:
    _endpoint_name(parser)
    parser.add_argument("-r", "--request-file", type=Path)
    parser.add_argument("-d", "--deployment-name", "--deployment")
    parser.add_argument("--local", action="store_true")


def _endpoint_show(parser: argparse.ArgumentParser) -> None:
    _endpoint_name(parser)
    parser.add_argument("--local", action="store_true")
    parser.add_argument("--web", action="store_true", help=argparse.SUPPRESS)


def _endpoint_list(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--local", action="store_true")


def _regenerate(parser: argparse.ArgumentParser) -> None:
    _endpoint_name(parser)
    parser.add_argument("--key-type", choices=("primary", "secondary"), default="primary")
    parser.add_argument("--no-wait", action="store_true")


def _deployment_names(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    parser.add_argument("-n", "--name", required=required, help="the deployment's name")
    parser.add_argument("-e", "--endpoint-name", "--endpoint", required=required, help="its endpoint's name")
    parser.add_argument("--local", action="store_true")


def _deployment_change(parser: argparse.ArgumentParser) -> None:
    _deployment_names(parser, required=False)
    parser.add_argument("-f", "--file", type=Path, help="the deployment's YAML")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE", help="a value put into the YAML")
    parser.add_argument("--no-wait", action="store_true")
    parser.add_argument("--skip-script-validation", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--local-enable-gpu", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--vscode-debug", action="store_true", help=argparse.SUPPRESS)


def _deployment_create(parser: argparse.ArgumentParser) -> None:
    _deployment_change(parser)
    parser.add_argument(
        "--all-traffic", action="store_true", help="the endpoint's whole traffic to it once it runs"
    )
    parser.add_argument("--package-model", action="store_true", help=argparse.SUPPRESS)


def _deployment_delete(parser: argparse.ArgumentParser) -> None:
    _deployment_names(parser)
    parser.add_argument("-y", "--yes", action="store_true")
    parser.add_argument("--no-wait", action="store_true")


def _deployment_list(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-e", "--endpoint-name", "--endpoint", required=True)
    parser.add_argument("--local", action="store_true")


def _logs(parser: argparse.ArgumentParser) -> None:
    _deployment_names(parser)
    parser.add_argument("-l", "--lines", type=int)
    parser.add_argument("-c", "--container", choices=("inference-server", "storage-initializer"))


def _asset_create(kind: str) -> Arguments:
    def add(parser: argparse.ArgumentParser) -> None:
        parser.set_defaults(kind=kind)
        parser.add_argument("-n", "--name")
        parser.add_argument("-v", "--version")
        parser.add_argument("-f", "--file", type=Path)
        parser.add_argument("--set", action="append", metavar="KEY=VALUE")
        parser.add_argument("-d", "--description")
        parser.add_argument("--tags", nargs="+", metavar="KEY=VALUE")
        if kind == "model":
            parser.add_argument("-p", "--path")
            parser.add_argument("-t", "--type", choices=("custom_model", "mlflow_model", "triton_model"))
        else:
            parser.add_argument("-i", "--image")
            parser.add_argument("-c", "--conda-file")
            parser.add_argument("-b", "--build")
            parser.add_argument("--os-type", choices=("linux", "windows"))

    return add


def _asset_show(kind: str) -> Arguments:
    def add(parser: argparse.ArgumentParser) -> None:
        parser.set_defaults(kind=kind)
        parser.add_argument("-n", "--name", required=True)
        parser.add_argument("-v", "--version")
        parser.add_argument("-l", "--label")

    return add


def _asset_list(kind: str) -> Arguments:
    def add(parser: argparse.ArgumentParser) -> None:
        parser.set_defaults(kind=kind)
        parser.add_argument("-n", "--name")
        parser.add_argument("--include-archived", action="store_true")
        parser.add_argument("--archived-only", action="store_true", help=argparse.SUPPRESS)

    return add


def _asset_archive(kind: str) -> Arguments:
    def add(parser: argparse.ArgumentParser) -> None:
        parser.set_defaults(kind=kind)
        parser.add_argument("-n", "--name", required=True)
        parser.add_argument("-v", "--version")
        parser.add_argument("-l", "--label", help=argparse.SUPPRESS)

    return add


def _counts(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--min-count", type=int)
    parser.add_argument("--max-count", type=int)
    parser.add_argument("--count", type=int)


def _autoscale_create(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-n", "--name", "--autoscale-name", required=True)
    parser.add_argument("--resource")
    parser.add_argument("--resource-type", help=argparse.SUPPRESS)
    parser.add_argument("--resource-namespace", help=argparse.SUPPRESS)
    _counts(parser)


def _autoscale_update(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-n", "--name", "--autoscale-name", required=True)
    parser.add_argument("--enabled", choices=("true", "false"))
    _counts(parser)


def _autoscale_name(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-n", "--name", "--autoscale-name", required=True)


def _rule_create(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--autoscale-name", required=True)
    parser.add_argument("--condition", required=True, help='"CpuUtilizationPercentage > 70 avg 5m"')
    parser.add_argument("--scale", nargs="+", required=True, help="out N, in N")
    parser.add_argument("--cooldown", type=int, default=5, help="minutes (default 5)")
    parser.add_argument("--profile-name")
    parser.add_argument("--resource", help="where the metric comes from (default: the setting's target)")
    parser.add_argument("--timegrain", help=argparse.SUPPRESS)


def _profile_create(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-n", "--name", required=True)
    parser.add_argument("--autoscale-name", required=True)
    _counts(parser)
    parser.add_argument("--copy-rules", metavar="PROFILE")
    parser.add_argument("--recurrence", nargs="+", help="week sat sun")
    parser.add_argument("--timezone")
    parser.add_argument("--start", help=argparse.SUPPRESS)
    parser.add_argument("--end", help=argparse.SUPPRESS)


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-d", "--defaults", nargs="+", metavar="KEY=VALUE", help="workspace=NAME group=RG")
    parser.add_argument("-l", "--list-defaults", action="store_true")
    parser.add_argument("--scope", choices=("global", "local"), help=argparse.SUPPRESS)


def _config_get(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("key", nargs="?", help="defaults.workspace, defaults.group")


def _workspace_show(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-n", "--name", dest="workspace_name")


OE, OD = ("ml", "online-endpoint"), ("ml", "online-deployment")
COMMANDS = (
    Command(
        (*OE, "create"), endpoints.create, _endpoint_create, "create an endpoint, with -n only or from -f"
    ),
    Command(
        (*OE, "update"),
        endpoints.update,
        _endpoint_update,
        "change an endpoint: --traffic, --mirror-traffic, -f",
    ),
    Command((*OE, "show"), endpoints.show, _endpoint_show, "an endpoint"),
    Command((*OE, "list"), endpoints.list_all, _endpoint_list, "the workspace's endpoints"),
    Command((*OE, "delete"), endpoints.delete, _endpoint_delete, "delete an endpoint and its deployments"),
    Command((*OE, "invoke"), endpoints.invoke, _endpoint_invoke, "send a request file to an endpoint"),
    Command(
        (*OE, "get-credentials"), endpoints.get_credentials, _endpoint_show, "an endpoint's keys or token"
    ),
    Command(
        (*OE, "regenerate-keys"), endpoints.regenerate_keys, _regenerate, "a new primary or secondary key"
    ),
    Command((*OD, "create"), deployments.create, _deployment_create, "create a deployment from -f"),
    Command((*OD, "update"), deployments.update, _deployment_change, "change a deployment: --set, -f"),
    Command((*OD, "show"), deployments.show, _deployment_names, "a deployment"),
    Command((*OD, "list"), deployments.list_all, _deployment_list, "an endpoint's deployments"),
    Command(
        (*OD, "delete"), deployments.delete, _deployment_delete, "delete a deployment (with no live traffic)"
    ),
    Command(
        (*OD, "get-logs"),
        deployments.get_logs,
        _logs,
        "a deployment's logs (--container storage-initializer)",
    ),
    Command(("ml", "model", "create"), assets.create, _asset_create("model"), "register a model version"),
    Command(
        ("ml", "model", "show"), assets.show, _asset_show("model"), "a model version (-v, or --label latest)"
    ),
    Command(
        ("ml", "model", "list"), assets.list_all, _asset_list("model"), "models (-n: a model's versions)"
    ),
    Command(("ml", "model", "archive"), assets.archive, _asset_archive("model"), "archive a model's version"),
    Command(
        ("ml", "environment", "create"),
        assets.create,
        _asset_create("environment"),
        "register an environment",
    ),
    Command(("ml", "environment", "show"), assets.show, _asset_show("environment"), "an environment version"),
    Command(("ml", "environment", "list"), assets.list_all, _asset_list("environment"), "environments"),
    Command(
        ("ml", "environment", "archive"), assets.archive, _asset_archive("environment"), "archive a version"
    ),
    Command(("ml", "workspace", "show"), account.workspace_show, _workspace_show, "the local workspace"),
    Command(("monitor", "autoscale", "create"), monitor.create, _autoscale_create, "autoscale a deployment"),
    Command(
        ("monitor", "autoscale", "update"), monitor.update, _autoscale_update, "change an autoscale setting"
    ),
    Command(("monitor", "autoscale", "show"), monitor.show, _autoscale_name, "an autoscale setting"),
    Command(
        ("monitor", "autoscale", "delete"), monitor.delete, _autoscale_name, "delete an autoscale setting"
    ),
    Command(("monitor", "autoscale", "rule", "create"), monitor.rule_create, _rule_create, "add a rule"),
    Command(
        ("monitor", "autoscale", "profile", "create"),
        monitor.profile_create,
        _profile_create,
        "add a profile",
    ),
    Command(
        ("configure",), account.configure, _configure, "azlocal's defaults (workspace, group)", engine=False
    ),
    Command(("config", "get"), account.config_get, _config_get, "azlocal's configuration", engine=False),
    Command(("account", "show"), account.account_show, _none, "the (local) account", engine=False),
)


def parser_for(command: Command) -> argparse.ArgumentParser:
    parser = _Parser(prog="azlocal " + " ".join(command.words), description=command.summary)
    command.arguments(parser)
    parser.add_argument("-o", "--output", choices=FORMATS, default="json")
    parser.add_argument("--query", help="a JMESPath query of the result")
    if command.engine and not any(a.dest == "workspace_name" for a in parser._actions):
        parser.add_argument("-w", "--workspace-name", "--workspace")
    if command.engine:
        parser.add_argument("-g", "--resource-group")
        parser.add_argument("--subscription", help=argparse.SUPPRESS)
    for flag in ("--only-show-errors", "--debug", "--verbose"):
        parser.add_argument(flag, action="store_true", help=argparse.SUPPRESS)
    return parser


class _Parser(argparse.ArgumentParser):
    """Argument errors as az says them: `ERROR: ...` on stderr, exit code 2."""

    def error(self, message: str) -> Any:
        self.print_usage()
        self.exit(2, f"ERROR: {message}\n")
