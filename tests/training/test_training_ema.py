"""EMA of the weights: the warm-up EMA d_n = min(d, (1 + n) / (10 + n)) and the power EMA of Karras et al. 2024."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ddpm_studio.training.ema import EMA, power_ema_gamma


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


@pytest.mark.parametrize("sigma_rel", [0.05, 0.1, 0.2])
def test_power_ema_gamma_solves_karras_eq_3(sigma_rel):
    gamma = power_ema_gamma(sigma_rel)
    assert ((gamma + 1) / ((gamma + 2) ** 2 * (gamma + 3))) ** 0.5 == pytest.approx(sigma_rel)
    if sigma_rel in (0.05, 0.1):  # the values in Karras et al. 2024, Sec. 3.1
        assert gamma == pytest.approx({0.05: 16.97, 0.1: 6.94}[sigma_rel], abs=0.01)


def test_power_ema_is_the_power_weighted_average_of_all_iterates():
    # unrolling d_n = (1 - 1/n)^(γ+1): iterate i of t gets weight (i^(γ+1) - (i-1)^(γ+1)) / t^(γ+1)
    ema = EMA(_net(0.0), sigma_rel=0.1)
    values = [3.0, -1.0, 2.0, 5.0, 0.5, 4.0, -2.0]
    for v in values:
        ema.update(_net(v))
    g1, t = ema.gamma + 1.0, len(values)
    expected = sum((i ** g1 - (i - 1) ** g1) * v for i, v in enumerate(values, start=1)) / t ** g1
    assert all(torch.allclose(p, torch.full_like(p, expected), atol=1e-5) for p in ema.module.parameters())
    assert EMA(_net(0.0), sigma_rel=0.1).current_decay() == 0.0  # the first update copies the weights


def test_power_ema_width_is_refused_outside_its_range():
    with pytest.raises(ValueError, match="sigma_rel"):
        EMA(_net(0.0), sigma_rel=0.3)
