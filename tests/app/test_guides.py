"""The guide models on offer for autoguidance, and the one-line reason a guide does not fit (configs alone)."""

from __future__ import annotations

from pathlib import Path

import torch

from ddpm_studio.app.guides import guide_choices, guide_problem, model_classes, read_config
from ddpm_studio.data.config import DataConfig
from ddpm_studio.engine import DiffusionConfig, UNet, UNetConfig
from ddpm_studio.training.checkpoint import checkpoint_name, save_checkpoint
from ddpm_studio.training.config import RunConfig, TrainingConfig
from ddpm_studio.training.runs import create_run, runs_root

MODEL = UNetConfig(base_channels=8, channel_mults=(1, 2), num_res_blocks=1, linear_attention=False,
                   mid_attention=False, attention_heads=1, attention_head_dim=8, norm_groups=4, num_classes=2)


def run_with(name: str, steps: tuple[int, ...], source: str = "builtin:shapes?n=48", size: int = 8) -> Path:
    config = RunConfig(model=MODEL, diffusion=DiffusionConfig(timesteps=20),
                       data=DataConfig(source=source, image_size=size, classes=("a", "b")), training=TrainingConfig())
    run = create_run(config, root=runs_root(), name=name)
    run.checkpoints_dir.mkdir(exist_ok=True)
    for step in steps:
        save_checkpoint(run.checkpoints_dir / checkpoint_name(step), config=config, step=step,
                        model_state=UNet(MODEL).state_dict())
    return run.path


def test_earlier_checkpoints_then_other_runs_on_the_same_data(tmp_path):
    torch.manual_seed(0)
    main = run_with("main", (10, 20, 30))
    same = run_with("same-data", (5,))
    run_with("other-data", (5,), source="builtin:glyphs")
    run_with("other-size", (5,), size=16)
    run_with("no-checkpoint", ())
    labels = [(c.label, c.path.name) for c in guide_choices(main)]
    assert labels == [("earlier checkpoint: step 20", checkpoint_name(20)),
                      ("earlier checkpoint: step 10", checkpoint_name(10)), ("run same-data (step 5)", "same-data")]
    middle = main / "checkpoints" / checkpoint_name(20)  # a checkpoint of the run: only the ones before it
    assert [c.label for c in guide_choices(middle)] == ["earlier checkpoint: step 10", "run same-data (step 5)"]
    assert [c.path for c in guide_choices(same)] == [main]  # another run: the main run's latest checkpoint
    assert guide_choices(tmp_path / "missing.safetensors") == []
    assert model_classes(main) == ("a", "b") and read_config(tmp_path) is None


def test_why_a_guide_does_not_fit_in_one_line(tmp_path):
    main = run_with("main", (10,))
    glyphs = run_with("glyphs", (5,), source="builtin:glyphs")
    assert guide_problem(main, glyphs) == ("glyphs cannot guide this model: the guide model differs in data source "
                                           "(builtin:glyphs vs the model's builtin:shapes?n=48)")
    assert guide_problem(main, main / "checkpoints" / checkpoint_name(10)) is None
    assert "is not there" in guide_problem(main, tmp_path / "gone.safetensors")
