"""Inpainting as both faces run it: fill the masked region of a few images with a model, several fills per image,
plain replacement and RePaint side by side, and measure each fill against the truth.

The measurements (for images whose truth is known: the image before it was masked):
- masked error: the mean squared error over the filled pixels, fill against truth (in [-1, 1] units);
- seam error: the same over the filled pixels within SEAM_PX of a known pixel, where a fill that ignores its
  surroundings shows first (RePaint's resampling exists to lower it);
- copies: the nearest-training-image ratio test (Carlini et al. 2023, `evaluation.memorisation`) over the whole
  filled images, against the model's training images, as `eval` flags copies.
Qt-free: `ddpm-studio inpaint` and the GUI call `run_inpainting`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ddpm_studio.app.sampling import LoadedModel, load_for_sampling
from ddpm_studio.data.config import DataConfig
from ddpm_studio.data.dataset import load_dataset
from ddpm_studio.data.transforms import to_uint8
from ddpm_studio.engine import SAMPLERS
from ddpm_studio.engine.inpainting import RePaintConfig, inpaint, inpaint_nfe
from ddpm_studio.evaluation.memorisation import memorisation
from ddpm_studio.training.quality_monitor import dataset_images

__all__ = ["InpaintSettings", "InpaintFills", "InpaintOutcome", "InpaintCancelled", "run_inpainting",
           "inpainting_cost", "fill_errors", "MODES", "SEAM_PX"]

MODES: tuple[str, ...] = ("replace", "repaint")
SEAM_PX = 2  # the seam: filled pixels within this many pixels of a known one
MAX_TRAINING_IMAGES = 4096  # the copy check compares with at most this many training images


class InpaintCancelled(Exception):
    """The person stopped the inpainting."""


@dataclass(frozen=True)
class InpaintSettings:
    """One inpainting run. RePaint's jump length 10 is the paper's; 5 resamplings (the paper's 10 on DDPM's 250
    steps) keep the cost at 5x one sampling on a CPU."""

    method: str = "ddim"  # a row of the sampler table
    steps: int = 50
    jump_length: int = 10
    resample: int = 5  # RePaint's runs per segment; the "replace" mode always runs once
    fills: int = 4  # fills per image, from different seeds
    seed: int = 0
    modes: tuple[str, ...] = MODES
    clip_x0: bool = True

    def validate(self, num_timesteps: int) -> None:
        SAMPLERS.lookup(self.method).num_steps(self.steps, num_timesteps)
        RePaintConfig(self.jump_length, self.resample).validate()
        if isinstance(self.fills, bool) or not isinstance(self.fills, int) or not 1 <= self.fills <= 64:
            raise ValueError(f"fills must be an integer in 1..64, got {self.fills!r}")
        bad = [m for m in self.modes if m not in MODES]
        if bad or not self.modes:
            raise ValueError(f"modes must be among {', '.join(MODES)}, got {', '.join(bad) or 'none'}")

    def repaint(self, mode: str) -> RePaintConfig:
        return RePaintConfig(self.jump_length, self.resample if mode == "repaint" else 1)


@dataclass(frozen=True)
class InpaintFills:
    """The fills of one mode: uint8 images and their errors against the truth."""

    mode: str
    nfe: int  # network evaluations per fill
    images: np.ndarray  # (fills, B, H, W, C) uint8
    masked_mse: np.ndarray  # (fills, B)
    seam_mse: np.ndarray  # (fills, B)
    copies: np.ndarray | None = None  # (fills, B) bool: flagged by the ratio test; None without training images

    def summary(self) -> dict[str, float]:
        out = {"nfe": float(self.nfe), "masked_mse": float(self.masked_mse.mean()),
               "seam_mse": float(self.seam_mse.mean())}
        if self.copies is not None:
            out["copied_share"] = float(self.copies.mean())
        return out


@dataclass(frozen=True)
class InpaintOutcome:
    settings: InpaintSettings
    originals: np.ndarray  # (B, H, W, C) uint8
    masked: np.ndarray  # (B, H, W, C) uint8: the input with the region to fill greyed
    mask: np.ndarray  # (H, W) bool, True = filled
    results: tuple[InpaintFills, ...] = field(default=())


def inpainting_cost(method: str, steps: int, num_timesteps: int, settings: InpaintSettings, mode: str) -> int:
    """NFE of one fill of `mode` (shown before running)."""
    return inpaint_nfe(method, steps, num_timesteps, settings.repaint(mode))


def fill_errors(fills: torch.Tensor, truth: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(masked MSE, seam MSE), each (B,): over the filled pixels, and over those within SEAM_PX of a known one."""
    fill = mask.expand_as(truth[:, :1])
    near_known = F.max_pool2d(1.0 - fill, 2 * SEAM_PX + 1, stride=1, padding=SEAM_PX)
    seam = fill * near_known
    error = (fills.float() - truth.float()).pow(2).mean(1, keepdim=True)  # (B, 1, H, W)

    def mean_over(region: torch.Tensor) -> torch.Tensor:
        return (error * region).flatten(1).sum(1) / region.flatten(1).sum(1).clamp_min(1.0)

    return mean_over(fill), mean_over(seam)


def _training_images(loaded: LoadedModel) -> torch.Tensor | None:
    if loaded.data_source is None:
        return None
    channels, size, _ = loaded.shape
    dataset = load_dataset(DataConfig(source=loaded.data_source, image_size=size, channels=channels, hflip=False))
    images = dataset_images(dataset)
    return images[:MAX_TRAINING_IMAGES]


def run_inpainting(checkpoint: str | Path, images: torch.Tensor, mask: torch.Tensor,
                   settings: InpaintSettings | None = None, *, device: str | torch.device = "cpu",
                   check_copies: bool = True, should_stop: Callable[[], bool] | None = None,
                   on_progress: Callable[[str, int, int], None] | None = None) -> InpaintOutcome:
    """Fill `mask` (1, 1, H, W; 1 = fill, checked by `inpainting_masks.check_mask`) of `images` (B, C, H, W) in
    [-1, 1] with the model at `checkpoint`, `settings.fills` times per image for each mode."""
    settings = settings or InpaintSettings()
    loaded = load_for_sampling(checkpoint, device)
    settings.validate(loaded.diffusion.num_timesteps)
    if tuple(images.shape[1:]) != loaded.shape:
        raise ValueError(f"the images are {tuple(images.shape[1:])} and the model makes {loaded.shape} "
                         "(channels, height, width)")
    stop = should_stop or (lambda: False)
    device_ = next(loaded.model.parameters()).device
    x0, known = images.to(device_), (1.0 - mask).to(device_)
    training = _training_images(loaded) if check_copies else None
    results = []
    for mode in settings.modes:
        fills = _fills(loaded, x0, known, settings, mode, stop, on_progress)
        masked, seam = zip(*(fill_errors(f, images, mask) for f in fills))
        copies = None
        if training is not None:
            flat = torch.cat(list(fills))
            copies = memorisation(flat, training).memorised.reshape(len(fills), -1).numpy()
        results.append(InpaintFills(mode, inpainting_cost(settings.method, settings.steps,
                                                          loaded.diffusion.num_timesteps, settings, mode),
                                    np.stack([to_uint8(f) for f in fills]), torch.stack(masked).numpy(),
                                    torch.stack(seam).numpy(), copies))
    greyed = images * (1 - mask) + 0.0 * mask  # the region to fill shown mid-grey
    return InpaintOutcome(settings, to_uint8(images), to_uint8(greyed), mask[0, 0].bool().numpy(), tuple(results))


def _fills(loaded: LoadedModel, x0: torch.Tensor, known: torch.Tensor, settings: InpaintSettings, mode: str,
           stop: Callable[[], bool], on_progress: Callable[[str, int, int], None] | None) -> list[torch.Tensor]:
    """`settings.fills` fills (each (B, C, H, W) on the CPU, in [-1, 1]) of one mode, seeds seed, seed + 1, ..."""
    out = []
    for k in range(settings.fills):
        seed = settings.seed + k
        steps = inpaint(loaded.model, loaded.diffusion, x0, known, method=settings.method, steps=settings.steps,
                        repaint=settings.repaint(mode), generator=torch.Generator().manual_seed(seed),
                        constraint_generator=torch.Generator().manual_seed(seed + 1_000_003),
                        clip_x0=settings.clip_x0)
        last = None
        for last in steps:
            if stop():
                raise InpaintCancelled("inpainting cancelled")
            if on_progress is not None:
                on_progress(mode, k * last.num_steps + last.index + 1, settings.fills * last.num_steps)
        assert last is not None
        out.append(last.xt.detach().float().cpu().clamp(-1.0, 1.0))
    return out


def inpainting_grid(outcome: InpaintOutcome, mode: str) -> np.ndarray:
    """One row per image: the original, the masked input, then its fills (uint8 (rows·H, cols·W, C), 1 px gaps)."""
    from ddpm_studio.app import exports

    fills = next(r for r in outcome.results if r.mode == mode).images  # (F, B, H, W, C)
    rows = [np.concatenate([outcome.originals[b][None], outcome.masked[b][None], fills[:, b]])
            for b in range(outcome.originals.shape[0])]
    return exports.tile(np.concatenate(rows), ncols=2 + fills.shape[0])


def load_images(source: str, indices: Sequence[int], shape: tuple[int, int, int]) -> torch.Tensor:
    """Images `indices` of a data source (folder, zip, builtin) or one image file, at the model's (C, H, W)."""
    from ddpm_studio.app.probe import probe_images

    channels, size, _ = shape
    path = Path(source)
    if path.is_file() and path.suffix.lower() in (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif", ".tif", ".tiff"):
        from PIL import Image

        from ddpm_studio.data.transforms import ImageTransform

        with Image.open(path) as image:
            if channels == 1 and image.mode not in ("L", "LA", "I", "I;16", "1", "P"):
                rgb = np.asarray(image.convert("RGB"), dtype=np.int16)
                if np.abs(rgb - rgb.mean(-1, keepdims=True)).max() > 8:
                    raise ValueError(f"{path.name} is a colour image and the model makes grey images; give a grey "
                                     "image (or convert it first)")
            return ImageTransform(size, channels)(image.copy())[None]
    return probe_images(source, indices, size, channels)
