"""The Trainer on a tiny CPU run: events, exact resume, pause/stop, NaN / OOM / data failures."""

from __future__ import annotations

import json
import math
import threading

import numpy as np
import pytest
import torch

from ddpm_studio.training.checkpoint import load_checkpoint, load_model
from ddpm_studio.training.events import (
    CheckpointEvent,
    FailedEvent,
    FinishedEvent,
    PreviewEvent,
    StepEvent,
    TimestepLossEvent,
)
from ddpm_studio.training.runs import create_run, open_run
from ddpm_studio.training.trainer import Trainer


def _train(config, dataset, root, name="run", *, on_event=None):
    run = create_run(config, root=root, name=name)
    trainer = Trainer(config, dataset, run, device="cpu")
    events = []

    def collect(event):
        events.append(event)
        if on_event is not None:
            on_event(trainer, event)

    trainer.run(collect)
    return trainer, run, events


def _assert_same_weights(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_events_files_and_preview(tiny_config, tiny_dataset, tmp_path):
    config = tiny_config(max_steps=10, preview_every_epochs=1, checkpoint_every_steps=4)
    trainer, run, events = _train(config, tiny_dataset, tmp_path)
    steps = [e for e in events if isinstance(e, StepEvent)]
    assert [e.step for e in steps] == list(range(1, 11))
    assert all(math.isfinite(e.loss) and e.total_steps == 10 and e.images_per_s > 0 for e in steps)
    assert steps[0].lr == pytest.approx(1e-3 / 2) and steps[1].lr == pytest.approx(1e-3)  # warm-up
    assert steps[-1].lr == pytest.approx(1e-3 * config.training.lr_min_ratio)  # cosine decay (the default)
    assert [e.epoch for e in steps][:5] == [1, 1, 1, 1, 2]  # 16 images / batch 4 = 4 steps per epoch
    previews = [e for e in events if isinstance(e, PreviewEvent)]
    assert [e.epoch for e in previews] == [1, 2, 3]  # epochs 1, 2 ended; final preview of epoch 3
    assert previews[0].preview.shape == (2, 8, 8, 3) and previews[0].preview.dtype == np.uint8
    assert [p.name for p in run.previews()] == ["epoch_0001.png", "epoch_0002.png", "epoch_0003.png"]
    assert [e.step for e in events if isinstance(e, CheckpointEvent)] == [4, 8, 10]
    timestep = [e for e in events if isinstance(e, TimestepLossEvent)]
    assert timestep and timestep[0].bucket_edges[0] == 0 and timestep[0].bucket_edges[-1] == 20
    assert len(timestep[0].bucket_losses) == len(timestep[0].bucket_edges) - 1
    assert events[-1] == FinishedEvent(step=10, reason="completed")
    history = run.history()
    assert [r["step"] for r in history] == list(range(1, 11))
    assert set(history[0]) >= {"step", "epoch", "loss", "lr", "time"}
    assert json.loads((run.path / "config.json").read_text())["training"]["max_steps"] == 10


def test_preview_is_reproducible_from_the_fixed_seed(tiny_config, tiny_dataset, tmp_path):
    config = tiny_config(max_steps=2)
    trainer, _, _ = _train(config, tiny_dataset, tmp_path)
    from ddpm_studio.training.previews import sample_preview

    kwargs = dict(count=3, shape=(3, 8, 8), seed=5, steps=4, device=torch.device("cpu"))
    a = sample_preview(trainer.ema.module, trainer.diffusion, **kwargs)
    b = sample_preview(trainer.ema.module, trainer.diffusion, **kwargs)
    assert np.array_equal(a, b)


def test_resume_reproduces_the_uninterrupted_run_exactly(tiny_config, tiny_dataset, tmp_path):
    n = 8  # 16 images, batch 4: the stop at n/2 falls on an epoch boundary; 3 -> mid-epoch, tested below
    config = tiny_config(max_steps=n, checkpoint_every_steps=3, preview_every_epochs=1)
    straight, _, _ = _train(config, tiny_dataset, tmp_path, "straight")

    for stop_at in (n // 2, 3):
        def stop(trainer, event, stop_at=stop_at):
            if isinstance(event, StepEvent) and event.step == stop_at:
                trainer.request_stop()

        first, run, events = _train(config, tiny_dataset, tmp_path, f"interrupted-{stop_at}", on_event=stop)
        assert events[-1] == FinishedEvent(step=stop_at, reason="stopped")
        assert run.latest_checkpoint().name == f"step_{stop_at:08d}.safetensors"
        resumed = Trainer.resume(open_run(run.path), tiny_dataset, device="cpu")
        assert resumed.step == stop_at
        rest = []
        resumed.run(rest.append)
        assert rest[-1] == FinishedEvent(step=n, reason="completed")
        _assert_same_weights(straight.model.state_dict(), resumed.model.state_dict())
        _assert_same_weights(straight.ema.state_dict(), resumed.ema.state_dict())
        assert [r["step"] for r in run.history()] == list(range(1, n + 1))


def test_pause_holds_the_step_count_and_stop_leaves_a_loadable_checkpoint(tiny_config, tiny_dataset, tmp_path):
    config = tiny_config(max_steps=1000)
    run = create_run(config, root=tmp_path, name="paused")
    trainer = Trainer(config, tiny_dataset, run, device="cpu")
    steps: list[int] = []

    def on_event(event):
        if isinstance(event, StepEvent):
            steps.append(event.step)
            if event.step == 3:
                trainer.request_pause()

    worker = threading.Thread(target=trainer.run, args=(on_event,))
    worker.start()
    try:
        for _ in range(200):  # wait (bounded) until the loop blocks in the pause
            if trainer.is_paused:
                break
            threading.Event().wait(0.05)
        assert trainer.is_paused
        held = list(steps)
        threading.Event().wait(0.3)
        assert steps == held == [1, 2, 3] and trainer.step == 3
        trainer.request_resume()
        for _ in range(200):
            if len(steps) >= 5:
                break
            threading.Event().wait(0.05)
        assert len(steps) >= 5  # it moved on after resuming
    finally:
        trainer.request_stop()
        worker.join(timeout=60)
    assert not worker.is_alive()
    latest = run.latest_checkpoint()
    assert latest is not None and load_checkpoint(latest).step == trainer.step
    model, diffusion, loaded = load_model(run.path)
    _assert_same_weights(model.state_dict(), trainer.ema.state_dict())
    assert loaded == trainer.config and diffusion.num_timesteps == 20  # config.json: what the run decided


def _nan_after(trainer: Trainer, calls: int) -> None:
    """A forward hook that makes the network output NaN from its `calls`-th call on."""
    count = {"n": 0}

    def hook(module, inputs, output):
        count["n"] += 1
        return output * float("nan") if count["n"] >= calls else output

    trainer.model.register_forward_hook(hook)


def test_nan_loss_stops_with_a_clear_failure_and_keeps_the_last_good_checkpoint(tiny_config, tiny_dataset, tmp_path):
    config = tiny_config(max_steps=20, checkpoint_every_steps=2)
    run = create_run(config, root=tmp_path, name="nan")
    trainer = Trainer(config, tiny_dataset, run, device="cpu")
    _nan_after(trainer, 6)  # steps 1-5 fine (checkpoints at 2 and 4), step 6 NaN
    events = []
    trainer.run(events.append)
    failed = events[-1]
    assert isinstance(failed, FailedEvent) and failed.kind == "nan" and failed.step == 5
    assert "nan" in failed.message.lower() and "step 4" in failed.message and "\n" not in failed.message
    assert [s for s, _ in run.checkpoints()] == [2, 4]
    checkpoint = load_checkpoint(run.latest_checkpoint())
    assert all(torch.isfinite(v).all() for v in checkpoint.model_state.values())
    assert not any(isinstance(e, FinishedEvent) for e in events)


def test_out_of_memory_becomes_a_failure_suggesting_a_smaller_batch(tiny_config, tiny_dataset, tmp_path):
    config = tiny_config()
    trainer = Trainer(config, tiny_dataset, create_run(config, root=tmp_path), device="cpu")

    def hook(module, inputs):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    trainer.model.register_forward_pre_hook(hook)
    events = []
    trainer.run(events.append)
    assert isinstance(events[-1], FailedEvent) and events[-1].kind == "oom"
    assert "smaller batch" in events[-1].message


def test_data_errors_are_reported_as_data_failures(tiny_config, tmp_path):
    class Broken(torch.utils.data.Dataset):
        def __len__(self):
            return 8

        def __getitem__(self, index):
            raise OSError(f"image {index} vanished from disk")

    config = tiny_config()
    trainer = Trainer(config, Broken(), create_run(config, root=tmp_path), device="cpu")
    events = []
    trainer.run(events.append)
    assert isinstance(events[-1], FailedEvent) and events[-1].kind == "data"
    assert "vanished" in events[-1].message


def test_training_leaves_the_global_rng_alone(tiny_config, tiny_dataset, tmp_path):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    _train(tiny_config(max_steps=2), tiny_dataset, tmp_path)
    assert torch.equal(torch.rand(3), expected)


def test_time_budget_ends_training_as_completed(tiny_config, tiny_dataset, tmp_path):
    config = tiny_config(max_steps=1000, max_minutes=1e-6)  # any real step takes longer than 60 µs
    trainer, run, events = _train(config, tiny_dataset, tmp_path)
    assert events[-1] == FinishedEvent(step=1, reason="completed")
    assert [s for s, _ in run.checkpoints()] == [1]


def test_stop_during_a_preview_lands_within_one_sampler_step_and_still_checkpoints(
        tiny_config, tiny_dataset, tmp_path):
    config = tiny_config(max_steps=10, preview_every_epochs=1, preview_sampler_steps=20)
    calls_after_stop = []

    def stop_at_end_of_epoch(trainer, event):
        if isinstance(event, StepEvent) and event.step == 4:  # the last step of epoch 1: its preview comes next
            trainer.request_stop()
            trainer.ema.module.register_forward_hook(lambda *_: calls_after_stop.append(1))

    trainer, run, events = _train(config, tiny_dataset, tmp_path, on_event=stop_at_end_of_epoch)
    assert len(calls_after_stop) == 1  # one DDIM step of 20, then the stop was seen
    assert not [e for e in events if isinstance(e, PreviewEvent)] and run.previews() == []
    assert [e.step for e in events if isinstance(e, CheckpointEvent)] == [4]
    assert events[-1] == FinishedEvent(step=4, reason="stopped")
    assert load_checkpoint(run.latest_checkpoint()).step == 4
