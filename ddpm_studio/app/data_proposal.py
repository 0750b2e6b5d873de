"""Defaults that follow the data: the image size and channels proposed for an opened dataset.

A scan of the dataset (the GUI's background check, or any loop over a source) reports what it saw as a
`DataProfile`: how many valid images, how many hold no colour, and their shorter sides. `propose_data_shape`
turns it into a `DataShape`:

- channels: 1 when every image is grey (a grey file mode, or RGB pixels with R = G = B), else 3;
- image size: the typical (median) shorter side, since training resizes the shorter side and centre-crops,
  rounded to the nearest offered size on a log scale (28 px digits -> 32, 20 px -> 16), then capped to what the
  chosen UNet preset trains comfortably and raised to the smallest size it can halve enough times.

Horizontal flip is not proposed: the data cannot tell whether mirrored images are still valid (digits and text
are not), so it stays the person's visible choice. Qt-free; the dataset view, the forward view and the training
form follow the proposal.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from ddpm_studio.data.config import DataConfig
from ddpm_studio.data.decode import ORIGINAL_MODE_KEY
from ddpm_studio.engine.unet_config import DEFAULT_PRESET, UNET_PRESETS

PROPOSED_SIZES: tuple[int, ...] = (8, 16, 32, 64, 128, 256)  # square training sizes a proposal picks from
# The largest side each preset trains in reasonable time (see the presets' comments in engine/unet_config.py:
# "tiny" is made for 32×32 on a CPU, "small" for 32–64 px, "ddpm128" for 128×128).
PRESET_MAX_SIZE: dict[str, int] = {"tiny": 32, "small": 64, "ddpm128": 128}
GREY_TOLERANCE = 2  # largest |R-G| or |G-B| (8-bit) of an RGB image that still counts as grey (JPEG chroma noise)
GREY_CHECK_SIDE = 64  # the colour check looks at a reduction to at most this side (cheap on large photos)


def original_mode(image: Image.Image) -> str:
    """The file's own Pillow mode ("RGBA", "CMYK", "I;16", "F", ...) of a decoded image; its mode otherwise."""
    return str(image.info.get(ORIGINAL_MODE_KEY, image.mode))


def is_grey(image: Image.Image) -> bool:
    """Whether a decoded image holds no colour: a one-channel mode, or RGB with R = G = B (within tolerance)."""
    if image.mode in ("1", "L", "LA", "I", "F") or image.mode.startswith("I;16"):
        return True
    factor = max(1, max(image.size) // GREY_CHECK_SIDE)
    small = image.reduce(factor) if factor > 1 else image
    rgb = np.asarray(small.convert("RGB"), dtype=np.int16)  # (H, W, 3)
    spread = max(int(np.abs(rgb[..., 0] - rgb[..., 1]).max()), int(np.abs(rgb[..., 1] - rgb[..., 2]).max()))
    return spread <= GREY_TOLERANCE


@dataclass(frozen=True)
class DataProfile:
    """What a scan saw of a dataset's valid images (a snapshot; it may cover the first part only)."""

    images: int  # valid images seen
    grey: int  # of which hold no colour
    sides: tuple[tuple[int, int], ...] = ()  # (shorter side, count), most common first
    source: str = ""  # the dataset's spec, so a follower can tell which data it describes

    @classmethod
    def from_sizes(cls, sizes: Iterable[tuple[tuple[int, int], int]], grey: int, source: str = "") -> DataProfile:
        """From ((width, height), count) pairs, as the scan counts them."""
        sides: dict[int, int] = {}
        for (width, height), count in sizes:
            sides[min(width, height)] = sides.get(min(width, height), 0) + int(count)
        ordered = tuple(sorted(sides.items(), key=lambda item: (-item[1], item[0])))
        return cls(images=sum(sides.values()), grey=int(grey), sides=ordered, source=source)

    def typical_side(self) -> int | None:
        """The median shorter side (None without images)."""
        total = sum(count for _side, count in self.sides)
        if total == 0:
            return None
        seen = 0
        for side, count in sorted(self.sides):
            seen += count
            if 2 * seen >= total:
                return side
        return None  # unreachable

    @property
    def all_grey(self) -> bool:
        return self.images > 0 and self.grey >= self.images


@dataclass(frozen=True)
class DataShape:
    """A proposed (image_size, channels) with the one-line reason a view can show."""

    image_size: int
    channels: int
    reason: str


def nearest_size(side: int, sizes: Sequence[int]) -> int:
    """The size of `sizes` nearest to `side` on a log scale (ties go to the larger)."""
    return min(sizes, key=lambda s: (abs(np.log2(s) - np.log2(max(side, 1))), -s))


def propose_data_shape(profile: DataProfile, preset: str | None = DEFAULT_PRESET,
                       sizes: Sequence[int] = PROPOSED_SIZES) -> DataShape:
    """The image size and channels the data suggests, capped to what `preset` handles (None: no cap)."""
    default = DataConfig()
    side = profile.typical_side()
    if side is None:
        return DataShape(default.image_size, default.channels, "no images checked yet: the usual defaults")
    channels = 1 if profile.all_grey else 3
    size = nearest_size(side, sizes)
    note = ""
    if preset in UNET_PRESETS:
        most = PRESET_MAX_SIZE.get(preset, max(sizes))
        least = 2 * UNET_PRESETS[preset].size_multiple
        if size > most:
            size, note = max(s for s in sizes if s <= most), f", capped at {most} px for the '{preset}' preset"
        elif size < least:
            size, note = min(s for s in sizes if s >= least), f", raised to {least} px for the '{preset}' preset"
    colour = "all grey" if channels == 1 else "colour"
    reason = (f"from the data: {profile.images:,} images, typical side {side} px, {colour} → "
              f"{size}×{size}, {channels} channel{'s' if channels > 1 else ''}{note}")
    return DataShape(size, channels, reason)
