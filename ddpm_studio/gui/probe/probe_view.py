"""The Probe view: what a trained model keeps of the images selected in the Dataset tab (`app.probe`).

SDEdit over a row of t (grid: rows = images; columns = x_0, then per t noised | reconstructed), the
reconstruction error against t split into layout and detail bands, the DDIM inversion x_0 → x_T → x̂_0 with its
error, and the slerp interpolation between the first two images' inverted noises, scrubbed with a slider or
played, and exported (grid PNG, interpolation GIF or PNG strip). The work runs on a `TaskRunner` thread;
only uint8 arrays and numbers come back.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ddpm_studio.app.export_names import export_name, model_name
from ddpm_studio.app.probe import ProbeOutcome, ProbeSettings, run_probe, sdedit_grid
from ddpm_studio.app.probe_exports import alphas, labelled_inversion, save_interpolation, save_sdedit_grid
from ddpm_studio.app.recording import ExportStyle
from ddpm_studio.engine import SAMPLERS
from ddpm_studio.gui.sampler.sampler_controls import SCALES
from ddpm_studio.gui.state import AppState
from ddpm_studio.gui.widgets.image_utils import to_qpixmap
from ddpm_studio.gui.widgets.model_task_view import ModelTaskView
from ddpm_studio.gui.widgets.play_button import PlayPauseButton
from ddpm_studio.gui.widgets.plot_axes import plain_axes, show_values
from ddpm_studio.gui.widgets.save_dialog import ask_save_path

MAX_IMAGES = 8  # selected images probed at most
SCREEN_SCALE = 3  # nearest upscaling of the small images on screen
PLAY_FPS = 12


def parse_t_list(text: str) -> tuple[int, ...]:
    """'100, 250 500' -> (100, 250, 500); '' -> () (the model's default row)."""
    try:
        return tuple(int(v) for v in text.replace(",", " ").split())
    except ValueError:
        raise ValueError(f"t must be whole numbers separated by commas, got {text!r}") from None


class ProbeView(ModelTaskView):
    """Pick a model; Run probes the images selected in the Dataset tab."""

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(state, "probe", "Run probe", "Select images in the Dataset tab, then Run probe.", parent)
        self.outcome: ProbeOutcome | None = None
        self._build()
        state.selection_changed.connect(lambda _s: self._show_selection())
        self.refresh_models()
        self._show_selection()

    # -- construction ---------------------------------------------------------------------------
    def _build(self) -> None:
        defaults = ProbeSettings()
        self.method_combo = QComboBox()
        for method in SAMPLERS:
            self.method_combo.addItem(SAMPLERS.label(method), method)
        self.steps = QSpinBox()
        self.steps.setRange(1, 1000)
        self.steps.setValue(defaults.steps)
        self.t_edit = QLineEdit()
        self.t_edit.setPlaceholderText("default: 10, 25, 50, 75, 100 % of T")
        self.t_edit.setToolTip("0-based timesteps to noise the images to, e.g. 100, 250, 500, 750, 999")
        self.selection_label = QLabel()
        self.selection_label.setWordWrap(True)
        form = QGridLayout()
        for row, (label, widget) in enumerate((("Model", self.model_combo), ("Reverse sampler", self.method_combo),
                                                ("Steps from t", self.steps), ("t values", self.t_edit))):
            form.addWidget(QLabel(label), row, 0)
            form.addWidget(widget, row, 1)
        left = QVBoxLayout()
        left.addLayout(form)
        left.addWidget(self.selection_label)
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.cancel_button)
        left.addLayout(buttons)
        left.addWidget(self.progress)
        left.addWidget(self._export_box())
        # the texts that change go below every button, so no button moves as they do (issue 13 item 29); the
        # result summary and the last save each keep their own line (issue 22 N14: "Saved …" replaced the result)
        self.status.setWordWrap(True)
        self.export_status = QLabel()
        self.export_status.setWordWrap(True)
        self.export_status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        left.addWidget(self.status)
        left.addWidget(self.export_status)
        left.addStretch(1)
        left_widget = QWidget()
        left_widget.setLayout(left)
        left_widget.setMaximumWidth(380)

        self.grid_label = QLabel("The SDEdit grid appears here.")
        self.grid_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        grid_scroll = QScrollArea()
        grid_scroll.setWidget(self.grid_label)
        grid_scroll.setWidgetResizable(True)
        self.error_plot = pg.PlotWidget(background="w", axisItems=plain_axes())  # 0.001 … 1, no "(x" unit
        self.error_plot.setLabel("bottom", "t (noised to, then reversed)")
        self.error_plot.setLabel("left", "MSE (log)")  # short: the long label was cut ("(x"), N14
        self.error_plot.setLogMode(x=False, y=True)  # 1e-3 at small t to ~1 at t = T-1
        self.error_plot.addLegend(offset=(10, 10))
        self.error_plot.showGrid(x=True, y=True, alpha=0.2)
        self.error_plot.setMinimumHeight(200)
        show_values(self.error_plot, False)  # empty: no stacked "9 8 7 6 5" (issue 13 item 13)
        self.inversion_label = QLabel()
        self.inversion_text = QLabel()
        self.inversion_text.setWordWrap(True)
        inversion = QGroupBox("DDIM inversion")  # short titles: a group box never shrinks below its title
        inversion.setToolTip("Each image x₀, its inverted noise x_T, and the reconstruction from x_T")
        inv_layout = QVBoxLayout(inversion)
        inv_layout.addWidget(self.inversion_label)
        inv_layout.addWidget(self.inversion_text)
        self.interp_label = QLabel()
        self.interp_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.interp_slider = QSlider(Qt.Orientation.Horizontal)
        self.interp_slider.setAccessibleName("Interpolation position")
        self.interp_slider.setEnabled(False)
        self.interp_slider.valueChanged.connect(self._show_frame)
        self.alpha_label = QLabel("α = –")  # where the slider is between the two images (issue 22 N14)
        self.alpha_label.setAccessibleName("Interpolation position alpha")
        self.alpha_label.setFixedWidth(self.alpha_label.fontMetrics().horizontalAdvance("α = 0.00") + 8)
        self.play_button = PlayPauseButton()
        self.play_button.setEnabled(False)
        self.play_button.toggled.connect(self.set_playing)
        self._timer = QTimer(self)
        self._timer.setInterval(int(1000 / PLAY_FPS))
        self._timer.timeout.connect(self._advance)
        interp = QGroupBox("Interpolation")
        interp.setToolTip("Slerp between the first two images' inverted noises, each frame sampled back with DDIM")
        interp_layout = QVBoxLayout(interp)
        interp_layout.addWidget(self.interp_label)
        slider_row = QHBoxLayout()
        slider_row.addWidget(self.play_button)
        slider_row.addWidget(self.interp_slider, 1)
        slider_row.addWidget(self.alpha_label)
        interp_layout.addLayout(slider_row)
        bottom = QHBoxLayout()
        bottom.addWidget(inversion, 1)
        bottom.addWidget(interp, 1)
        right = QVBoxLayout()
        right.addWidget(grid_scroll, 3)
        right.addWidget(self.error_plot, 2)
        right.addLayout(bottom, 2)
        layout = QHBoxLayout(self)
        layout.addWidget(left_widget)
        layout.addLayout(right, 1)

    def _export_box(self) -> QGroupBox:
        """The Sampler's export options (scale, captions) and the three save buttons."""
        box = QGroupBox("Export")
        layout = QVBoxLayout(box)
        self.scale_combo = QComboBox()
        for factor in SCALES:
            self.scale_combo.addItem("auto (~512 px)" if factor == 0 else f"{factor}×", factor)
        self.scale_combo.setToolTip("Enlarge exported pictures with nearest-neighbour (crisp pixels, no blur).")
        self.captions_check = QCheckBox("captions (what, sampler, model, α)")
        self.captions_check.setChecked(True)
        row = QHBoxLayout()
        row.addWidget(QLabel("scale"))
        row.addWidget(self.scale_combo, 1)
        layout.addLayout(row)
        layout.addWidget(self.captions_check)
        self.save_grid_button = QPushButton("Save grid…")
        self.save_gif_button = QPushButton("Save interpolation GIF…")
        self.save_strip_button = QPushButton("Save interpolation strip…")
        for button, (kind, suffix) in ((self.save_grid_button, ("PNG image (*.png)", ".png")),
                                       (self.save_gif_button, ("GIF animation (*.gif)", ".gif")),
                                       (self.save_strip_button, ("PNG image (*.png)", ".png"))):
            button.setEnabled(False)
            button.clicked.connect(lambda _c=False, b=button, k=kind, s=suffix: self._ask_export(b, k, s))
            layout.addWidget(button)
        return box

    def export_style(self) -> ExportStyle:
        return ExportStyle(scale=int(self.scale_combo.currentData()), captions=self.captions_check.isChecked())

    # -- inputs ---------------------------------------------------------------------------------
    def indices(self) -> list[int]:
        return list(self._state.selected_indices[:MAX_IMAGES])

    def _show_selection(self) -> None:
        n = len(self._state.selected_indices)
        more = f" (the first {MAX_IMAGES} are probed)" if n > MAX_IMAGES else ""
        self.selection_label.setText(f"{n} image(s) selected in the Dataset tab{more}." if n else
                                     "No images selected: select some in the Dataset tab.")

    # -- running --------------------------------------------------------------------------------
    def start(self) -> None:
        checkpoint, source, indices = self.model_combo.currentData(), self._state.source, self.indices()
        if not checkpoint or source is None or not indices:
            self.status.setText("Choose a model and select images in the Dataset tab first.")
            return
        try:
            t_values = parse_t_list(self.t_edit.text())
        except ValueError as exc:
            self.status.setText(str(exc))
            return
        method, steps, device = str(self.method_combo.currentData()), self.steps.value(), self._state.device
        self.set_playing(False)
        self.outcome = None

        settings = ProbeSettings(t_values=t_values, method=method, steps=steps)  # () -> the model's default row

        def task(should_stop, report):
            return run_probe(checkpoint, source, indices, settings, device=device, should_stop=should_stop,
                             on_progress=lambda stage, done, total: report((stage, done, total), True))

        self._begin(task, "Loading the model and the images…")

    def shutdown(self, timeout_s: float = 10.0) -> bool:
        self.set_playing(False)
        return super().shutdown(timeout_s)

    def _on_progress(self, snapshot) -> None:
        stage, done, total = snapshot
        self.progress.setRange(0, total)
        self.progress.setValue(done)
        self.status.setText(f"{stage}: {done} of {total}…")

    def _on_result(self, outcome: ProbeOutcome | None) -> None:
        if outcome is None:
            self.status.setText("Cancelled.")
            return
        self.outcome = outcome
        self._show(outcome)
        errors = ", ".join(f"t={t}: {mse:.3f}" for t, mse, _, _ in outcome.sdedit.mean_errors())
        self.status.setText(f"Done. Mean SDEdit MSE {errors}.")

    def _end_progress(self) -> None:
        self.progress.setRange(0, 1)
        self.progress.setValue(1 if self.outcome is not None else 0)

    # -- display --------------------------------------------------------------------------------
    def _show(self, outcome: ProbeOutcome) -> None:
        self.grid_label.setPixmap(to_qpixmap(sdedit_grid(outcome.sdedit, scale=SCREEN_SCALE)))
        self.error_plot.clear()
        rows = outcome.sdedit.mean_errors()
        ts = np.array([r[0] for r in rows], float)
        for column, name, colour in ((1, "all", (20, 20, 20)), (2, "layout (4× pooled)", (0, 114, 178)),
                                     (3, "detail (the rest)", (213, 94, 0))):
            self.error_plot.plot(ts, np.array([r[column] for r in rows]), pen=pg.mkPen(colour, width=2),
                                 symbol="o", symbolBrush=colour, symbolPen=None, symbolSize=6, name=name)
        show_values(self.error_plot, len(ts) > 0)
        inv = outcome.inversion
        self.inversion_label.setPixmap(to_qpixmap(labelled_inversion(outcome, SCREEN_SCALE)))  # rows named (N14)
        self.inversion_text.setText(f"{inv.steps} DDIM steps each way; reconstruction MSE "
                                    + ", ".join(f"#{i}: {v:.4f}" for i, v in zip(outcome.indices, inv.mse.tolist())))
        has_frames = outcome.frames is not None
        self.interp_slider.setEnabled(has_frames)
        self.play_button.setEnabled(has_frames)
        self.save_gif_button.setEnabled(has_frames)
        self.save_strip_button.setEnabled(has_frames)
        self.save_grid_button.setEnabled(True)
        if has_frames:
            self.interp_slider.setRange(0, len(outcome.frames) - 1)
            self.interp_slider.setValue(0)
            self._show_frame(0)
        else:
            self.interp_label.setText("Select two images to interpolate.")

    def _show_frame(self, index: int) -> None:
        if self.outcome is not None and self.outcome.frames is not None:
            frame = self.outcome.frames[index]
            self.alpha_label.setText(f"α = {alphas(len(self.outcome.frames))[index]:.2f}")
            self.interp_label.setPixmap(to_qpixmap(frame.repeat(SCREEN_SCALE * 2, 0).repeat(SCREEN_SCALE * 2, 1)))

    def set_playing(self, playing: bool) -> None:
        playing = playing and self.interp_slider.isEnabled()
        if playing:
            self._timer.start()
        else:
            self._timer.stop()
        self.play_button.blockSignals(True)
        self.play_button.setChecked(playing)
        self.play_button.blockSignals(False)

    def _advance(self) -> None:
        slider = self.interp_slider
        slider.setValue((slider.value() + 1) % (slider.maximum() + 1))

    # -- export ---------------------------------------------------------------------------------
    def export_grid(self, path: str | Path) -> Path:
        """The SDEdit grid at the chosen scale, captioned if asked."""
        if self.outcome is None:
            raise ValueError("Run the probe first.")
        return save_sdedit_grid(path, self.outcome, self.export_style(), self._model_label())

    def export_interpolation(self, path: str | Path) -> Path:
        """A .gif animates forth and back, held at each image; any other suffix writes a PNG strip."""
        if self.outcome is None or self.outcome.frames is None:
            raise ValueError("Run the probe on two or more images first.")
        return save_interpolation(path, self.outcome, self.export_style(), self._model_label())

    def _model_label(self) -> str:
        return model_name(self.model_combo.currentData())

    def _ask_export(self, button: QPushButton, kind: str, suffix: str) -> None:
        what = "sdedit" if button is self.save_grid_button else "interpolation"
        name = export_name(what, suffix, checkpoint=self.model_combo.currentData(), method="probe")
        path = ask_save_path(self, self._state.settings, button.text().rstrip("…"), name, kind, suffix)
        if path is None:
            return
        try:
            written = self.export_grid(path) if button is self.save_grid_button else self.export_interpolation(path)
        except (OSError, ValueError) as exc:
            self.export_status.setText(f"Export failed: {exc}")
            return
        self.export_status.setText(f"Saved {written}")
