"""The Sampler's "EMA length σ_rel" control (post-hoc EMA): enabled over the reconstructable range only for a run
with post-hoc snapshots, and the σ_rel it shows reaches the lane (and its label)."""

from __future__ import annotations

from dataclasses import replace

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QSettings

from ddpm_studio.gui.sampler.sampler_view import SamplerView
from ddpm_studio.gui.state import AppState
from ddpm_studio.training.runs import runs_root


def _run(name: str, posthoc: bool, steps: int):
    from ddpm_studio.app.training import TrainingJob, prepare
    from ddpm_studio.data import DataConfig
    from ddpm_studio.engine import UNET_PRESETS, DiffusionConfig
    from ddpm_studio.training.config import RunConfig, TrainingConfig

    config = RunConfig(model=replace(UNET_PRESETS["tiny"], base_channels=8, channel_mults=(1, 2), norm_groups=4),
                       diffusion=DiffusionConfig(timesteps=10),
                       data=DataConfig(source="builtin:shapes?n=8", image_size=8),
                       training=TrainingConfig(batch_size=4, max_steps=steps, warmup_steps=1, preview_time_share=0.0,
                                               metrics_time_share=0.0, device="cpu", mixed_precision="no",
                                               num_threads=1, posthoc_ema=posthoc))
    session = prepare(TrainingJob(config=config, runs_dir=runs_root(), name=name))
    session.run_training(lambda event: None)
    return session.run.path


def test_the_ema_length_control_follows_the_model_and_reaches_the_lane(qtbot, tmp_path):
    with_snapshots, plain = _run("posthoc", True, 48), _run("plain", False, 2)
    view = SamplerView(AppState(settings=QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat),
                                device="cpu"))
    qtbot.addWidget(view)
    c = view.controls
    control = c.ema_length
    view.controls.add_model(plain)
    assert not control.enabled_box.isEnabled() and control.value() is None
    assert "--posthoc-ema" in control.toolTip()
    assert view.lane_specs()[0].ema_length is None
    view.controls.add_model(with_snapshots)
    qtbot.waitUntil(control.enabled_box.isEnabled, timeout=60_000)  # the range is found on the pool
    assert control.value() is None  # unticked: the checkpoint's own EMA
    control.enabled_box.setChecked(True)
    assert control.value() == pytest.approx(0.10)
    low, high = control.slider.minimum() * 0.005, control.slider.maximum() * 0.005
    assert 0.01 <= low < 0.05 and 0.10 < high <= 0.28
    control.slider.setValue(round(0.07 / 0.005))
    lane = view.lane_specs()[0]
    assert lane.ema_length == pytest.approx(0.07) and "EMA σ_rel 0.07" in lane.label
    view.controls.add_model(plain)  # a model without snapshots: greyed and off again
    assert control.value() is None and view.lane_specs()[0].ema_length is None
    view.shutdown()
