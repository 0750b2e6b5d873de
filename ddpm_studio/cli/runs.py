"""`ddpm-studio runs`: the table of training runs on disk, newest first (the Runs tab's columns), or --json."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from ddpm_studio.app.run_table import RunRow, run_rows
from ddpm_studio.cli.common import add_common
from ddpm_studio.errors_text import shorten
from ddpm_studio.training.runs import runs_root

# (header, width, right-aligned, cell): NAME, STEP and LOSS first, as before the table grew (scripts read them)
COLUMNS: tuple[tuple[str, int, bool, Any], ...] = (
    ("STEP", 7, True, lambda r: str(r.step)),
    ("LOSS", 8, True, lambda r: f"{r.loss:.4f}" if r.loss is not None else "-"),
    ("DATE", 16, False, lambda r: f"{datetime.fromtimestamp(r.modified):%Y-%m-%d %H:%M}"),
    ("STATE", 7, False, lambda r: r.state),
    ("MIN", 6, True, lambda r: f"{r.minutes:.1f}" if r.minutes is not None else "-"),
    ("PRESET", 6, False, lambda r: r.preset),
    ("OBJ", 3, False, lambda r: r.objective),
    ("CLASSES", 7, True, lambda r: str(len(r.classes)) if r.classes else "-"),
    ("BEST", 20, False, lambda r: r.best_text),
)


def _line(row: RunRow, width: int) -> str:
    cells = [f"{cell(row):>{w}}" if right else f"{cell(row):<{w}}" for _, w, right, cell in COLUMNS]
    protocol = f" [{row.protocol}]" if row.protocol else ""
    return f"{row.name:<{width}}  {'  '.join(cells)}  {shorten(row.data)} {row.image_size}px{protocol}"


def cmd_runs(args: argparse.Namespace) -> int:
    root = Path(args.runs_dir) if args.runs_dir is not None else runs_root()
    table = run_rows(root)
    if args.json:
        print(json.dumps({"runs_dir": str(root), "runs": [r.to_json() for r in table.rows],
                          "skipped": list(table.skipped)}, indent=1))
        return 0
    if not table.rows:
        print(f"no runs in {root}", file=sys.stderr)
        return 0
    width = max(4, *(len(r.name) for r in table.rows))
    heads = [f"{h:>{w}}" if right else f"{h:<{w}}" for h, w, right, _ in COLUMNS]
    print(f"{'NAME':<{width}}  {'  '.join(heads)}  DATA [BEST MEASURED WITH]")
    for row in table.rows:
        print(_line(row, width))
    return 0


def add_runs(sub: Any) -> None:
    r = sub.add_parser("runs", help="list training runs (state, length, best score and its protocol)")
    r.add_argument("--json", action="store_true", help="print the table as JSON (one object per run)")
    add_common(r)
    r.set_defaults(func=cmd_runs)
