"""Issue 21, "done means": for one checkpoint, the training curve's point, the Sampler's Evaluate (its app-level
`evaluate_images`), Compare samplers / sweep and `ddpm-studio eval` give the same score within the shown error
when their protocols are made equal, and every one of them states its protocol."""

from __future__ import annotations

import json

import torch

from ddpm_studio.app.evaluation import EvaluationSettings, evaluate_images, evaluate_model
from ddpm_studio.app.sweep import SweepSettings, run_sweep
from ddpm_studio.cli import main
from ddpm_studio.data.config import DataConfig
from ddpm_studio.data.dataset import load_dataset
from ddpm_studio.engine.config import DiffusionConfig
from ddpm_studio.engine.unet_config import UNetConfig
from ddpm_studio.evaluation.uncertainty import combined_error
from ddpm_studio.training import Trainer, create_run
from ddpm_studio.training.config import RunConfig, TrainingConfig
from ddpm_studio.training.events import MetricsEvent
from ddpm_studio.training.previews import sample_preview
from ddpm_studio.training.quality_monitor import METRICS_NOISE_SEED, held_out_spec

SOURCE = "builtin:shapes?n=48"
COUNT, STEPS, REFERENCE, SAMPLER = 32, 4, 48, "ddim"


def _trained_run(tmp_path):
    model = UNetConfig(base_channels=8, channel_mults=(1, 2), num_res_blocks=1, linear_attention=False,
                       mid_attention=False, attention_heads=1, attention_head_dim=8, norm_groups=4)
    training = TrainingConfig(batch_size=8, lr=2e-3, warmup_steps=2, max_steps=12, checkpoint_every_steps=100,
                              num_threads=1, seed=1, metrics_every_steps=12, metrics_count=COUNT,
                              metrics_sampler=SAMPLER, metrics_sampler_steps=STEPS,
                              metrics_reference_count=REFERENCE)
    config = RunConfig(model=model, diffusion=DiffusionConfig(schedule="linear", timesteps=50),
                       data=DataConfig(source=SOURCE, image_size=8, channels=3, hflip=False), training=training)
    run = create_run(config, root=tmp_path)
    dataset = load_dataset(config.data)
    trainer = Trainer(config, dataset, run, device="cpu")
    events = []
    trainer.run(events.append)
    points = [e for e in events if isinstance(e, MetricsEvent)]
    assert [p.step for p in points] == [12]
    return run, trainer, config, points[-1]


def test_every_face_gives_the_same_score_under_one_protocol(tmp_path, capsys):
    run, trainer, config, monitor = _trained_run(tmp_path / "runs")
    assert monitor.protocol is not None and monitor.protocol.caption("") == (
        f"{COUNT} samples · DDIM {STEPS} · vs {REFERENCE} real")
    settings = EvaluationSettings(count=COUNT, steps=STEPS, method=SAMPLER, reference_count=REFERENCE, seed=0)

    # the Sampler's Evaluate path on the very samples the monitor scored: the same number, exactly
    images = sample_preview(trainer.ema.module, trainer.diffusion, count=COUNT, shape=(3, 8, 8),
                            seed=METRICS_NOISE_SEED, steps=STEPS, device=torch.device("cpu"), method=SAMPLER)
    evaluate = evaluate_images(images, SOURCE, settings, sampler=SAMPLER, steps=STEPS)
    assert evaluate.protocol.comparable(monitor.protocol)
    assert evaluate.report.scalars()["swd"] == monitor.metrics["swd"]
    assert evaluate.report.errors["swd"] == monitor.errors["swd"]
    assert evaluate.floor.scalars()["swd"] == monitor.floor["swd"]  # the floor: the same counts, the same images

    # eval (its own x_T): within the error, and the CLI's JSON is that use case's number
    model_eval = evaluate_model(run.path, settings=settings, device="cpu")
    assert model_eval.protocol.comparable(monitor.protocol)
    out = tmp_path / "eval.json"
    assert main(["eval", str(run.path), "--count", str(COUNT), "--steps", str(STEPS), "--method", SAMPLER,
                 "--reference-count", str(REFERENCE), "--device", "cpu", "--quiet", "--json", str(out)]) == 0
    cli = json.loads(out.read_text())
    assert cli["report"]["metrics"]["swd"] == model_eval.report.scalars()["swd"]
    assert cli["protocol"]["caption"] == monitor.protocol.caption("")
    capsys.readouterr()

    # sweep / Compare samplers against the same held-out reference set
    sweep = run_sweep(run.path, held_out_spec(SOURCE, REFERENCE),
                      SweepSettings(methods=(SAMPLER,), budgets=(STEPS,), count=COUNT, reference_count=REFERENCE,
                                    with_floor=False), cache_dir=tmp_path / "cache")
    sweep_swd = sweep.cells[0].metrics["swd"]

    error = monitor.errors["swd"]
    for name, value, other_error in (("eval", model_eval.report.scalars()["swd"], model_eval.report.errors["swd"]),
                                     ("sweep", sweep_swd, error)):
        assert abs(value - monitor.metrics["swd"]) <= 3 * combined_error(error, other_error), name


def test_a_conditional_model_is_scored_on_classes_as_in_the_data_by_monitor_eval_and_ema_sweep(tmp_path,
                                                                                            monkeypatch):
    """A class-conditional run: the live curve and eval both sample classes in the data's proportions (not the
    null class), say so in their protocol, and agree within the error; the EMA sweep asks the same."""
    from dataclasses import replace

    from ddpm_studio.app.ema_sweep import run_ema_sweep
    from ddpm_studio.app.evaluation import data_class_mix
    from ddpm_studio.evaluation.class_mix import CLASSES_AS_DATA

    model = UNetConfig(base_channels=8, channel_mults=(1, 2), num_res_blocks=1, linear_attention=False,
                       mid_attention=False, attention_heads=1, attention_head_dim=8, norm_groups=4, num_classes=3)
    training = TrainingConfig(batch_size=8, lr=2e-3, warmup_steps=2, max_steps=12, checkpoint_every_steps=100,
                              num_threads=1, seed=1, metrics_every_steps=12, metrics_count=COUNT,
                              metrics_sampler=SAMPLER, metrics_sampler_steps=STEPS,
                              metrics_reference_count=REFERENCE, posthoc_ema=True)
    data = DataConfig(source=SOURCE, image_size=8, channels=3, hflip=False, labels="auto",
                      classes=("circle", "square", "triangle"))
    config = RunConfig(model=model, diffusion=DiffusionConfig(schedule="linear", timesteps=50), data=data,
                       training=training)
    run = create_run(config, root=tmp_path / "runs")
    events = []
    Trainer(config, load_dataset(config.data), run, device="cpu").run(events.append)
    monitor = next(e for e in events if isinstance(e, MetricsEvent))
    assert monitor.protocol.classes == CLASSES_AS_DATA
    assert monitor.protocol.caption("") == (
        f"{COUNT} samples · DDIM {STEPS} · classes as in the data · vs {REFERENCE} real")

    asked = data_class_mix(config, COUNT)
    labels = load_dataset(config.data).labels
    assert len(asked) == COUNT and {c: asked.count(c) for c in range(3)} == {
        c: round(COUNT * int((labels == c).sum()) / labels.numel()) for c in range(3)}
    assert data_class_mix(replace(config, model=replace(model, num_classes=0),
                                  data=replace(data, classes=())), COUNT) == ()  # unconditional: no classes

    settings = EvaluationSettings(count=COUNT, steps=STEPS, method=SAMPLER, reference_count=REFERENCE, seed=0)
    model_eval = evaluate_model(run.path, settings=settings, device="cpu")
    assert model_eval.protocol.comparable(monitor.protocol)
    guided = evaluate_model(run.path, settings=settings, device="cpu", guidance=2.0)
    assert guided.protocol.classes == "classes as in the data, w = 2"  # CFG at w = 2 of the asked classes
    assert not guided.protocol.comparable(monitor.protocol)
    error = combined_error(monitor.errors["swd"], model_eval.report.errors["swd"])
    assert abs(model_eval.report.scalars()["swd"] - monitor.metrics["swd"]) <= 3 * error

    from ddpm_studio.app import ema_sweep

    asked_by_sweep = []
    real = ema_sweep.final_images
    monkeypatch.setattr(ema_sweep, "final_images", lambda model, diffusion, shape, sampling, **k: (
        asked_by_sweep.append(sampling.labels), real(model, diffusion, shape, sampling, **k))[1])
    sweep = run_ema_sweep(run.path, [0.1], settings, device="cpu")
    assert len(sweep.points) == 1 and sweep.points[0].metrics["swd"] > 0
    assert asked_by_sweep == [asked]
