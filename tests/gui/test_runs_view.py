"""The Runs tab driven as a person would: three real runs in the table, select them all (three curves on the same
axes, one colour each, a legend), change x, filter, sort by a number, diff two."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QSettings, Qt

from ddpm_studio.app.run_table import X_AXES
from ddpm_studio.gui.runs import RunsView
from ddpm_studio.gui.runs.config_diff_table import HINT
from ddpm_studio.gui.runs.run_table_model import COLUMN_NAMES
from ddpm_studio.gui.state import AppState
from ddpm_studio.training.run_lock import RunLock

WAIT_MS = 60_000


@pytest.fixture(scope="module")
def runs(tmp_path_factory, train_tiny_run):
    root = tmp_path_factory.mktemp("runs_view")
    train_tiny_run(root, "eps-fast", steps=10, lr=2e-3, metrics_every=5)
    train_tiny_run(root, "v-slow", steps=6, lr=5e-4, objective="v", metrics_every=3)
    train_tiny_run(root, "eps-slow", steps=4, lr=5e-4, metrics_every=2)
    return root


@pytest.fixture
def view(qtbot, tmp_path, runs):
    state = AppState(settings=QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat), device="cpu")
    widget = RunsView(state, runs_dir=runs)
    qtbot.addWidget(widget)
    widget.resize(1280, 820)
    with qtbot.waitSignal(widget.rows_loaded, timeout=WAIT_MS):
        widget.show()
    yield widget
    widget.shutdown()


def _select(qtbot, view, names):
    with qtbot.waitSignal(view.comparison_shown, timeout=WAIT_MS):
        view.select_runs(names)


def _shown_names(view):
    return [view.proxy.index(r, 0).data() for r in range(view.proxy.rowCount())]


def test_three_runs_overlaid_on_the_same_axes(qtbot, view):
    assert sorted(_shown_names(view)) == ["eps-fast", "eps-slow", "v-slow"]
    _select(qtbot, view, ["eps-fast", "v-slow", "eps-slow"])
    curves = view.curves.scalar_curves()
    assert sorted(c.name() for c in curves) == ["eps-fast", "eps-slow", "v-slow"]
    assert len({c.opts["pen"].color().name() for c in curves}) == 3  # one colour per run
    assert len(view.curves.loss_plot.getPlotItem().legend.items) == 3
    quality = view.curves.quality_curves()
    assert len(quality) == 3
    by_name = {c.name(): c for c in quality}
    assert by_name["eps-fast"].getData()[0].tolist() == [5.0, 10.0]  # scored every 5 steps
    assert "quality measured with 8 samples" in view.curves.caption.text()
    # the same run has the same colour in both plots
    assert {c.name(): c.opts["pen"].color().name() for c in curves} == {
        c.name(): c.opts["pen"].color().name() for c in quality}


def test_x_over_images_seen_and_another_scalar(qtbot, view):
    _select(qtbot, view, ["eps-fast", "v-slow", "eps-slow"])
    view.curves.x_axis.setCurrentIndex(X_AXES.index("images"))
    fast = next(c for c in view.curves.scalar_curves() if c.name() == "eps-fast")
    assert fast.getData()[0].tolist() == [4.0 * s for s in range(1, 11)]  # batch size 4
    assert view.curves.loss_plot.getPlotItem().getAxis("bottom").labelText == "images seen"
    view.curves.x_axis.setCurrentIndex(X_AXES.index("time"))
    assert np.all(np.diff(fast.getData()[0]) > 0)
    view.curves.scalar.setCurrentIndex(view.curves.scalar.findData("lr"))
    lr = {c.name(): c.getData()[1] for c in view.curves.scalar_curves()}
    assert len(lr) == 3 and lr["eps-fast"].max() > lr["v-slow"].max()  # 2e-3 against 5e-4 peaks
    assert len(view.curves.loss_plot.listDataItems()) == 3  # the schedule: no faint raw copy under it


def test_the_filter_keeps_matching_rows(qtbot, view):
    qtbot.keyClicks(view.filter, "SLOW")
    assert sorted(_shown_names(view)) == ["eps-slow", "v-slow"]
    view.filter.clear()
    qtbot.keyClicks(view.filter, "done")  # any column: the state
    assert len(_shown_names(view)) == 3
    view.filter.setText("nothing like it")
    assert _shown_names(view) == []


def test_sorting_by_steps_is_by_the_number(qtbot, view):
    view.table.sortByColumn(COLUMN_NAMES.index("steps"), Qt.SortOrder.AscendingOrder)
    assert _shown_names(view) == ["eps-slow", "v-slow", "eps-fast"]  # 4, 6, 10 (not "10" < "4")
    view.table.sortByColumn(COLUMN_NAMES.index("best score"), Qt.SortOrder.AscendingOrder)
    rows = [view.proxy.index(r, COLUMN_NAMES.index("best score")).data() for r in range(3)]
    values = [float(text.split()[1]) for text in rows]
    assert values == sorted(values)


def test_the_config_diff_of_two_runs(qtbot, view):
    _select(qtbot, view, ["eps-fast", "v-slow"])
    rows = {key: (left, right) for key, left, right in view.diff.rows()}
    names = [view.diff.table.horizontalHeaderItem(i).text() for i in (1, 2)]
    left, right = (0, 1) if names == ["eps-fast", "v-slow"] else (1, 0)
    assert set(rows) == {"diffusion.objective", "training.lr", "training.max_steps", "training.metrics_every_steps"}
    assert rows["training.lr"][left] == "0.002" and rows["training.lr"][right] == "0.0005"
    assert "4 setting(s) differ" in view.diff.caption.text()
    _select(qtbot, view, ["eps-fast", "v-slow", "eps-slow"])
    assert view.diff.rows() == [] and view.diff.caption.text() == HINT


def test_a_run_being_trained_shows_running_after_a_refresh(qtbot, view, runs):
    _select(qtbot, view, ["v-slow"])
    with RunLock(runs / "v-slow"):
        with qtbot.waitSignal(view.rows_loaded, timeout=WAIT_MS):
            view.refresh_button.click()
        states = {view.proxy.index(r, 0).data(): view.proxy.index(r, 1).data() for r in range(3)}
        assert states["v-slow"] == "running" and states["eps-fast"] == "done"
        assert "1 training" in view.status.text()
        assert view.selected_names() == ["v-slow"]  # the selection survives the reload
        assert view._timer.isActive()  # and the table keeps itself current while it trains
    with qtbot.waitSignal(view.rows_loaded, timeout=WAIT_MS):
        view.refresh()
    assert not view._timer.isActive()
