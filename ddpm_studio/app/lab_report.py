"""The lab headless (CLI `lab`): train on a point set, run two samplers from the same x_T, write figures and
metrics. The same :class:`~ddpm_studio.app.lab.Lab` calls the view makes, in one function."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ddpm_studio.app import exports
from ddpm_studio.app.lab import Lab, LabConfig, LossPoint, SamplerChoice, class_spread
from ddpm_studio.app.lab_figure import field_panel, loss_panel, trajectory_panel
from ddpm_studio.atomic import atomic_write_bytes

__all__ = ["LabReport", "run_lab"]

FIGURE_NAME = "lab.png"
METRICS_NAME = "metrics.json"


@dataclass(frozen=True)
class LabReport:
    figure: Path
    metrics: Path
    floor: float
    distances: dict[str, float]  # "<method>@<nfe>" (+ ",cfg=W" / ",auto=W" when guided) -> SWD to the data


def run_lab(config: LabConfig, steps: int, choices: list[SamplerChoice], out_dir: Path | str, *,
            count: int = 500, seed: int = 0, t: int | None = None, caption: str | None = None,
            twin: str | None = None, should_stop: Callable[[], bool] = lambda: False,
            report: Callable[[LossPoint], None] | None = None) -> LabReport:
    """Train ``steps`` steps, sample ``count`` points with each choice from one x_T, write lab.png and
    metrics.json into ``out_dir``. With ``twin`` ("objective=eps", "schedule=linear") a second model is trained
    the same steps (twice the time) and every choice also samples it from the same x_T."""
    if not choices:
        raise ValueError("give at least one sampler")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file; give a folder for lab.png and metrics.json")
    out.mkdir(parents=True, exist_ok=True)
    lab = Lab(config)
    models = [(lab, None)] if twin is None else [(lab, None), (lab.twin(twin), twin)]
    lab.train(steps, should_stop=should_stop, report=report, every=max(1, steps // 100))
    if twin is not None:
        lab.twin(twin).train(lab.step, should_stop=should_stop, every=max(1, steps // 100))
    floor = lab.floor(count, seed=seed)
    x_T = lab.x_T(count, seed)
    t = t if t is not None else lab.diffusion.num_timesteps // 2
    panels, distances, lanes = [], {}, []
    for choice in choices:
        for model, change in models:
            trajectory = model.trajectories(choice, count=count, seed=seed, x_T=x_T)
            distance = model.distance(trajectory.samples, seed=seed)
            distances[lane_key(choice, trajectory.nfe) + (f"@{change}" if change else "")] = distance
            lane = {"method": choice.method, "nfe": trajectory.nfe, "eta": choice.eta, "swd": distance,
                    "guidance": choice.guidance, "autoguide": choice.autoguide, "class": choice.klass,
                    "model": change or "main",
                    "nearest_data_median": float(_median(model.nearest_data_distance(trajectory.samples)))}
            if trajectory.labels is not None:
                lane["class_spread"] = class_spread(trajectory.samples, trajectory.labels)
            lanes.append(lane)
            panels.append(trajectory_panel(lab.data.points, trajectory, distance, floor, model=change))
    panels.append(field_panel(lab.forward_cloud(t), lab.field(t), lab.diffusion.num_timesteps))
    panels.append(loss_panel(lab.history))
    figure = exports.save_png(out / FIGURE_NAME, exports.hstack(panels), caption=caption)
    metrics = _metrics(config, lab, steps, floor, lanes, count)
    metrics_path = out / METRICS_NAME
    atomic_write_bytes(metrics_path, (json.dumps(metrics, indent=2) + "\n").encode(), what="the metrics")
    return LabReport(figure=figure, metrics=metrics_path, floor=floor, distances=distances)


def lane_key(choice: SamplerChoice, nfe: int) -> str:
    """The metrics' name of a lane: ``ddim@25``, ``ddim@25,cfg=5``, ``ddim@25,auto=2``."""
    key = f"{choice.method}@{nfe}"
    if choice.steered:
        key += f",{'auto' if choice.autoguide else 'cfg'}={choice.guidance:g}"
    return key + (f",class={choice.klass}" if choice.klass is not None else "")


def _median(values: Any) -> float:
    import numpy as np

    return float(np.median(values))


def _metrics(config: LabConfig, lab: Lab, steps: int, floor: float, lanes: list[dict], count: int) -> dict:
    return {
        "format": "ddpm-studio.lab/1",
        "data": config.data, "points": len(lab.data), "steps": lab.step, "requested_steps": steps,
        "model": config.model.to_dict(), "diffusion": config.diffusion.to_dict(),
        "conditional": config.conditional, "num_classes": lab.num_classes, "class_dropout": config.class_dropout,
        "guide_step": config.guide_step,
        "data_class_spread": (class_spread(lab.data.points, lab.data.labels)
                              if lab.data.labels is not None else None),
        "batch_size": config.batch_size, "lr": config.lr, "ema_decay": config.ema_decay, "seed": config.seed,
        "samples": count, "floor_swd": floor, "samplers": lanes,
        "loss": [[p.step, p.loss] for p in lab.history],
    }
