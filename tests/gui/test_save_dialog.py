"""Save dialogs remember the folder and propose a name by run, sampler and steps (issue 22 N18)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QFileDialog

from ddpm_studio.gui.state import AppState


def test_the_sampler_proposes_a_name_and_the_next_dialog_opens_where_the_last_one_saved(qtbot, tmp_path,
                                                                                       monkeypatch):
    from ddpm_studio.gui.sampler.sampler_view import SamplerView

    state = AppState(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    view = SamplerView(state)
    qtbot.addWidget(view)
    asked: list[str] = []
    folder = tmp_path / "exports"
    folder.mkdir()

    def fake_dialog(parent, title, proposal, filter_text):
        asked.append(proposal)
        return str(folder / "mine"), filter_text

    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(fake_dialog))
    saved: list[Path] = []
    view._ask_export("PNG image (*.png)", ".png", saved.append, "grid")
    view._ask_export("GIF animation (*.gif)", ".gif", saved.append, "animation")
    method, steps = view.sampling_config().method, view.sampling_config().steps
    assert Path(asked[0]).name == f"demo-{method}-{steps}steps-grid.png"  # not "samples.png"
    assert Path(asked[0]).parent == Path.home()  # the first time
    assert Path(asked[1]).parent == folder and Path(asked[1]).name.endswith("-animation.gif")  # remembered
    assert saved == [folder / "mine.png", folder / "mine.gif"]
