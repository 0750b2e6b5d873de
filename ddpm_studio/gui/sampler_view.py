"""The sampler view: run the reverse process and animate x_t and the predicted x_0 frame by frame."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

if TYPE_CHECKING:
    from ddpm_studio.gui.state import AppState


class SamplerView(QWidget):
    """Pick a model and a sampler, then watch noise become images (being grown)."""

    def __init__(self, state: "AppState", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._state = state
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Sampler"))

    def shutdown(self, timeout_s: float = 10.0) -> None:
        """Cancel any sampling and join the worker thread."""
