"""`ddpm-studio runs`: the table of training runs on disk, newest first."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ddpm_studio.cli.common import add_common
from ddpm_studio.errors_text import shorten
from ddpm_studio.training.runs import list_runs, runs_root


def cmd_runs(args: argparse.Namespace) -> int:
    root = Path(args.runs_dir) if args.runs_dir is not None else runs_root()
    infos = list_runs(root)
    if not infos:
        print(f"no runs in {root}", file=sys.stderr)
        return 0
    width = max(4, *(len(i.name) for i in infos))
    print(f"{'NAME':<{width}}  {'STEP':>7}  {'LOSS':>8}  {'DATE':<16}  DATA")
    for info in infos:
        loss = f"{info.last_loss:.4f}" if info.last_loss is not None else "-"
        print(f"{info.name:<{width}}  {info.step:>7}  {loss:>8}  {info.date:%Y-%m-%d %H:%M}  "
              f"{shorten(info.source)} {info.image_size}px")
    return 0


def add_runs(sub: Any) -> None:
    r = sub.add_parser("runs", help="list training runs")
    add_common(r)
    r.set_defaults(func=cmd_runs)
