"""Per-image losses (issue 24 item 3): the engine's own loss at fixed noise and timesteps, bit-for-bit repeatable,
a broken image on top, near-duplicate pairs, conditional labels, cancel, and the bad inputs."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from ddpm_studio.app.near_duplicates import DUPLICATE_FACTOR, near_duplicates
from ddpm_studio.app.per_image_losses import (
    LossProgress,
    LossSettings,
    fixed_timesteps,
    image_losses,
    image_noise,
    per_image_report,
)
from ddpm_studio.data import DataConfig, DataSourceError, load_dataset
from ddpm_studio.training.checkpoint import CheckpointError, load_model
from ddpm_studio.training.quality_monitor import dataset_images


@pytest.fixture(scope="module")
def folder_run(tmp_path_factory):
    """A real short run (150 steps, 8 px) on a folder of 24 shapes, one pure-noise image and a copied shape."""
    from ddpm_studio.app.training import TrainingJob, prepare
    from ddpm_studio.engine import UNET_PRESETS, DiffusionConfig
    from ddpm_studio.training.config import RunConfig, TrainingConfig

    root = tmp_path_factory.mktemp("losses")
    data = root / "data"
    data.mkdir()
    shapes = load_dataset(DataConfig(source="builtin:shapes?n=24", image_size=8, labels="none"))
    for i, image in enumerate(shapes.uint8_images()):
        Image.fromarray(image).save(data / f"img{i:02d}.png")
    shutil.copy(data / "img03.png", data / "img03_copy.png")
    noise = np.random.default_rng(0).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    Image.fromarray(noise).save(data / "noise.png")
    config = RunConfig(model=UNET_PRESETS["tiny"].replace(base_channels=8, channel_mults=(1, 2), norm_groups=4),
                       diffusion=DiffusionConfig(timesteps=20),
                       data=DataConfig(source=str(data), image_size=8, labels="none", hflip=False),
                       training=TrainingConfig(batch_size=8, max_steps=150, lr=2e-3, warmup_steps=1,
                                               preview_every_epochs=0, preview_time_share=0.0,
                                               metrics_time_share=0.0, device="cpu", mixed_precision="no",
                                               num_threads=1))
    prepare(TrainingJob(config=config, runs_dir=root, name="run")).run_training(lambda _event: None)
    return root / "run"


def test_a_pure_noise_image_scores_highest_and_a_copied_image_is_a_duplicate_pair(folder_run):
    report = per_image_report(folder_run, duplicates=True)
    ranked = report.losses.ranked()
    assert len(ranked) == 26 and report.losses.complete
    assert ranked[0].key == "noise.png"
    assert ranked[0].mean > 1.2 * report.losses.median()
    pairs = report.duplicates.pairs
    assert [(p.first_key, p.second_key) for p in pairs] == [("img03.png", "img03_copy.png")]
    assert pairs[0].distance == 0.0
    assert report.images.shape == (26, 8, 8, 3) and report.images.dtype == np.uint8


def test_two_calls_agree_bit_for_bit_and_each_value_is_the_engines_loss(folder_run):
    first = per_image_report(folder_run).losses
    second = per_image_report(folder_run, settings=LossSettings(batch_size=64)).losses
    assert first.rows == second.rows  # exact float equality, every image and timestep
    assert first.timesteps == fixed_timesteps(20, 8) == (1, 3, 6, 8, 11, 13, 16, 18)
    # one image, one timestep, straight through GaussianDiffusion.training_losses: the same number
    model, diffusion, config = load_model(folder_run, ema=True)
    dataset = load_dataset(config.data)
    row = first.rows[5]
    x0 = dataset_images(dataset)[row.index:row.index + 1]
    eps = image_noise(LossSettings().seed, row.key, len(first.timesteps), tuple(x0.shape[1:]))
    k = 2
    with torch.no_grad():
        direct = diffusion.training_losses(model, x0, torch.tensor([first.timesteps[k]]), noise=eps[k:k + 1]).loss
    assert float(direct) == pytest.approx(row.per_timestep[k], rel=1e-5)
    assert row.mean == pytest.approx(sum(row.per_timestep) / len(row.per_timestep), rel=1e-6)


def test_the_noise_is_keyed_by_the_image_and_another_seed_changes_it():
    a = image_noise(0, "a.png", 3, (1, 4, 4))
    assert torch.equal(a, image_noise(0, "a.png", 3, (1, 4, 4)))
    assert not torch.equal(a, image_noise(0, "b.png", 3, (1, 4, 4)))
    assert not torch.equal(a, image_noise(1, "a.png", 3, (1, 4, 4)))


def test_fixed_timesteps_spread_over_the_schedule_and_stay_distinct():
    assert fixed_timesteps(1000, 8) == (62, 187, 312, 437, 562, 687, 812, 937)
    assert fixed_timesteps(4, 8) == (0, 1, 2, 3)
    assert fixed_timesteps(10, 10) == tuple(range(10))
    with pytest.raises(ValueError, match="1..1000"):
        LossSettings(timesteps=10**9).validate()


def test_cancel_keeps_the_rows_scored_so_far_and_progress_is_reported(folder_run):
    seen: list[LossProgress] = []

    def stop() -> bool:
        return any(p.stage == "scoring" for p in seen)

    report = per_image_report(folder_run, settings=LossSettings(batch_size=32), duplicates=True,
                              should_stop=stop, on_progress=seen.append)
    assert 0 < len(report.losses.rows) < report.losses.total == 26
    assert not report.losses.complete and report.duplicates is None
    assert seen[0].stage == "loading data"


def test_a_conditional_model_scores_each_image_with_its_own_label(tmp_path, save_random_checkpoint):
    classes = ("circle", "square", "triangle")
    path = save_random_checkpoint(tmp_path / "step_00000001.safetensors", classes=classes)
    report = per_image_report(path, settings=LossSettings(timesteps=2))
    model, diffusion, config = load_model(path)
    dataset = load_dataset(config.data)
    x0 = dataset_images(dataset)[:4]
    noise = torch.stack([image_noise(LossSettings().seed, k, 2, tuple(x0.shape[1:])) for k in dataset.keys[:4]])
    own = image_losses(model, diffusion, x0, noise, report.losses.timesteps, dataset.labels[:4])
    other = image_losses(model, diffusion, x0, noise, report.losses.timesteps, (dataset.labels[:4] + 1) % 3)
    got = torch.tensor([r.per_timestep for r in report.losses.rows[:4]])
    assert torch.allclose(got, own, rtol=1e-5) and not torch.allclose(got, other, rtol=1e-3)
    assert report.losses.rows[0].label == classes[int(dataset.labels[0])]


def test_a_run_whose_data_folder_is_gone_says_so_in_one_line(tmp_path, save_random_checkpoint):
    gone = tmp_path / "my photos"
    run = tmp_path / "myrun"
    save_random_checkpoint(run / "checkpoints" / "step_00000001.safetensors", data=str(gone))
    with pytest.raises(DataSourceError) as caught:
        per_image_report(run)
    message = str(caught.value)
    assert "\n" not in message and "myrun" in message and "my photos" in message


def test_an_unreadable_checkpoint_is_a_checkpoint_error(tmp_path):
    bad = tmp_path / "step_00000001.safetensors"
    bad.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError):
        per_image_report(bad)


def test_near_duplicates_threshold_is_relative_to_the_median_neighbour_distance():
    generator = torch.Generator().manual_seed(0)
    images = torch.rand((10, 1, 4, 4), generator=generator) * 2 - 1
    images[7] = images[2] + 0.001  # far under 0.1 × the median spacing
    images[9] = images[4].flip(-1)  # a mirror: a duplicate only when flips count
    keys = tuple(f"{i}.png" for i in range(10))
    found = near_duplicates(images, keys, include_flips=True)
    assert found.threshold == pytest.approx(DUPLICATE_FACTOR * found.median_nn)
    assert {(p.first, p.second) for p in found.pairs} == {(2, 7), (4, 9)}
    assert next(p for p in found.pairs if p.first == 4).mirrored
    plain = near_duplicates(images, keys, include_flips=False)
    assert {(p.first, p.second) for p in plain.pairs} == {(2, 7)}
    assert "1 near-duplicate pair(s)" in plain.describe()
