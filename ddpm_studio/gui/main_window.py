"""The main window: Dataset, Forward process, Training and Sampler tabs, menus, status bar, settings.

Data sources are opened on a worker thread (a folder of 10,000 files is listed off the GUI thread)
and handed to `AppState`; every view follows the state's signals.
"""

from __future__ import annotations

import logging
import platform
from collections.abc import Callable
from functools import partial
from pathlib import Path

import torch
from PySide6 import __version__ as pyside_version
from PySide6.QtCore import Qt, Signal, Slot, qVersion
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QGuiApplication, QKeySequence, QShowEvent
from PySide6.QtWidgets import QFileDialog, QMainWindow, QMenu, QMessageBox, QScrollArea, QTabWidget, QWidget

import ddpm_studio
from ddpm_studio.data.problems import DataSourceError
from ddpm_studio.data.sources import open_source
from ddpm_studio.gui.compare.compare_samplers_view import CompareSamplersView
from ddpm_studio.gui.dataset.dataset_view import DatasetView
from ddpm_studio.gui.dataset.thumbnail_model import ScanSummary
from ddpm_studio.gui.forward.forward_view import ForwardView
from ddpm_studio.gui.inpaint.inpaint_view import InpaintView
from ddpm_studio.gui.jobs.pool_jobs import PoolJobs
from ddpm_studio.gui.lab import LabView
from ddpm_studio.gui.probe.probe_view import ProbeView
from ddpm_studio.gui.runs import RunsView
from ddpm_studio.gui.sampler.sampler_view import SamplerView
from ddpm_studio.gui.start_hint import StartHint, hint_wanted, remember_hint_seen
from ddpm_studio.gui.state import DEFAULT_SOURCE, AppState
from ddpm_studio.gui.training.panel import TrainingPanel
from ddpm_studio.gui.widgets.elided_label import ElidedLabel
from ddpm_studio.gui.widgets.fitting_scroll_area import FittingScrollArea
from ddpm_studio.gui.widgets.wheel_guard import install_wheel_guard
from ddpm_studio.training.devices import cuda_available

log = logging.getLogger(__name__)

DEFAULT_WINDOW_SIZE = (1280, 820)  # clamped to the screen
TAB_NAMES = ("Dataset", "Forward process", "Training", "Sampler", "Compare samplers", "Probe", "Inpaint",
             "2-D lab", "Runs")


def _open(spec: str, _should_stop: Callable[[], bool], report: Callable[[tuple], None]) -> None:
    """A pool job (a large folder is listed recursively): answers (spec, ImageSource | None, error)."""
    source, error = None, ""
    try:
        source = open_source(spec)
    except DataSourceError as exc:
        error = str(exc)
    except Exception as exc:
        log.exception("opening %s failed", spec)
        error = f"{type(exc).__name__}: {exc}"
    report((spec, source, error))


class MainWindow(QMainWindow):
    """The application window; owns the views, takes the shared `AppState`."""

    source_failed = Signal(str)  # the one-line error of a source that could not be opened

    def __init__(self, state: AppState, *, log_path: Path | None = None, initial_source: str | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        install_wheel_guard()  # once per application (also when the window is built without create_application)
        self.state = state
        self.log_path = log_path
        self._shown_once = False
        self._opener = PoolJobs(self)  # the newest request wins: an older one's answer is dropped
        self.fallback_notice: str | None = None  # why the last data source was not reopened at start
        self._opener.answered.connect(self._on_opened)
        self.setWindowTitle("DDPM Studio")
        self.setAcceptDrops(True)

        self.dataset_view = DatasetView(state)
        self.forward_view = ForwardView(state)
        self.training_panel = TrainingPanel(state)
        self.sampler_view = SamplerView(state)
        self.compare_view, self.probe_view = CompareSamplersView(state), ProbeView(state)  # issue 12
        self.inpaint_view = InpaintView(state)
        self.lab_view = LabView(state)  # issue 26
        self.runs_view = RunsView(state)  # issue 21
        self.tabs = QTabWidget()
        self.tabs.setAccessibleName("Main areas")
        self.tabs.setDocumentMode(True)
        for widget, name in zip((self.dataset_view, self.forward_view, self.training_panel, self.sampler_view,
                                 self.compare_view, self.probe_view, self.inpaint_view, self.lab_view, self.runs_view),
                                TAB_NAMES):
            widget.setAccessibleName(name)
            self.tabs.addTab(widget, name)
        self.start_hint = StartHint(TAB_NAMES[:4])
        self.start_hint.tab_requested.connect(self.tabs.setCurrentIndex)
        self.start_hint.dismissed.connect(lambda: remember_hint_seen(self.state.settings))
        self.start_hint.setVisible(hint_wanted(state.settings))
        self.dataset_view.set_banner(self.start_hint)  # the first tab a newcomer sees; no height taken elsewhere
        self.setCentralWidget(self._scrolling(self.tabs))
        self._build_status_bar()
        self._build_menus()

        self.dataset_view.open_folder_requested.connect(self.choose_folder)
        self.dataset_view.open_archive_requested.connect(self.choose_archive)
        self.dataset_view.source_requested.connect(self.open_source)
        self.dataset_view.model.summary_changed.connect(self._on_summary)
        state.source_changed.connect(self._on_source_changed)
        state.run_changed.connect(self._on_run_changed)
        self._restore_settings()
        self.open_source(initial_source or str(state.settings.value("last_source", DEFAULT_SOURCE)),
                         fallback=DEFAULT_SOURCE)

    # -- construction --------------------------------------------------------------------------
    def _action(self, menu: QMenu, text: str, slot, shortcut=None, tip: str = "") -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.setStatusTip(tip or text.replace("&", "").rstrip("…"))
        action.triggered.connect(slot)
        menu.addAction(action)
        return action

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        self.open_folder_action = self._action(file_menu, "Open &Folder…", self.choose_folder,
                                               QKeySequence.StandardKey.Open, "Open a folder of images")
        self._action(file_menu, "Open &Archive…", self.choose_archive, "Ctrl+Shift+O", "Open a .zip of images")
        self._action(file_menu, "Open &Run…", self.choose_run, "Ctrl+R", "Open a training run folder")
        self._action(file_menu, "Open &Model…", self.choose_model, "Ctrl+M",
                     "Open a model to sample from: a diffusers pipeline folder, a run folder or a checkpoint")
        file_menu.addSeparator()
        self.recent_sources_menu = file_menu.addMenu("Recent &Data Sources")
        self.recent_runs_menu = file_menu.addMenu("Recent R&uns")
        self.recent_sources_menu.aboutToShow.connect(
            lambda: self._fill_recent(self.recent_sources_menu, "recent_sources"))
        self.recent_runs_menu.aboutToShow.connect(lambda: self._fill_recent(self.recent_runs_menu, "recent_runs"))
        file_menu.addSeparator()
        quit_action = self._action(file_menu, "&Quit", self.close, QKeySequence.StandardKey.Quit, "Quit DDPM Studio")
        quit_action.setMenuRole(QAction.MenuRole.QuitRole)
        view_menu = bar.addMenu("&View")
        for i, name in enumerate(TAB_NAMES):
            self._action(view_menu, name, lambda _=False, i=i: self.tabs.setCurrentIndex(i), f"Ctrl+{i + 1}",
                         f"Show the {name} tab")
        view_menu.addSeparator()
        self._action(view_menu, "Play/Pause Noising", self._toggle_play, "Ctrl+Space",
                     "Play or pause the forward-process timeline")
        help_menu = bar.addMenu("&Help")
        about = self._action(help_menu, "&About DDPM Studio", self.show_about, QKeySequence.StandardKey.HelpContents)
        about.setMenuRole(QAction.MenuRole.AboutRole)
        self._action(help_menu, "Show the &Start-Here Path", self.show_start_hint,
                     tip="Show the one-line path through the app: Dataset → Forward process → Training → Sampler")

    def show_start_hint(self) -> None:
        """Help → Show the start-here path: the Dataset tab with the hint line on top."""
        self.tabs.setCurrentWidget(self.dataset_view)
        self.start_hint.show()

    @staticmethod
    def _scrolling(*widgets: QWidget) -> QScrollArea:
        """The window's content in a frameless scroll area: on a screen smaller than the views' minimum sizes
        (QT_SCALE_FACTOR=2 on a laptop) the window still fits and scrolls; nothing is crushed or vanishes."""
        return FittingScrollArea(*widgets)

    def _build_status_bar(self) -> None:
        self.device_label = ElidedLabel(f"Device: {device_description(self.state.device)}")
        self.dataset_label = ElidedLabel("Dataset: –")
        self.run_label = ElidedLabel("Run: none")  # a long run path is elided, never widens the window
        for label, name in ((self.device_label, "Device"), (self.dataset_label, "Dataset size"),
                            (self.run_label, "Current run")):
            label.setAccessibleName(name)
            self.statusBar().addPermanentWidget(label)

    # -- opening things ------------------------------------------------------------------------
    def open_source(self, spec: str, fallback: str | None = None) -> None:
        """Open a folder, .zip or builtin spec in the background; it becomes current when ready."""
        self._opener.renew()
        self._fallback = fallback if fallback != spec else None
        if fallback is not None:
            self.fallback_notice = None
        self.statusBar().showMessage(f"Opening {spec}…")
        self._opener.submit(partial(_open, spec))

    @Slot(object)
    def _on_opened(self, answer: tuple) -> None:
        spec, source, error = answer
        if source is None:
            if self._fallback:
                self.fallback_notice = (f"The last data source, {spec}, could not be reopened ({error}); "
                                        f"showing {self._fallback} instead.")
                log.warning("%s", self.fallback_notice)
                self.open_source(self._fallback)
                return
            self.statusBar().showMessage(f"Could not open {spec}", 5000)
            self.source_failed.emit(error)
            self._message(QMessageBox.Icon.Warning, "Could not open the data source", error)
            return
        self.statusBar().clearMessage()
        if self.fallback_notice is not None and spec == DEFAULT_SOURCE:  # never replaced silently (issue 23 F20)
            self.statusBar().showMessage(self.fallback_notice, 30_000)
        if Path(spec).is_dir():
            self.state.settings.setValue("last_folder", spec)
        elif Path(spec).is_file():
            self.state.settings.setValue("last_folder", str(Path(spec).parent))
        self.state.use_source(source)

    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a folder of images", self._last_folder())
        if folder:
            self.open_source(folder)

    def choose_archive(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a .zip archive of images", self._last_folder(),
                                              "Zip archives (*.zip);;All files (*)")
        if path:
            self.open_source(path)

    def choose_run(self) -> None:
        from ddpm_studio.training.runs import runs_root

        start = runs_root() if runs_root().is_dir() else Path(self._last_folder())
        folder = QFileDialog.getExistingDirectory(self, "Open a training run", str(start))
        if folder:
            self.open_run(folder)

    def choose_model(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a model folder (a diffusers pipeline or a run)",
                                                  self._last_folder())
        if folder:
            self.open_model(folder)

    def open_model(self, path: str | Path) -> bool:
        """Offer a model opened by hand in the Sampler, Compare samplers and Probe tabs, and show the Sampler
        with it selected; a folder that is no model is said in the status bar, and nothing changes."""
        from ddpm_studio.app.catalogue import opened_choice

        try:
            choice = opened_choice(path)
        except ValueError as exc:
            self.statusBar().showMessage(str(exc), 10_000)
            return False
        self.state.open_model(choice.path)
        self.tabs.setCurrentWidget(self.sampler_view)
        self.statusBar().showMessage(f"Opened {choice.label}", 5_000)
        return True

    def open_run(self, folder: str | Path) -> bool:
        """Open a run in the Training tab: its configuration, curve and previews, resumable (one way for
        File → Open Run…, File → Recent Runs and the tab's own Open); a problem shows in the tab's banner."""
        self.tabs.setCurrentWidget(self.training_panel)
        return self.training_panel.open_run(folder)

    def _last_folder(self) -> str:
        return str(self.state.settings.value("last_folder", str(Path.home())))

    def _fill_recent(self, menu: QMenu, key: str) -> None:
        menu.clear()
        items = self.state.recent(key)
        for item in items:
            action = menu.addAction(item)
            opener = self.open_run if key == "recent_runs" else self.open_source
            action.triggered.connect(lambda _=False, item=item, opener=opener: opener(item))
        if not items:
            menu.addAction("(none)").setEnabled(False)

    # -- reactions -----------------------------------------------------------------------------
    @Slot(object)
    def _on_source_changed(self, source) -> None:
        self.setWindowTitle(f"DDPM Studio — {source.name}")
        self.dataset_label.setText(f"Dataset: {_short_name(source)} — {len(source):,} files")

    @Slot(object)
    def _on_summary(self, summary: ScanSummary) -> None:
        if self.state.source is None:
            return
        name = _short_name(self.state.source)
        if summary.done:
            self.dataset_label.setText(f"Dataset: {name} — {summary.valid:,} images"
                                       + (f", {len(summary.problems)} skipped" if summary.problems else ""))
        else:
            self.dataset_label.setText(f"Dataset: {name} — {summary.total:,} files (checking…)")

    @Slot(object)
    def _on_run_changed(self, path) -> None:
        self.run_label.setText(f"Run: {path.name}" if path is not None else "Run: none")
        if path is not None:
            self.run_label.setToolTip(str(path))

    def _toggle_play(self) -> None:
        self.tabs.setCurrentWidget(self.forward_view)
        self.forward_view.set_playing(not self.forward_view.play_button.isChecked())

    def _message(self, icon: QMessageBox.Icon, title: str, text: str) -> None:
        """A non-blocking message box (no nested event loop inside a slot)."""
        box = QMessageBox(icon, title, text, QMessageBox.StandardButton.Ok, self)
        box.setAccessibleName(title)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    def show_about(self) -> None:
        QMessageBox.about(self, "About DDPM Studio", about_text(self.state.device, self.log_path))

    # -- drag and drop -------------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        urls = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if urls:
            self.open_source(urls[0])
            event.acceptProposedAction()

    # -- settings and closing ------------------------------------------------------------------
    def _restore_settings(self) -> None:
        settings = self.state.settings
        geometry = settings.value("window/geometry")
        if geometry is None or not self.restoreGeometry(geometry):
            self.resize(*DEFAULT_WINDOW_SIZE)
        window_state = settings.value("window/state")
        if window_state is not None:
            self.restoreState(window_state)
        self.clamp_to_screen()
        self.tabs.setCurrentIndex(int(settings.value("window/tab", 0)))

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._shown_once:  # the frame's title bar and borders are known only now
            self._shown_once = True
            self.clamp_to_screen()

    def clamp_to_screen(self) -> None:
        """Fit the window inside the available area of its screen (a geometry saved on a larger screen, or at
        another QT_SCALE_FACTOR, would open partly off-screen): shrink it, then move it fully on-screen."""
        screen = QGuiApplication.screenAt(self.geometry().center()) or self.screen() or QGuiApplication.primaryScreen()
        if screen is None:
            return
        area = screen.availableGeometry()
        frame = self.frameGeometry()
        extra_w, extra_h = frame.width() - self.width(), frame.height() - self.height()  # title bar and borders
        width = max(1, min(self.width(), area.width() - extra_w))
        height = max(1, min(self.height(), area.height() - extra_h))
        if (width, height) != (self.width(), self.height()):
            self.resize(width, height)
        x = min(max(frame.x(), area.left()), area.right() + 1 - (width + extra_w))
        y = min(max(frame.y(), area.top()), area.bottom() + 1 - (height + extra_h))
        if (x, y) != (frame.x(), frame.y()):
            self.move(x, y)

    def _save_settings(self) -> None:
        settings = self.state.settings
        remember_hint_seen(settings)  # the start-here line is shown on the first launch only (Help brings it back)
        settings.setValue("window/geometry", self.saveGeometry())
        settings.setValue("window/state", self.saveState())
        settings.setValue("window/tab", self.tabs.currentIndex())
        settings.sync()

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.training_panel.is_busy():
            answer = QMessageBox.question(self, "Training is running",
                                          "A training run is in progress. Stop it (a checkpoint is kept) and quit?",
                                          QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                                          QMessageBox.StandardButton.No)
            if answer != QMessageBox.StandardButton.Yes:
                event.ignore()
                return
        self._save_settings()
        self.training_panel.shutdown(timeout_s=10.0)
        self.sampler_view.shutdown(timeout_s=10.0)
        self.inpaint_view.shutdown(timeout_s=10.0)
        self.lab_view.shutdown(timeout_s=10.0)
        self.runs_view.shutdown()
        self.forward_view.shutdown()
        self.dataset_view.shutdown()
        self._opener.shutdown(5.0)  # a source still opening is not shown any more
        log.info("main window closed")
        event.accept()


def _short_name(source) -> str:
    """'builtin:shapes' for a built-in set (its display name already counts images), else the display name."""
    spec = str(source.spec)
    return spec if spec.startswith("builtin:") else source.name


def device_description(device: str) -> str:
    """'cpu' or 'cuda (NVIDIA H200)'."""
    if device.startswith("cuda") and cuda_available():
        return f"{device} ({torch.cuda.get_device_name(0)})"
    return device


def about_text(device: str, log_path: Path | None) -> str:
    """The Help → About text: versions and the device in use."""
    return (f"<h3>DDPM Studio {ddpm_studio.__version__}</h3>"
            "<p>See diffusion: the forward process, training a UNet noise predictor, the reverse process "
            "(Ho et al. 2020; Nichol &amp; Dhariwal 2021; Song et al. 2021).</p>"
            f"<p>torch {torch.__version__}<br>Qt {qVersion()} (PySide6 {pyside_version})<br>"
            f"Python {platform.python_version()} on {platform.system()} {platform.machine()}<br>"
            f"Device: {device_description(device)}</p>"
            + (f"<p>Log file: {log_path}</p>" if log_path else ""))
