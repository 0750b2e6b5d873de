"""Render the DDPM Studio application icon: an SVG, hicolor PNGs, a Windows .ico and a macOS .icns.

The mark is the forward process of Ho et al. (2020) drawn across the icon: a clean image x0 (a glowing
disc on a deep-blue rounded square) is blended with pixel noise eps, and the amount of noise falls
from the bottom-left corner to the top-right one, like x_t = (1 - w) * eps + w * x0 with w rising
along the diagonal. Read right-to-left it is noise turning into a shape: denoising.

Both renderers (Pillow for the PNGs, plain SVG text for the vector icon) draw the same geometry from
the same seeded noise, so the two agree. Run from the repository root:

    python packaging/make_icons.py            # writes resources/icons/ and packaging/{windows,macos}/
"""

from __future__ import annotations

import argparse
import math
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

HICOLOR_SIZES: tuple[int, ...] = (16, 32, 48, 64, 128, 256, 512)
ICO_SIZES: tuple[int, ...] = (16, 24, 32, 48, 64, 128, 256)
ICON_NAME = "ddpm-studio"
CANVAS = 512  # design units; every coordinate below is in this space
REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Design:
    """The icon's geometry and palette, in design units of a CANVAS x CANVAS square."""

    margin: float = 24.0  # inset of the rounded square
    corner: float = 96.0  # corner radius of the rounded square
    bg_top: tuple[int, int, int] = (38, 44, 104)  # background gradient, top-left
    bg_bottom: tuple[int, int, int] = (14, 17, 40)  # background gradient, bottom-right
    disc_center: tuple[float, float] = (272.0, 240.0)
    disc_radius: float = 138.0
    disc_light: tuple[int, int, int] = (255, 214, 102)  # disc gradient, top-left (warm yellow)
    disc_dark: tuple[int, int, int] = (244, 88, 128)  # disc gradient, bottom-right (coral pink)
    cells: int = 14  # the noise grid is cells x cells
    seed: int = 20200619  # Ho et al. arXiv date; fixes the speckle


def noise_weight(col: int, row: int, cells: int) -> float:
    """Opacity of the noise cell at (col, row): 1 at the bottom-left corner, 0 past the diagonal."""
    # distance along the bottom-left -> top-right diagonal, 0..1
    d = (col + (cells - 1 - row)) / (2 * (cells - 1))
    w = 1.0 - d / 0.62  # noise has faded completely a little past the middle
    w = max(0.0, min(1.0, w))
    return w * w * (3 - 2 * w)  # smoothstep


def noise_cells(design: Design) -> list[tuple[int, int, tuple[int, int, int], float]]:
    """The visible noise cells: (col, row, rgb, opacity), deterministic from the design's seed."""
    rng = random.Random(design.seed)
    palette = [design.disc_light, design.disc_dark, design.bg_top, (235, 238, 255), (120, 130, 200)]
    out = []
    for row in range(design.cells):
        for col in range(design.cells):
            base = rng.choice(palette)
            g = rng.gauss(0.0, 55.0)  # per-cell brightness jitter: Gaussian noise
            rgb = tuple(int(max(0, min(255, c + g))) for c in base)
            alpha = noise_weight(col, row, design.cells)
            if alpha > 0.02:
                out.append((col, row, rgb, round(alpha, 3)))  # type: ignore[arg-type]
    return out


def _hex(rgb: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def rounded_square(x: float, y: float, size: float, radius: float, arc_points: int = 12) -> list[tuple[float, float]]:
    """The outline of a rounded square as a convex polygon (clockwise in screen coordinates)."""
    pts: list[tuple[float, float]] = []
    corners = ((x + size - radius, y + radius, -90.0), (x + size - radius, y + size - radius, 0.0),
               (x + radius, y + size - radius, 90.0), (x + radius, y + radius, 180.0))
    for ccx, ccy, start in corners:
        for i in range(arc_points + 1):
            ang = math.radians(start + 90.0 * i / arc_points)
            pts.append((ccx + radius * math.cos(ang), ccy + radius * math.sin(ang)))
    return pts


def clip_polygon(subject: list[tuple[float, float]], clip: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Sutherland-Hodgman: the part of `subject` inside the convex, clockwise polygon `clip`."""

    def inside(p: tuple[float, float], a: tuple[float, float], b: tuple[float, float]) -> bool:
        return (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0]) >= -1e-9

    def cross(p, q, a, b) -> tuple[float, float]:  # type: ignore[no-untyped-def]
        d = (p[0] - q[0]) * (a[1] - b[1]) - (p[1] - q[1]) * (a[0] - b[0])
        t = ((p[0] - a[0]) * (a[1] - b[1]) - (p[1] - a[1]) * (a[0] - b[0])) / d
        return (p[0] + t * (q[0] - p[0]), p[1] + t * (q[1] - p[1]))

    out = subject
    for a, b in zip(clip, clip[1:] + clip[:1]):
        if not out:
            break
        src, out = out, []
        for p, q in zip(src, src[1:] + src[:1]):
            if inside(q, a, b):
                if not inside(p, a, b):
                    out.append(cross(p, q, a, b))
                out.append(q)
            elif inside(p, a, b):
                out.append(cross(p, q, a, b))
    return out


def render_svg(design: Design = Design()) -> str:
    """The icon as standalone SVG (SVG Tiny features only: no clipPath, masks or filters).

    Noise cells on the rounded corners are clipped geometrically, so every renderer (Qt's SVG Tiny
    renderer included) shows the same silhouette.
    """
    m, r, size = design.margin, design.corner, CANVAS - 2 * design.margin
    cx, cy = design.disc_center
    cell = size / design.cells
    outline = rounded_square(m, m, size, r)
    shapes = []
    for c, rw, rgb, a in noise_cells(design):
        x0, y0, x1, y1 = m + c * cell, m + rw * cell, m + (c + 1) * cell, m + (rw + 1) * cell
        square = [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
        poly = clip_polygon(square, outline)
        style = f'fill="{_hex(rgb)}" fill-opacity="{a}"'
        if len(poly) == 4 and all(any(abs(p[0] - q[0]) + abs(p[1] - q[1]) < 1e-6 for q in square) for p in poly):
            shapes.append(f'  <rect x="{x0:.2f}" y="{y0:.2f}" width="{cell:.2f}" height="{cell:.2f}" {style}/>')
        elif len(poly) >= 3:
            points = " ".join(f"{px:.2f},{py:.2f}" for px, py in poly)
            shapes.append(f'  <polygon points="{points}" {style}/>')
    body = "\n".join(shapes)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="{CANVAS}" height="{CANVAS}" viewBox="0 0 {CANVAS} {CANVAS}">
  <title>DDPM Studio</title>
  <defs>
    <linearGradient id="bg" x1="0" y1="0" x2="1" y2="1">
      <stop offset="0" stop-color="{_hex(design.bg_top)}"/>
      <stop offset="1" stop-color="{_hex(design.bg_bottom)}"/>
    </linearGradient>
    <linearGradient id="disc" x1="0" y1="0" x2="1" y2="1">
      <stop offset="0" stop-color="{_hex(design.disc_light)}"/>
      <stop offset="1" stop-color="{_hex(design.disc_dark)}"/>
    </linearGradient>
    <radialGradient id="glow" cx="0.5" cy="0.5" r="0.5">
      <stop offset="0.55" stop-color="{_hex(design.disc_dark)}" stop-opacity="0.45"/>
      <stop offset="1" stop-color="{_hex(design.disc_dark)}" stop-opacity="0"/>
    </radialGradient>
  </defs>
  <rect x="{m}" y="{m}" width="{size}" height="{size}" rx="{r}" ry="{r}" fill="url(#bg)"/>
  <circle cx="{cx}" cy="{cy}" r="{design.disc_radius * 1.32:.1f}" fill="url(#glow)"/>
  <circle cx="{cx}" cy="{cy}" r="{design.disc_radius}" fill="url(#disc)"/>
{body}
</svg>
"""


def _linear_gradient(size: int, a: tuple[int, int, int], b: tuple[int, int, int]) -> Image.Image:
    """A size x size RGB image graded from a (top-left) to b (bottom-right) along the diagonal."""
    ramp = np.linspace(0.0, 1.0, size)
    w = (ramp[None, :, None] + ramp[:, None, None]) / 2  # (H, W, 1): (x + y) / 2
    rgb = (1 - w) * np.asarray(a, float) + w * np.asarray(b, float)
    return Image.fromarray(np.round(rgb).astype(np.uint8), "RGB")


def render_png(size: int, design: Design = Design(), supersample: int = 4) -> Image.Image:
    """The icon as an RGBA image of size x size, drawn at a higher resolution and downscaled."""
    big = max(size * supersample, CANVAS)
    k = big / CANVAS
    m, r, tile = design.margin * k, design.corner * k, (CANVAS - 2 * design.margin) * k
    cx, cy, rad = design.disc_center[0] * k, design.disc_center[1] * k, design.disc_radius * k

    img = _linear_gradient(big, design.bg_top, design.bg_bottom).convert("RGBA")
    glow = Image.new("L", (big, big), 0)
    gr = rad * 1.18
    ImageDraw.Draw(glow).ellipse((cx - gr, cy - gr, cx + gr, cy + gr), fill=115)
    glow = glow.filter(ImageFilter.GaussianBlur(rad * 0.16))
    img = Image.composite(Image.new("RGBA", (big, big), design.disc_dark + (255,)), img, glow)
    disc_mask = Image.new("L", (big, big), 0)
    ImageDraw.Draw(disc_mask).ellipse((cx - rad, cy - rad, cx + rad, cy + rad), fill=255)
    disc = _linear_gradient(big, design.disc_light, design.disc_dark).convert("RGBA")
    # the disc gradient runs across the disc's own bounding box, as in the SVG's objectBoundingBox
    box = (int(cx - rad), int(cy - rad), int(cx + rad), int(cy + rad))
    disc_local = _linear_gradient(box[2] - box[0], design.disc_light, design.disc_dark).convert("RGBA")
    disc.paste(disc_local, box[:2])
    img = Image.composite(disc, img, disc_mask)

    overlay = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    cell = tile / design.cells
    for c, rw, rgb, a in noise_cells(design):
        x0, y0 = m + c * cell, m + rw * cell
        draw.rectangle((x0, y0, x0 + cell, y0 + cell), fill=rgb + (int(round(a * 255)),))
    img = Image.alpha_composite(img, overlay)

    tile_mask = Image.new("L", (big, big), 0)
    ImageDraw.Draw(tile_mask).rounded_rectangle((m, m, m + tile, m + tile), radius=r, fill=255)
    img.putalpha(tile_mask)
    return img.resize((size, size), Image.Resampling.LANCZOS)


def write_all(icons_dir: Path, packaging_dir: Path) -> list[Path]:
    """Write the SVG, the hicolor PNG tree, the app-window PNG, the .ico and the .icns; return the paths."""
    written: list[Path] = []
    icons_dir.mkdir(parents=True, exist_ok=True)
    svg = icons_dir / f"{ICON_NAME}.svg"
    svg.write_text(render_svg(), encoding="utf-8")
    written.append(svg)
    renders = {s: render_png(s) for s in sorted(set(HICOLOR_SIZES + ICO_SIZES + (1024,)))}
    for s in HICOLOR_SIZES:
        path = icons_dir / "hicolor" / f"{s}x{s}" / "apps" / f"{ICON_NAME}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        renders[s].save(path, optimize=True)
        written.append(path)
    window_icon = icons_dir / f"{ICON_NAME}.png"  # what the GUI sets as its window icon
    renders[256].save(window_icon, optimize=True)
    written.append(window_icon)
    ico = packaging_dir / "windows" / f"{ICON_NAME}.ico"
    ico.parent.mkdir(parents=True, exist_ok=True)
    renders[256].save(ico, sizes=[(s, s) for s in ICO_SIZES], append_images=[renders[s] for s in ICO_SIZES])
    written.append(ico)
    icns = packaging_dir / "macos" / f"{ICON_NAME}.icns"
    icns.parent.mkdir(parents=True, exist_ok=True)
    renders[1024].save(icns, append_images=[renders[s] for s in (16, 32, 64, 128, 256, 512)])
    written.append(icns)
    return written


def main(argv: list[str] | None = None) -> int:
    """Command line: render every icon file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--icons-dir", type=Path, default=REPO / "resources" / "icons")
    parser.add_argument("--packaging-dir", type=Path, default=REPO / "packaging")
    args = parser.parse_args(argv)
    for path in write_all(args.icons_dir, args.packaging_dir):
        print(path.relative_to(REPO) if path.is_relative_to(REPO) else path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
