"""Shared test set-up: headless Qt, and user folders redirected to a temporary place."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    """Never touch the real user data dir: runs and logs go to a temporary folder."""
    home = tmp_path_factory.mktemp("ddpm_home")
    monkeypatch.setenv("DDPM_STUDIO_HOME", str(home))
    yield home
