"""Server settings: azmlinfsrv's flags and environment variables, plus the workbench's own."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path

SERVER_NAME = "workbench-server"
SERVER_VERSION = "0.1.0"
DEFAULT_SCORING_TIMEOUT_MS = 3_600_000
DEFAULT_WORKER_TIMEOUT_S = 300
"""azmlinfsrv's WORKER_TIMEOUT (gunicorn's --timeout): a worker stuck in run() longer is replaced."""
DEFAULT_MAX_BODY_BYTES = 1024**3


@dataclass(frozen=True)
class Settings:
    entry_script: Path
    app_root: Path
    model_dir: str
    host: str
    port: int
    worker_count: int
    scoring_timeout_ms: int
    worker_timeout_s: float
    """0: no worker timeout (as gunicorn reads 0); also off under a debugger."""
    service_name: str
    service_version: str
    service_path_prefix: str
    server_version: str
    admin_token: str | None
    reuse_init: bool
    reload: bool
    """Watch the app root and reload in place on a change (`--reload`)."""
    """On reload, keep what init() built when neither init() nor the model changed (initstate.py)."""
    debug_port: int | None
    debug_wait: bool
    azureml_debug_port: int | None
    cors_origins: tuple[str, ...]
    max_body_bytes: int


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m workbench.server",
        description="Azure ML inference server, azmlinfsrv-compatible, with in-place reload.",
    )
    parser.add_argument("--entry_script", "--entry-script", dest="entry_script")
    parser.add_argument("--model_dir", "--model-dir", dest="model_dir")
    parser.add_argument("--port", type=_port, default=None, help="default 5001, or $SERVER_PORT")
    parser.add_argument("--host", default=None, help="default 127.0.0.1 (azmlinfsrv: 0.0.0.0)")
    parser.add_argument("--worker_count", "--worker-count", dest="worker_count", type=_positive)
    parser.add_argument("--access_control_allow_origins", dest="cors_origins")
    parser.add_argument(
        "--debug-port",
        dest="debug_port",
        type=_port,
        help="listen for a debugger (debugpy) on 127.0.0.1:PORT",
    )
    parser.add_argument(
        "--debug-wait",
        dest="debug_wait",
        action="store_true",
        help="with --debug-port: hold init() until a debugger attaches",
    )
    parser.add_argument(
        "--reload",
        action="store_true",
        help="reload in place when a file under the app root changes (polls; no extra packages)",
    )
    parser.add_argument("--appinsights_instrumentation_key", help=argparse.SUPPRESS)
    parser.add_argument("--config_file", help=argparse.SUPPRESS)
    parser.add_argument("--health_port", type=_port, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def resolve(args: argparse.Namespace, environ: dict[str, str]) -> Settings:
    """Flags win over environment variables, as in azmlinfsrv's launcher."""
    app_root = Path(environ.get("AML_APP_ROOT") or os.getcwd())
    script = args.entry_script or environ.get("AZUREML_ENTRY_SCRIPT")
    if not script:
        raise SystemExit("Either provide an entry_script using --entry_script or set AZUREML_ENTRY_SCRIPT")
    entry_script = (app_root / script).resolve()
    debug_env = environ.get("AZUREML_DEBUG_PORT")
    origins = args.cors_origins or environ.get("AML_CORS_ORIGINS") or ""
    return Settings(
        entry_script=entry_script,
        app_root=app_root,
        model_dir=args.model_dir if args.model_dir is not None else environ.get("AZUREML_MODEL_DIR", ""),
        host=args.host or environ.get("WORKBENCH_SERVER_HOST", "127.0.0.1"),
        port=args.port or int(environ.get("SERVER_PORT", "5001")),
        worker_count=args.worker_count or int(environ.get("WORKER_COUNT", "1")),
        scoring_timeout_ms=int(environ.get("SCORING_TIMEOUT_MS", DEFAULT_SCORING_TIMEOUT_MS)),
        worker_timeout_s=float(environ.get("WORKER_TIMEOUT", DEFAULT_WORKER_TIMEOUT_S)),
        service_name=environ.get("SERVICE_NAME", "ML service"),
        service_version=environ.get("SERVICE_VERSION", "1.0"),
        service_path_prefix=environ.get("SERVICE_PATH_PREFIX", ""),
        server_version=environ.get("HTTP_X_MS_SERVER_VERSION", f"{SERVER_NAME}/{SERVER_VERSION}"),
        admin_token=environ.get("WORKBENCH_ADMIN_TOKEN") or None,
        reuse_init=environ.get("WORKBENCH_REUSE_INIT", "1") != "0",
        reload=args.reload,
        debug_port=args.debug_port,
        debug_wait=args.debug_wait,
        azureml_debug_port=int(debug_env) if debug_env else None,
        cors_origins=tuple(o.strip() for o in origins.split(",") if o.strip()),
        max_body_bytes=int(environ.get("WORKBENCH_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES)),
    )


def _port(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 1-65535, got {value}")
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be greater than 0, got {value}")
    return value
