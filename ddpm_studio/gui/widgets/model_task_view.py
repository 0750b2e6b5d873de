"""A view that runs one app-layer task on a chosen model: the shared half of Compare samplers and Probe.

It owns the model chooser (the catalogue's choices, best first), the Run / Cancel buttons, a progress bar and
a status line, and one `TaskRunner`: `_begin(task, message)` starts the task with the controls set to
running; the subclass turns the runner's snapshots and result into its display (`_on_progress`,
`_on_result`) and says what its progress bar shows at the end (`_end_progress`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QComboBox, QLabel, QProgressBar, QPushButton, QWidget

from ddpm_studio.app.catalogue import model_choices
from ddpm_studio.gui.jobs.task_worker import Task, TaskRunner
from ddpm_studio.gui.state import AppState


class ModelTaskView(QWidget):
    """Model chooser, Run / Cancel, progress and status around one TaskRunner (see the module docstring)."""

    CANCELLING = "Cancelling…"

    def __init__(self, state: AppState, name: str, run_text: str, idle_text: str,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._state = state
        self._runner = TaskRunner(name, self)
        self.error: str | None = None
        self.running = False
        self.model_combo = QComboBox()
        self.model_combo.setAccessibleName("Model")
        self.run_button, self.cancel_button = QPushButton(run_text), QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.run_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        self.progress = QProgressBar()
        self.status = QLabel(idle_text)
        self.status.setWordWrap(True)
        self._runner.progress.connect(self._on_progress)
        self._runner.result.connect(self._on_result)
        self._runner.failed.connect(self._on_failed)
        self._runner.finished.connect(self._on_finished)
        state.run_changed.connect(lambda _p: self.refresh_models())
        state.models_changed.connect(self.refresh_models)

    # -- the model chooser -------------------------------------------------------------------------
    def refresh_models(self) -> None:
        current = self.model_combo.currentData()
        self.model_combo.clear()
        for choice in model_choices(self._state.run_path, opened=self._state.opened_models):
            self.model_combo.addItem(choice.label, str(choice.path))
        index = self.model_combo.findData(current)
        if index >= 0:
            self.model_combo.setCurrentIndex(index)

    def add_model(self, path: Path, label: str) -> None:
        """Offer `path` (a checkpoint or run folder) and select it."""
        self.model_combo.addItem(label, str(path))
        self.model_combo.setCurrentIndex(self.model_combo.count() - 1)

    # -- running -----------------------------------------------------------------------------------
    def start(self) -> None:
        raise NotImplementedError

    def _begin(self, task: Task, message: str) -> None:
        """Start `task` on the runner with the controls set to running and `message` in the status line."""
        self.error, self.running = None, True
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.progress.setRange(0, 0)  # busy until the first progress snapshot
        self.status.setText(message)
        self._runner.start(task)

    def cancel(self) -> None:
        self._runner.cancel()
        self.status.setText(self.CANCELLING)

    def shutdown(self, timeout_s: float = 10.0) -> bool:
        return self._runner.shutdown(timeout_s)

    def _on_progress(self, snapshot: Any) -> None:
        raise NotImplementedError

    def _on_result(self, value: Any) -> None:
        raise NotImplementedError

    def _on_failed(self, message: str) -> None:
        self.error = message
        self.status.setText(f"Failed: {message}")

    def _on_finished(self) -> None:
        self.running = False
        self.run_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        self._end_progress()

    def _end_progress(self) -> None:
        """What the progress bar shows once the task is over (after its result or failure)."""
        raise NotImplementedError
