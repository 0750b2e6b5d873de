"""Every picture DDPM Studio writes for a person: image grids, per-image PNGs, GIF animations, strips of steps.

The one implementation both faces use (the CLI's `sample`/`noise`, the sampler view's exports). Pure numpy +
Pillow. Every function takes uint8 arrays shaped (H, W, C) (a composed frame) or (B, H, W, C) (a batch of
images), C = 1 or 3, and writes through `ddpm_studio.atomic.atomic_write` (temporary file, fsync, rename),
so an interrupted export never leaves half a file.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from ddpm_studio.atomic import atomic_write
from ddpm_studio.data.transforms import make_grid

PAD = 2  # pixels between tiles, as in the preview grids
GIF_FRAMES = 50  # frames of a reverse-process GIF written by the CLI (spread evenly over the steps)


def _to_pil(image: np.ndarray, scale: int = 1) -> Image.Image:
    """(H, W, C) uint8 -> PIL image ('L' for one channel, 'RGB' for three), nearest-upscaled."""
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] not in (1, 3):
        raise ValueError(f"expected a (H, W, 1|3) uint8 image, got {image.shape} {image.dtype}")
    pil = Image.fromarray(image[:, :, 0], "L") if image.shape[2] == 1 else Image.fromarray(image, "RGB")
    if scale > 1:
        pil = pil.resize((pil.width * scale, pil.height * scale), Image.Resampling.NEAREST)
    return pil


def _atomic_save(path: Path, save: Callable[[Path], None]) -> Path:
    """Call `save(tmp_path)`, then fsync and rename onto `path` (`ddpm_studio.atomic.atomic_write`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, save, what=path.name)
    return path


def tile(images: np.ndarray, ncols: int | None = None, pad: int = PAD) -> np.ndarray:
    """(B, H, W, C) -> one (H', W', C) grid with white gaps (`ddpm_studio.data.transforms.make_grid`)."""
    return make_grid(images, ncols=ncols, pad=pad, pad_value=255)


def hstack(panels: Sequence[np.ndarray], gap: int = 6, fill: int = 255) -> np.ndarray:
    """Place (H, W, C) panels left to right, top-aligned, `gap` px apart (channels promoted to 3)."""
    if not panels:
        raise ValueError("nothing to place")
    channels = max(p.shape[2] for p in panels)
    panels = [np.repeat(p, 3, axis=2) if p.shape[2] < channels else p for p in panels]
    height = max(p.shape[0] for p in panels)
    width = sum(p.shape[1] for p in panels) + gap * (len(panels) - 1)
    out = np.full((height, width, channels), fill, np.uint8)
    x = 0
    for p in panels:
        out[:p.shape[0], x:x + p.shape[1]] = p
        x += p.shape[1] + gap
    return out


def vstack(panels: Sequence[np.ndarray], gap: int = 6, fill: int = 255) -> np.ndarray:
    """Place (H, W, C) panels top to bottom, left-aligned, `gap` px apart."""
    rotated = [np.ascontiguousarray(p.transpose(1, 0, 2)) for p in panels]
    return np.ascontiguousarray(hstack(rotated, gap, fill).transpose(1, 0, 2))


def compose(lanes: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray | None]]) -> np.ndarray:
    """One animation frame: per lane a row of grids x_t | predicted x_0 [| predicted ε], lanes stacked."""
    if not lanes:
        raise ValueError("Nothing to export yet: sample first.")
    rows = [hstack([tile(xt), tile(x0)] + ([tile(eps)] if eps is not None else [])) for xt, x0, eps in lanes]
    return vstack(rows)


def save_png(path: str | Path, image: np.ndarray, *, scale: int = 1) -> Path:
    """Write one (H, W, C) uint8 image (for instance the final sample grid) as PNG."""
    pil = _to_pil(image, scale)
    return _atomic_save(Path(path), lambda tmp: pil.save(tmp, format="PNG"))


def save_images(folder: str | Path, images: np.ndarray, *, prefix: str = "sample_") -> list[Path]:
    """Write each (H, W, C) image of a (B, H, W, C) batch as `<prefix><i:03d>.png` in `folder`."""
    return [save_png(Path(folder) / f"{prefix}{i:03d}.png", image) for i, image in enumerate(images)]


def save_gif(path: str | Path, frames: Sequence[np.ndarray], *, fps: float = 12.0,
             hold_last_s: float = 1.5, scale: int = 1, loop: bool = True) -> Path:
    """Write (H, W, C) uint8 frames as an animated GIF, one GIF frame per input frame.

    The last frame is held `hold_last_s` longer (a longer duration, not repeated frames: Pillow merges
    identical consecutive frames, so repeating would change the frame count).
    """
    if not frames:
        raise ValueError("no frames to export")
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    images = [_to_pil(f, scale).convert("RGB") for f in frames]
    frame_ms = max(20, int(round(1000.0 / fps)))  # browsers clamp < 20 ms
    durations = [frame_ms] * len(images)
    durations[-1] = frame_ms + int(hold_last_s * 1000)

    def save(tmp: Path) -> None:
        images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], duration=durations,
                       loop=0 if loop else 1, disposal=1, optimize=False)

    return _atomic_save(Path(path), save)


def make_strip(batches: Sequence[np.ndarray], *, rows: int = 4, pad: int = PAD) -> np.ndarray:
    """Ho et al. Fig. 6 style strip: one column per chosen step, one row per sample.

    `batches[j]` is the (B, H, W, C) batch shown at the j-th chosen step (typically the predicted x_0
    or x_t); the first `rows` samples of each become column j.
    """
    if not batches:
        raise ValueError("choose at least one step for the strip")
    b, h, w, c = batches[0].shape
    rows = max(1, min(rows, b))
    cols = [tile(batch[:rows], ncols=1, pad=pad) for batch in batches]
    return hstack(cols, gap=0)


def parse_steps(text: str, num_frames: int) -> list[int]:
    """'0, 10, 25, -1' -> frame indices in range; negative counts from the end. ValueError if bad."""
    indices: list[int] = []
    for part in text.replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        try:
            value = int(part)
        except ValueError:
            raise ValueError(f"not a step number: {part!r}") from None
        if value < 0:
            value += num_frames
        if not 0 <= value < num_frames:
            raise ValueError(f"step {part} is outside 0..{num_frames - 1}")
        indices.append(value)
    if not indices:
        raise ValueError("list the steps to put in the strip, e.g. 0, 10, 20, -1")
    return indices


def even_steps(num_frames: int, count: int = 8) -> list[int]:
    """`count` frame indices spread evenly from the first to the last frame."""
    if num_frames <= 0:
        return []
    count = max(1, min(count, num_frames))
    if count == 1:
        return [num_frames - 1]
    return sorted({round(i * (num_frames - 1) / (count - 1)) for i in range(count)})
