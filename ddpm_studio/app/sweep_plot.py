"""The sweeps' plots as pictures, drawn with Pillow (matplotlib is not a dependency): the NFE sweep's one line per
sampler, metric against NFE on a log axis, and the guidance sweep's metric against w on a linear axis (the
quality/diversity trade-off); the real-vs-real floor as a dashed line. The CLI's `sweep --plot` writes it
through `app.exports.save_png`; the GUI draws the same curves live with pyqtgraph."""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ddpm_studio.app.guidance_sweep import GuidanceSweepResult
from ddpm_studio.app.sweep import SweepResult
from ddpm_studio.engine import SAMPLERS

# One colour per sampler (Okabe–Ito, readable by colour-blind people), fixed so plots compare across runs.
SAMPLER_COLOURS: dict[str, tuple[int, int, int]] = {
    "ddim": (0, 114, 178), "dpmpp_2m": (213, 94, 0), "euler": (0, 158, 115), "heun": (204, 121, 167),
    "euler_ancestral": (230, 159, 0), "ddpm": (0, 0, 0),
}
METRIC_TITLES = {"swd": "SWD x 1000 (lower is better)", "precision": "precision (higher is better)",
                 "recall": "recall (higher is better)"}
FAITHFULNESS_TITLE = "class faithfulness (higher is better)"
GUIDANCE_COLOUR = (0, 114, 178)  # ASCII: Pillow's default font lacks superscripts


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
    curves = [(SAMPLERS.label(m), SAMPLER_COLOURS.get(m, (90, 90, 90)), result.curve(m, metric))
              for m in result.settings.methods]
    methods = {m for m in result.settings.methods if result.curve(m, metric)}
    budgets = sorted({c.budget for c in result.cells if c.method in methods})  # ticks at the asked budgets
    return _panel(f"{METRIC_TITLES.get(metric, metric)} vs NFE", "NFE (network evaluations, log scale)", curves,
                  (result.floor or {}).get(metric), budgets, log_x=True, size=size)


def plot_guidance(result: GuidanceSweepResult, metric: str = "swd", *,
                  size: tuple[int, int] = (760, 460)) -> np.ndarray:
    """(H, W, 3) uint8: `metric` against the guidance scale w (linear axis), the quality/diversity trade-off."""
    label = "autoguidance" if result.mode == "autoguidance" else "classifier-free"
    points = result.curve(metric)
    floor = (result.floor or {}).get(metric) if metric in METRIC_TITLES else None
    title = FAITHFULNESS_TITLE if metric == "faithfulness" else METRIC_TITLES.get(metric, metric)
    return _panel(f"{title} vs w", "guidance scale w (1 = the plain model)",
                  [(label, GUIDANCE_COLOUR, points)], floor, [w for w, _ in points], log_x=False, size=size)


def _panel(title: str, x_label: str, curves: list[tuple[str, tuple[int, int, int], list[tuple[float, float]]]],
           floor: float | None, x_ticks: list[float], *, log_x: bool, size: tuple[int, int]) -> np.ndarray:
    """One plot: `curves` (legend label, colour, (x, y) points), a dashed floor, ticks at `x_ticks`."""
    width, height = size
    left, right, top, bottom = 64, 190, 36, 44
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    font, small = _font(13), _font(11)
    curves = [c for c in curves if c[2]]
    values = [v for *_, pts in curves for _, v in pts] + ([floor] if floor is not None else [])
    xs = [x for *_, pts in curves for x, _ in pts] + list(x_ticks)
    draw.text((left, 10), title, fill="black", font=font)
    if not values or not xs:
        draw.text((left, height // 2), "no cells yet", fill="gray", font=font)
        return np.asarray(image)
    ticks = _nice_ticks(min(values), max(values))
    y0, y1 = ticks[0], ticks[-1] if ticks[-1] > ticks[0] else ticks[0] + 1
    fx = math.log10 if log_x else float
    x0, x1 = fx(min(xs)), fx(max(xs))
    x1 = x1 if x1 > x0 else x0 + 1
    plot_w, plot_h = width - left - right, height - top - bottom

    def px(x: float, v: float) -> tuple[float, float]:
        return (left + (fx(x) - x0) / (x1 - x0) * plot_w, top + (1 - (v - y0) / (y1 - y0)) * plot_h)

    draw.rectangle((left, top, left + plot_w, top + plot_h), outline=(120, 120, 120))
    for v in ticks:
        y = top + (1 - (v - y0) / (y1 - y0)) * plot_h
        draw.line((left, y, left + plot_w, y), fill=(232, 232, 232))
        draw.text((left - 6, y), f"{v:g}", fill="black", font=small, anchor="rm")
    for n in x_ticks:
        x = px(n, y0)[0]
        draw.line((x, top, x, top + plot_h), fill=(232, 232, 232))
        draw.text((x, top + plot_h + 6), f"{n:g}", fill="black", font=small, anchor="mt")
    draw.text((left + plot_w / 2, height - 14), x_label, fill="black", font=small, anchor="mm")
    if floor is not None:
        y = top + (1 - (floor - y0) / (y1 - y0)) * plot_h
        for x in range(left, left + plot_w, 12):
            draw.line((x, y, min(x + 6, left + plot_w), y), fill=(90, 90, 90), width=2)
    legend_y = top
    for label, colour, pts in curves:
        xy = [px(x, v) for x, v in pts]
        if len(xy) > 1:
            draw.line(xy, fill=colour, width=3)
        for x, y in xy:
            draw.ellipse((x - 4, y - 4, x + 4, y + 4), fill=colour)
        draw.line((width - right + 14, legend_y + 7, width - right + 36, legend_y + 7), fill=colour, width=3)
        draw.text((width - right + 42, legend_y), label, fill="black", font=small)
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


def plot_guidance_panels(result: GuidanceSweepResult, metrics: tuple[str, ...] = ("swd", "precision", "recall"), *,
                         size: tuple[int, int] = (640, 420)) -> np.ndarray:
    """One `plot_guidance` panel per metric (and class faithfulness when measured), side by side."""
    if any("faithfulness" in p.metrics for p in result.points) and "faithfulness" not in metrics:
        metrics = (*metrics, "faithfulness")
    return np.concatenate([plot_guidance(result, metric, size=size) for metric in metrics], axis=1)
