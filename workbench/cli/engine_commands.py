"""`workbench up | status | logs | down`: start an engine and talk to it, shaped after `az ml`.

The engine and the client (httpx) are imported only when a command runs, so that `workbench
validate` stays light.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.cli.connect import add_target_arguments, engine_client
from workbench.cli.validate import add_set_argument
from workbench.describe import describe
from workbench.errors import EngineError, StartupError, WorkbenchError
from workbench.spec.overrides import parse_overrides
from workbench.state import Event, ProvisioningState

if TYPE_CHECKING:
    from workbench.cli.background import EngineArguments
    from workbench.client import EngineClient


def add_parser(commands: Any) -> None:
    up = commands.add_parser(
        "up",
        help="run a folder's endpoints locally",
        description="Start the engine for a folder's endpoints, or for the spec files named (an "
        "endpoint, its deployments: only what they name and refer to starts).",
    )
    up.add_argument(
        "paths",
        nargs="*",
        type=Path,
        default=[Path(".")],
        metavar="PATH",
        help="a folder, or spec files of one folder (any extension a script gives them); default .",
    )
    up.add_argument(
        "--runtime",
        choices=["process", "docker"],
        help="run instances as processes or Docker containers (default: workbench.yaml's, else process)",
    )
    add_set_argument(up)
    up.add_argument(
        "--all-traffic",
        metavar="DEPLOYMENT",
        help="give this deployment all of its endpoint's traffic once it runs, as `az ml "
        "online-deployment create --all-traffic` does (saved like `workbench traffic`)",
    )
    mode = up.add_mutually_exclusive_group()
    mode.add_argument("--headless", action="store_true", help="no terminal UI: one line per event")
    mode.add_argument(
        "--detach",
        action="store_true",
        help="start the engine in the background and return once it serves; "
        "`workbench up` attaches the dashboard, `workbench down` stops it",
    )
    up.add_argument(
        "--listen",
        metavar="ADDRESS",
        help="the address scoring URIs listen on (default 127.0.0.1); one outside loopback is served "
        "only over HTTPS",
    )
    up.add_argument("--log-file", type=Path, help=argparse.SUPPRESS)  # where a background engine writes
    up.add_argument("--tls-cert", type=Path, metavar="FILE", help="with --listen: the certificate (PEM)")
    up.add_argument("--tls-key", type=Path, metavar="FILE", help="with --listen: its private key (PEM)")
    up.add_argument(
        "--remote",
        metavar="NAME",
        help="open the dashboard on the engine a promote started on this remote (through SSH); "
        "quitting leaves it running",
    )
    up.add_argument(
        "--workspace",
        metavar="NAME",
        help="a local workspace (what azlocal creates) instead of a folder",
    )
    up.set_defaults(run=run_up)

    status = commands.add_parser("status", help="show endpoints, deployments and instances")
    add_target_arguments(status)
    status.add_argument("--json", action="store_true")
    status.set_defaults(run=run_status)

    logs = commands.add_parser(
        "logs", help="show a deployment's logs (like az ml online-deployment get-logs)"
    )
    logs.add_argument("endpoint")
    logs.add_argument("deployment", nargs="?", default="", help="not needed for --container router")
    logs.add_argument(
        "--container",
        default="inference-server",
        choices=["inference-server", "storage-initializer", "build", "router"],
    )
    logs.add_argument("--instance", default="0", help="instance index or id (default: 0)")
    logs.add_argument("-l", "--lines", type=int, default=5000)
    logs.add_argument("-f", "--follow", action="store_true")
    add_target_arguments(logs)
    logs.set_defaults(run=run_logs)

    restart = commands.add_parser(
        "restart",
        help="restart an instance (or all, one at a time): a fresh process serves before the old one stops",
    )
    restart.add_argument("endpoint")
    restart.add_argument("deployment")
    which = restart.add_mutually_exclusive_group()
    which.add_argument("--instance", default="0", help="instance index or id (default: 0)")
    which.add_argument("--all", action="store_true", help="every instance, one at a time (a rolling restart)")
    add_target_arguments(restart)
    restart.set_defaults(run=run_restart)

    scale = commands.add_parser(
        "scale", help="set a deployment's instance count until its YAML changes (instances drain first)"
    )
    scale.add_argument("endpoint")
    scale.add_argument("deployment")
    scale.add_argument("instance_count", type=int)
    add_target_arguments(scale)
    scale.set_defaults(run=run_scale)

    fault = commands.add_parser(
        "fault",
        help="inject faults: latency, errors, dropped connections, a killed instance, CPU or memory pressure",
        description="Request faults, until the engine restarts (or --clear), in place of workbench.yaml's "
        "`faults:`: each request to the deployment waits --latency-ms more; --error-rate of them are "
        "answered --status; --drop-rate of them get the 502 a dropped connection gives. Instance "
        "faults: --kill SIGKILLs an instance (it restarts as after a crash); --cpu-pressure and "
        "--memory-pressure busy cores and hold memory inside the instances for --seconds.",
    )
    fault.add_argument("endpoint")
    fault.add_argument("deployment")
    fault.add_argument("--latency-ms", type=_latency_ms, default=0.0)
    fault.add_argument("--error-rate", type=float, default=0.0, metavar="0..1")
    fault.add_argument("--status", type=int, default=503, help="the injected errors' status (default 503)")
    fault.add_argument("--drop-rate", type=float, default=0.0, metavar="0..1")
    fault.add_argument("--clear", action="store_true", help="no request faults (workbench.yaml's neither)")
    fault.add_argument("--kill", action="store_true", help="SIGKILL an instance (--instance, default 0)")
    fault.add_argument("--cpu-pressure", type=int, default=0, metavar="CORES", help="cores kept busy")
    fault.add_argument("--memory-pressure", type=int, default=0, metavar="MB", help="memory held")
    fault.add_argument("--seconds", type=float, default=30.0, help="how long pressure lasts (default 30)")
    fault.add_argument("--instance", help="index or id; pressure goes to every instance without it")
    add_target_arguments(fault)
    fault.set_defaults(run=run_fault)

    down = commands.add_parser("down", help="stop the engine and every instance")
    add_target_arguments(down)
    down.add_argument(
        "--purge",
        action="store_true",
        help="with --remote: also remove what promote put there (folder, releases, venv, boot entry)",
    )
    down.set_defaults(run=run_down)


def run_up(args: argparse.Namespace) -> int:
    from workbench.promote.remote import chosen_remote
    from workbench.spec import load_project

    if args.workspace is not None:
        from workbench.cli.connect import workspace_folder

        args.paths = [workspace_folder(args.workspace)]
    args.path = args.paths[0]  # the folder, or the first file named: where messages point
    remote = chosen_remote(args.remote)
    if remote is not None:
        from workbench.cli.connect import remote_of
        from workbench.cli.dashboard import run_remote_dashboard

        folder = args.path if args.path.is_dir() else args.path.parent
        return run_remote_dashboard(remote_of(folder, remote), folder)

    dashboard = not (args.detach or args.headless) and sys.stdin.isatty() and sys.stdout.isatty()
    if dashboard:  # something on screen at once: the dashboard's first frame takes seconds
        print(f"workbench: reading {args.path}", file=sys.stderr, flush=True)
    project = load_project(args.paths, parse_overrides(args.set)).raise_for_errors()
    for problem in project.problems:
        print(problem.format(), file=sys.stderr)
    _refuse_new_values_for_a_running_engine(project.root, args)
    if args.all_traffic and not any(e.deployment(args.all_traffic) for e in project.endpoints):
        raise StartupError(f"--all-traffic {args.all_traffic}: no endpoint has a deployment of that name")
    if args.detach:
        from workbench.cli.background import start_background_engine, wait_until_serving
        from workbench.client import EngineClient

        start_background_engine(project.root, _engine_arguments(args))
        with EngineClient.for_folder(project.root) as client:
            for line in wait_until_serving(client):
                print(line, flush=True)
            failed = [
                (endpoint.name, deployment)
                for endpoint in client.status()
                for deployment in endpoint.deployments
                if deployment.provisioning_state is ProvisioningState.FAILED
            ]
        if failed:
            reasons = "\n".join(
                f"{endpoint}/{deployment.name}: {deployment.reason or 'Failed'}"
                for endpoint, deployment in failed
            )
            raise StartupError(
                f"{len(failed)} deployment(s) failed:\n{reasons}\nthe engine keeps running: fix the files "
                f"and save (it reconciles), or `workbench down --project {args.path}`"
            )
        print(
            f"engine running in the background: `workbench up {args.path}` shows it, "
            f"`workbench down --project {args.path}` stops it",
            file=sys.stderr,
        )
        return 0
    if args.headless or not (sys.stdin.isatty() and sys.stdout.isatty()):
        if not args.headless:
            print("workbench: not a terminal; running headless", file=sys.stderr)
        return _run_headless(project, args)
    from workbench.cli.dashboard import run_dashboard

    return run_dashboard(project.root, _engine_arguments(args))


def _refuse_new_values_for_a_running_engine(root: Path, args: argparse.Namespace) -> None:
    """A second `up` for a folder whose engine runs attaches to it as it is: files named or
    `--set` values given now would be silently ignored, so they are refused, saying why."""
    from workbench.cli.background import running_engine

    named = [p for p in args.paths if p.is_file()]
    if not (args.set or named or args.runtime or args.all_traffic):
        return
    running = running_engine(root)
    if running is None:
        return
    running.close()
    given = " ".join([*(f"--set {s}" for s in args.set), *map(str, named)])
    raise StartupError(
        f"an engine already runs for {root}, with the files and values it started with; {given or 'these'} "
        f"would not be applied: `workbench down --project {root}` first, then `workbench up` with them"
    )


def _engine_arguments(args: argparse.Namespace) -> EngineArguments:
    from workbench.cli.background import EngineArguments

    named = tuple(p.resolve() for p in args.paths if p.is_file())
    return EngineArguments(
        runtime=args.runtime,
        named=named,
        all_traffic=args.all_traffic,
        sets=tuple(args.set),
        listen=args.listen,
        tls=(args.tls_cert.resolve(), args.tls_key.resolve()) if args.tls_cert and args.tls_key else None,
    )


def _run_headless(project: Any, args: argparse.Namespace) -> int:
    from workbench.engine import eventloop
    from workbench.engine.engine import Engine
    from workbench.engine.tls import listen_for
    from workbench.layout import ProjectFiles

    if args.log_file is not None:  # a background engine: its output bounded as it is written
        from workbench.logfile import BoundedLog, capture_output

        capture_output(BoundedLog(args.log_file))

    def show(event: Event) -> None:
        print(event.line(), flush=True)

    listen = listen_for(ProjectFiles(project.root).tls, args.listen, args.tls_cert, args.tls_key)
    engine = Engine(project, runtime=args.runtime, all_traffic=args.all_traffic, listen=listen)
    eventloop.run(engine.run(on_event=show))
    return engine.exit_code


def run_status(args: argparse.Namespace) -> int:
    with engine_client(args) as client:
        if args.json:
            json.dump(client.status_json(), sys.stdout, indent=2)
            sys.stdout.write("\n")
        else:
            for endpoint in client.status():
                print(describe(endpoint))
    return 0


def run_logs(args: argparse.Namespace) -> int:
    if not args.deployment and args.container != "router":
        raise EngineError("DEPLOYMENT is needed unless --container router")
    with engine_client(args) as client:
        for line in client.logs(
            args.endpoint,
            args.deployment,
            container=args.container,
            instance=args.instance,
            lines=args.lines,
            follow=args.follow,
        ):
            print(line, flush=args.follow)
    return 0


def run_restart(args: argparse.Namespace) -> int:
    if args.all:
        with engine_client(args) as client:
            client.restart_all(args.endpoint, args.deployment)
        print(
            f"{args.endpoint}/{args.deployment}: rolling restart started; events say when it is done",
            file=sys.stderr,
        )
        return 0
    with engine_client(args) as client:
        instance = instance_id(client, args.endpoint, args.deployment, args.instance)
        client.restart(args.endpoint, args.deployment, instance)
    print(
        f"{args.endpoint}/{instance}: restarting; `workbench status` shows when it is ready", file=sys.stderr
    )
    return 0


def run_scale(args: argparse.Namespace) -> int:
    with engine_client(args) as client:
        client.scale(args.endpoint, args.deployment, args.instance_count)
    print(
        f"{args.endpoint}/{args.deployment}: scaling to {args.instance_count} instance(s); "
        "`workbench status` shows when it is done",
        file=sys.stderr,
    )
    return 0


def _latency_ms(value: str) -> float:
    """A finite number of milliseconds, at most ten minutes (the engine's bound too)."""
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not 0 <= number <= 600_000:  # a NaN fails this too
        raise argparse.ArgumentTypeError(f"a number of milliseconds from 0 to 600000, not {value!r}")
    return number


def instance_id(client: EngineClient, endpoint: str, deployment: str, instance: str) -> str:
    """An index (0, 1, ...) or an id (blue-0) to the instance's id."""
    if not instance.isdigit():
        return instance
    for state in client.status():
        if state.name == endpoint:
            found = state.deployment(deployment)
            if found is not None and int(instance) < len(found.instances):
                return str(found.instances[int(instance)].id)
    return f"{deployment}-{instance}"


def run_fault(args: argparse.Namespace) -> int:
    subject = f"{args.endpoint}/{args.deployment}"
    with engine_client(args) as client:
        if args.kill:
            victim = instance_id(client, args.endpoint, args.deployment, args.instance or "0")
            client.kill(args.endpoint, args.deployment, victim)
            print(f"{args.endpoint}/{victim}: killed; it restarts as after a crash", file=sys.stderr)
            return 0
        if args.cpu_pressure or args.memory_pressure:
            instance = (
                instance_id(client, args.endpoint, args.deployment, args.instance) if args.instance else None
            )
            said = client.pressure(
                args.endpoint,
                args.deployment,
                cpu_cores=args.cpu_pressure,
                memory_mb=args.memory_pressure,
                seconds=args.seconds,
                instance=instance,
            )
            print(f"{subject}: pressure applied: {said}", file=sys.stderr)
            return 0
        if args.clear:
            said = client.set_faults(args.endpoint, args.deployment)
        else:
            said = client.set_faults(
                args.endpoint,
                args.deployment,
                latency_ms=args.latency_ms,
                error_rate=args.error_rate,
                error_status=args.status,
                drop_rate=args.drop_rate,
            )
    print(f"{args.endpoint}/{args.deployment}: faults {said}", file=sys.stderr)
    return 0


def run_down(args: argparse.Namespace) -> int:
    if args.purge:
        from workbench.cli.connect import project_folder, remote_of
        from workbench.promote.promote import purge
        from workbench.promote.remote import chosen_remote

        name = chosen_remote(args.remote)
        if name is None:
            raise WorkbenchError("--purge removes what promote put on a remote host: give --remote NAME")
        return purge(remote_of(project_folder(args), name), lambda line: print(line, flush=True))
    try:
        with engine_client(args) as client:
            stopped = client.shutdown()
    except EngineError:
        if not _stop_waiting_keeper(args):
            raise
        return 0
    print("engine stopped" if stopped else "engine is still stopping", file=sys.stderr)
    return 0 if stopped else 1


def _stop_waiting_keeper(args: argparse.Namespace) -> bool:
    """Where no engine runs but its keeper does (it waits to start one again, holding the ports),
    the keeper is stopped, and its ports with it. Whether there was one."""
    from workbench.cli.connect import project_folder
    from workbench.engine.keeper import KeeperClient, socket_path
    from workbench.promote.remote import chosen_remote

    if chosen_remote(args.remote) is not None:
        return False
    keeper = KeeperClient(socket_path(project_folder(args)))
    if not keeper.answers():
        return False
    keeper.stop()
    print(
        "the engine's keeper stopped (it waited to start the engine again); its ports are closed",
        file=sys.stderr,
    )
    return True
