"""The model catalogue and the forward grid (no Qt)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ddpm_studio.app import catalogue
from ddpm_studio.app.catalogue import CLASS_DEMO, DEMO, model_choices, model_name, resolve_model
from ddpm_studio.app.forward import check_ts, forward_grid, spread_of_t
from ddpm_studio.data.transforms import to_uint8
from ddpm_studio.engine import make_schedule
from ddpm_studio.training.checkpoint import CheckpointError, read_checkpoint_config
from ddpm_studio.training.runs import CLASS_DEMO_CHECKPOINT, DEMO_CHECKPOINT


def test_resolve_demo_paths_and_run_names(tmp_path):
    assert resolve_model(DEMO) == DEMO_CHECKPOINT
    (tmp_path / "my-run").mkdir()
    assert resolve_model("my-run", tmp_path) == tmp_path / "my-run"
    assert resolve_model(tmp_path / "my-run") == tmp_path / "my-run"
    with pytest.raises(CheckpointError, match="no checkpoint, run folder or run named 'nope'"):
        resolve_model("nope", tmp_path)


def test_model_choices_offer_the_current_run_first_and_the_demo_last(tmp_path):
    choices = model_choices(tmp_path / "current", runs_dir=tmp_path)
    assert choices[0].label == "current run: current" and choices[0].path == tmp_path / "current"
    assert [c.path for c in choices if c.is_demo] == [DEMO_CHECKPOINT, CLASS_DEMO_CHECKPOINT]
    assert choices[-1].path == CLASS_DEMO_CHECKPOINT


def test_the_class_demo_is_shipped_conditional_on_the_shapes_classes():
    assert resolve_model(CLASS_DEMO) == CLASS_DEMO_CHECKPOINT
    config, step = read_checkpoint_config(CLASS_DEMO_CHECKPOINT)
    assert config.model.num_classes == 3 and config.data.classes == ("circle", "square", "triangle")
    assert config.data.source == "builtin:shapes" and config.data.image_size == 16
    assert model_name(CLASS_DEMO_CHECKPOINT) == f"class demo model (step {step})"


def test_a_missing_shipped_model_is_named(tmp_path, monkeypatch):
    monkeypatch.setitem(catalogue.SHIPPED, CLASS_DEMO, tmp_path / "classes.safetensors")
    with pytest.raises(CheckpointError, match="the class demo model is not installed"):
        resolve_model(CLASS_DEMO)


def test_forward_grid_rows_per_image_and_schedule():
    x0 = torch.rand(2, 3, 8, 8) * 2 - 1
    schedules = [make_schedule("linear", 20), make_schedule("cosine", 20)]
    ts = spread_of_t(20, 3)
    assert ts == [0, 10, 20]
    grid = forward_grid(x0, schedules, ts, seed=1)
    assert grid.shape == (4, 3, 8, 8, 3)
    assert np.array_equal(grid[0, 0], to_uint8(x0)[0]) and np.array_equal(grid[1, 0], to_uint8(x0)[0])
    assert not np.array_equal(grid[0, 1], grid[1, 1])  # the two schedules differ at t = 10, same ε
    again = forward_grid(x0, schedules, ts, seed=1)
    assert np.array_equal(grid, again)
    with pytest.raises(ValueError, match="t=21 is out of range 0..20"):
        check_ts([0, 21], 20)
