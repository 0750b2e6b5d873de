"""Post-hoc EMA (Karras et al. 2024, "Analyzing and Improving the Training Dynamics of Diffusion Models", EDM2,
section 3 and appendix C): choose the EMA length *after* training.

During training two power-function EMAs (ema.py; EDM2 uses σ_rel = 0.05 and 0.10) are tracked beside the run's
own EMA, and both are written to the run folder's `posthoc/` every K steps (`snapshot_interval`: K doubles as
the run grows, so a run keeps at most MAX_SNAPSHOTS of them, evenly spaced, plus the latest).

A power EMA of exponent γ read at step t averages the weights θ_τ with the profile (EDM2 eq. 4 / C.2)

    p_{t,γ}(τ) = (γ + 1) τ^γ / t^(γ+1)   for 0 < τ ≤ t  (0 after t),

so every stored snapshot is ∫ p_{t_i,γ_i}(τ) θ_τ dτ, and a weighted sum Σ x_i snapshot_i is the average with
the profile Σ x_i p_i. Post-hoc reconstruction picks x minimising ‖q − Σ x_i p_i‖² in L² for the wanted profile
q (a power EMA of any σ_rel at the last snapshot): the normal equations A x = b with the inner products
(EDM2 appendix C.3, eq. 31-33, their `power_function_correlation`)

    ⟨p_{a}, p_{b}⟩ = (γ_a + 1)(γ_b + 1) / ((γ_a + γ_b + 1) max(t_a, t_b)) · (t_a / t_b)^(γ_b if t_a < t_b else −γ_a).

Then the reconstructed weights are Σ x_i θ̂_i. A classic exponential EMA of decay d is a target too
(`solve_exponential_coefficients`: its inner products with the power profiles by quadrature). The relative L²
residual ‖q − Σ x_i p_i‖ / ‖q‖ says how well the snapshots can express q; lengths whose residual exceeds
RESIDUAL_LIMIT are refused (`reconstructable_range`).
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save
from torch import Tensor, nn

from ddpm_studio.atomic import atomic_write_bytes
from ddpm_studio.errors_text import one_line
from ddpm_studio.training.ema import EMA, power_ema_gamma

POSTHOC_DIR = "posthoc"  # in the run folder
POSTHOC_FORMAT = "ddpm-studio.posthoc-ema/1"
PROFILE_SIGMA_RELS: tuple[float, float] = (0.05, 0.10)  # EDM2's two stored profiles (section 3.2)
MAX_SNAPSHOTS = 64  # evenly spaced snapshots kept (plus the latest)
FIRST_INTERVAL = 16  # K while the run is short: a snapshot every 16 steps, doubled as needed
# the relative L² error of the reconstructed profile above which a length is refused. With 47 snapshots of a
# 1,500-step run: 0.08 at σ_rel 0.01 (coefficients up to 46, amplifying the snapshots' float32 rounding), 0.016 at
# 0.02, < 0.005 from 0.03 to 0.2, 0.02 at 0.25, 0.10 at 0.28; so about 0.013..0.27 is reconstructable
RESIDUAL_LIMIT = 0.05
SIGMA_REL_BOUNDS = (0.01, 0.28)  # γ > 0 needs σ_rel < 12^-1/2 ≈ 0.2887; below 0.01 is a near-last-step average
_NAME_RE = re.compile(r"^phema_(\d{8,})\.safetensors$")

log = logging.getLogger(__name__)


class PosthocError(ValueError):
    """A post-hoc EMA that cannot be made: no snapshots, or a length the snapshots cannot express (one line)."""


def snapshot_interval(step: int, first: int = FIRST_INTERVAL, limit: int = MAX_SNAPSHOTS) -> int:
    """K at `step`: the smallest first·2^j with at most `limit` multiples of K in 1..step (a pure function of the
    step, so a resumed run keeps the same snapshots)."""
    interval = first
    while step // interval > limit:
        interval *= 2
    return interval


def snapshot_name(step: int) -> str:
    return f"phema_{step:08d}.safetensors"


def list_snapshots(folder: Path) -> list[tuple[int, Path]]:
    """(step, path) of the snapshot files in `folder`, oldest first ([] when there is none)."""
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _NAME_RE.match(p.name))]
    return sorted(found)


def prune_snapshots(folder: Path, step: int) -> list[Path]:
    """Delete the snapshots off the current grid (not a multiple of `snapshot_interval(step)`), except the latest,
    and any written after `step` (a resume from an earlier checkpoint abandons them). Returns the deleted paths."""
    interval = snapshot_interval(step)
    found = list_snapshots(folder)
    latest = max((s for s, _ in found if s <= step), default=None)
    gone = [p for s, p in found if s > step or (s % interval and s != latest)]
    for path in gone:
        path.unlink(missing_ok=True)
    return gone


class PosthocTracker:
    """The two power EMAs of a run and their snapshots in `folder` (rank 0 only)."""

    def __init__(self, model: nn.Module, folder: Path, sigma_rels: tuple[float, ...] = PROFILE_SIGMA_RELS) -> None:
        self.folder, self.sigma_rels = Path(folder), tuple(sigma_rels)
        self.emas = [EMA(model, sigma_rel=s) for s in self.sigma_rels]
        self.last_written: int | None = None
        self.write_seconds = 0.0  # time spent writing snapshots in this session (bench)
        self.bytes_written = 0

    def update(self, model: nn.Module) -> None:
        """One update of each power EMA (after the optimiser step)."""
        for ema in self.emas:
            ema.update(model)

    def due(self, step: int) -> bool:
        return step > 0 and step % snapshot_interval(step) == 0

    def save_snapshot(self, step: int) -> Path | None:
        """Write both profiles at `step` atomically (once per step) and thin the older snapshots."""
        if step <= 0 or self.last_written == step:
            return None
        started = time.perf_counter()
        tensors: dict[str, Tensor] = {}
        for i, ema in enumerate(self.emas):
            tensors.update({f"p{i}.{k}": v.detach().cpu().contiguous() for k, v in ema.state_dict().items()})
        metadata = {"format": POSTHOC_FORMAT, "step": str(step), "updates": str(self.emas[0].updates),
                    "sigma_rels": json.dumps(list(self.sigma_rels)),
                    "gammas": json.dumps([ema.gamma for ema in self.emas])}
        data = save(tensors, metadata=metadata)
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / snapshot_name(step)
        atomic_write_bytes(path, data, what="a post-hoc EMA snapshot", needs_bytes=len(data))
        self.last_written = step
        prune_snapshots(self.folder, step)
        self.write_seconds += time.perf_counter() - started
        self.bytes_written += len(data)
        return path

    def state(self) -> dict[str, Any]:
        """For the checkpoint's training state: the σ_rels, the update count and each profile's weights."""
        return {"sigma_rels": list(self.sigma_rels), "updates": self.emas[0].updates,
                "weights": [ema.state_dict() for ema in self.emas]}

    def load_state(self, state: dict[str, Any] | None, step: int, fallback: nn.Module) -> None:
        """Restore what `state()` saved and drop snapshots written after `step`. A checkpoint without it (post-hoc
        EMA turned on for a run that had it off) restarts both profiles from `fallback` (the run's EMA)."""
        if state is None or [float(s) for s in state["sigma_rels"]] != list(self.sigma_rels):
            log.warning("the checkpoint holds no post-hoc EMA profiles: they restart from the run's EMA at step %d",
                        step)
            for ema in self.emas:
                ema.load_state_dict(fallback.state_dict(), step)
        else:
            for ema, weights in zip(self.emas, state["weights"]):
                ema.load_state_dict(weights, int(state["updates"]))
        self.last_written = None
        prune_snapshots(self.folder, step)


# ---- reconstruction (EDM2 appendix C) ------------------------------------------------------------------------

def power_profile_inner(t_a: np.ndarray, g_a: np.ndarray, t_b: np.ndarray, g_b: np.ndarray) -> np.ndarray:
    """⟨p_{t_a,γ_a}, p_{t_b,γ_b}⟩ in L²(0, ∞) (EDM2 appendix C.3; broadcasts). With m = min(t_a, t_b):
    ∫_0^m (γ_a+1)(γ_b+1) τ^(γ_a+γ_b) / (t_a^(γ_a+1) t_b^(γ_b+1)) dτ, written so no power overflows."""
    t_a, g_a, t_b, g_b = (np.asarray(v, dtype=np.float64) for v in (t_a, g_a, t_b, g_b))
    ratio = t_a / t_b
    exponent = np.where(t_a < t_b, g_b, -g_a)
    return (g_a + 1) * (g_b + 1) * ratio ** exponent / ((g_a + g_b + 1) * np.maximum(t_a, t_b))


@dataclass(frozen=True)
class PosthocSolution:
    coefficients: np.ndarray  # x_i, one per (snapshot, profile), in `inputs` order
    inputs: tuple[tuple[int, float], ...]  # (step t_i, γ_i)
    residual: float  # ‖q − Σ x_i p_i‖ / ‖q‖


class PosthocSolver:
    """The least-squares problem of one set of stored profiles (EDM2 appendix C.3, eq. 33): A x = b with
    A_ij = ⟨p_i, p_j⟩ and b_i = ⟨p_i, p_out⟩, solved by least squares as their `power_function_beta` does (A is
    ill-conditioned: ~5·10⁵ for 47 snapshots), here through one SVD of A kept for every target (the pseudo-inverse
    with numpy.linalg.lstsq's default cut-off), so the range scan costs one factorisation, not one per σ_rel."""

    def __init__(self, in_steps: np.ndarray, in_gammas: np.ndarray) -> None:
        self.t = np.asarray(in_steps, dtype=np.float64).reshape(-1)
        self.g = np.asarray(in_gammas, dtype=np.float64).reshape(-1)
        self.a = power_profile_inner(self.t[:, None], self.g[:, None], self.t[None, :], self.g[None, :])
        u, sv, vt = np.linalg.svd(self.a)
        cutoff = np.finfo(np.float64).eps * max(self.a.shape) * sv[0]
        inverse = np.where(sv > cutoff, 1.0 / np.where(sv > cutoff, sv, 1.0), 0.0)
        self.pinv = (vt.T * inverse) @ u.T

    def solve(self, out_step: float, out_gamma: float) -> PosthocSolution:
        """x minimising ‖p_out − Σ x_i p_i‖² for the power profile (out_step, out_gamma), with its residual."""
        b = power_profile_inner(self.t, self.g, np.float64(out_step), np.float64(out_gamma))
        return self.solve_inner(b, float(power_profile_inner(out_step, out_gamma, out_step, out_gamma)))

    def solve_inner(self, b: np.ndarray, qq: float) -> PosthocSolution:
        """x for any target profile q given b_i = ⟨p_i, q⟩ and qq = ⟨q, q⟩."""
        x = self.pinv @ b
        err2 = max(qq - 2.0 * float(x @ b) + float(x @ self.a @ x), 0.0)  # ‖q‖² − 2 x·b + xᵀAx
        return PosthocSolution(x, tuple(zip(self.t.astype(int).tolist(), self.g.tolist())), math.sqrt(err2 / qq))


def exponential_profile_inner(t_i: np.ndarray, g_i: np.ndarray, t: float, decay: float,
                              nodes: int = 256) -> np.ndarray:
    """⟨p_{t_i,γ_i}, q⟩ for the exponential EMA's profile at step t, q(τ) = k e^(−k (t − τ)) on (0, t] with
    k = −ln d (the continuous form of θ̄ ← d θ̄ + (1 − d) θ). No closed form short of the incomplete gamma
    function: Gauss-Legendre over u = t − τ in [t − min(t_i, t), that + 40/k] (e^−40 of q's mass lies beyond)."""
    k = -math.log(decay)
    t_i, g_i = np.broadcast_arrays(np.asarray(t_i, dtype=np.float64), np.asarray(g_i, dtype=np.float64))
    lo = t - np.minimum(t_i, t)
    hi = np.minimum(t, lo + 40.0 / k)
    x, w = np.polynomial.legendre.leggauss(nodes)
    u = lo[..., None] + (hi - lo)[..., None] * (x + 1.0) / 2.0  # (..., nodes)
    tau = t - u
    g, ti = g_i[..., None], t_i[..., None]
    p = (g + 1.0) * np.exp(g * np.log(np.maximum(tau, 1e-300) / ti)) / ti  # (γ+1) τ^γ / t_i^(γ+1), no overflow
    return ((hi - lo) / 2.0) * np.sum(w * p * k * np.exp(-k * u), axis=-1)


def solve_exponential_coefficients(in_steps: np.ndarray, in_gammas: np.ndarray, out_step: float,
                                   decay: float) -> PosthocSolution:
    """x minimising ‖q − Σ x_i p_i‖² for the exponential EMA of decay d read at `out_step` (its L² norm
    ‖q‖² = k (1 − e^(−2kt)) / 2), the same normal equations as `solve_posthoc_coefficients`."""
    if not 0.0 < decay < 1.0:
        raise PosthocError(f"EMA decay must be between 0 and 1, got {decay!r}")
    solver = PosthocSolver(in_steps, in_gammas)
    k = -math.log(decay)
    b = exponential_profile_inner(solver.t, solver.g, float(out_step), decay)
    return solver.solve_inner(b, k * -math.expm1(-2.0 * k * out_step) / 2.0)


def solve_posthoc_coefficients(in_steps: np.ndarray, in_gammas: np.ndarray, out_step: float,
                               out_gamma: float) -> PosthocSolution:
    """x minimising ‖p_{out} − Σ x_i p_{in,i}‖² (EDM2 appendix C.3, eq. 33; `PosthocSolver`)."""
    return PosthocSolver(in_steps, in_gammas).solve(out_step, out_gamma)


def _snapshot_profiles(folder: Path, upto_step: int | None = None) -> tuple[list[tuple[int, Path]], list[float]]:
    found = [(s, p) for s, p in list_snapshots(folder) if upto_step is None or s <= upto_step]
    if not found:
        raise PosthocError(f"{folder.parent.name} has no post-hoc EMA snapshots: train it with post-hoc EMA on "
                           "(--posthoc-ema, training option posthoc_ema) to choose an EMA length after training")
    try:
        with safe_open(str(found[-1][1]), framework="pt") as f:
            gammas = [float(v) for v in json.loads(f.metadata()["gammas"])]
    except (SafetensorError, OSError, KeyError, ValueError, TypeError) as exc:
        raise PosthocError(f"{found[-1][1].name} is not a readable post-hoc EMA snapshot ({exc})") from None
    return found, gammas


def solve_for_run(folder: Path, sigma_rel: float, upto_step: int | None = None
                  ) -> tuple[PosthocSolution, list[tuple[int, Path]]]:
    """The coefficients of a power EMA of `sigma_rel` at the last snapshot of `folder` (not after `upto_step`)
    (PosthocError if the length is out of bounds or too far from what the snapshots can express)."""
    found, gammas = _snapshot_profiles(folder, upto_step)
    low, high = SIGMA_REL_BOUNDS
    if not isinstance(sigma_rel, (int, float)) or not low <= sigma_rel <= high:
        raise PosthocError(f"EMA length sigma_rel must be in {low:g}..{high:g}, got {sigma_rel!r}")
    steps = np.array([s for s, _ in found for _ in gammas], dtype=np.float64)
    g = np.array([gamma for _ in found for gamma in gammas])
    solution = solve_posthoc_coefficients(steps, g, float(found[-1][0]), power_ema_gamma(float(sigma_rel)))
    if solution.residual > RESIDUAL_LIMIT:
        lo, hi = reconstructable_range(folder, upto_step=upto_step)
        raise PosthocError(f"EMA length {sigma_rel:g} cannot be reconstructed from this run's {len(found)} snapshots "
                           f"(profile error {solution.residual:.0%}); choose one in {lo:.3f}..{hi:.3f}")
    return solution, found


def reconstructable_range(folder: Path, grid: int = 200, *, upto_step: int | None = None) -> tuple[float, float]:
    """The σ_rel interval (within SIGMA_REL_BOUNDS) whose reconstruction error from `folder`'s snapshots is at most
    RESIDUAL_LIMIT (the slider's and the error message's range)."""
    found, gammas = _snapshot_profiles(folder, upto_step)
    steps = np.array([s for s, _ in found for _ in gammas], dtype=np.float64)
    g = np.array([gamma for _ in found for gamma in gammas])
    solver = PosthocSolver(steps, g)
    good = [s for s in np.geomspace(*SIGMA_REL_BOUNDS, grid)
            if solver.solve(float(found[-1][0]), power_ema_gamma(float(s))).residual <= RESIDUAL_LIMIT]
    if not good:
        raise PosthocError(f"{folder.parent.name}'s post-hoc EMA snapshots cannot express any EMA length")
    return float(good[0]), float(good[-1])


def _accumulate(path: Path, coefficients: np.ndarray, total: dict[str, Tensor]) -> None:
    """total[name] += x_profile · θ̂_profile[name] for every tensor "p<profile>.<name>" of one snapshot file."""
    with safe_open(str(path), framework="pt") as f:
        for key in f.keys():
            profile, name = key.split(".", 1)
            value = f.get_tensor(key)
            if not value.is_floating_point():
                total[name] = value
                continue
            x = float(coefficients[int(profile[1:])])
            total[name] = total.get(name, torch.zeros(value.shape, dtype=torch.float64)) + x * value.double()


def reconstruct_weights(folder: Path, sigma_rel: float, *, upto_step: int | None = None
                        ) -> tuple[dict[str, Tensor], int]:
    """The weights of a power EMA of `sigma_rel` at the last snapshot's step: Σ x_i θ̂_i (float64 sums, float32
    out; non-float buffers from the latest snapshot), using the snapshots up to `upto_step`. Returns (state dict,
    step)."""
    solution, found = solve_for_run(folder, sigma_rel, upto_step)
    per_file = len(solution.inputs) // len(found)
    total: dict[str, Tensor] = {}
    for n, (_, path) in enumerate(found):
        try:
            _accumulate(path, solution.coefficients[n * per_file:(n + 1) * per_file], total)
        except (SafetensorError, OSError, ValueError, IndexError, RuntimeError) as exc:
            raise PosthocError(f"{path.name} is not a readable post-hoc EMA snapshot ({one_line(exc)}); delete it "
                               "to reconstruct from the others") from None
    return {k: v.float() if v.is_floating_point() else v for k, v in total.items()}, found[-1][0]
