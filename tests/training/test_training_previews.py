"""When previews are sampled: every N steps, every N epochs, or within a share of the training time (issue 13
item 7: on a small dataset, one preview per epoch took ~90 % of the time)."""

from __future__ import annotations

from ddpm_studio.training.config import TrainingConfig
from ddpm_studio.training.events import PreviewEvent
from ddpm_studio.training.previews import PreviewCadence
from ddpm_studio.training.runs import create_run
from ddpm_studio.training.trainer import Trainer
from tests.training.conftest import TickClock


def _previews(config, dataset, root):
    trainer = Trainer(config, dataset, create_run(config, root=root), device="cpu", clock=TickClock())
    events: list = []
    trainer.run(events.append)
    return trainer, [e.step for e in events if isinstance(e, PreviewEvent)]


def test_time_share_keeps_previews_to_their_share_on_a_one_step_epoch_dataset(tiny_config, tiny_dataset, tmp_path):
    # 16 images in batches of 16: every step ends an epoch; per-epoch previews would take 1 s of every 3
    config = tiny_config(max_steps=90, batch_size=16, preview_time_share=0.05)
    trainer, steps = _previews(config, tiny_dataset, tmp_path)
    assert 5 <= len(steps) <= 12 and steps[-1] == 90  # spread over the run, and one of the end
    gaps = [b - a for a, b in zip(steps, steps[1:-1])]
    assert all(g == 10 for g in gaps[1:])  # after the first: 1 s of preview per 19 s of training = 10 steps
    share = trainer.overhead_s["preview"] / trainer.elapsed_s
    assert share <= 0.06


def test_steps_and_epochs_cadences_and_never(tiny_config, tiny_dataset, tmp_path):
    _, every_5 = _previews(tiny_config(max_steps=12, preview_every_steps=5), tiny_dataset, tmp_path / "a")
    assert every_5 == [5, 10, 12]
    _, every_epoch = _previews(tiny_config(max_steps=10, preview_every_epochs=1), tiny_dataset, tmp_path / "b")
    assert every_epoch == [4, 8, 10]  # 16 images / batch 4: epochs end at steps 4 and 8; the last step
    _, never = _previews(tiny_config(max_steps=10, preview_time_share=0.0), tiny_dataset, tmp_path / "c")
    assert never == []


def test_the_first_preview_comes_from_the_estimated_cost():
    cadence = PreviewCadence(TrainingConfig(preview_count=16, preview_sampler_steps=24, preview_time_share=0.05))
    cost = cadence.estimate_cost(step_seconds=0.3, batch_size=16)  # 24 forward passes of 16 images ≈ 24 × 0.1 s
    assert abs(cost - 2.4) < 1e-9
    assert not cadence.due(10, None, elapsed_s=40.0, step_seconds=0.3, batch_size=16)
    assert cadence.due(11, None, elapsed_s=2.4 * 19 + 0.01, step_seconds=0.3, batch_size=16)
    cadence.record(seconds=3.0, elapsed_s=100.0)  # then from the measured cost: 3 s per 57 s of training
    assert not cadence.due(12, None, elapsed_s=156.0, step_seconds=0.3, batch_size=16)
    assert cadence.due(13, None, elapsed_s=157.01, step_seconds=0.3, batch_size=16)


def test_old_runs_keep_previewing_per_epoch():
    old = TrainingConfig.from_dict({"preview_every_epochs": 1, "max_steps": 10})
    assert old.preview_time_share == 0.0 and PreviewCadence(old).every_epochs == 1
    assert old.preview_sampler == "ddim"  # and their previews keep being DDIM's
    assert TrainingConfig().preview_time_share == 0.02 and TrainingConfig().preview_sampler == "euler"


def test_preview_sampler_is_any_sampling_method(tiny_config, tiny_dataset, tmp_path):
    import numpy as np
    import torch

    from ddpm_studio.training.previews import sample_preview

    trainer = Trainer(tiny_config(max_steps=1), tiny_dataset, create_run(tiny_config(), root=tmp_path), device="cpu")
    kwargs = dict(count=2, shape=(3, 8, 8), seed=1, steps=3, device=torch.device("cpu"))
    euler = sample_preview(trainer.ema.module, trainer.diffusion, method="euler", **kwargs)
    assert euler.shape == (2, 8, 8, 3) and np.array_equal(
        euler, sample_preview(trainer.ema.module, trainer.diffusion, method="euler", **kwargs))
    assert not np.array_equal(euler, sample_preview(trainer.ema.module, trainer.diffusion, **kwargs))  # DDIM
    trainer.release_lock()
    import pytest

    with pytest.raises(ValueError, match="preview_sampler"):
        TrainingConfig(preview_sampler="nope").validate()
