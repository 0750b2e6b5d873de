"""The dataset browser, driven as a person would: open a folder, read the counts and problems, select."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QSettings, Qt

from ddpm_studio.data.transforms import ImageTransform, to_uint8
from ddpm_studio.gui.dataset.dataset_view import DatasetView
from ddpm_studio.gui.state import AppState
from ddpm_studio.gui.widgets.image_utils import qimage_to_array


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
    wait_scan(qtbot, view)
    assert view.model.key(0) == "corrupt.png"  # the broken file sorts first ...
    assert state.selected_indices == [1, 2, 3, 4]  # ... and a new source starts with its first VALID images
    index = view.model.index(2)
    rect = view.list_view.visualRect(index)
    with qtbot.waitSignal(state.selection_changed, timeout=5000) as blocker:
        qtbot.mouseClick(view.list_view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert blocker.args == [[2]]
    view.augment_box.setChecked(False)  # the images as they are (augmentation: test_augment_controls.py)
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


def test_broken_files_that_sort_first_are_never_auto_selected(qtbot, tmp_path, state, view):
    folder = tmp_path / "digits"
    folder.mkdir()
    for i in range(4):
        (folder / f"0_broken_{i}.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)  # a header, then nothing
    for i in range(6):
        Image.fromarray(np.full((16, 16), 40 * i, dtype=np.uint8), "L").save(folder / f"digit_{i}.png")
    with qtbot.waitSignal(state.selection_changed, timeout=10_000,
                          check_params_cb=lambda rows: bool(rows)) as blocker:
        state.set_source(str(folder))
    assert blocker.args == [[4, 5, 6, 7]]  # the first four valid images, not the four broken ones
    assert all(view.model.key(row).startswith("digit_") for row in state.selected_indices)


def test_small_images_fill_their_cell_with_crisp_pixels_and_the_list_opens_at_the_top(qtbot, tmp_path, state, view):
    folder = tmp_path / "many"
    folder.mkdir()
    checker = (np.indices((16, 16)).sum(axis=0) % 2 * 255).astype(np.uint8)  # 1 px checkerboard
    for i in range(120):
        Image.fromarray(checker, "L").save(folder / f"{i:03d}.png")
    state.set_source(str(folder))
    qtbot.waitUntil(lambda: view.model.is_cached(0) and bool(state.selected_indices), timeout=10_000)
    pixmap = view.model.data(view.model.index(0), Qt.ItemDataRole.DecorationRole)
    assert (pixmap.width(), pixmap.height()) == (96, 96)  # 16 px scaled by 6 to fill the 96 px cell
    shown = qimage_to_array(pixmap.toImage())[..., 0]
    np.testing.assert_array_equal(shown, np.kron(checker, np.ones((6, 6), dtype=np.uint8)))  # nearest, no blur
    wait_scan(qtbot, view)
    assert view.list_view.verticalScrollBar().value() == 0


def test_a_selected_thumbnail_keeps_its_colours_and_gets_a_border(qtbot, tmp_path, state, view):
    folder = tmp_path / "red"
    folder.mkdir()
    for i in range(2):
        Image.new("RGB", (96, 96), (200, 30, 30)).save(folder / f"{i}.png")
    state.set_source(str(folder))
    qtbot.waitUntil(lambda: view.model.is_cached(0) and view.model.is_cached(1) and state.selected_indices == [0, 1],
                    timeout=10_000)
    state.set_selection([0])
    view.list_view.viewport().repaint()
    shot = qimage_to_array(view.list_view.viewport().grab().toImage())
    selected, plain = (view.list_view.visualRect(view.model.index(r)) for r in (0, 1))
    icon_centre = [(rect.center().y() - 10, rect.center().x()) for rect in (selected, plain)]
    np.testing.assert_array_equal(shot[icon_centre[0]], shot[icon_centre[1]])  # no selection tint on the image
    np.testing.assert_array_equal(shot[icon_centre[0]], [200, 30, 30])
    highlight = view.palette().color(view.palette().ColorRole.Highlight)
    edge = shot[selected.center().y(), selected.left() + 1]
    assert tuple(edge) == (highlight.red(), highlight.green(), highlight.blue())  # the frame marks the selection


def test_summary_shows_the_files_own_modes_and_long_reasons_have_tooltips(qtbot, tmp_path, state, view):
    folder = tmp_path / "modes"
    folder.mkdir()
    Image.new("RGBA", (8, 8), (1, 2, 3, 4)).save(folder / "a.png")
    Image.fromarray(np.full((8, 8), 30000, dtype=np.uint16)).save(folder / "b.png")
    Image.new("CMYK", (8, 8)).save(folder / "c.jpg")
    Image.new("RGB", (8, 8)).save(folder / "d.png")
    long_name = "z_" + "very_long_name_" * 8 + ".png"
    (folder / long_name).write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
    state.set_source(str(folder))
    wait_scan(qtbot, view)
    modes = view.modes_label.text()
    for mode in ("RGBA (1)", "I;16 (1)", "CMYK (1)", "RGB (1)"):
        assert mode in modes
    item = view.problems.topLevelItem(0)
    assert item.toolTip(0) == long_name and item.text(1) in item.toolTip(1)


def _cell_layout(view, row: int):
    """(decoration rect, text rect, cell rect) of one thumbnail, as the delegate lays it out."""
    from PySide6.QtWidgets import QStyle, QStyleOptionViewItem

    option = QStyleOptionViewItem()
    view.list_view.initViewItemOption(option)
    index = view.model.index(row)
    option.rect = view.list_view.visualRect(index)
    view.list_view.itemDelegate().initStyleOption(option, index)
    style = view.list_view.style()
    return (style.subElementRect(QStyle.SubElement.SE_ItemViewItemDecoration, option, view.list_view),
            style.subElementRect(QStyle.SubElement.SE_ItemViewItemText, option, view.list_view), option.rect, option)


def test_every_cell_has_the_same_image_box_and_its_name_inside_it(qtbot, tmp_path, state, view):
    """Issue 22 N15: a portrait image pushed its name out of the cell, a broken file lost its name, rows were
    offset by the images' shapes."""
    folder = tmp_path / "shapes"
    folder.mkdir()
    rng = np.random.default_rng(1)
    for name, (w, h) in (("a_portrait.png", (12, 20)), ("b_landscape.png", (20, 12)), ("c_square.png", (16, 16))):
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(folder / name)
    (folder / "d_broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    state.set_source(str(folder))
    qtbot.waitUntil(lambda: all(view.model.is_cached(r) for r in range(4)), timeout=10_000)
    layouts = [_cell_layout(view, row) for row in range(4)]
    assert len({(d.size().width(), d.size().height()) for d, _, _, _ in layouts}) == 1  # one image box
    assert len({d.top() - cell.top() for d, _, cell, _ in layouts}) == 1 and \
        len({t.top() - cell.top() for _, t, cell, _ in layouts}) == 1  # names on one line, no offset
    for _decoration, text, cell, option in layouts:
        assert cell.contains(text) and option.text  # every name inside its cell, the broken file's too
    assert layouts[3][3].text == "d_broken.png"


def test_ctrl_click_far_down_keeps_the_view_where_it_is(qtbot, tmp_path, state, view):
    """Issue 22 N6: Ctrl+click far down the grid scrolled back to the first selected image."""
    folder = tmp_path / "many"
    folder.mkdir()
    pixels = np.zeros((8, 8), np.uint8)
    for i in range(400):
        Image.fromarray(pixels + i % 200, "L").save(folder / f"{i:03d}.png")
    state.set_source(str(folder))
    qtbot.waitUntil(lambda: bool(state.selected_indices), timeout=10_000)
    wait_scan(qtbot, view)
    bar = view.list_view.verticalScrollBar()
    bar.setValue(bar.maximum())
    qtbot.waitUntil(lambda: bar.value() == bar.maximum() > 0)
    first = state.selected_indices[0]
    target = view.model.index(390)
    rect = view.list_view.visualRect(target)
    assert view.list_view.viewport().rect().contains(rect.center())
    qtbot.mouseClick(view.list_view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ControlModifier,
                     rect.center())
    assert 390 in state.selected_indices and first in state.selected_indices
    assert bar.value() == bar.maximum()  # not scrolled back to the first selected image
