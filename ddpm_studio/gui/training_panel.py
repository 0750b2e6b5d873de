"""The training panel: a config form, Start/Pause/Resume/Stop, live loss plot and preview filmstrip."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

if TYPE_CHECKING:
    from ddpm_studio.gui.state import AppState


class TrainingPanel(QWidget):
    """Train a model on the chosen data source and watch it learn (being grown)."""

    def __init__(self, state: "AppState", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._state = state
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Training"))

    def is_busy(self) -> bool:
        """True while a training run is in progress (running or paused)."""
        return False

    def shutdown(self, timeout_s: float = 10.0) -> None:
        """Stop any training cleanly (checkpoint written) and join the worker thread."""
