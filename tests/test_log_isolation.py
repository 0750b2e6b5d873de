"""The test suite never writes into the user's log file or data folder (issue 22 N20)."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs
import pytest

from ddpm_studio import paths
from tests.conftest import SESSION_DIR, USER_ENV


def _users_log_dir() -> Path:
    """The log folder the user's own environment (as the session found it) would use."""
    if USER_ENV["DDPM_STUDIO_HOME"]:
        return Path(USER_ENV["DDPM_STUDIO_HOME"]).expanduser() / "logs"
    state = USER_ENV["XDG_STATE_HOME"] or str(Path.home() / ".local" / "state")
    return Path(state) / paths.APP_NAME / "log" if os.name == "posix" else Path(
        platformdirs.user_log_dir(paths.APP_NAME, appauthor=False))


@pytest.fixture(scope="session")
def session_log_dir() -> Path:
    """What a session-scoped fixture (made before any per-test folder exists) would log into."""
    return paths.log_dir()


def test_session_fixtures_log_into_the_session_folder(session_log_dir: Path) -> None:
    assert session_log_dir != _users_log_dir()
    assert Path(SESSION_DIR) in session_log_dir.parents


def test_a_cli_run_without_ddpm_studio_home_still_logs_into_the_session(monkeypatch, capsys) -> None:
    from ddpm_studio.cli import main

    monkeypatch.delenv("DDPM_STUDIO_HOME")
    assert main(["runs", "--runs-dir", str(Path(SESSION_DIR) / "no-runs")]) in (0, 1)
    log_file = paths.log_dir() / "ddpm-studio.log"
    assert Path(SESSION_DIR) in log_file.parents and log_file.is_file()
    assert paths.log_dir() != _users_log_dir()
