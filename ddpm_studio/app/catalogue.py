"""The model catalogue: which trained models a person can sample from, and what a name they type means.

One resolver for both faces: a checkpoint file, a run folder, a run's name under the runs folder, or "demo"
(the shipped model). `model_choices` is the list the sampler view offers; the CLI takes the same names.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ddpm_studio.training.checkpoint import CheckpointError
from ddpm_studio.training.runs import DEMO_CHECKPOINT, list_runs, runs_root

DEMO = "demo"  # the name of the shipped model in both faces


@dataclass(frozen=True)
class ModelChoice:
    """One model on offer: what to call it and where it is (a checkpoint file or a run folder)."""

    label: str
    path: Path


def resolve_model(spec: str | Path, runs_dir: Path | None = None) -> Path:
    """A checkpoint file or run folder path, a run name under `runs_dir` (default: the user's runs), or "demo".

    Raises CheckpointError with a one-line reason when nothing of that name exists.
    """
    if str(spec) == DEMO:
        if not DEMO_CHECKPOINT.exists():
            raise CheckpointError(f"the demo model is not installed (expected {DEMO_CHECKPOINT})")
        return DEMO_CHECKPOINT
    path = Path(spec).expanduser()
    if path.exists():
        return path
    candidate = (Path(runs_dir) if runs_dir is not None else runs_root()) / str(spec)
    if candidate.exists():
        return candidate
    raise CheckpointError(f"no checkpoint, run folder or run named {str(spec)!r}")


def model_choices(current_run: Path | None = None, runs_dir: Path | None = None) -> list[ModelChoice]:
    """The models to offer, best first: the current run, the runs on disk with a checkpoint, the demo model."""
    choices: list[ModelChoice] = []
    if current_run is not None:
        choices.append(ModelChoice(f"current run: {Path(current_run).name}", Path(current_run)))
    for info in list_runs(runs_dir):
        if info.step > 0 and (current_run is None or Path(info.path) != Path(current_run)):
            choices.append(ModelChoice(f"{info.name} (step {info.step})", Path(info.path)))
    if DEMO_CHECKPOINT.is_file():
        choices.append(ModelChoice("demo model (shipped)", DEMO_CHECKPOINT))
    return choices
