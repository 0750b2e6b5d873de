"""engine.point_mlp: the point denoiser's class conditioning follows the UNet's convention (K + 1 rows, row K is ∅),
so engine.guidance drives it unchanged."""

from __future__ import annotations

import pytest
import torch

from ddpm_studio.engine.guidance import cfg, steer
from ddpm_studio.engine.point_mlp import PointMLP, PointMLPConfig


def _model(classes: int = 0, seed: int = 0) -> PointMLP:
    torch.manual_seed(seed)
    return PointMLP(PointMLPConfig(width=16, blocks=2, num_classes=classes))


def test_without_classes_it_is_the_unconditional_network() -> None:
    plain, conditional = _model(0), _model(3)
    assert plain.num_classes == 0 and conditional.num_classes == 3 and plain.class_embed is None
    assert conditional.class_embed.weight.shape == (4, 16)  # K + 1 rows: row K is "no class"
    shared = {k: v for k, v in conditional.state_dict().items() if not k.startswith("class_embed")}
    assert shared.keys() == plain.state_dict().keys()
    assert all(torch.equal(shared[k], v) for k, v in plain.state_dict().items())  # same initial weights


def test_labels_condition_and_none_is_the_null_class() -> None:
    model = _model(3)
    x, t = torch.randn(6, 2), torch.tensor([0, 5, 9, 3, 1, 7])
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    null = torch.full((6,), 3)
    assert torch.equal(model(x, t), model(x, t, null))
    assert not torch.allclose(model(x, t, y), model(x, t, null))
    zeros, ones = torch.zeros(6, dtype=torch.long), torch.ones(6, dtype=torch.long)
    assert not torch.allclose(model(x, t, zeros), model(x, t, ones))


def test_engine_guidance_drives_it() -> None:
    model = _model(2)
    x, t, y = torch.randn(5, 2), torch.arange(5), torch.tensor([0, 1, 0, 1, 1])
    assert torch.equal(cfg(model, y, 1.0)(x, t), model(x, t, y))  # w = 1: the conditional model
    assert torch.equal(cfg(model, y, 0.0)(x, t), model(x, t))  # w = 0: the unconditional one
    cond, uncond = model(x, t, y), model(x, t)
    assert torch.allclose(cfg(model, y, 4.0)(x, t), uncond + 4.0 * (cond - uncond), atol=1e-5)  # Ho & Salimans eq. 6
    assert torch.allclose(steer(model, 5, labels=[0, 1, 0, 1, 1], guidance=4.0)(x, t), cfg(model, y, 4.0)(x, t))


def test_bad_labels_are_one_line() -> None:
    x, t = torch.randn(3, 2), torch.arange(3)
    with pytest.raises(ValueError, match="this model is unconditional: it takes no class labels"):
        _model(0)(x, t, torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match=r"expected integer class labels y of shape \(3,\)"):
        _model(2)(x, t, torch.zeros(3))
    with pytest.raises(ValueError, match="num_classes must be an integer >= 0"):
        PointMLPConfig(num_classes=-1).validate()
    assert PointMLPConfig.from_dict(PointMLPConfig(num_classes=4).to_dict()).num_classes == 4
