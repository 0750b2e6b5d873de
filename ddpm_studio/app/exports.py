"""Every picture DDPM Studio writes for a person: image grids, per-image PNGs, GIF animations, strips of steps.

The one implementation both faces use (the CLI's `sample`/`noise`, the sampler view's exports). Pure numpy +
Pillow. Every function takes uint8 arrays shaped (H, W, C) (a composed frame) or (B, H, W, C) (a batch of
images), C = 1 or 3, and writes through `ddpm_studio.atomic.atomic_write` (temporary file, fsync, rename),
so an interrupted export never leaves half a file.

Pictures for people: `upscale` enlarges with nearest-neighbour (crisp 32x32 pixels, no blur; `auto_scale`
picks the factor that brings the longest side near `AUTO_TARGET_PX`), and `captioned` adds a white band of text
(Pillow's bundled default font, nothing downloaded) above a picture, after scaling, so the text stays sharp.

Long exports (a GIF of hundreds of frames takes seconds to quantise) are chunked: `save_gif` takes frames
as any sequence (a lazy one composes each frame when it is reached), reports `progress(done, total)` after
each frame and checks `should_stop()` between frames; a stop raises `ExportCancelled` and, through the atomic
write, leaves no file behind. The GUI runs these on a worker thread; the CLI calls them directly.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ddpm_studio.atomic import atomic_write
from ddpm_studio.data.transforms import make_grid

PAD = 2  # pixels between tiles, as in the preview grids
GIF_FRAMES = 50  # frames of a reverse-process GIF written by the CLI (spread evenly over the steps)
AUTO_TARGET_PX = 512  # `auto_scale` brings the longest side near this many pixels
MAX_SCALE = 16
CAPTION_FONT_PX = 13
CAPTION_MARGIN = 4  # px around each caption line
# Pillow's bundled font has no Greek letters nor combining marks: the captions spell them out.
CAPTION_WORDS = {"x̂₀": "x0", "ε̂": "eps", "η": "eta", "ε": "eps", "₀": "0", "×": "x", "…": "..."}

Progress = Callable[[int, int], None]  # (done, total), called from the exporting thread
StopCheck = Callable[[], bool]


class ExportCancelled(Exception):
    """An export stopped on request; no file was written (the temporary file is removed)."""


def upscale(image: np.ndarray, scale: int) -> np.ndarray:
    """(H, W, C) -> (scale·H, scale·W, C) by nearest neighbour (each pixel becomes a scale x scale block)."""
    if scale <= 1:
        return image
    return np.repeat(np.repeat(image, scale, axis=0), scale, axis=1)


def auto_scale(shape: Sequence[int], target: int = AUTO_TARGET_PX, limit: int = MAX_SCALE) -> int:
    """The integer factor that brings the longest side of an (H, W, ...) picture nearest `target` px (>= 1)."""
    longest = max(int(shape[0]), int(shape[1]), 1)
    return max(1, min(limit, round(target / longest)))


@functools.lru_cache(maxsize=4)
def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=size)  # Pillow's bundled font: no file or download needed


def caption_text(text: str) -> str:
    """`text` in the characters the caption font has (`CAPTION_WORDS`)."""
    for symbol, word in CAPTION_WORDS.items():
        text = text.replace(symbol, word)
    return text


def _fit(draw: ImageDraw.ImageDraw, text: str, font, width: int) -> str:
    """`text`, cut with an ellipsis until it fits `width` px."""
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "...", font=font) > width:
        text = text[:-1]
    return text + "..."


def _wrap(draw: ImageDraw.ImageDraw, text: str, font, width: int) -> list[str]:
    """`text` broken at its " · " separators into lines that fit `width` px (a part too long is cut)."""
    lines: list[str] = []
    for part in text.split(" · "):
        joined = f"{lines[-1]} · {part}" if lines else part
        if lines and draw.textlength(joined, font=font) <= width:
            lines[-1] = joined
        else:
            lines.append(part)
    return [_fit(draw, line, font, width) for line in lines]


def caption_band(width: int, lines: Sequence[str], *, font_px: int = CAPTION_FONT_PX) -> np.ndarray:
    """A white (h, width, 3) uint8 band with `lines` of black text, one under the other, left-aligned (a line
    too wide for the band wraps at its " · " separators)."""
    font = _font(font_px)
    room = max(1, width - 2 * CAPTION_MARGIN)
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    wrapped = [row for text in lines for row in _wrap(measure, caption_text(text), font, room)]
    line_h = font_px + CAPTION_MARGIN
    band = Image.new("RGB", (max(1, width), line_h * len(wrapped) + CAPTION_MARGIN), "white")
    draw = ImageDraw.Draw(band)
    for i, text in enumerate(wrapped):
        draw.text((CAPTION_MARGIN, CAPTION_MARGIN + i * line_h), text, fill="black", font=font)
    return np.asarray(band)


def captioned(image: np.ndarray, lines: Sequence[str] | str | None, *, font_px: int = CAPTION_FONT_PX) -> np.ndarray:
    """`image` (H, W, C) with a caption band above it (channels promoted to 3); unchanged without lines."""
    if not lines:
        return image
    lines = [lines] if isinstance(lines, str) else list(lines)
    rgb = np.repeat(image, 3, axis=2) if image.shape[2] == 1 else image
    return np.concatenate([caption_band(rgb.shape[1], lines, font_px=font_px), rgb], axis=0)


def labelled_panels(panels: Sequence[tuple[np.ndarray, str]], *, scale: int = 1, gap: int = 8) -> np.ndarray:
    """Pictures side by side, each upscaled and captioned with its own label (which half is which); the bands
    are padded to one height so the pictures stay aligned."""
    scaled = [upscale(image, scale) for image, _ in panels]
    bands = [caption_band(image.shape[1], [label]) for image, (_, label) in zip(scaled, panels)]
    height = max(band.shape[0] for band in bands)
    bands = [np.pad(band, ((0, height - band.shape[0]), (0, 0), (0, 0)), constant_values=255) for band in bands]
    rgb = [np.repeat(image, 3, axis=2) if image.shape[2] == 1 else image for image in scaled]
    return hstack([np.concatenate([band, image], axis=0) for band, image in zip(bands, rgb)], gap=gap)


ROW_LABEL_MAX_PX = 160  # a row's name longer than this is cut with an ellipsis


def label_grid_rows(grid: np.ndarray, names: Sequence[str], *, image_height: int, scale: int = 1, pad: int = PAD,
                    font_px: int = CAPTION_FONT_PX, top: int = 0) -> np.ndarray:
    """`grid` (a `tile` of one row per name, upscaled by `scale`, starting `top` px down: under column headings)
    with each row's name to its left, centred on the row ("all classes": the class of each row). Channels are
    promoted to 3."""
    font = _font(font_px)
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    texts = [_fit(measure, caption_text(name), font, ROW_LABEL_MAX_PX) for name in names]
    width = int(max((measure.textlength(text, font=font) for text in texts), default=0)) + 2 * CAPTION_MARGIN
    column = Image.new("RGB", (width, grid.shape[0]), "white")
    draw = ImageDraw.Draw(column)
    for i, text in enumerate(texts):
        centre = top + (pad + i * (image_height + pad) + image_height / 2) * scale
        draw.text((CAPTION_MARGIN, round(centre - font_px / 2)), text, fill="black", font=font)
    rgb = np.repeat(grid, 3, axis=2) if grid.shape[2] == 1 else grid
    return np.concatenate([np.asarray(column), rgb], axis=1)


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


def save_png(path: str | Path, image: np.ndarray, *, scale: int = 1,
             caption: Sequence[str] | str | None = None) -> Path:
    """Write one (H, W, C) uint8 image (for instance the final sample grid) as PNG, nearest-upscaled by
    `scale` and with an optional caption band above it (added after scaling: sharp text)."""
    pil = _to_pil(captioned(upscale(image, scale), caption))
    return _atomic_save(Path(path), lambda tmp: pil.save(tmp, format="PNG"))


def save_images(folder: str | Path, images: np.ndarray, *, prefix: str = "sample_") -> list[Path]:
    """Write each (H, W, C) image of a (B, H, W, C) batch as `<prefix><i:03d>.png` in `folder`."""
    return [save_png(Path(folder) / f"{prefix}{i:03d}.png", image) for i, image in enumerate(images)]


def save_gif(path: str | Path, frames: Sequence[np.ndarray], *, fps: float = 12.0,
             hold_last_s: float = 1.5, scale: int = 1, loop: bool = True,
             captions: Sequence[str | Sequence[str]] | None = None,
             progress: Progress | None = None, should_stop: StopCheck | None = None) -> Path:
    """Write (H, W, C) uint8 frames as an animated GIF, one GIF frame per input frame.

    `frames` may be lazy (any sequence: a frame is read when the encoder reaches it). `captions[i]` is the
    caption of frame i (say its step and t). `progress(done, total)` follows the frames (total = frames + 1:
    the last unit is the final write); `should_stop()` is checked before each frame and a True answer raises
    `ExportCancelled` with no file left behind. The last frame is held `hold_last_s` longer (a longer
    duration, not repeated frames: Pillow merges identical consecutive frames).
    """
    count = len(frames)
    if count == 0:
        raise ValueError("no frames to export")
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    if captions is not None and len(captions) != count:
        raise ValueError(f"{len(captions)} captions for {count} frames")
    frame_ms = max(20, int(round(1000.0 / fps)))  # browsers clamp < 20 ms
    durations = [frame_ms] * count
    durations[-1] = frame_ms + int(hold_last_s * 1000)

    def frame(i: int) -> Image.Image:
        if should_stop is not None and should_stop():
            raise ExportCancelled("export cancelled")
        picture = captioned(upscale(frames[i], scale), captions[i] if captions is not None else None)
        image = _to_pil(picture).convert("RGB")
        if progress is not None:
            progress(i, count + 1)  # frame i is being encoded (Pillow quantises it after this returns)
        return image

    def rest() -> Iterator[Image.Image]:
        for i in range(1, count):
            yield frame(i)

    def save(tmp: Path) -> None:
        frame(0).save(tmp, format="GIF", save_all=True, append_images=rest(), duration=durations,
                      loop=0 if loop else 1, disposal=1, optimize=False)

    written = _atomic_save(Path(path), save)
    if progress is not None:
        progress(count + 1, count + 1)
    return written


def make_strip(batches: Sequence[np.ndarray], *, rows: int = 4, pad: int = PAD, scale: int = 1,
               column_labels: Sequence[str] | None = None) -> np.ndarray:
    """Ho et al. Fig. 6 style strip: one column per chosen step, one row per sample.

    `batches[j]` is the (B, H, W, C) batch shown at the j-th chosen step (typically the predicted x_0
    or x_t); the first `rows` samples of each become column j, nearest-upscaled by `scale` and headed by
    `column_labels[j]` when given (say "t = 980").
    """
    if not batches:
        raise ValueError("choose at least one step for the strip")
    if column_labels is not None and len(column_labels) != len(batches):
        raise ValueError(f"{len(column_labels)} labels for {len(batches)} columns")
    b, h, w, c = batches[0].shape
    rows = max(1, min(rows, b))
    cols = [upscale(tile(batch[:rows], ncols=1, pad=pad), scale) for batch in batches]
    if column_labels is not None:
        cols = [captioned(col, label, font_px=min(CAPTION_FONT_PX, max(8, col.shape[1] // 5)))
                for col, label in zip(cols, column_labels)]
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
