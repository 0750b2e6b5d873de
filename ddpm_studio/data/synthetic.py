"""Built-in synthetic image sets, drawn in code so the app has real data on first launch (no downloads).

- "shapes": one coloured circle, square or triangle on a plain background; colour, size, position and
  rotation vary.
- "glyphs": a letter or digit (A-Z, 0-9) drawn with the font Pillow ships
  (`ImageFont.load_default(size=...)`), with a small random affine jitter (rotation, scale, shear, shift).

Item `i` is generated lazily and deterministically from the seed sequence (seed, kind, i), so the same
index always gives the same pixels. Images are rendered at `size` (default 64x64) with 4x (shapes) or 2x
(glyphs) supersampling; a caller needing a larger image passes `min_size` and gets the same drawing rendered
at that size.

Spec strings: ``"builtin:shapes"`` (defaults) or ``"builtin:glyphs?n=2000&size=64&seed=0"`` where
n = number of items (default 4096), size = render size, seed = the set's seed (default 0).
"""

from __future__ import annotations

import colorsys
import math
import threading
from urllib.parse import parse_qsl

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ddpm_studio.data.problems import DataSourceError

__all__ = ["BUILTIN_CLASSES", "BUILTIN_DATASETS", "DEFAULT_COUNT", "SyntheticSource", "parse_builtin_spec",
           "BUILTIN_PREFIX"]

BUILTIN_PREFIX = "builtin:"
BUILTIN_DATASETS: tuple[str, ...] = ("shapes", "glyphs")
DEFAULT_COUNT = 4096  # items per built-in set unless the spec says ?n=...
DEFAULT_SIZE = 64  # render size in pixels
MAX_COUNT = 1_000_000
SUPERSAMPLE = 4  # shapes: polygons drawn at 4x, box-filtered down (antialiasing)
GLYPH_SUPERSAMPLE = 2  # glyphs: already antialiased by FreeType and the bilinear warp
GLYPH_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
SHAPE_CLASSES: tuple[str, ...] = ("circle", "square", "triangle")  # render_shape's kinds 0, 1, 2
BUILTIN_CLASSES: dict[str, tuple[str, ...]] = {"shapes": SHAPE_CLASSES, "glyphs": tuple(GLYPH_CHARS)}
_KIND_SALT = {"shapes": 1, "glyphs": 2}
_PARAMS = {"n": DEFAULT_COUNT, "size": DEFAULT_SIZE, "seed": 0}


def parse_builtin_spec(spec: str) -> tuple[str, dict[str, int]]:
    """Split ``"builtin:shapes?n=2000"`` into ("shapes", {"n": 2000, "size": 64, "seed": 0})."""
    body = spec[len(BUILTIN_PREFIX):] if spec.startswith(BUILTIN_PREFIX) else spec
    kind, _, query = body.partition("?")
    kind = kind.strip().lower()
    if kind not in BUILTIN_DATASETS:
        raise DataSourceError(f"unknown built-in set '{kind}' (available: {', '.join(BUILTIN_DATASETS)})")
    params = dict(_PARAMS)
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key not in _PARAMS:
            raise DataSourceError(f"unknown parameter '{key}' in '{spec}' (allowed: n, size, seed)")
        try:
            params[key] = int(value)
        except ValueError:
            raise DataSourceError(f"parameter {key}={value!r} in '{spec}' is not an integer") from None
    if not 1 <= params["n"] <= MAX_COUNT:
        raise DataSourceError(f"n={params['n']} in '{spec}' must be between 1 and {MAX_COUNT}")
    if not 8 <= params["size"] <= 1024:
        raise DataSourceError(f"size={params['size']} in '{spec}' must be between 8 and 1024")
    return kind, params


class SyntheticSource:
    """A lazily generated built-in set; implements the `ImageSource` protocol."""

    def __init__(self, kind: str, n: int = DEFAULT_COUNT, size: int = DEFAULT_SIZE, seed: int = 0) -> None:
        if kind not in BUILTIN_DATASETS:
            raise DataSourceError(f"unknown built-in set '{kind}' (available: {', '.join(BUILTIN_DATASETS)})")
        self.kind, self.n, self.size, self.seed = kind, int(n), int(size), int(seed)
        self.name = f"built-in {kind} ({self.n} images)"
        self.problems: list = []  # a generated set never skips anything

    @classmethod
    def from_spec(cls, spec: str) -> "SyntheticSource":
        kind, params = parse_builtin_spec(spec)
        return cls(kind, **params)

    @property
    def spec(self) -> str:
        """The string that reopens this set; only non-default parameters are written."""
        extra = [f"{k}={v}" for k, v in (("n", self.n), ("size", self.size), ("seed", self.seed)) if v != _PARAMS[k]]
        return f"{BUILTIN_PREFIX}{self.kind}" + ("?" + "&".join(extra) if extra else "")

    def __len__(self) -> int:
        return self.n

    def keys(self) -> list[str]:
        return [f"{self.kind}_{i:05d}" for i in range(self.n)]

    def load(self, index: int, *, min_size: int | None = None) -> Image.Image:
        """Render item `index` (RGB) at max(size, min_size) pixels; the same index gives the same drawing."""
        if not 0 <= index < self.n:
            raise IndexError(f"index {index} out of range for {self.n} items")
        size = max(self.size, int(min_size or 0))
        rng = np.random.default_rng([self.seed, _KIND_SALT[self.kind], index])
        return render_shape(rng, size) if self.kind == "shapes" else render_glyph(rng, size)

    @property
    def classes(self) -> tuple[str, ...]:
        """The class names, in class-index order: the shape kinds or the glyph characters."""
        return BUILTIN_CLASSES[self.kind]

    def label(self, index: int) -> int:
        """The class index of item `index` (what `load` draws), without rendering it."""
        rng = np.random.default_rng([self.seed, _KIND_SALT[self.kind], index])
        return _shape_kind(rng)[2] if self.kind == "shapes" else _glyph_index(rng)


def _hsv(h: float, s: float, v: float) -> tuple[int, int, int]:
    r, g, b = colorsys.hsv_to_rgb(h % 1.0, s, v)
    return int(round(r * 255)), int(round(g * 255)), int(round(b * 255))


def _contrasting_colours(rng: np.random.Generator) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """(background, foreground): a dull dark or light background and a saturated colour of opposite brightness."""
    if rng.random() < 0.5:  # dark background, bright shape
        bg = _hsv(rng.random(), rng.uniform(0.0, 0.5), rng.uniform(0.05, 0.35))
        fg = _hsv(rng.random(), rng.uniform(0.55, 1.0), rng.uniform(0.75, 1.0))
    else:  # light background, deeper shape
        bg = _hsv(rng.random(), rng.uniform(0.0, 0.3), rng.uniform(0.8, 1.0))
        fg = _hsv(rng.random(), rng.uniform(0.6, 1.0), rng.uniform(0.3, 0.7))
    return bg, fg


def _shape_kind(rng: np.random.Generator) -> tuple[tuple[int, int, int], tuple[int, int, int], int]:
    """The first draws of a shape: (background, foreground, kind), kind 0 circle, 1 square, 2 triangle."""
    bg, fg = _contrasting_colours(rng)
    return bg, fg, int(rng.integers(len(SHAPE_CLASSES)))


def _glyph_index(rng: np.random.Generator) -> int:
    """The first draw of a glyph: the index of its character in GLYPH_CHARS."""
    return int(rng.integers(len(GLYPH_CHARS)))


def render_shape(rng: np.random.Generator, size: int) -> Image.Image:
    """One circle, square or triangle of circumradius r in [0.18, 0.38]*size, fully inside the frame."""
    big = size * SUPERSAMPLE
    bg, fg, shape = _shape_kind(rng)
    radius = rng.uniform(0.18, 0.38) * big
    cx, cy = rng.uniform(radius, big - radius, size=2)
    angle = rng.uniform(0.0, 2.0 * math.pi)
    canvas = Image.new("RGB", (big, big), bg)
    draw = ImageDraw.Draw(canvas)
    if shape == 0:
        draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=fg)
    else:
        corners = 4 if shape == 1 else 3
        phases = [angle + 2 * math.pi * k / corners for k in range(corners)]
        points = [(cx + radius * math.cos(p), cy + radius * math.sin(p)) for p in phases]
        draw.polygon(points, fill=fg)
    return canvas.reduce(SUPERSAMPLE)


_fonts = threading.local()  # FreeType faces are not shared between threads


def _font(px: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    cache = getattr(_fonts, "cache", None)
    if cache is None:
        cache = _fonts.cache = {}
    if px not in cache:
        cache[px] = ImageFont.load_default(size=px)
    return cache[px]


def _glyph_mask(char: str, big: int) -> Image.Image:
    """An "L" mask (big x big) with `char` centred, about 0.7*big tall, in a bold stroke (cached)."""
    masks = getattr(_fonts, "masks", None)
    if masks is None:
        masks = _fonts.masks = {}
    if (char, big) not in masks:
        masks[(char, big)] = _draw_glyph_mask(char, big)
    return masks[(char, big)]


def _draw_glyph_mask(char: str, big: int) -> Image.Image:
    font = _font(int(big * 0.7))
    mask = Image.new("L", (big, big), 0)
    if isinstance(font, ImageFont.FreeTypeFont):
        stroke = max(1, round(big * 0.025))  # thicken: strokes stay >= ~1.5 px at 32x32
        ImageDraw.Draw(mask).text(
            (big / 2, big / 2), char, fill=255, font=font, anchor="mm", stroke_width=stroke, stroke_fill=255
        )
        return mask
    # Pillow without FreeType: the bitmap default font, drawn small and scaled up.
    small = Image.new("L", (16, 16), 0)
    ImageDraw.Draw(small).text((5, 2), char, fill=255, font=font)
    return small.resize((big, big), Image.Resampling.BICUBIC)


def _affine_inverse(big: int, rng: np.random.Generator) -> tuple[float, ...]:
    """Pillow AFFINE coefficients for p_out = c + t + M (p_in - c), M = R(theta) Shear(k) diag(s)."""
    theta = math.radians(rng.uniform(-12.0, 12.0))
    scale = rng.uniform(0.85, 1.1)
    shear = rng.uniform(-0.15, 0.15)
    shift = rng.uniform(-0.08, 0.08, size=2) * big
    rot = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    m = rot @ np.array([[1.0, shear], [0.0, 1.0]]) @ np.diag([scale, scale])
    a = np.linalg.inv(m)  # p_in = c + A (p_out - c - t)
    centre = np.array([big / 2, big / 2])
    offset = centre - a @ (centre + shift)
    return (a[0, 0], a[0, 1], offset[0], a[1, 0], a[1, 1], offset[1])


def render_glyph(rng: np.random.Generator, size: int) -> Image.Image:
    """A jittered letter/digit; 70% dark ink on light paper, 30% light ink on a dark ground."""
    big = size * GLYPH_SUPERSAMPLE
    char = GLYPH_CHARS[_glyph_index(rng)]
    if rng.random() < 0.7:
        bg = _hsv(rng.random(), rng.uniform(0.0, 0.15), rng.uniform(0.85, 1.0))
        ink = _hsv(rng.random(), rng.uniform(0.3, 1.0), rng.uniform(0.05, 0.45))
    else:
        bg = _hsv(rng.random(), rng.uniform(0.2, 0.8), rng.uniform(0.1, 0.35))
        ink = _hsv(rng.random(), rng.uniform(0.0, 0.4), rng.uniform(0.85, 1.0))
    mask = _glyph_mask(char, big)
    mask = mask.transform((big, big), Image.Transform.AFFINE, _affine_inverse(big, rng), Image.Resampling.BILINEAR)
    canvas = Image.new("RGB", (big, big), bg)
    canvas.paste(Image.new("RGB", (big, big), ink), (0, 0), mask)
    return canvas.reduce(GLYPH_SUPERSAMPLE)
