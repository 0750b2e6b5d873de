"""Runs side by side: one typed row per run on disk, their curves on shared x axes, and the config diff of two.

Both faces read runs through here: `ddpm-studio runs` prints `run_rows` and the GUI's Runs tab shows them in a
table, overlays `run_curves` of the selected runs and shows `config_diff` of two. Everything is read from the run
folders (training/runs.py, training/run_files.py: nothing in one folder stops the listing of the others).

A run's state, from its files:
    running   a process holds its lock (training/run_lock.is_locked)
    done      outcome.json says so (the Trainer reached the run's length); without outcome.json (runs trained
              before it was written): the latest checkpoint is at the run's step total
    stopped   outcome.json says so (stopped on request); without it: a checkpoint before the step total
    failed    outcome.json says so (diverged, out of memory, bad data, ...); without it: the last loss is not
              finite, or the history goes past the latest checkpoint (the process was killed or crashed), or
              there is no checkpoint at all
The best score is best.json's (the step whose EMA samples scored best, quality_monitor.py) with the protocol it
was measured under: best.json's or metrics.jsonl's own "protocol" when they store one, else the run's
TrainingConfig fields that define it (sample count, sampler and steps, reference count).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ddpm_studio.engine.unet_config import UNetConfig, preset_of
from ddpm_studio.evaluation.protocol import Protocol
from ddpm_studio.training.config import RunConfig
from ddpm_studio.training.quality_monitor import BEST_METRIC, METRICS_FILE, read_best, read_metrics
from ddpm_studio.training.recorder import read_outcome
from ddpm_studio.training.run_files import read_json_lines
from ddpm_studio.training.run_lock import is_locked
from ddpm_studio.training.runs import Run, last_history_record, read_history, runs_root, scan_runs

RUN_STATES: tuple[str, ...] = ("running", "stopped", "done", "failed")
CUSTOM_PRESET = "custom"  # a model that matches no preset
METRIC_LABELS = {"swd": "SWD×10³", "fid": "FID", "kid": "KID×10³", "precision": "precision", "recall": "recall"}
X_AXES: tuple[str, ...] = ("step", "time", "wall", "images")  # the x a curve may be drawn over
X_LABELS = {"step": "step", "time": "training time (min)", "wall": "wall clock (min since its first step)",
            "images": "images seen"}
SMOOTHING = 0.9  # weight of the displayed curves' EMA (the Training tab's default: a window of ~10 points)
MAX_CURVE_POINTS = 4000  # a longer history is averaged in blocks (plots of many runs stay light)
HISTORY_BOOKKEEPING = ("step", "epoch", "time", "wall")  # history keys that are not curves
UNSMOOTHED = ("lr",)  # scalars that are a schedule, not a noisy measurement: drawn as they are


@dataclass(frozen=True)
class RunRow:
    """One run as the table shows it; None where a run holds no such number."""

    name: str
    path: Path
    data: str  # the data source
    image_size: int
    channels: int
    preset: str  # a UNET_PRESETS name, or "custom"
    objective: str  # eps | x0 | v
    classes: tuple[str, ...]  # () for an unconditional model
    minutes: float | None  # training time at the latest checkpoint (summed over resumes)
    step: int  # latest checkpointed step (0 if none)
    loss: float | None  # the loss recorded at that step
    total_steps: int | None  # the run's length in steps, when it is known without the data
    best_metric: str | None  # "swd"
    best_value: float | None
    best_step: int | None
    protocol: str  # how the best score was measured ("" when there is none)
    state: str  # one of RUN_STATES
    state_detail: str  # why (a failure's kind and message, "killed or crashed", ...)
    modified: float  # POSIX time of the latest write (config, history, checkpoint)

    @property
    def conditional(self) -> str:
        """"no" or "N classes" (the table's column)."""
        return f"{len(self.classes)} classes" if self.classes else "no"

    @property
    def best_text(self) -> str:
        """"SWD×10³ 87.3 @ 600" or "-"."""
        if self.best_value is None or self.best_metric is None:
            return "-"
        at = f" @ {self.best_step}" if self.best_step is not None else ""
        return f"{METRIC_LABELS.get(self.best_metric, self.best_metric)} {self.best_value:.1f}{at}"

    def to_json(self) -> dict[str, Any]:
        """The row as plain JSON values (`ddpm-studio runs --json`)."""
        return {"name": self.name, "path": str(self.path), "data": self.data, "image_size": self.image_size,
                "channels": self.channels, "preset": self.preset, "objective": self.objective,
                "classes": list(self.classes), "minutes": self.minutes, "step": self.step, "loss": self.loss,
                "total_steps": self.total_steps, "best": None if self.best_value is None else {
                    "metric": self.best_metric, "value": self.best_value, "step": self.best_step,
                    "protocol": self.protocol},
                "state": self.state, "state_detail": self.state_detail, "modified": self.modified}


def preset_name(model: UNetConfig) -> str:
    """The UNET_PRESETS name `model` was built from (its width, channels, block and variance may differ), or
    CUSTOM_PRESET."""
    return preset_of(model) or CUSTOM_PRESET


def planned_total(config: RunConfig) -> int | None:
    """The run's length in steps when its config alone says it (max_steps, a time budget's planned_steps);
    None for a length in epochs (it needs the data's size) or a budget not planned yet."""
    tc = config.training
    limits = [v for v in (tc.max_steps, tc.planned_steps) if v is not None]
    return min(limits) if limits and tc.epochs is None else None


def protocol_text(config: RunConfig, stored: Any = None) -> str:
    """How a run's scores are measured, as `evaluation.Protocol.caption` words it ("64 samples · DPM-Solver++(2M)
    10 · vs 256 real"): the protocol the run stored with its scores (metrics.jsonl / best.json, a
    `Protocol.to_dict`; a plain string as such) wins over the one its TrainingConfig defines (runs scored before
    protocols were stored)."""
    if isinstance(stored, str) and stored:
        return stored
    if isinstance(stored, dict) and stored:
        try:
            return Protocol.from_dict(stored).caption("")
        except ValueError:
            return ", ".join(f"{k}={v}" for k, v in stored.items() if k != "caption")
    tc = config.training
    return Protocol(tc.metrics_count, tc.metrics_sampler, tc.metrics_sampler_steps, config.data.source,
                    tc.metrics_reference_count).caption("")


def _stored_protocol(run: Run, best: dict[str, Any] | None) -> Any:
    if best is not None and best.get("protocol"):
        return best["protocol"]
    for record in reversed(read_json_lines(run.path / METRICS_FILE)):
        if record.get("protocol"):
            return record["protocol"]
    return None


def run_state(run: Run, step: int, last: dict[str, Any] | None) -> tuple[str, str]:
    """(state, detail) of a run (see the module docstring); `step` is its latest checkpoint's, `last` its last
    history record."""
    if is_locked(run.path):
        return "running", "a process is training it"
    outcome = read_outcome(run.path)
    if outcome is not None:
        detail = ": ".join(str(v) for v in (outcome.get("kind"), outcome.get("message")) if v)
        return outcome["state"], detail
    loss = last.get("loss") if last else None
    if isinstance(loss, (int, float)) and not math.isfinite(loss):
        return "failed", f"the loss became {loss} at step {last['step']}"
    if last is not None and last["step"] > step:
        return "failed", f"killed or crashed: steps {step + 1}-{last['step']} were lost"
    if step == 0:
        return "failed", "no checkpoint"
    total = planned_total(run.config)
    if total is not None and step >= total:
        return "done", ""
    return "stopped", ""


def run_row(run: Run) -> RunRow:
    """The table row of one run (reads only small files and the history's tail)."""
    checkpoints = run.checkpoints()
    step = checkpoints[-1][0] if checkpoints else 0
    at_step = last_history_record(run.history_path, step=step) if step else None
    last = last_history_record(run.history_path)
    state, detail = run_state(run, step, last)
    record = at_step or (last if state == "running" else None)
    minutes = float(record["time"]) / 60 if record and "time" in record else None
    loss = float(record["loss"]) if record and "loss" in record else None
    if state == "running" and last is not None:
        step = max(step, last["step"])
    best = read_best(run.path)
    config = run.config
    times = [p.stat().st_mtime for p in (run.path / "config.json", run.history_path) if p.exists()]
    times += [p.stat().st_mtime for _, p in checkpoints[-1:]]
    return RunRow(name=run.name, path=run.path, data=config.data.source, image_size=config.data.image_size,
                  channels=config.data.channels, preset=preset_name(config.model),
                  objective=config.diffusion.objective, classes=tuple(config.data.classes), minutes=minutes,
                  step=step, loss=loss, total_steps=planned_total(config),
                  best_metric=str(best.get("metric", BEST_METRIC)) if best else None,
                  best_value=float(best["value"]) if best and "value" in best else None,
                  best_step=int(best["step"]) if best else None,
                  protocol=protocol_text(config, _stored_protocol(run, best)) if best else "",
                  state=state, state_detail=detail, modified=max(times, default=0.0))


@dataclass(frozen=True)
class RunTable:
    """The runs of a folder, newest first, and one line per folder that was skipped."""

    rows: tuple[RunRow, ...]
    skipped: tuple[str, ...]


def run_rows(runs_dir: Path | None = None) -> RunTable:
    """Every usable run under `runs_dir` (default: the user's runs folder) as a row, newest first."""
    from ddpm_studio.training.runs import open_run

    listing = scan_runs(Path(runs_dir) if runs_dir is not None else runs_root())
    rows, skipped = [], list(listing.skipped)
    for info in listing.runs:
        try:
            rows.append(run_row(open_run(info.path)))
        except Exception as exc:  # noqa: BLE001 - one crafted folder must not stop the table of the others
            skipped.append(f"{info.name}: {type(exc).__name__}: {exc}")
    return RunTable(tuple(sorted(rows, key=lambda r: r.modified, reverse=True)), tuple(skipped))


# ---- curves -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunCurves:
    """A run's curves as float64 arrays, each with its own x arrays (step, training minutes, wall-clock minutes,
    images seen). Training time excludes pauses and the gaps between resumed sessions; the wall clock does not."""

    name: str
    step: np.ndarray  # (N,) of the history
    minutes: np.ndarray  # (N,) training time
    wall_minutes: np.ndarray  # (N,) wall clock since the first step
    images: np.ndarray  # (N,) images seen: step × batch size (per process under DDP)
    scalars: dict[str, np.ndarray]  # every numeric history key but the bookkeeping: loss, lr, grad norm, ...
    quality_step: np.ndarray  # (M,) steps of the quality points
    quality_minutes: np.ndarray  # (M,)
    quality_wall_minutes: np.ndarray  # (M,) the wall clock at the scored steps (interpolated in the history)
    quality_images: np.ndarray  # (M,)
    quality: dict[str, np.ndarray]  # swd, precision, recall, ... (M,) each
    floor: dict[str, float]  # real vs real at the same counts ({} when none)
    smoothed: dict[str, np.ndarray]  # each noisy scalar (not UNSMOOTHED) smoothed for display: TensorBoard's EMA
    protocol: str  # how the quality points were measured (protocol_text)

    def x(self, axis: str, *, quality: bool = False) -> np.ndarray:
        """The x values of the history (or of the quality points) on `axis` (one of X_AXES)."""
        if axis not in X_AXES:
            raise ValueError(f"x axis must be one of {', '.join(X_AXES)}, got {axis!r}")
        if quality:
            return {"step": self.quality_step, "time": self.quality_minutes, "wall": self.quality_wall_minutes,
                    "images": self.quality_images}[axis]
        return {"step": self.step, "time": self.minutes, "wall": self.wall_minutes, "images": self.images}[axis]


def _block_mean(values: np.ndarray, block: int) -> np.ndarray:
    if block <= 1:
        return values
    n = len(values) // block * block
    head = values[:n].reshape(-1, block).mean(axis=1)
    return np.concatenate([head, values[n:].mean(keepdims=True)]) if n < len(values) else head


def ema_smoothed(values: np.ndarray, weight: float = SMOOTHING) -> np.ndarray:
    """TensorBoard's bias-corrected EMA: m_n = w·m_{n-1} + (1-w)·x_n, s_n = m_n / (1 - w^n); non-finite values
    keep the previous average (as gui/training/loss_plot.smoothed, which draws the live curve)."""
    out = np.empty(len(values), np.float64)
    ema = norm = 0.0
    for i, x in enumerate(np.asarray(values, np.float64)):
        if math.isfinite(x):
            ema, norm = weight * ema + (1.0 - weight) * x, weight * norm + (1.0 - weight)
        out[i] = ema / norm if norm > 0 else x
    return out


def run_curves(run: Run, max_points: int = MAX_CURVE_POINTS) -> RunCurves:
    """The loss (and every other per-step scalar the history holds) and the quality curve of `run`; a history
    longer than `max_points` is averaged in equal blocks of steps."""
    records = read_history(run.history_path)
    keys = sorted({k for r in records for k, v in r.items()
                   if k not in HISTORY_BOOKKEEPING and isinstance(v, (int, float)) and not isinstance(v, bool)})
    block = max(1, math.ceil(len(records) / max_points))

    def column(key: str) -> np.ndarray:
        values = np.array([float(r.get(key, math.nan)) for r in records], dtype=np.float64)
        return _block_mean(values, block)

    batch = run.config.training.batch_size
    step = column("step")
    metrics = read_metrics(run.path)
    names = sorted({k for p in metrics.points for k in p.metrics})
    q_step = np.array([p.step for p in metrics.points], dtype=np.float64)
    scalars = {k: column(k) for k in keys}
    wall = column("wall")
    wall = (wall - wall[0]) / 60 if len(wall) else wall
    q_wall = np.interp(q_step, step, wall) if len(step) and len(q_step) else np.full(len(q_step), np.nan)
    return RunCurves(name=run.name, step=step, minutes=column("time") / 60, wall_minutes=wall, images=step * batch,
                     scalars=scalars, quality_step=q_step,
                     quality_minutes=np.array([p.elapsed_s / 60 for p in metrics.points], dtype=np.float64),
                     quality_wall_minutes=q_wall,
                     quality_images=q_step * batch,
                     quality={k: np.array([p.metrics.get(k, math.nan) for p in metrics.points], dtype=np.float64)
                              for k in names},
                     floor=dict(metrics.floor or {}),
                     smoothed={k: ema_smoothed(v) for k, v in scalars.items() if k not in UNSMOOTHED},
                     protocol=protocol_text(run.config, _stored_protocol(run, read_best(run.path))))


# ---- config diff --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConfigDifference:
    """One config key whose value differs between two runs (None: the key is absent in that run)."""

    key: str  # dotted: "training.lr"
    left: Any
    right: Any


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}{key}."))
        return out
    return {prefix.rstrip("."): tuple(value) if isinstance(value, list) else value}


def config_diff(a: RunConfig, b: RunConfig) -> list[ConfigDifference]:
    """The keys of two runs' config.json whose values differ, in the file's order (model, diffusion, data,
    training)."""
    left, right = _flatten(a.to_dict()), _flatten(b.to_dict())
    keys = list(left) + [k for k in right if k not in left]
    return [ConfigDifference(k, left.get(k), right.get(k)) for k in keys if left.get(k) != right.get(k)]


# ---- a selection of runs ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunComparison:
    """What the Runs tab shows for the selected runs: their curves (in the given order), the config diff when
    exactly two are selected, and one line per run that could not be read."""

    curves: tuple[RunCurves, ...]
    pair: tuple[str, str] | None  # the two runs diffed
    differences: tuple[ConfigDifference, ...]
    problems: tuple[str, ...]


def compare_runs(paths: Sequence[Path], max_points: int = MAX_CURVE_POINTS) -> RunComparison:
    """Read the curves of the runs at `paths` (and diff their configs if there are two); a run that cannot be
    read is named in `problems`, the others are still shown."""
    from ddpm_studio.training.runs import open_run

    runs, curves, problems = [], [], []
    for path in paths:
        try:
            run = open_run(path)
            curves.append(run_curves(run, max_points))
            runs.append(run)
        except Exception as exc:  # noqa: BLE001 - one unreadable run must not hide the others
            problems.append(f"{Path(path).name}: {type(exc).__name__}: {exc}")
    pair = (runs[0].name, runs[1].name) if len(runs) == 2 else None
    differences = tuple(config_diff(runs[0].config, runs[1].config)) if pair else ()
    return RunComparison(tuple(curves), pair, differences, tuple(problems))
