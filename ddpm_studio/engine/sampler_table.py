"""The sampler table: every reverse-process sampler, its words, its cost and its default grid, in one place.

Each row (:class:`SamplerSpec`) names a sampler function of one signature
``fn(model, diffusion, shape, *, timesteps, clip_x0, noise, generator, device, **options)`` -- the grid is built
outside it (``grids.py``, k-diffusion's split) -- plus what every face needs to offer it: a display label, the
network evaluations (NFE) it spends per step, its default grid and the ``SamplingConfig`` fields it reads.
:func:`sample`, SDEdit (``probes.sdedit``), the NFE counter (:func:`nfe`, :func:`steps_for_nfe`), the CLI's
``--method`` choices and every combo box look rows up here, so a new sampler is one function and one row
(``docs/architecture.md``, "Adding a sampler").

Cost: a sampler that evaluates the network ``evals_per_step`` times per step, except ``final_step_evals`` at
the last step, costs evals_per_step·(n-1) + final_step_evals for n steps. Heun (2, 1) costs 2n - 1: its last
step goes to σ = 0 and stays Euler (Karras et al. 2022, Algorithm 1). DDPM's grid is "all": n = T.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from ddpm_studio.engine.diffusion import GaussianDiffusion, Model
from ddpm_studio.engine.dpm_solver import dpm_solver_2m_sample
from ddpm_studio.engine.grids import FIXED_LENGTH_GRIDS, GRIDS, make_grid
from ddpm_studio.engine.guidance import steer
from ddpm_studio.engine.karras import euler_ancestral_sample, euler_sample, heun_sample
from ddpm_studio.engine.samplers import ddim_sample, ddpm_sample
from ddpm_studio.engine.sampling_common import SamplerStep, seeded_noise

if TYPE_CHECKING:
    from ddpm_studio.engine.sampling_config import SamplingConfig

__all__ = ["SamplerFn", "SamplerSpec", "SamplerTable", "SAMPLERS", "get_sampler", "nfe", "steps_for_nfe", "sample"]

SamplerFn = Callable[..., Iterator[SamplerStep]]


@dataclass(frozen=True)
class SamplerSpec:
    """One row: a sampler function and what the faces need to know of it."""

    name: str  # the config / CLI name, e.g. "dpmpp_2m"
    fn: SamplerFn  # fn(model, diffusion, shape, *, timesteps, clip_x0, noise, generator, device, **options)
    label: str  # display words, e.g. "DPM-Solver++(2M)"
    grid: str  # its default timestep grid, a grids.GRIDS name
    evals_per_step: int = 1  # network evaluations per step ...
    final_step_evals: int = 1  # ... and at the last step
    options: tuple[str, ...] = ()  # SamplingConfig fields passed to fn as keywords (beyond steps/clip_x0/seed)

    def __post_init__(self) -> None:
        if self.grid not in GRIDS:
            raise ValueError(f"sampler {self.name!r}: grid must be one of {', '.join(GRIDS)}, got {self.grid!r}")
        if self.evals_per_step < 1 or self.final_step_evals < 1:
            raise ValueError(f"sampler {self.name!r}: evaluations per step must be >= 1")

    @property
    def short_label(self) -> str:
        """The label without its parenthesised detail ("Heun (Karras, 2 NFE/step)" -> "Heun")."""
        return self.label.split(" (")[0]

    @property
    def fixed_length(self) -> bool:
        """True when the number of steps is set by the grid (DDPM: every timestep), not by ``steps``."""
        return self.grid in FIXED_LENGTH_GRIDS

    def num_steps(self, steps: int, num_timesteps: int) -> int:
        """The steps this sampler takes when asked for ``steps`` on a T = ``num_timesteps`` model."""
        _check_count("num_timesteps", num_timesteps)
        _check_count("steps", steps)
        if self.fixed_length:
            return num_timesteps
        if steps > num_timesteps:
            raise ValueError(f"steps must be at most T = {num_timesteps}, got {steps}")
        return steps

    def cost(self, num_steps: int) -> int:
        """Network evaluations of a run of ``num_steps`` steps."""
        return self.evals_per_step * (num_steps - 1) + self.final_step_evals

    def nfe(self, steps: int, num_timesteps: int) -> int:
        """Network evaluations when asked for ``steps`` steps on a T = ``num_timesteps`` model."""
        return self.cost(self.num_steps(steps, num_timesteps))

    def steps_for_nfe(self, budget: int, num_timesteps: int) -> int:
        """The most steps whose cost is at most ``budget`` (Heun: (NFE + 1) // 2; DDPM: T and only T)."""
        _check_count("nfe", budget)
        _check_count("num_timesteps", num_timesteps)
        if self.fixed_length:
            if budget != self.cost(num_timesteps):
                cost = f"T = {num_timesteps}" if self.cost(num_timesteps) == num_timesteps else (
                    f"{self.cost(num_timesteps)} (T = {num_timesteps})")
                raise ValueError(f"{self.short_label} always costs {cost} NFE, got a budget of {budget}")
            return num_timesteps
        steps = max(1, (budget - self.final_step_evals) // self.evals_per_step + 1)
        if budget < self.final_step_evals or steps > num_timesteps:
            raise ValueError(f"{self.name} can spend {self.cost(1)}..{self.cost(num_timesteps)} NFE on a "
                             f"T = {num_timesteps} model, got {budget}")
        return steps

    def grid_for(self, diffusion: GaussianDiffusion, steps: int, *, t_max: int | None = None) -> list[int]:
        """This sampler's default grid of ``steps`` points over timesteps 0..t_max (default T-1)."""
        return make_grid(self.grid, diffusion.schedule.alphas_cumprod, steps, t_max=t_max)

    def run(self, model: Model, diffusion: GaussianDiffusion, shape: Sequence[int], *, steps: int | None = None,
            timesteps: Sequence[int] | None = None, t_max: int | None = None, clip_x0: bool = True,
            noise: Tensor | None = None, generator: torch.Generator | None = None,
            device: torch.device | str | None = None, **options: Any) -> Iterator[SamplerStep]:
        """The sampler on ``timesteps``, or on its default grid of ``steps`` points (over 0..t_max)."""
        if timesteps is None:
            if steps is None and not self.fixed_length:
                raise ValueError(f"{self.name}: give steps or timesteps")
            timesteps = self.grid_for(diffusion, 1 if steps is None else steps, t_max=t_max)
        return self.fn(model, diffusion, shape, timesteps=timesteps, clip_x0=clip_x0, noise=noise,
                       generator=generator, device=device, **options)

    def options_from(self, config: SamplingConfig) -> dict[str, Any]:
        """The keyword options this sampler reads from ``config``."""
        return {name: getattr(config, name) for name in self.options}


def _check_count(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")


class SamplerTable(Mapping[str, SamplerSpec]):
    """The rows in display order. A Mapping (``name in SAMPLERS``, iteration gives names); :meth:`register`
    adds a row (a plug-in sampler, a test's toy one), :meth:`unregister` takes it out again."""

    def __init__(self, rows: Sequence[SamplerSpec]) -> None:
        self._rows: dict[str, SamplerSpec] = {}
        for row in rows:
            self.register(row)

    def __getitem__(self, name: str) -> SamplerSpec:
        return self._rows[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._rows)

    def __len__(self) -> int:
        return len(self._rows)

    def names(self) -> tuple[str, ...]:
        return tuple(self._rows)

    def lookup(self, name: str) -> SamplerSpec:
        """The row of ``name``, or a one-line ValueError naming the choices."""
        if name not in self._rows:
            raise ValueError(f"method must be one of {', '.join(self._rows)}, got {name!r}")
        return self._rows[name]

    def label(self, name: str) -> str:
        """Display words of ``name``; a name without a row shows itself (an old run's unknown sampler)."""
        row = self._rows.get(name)
        return row.label if row is not None else name

    def register(self, spec: SamplerSpec) -> SamplerSpec:
        if spec.name in self._rows:
            raise ValueError(f"a sampler named {spec.name!r} is already in the table")
        self._rows[spec.name] = spec
        return spec

    def unregister(self, name: str) -> None:
        self._rows.pop(name, None)


SAMPLERS = SamplerTable([
    SamplerSpec("ddpm", ddpm_sample, "DDPM (ancestral, T steps)", "all", options=("variance", "noise_scale")),
    SamplerSpec("ddim", ddim_sample, "DDIM", "even", options=("eta", "noise_scale")),
    SamplerSpec("euler", euler_sample, "Euler (Karras)", "karras"),
    SamplerSpec("heun", heun_sample, "Heun (Karras, 2 NFE/step)", "karras", evals_per_step=2),
    SamplerSpec("euler_ancestral", euler_ancestral_sample, "Euler ancestral", "karras", options=("noise_scale",)),
    # the grid: docs/decisions.md, "DPM-Solver++ grid" (karras 57.0 SWD vs linspace 100.8 at 10 NFE)
    SamplerSpec("dpmpp_2m", dpm_solver_2m_sample, "DPM-Solver++(2M)", "karras"),
])


def get_sampler(name: str) -> SamplerSpec:
    """The table's row for ``name`` (ValueError naming the choices when there is none)."""
    return SAMPLERS.lookup(name)


def nfe(method: str, steps: int, num_timesteps: int) -> int:
    """Network evaluations of ``method`` run for ``steps`` steps on a T = ``num_timesteps`` model."""
    return SAMPLERS.lookup(method).nfe(steps, num_timesteps)


def steps_for_nfe(method: str, nfe_budget: int, num_timesteps: int) -> int:
    """The most steps of ``method`` whose cost is at most ``nfe_budget``."""
    return SAMPLERS.lookup(method).steps_for_nfe(nfe_budget, num_timesteps)


def sample(model: Model, diffusion: GaussianDiffusion, shape: Sequence[int], config: SamplingConfig, *,
           noise: Tensor | None = None, device: torch.device | str | None = None,
           guide: Model | None = None) -> Iterator[SamplerStep]:
    """Run the sampler chosen by ``config`` on its default grid, x_T and fresh noise from ``config.seed``
    (``sampling_common.seeded_noise``; ``noise`` replaces x_T and leaves the fresh noise as it was).

    Steering (``config.labels``, ``config.guidance``, ``guide`` for autoguidance) wraps the model once
    (``guidance.steer``), so every sampler honours it. It costs ``config.nfe(T)`` network evaluations, each on
    ``config.batch_factor()`` times the batch; Euler ancestral always adds the full noise (η = 1)."""
    config.validate()
    model = steer(model, shape[0], labels=config.labels, guidance=config.guidance, interval=config.interval,
                  rescale=config.guidance_rescale, guide=guide)
    spec = SAMPLERS.lookup(config.method)
    x_T, generator = seeded_noise(config.seed, shape, noise)
    return spec.run(model, diffusion, shape, steps=config.steps, clip_x0=config.clip_x0, noise=x_T,
                    generator=generator, device=device, **spec.options_from(config))
