"""Network function evaluations (NFE): the cost users set and compare samplers at, and its inverse.

A sampler's ``steps`` is its own loop count; NFE is what it costs. Heun evaluates the network twice per
step except the last one, which goes to σ = 0 (Karras et al. 2022, Algorithm 1), so it costs 2·steps - 1.
DDPM always walks all T timesteps. Every other sampler costs one evaluation per step.
"""

from __future__ import annotations

SAMPLERS: tuple[str, ...] = ("ddpm", "ddim", "euler", "heun", "euler_ancestral", "dpmpp_2m")
SAMPLER_LABELS: dict[str, str] = {
    "ddpm": "DDPM (ancestral, T steps)",
    "ddim": "DDIM",
    "euler": "Euler (Karras)",
    "heun": "Heun (Karras, 2 NFE/step)",
    "euler_ancestral": "Euler ancestral",
    "dpmpp_2m": "DPM-Solver++(2M)",
}

__all__ = ["SAMPLERS", "SAMPLER_LABELS", "nfe", "steps_for_nfe"]


def _check_method(method: str) -> None:
    if method not in SAMPLERS:
        raise ValueError(f"method must be one of {', '.join(SAMPLERS)}, got {method!r}")


def _check_count(name: str, value: int, num_timesteps: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    if isinstance(num_timesteps, bool) or not isinstance(num_timesteps, int) or num_timesteps < 1:
        raise ValueError(f"num_timesteps must be an integer >= 1, got {num_timesteps!r}")


def nfe(method: str, steps: int, num_timesteps: int) -> int:
    """Network evaluations of ``method`` run for ``steps`` steps on a T = ``num_timesteps`` model."""
    _check_method(method)
    _check_count("steps", steps, num_timesteps)
    if method == "ddpm":
        return num_timesteps
    if steps > num_timesteps:
        raise ValueError(f"steps must be at most T = {num_timesteps}, got {steps}")
    return 2 * steps - 1 if method == "heun" else steps


def steps_for_nfe(method: str, nfe_budget: int, num_timesteps: int) -> int:
    """The most steps of ``method`` whose cost is at most ``nfe_budget`` (Heun: (NFE + 1) // 2, so an even
    budget leaves one evaluation unused; DDPM: T, and any other budget is an error)."""
    _check_method(method)
    _check_count("nfe", nfe_budget, num_timesteps)
    if method == "ddpm":
        if nfe_budget != num_timesteps:
            raise ValueError(f"DDPM always costs T = {num_timesteps} NFE, got a budget of {nfe_budget}")
        return num_timesteps
    steps = (nfe_budget + 1) // 2 if method == "heun" else nfe_budget
    if steps > num_timesteps:
        raise ValueError(f"{method} can spend at most {nfe(method, num_timesteps, num_timesteps)} NFE on a "
                         f"T = {num_timesteps} model, got {nfe_budget}")
    return steps
