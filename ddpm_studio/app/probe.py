"""Probes of what a trained model knows, for both faces (the CLI's `probe`, the Probe view): Qt-free.

- SDEdit over a row of t (Meng et al. 2022): dataset images noised to t by q(x_t | x_0) with one shared ε,
  then the reverse process from t (`engine.probes.sdedit_sweep`); a grid (rows = images; columns = the
  original, then per t: noised | reconstructed) and the reconstruction error against t. The error is also
  split in two bands (what the model keeps vs re-invents): the *layout* error, between 4×-average-pooled
  images (coarse shape and colour), and the *detail* error, between what is left after removing that
  low-pass (edges, texture). Small t: both small. Middle t: layout kept, details re-invented. Large t: a new image.
- DDIM inversion (Song et al. 2021, Sec. 4.3): x_0 → x_T → x̂_0 with its error (`engine.probes.invert_and_reconstruct`).
- Interpolation: slerp of two inverted latents, each frame decoded by deterministic DDIM on the inversion's grid.

Only uint8 images and numpy arrays leave these functions (they may cross threads); `t` is the engine's 0-based
timestep (0 … T-1), the index `sdedit` takes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFont

from ddpm_studio.app import exports
from ddpm_studio.app.sampling import load_for_sampling
from ddpm_studio.data.decode import ImageDecodeError
from ddpm_studio.data.sources import ImageSource, open_source
from ddpm_studio.data.transforms import ImageTransform, to_uint8
from ddpm_studio.engine import SAMPLERS, GaussianDiffusion, ddim_sample, ddim_timesteps, fit_steps
from ddpm_studio.engine.probes import invert_and_reconstruct, sdedit_sweep, slerp
from ddpm_studio.training.devices import resolve_device

log = logging.getLogger(__name__)

PROBE_T: tuple[int, ...] = (100, 250, 500, 750, 999)  # the row of t (0-based), for T = 1000
LATENT_DISPLAY_RANGE = 3.0  # x_T ~ N(0, I): shown ±3σ across black..white
LAYOUT_POOL = 4  # the layout band: images average-pooled by this factor
PROBE_IMAGES = 4  # data set images probed when none are chosen
INTERPOLATION_FRAMES = 16  # frames of the slerp interpolation
PICTURE_SCALE = 2  # nearest upscaling of the exported pictures


def default_t_values(num_timesteps: int) -> tuple[int, ...]:
    """PROBE_T for T = 1000; for another T the same fractions (0.1, 0.25, 0.5, 0.75, 1) of T - 1."""
    if num_timesteps == 1000:
        return PROBE_T
    return tuple(sorted({round(f * (num_timesteps - 1)) for f in (0.1, 0.25, 0.5, 0.75, 1.0)}))


@dataclass(frozen=True)
class ProbeSettings:
    t_values: tuple[int, ...] = PROBE_T  # 0-based timesteps to noise to (each at most T - 1)
    method: str = "ddim"  # the reverse sampler of SDEdit, a row of the sampler table
    steps: int = 20  # reverse steps from each t (at most t + 1)
    inversion_steps: int = 50  # DDIM steps of the inversion, its reconstruction and the interpolation
    seed: int = 0  # the shared ε of SDEdit (and the ancestral sampler's fresh noise)
    clip_x0: bool = True  # clip the predicted x_0 in SDEdit's reverse process

    def validate(self, num_timesteps: int) -> None:
        SAMPLERS.lookup(self.method)
        if not self.t_values:
            raise ValueError("give at least one t")
        bad = [t for t in self.t_values if not 0 <= t < num_timesteps]
        if bad:
            raise ValueError(f"t={bad[0]} is out of range 0..{num_timesteps - 1} for T={num_timesteps} "
                             "(t is the 0-based timestep)")
        for name in ("steps", "inversion_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")


@dataclass
class ProbeModel:
    """A loaded model (EMA weights) with its diffusion and config; stays on the thread that loaded it."""

    model: torch.nn.Module
    diffusion: GaussianDiffusion
    image_shape: tuple[int, int, int]  # (C, H, W)
    data_source: str | None  # what it was trained on; None for a published (diffusers) model
    device: torch.device


def load_probe_model(checkpoint: str | Path, device: str | torch.device = "cpu") -> ProbeModel:
    device = resolve_device(device)
    loaded = load_for_sampling(checkpoint, device)  # a checkpoint or run, or a diffusers model folder
    return ProbeModel(loaded.model, loaded.diffusion, loaded.shape, loaded.data_source, device)


def probe_images(source: str | ImageSource, indices: Sequence[int], image_size: int, channels: int) -> torch.Tensor:
    """(B, C, H, W) in [-1, 1]: images `indices` of a source's usable images (files that cannot be decoded are
    skipped, as training, eval and the Dataset tab skip them), centre-cropped to the model's size, no flip."""
    source = open_source(source) if isinstance(source, str) else source
    if not indices or min(indices) < 0 or max(indices) >= len(source):
        bad = "(none)" if not indices else min(indices) if min(indices) < 0 else max(indices)
        raise ValueError(f"image index {bad} is outside 0..{len(source) - 1}")
    transform = ImageTransform(image_size, channels)
    usable: list[torch.Tensor] = []
    for i in range(len(source)):
        if len(usable) > max(indices):
            break
        try:
            usable.append(transform(source.load(i)))
        except (ImageDecodeError, OSError, ValueError) as exc:
            log.info("probe: skipping %s", exc)
    bad = [i for i in indices if i >= len(usable)]
    if bad:
        raise ValueError(f"image index {bad[0]} is outside 0..{len(usable) - 1} (the usable images of "
                         f"{source.spec})")
    return torch.stack([usable[i] for i in indices])


@dataclass(frozen=True)
class SDEditProbe:
    t_values: tuple[int, ...]
    originals: np.ndarray  # (B, H, W, C) uint8
    noised: np.ndarray  # (len(t), B, H, W, C) uint8: x_t
    reconstructions: np.ndarray  # (len(t), B, H, W, C) uint8
    mse: np.ndarray  # (len(t), B) mean squared error in [-1, 1] units
    mse_layout: np.ndarray  # (len(t), B) between the 4× average-pooled images
    mse_detail: np.ndarray  # (len(t), B) between what the low-pass leaves

    def mean_errors(self) -> list[tuple[int, float, float, float]]:
        """(t, mean MSE, mean layout MSE, mean detail MSE) per t: the error-vs-t curve."""
        return [(t, float(self.mse[i].mean()), float(self.mse_layout[i].mean()), float(self.mse_detail[i].mean()))
                for i, t in enumerate(self.t_values)]


def band_errors(x: torch.Tensor, ref: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(layout MSE, detail MSE), each (B,): the low-pass is a LAYOUT_POOL× average pool (at most H/2)."""
    k = max(1, min(LAYOUT_POOL, x.shape[-1] // 2))

    def split(a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        low = F.avg_pool2d(a, k)
        return low, a - F.interpolate(low, scale_factor=k, mode="nearest")

    (xl, xd), (rl, rd) = split(x.float()), split(ref.float())
    return (xl - rl).pow(2).flatten(1).mean(1), (xd - rd).pow(2).flatten(1).mean(1)


def sdedit_probe(probe: ProbeModel, images: torch.Tensor, settings: ProbeSettings | None = None, *,
                 should_stop: Callable[[], bool] | None = None,
                 on_progress: Callable[[int, int], None] | None = None) -> SDEditProbe | None:
    """SDEdit of `images` (B, C, H, W) at every t of the settings with one shared ε; None when stopped
    (checked between values of t). `on_progress(done, total)` counts values of t."""
    settings = settings or ProbeSettings()
    settings.validate(probe.diffusion.num_timesteps)
    x0 = images.to(probe.device, torch.float32)
    eps = torch.randn(x0.shape, generator=torch.Generator().manual_seed(settings.seed)).to(probe.device)
    rows = []
    for done, t in enumerate(settings.t_values):
        if should_stop is not None and should_stop():
            return None
        generator = torch.Generator().manual_seed(settings.seed + 1)
        rows.append(sdedit_sweep(probe.model, probe.diffusion, x0, [t], method=settings.method, steps=settings.steps,
                                 noise=eps, generator=generator, clip_x0=settings.clip_x0)[0])
        if on_progress is not None:
            on_progress(done + 1, len(settings.t_values))
    bands = [band_errors(r.reconstruction, x0) for r in rows]
    return SDEditProbe(tuple(settings.t_values), to_uint8(x0), np.stack([to_uint8(r.noised) for r in rows]),
                       np.stack([to_uint8(r.reconstruction) for r in rows]),
                       np.stack([r.mse.cpu().numpy() for r in rows]),
                       np.stack([b[0].cpu().numpy() for b in bands]), np.stack([b[1].cpu().numpy() for b in bands]))


@dataclass(frozen=True)
class InversionProbe:
    originals: np.ndarray  # (B, H, W, C) uint8
    latents: np.ndarray  # (B, C, H, W) float32 x_T (the interpolation's end points)
    latent_images: np.ndarray  # (B, H, W, C) uint8, x_T shown ±3σ
    reconstructions: np.ndarray  # (B, H, W, C) uint8
    mse: np.ndarray  # (B,)
    steps: int


def inversion_probe(probe: ProbeModel, images: torch.Tensor, steps: int) -> InversionProbe:
    """DDIM inversion of each image to x_T and its deterministic reconstruction, with the error."""
    if not 1 <= steps <= probe.diffusion.num_timesteps:
        raise ValueError(f"inversion steps must be in 1..T = {probe.diffusion.num_timesteps}, got {steps}")
    x0 = images.to(probe.device, torch.float32)
    result = invert_and_reconstruct(probe.model, probe.diffusion, x0, steps=steps)
    return InversionProbe(to_uint8(x0), result.latent.float().cpu().numpy(),
                          to_uint8(result.latent / LATENT_DISPLAY_RANGE), to_uint8(result.reconstruction),
                          result.mse.cpu().numpy(), steps)


@torch.no_grad()
def interpolation_frames(probe: ProbeModel, latent_a: np.ndarray, latent_b: np.ndarray, *,
                         frames: int = INTERPOLATION_FRAMES, steps: int = 50, batch_size: int = 16) -> np.ndarray:
    """(frames, H, W, C) uint8: slerp(z_a, z_b, α) for α evenly in [0, 1], each decoded by DDIM with η = 0 on
    the inversion's grid (so α = 0 and 1 are the two reconstructions)."""
    if frames < 2:
        raise ValueError(f"frames must be at least 2, got {frames}")
    za, zb = torch.as_tensor(latent_a)[None], torch.as_tensor(latent_b)[None]
    latents = torch.cat([slerp(za, zb, float(a)) for a in np.linspace(0.0, 1.0, frames)]).to(probe.device)
    out = []
    for first in range(0, frames, batch_size):
        z = latents[first:first + batch_size]
        grid = ddim_timesteps(probe.diffusion.num_timesteps, steps)  # the inversion's grid, walked back
        last = list(ddim_sample(probe.model, probe.diffusion, z.shape, timesteps=grid, eta=0.0, noise=z,
                                clip_x0=False, device=probe.device))[-1]
        out.append(to_uint8(last.xt))
    return np.concatenate(out)


@dataclass(frozen=True)
class ProbeOutcome:
    """One probe run, as both faces show it (uint8 arrays and numbers: it may cross from a worker thread)."""

    settings: ProbeSettings  # with the model's own t row and inversion steps filled in
    sdedit: SDEditProbe
    inversion: InversionProbe | None  # None unless asked for (or needed by the interpolation)
    frames: np.ndarray | None  # (F, H, W, C) uint8 interpolation of the first two images, None unless asked
    indices: tuple[int, ...]


def run_probe(checkpoint: str | Path, source: str | ImageSource | None, indices: Sequence[int],
              settings: ProbeSettings, *, device: str | torch.device = "cpu", inversion: bool = True,
              interpolation: int | None = INTERPOLATION_FRAMES, should_stop: Callable[[], bool] | None = None,
              on_progress: Callable[[str, int, int], None] | None = None) -> ProbeOutcome | None:
    """The whole probe of `indices` of `source` (None: the model's training data): SDEdit, then DDIM inversion
    when `inversion` (or an interpolation) is asked, then `interpolation` frames between the first two images
    (None: none). Empty `settings.t_values` mean the model's default row (`default_t_values`), and the
    inversion steps are at most T. `on_progress(stage, done, total)` counts t values, then the inversion;
    None when `should_stop` answered True (between t values, and before the interpolation)."""
    probe = load_probe_model(checkpoint, device)
    channels, size, _ = probe.image_shape
    T = probe.diffusion.num_timesteps
    settings = replace(settings, t_values=tuple(settings.t_values) or default_t_values(T),
                       inversion_steps=fit_steps(settings.inversion_steps, T))
    if source is None and probe.data_source is None:
        raise ValueError("a published model has no training data: give the images to probe")
    images = probe_images(source if source is not None else probe.data_source, indices, size, channels)
    invert = inversion or interpolation is not None
    total = len(settings.t_values) + int(invert)
    report = on_progress or (lambda _stage, _done, _total: None)
    sdedit = sdedit_probe(probe, images, settings, should_stop=should_stop,
                          on_progress=lambda done, _n: report("SDEdit", done, total))
    if sdedit is None:
        return None
    inverted = frames = None
    if invert:
        inverted = inversion_probe(probe, images, settings.inversion_steps)
        report("Inversion", total, total)
        if interpolation is not None and len(indices) >= 2:
            if should_stop is not None and should_stop():
                return None
            frames = interpolation_frames(probe, inverted.latents[0], inverted.latents[1], frames=interpolation,
                                          steps=settings.inversion_steps)
    return ProbeOutcome(settings, sdedit, inverted, frames, tuple(indices))


# ---- pictures -----------------------------------------------------------------------------------------

def _labelled(grid: np.ndarray, labels: Sequence[tuple[int, str]], scale: int = 1) -> np.ndarray:
    """`grid` (H, W, C) with a white header strip (16 px at scale 1), each label centred at its x."""
    height = 16 + 6 * (scale - 1)
    header = Image.new("RGB", (grid.shape[1], height), "white")
    draw = ImageDraw.Draw(header)
    try:
        font = ImageFont.load_default(size=10 + 3 * (scale - 1))
    except TypeError:  # Pillow < 10.1: one fixed bitmap font
        font = ImageFont.load_default()
    for x, text in labels:
        draw.text((x, height // 2), text, fill="black", font=font, anchor="mm")
    body = np.repeat(grid, 3, axis=2) if grid.shape[2] == 1 else grid
    return np.concatenate([np.asarray(header), body])


def sdedit_grid(result: SDEditProbe, *, scale: int = PICTURE_SCALE) -> np.ndarray:
    """(H, W, 3) uint8: rows = images; columns = the original, then per t the noised x_t | the reconstruction,
    with a header naming each column pair's t."""
    b, h, w, c = result.originals.shape
    columns = [result.originals]
    for i in range(len(result.t_values)):
        columns += [result.noised[i], result.reconstructions[i]]
    stacked = np.stack(columns, axis=1).reshape(-1, h, w, c)  # (B · columns, H, W, C), row-major
    grid = exports.tile(stacked, ncols=len(columns))
    if scale > 1:
        grid = grid.repeat(scale, axis=0).repeat(scale, axis=1)
    cell = (w + exports.PAD) * scale
    labels = [(exports.PAD * scale + cell // 2, "x0")]
    labels += [(exports.PAD * scale + cell * (1 + 2 * i) + cell, f"t={t}") for i, t in enumerate(result.t_values)]
    return _labelled(grid, labels, max(1, scale))


def inversion_strip(result: InversionProbe, *, scale: int = PICTURE_SCALE) -> np.ndarray:
    """(H, W, 3) uint8: one column per image; rows x_0, x_T (±3σ), reconstruction."""
    _, h, w, c = result.originals.shape
    rows = np.stack([result.originals, result.latent_images, result.reconstructions])  # (3, B, H, W, C)
    grid = exports.tile(rows.reshape(-1, h, w, c), ncols=result.originals.shape[0])
    return grid.repeat(scale, axis=0).repeat(scale, axis=1) if scale > 1 else grid


def save_interpolation(frames: np.ndarray, path: str | Path, *, scale: int = 4, fps: float = 12.0) -> Path:
    """Write the interpolation as a GIF (forth and back) or, for any other suffix, as a PNG strip."""
    path = Path(path)
    if path.suffix.lower() == ".gif":
        loop = list(frames) + list(frames[-2:0:-1])
        return exports.save_gif(path, loop, fps=fps, hold_last_s=0.0, scale=scale)
    return exports.save_png(path, exports.hstack(list(frames), gap=exports.PAD), scale=scale)
