"""`workbench collected ENDPOINT DEPLOYMENT [COLLECTION]`: what a deployment's data collector
collected, one JSON line per payload as Azure stores them, oldest first. It reads the files under
`.workbench/collected/`, so it works whether or not an engine runs."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from workbench.errors import WorkbenchError
from workbench.layout import FOLDER, ProjectFiles


def add_parser(commands: Any) -> None:
    collected = commands.add_parser(
        "collected",
        help="show what a deployment's data collector collected (JSON lines, as Azure stores them)",
    )
    collected.add_argument("endpoint")
    collected.add_argument("deployment")
    collected.add_argument("collection", nargs="?", help="model_inputs, model_outputs, ... (default: all)")
    collected.add_argument("-l", "--lines", type=int, default=100, help="the last N payloads (default 100)")
    collected.add_argument("--project", type=Path, default=Path("."))
    collected.set_defaults(run=run_collected)


def run_collected(args: argparse.Namespace) -> int:
    root = ProjectFiles(_project_root(args.project)).collected / args.endpoint / args.deployment
    if not root.is_dir():
        raise WorkbenchError(
            f"nothing collected for {args.endpoint}/{args.deployment}: its data_collector enables no "
            "collection, or its scoring script has not collected anything yet"
        )
    folders = [root / args.collection] if args.collection else sorted(p for p in root.iterdir() if p.is_dir())
    lines = [
        line
        for folder in folders
        for file in sorted(folder.rglob("*.jsonl"))
        for line in file.read_text().splitlines()
    ]
    lines.sort(key=lambda line: json.loads(line).get("time", ""))  # collections interleaved by time
    for line in lines[-args.lines :]:
        sys.stdout.write(line + "\n")
    return 0


def _project_root(folder: Path) -> Path:
    start = folder.resolve()
    for candidate in (start, *start.parents):
        if (candidate / FOLDER).is_dir():
            return candidate
    return start
