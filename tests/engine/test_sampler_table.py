"""The sampler table (engine/sampler_table.py): one row per sampler, and every consumer looks rows up in it.

Adding a sampler is one function plus one row: a toy sampler registered here is reached by ``sample()``, SDEdit,
the NFE counter, ``SamplingConfig`` validation and the CLI's choices without touching any of them (the GUI's
choices: tests/gui/test_sampler_table_choices.py)."""

from __future__ import annotations

import pytest
import torch

from ddpm_studio.engine import SAMPLERS, SamplerSpec, SamplingConfig, draw_x_T, nfe, sample, steps_for_nfe
from ddpm_studio.engine.config import DiffusionConfig
from ddpm_studio.engine.diffusion import GaussianDiffusion
from ddpm_studio.engine.grids import GRIDS
from ddpm_studio.engine.probes import sdedit


class _Counting(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return 0.1 * x


def _diffusion(T: int = 40) -> GaussianDiffusion:
    return GaussianDiffusion(DiffusionConfig(schedule="linear", timesteps=T))


def test_every_row_has_a_label_a_cost_a_grid_and_options_that_are_config_fields() -> None:
    fields = set(SamplingConfig.__dataclass_fields__)
    for name, row in SAMPLERS.items():
        assert row.name == name and row.label.strip() and row.grid in GRIDS
        assert row.cost(1) >= 1 and row.nfe(10, 1000) >= 10
        assert set(row.options) <= fields, (name, row.options)
    assert SAMPLERS.names() == ("ddpm", "ddim", "euler", "heun", "euler_ancestral", "dpmpp_2m")
    assert nfe("heun", 10, 1000) == 19 and nfe("ddpm", 3, 1000) == 1000 and steps_for_nfe("heun", 20, 1000) == 10


def test_a_registered_sampler_reaches_sample_sdedit_the_nfe_counter_and_the_config(toy_row) -> None:
    diffusion, model = _diffusion(), _Counting()
    config = SamplingConfig(method="toy", steps=5, eta=0.0, seed=3, count=2)
    config.validate()  # a registered row is a valid method
    steps = list(sample(model, diffusion, (2, 1, 4, 4), config))
    assert [s.t for s in steps] == toy_row.grid_for(diffusion, 5) and model.calls == config.nfe(40) == 10
    assert nfe("toy", 5, 40) == 10 and steps_for_nfe("toy", 10, 40) == 5
    model.calls = 0
    x0 = torch.zeros(2, 1, 4, 4)
    edited = list(sdedit(model, diffusion, x0, 12, method="toy", steps=4, generator=torch.Generator().manual_seed(0)))
    assert [s.t for s in edited] == toy_row.grid_for(diffusion, 4, t_max=12) and model.calls == 8
    assert SAMPLERS.label("toy") == toy_row.label == "Toy (test only)"


def test_a_registered_sampler_is_a_cli_choice(toy_row) -> None:
    from ddpm_studio.cli.main import build_parser

    parser = build_parser()
    for command in (["sample", "demo"], ["eval", "demo"], ["probe", "demo"]):
        args = parser.parse_args([*command, "--method", "toy"])
        assert args.method == "toy"
    with pytest.raises(SystemExit):
        parser.parse_args(["sample", "demo", "--method", "lms"])


def test_an_unknown_sampler_is_one_clear_error_everywhere() -> None:
    diffusion = _diffusion()
    with pytest.raises(ValueError, match="method must be one of ddpm, ddim"):
        SamplingConfig(method="lms").validate()
    with pytest.raises(ValueError, match="method must be one of"):
        nfe("lms", 5, 40)
    with pytest.raises(ValueError, match="method must be one of"):
        list(sdedit(_Counting(), diffusion, torch.zeros(1, 1, 4, 4), 5, method="lms"))
    with pytest.raises(ValueError, match="already in the table"):
        SAMPLERS.register(SamplerSpec("ddim", SAMPLERS["ddim"].fn, "again", "even"))
    with pytest.raises(ValueError, match="grid must be one of"):
        SamplerSpec("bad", SAMPLERS["ddim"].fn, "Bad", "trailing")


@pytest.mark.parametrize("method", SAMPLERS.names())
def test_x_T_is_drawn_in_one_place_for_every_sampler(method: str) -> None:
    """sample(config) and sample(config, noise=draw_x_T(seed, shape)) are the same images bit for bit, the
    stochastic samplers' fresh noise included: a face that draws x_T itself cannot desynchronise an A/B."""
    diffusion, model = _diffusion(20), _Counting()
    config = SamplingConfig(method=method, steps=6, eta=0.5, seed=11, count=3)
    shape = (3, 1, 4, 4)
    plain = list(sample(model, diffusion, shape, config))[-1].xt
    given = list(sample(model, diffusion, shape, config, noise=draw_x_T(config.seed, shape)))[-1].xt
    assert torch.equal(plain, given)
    other = list(sample(model, diffusion, shape, SamplingConfig(method=method, steps=6, eta=0.5, seed=12,
                                                                count=3)))[-1].xt
    assert not torch.equal(plain, other)


def test_steps_beyond_T_are_an_error_not_a_clamp() -> None:
    diffusion = _diffusion(20)
    for method in ("ddim", "euler", "heun", "euler_ancestral", "dpmpp_2m"):
        with pytest.raises(ValueError, match=r"steps must be"):
            list(sample(_Counting(), diffusion, (1, 1, 4, 4), SamplingConfig(method=method, steps=21, count=1)))
    # DDPM's cost is T whatever `steps` says: its grid is "all"
    assert len(list(sample(_Counting(), diffusion, (1, 1, 4, 4), SamplingConfig(method="ddpm", steps=500,
                                                                                  count=1)))) == 20


def test_ddpm_walks_only_contiguous_chains() -> None:
    diffusion = _diffusion(20)
    with pytest.raises(ValueError, match="DDPM walks consecutive timesteps"):
        list(SAMPLERS["ddpm"].run(_Counting(), diffusion, (1, 1, 4, 4), timesteps=[19, 10, 0]))
    chain = list(SAMPLERS["ddpm"].run(_Counting(), diffusion, (1, 1, 4, 4), timesteps=list(range(7, -1, -1)),
                                      generator=torch.Generator().manual_seed(0)))
    assert [s.t for s in chain] == list(range(7, -1, -1)) and chain[0].num_steps == 8
