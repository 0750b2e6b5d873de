"""The Dataset tab's classes, driven as a person would: the class table and its counts, the class filter on the
thumbnails, the warnings, the unlabelled files under Problems, and no class UI for a flat folder."""

from __future__ import annotations

import pytest
from PIL import Image
from PySide6.QtCore import QSettings

from ddpm_studio.data import open_source
from ddpm_studio.gui.dataset.dataset_view import DatasetView
from ddpm_studio.gui.state import AppState


def _png(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (6, 6), (30, 60, 200)).save(path)


@pytest.fixture
def view(qtbot, tmp_path):
    state = AppState(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat), device="cpu")
    widget = DatasetView(state)
    qtbot.addWidget(widget)
    widget.resize(1000, 700)
    widget.show()
    yield widget
    widget.shutdown()


def _open(qtbot, view, spec):
    view.state.set_source(spec)
    qtbot.waitUntil(lambda: view.model.summary.done and view.classes_label.text() not in ("–", "checking…"),
                    timeout=20_000)


def test_builtin_shapes_show_three_classes_and_filter_the_thumbnails(qtbot, view):
    _open(qtbot, view, "builtin:shapes?n=90")
    source = open_source("builtin:shapes?n=90")
    expected = [sum(source.label(i) == c for i in range(90)) for c in range(3)]
    assert view.class_panel.rows() == list(zip(("circle", "square", "triangle"), expected))
    assert view.class_panel.isVisible() and view.class_panel.filter_combo.isVisible()
    assert view.classes_label.text() == "3 classes from the built-in set"
    assert not view.class_panel.warnings_label.isVisible()
    combo = view.class_panel.filter_combo
    combo.setCurrentIndex(combo.findText(f"triangle ({expected[2]})"))
    assert view.visible_rows() == [i for i in range(90) if source.label(i) == 2]
    # a click on a class row filters too; "All classes" shows everything again
    item = view.class_panel.table.topLevelItem(0)
    view.class_panel.table.itemClicked.emit(item, 0)
    assert combo.currentText() == f"circle ({expected[0]})"
    assert view.visible_rows() == [i for i in range(90) if source.label(i) == 0]
    combo.setCurrentIndex(0)
    assert combo.currentText() == "All classes (90)" and len(view.visible_rows()) == 90


def test_imbalanced_folder_warns_and_lists_loose_files_under_problems(qtbot, view, tmp_path):
    root = tmp_path / "pets"
    for i in range(30):
        _png(root / "cat" / f"{i:02d}.png")
    for i in range(2):
        _png(root / "dog" / f"{i:02d}.png")
    _png(root / "stray.png")
    _open(qtbot, view, str(root))
    qtbot.waitUntil(lambda: view.problems.topLevelItemCount() == 1, timeout=10_000)
    assert view.class_panel.rows() == [("cat", 30), ("dog", 2), ("(unlabelled)", 1)]
    warnings = view.class_panel.warnings_label.text()
    assert "class 'dog' has only 2 images" in warnings and "classes are imbalanced: 30 vs 2 images" in warnings
    assert "labels from folders (sub-folder name = class)" in warnings  # training would refuse the loose file
    (name, reason), = view.problem_rows()
    assert name == "stray.png" and "loose beside the class folders (rule: sub-folder name = class)" in reason
    assert view.problems_box.title() == "Problems (1)"
    view.class_panel.set_filter(-1)  # the unlabelled files
    assert [view.model.key(r) for r in view.visible_rows()] == ["stray.png"]


def test_flat_folder_shows_no_class_ui(qtbot, view, tmp_path):
    for name in ("a.png", "b.png"):
        _png(tmp_path / "flat" / name)
    _open(qtbot, view, str(tmp_path / "flat"))
    assert view.classes_label.text() == "no classes: flat folder (the model trains unconditional)"
    assert not view.class_panel.isVisible() and not view.filter_row.isVisible()
    assert view.problem_rows() == [] and len(view.visible_rows()) == 2


def test_a_new_source_resets_the_filter(qtbot, view, tmp_path):
    _open(qtbot, view, "builtin:shapes?n=30")
    view.class_panel.set_filter(1)
    assert len(view.visible_rows()) < 30
    for name in ("a.png", "b.png", "c.png"):
        _png(tmp_path / "flat" / name)
    _open(qtbot, view, str(tmp_path / "flat"))
    assert len(view.visible_rows()) == 3 and view.class_panel.current_filter() is None
