"""What the `ddpm-studio` commands share: the program name, exit statuses, common flags."""

from __future__ import annotations

import argparse
from pathlib import Path

from ddpm_studio.training.checkpoint import WEIGHTS_SUFFIX, CheckpointError, list_checkpoints
from ddpm_studio.training.runs import CHECKPOINTS_DIR

PROG = "ddpm-studio"
EXIT_ERROR, EXIT_USAGE, EXIT_INTERNAL, EXIT_INTERRUPTED = 1, 2, 70, 130  # 70: sysexits EX_SOFTWARE (a bug)


def add_common(p: argparse.ArgumentParser) -> None:
    """--runs-dir and --quiet, for the commands that read runs or show progress."""
    p.add_argument("--runs-dir", type=Path, default=None, help="folder of runs (default: the user data folder)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def choose_checkpoint(model: Path, name: str | None) -> Path:
    """`model` itself, or with --checkpoint (`step_N`, `N` or a file name) that checkpoint of the run folder."""
    if name is None:
        return model
    if not model.is_dir():
        raise ValueError(f"--checkpoint picks a checkpoint of a run folder; {model} is a file")
    found = list_checkpoints(model / CHECKPOINTS_DIR) or list_checkpoints(model)
    text = name.removesuffix(WEIGHTS_SUFFIX).removeprefix("step_")
    if not text.isdigit():
        raise ValueError(f"--checkpoint {name!r}: expected step_N, for instance step_{found[-1][0] if found else 100}")
    for step, path in found:
        if step == int(text):
            return path
    have = ", ".join(f"step_{step}" for step, _ in found) or "none"
    raise CheckpointError(f"{model.name} has no checkpoint at step {int(text)} (it has: {have})")


def check_runs_dir(path: Path | None) -> None:
    """--runs-dir must be a folder, or not exist yet (then `train` makes it)."""
    if path is not None and Path(path).exists() and not Path(path).is_dir():
        raise ValueError(f"--runs-dir {path} is not a folder")
