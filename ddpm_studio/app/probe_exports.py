"""The Probe's exports with the Sampler's options: a nearest-neighbour scale (auto: about 512 px) and captions.

Issue 22 N14: the Probe's exports were small (400×98) and uncaptioned, and its GIF 64×64 with no pause at the
ends. Here the SDEdit grid, the inversion strip (with its rows named) and the interpolation (a GIF that holds
at both images and names α on each frame, or a PNG strip) take an `ExportStyle`, like the Sampler's exports.
Qt-free; the Probe view calls these on the GUI thread (small pictures) and the CLI may too.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from ddpm_studio.app import exports
from ddpm_studio.app.probe import ProbeOutcome, inversion_strip, sdedit_grid
from ddpm_studio.app.recording import ExportStyle

INVERSION_ROWS = ("x0", "x_T", "recon.")  # the inversion strip's rows, top to bottom
GIF_FPS = 12.0
HOLD_S = 0.75  # each end of the interpolation is held this long in the GIF


def alphas(count: int) -> list[float]:
    """The slerp position α of each of `count` interpolation frames, 0 … 1."""
    return [i / max(count - 1, 1) for i in range(count)]


def with_row_labels(image: np.ndarray, labels: Sequence[str], *, font_px: int = exports.CAPTION_FONT_PX
                    ) -> np.ndarray:
    """`image` (H, W, 3) with a white column on its left naming each of its equal-height rows."""
    rows = len(labels)
    row_h = image.shape[0] / rows
    font = exports._font(font_px)  # the captions' font (same package)
    width = max(int(font.getlength(label)) for label in labels) + 2 * exports.CAPTION_MARGIN
    column = Image.new("RGB", (width, image.shape[0]), (255, 255, 255))
    draw = ImageDraw.Draw(column)
    for i, label in enumerate(labels):
        draw.text((exports.CAPTION_MARGIN, int((i + 0.5) * row_h)), label, fill=(0, 0, 0), font=font, anchor="lm")
    return np.concatenate([np.asarray(column), image[..., :3] if image.shape[-1] >= 3 else
                           np.repeat(image, 3, axis=-1)], axis=1)


def probe_caption(outcome: ProbeOutcome, model: str, what: str) -> list[str]:
    """The caption lines of one export: what it shows, the sampler, the model and the images."""
    s = outcome.settings
    images = ", ".join(f"#{i}" for i in outcome.indices)
    return [f"{what} · {model}", f"{s.method} · {s.steps} steps from each t · images {images}"]


def save_sdedit_grid(path: str | Path, outcome: ProbeOutcome, style: ExportStyle, model: str) -> Path:
    """The SDEdit grid (x0, then x_t | reconstruction per t) at the style's scale, captioned if asked."""
    factor = style.factor(sdedit_grid(outcome.sdedit, scale=1).shape)
    caption = probe_caption(outcome, model, "SDEdit: noised to t, then reversed") if style.captions else None
    return exports.save_png(path, sdedit_grid(outcome.sdedit, scale=factor), caption=caption)


def labelled_inversion(outcome: ProbeOutcome, scale: int) -> np.ndarray:
    """The inversion strip (one column per image) with its rows named x0, x_T, recon."""
    assert outcome.inversion is not None
    return with_row_labels(inversion_strip(outcome.inversion, scale=scale), INVERSION_ROWS)


def save_interpolation(path: str | Path, outcome: ProbeOutcome, style: ExportStyle, model: str) -> Path:
    """A .gif (forth and back, held at each image, α on each frame when captioned) or a PNG strip."""
    frames = outcome.frames
    if frames is None:
        raise ValueError("Run the probe on two or more images first.")
    factor = style.factor(frames[0].shape)
    a = alphas(len(frames))
    head = probe_caption(outcome, model, "interpolation of the inverted noises (slerp)")
    if Path(path).suffix.lower() != ".gif":
        strip = exports.hstack([exports.upscale(f, factor) for f in frames], gap=exports.PAD * factor)
        return exports.save_png(path, strip, caption=head if style.captions else None)
    hold = max(1, round(HOLD_S * GIF_FPS))
    order = [0] * hold + list(range(len(frames))) + [len(frames) - 1] * hold + list(range(len(frames) - 2, 0, -1))
    captions = [[head[0], f"alpha = {a[i]:.2f}"] for i in order] if style.captions else None
    return exports.save_gif(path, [frames[i] for i in order], fps=GIF_FPS, hold_last_s=0.0, scale=factor,
                            captions=captions)
