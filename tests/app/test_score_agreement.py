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
