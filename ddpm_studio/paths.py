"""Where DDPM Studio keeps and finds files: user data (runs, logs) and the shipped resources."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import platformdirs

APP_NAME = "ddpm-studio"
HOME_ENV = "DDPM_STUDIO_HOME"  # overrides the user data folder (runs/, logs/); tests point it at tmp_path


def data_home() -> Path:
    """The user data folder: `$DDPM_STUDIO_HOME` if set, else the platformdirs user data dir."""
    override = os.environ.get(HOME_ENV)
    if override:
        return Path(override).expanduser()
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def log_dir() -> Path:
    """The folder of the rotating log file."""
    if os.environ.get(HOME_ENV):
        return data_home() / "logs"
    return Path(platformdirs.user_log_dir(APP_NAME, appauthor=False))


def resources_dir() -> Path:
    """The shipped `resources/` folder (icons, demo checkpoint), in a checkout, a wheel or a frozen build."""
    candidates = []
    frozen_root = getattr(sys, "_MEIPASS", None)
    if frozen_root:
        candidates.append(Path(frozen_root) / "resources")
    package_dir = Path(__file__).resolve().parent
    candidates += [package_dir / "_resources", package_dir.parent / "resources"]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    return candidates[-1]


def demo_checkpoint_dir() -> Path:
    """The shipped demo run (a tiny model trained on a built-in set)."""
    return resources_dir() / "demo"
