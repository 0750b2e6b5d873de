"""Defaults that follow the data: the image size and channels proposed for an opened dataset.

A scan of the dataset (the GUI's background check, or any loop over a source) reports what it saw as a
`DataProfile`: how many valid images, how many hold no colour, and their shorter sides. `propose_data_shape`
turns it into a `DataShape`:

- channels: 1 when every image is grey (a grey file mode, or RGB pixels with R = G = B), else 3;
- image size: the typical (median) shorter side, since training resizes the shorter side and centre-crops,
  rounded to the nearest offered size on a log scale (28 px digits -> 32, 20 px -> 16), then capped to what the
  chosen UNet preset trains comfortably and raised to the smallest size it can halve enough times.

- horizontal flip: proposed off for small grey images (every image grey, typical side <= FLIP_OFF_MAX_SIDE px:
  digits, letters, glyphs, whose mirror image is a different or invalid symbol), on otherwise. This is a rule
  of thumb, not a measurement of the data (whether a mirrored image is still valid cannot be read from the
  pixels cheaply); it is shown in the proposal's reason so a person can overrule it.

Both faces follow the proposal: the GUI from its background scan's profile (dataset view, forward view, training
form), the CLI's `train --data` from `profile_source` (`follow_data`), which scans the same way. Qt-free.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

import numpy as np
from PIL import Image

from ddpm_studio.data.config import DataConfig
from ddpm_studio.data.decode import ORIGINAL_MODE_KEY
from ddpm_studio.data.sources import open_source
from ddpm_studio.engine.unet_config import DEFAULT_PRESET, UNET_PRESETS

PROPOSED_SIZES: tuple[int, ...] = (8, 16, 32, 64, 128, 256)  # square training sizes a proposal picks from
# The largest side each preset trains in reasonable time (see the presets' comments in engine/unet_config.py:
# "tiny" is made for 32×32 on a CPU, "small" for 32–64 px, "ddpm128" for 128×128).
PRESET_MAX_SIZE: dict[str, int] = {"tiny": 32, "small": 64, "ddpm128": 128}
GREY_TOLERANCE = 2  # largest |R-G| or |G-B| (8-bit) of an RGB image that still counts as grey (JPEG chroma noise)
GREY_CHECK_SIDE = 64  # the colour check looks at a reduction to at most this side (cheap on large photos)
FLIP_OFF_MAX_SIDE = 32  # all-grey images this small (digits, letters) get flip proposed off
PROFILE_LIMIT = 1024  # images `profile_source` decodes at most (evenly spread over a larger source)

log = logging.getLogger(__name__)


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
    """A proposed (image_size, channels, hflip) with the one-line reason a view can show."""

    image_size: int
    channels: int
    reason: str
    hflip: bool = True  # random horizontal flips (off for small grey symbol-like images)


def nearest_size(side: int, sizes: Sequence[int]) -> int:
    """The size of `sizes` nearest to `side` on a log scale (ties go to the larger)."""
    return min(sizes, key=lambda s: (abs(np.log2(s) - np.log2(max(side, 1))), -s))


def propose_data_shape(profile: DataProfile, preset: str | None = DEFAULT_PRESET,
                       sizes: Sequence[int] = PROPOSED_SIZES) -> DataShape:
    """The image size and channels the data suggests, capped to what `preset` handles (None: no cap)."""
    default = DataConfig()
    side = profile.typical_side()
    if side is None:
        return DataShape(default.image_size, default.channels, "no images checked yet: the usual defaults",
                         default.hflip)
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
    hflip = not (profile.all_grey and side <= FLIP_OFF_MAX_SIDE)
    flip = "flip on" if hflip else "flip off (small grey images such as digits change meaning when mirrored)"
    reason = (f"from the data: {profile.images:,} images, typical side {side} px, {colour} → "
              f"{size}×{size}, {channels} channel{'s' if channels > 1 else ''}{note}, {flip}")
    return DataShape(size, channels, reason, hflip)


def profile_source(source: str, *, limit: int = PROFILE_LIMIT) -> DataProfile:
    """Decode (up to `limit`, evenly spread) images of a source, as the GUI's scan does, and profile them.

    Undecodable files are left out (training skips them too); raises `DataSourceError` for a missing source."""
    opened = open_source(source)
    count = len(opened)
    indices = range(count) if count <= limit else (round(i * (count - 1) / (limit - 1)) for i in range(limit))
    sizes: dict[tuple[int, int], int] = {}
    grey = 0
    for index in indices:
        try:
            image = opened.load(index)
        except Exception:  # noqa: BLE001 - an unreadable file is training's problem to list, not the proposal's
            continue
        sizes[image.size] = sizes.get(image.size, 0) + 1
        grey += is_grey(image)
    return DataProfile.from_sizes(sizes.items(), grey, source=source)


def follow_data(data: DataConfig, preset: str | None, *, image_size: int | None, channels: int | None,
                hflip: bool | None, sizes: Sequence[int] = PROPOSED_SIZES) -> tuple[DataConfig, DataShape | None]:
    """`data` with the proposal for its source in every field not given (None), and the proposal (None when
    every field was given, so the data was not scanned). Logs what it chose."""
    if image_size is not None and channels is not None and hflip is not None:
        return replace(data, image_size=image_size, channels=channels, hflip=hflip), None
    shape = propose_data_shape(profile_source(data.source), preset, sizes)
    chosen = replace(data, image_size=shape.image_size if image_size is None else image_size,
                     channels=shape.channels if channels is None else channels,
                     hflip=shape.hflip if hflip is None else hflip)
    log.info("data %s: proposed %s; chosen %d px, %d channel(s), flip %s", data.source, shape.reason,
             chosen.image_size, chosen.channels, "on" if chosen.hflip else "off")
    return chosen, shape
