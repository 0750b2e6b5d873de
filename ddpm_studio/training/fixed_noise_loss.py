"""The fixed-noise loss: a model's own denoising loss on given images at fixed noise and fixed timesteps, so two
calls agree bit for bit and two sets of weights are scored on the same noise (issue 24).

One protocol for both of its users: the per-image losses of a finished run (`app/per_image_losses.py`) and the
validation loss the Trainer records on its held-out images (`training/validation.py`). For image x_0^(i) and each
of K timesteps t_k (the midpoints of K equal slices of 0..T-1, a stratified estimate of E_t), the loss is the
engine's `GaussianDiffusion.training_losses` (Ho et al. 2020, eq. 14 with the run's objective, regression loss and
min-SNR weighting; + λ·L_vlb for a learned variance) at

    x_t = √ᾱ_t x_0 + √(1 - ᾱ_t) ε^(i)_k,        ε^(i) ~ N(0, I) drawn from a generator keyed by the image's name.

A conditional model sees the image's own label (the null class for an unlabelled image, as in training); an
augmentation-conditioned one sees "no augmentation" (nothing passed: a = 0). Randomness is the caller's seed only:
the Trainer's own streams are never touched.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Iterator, Sequence

import torch
from torch import Tensor

from ddpm_studio.engine.diffusion import GaussianDiffusion

__all__ = ["LOSS_TIMESTEPS", "NOISE_SEED", "conditioning_labels", "fixed_noise_losses", "fixed_timesteps",
           "image_losses", "image_noise"]

LOSS_TIMESTEPS = 8  # K: timesteps per image, spread over the schedule
NOISE_SEED = 24  # the default seed of the fixed noise (issue 24)


def fixed_timesteps(num_timesteps: int, count: int) -> tuple[int, ...]:
    """The midpoints of `count` equal slices of 0..T-1 (all T timesteps when T <= count)."""
    if num_timesteps <= count:
        return tuple(range(num_timesteps))
    return tuple(sorted({min(num_timesteps - 1, int((k + 0.5) * num_timesteps / count)) for k in range(count)}))


def _noise_key(seed: int, key: str) -> int:
    """A 63-bit generator seed from (seed, the image's name): the same image gets the same noise in every call."""
    digest = hashlib.blake2b(f"{seed}\0{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & (2**63 - 1)


def image_noise(seed: int, key: str, count: int, shape: tuple[int, ...]) -> Tensor:
    """ε^(i) (count, C, H, W) float32 for the image named `key`: one fixed draw per timestep."""
    generator = torch.Generator().manual_seed(_noise_key(seed, key))
    return torch.randn((count, *shape), generator=generator)


@torch.no_grad()
def image_losses(model: torch.nn.Module, diffusion: GaussianDiffusion, x0: Tensor, noise: Tensor,
                 timesteps: tuple[int, ...], labels: Tensor | None = None) -> Tensor:
    """Losses (N, K) of images x0 (N, C, H, W) with their noise (N, K, C, H, W) at the K `timesteps`, through
    the engine's `training_losses` (one batch of N·K evaluations); `labels` (N,) for a conditional model."""
    n, k = x0.shape[0], len(timesteps)
    device = next(model.parameters()).device
    x = x0.repeat_interleave(k, dim=0).to(device)  # (N·K, C, H, W): image i at every t_k
    t = torch.tensor(timesteps, dtype=torch.long).repeat(n).to(device)  # (N·K,)
    eps = noise.reshape(n * k, *x0.shape[1:]).to(device)
    net: Callable[..., Tensor] = model
    if labels is not None:
        net = functools.partial(model, y=labels.repeat_interleave(k).to(device))
    terms = diffusion.training_losses(net, x, t, noise=eps)
    return terms.loss.float().reshape(n, k).cpu()


def conditioning_labels(labels: Tensor | None, count: int, num_classes: int) -> Tensor | None:
    """A conditional model's labels (count,): each image's own class, the null class (K) where unlabelled; None for
    an unconditional model."""
    if not num_classes:
        return None
    if labels is None:
        return torch.full((count,), num_classes, dtype=torch.long)
    return torch.where(labels < 0, torch.full_like(labels, num_classes), labels)


def fixed_noise_losses(model: torch.nn.Module, diffusion: GaussianDiffusion, x0: Tensor, keys: Sequence[str],
                       labels: Tensor | None, timesteps: tuple[int, ...], *, seed: int = NOISE_SEED,
                       batch_size: int = 64, should_stop: Callable[[], bool] | None = None,
                       ) -> Iterator[tuple[int, Tensor]]:
    """(start, losses (n, K)) for consecutive slices of the images x0 (N, C, H, W) named `keys`, at most
    `batch_size` network evaluations (n·K) each, so a caller can report progress between slices; `should_stop` is
    asked before each slice."""
    per_batch = max(1, batch_size // len(timesteps))
    for start in range(0, x0.shape[0], per_batch):
        if should_stop is not None and should_stop():
            return
        part = x0[start:start + per_batch]
        noise = torch.stack([image_noise(seed, str(k), len(timesteps), tuple(part.shape[1:]))
                             for k in keys[start:start + per_batch]])
        part_labels = None if labels is None else labels[start:start + per_batch]
        yield start, image_losses(model, diffusion, part, noise, timesteps, part_labels)
