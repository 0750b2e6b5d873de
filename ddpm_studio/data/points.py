"""2-D point distributions for the 2-D lab: drawn in code, read from a CSV, or the dark pixels of an image.

Spec strings, like the image sources' ``builtin:`` specs: a name with optional ``?key=value`` parameters, or
``csv:PATH`` / ``image:PATH`` / ``letter:A``.

    gmm?modes=8          Gaussian mixture, modes on a circle (labels: the component)
    moons                two moons (labels: the moon)
    swiss                Swiss roll (2-D)
    spiral               two interleaved spirals (labels: the arm)
    checkerboard         a 4x4 checkerboard's dark squares
    rings                three concentric rings (labels: the ring)
    letter:A             the dark pixels of a rendered letter (Pillow's bundled font)
    image:PATH           the dark pixels (< 50 % grey) of an image file
    csv:PATH             x,y per line (a header line is skipped; a third column is an integer label)

Points drawn with the mouse are a :func:`drawn_points` set (spec ``drawn``): dabs of a round brush
(:func:`brush`), at least ``MIN_DRAWN`` of them.

Every set is normalised the way images are: an affine map into [-1, 1] (centred on the bounding box's middle,
both axes scaled by the same factor so shapes keep their aspect). Draws are seeded: the same spec, count and
seed give the same points. Errors are one-line :class:`PointDataError` messages.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ddpm_studio.data.decode import ImageDecodeError, decode_image

__all__ = ["POINT_SETS", "PointDataError", "PointSet", "brush", "drawn_points", "load_points", "normalise",
           "MAX_CSV_BYTES", "MAX_POINTS", "MIN_DRAWN"]

MAX_CSV_BYTES = 16 * 2**20  # a larger CSV is refused before it is read
MAX_POINTS = 200_000  # points per set (a draw or a CSV)
MIN_DRAWN = 20  # a drawn set needs this many points to be a distribution worth training on
_Drawer = Callable[[int, np.random.Generator, dict[str, float]], tuple[np.ndarray, np.ndarray | None]]


class PointDataError(ValueError):
    """A point set that cannot be made: the message is one line naming the input and the reason."""


@dataclass(frozen=True)
class PointSet:
    """(N, 2) float32 points in [-1, 1] and optional (N,) int64 labels (mixture component, moon, ring, arm)."""

    points: np.ndarray
    labels: np.ndarray | None
    spec: str

    def __len__(self) -> int:
        return int(self.points.shape[0])


def normalise(points: np.ndarray) -> np.ndarray:
    """The affine map of images into [-1, 1]: centre on the bounding box's middle, divide by its half-extent."""
    low, high = points.min(axis=0), points.max(axis=0)
    half = float((high - low).max()) / 2.0
    if not half > 0:
        raise PointDataError("all points are the same point; a distribution needs spread")
    return ((points - (low + high) / 2.0) / half).astype(np.float32)


# ---- drawn distributions ------------------------------------------------------------------------------------

def _gmm(n: int, rng: np.random.Generator, p: dict[str, float]) -> tuple[np.ndarray, np.ndarray]:
    modes = int(p.get("modes", 8))
    if not 1 <= modes <= 64:
        raise PointDataError(f"gmm: modes must be 1..64, got {modes}")
    std = float(p.get("std", 0.08))
    labels = rng.integers(0, modes, n)
    angle = 2 * math.pi * labels / modes
    centres = np.stack([np.cos(angle), np.sin(angle)], 1) if modes > 1 else np.zeros((n, 2))
    return centres + std * rng.standard_normal((n, 2)), labels


def _moons(n: int, rng: np.random.Generator, p: dict[str, float]) -> tuple[np.ndarray, np.ndarray]:
    labels = rng.integers(0, 2, n)
    angle = rng.uniform(0, math.pi, n)
    upper = np.stack([np.cos(angle), np.sin(angle)], 1)
    lower = np.stack([1 - np.cos(angle), 0.5 - np.sin(angle)], 1)
    pts = np.where(labels[:, None] == 0, upper, lower)
    return pts + float(p.get("noise", 0.05)) * rng.standard_normal((n, 2)), labels


def _swiss(n: int, rng: np.random.Generator, p: dict[str, float]) -> tuple[np.ndarray, None]:
    s = 1.5 * math.pi * (1 + 2 * rng.uniform(0, 1, n))
    pts = np.stack([s * np.cos(s), s * np.sin(s)], 1) / 10.0
    return pts + float(p.get("noise", 0.03)) * rng.standard_normal((n, 2)), None


def _spiral(n: int, rng: np.random.Generator, p: dict[str, float]) -> tuple[np.ndarray, np.ndarray]:
    labels = rng.integers(0, 2, n)
    r = np.sqrt(rng.uniform(0.02, 1, n))
    angle = 3 * math.pi * r + math.pi * labels
    pts = np.stack([r * np.cos(angle), r * np.sin(angle)], 1)
    return pts + float(p.get("noise", 0.02)) * rng.standard_normal((n, 2)), labels


def _checkerboard(n: int, rng: np.random.Generator, p: dict[str, float]) -> tuple[np.ndarray, None]:
    x1 = rng.uniform(-2, 2, n)
    x2 = rng.uniform(0, 1, n) + rng.integers(0, 2, n) * 2.0 - 2.0 + np.floor(x1) % 2  # the dark squares
    return np.stack([x1, x2], 1), None


def _rings(n: int, rng: np.random.Generator, p: dict[str, float]) -> tuple[np.ndarray, np.ndarray]:
    labels = rng.integers(0, 3, n)
    radius = (labels + 1) / 3.0
    angle = rng.uniform(0, 2 * math.pi, n)
    pts = radius[:, None] * np.stack([np.cos(angle), np.sin(angle)], 1)
    return pts + float(p.get("noise", 0.02)) * rng.standard_normal((n, 2)), labels


POINT_SETS: dict[str, _Drawer] = {
    "moons": _moons, "gmm": _gmm, "swiss": _swiss, "spiral": _spiral, "checkerboard": _checkerboard,
    "rings": _rings,
}
POINT_SET_NAMES: tuple[str, ...] = (*POINT_SETS, "letter")  # the choices a face offers (csv:/image: are paths)


# ---- images and files ---------------------------------------------------------------------------------------

def _letter_image(letter: str, size: int = 96) -> Image.Image:
    if len(letter) != 1 or not letter.isprintable() or letter.isspace():
        raise PointDataError(f"letter: give one printable character, got {letter!r}")
    image = Image.new("L", (size, size), 255)
    font = ImageFont.load_default(size=int(size * 0.8))
    ImageDraw.Draw(image).text((size / 2, size / 2), letter, fill=0, font=font, anchor="mm")
    return image


def _dark_pixels(image: Image.Image, label: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` points spread uniformly over the pixels darker than 50 % grey (y up), jittered inside each pixel."""
    grey = np.asarray(image.convert("L"), dtype=np.float32)
    rows, cols = np.nonzero(grey < 128)
    if rows.size == 0:
        raise PointDataError(f"{label}: no dark pixels (the image is all white or light); draw in a dark colour")
    pick = rng.integers(0, rows.size, n)
    x = cols[pick] + rng.uniform(0, 1, n)
    y = (grey.shape[0] - rows[pick]) - rng.uniform(0, 1, n)
    return np.stack([x, y], 1)


def _read_csv(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    label = path.name
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise PointDataError(f"{label}: cannot read ({exc.strerror or exc})") from None
    if size > MAX_CSV_BYTES:
        raise PointDataError(f"{label}: {size / 2**20:.1f} MiB is too large for a point set "
                             f"(at most {MAX_CSV_BYTES // 2**20} MiB)")
    rows: list[list[str]] = []
    with path.open(newline="", encoding="utf-8", errors="replace") as handle:
        for row in csv.reader(handle):
            if row and any(cell.strip() for cell in row):
                rows.append(row)
            if len(rows) > MAX_POINTS + 1:
                raise PointDataError(f"{label}: more than {MAX_POINTS} points")
    if rows and not _is_number(rows[0][0]):
        rows = rows[1:]  # a header line
    if len(rows) < 2:
        raise PointDataError(f"{label}: {'no points' if not rows else 'one point'}; a distribution needs at least 2")
    short = next((i for i, row in enumerate(rows) if len(row) < 2), None)
    if short is not None:
        raise PointDataError(f"{label}: line {short + 1} of the points has one column; every line needs two, x and y")
    try:
        values = np.array([[float(cell) for cell in row[:2]] for row in rows], dtype=np.float64)
    except ValueError as exc:
        raise PointDataError(f"{label}: not numbers ({exc})") from None
    bad = ~np.isfinite(values).all(axis=1)
    if bad.any():
        raise PointDataError(f"{label}: line {int(np.argmax(bad)) + 1} of the points has a NaN or infinite coordinate")
    labels = None
    if all(len(row) >= 3 and row[2].strip().lstrip("-").isdigit() for row in rows):
        labels = np.array([int(row[2]) for row in rows], dtype=np.int64)
    return values, labels


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


# ---- the one entry point ------------------------------------------------------------------------------------

def load_points(spec: str, count: int = 2000, seed: int = 0) -> PointSet:
    """The point set ``spec`` names: ``count`` seeded draws (a CSV gives its own points), normalised to [-1, 1]."""
    if not 2 <= count <= MAX_POINTS:
        raise PointDataError(f"count must be 2..{MAX_POINTS}, got {count}")
    rng = np.random.default_rng(seed)
    kind, _, rest = spec.partition(":")
    labels: np.ndarray | None = None
    if rest and kind == "csv":
        points, labels = _read_csv(Path(rest))
    elif rest and kind == "image":
        try:
            image = decode_image(Path(rest), name=Path(rest).name)
        except ImageDecodeError as exc:
            raise PointDataError(f"{Path(rest).name}: {exc}") from None
        points = _dark_pixels(image, Path(rest).name, count, rng)
    elif rest and kind == "letter":
        points = _dark_pixels(_letter_image(rest), f"letter {rest}", count, rng)
    else:
        name, _, query = spec.partition("?")
        if name not in POINT_SETS:
            raise PointDataError(f"unknown point set {name!r}; choose one of {', '.join(POINT_SETS)}, "
                                 "letter:A, image:PATH or csv:PATH")
        try:
            params = {k: float(v) for k, v in parse_qsl(query, strict_parsing=bool(query))}
        except ValueError:
            raise PointDataError(f"{spec}: parameters must be key=number, e.g. gmm?modes=8") from None
        points, labels = POINT_SETS[name](count, rng, params)
    out_labels = None if labels is None else labels.astype(np.int64)
    return PointSet(points=normalise(np.asarray(points, dtype=np.float64)), labels=out_labels, spec=spec)


# ---- drawn with the mouse -----------------------------------------------------------------------------------

def brush(centre: tuple[float, float], radius: float, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` points uniform in the disc of ``radius`` around ``centre`` (one dab of the brush), (count, 2)."""
    if not radius >= 0 or count < 0:
        raise PointDataError(f"brush: radius must be >= 0 and count >= 0, got {radius!r}, {count!r}")
    r = radius * np.sqrt(rng.uniform(0, 1, count))  # sqrt: uniform over the area, not crowded at the centre
    angle = rng.uniform(0, 2 * math.pi, count)
    return np.stack([centre[0] + r * np.cos(angle), centre[1] + r * np.sin(angle)], 1).astype(np.float32)


def drawn_points(points: np.ndarray) -> PointSet:
    """Points drawn with the mouse as a point set: at least ``MIN_DRAWN``, finite, normalised like every set."""
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if len(points) < MIN_DRAWN:
        raise PointDataError(f"drawn: {len(points)} point{'s' if len(points) != 1 else ''}; draw at least "
                             f"{MIN_DRAWN} (click or drag on the middle plot)")
    if len(points) > MAX_POINTS:
        raise PointDataError(f"drawn: more than {MAX_POINTS} points; clear some")
    if not np.isfinite(points).all():
        raise PointDataError("drawn: a point has a NaN or infinite coordinate")
    return PointSet(points=normalise(points), labels=None, spec="drawn")
