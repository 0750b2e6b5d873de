"""The NFE–quality plot as a picture, drawn with Pillow (matplotlib is not a dependency): one line per sampler,
metric against NFE on a log axis, the real-vs-real floor as a dashed line. The CLI's `sweep --plot` writes it
through `app.exports.save_png`; the GUI draws the same curves live with pyqtgraph."""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ddpm_studio.app.sweep import SweepResult
from ddpm_studio.engine import SAMPLERS

# One colour per sampler (Okabe–Ito, readable by colour-blind people), fixed so plots compare across runs.
SAMPLER_COLOURS: dict[str, tuple[int, int, int]] = {
    "ddim": (0, 114, 178), "dpmpp_2m": (213, 94, 0), "euler": (0, 158, 115), "heun": (204, 121, 167),
    "euler_ancestral": (230, 159, 0), "ddpm": (0, 0, 0),
}
METRIC_TITLES = {"swd": "SWD x 1000 (lower is better)", "precision": "precision (higher is better)",
                 "recall": "recall (higher is better)"}  # ASCII: Pillow's default font lacks superscripts


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: a fixed bitmap font
        return ImageFont.load_default()


def _nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering low..high (1, 2, 5 × 10^k steps)."""
    span = max(high - low, 1e-12)
    raw = span / count
    base = 10 ** math.floor(math.log10(raw))
    step = next(m * base for m in (1, 2, 5, 10) if m * base >= raw)
    return [v * step for v in range(math.floor(low / step), math.ceil(high / step) + 1)]


def plot_curves(result: SweepResult, metric: str = "swd", *, size: tuple[int, int] = (760, 460)) -> np.ndarray:
    """(H, W, 3) uint8: `metric` against NFE (log axis) per sampler, with the floor when known."""
    width, height = size
    left, right, top, bottom = 64, 190, 36, 44
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    font, small = _font(13), _font(11)
    curves = {m: result.curve(m, metric) for m in result.settings.methods}
    curves = {m: pts for m, pts in curves.items() if pts}
    floor = (result.floor or {}).get(metric)
    values = [v for pts in curves.values() for _, v in pts] + ([floor] if floor is not None else [])
    nfes = [n for pts in curves.values() for n, _ in pts]
    budgets = sorted({c.budget for c in result.cells if c.method in curves})  # ticks at the asked budgets
    draw.text((left, 10), f"{METRIC_TITLES.get(metric, metric)} vs NFE", fill="black", font=font)
    if not values:
        draw.text((left, height // 2), "no cells yet", fill="gray", font=font)
        return np.asarray(image)
    ticks = _nice_ticks(min(values), max(values))
    y0, y1 = ticks[0], ticks[-1] if ticks[-1] > ticks[0] else ticks[0] + 1
    x0, x1 = math.log10(min(nfes + budgets)), math.log10(max(nfes + budgets))
    x1 = x1 if x1 > x0 else x0 + 1
    plot_w, plot_h = width - left - right, height - top - bottom

    def px(n: float, v: float) -> tuple[float, float]:
        return (left + (math.log10(n) - x0) / (x1 - x0) * plot_w, top + (1 - (v - y0) / (y1 - y0)) * plot_h)

    draw.rectangle((left, top, left + plot_w, top + plot_h), outline=(120, 120, 120))
    for v in ticks:
        y = px(10 ** x0, v)[1]
        draw.line((left, y, left + plot_w, y), fill=(232, 232, 232))
        draw.text((left - 6, y), f"{v:g}", fill="black", font=small, anchor="rm")
    for n in budgets:
        x = px(n, y0)[0]
        draw.line((x, top, x, top + plot_h), fill=(232, 232, 232))
        draw.text((x, top + plot_h + 6), str(n), fill="black", font=small, anchor="mt")
    draw.text((left + plot_w / 2, height - 14), "NFE (network evaluations, log scale)", fill="black",
              font=small, anchor="mm")
    if floor is not None:
        y = px(10 ** x0, floor)[1]
        for x in range(left, left + plot_w, 12):
            draw.line((x, y, min(x + 6, left + plot_w), y), fill=(90, 90, 90), width=2)
    legend_y = top
    for method, pts in curves.items():
        colour = SAMPLER_COLOURS.get(method, (90, 90, 90))
        xy = [px(n, v) for n, v in pts]
        if len(xy) > 1:
            draw.line(xy, fill=colour, width=3)
        for x, y in xy:
            draw.ellipse((x - 4, y - 4, x + 4, y + 4), fill=colour)
        draw.line((width - right + 14, legend_y + 7, width - right + 36, legend_y + 7), fill=colour, width=3)
        draw.text((width - right + 42, legend_y), SAMPLERS.label(method), fill="black", font=small)
        legend_y += 20
    if floor is not None:
        draw.line((width - right + 14, legend_y + 7, width - right + 36, legend_y + 7), fill=(90, 90, 90), width=2)
        draw.text((width - right + 42, legend_y), "real vs real (floor)", fill="black", font=small)
    return np.asarray(image)


def plot_panels(result: SweepResult, metrics: tuple[str, ...] = ("swd", "precision", "recall"), *,
                size: tuple[int, int] = (640, 420)) -> np.ndarray:
    """One `plot_curves` panel per metric, side by side: (H, W, 3) uint8."""
    panels = [plot_curves(result, metric, size=size) for metric in metrics]
    return np.concatenate(panels, axis=1)
