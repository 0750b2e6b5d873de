"""What the `ddpm-studio` commands share: the program name, exit statuses, common flags."""

from __future__ import annotations

import argparse
from pathlib import Path

PROG = "ddpm-studio"
EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130


def add_common(p: argparse.ArgumentParser) -> None:
    """--runs-dir and --quiet, for the commands that read runs or show progress."""
    p.add_argument("--runs-dir", type=Path, default=None, help="folder of runs (default: the user data folder)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
