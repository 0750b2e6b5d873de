"""What the `ddpm-studio` commands share: the program name, exit statuses, common flags, model lookup."""

from __future__ import annotations

import argparse
from pathlib import Path

from ddpm_studio.training.checkpoint import CheckpointError
from ddpm_studio.training.runs import DEMO_CHECKPOINT, runs_root

PROG = "ddpm-studio"
EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130


def add_common(p: argparse.ArgumentParser) -> None:
    """--runs-dir and --quiet, for the commands that read runs or show progress."""
    p.add_argument("--runs-dir", type=Path, default=None, help="folder of runs (default: the user data folder)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def resolve_model_path(spec: str, runs_dir: Path | None) -> Path:
    """A checkpoint file or run folder path, a run name under the runs folder, or "demo"."""
    if spec == "demo":
        if not DEMO_CHECKPOINT.exists():
            raise CheckpointError(f"the demo model is not installed (expected {DEMO_CHECKPOINT})")
        return DEMO_CHECKPOINT
    path = Path(spec).expanduser()
    if path.exists():
        return path
    candidate = (Path(runs_dir) if runs_dir is not None else runs_root()) / spec
    if candidate.exists():
        return candidate
    raise CheckpointError(f"no checkpoint, run folder or run named {spec!r}")
