"""The live quality monitor: the Trainer scores its EMA model on a held-out set, stores metrics.jsonl and
best.json, keeps the best checkpoint through pruning, and a resume drops the points after its checkpoint."""

from __future__ import annotations

import json

from ddpm_studio.training import Trainer, create_run
from ddpm_studio.training.events import MetricsEvent
from ddpm_studio.training.quality_monitor import BEST_FILE, METRICS_FILE, MetricsCadence, held_out_spec, read_metrics
from ddpm_studio.training.runs import open_run

METRICS = dict(metrics_every_steps=2, metrics_count=8, metrics_sampler_steps=2, metrics_reference_count=8)


def test_held_out_rule():
    assert held_out_spec("builtin:shapes", 40) == "builtin:shapes?n=40&size=64&seed=1000"
    assert held_out_spec("builtin:glyphs?n=100&seed=2", 8) == "builtin:glyphs?n=8&size=64&seed=1002"
    assert held_out_spec("/some/folder", 8) is None


def test_time_share_cadence(tiny_config):
    cadence = MetricsCadence(tiny_config(metrics_time_share=0.05).training)
    assert not cadence.due(1, 1.0, None, 4)  # no step time yet
    first = cadence.estimate_cost(0.1, 4)
    assert not cadence.due(1, 0.9 * first * 19, 0.1, 4) and cadence.due(1, first * 19, 0.1, 4)
    cadence.record(2.0, 100.0)  # a measured cost of 2 s: the next one after 2 * 19 = 38 s more
    assert not cadence.due(5, 137.0, 0.1, 4) and cadence.due(5, 138.0, 0.1, 4)
    assert not MetricsCadence(tiny_config(metrics_time_share=0.0).training).enabled


def test_trainer_scores_stores_and_keeps_the_best(tmp_path, tiny_config, tiny_dataset):
    config = tiny_config(max_steps=8, keep_last=1, checkpoint_every_steps=100, **METRICS)
    run = create_run(config, root=tmp_path)
    events = []
    Trainer(config, tiny_dataset, run, device="cpu").run(events.append)
    points = [e for e in events if isinstance(e, MetricsEvent)]
    assert [p.step for p in points] == [2, 4, 6, 8]
    for p in points:
        assert {"swd", "precision", "recall", "memorised", "nn_distance"} <= set(p.metrics)
        assert p.floor is not None and p.floor["swd"] > 0 and p.seconds > 0
    stored = read_metrics(run.path)
    assert [p.step for p in stored.points] == [2, 4, 6, 8]
    assert stored.points[-1].metrics == points[-1].metrics and stored.floor == points[0].floor
    best = json.loads((run.path / BEST_FILE).read_text())
    swd = {p.step: p.metrics["swd"] for p in points}
    assert best["step"] == min(swd, key=swd.get) == stored.best_step == points[-1].best_step
    kept = {step for step, _ in run.checkpoints()}
    assert kept == {best["step"], 8}  # keep_last=1, and the best checkpoint besides
    assert best["checkpoint"] == f"step_{best['step']:08d}.safetensors"


def test_resume_drops_later_points_and_continues(tmp_path, tiny_config, tiny_dataset):
    config = tiny_config(max_steps=4, checkpoint_every_steps=100, **METRICS)
    run = create_run(config, root=tmp_path)
    Trainer(config, tiny_dataset, run, device="cpu").run(lambda e: None)
    with open(run.path / METRICS_FILE, "a") as f:  # a point past the checkpoint (a crash lost its steps)
        f.write(json.dumps({"kind": "ema", "step": 5, "time": 1.0, "metrics": {"swd": 1.0}}) + "\n")
    run = _extend(run.path, max_steps=6)
    trainer = Trainer.resume(run, tiny_dataset, device="cpu")
    events = []
    trainer.run(events.append)
    assert [e.step for e in events if isinstance(e, MetricsEvent)] == [6]
    assert [p.step for p in read_metrics(run.path).points] == [2, 4, 6]
    lines = (run.path / METRICS_FILE).read_text().splitlines()
    assert sum('"floor"' in line for line in lines) == 1  # the floor is stored once


def test_off_by_config(tmp_path, tiny_config, tiny_dataset):
    config = tiny_config(max_steps=3, metrics_time_share=0.0)
    run = create_run(config, root=tmp_path)
    events = []
    Trainer(config, tiny_dataset, run, device="cpu").run(events.append)
    assert not any(isinstance(e, MetricsEvent) for e in events)
    assert not (run.path / METRICS_FILE).exists() and read_metrics(run.path).points == ()


def test_scores_the_configured_sampler_and_old_runs_keep_ddim(tmp_path, tiny_config, tiny_dataset, monkeypatch):
    """Issue 10: DDIM at 10 steps measured its own error (recall 0.12 vs DPM-Solver++(2M)'s 0.92 on the same
    demo weights) and ranked an early checkpoint best; new runs score DPM-Solver++(2M) samples."""
    from ddpm_studio.training import quality_monitor
    from ddpm_studio.training.config import TrainingConfig

    assert TrainingConfig().metrics_sampler == "dpmpp_2m"
    assert TrainingConfig.from_dict({"max_steps": 10}).metrics_sampler == "ddim"  # what older runs measured
    methods = []
    real = quality_monitor.sample_preview

    def spy(*args, **kwargs):  # the real sampler, noting the method asked for
        methods.append(kwargs.get("method"))
        return real(*args, **kwargs)

    monkeypatch.setattr(quality_monitor, "sample_preview", spy)
    config = tiny_config(max_steps=2, checkpoint_every_steps=100, metrics_sampler="euler", **METRICS)
    Trainer(config, tiny_dataset, create_run(config, root=tmp_path), device="cpu").run(lambda e: None)
    assert methods == ["euler"]


def _extend(run_path, **training):
    """Reopen a finished run with a longer length (the form's "train for" on Resume), from its config.json (what
    the run decided at its start, e.g. the augmentation of "auto")."""
    run = open_run(run_path)
    config = run.config
    run.save_config(config.__class__.from_dict({**config.to_dict(), "training": {**config.training.to_dict(),
                                                                                 **training}}))
    return run


def test_an_extended_finished_run_scores_its_last_checkpoint(tmp_path, tiny_config, tiny_dataset):
    """Issue 21 item 3: a finished run resumed for one more step records the end point of its curve (before,
    only a session that had scored itself scored its end: the extension's checkpoint stayed unscored)."""
    config = tiny_config(max_steps=4, checkpoint_every_steps=100, **METRICS)
    run = create_run(config, root=tmp_path)
    Trainer(config, tiny_dataset, run, device="cpu").run(lambda e: None)
    assert [p.step for p in read_metrics(run.path).points] == [2, 4]
    run = _extend(run.path, max_steps=5)
    events = []
    Trainer.resume(run, tiny_dataset, device="cpu").run(events.append)
    assert [e.step for e in events if isinstance(e, MetricsEvent)] == [5]
    assert [p.step for p in read_metrics(run.path).points] == [2, 4, 5]


def test_a_resume_keeps_the_time_share_cadence_of_the_stored_curve(tmp_path, tiny_config, tiny_dataset):
    """The interval after the last stored point is the one that point's cost sets, not a fresh estimate."""
    config = tiny_config(max_steps=4, checkpoint_every_steps=100, **METRICS)
    run = create_run(config, root=tmp_path)
    Trainer(config, tiny_dataset, run, device="cpu").run(lambda e: None)
    records = [json.loads(line) for line in (run.path / METRICS_FILE).read_text().splitlines()]
    for r in records:  # make the stored curve a time-share one: the last point at 100 s, costing 5 s
        if r.get("step") == 4:
            r["time"], r["seconds"] = 100.0, 5.0
    (run.path / METRICS_FILE).write_text("".join(json.dumps(r) + "\n" for r in records))
    run = _extend(run.path, max_steps=40, metrics_every_steps=0, metrics_time_share=0.5)
    trainer = Trainer.resume(run, tiny_dataset, device="cpu")
    quality, elapsed = trainer.quality, trainer.elapsed_s
    assert elapsed < 105.0  # the checkpoint's training time (the stored 100 s above is a stand-in)
    quality.restart(4, 200.0)  # as if the checkpoint were at 200 s of training time
    # share 0.5: next evaluation 5 s · (1 - 0.5) / 0.5 = 5 s after the last one ended (105 s)
    assert not quality.cadence.due(5, 109.9, 0.01, 4) and quality.cadence.due(5, 110.0, 0.01, 4)
    trainer.release_lock()


def test_points_carry_errors_and_protocol_and_old_lines_still_load(tmp_path, tiny_config, tiny_dataset):
    config = tiny_config(max_steps=2, checkpoint_every_steps=100, **METRICS)
    run = create_run(config, root=tmp_path)
    Trainer(config, tiny_dataset, run, device="cpu").run(lambda e: None)
    stored = read_metrics(run.path)
    point = stored.points[-1]
    assert point.errors is not None and point.errors["swd"] > 0 and stored.floor_errors is not None
    assert point.protocol is not None and point.protocol.sample_count == 8 and point.protocol.reference_count == 8
    assert stored.protocol == point.protocol and "seed=1000" in point.protocol.reference
    old = tmp_path / "old"
    old.mkdir()
    (old / METRICS_FILE).write_text(json.dumps({"kind": "floor", "metrics": {"swd": 40.0}}) + "\n"
                                    + json.dumps({"kind": "ema", "step": 3, "time": 1.0, "metrics": {"swd": 50.0}})
                                    + "\n")
    legacy = read_metrics(old)
    assert legacy.points[0].errors is None and legacy.points[0].protocol is None and legacy.floor == {"swd": 40.0}


def test_a_builtin_floor_takes_its_error_from_disjoint_real_draws(tiny_config, tiny_dataset):
    """The floor is real images at the samples' counts; its error is the spread over FLOOR_DRAWS disjoint held-out
    draws (cheap: no sampling), which the bootstrap overstates for real vs real (docs/decisions.md)."""
    import numpy as np

    from ddpm_studio.evaluation import EvaluationConfig, floor_score
    from ddpm_studio.training.quality_monitor import FLOOR_DRAWS, prepare_quality_data

    config = tiny_config()
    evaluation = EvaluationConfig(sample_count=8, reference_count=16)
    data = prepare_quality_data(config.data, tiny_dataset, evaluation)
    assert data.held_out.startswith(f"builtin:shapes?n={16 + FLOOR_DRAWS * 8}&")
    from dataclasses import replace

    from ddpm_studio.data.dataset import load_dataset
    from ddpm_studio.training.quality_monitor import dataset_images

    pool = dataset_images(load_dataset(replace(config.data, source=data.held_out, hflip=False)))[16:]
    protocol = data.floor.protocol
    draws = [floor_score(pool[8 * i:8 * (i + 1)], data.reference, protocol, evaluation, data.training, bootstraps=0)
             for i in range(FLOOR_DRAWS)]
    assert data.floor.values()["swd"] == draws[0].values()["swd"] and data.floor.protocol.sample_count == 8
    assert data.floor.errors()["swd"] == float(np.std([d.values()["swd"] for d in draws], ddof=1))
