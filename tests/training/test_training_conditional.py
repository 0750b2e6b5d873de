"""Conditional training: exact resume, every objective and learned variance, and unconditional runs unchanged."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from ddpm_studio.data.dataset import load_dataset
from ddpm_studio.engine import SamplingConfig, sample
from ddpm_studio.training.events import FinishedEvent, StepEvent
from ddpm_studio.training.runs import create_run, open_run
from ddpm_studio.training.trainer import Trainer

CLASSES = ("circle", "square", "triangle")


def _conditional(config, **model):
    return replace(config, model=replace(config.model, num_classes=3, **model),
                   data=replace(config.data, labels="auto", classes=CLASSES))


def _train(config, dataset, root, name, on_event=None):
    run = create_run(config, root=root, name=name)
    trainer = Trainer(config, dataset, run, device="cpu")
    events = []
    trainer.run(lambda e: (events.append(e), on_event(trainer, e) if on_event else None))
    return trainer, run, events


@pytest.fixture
def labelled(tiny_config):
    return load_dataset(_conditional(tiny_config()).data)


def test_conditional_resume_reproduces_the_uninterrupted_run(tiny_config, labelled, tmp_path):
    config = _conditional(tiny_config(max_steps=6, checkpoint_every_steps=3))
    straight, _, _ = _train(config, labelled, tmp_path, "straight")

    def stop(trainer, event):
        if isinstance(event, StepEvent) and event.step == 3:
            trainer.request_stop()

    _, run, _ = _train(config, labelled, tmp_path, "stopped", stop)
    resumed = Trainer.resume(open_run(run.path), labelled, device="cpu")
    rest = []
    resumed.run(rest.append)
    assert rest[-1] == FinishedEvent(step=6, reason="completed")
    for key, value in straight.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key


@pytest.mark.parametrize("objective, learned", [("eps", False), ("x0", False), ("v", True)])
def test_every_objective_and_learned_variance_train_and_guide(tiny_config, labelled, tmp_path, objective,
                                                              learned):
    config = _conditional(tiny_config(max_steps=2), learned_variance=learned)
    config = replace(config, diffusion=replace(config.diffusion, objective=objective, learned_variance=learned))
    trainer, _, events = _train(config, labelled, tmp_path, f"{objective}-{learned}")
    assert events[-1] == FinishedEvent(step=2, reason="completed")
    sampling = SamplingConfig(method="ddpm", count=3, labels=(0, 1, 2), guidance=2.5)
    x = list(sample(trainer.ema.module, trainer.diffusion, (3, 3, 8, 8), sampling))[-1].xt
    assert torch.isfinite(x).all()


def test_an_unconditional_run_draws_no_label_dropout(tiny_config, tiny_dataset, tmp_path):
    config = tiny_config(max_steps=2)
    assert config.model.num_classes == 0 and tiny_dataset.labels is not None  # labels there, unused
    trainer, _, _ = _train(config, tiny_dataset, tmp_path, "plain")
    assert trainer.model.class_embed is None
    streams = type(trainer.rng)(config.training.seed)
    for _ in range(2):  # the sampler stream advanced by t and ε only
        streams.draw_t_and_noise((4, 3, 8, 8), 20)
    assert torch.equal(streams.sampler.get_state(), trainer.rng.sampler.get_state())


def test_the_previews_of_a_conditional_run_cycle_through_its_classes(tiny_config, labelled, tmp_path):
    import numpy as np

    from ddpm_studio.training.events import PreviewEvent
    from ddpm_studio.training.previews import preview_labels, sample_preview

    assert preview_labels(5, 3) == (0, 1, 2, 0, 1) and preview_labels(4, 0) == ()
    config = _conditional(tiny_config(max_steps=2, preview_every_steps=2, preview_count=3))
    trainer = Trainer(config, labelled, create_run(config, root=tmp_path, name="previews"), device="cpu")
    for net in (trainer.model, trainer.ema.module):  # distinct classes from the start, as training makes them
        torch.nn.init.normal_(net.class_embed.weight, generator=torch.Generator().manual_seed(0))
    events = []
    trainer.run(events.append)
    shown = [e.preview for e in events if isinstance(e, PreviewEvent)][-1]  # step 2: the final EMA weights
    tc = config.training
    kwargs = dict(count=3, shape=(3, 8, 8), seed=tc.preview_seed, steps=tc.preview_sampler_steps,
                  device=torch.device("cpu"), method=tc.preview_sampler)
    assert np.array_equal(shown, sample_preview(trainer.ema.module, trainer.diffusion, labels=(0, 1, 2), **kwargs))
    assert not np.array_equal(shown, sample_preview(trainer.ema.module, trainer.diffusion, **kwargs))


def test_the_live_monitor_scores_classes_as_in_the_data(tiny_config, labelled, tmp_path, monkeypatch):
    """A conditional run's quality curve samples the classes its data has (not the null class) and says so."""
    from ddpm_studio.training import quality_monitor
    from ddpm_studio.training.events import MetricsEvent
    from ddpm_studio.training.quality_monitor import read_metrics

    asked = []
    real = quality_monitor.sample_preview
    monkeypatch.setattr(quality_monitor, "sample_preview",
                        lambda *a, **k: (asked.append(k["labels"]), real(*a, **k))[1])
    config = _conditional(tiny_config(max_steps=2, metrics_every_steps=2, metrics_count=9, metrics_sampler_steps=2,
                                      metrics_reference_count=8))
    _, run, events = _train(config, labelled, tmp_path, "scored")
    counts = torch.bincount(labelled.labels, minlength=3).tolist()
    assert asked and len(asked[0]) == 9 and sorted(set(asked[0])) == [c for c in range(3) if counts[c]]
    point = next(e for e in events if isinstance(e, MetricsEvent))
    assert point.protocol.classes == "classes as in the data" and "classes as in the data" in point.protocol.caption()
    assert read_metrics(run.path).protocol.classes == "classes as in the data"
