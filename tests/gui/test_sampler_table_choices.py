"""The GUI's sampler choices come from the engine's sampler table: a row registered before a view is built is
offered by the Sampler tab, Compare samplers and the Probe tab, with its label and its NFE cost."""

from __future__ import annotations

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QSettings

from ddpm_studio.engine import SAMPLERS
from ddpm_studio.gui.compare.compare_samplers_view import CompareSamplersView
from ddpm_studio.gui.probe.probe_view import ProbeView
from ddpm_studio.gui.sampler.sampler_controls import SamplerControls
from ddpm_studio.gui.state import AppState


def _state(tmp_path) -> AppState:
    return AppState(settings=QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat), device="cpu")


def _combo_items(combo) -> dict[str, str]:
    return {combo.itemData(i): combo.itemText(i) for i in range(combo.count())}


def test_every_view_offers_every_row_of_the_table_with_its_label(qtbot, tmp_path, toy_row):
    controls = SamplerControls()
    qtbot.addWidget(controls)
    assert _combo_items(controls.method) == {name: row.label for name, row in SAMPLERS.items()}

    compare = CompareSamplersView(_state(tmp_path))
    qtbot.addWidget(compare)
    assert {m: box.text() for m, box in compare.method_boxes.items()} == {n: r.label for n, r in SAMPLERS.items()}

    probe = ProbeView(_state(tmp_path))
    qtbot.addWidget(probe)
    assert _combo_items(probe.method_combo) == {name: row.label for name, row in SAMPLERS.items()}
    compare.shutdown(5.0)
    probe.shutdown(5.0)


def test_the_sampler_tab_shows_a_new_rows_cost_from_the_table(qtbot, toy_row):
    controls = SamplerControls()
    qtbot.addWidget(controls)
    controls.set_timesteps(100)
    controls.method.setCurrentIndex(controls.method.findData("toy"))
    controls.steps.setValue(10)
    assert controls.nfe_label.text().startswith(f"{toy_row.nfe(10, 100)} network evaluations")  # 2·9 + 2 = 20
    assert toy_row.nfe(10, 100) == 20
