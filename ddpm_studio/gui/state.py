"""The shared application state the views subscribe to (napari style: views take the model, listen).

`AppState` holds the current data source (its spec string and the opened `ImageSource`), the indices
of the images selected in the dataset browser, what the dataset's background check found (`report_scan`):
the first valid images become the selection and a `DataProfile` is published so that defaults (image size,
channels) follow the data, the current training run folder and the compute device. Views never reach into
each other; they change the state and react to its signals.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QSettings, Signal

from ddpm_studio.app.data_proposal import DataProfile
from ddpm_studio.data.config import DataConfig
from ddpm_studio.data.sources import ImageSource, open_source
from ddpm_studio.training.devices import resolve_device

if TYPE_CHECKING:
    from ddpm_studio.gui.dataset.thumbnail_model import ScanSummary

log = logging.getLogger(__name__)

ORGANIZATION = "ddpm-studio"
APPLICATION = "DDPM Studio"
DEFAULT_SOURCE = DataConfig().source
MAX_RECENT = 8
DEFAULT_SELECTION = 4  # valid images selected when a source opens (the forward view shows them)
PROFILE_SAMPLE = 256  # valid images checked before the data profile is published (or all, if fewer)


class AppState(QObject):
    """Current data source, selection, run and device, with change signals.

    Signals: `source_changed(ImageSource)`, `selection_changed(list[int])`, `run_changed(Path | None)`,
    `data_profile_changed(DataProfile)`: once per source, when enough of it is checked; followers turn it into
    their defaults with `app.data_proposal.propose_data_shape` (the training form for its preset).
    """

    source_changed = Signal(object)
    selection_changed = Signal(list)
    run_changed = Signal(object)
    data_profile_changed = Signal(object)
    models_changed = Signal()  # a model was opened by hand (File → Open Model…): the model lists refill

    def __init__(self, settings: QSettings | None = None, device: str | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.settings: QSettings = settings if settings is not None else QSettings(ORGANIZATION, APPLICATION)
        self.device: str = device or str(resolve_device("auto"))  # the one device policy: training.devices
        self.source_spec: str = ""
        self.source: ImageSource | None = None
        self.selected_indices: list[int] = []
        self.data_profile: DataProfile | None = None  # of the current source, once known
        self.run_path: Path | None = None
        self._auto_select = False  # the selection waits for the first valid images of a new source

    # -- data source ---------------------------------------------------------------------------
    def set_source(self, spec: str | Path) -> ImageSource:
        """Open `spec` (folder, .zip or 'builtin:<name>') and make it current.

        Raises `DataSourceError` (a one-line message) and leaves the state unchanged on failure.
        """
        return self.use_source(open_source(spec))

    def use_source(self, source: ImageSource) -> ImageSource:
        """Make an already opened `source` current (the window opens folders on a worker thread)."""
        self.source = source
        self.source_spec = str(source.spec)
        self.selected_indices = []  # until the check finds valid images (report_scan): never a broken file
        self.data_profile = None
        self._auto_select = True
        self._remember("recent_sources", self.source_spec)
        self.settings.setValue("last_source", self.source_spec)
        log.info("data source: %s (%d candidates)", self.source_spec, len(source))
        self.source_changed.emit(source)
        self.selection_changed.emit(list(self.selected_indices))
        return source

    def set_selection(self, indices: list[int]) -> None:
        """Make `indices` (into the current source) the selected images; emits on change only."""
        count = len(self.source) if self.source is not None else 0
        clean = sorted({int(i) for i in indices if 0 <= int(i) < count})
        if clean:
            self._auto_select = False  # the person chose: the check no longer picks for them
        if clean == self.selected_indices:
            return
        self.selected_indices = clean
        self.selection_changed.emit(list(clean))

    def report_scan(self, source: ImageSource, summary: ScanSummary) -> None:
        """What the background check of `source` found so far (the dataset view forwards each snapshot).

        Selects the first `DEFAULT_SELECTION` valid images once they are known (broken files sorting first are
        skipped), and publishes the `DataProfile` once `PROFILE_SAMPLE` valid images are checked, or all of them.
        """
        if source is not self.source:
            return  # a snapshot of a source that is no longer current
        if self._auto_select:
            valid = [row for row in range(summary.checked) if row not in summary.bad_rows][:DEFAULT_SELECTION]
            if len(valid) == DEFAULT_SELECTION or summary.done:
                self._auto_select = False
                if valid and valid != self.selected_indices:
                    self.selected_indices = valid
                    self.selection_changed.emit(list(valid))
        if self.data_profile is None and summary.valid and (summary.done or summary.valid >= PROFILE_SAMPLE):
            self.data_profile = DataProfile.from_sizes(summary.sizes, summary.grey, source=self.source_spec)
            log.info("data profile of %s: %s", self.source_spec, self.data_profile)
            self.data_profile_changed.emit(self.data_profile)

    # -- runs -----------------------------------------------------------------------------------
    def set_run(self, path: str | Path | None) -> None:
        """Make `path` (a run folder) the current run, or clear it with None."""
        new = Path(path) if path is not None else None
        if new == self.run_path:
            return
        self.run_path = new
        if new is not None:
            self._remember("recent_runs", str(new))
        log.info("current run: %s", new)
        self.run_changed.emit(new)

    @property
    def opened_models(self) -> list[str]:
        """Models opened by hand (diffusers folders, run folders, checkpoint files), newest first."""
        return self.recent("recent_models")

    def open_model(self, path: str | Path) -> None:
        """Remember a model opened by hand and let every model list offer it."""
        self._remember("recent_models", str(Path(path)))
        log.info("opened model: %s", path)
        self.models_changed.emit()

    # -- recent items ---------------------------------------------------------------------------
    def recent(self, key: str) -> list[str]:
        """The recent items under `key` ('recent_sources' or 'recent_runs'), newest first."""
        value = self.settings.value(key, [])
        if isinstance(value, str):
            value = [value] if value else []
        return [str(v) for v in (value or [])]

    def _remember(self, key: str, item: str) -> None:
        items = [item] + [v for v in self.recent(key) if v != item]
        self.settings.setValue(key, items[:MAX_RECENT])
