"""The dataset browser, driven as a person would: open a folder, read the counts and problems, select."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QSettings, Qt

from ddpm_studio.data.transforms import ImageTransform, to_uint8
from ddpm_studio.gui.dataset_view import DatasetView
from ddpm_studio.gui.image_utils import qimage_to_array
from ddpm_studio.gui.state import AppState


def make_folder(root, good: int = 5):
    """`good` small PNGs (two sizes, one grey) + a truncated PNG + a text file."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(good):
        size = (16, 16) if i % 2 == 0 else (20, 12)
        pixels = rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
        image = Image.fromarray(pixels)
        (image.convert("L") if i == good - 1 else image).save(root / f"img_{i:02d}.png")
    whole = (root / "img_00.png").read_bytes()
    (root / "corrupt.png").write_bytes(whole[: len(whole) // 2])
    (root / "notes.txt").write_text("not an image\n")
    return root


@pytest.fixture
def state(tmp_path):
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    return AppState(settings, device="cpu")


@pytest.fixture
def view(qtbot, state):
    widget = DatasetView(state)
    qtbot.addWidget(widget)
    widget.resize(900, 600)
    widget.show()
    yield widget
    widget.shutdown()


def wait_scan(qtbot, view):
    qtbot.waitUntil(lambda: view.model.summary.done and view.model.summary.total > 0, timeout=10_000)


def test_folder_shows_valid_count_and_both_problems(qtbot, tmp_path, state, view):
    folder = make_folder(tmp_path / "pictures")
    state.set_source(str(folder))
    wait_scan(qtbot, view)
    assert view.count_label.text().startswith("5 valid of 6 candidates")
    problems = dict(view.problem_rows())
    assert set(problems) == {"corrupt.png", "notes.txt"}
    assert "truncated" in problems["corrupt.png"] or "corrupt" in problems["corrupt.png"]
    assert "not an image" in problems["notes.txt"]
    assert view.problems_box.title() == "Problems (2)"
    assert "16×16 (3)" in view.sizes_label.text() and "20×12 (2)" in view.sizes_label.text()
    assert "RGB (4)" in view.modes_label.text() and "L (1)" in view.modes_label.text()


def test_thumbnails_are_decoded_in_the_background(qtbot, tmp_path, state, view):
    folder = make_folder(tmp_path / "pictures")
    state.set_source(str(folder))
    model = view.model
    qtbot.waitUntil(lambda: all(model.is_cached(r) for r in range(model.rowCount())), timeout=10_000)
    corrupt_row = [model.key(r) for r in range(model.rowCount())].index("corrupt.png")
    assert "truncated" in model.data(model.index(corrupt_row), Qt.ItemDataRole.ToolTipRole) \
        or "corrupt" in model.data(model.index(corrupt_row), Qt.ItemDataRole.ToolTipRole)
    good = model.data(model.index(0), Qt.ItemDataRole.DecorationRole)
    assert good.width() == 96 and good.height() == 96  # a 16x16 image fit into the 96 px box


def test_clicking_a_thumbnail_selects_it_and_shows_what_training_sees(qtbot, tmp_path, state, view):
    folder = make_folder(tmp_path / "pictures")
    state.set_source(str(folder))
    assert state.selected_indices == [0, 1, 2, 3]  # a new source starts with its first images selected
    index = view.model.index(2)
    rect = view.list_view.visualRect(index)
    with qtbot.waitSignal(state.selection_changed, timeout=5000) as blocker:
        qtbot.mouseClick(view.list_view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert blocker.args == [[2]]
    view.size_combo.setCurrentText("16×16")
    view.channels_combo.setCurrentIndex(1)  # grey
    qtbot.waitUntil(lambda: view.preview_label.property("preview") is not None
                    and view.preview_label.property("preview").width() == 16 + 2, timeout=5000)
    shown = qimage_to_array(view.preview_label.property("preview"))[1:-1, 1:-1]  # drop the 1 px pad
    expected = to_uint8(ImageTransform(16, 1)(state.source.load(2)))[..., 0]
    np.testing.assert_array_equal(shown[..., 0], expected)
    assert "1×16×16" in view.preview_note.text()


def test_switching_source_drops_stale_work(qtbot, tmp_path, state, view):
    first = make_folder(tmp_path / "first", good=5)
    second = make_folder(tmp_path / "second", good=2)
    state.set_source(str(first))
    state.set_source(str(second))  # at once: the first scan is cancelled
    wait_scan(qtbot, view)
    assert view.model.rowCount() == 3
    assert view.count_label.text().startswith("2 valid of 3 candidates")
    assert len(view.problem_rows()) == 2


def test_builtin_combo_requests_a_builtin_source(qtbot, view):
    with qtbot.waitSignal(view.source_requested) as blocker:
        view.builtin_combo.activated.emit(1)
    assert blocker.args[0].startswith("builtin:")
