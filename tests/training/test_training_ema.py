"""EMA of the weights with warm-up: θ_ema ← d_n θ_ema + (1 - d_n) θ, d_n = min(d, (1 + n) / (10 + n))."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ddpm_studio.training.ema import EMA


def _net(value: float) -> nn.Module:
    net = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    with torch.no_grad():
        for p in net.parameters():
            p.fill_(value)
    return net


def test_warmup_decay_schedule():
    ema = EMA(_net(0.0), decay=0.999)
    decays = []
    for _ in range(4):
        decays.append(ema.current_decay())
        ema.update(_net(0.0))
    assert decays == pytest.approx([1 / 10, 2 / 11, 3 / 12, 4 / 13])
    ema.updates = 100_000
    assert ema.current_decay() == 0.999
    assert EMA(_net(0.0), decay=0.9, warmup=False).current_decay() == 0.9


def test_update_follows_the_formula_and_copies_buffers():
    ema = EMA(_net(0.0), decay=0.5, warmup=False)
    model = _net(2.0)
    model[1].running_mean.fill_(7.0)
    ema.update(model)
    assert all(torch.allclose(p, torch.full_like(p, 1.0)) for p in ema.module.parameters())  # 0.5*0 + 0.5*2
    ema.update(model)
    assert all(torch.allclose(p, torch.full_like(p, 1.5)) for p in ema.module.parameters())
    assert torch.equal(ema.module[1].running_mean, torch.full((2,), 7.0))
    assert not any(p.requires_grad for p in ema.module.parameters())


def test_state_round_trip():
    ema = EMA(_net(1.0), decay=0.9)
    ema.update(_net(3.0))
    other = EMA(_net(0.0), decay=0.9)
    other.load_state_dict(ema.state_dict(), ema.updates)
    assert other.updates == 1
    assert all(torch.equal(a, b) for a, b in zip(other.state_dict().values(), ema.state_dict().values()))


def test_bad_decay_is_refused():
    with pytest.raises(ValueError, match="decay"):
        EMA(_net(0.0), decay=1.5)
