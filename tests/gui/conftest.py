"""Fixtures shared by the GUI tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def panel(qtbot, tmp_path):
    """A Training panel with its own settings file on the CPU, shut down after the test."""
    from PySide6.QtCore import QSettings

    from ddpm_studio.gui.state import AppState
    from ddpm_studio.gui.training.panel import TrainingPanel

    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    widget = TrainingPanel(AppState(settings=settings, device="cpu"))
    qtbot.addWidget(widget)
    yield widget
    widget.shutdown(5.0)
