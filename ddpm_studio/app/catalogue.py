"""The model catalogue: which trained models a person can sample from, and what a name they type means.

One resolver for both faces: a checkpoint file, a run folder, a run's name under the runs folder, "demo"
(the shipped model) or "demo-classes" (the shipped class-conditional model: 16 px shapes, three classes).
`model_choices` is the list the sampler view offers; the CLI takes the same names.

`default_choice` picks the model a person should get without choosing, by one stated rule (`BEST_MODEL_RULE`):
the shipped demo model, until a run is better, i.e. its latest checkpoint has taken more optimiser steps than
the demo's. (Runs record no sample-quality metric yet; when they do, a better recorded metric should win
here too.) Among runs that beat the demo, the one with the most steps, then the newest. A newcomer's first
sample is then the demo's images, not the noise of a 6-step throwaway run. `model_info` reads a model's step
and T from its config/header alone (no weights), cheap enough for the GUI thread.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ddpm_studio.app.diffusers_model import is_diffusers_folder, read_shape, read_timesteps
from ddpm_studio.training.checkpoint import CheckpointError, read_checkpoint_config
from ddpm_studio.training.runs import CLASS_DEMO_CHECKPOINT, DEMO_CHECKPOINT, RunError, list_runs, open_run, runs_root

DEMO = "demo"  # the name of the shipped model in both faces
CLASS_DEMO = "demo-classes"  # the name of the shipped class-conditional model
SHIPPED: dict[str, Path] = {DEMO: DEMO_CHECKPOINT, CLASS_DEMO: CLASS_DEMO_CHECKPOINT}
_SHIPPED_LABELS = {DEMO: "demo model", CLASS_DEMO: "class demo model"}  # in captions and messages
_LIST_LABELS = {DEMO: "demo model (shipped)", CLASS_DEMO: "class demo (shipped)"}  # short: model boxes size to it
BEST_MODEL_RULE = ("the demo model, until a run's latest checkpoint has more training steps than the demo's; "
                   "then the run with the most steps (the newest on a tie)")


@dataclass(frozen=True)
class ModelChoice:
    """One model on offer: what to call it and where it is (a checkpoint file or a run folder)."""

    label: str
    path: Path
    step: int = 0  # optimiser steps of its (latest) checkpoint; 0 when unknown
    is_demo: bool = False  # shipped with the app (the demo or the class demo); the first one is the default
    origin: str = "run"  # where it came from: "run" (trained here), "demo" (shipped), "file", "diffusers"


@dataclass(frozen=True)
class ModelInfo:
    """What a model's files say without loading weights: its training steps and its T."""

    step: int
    timesteps: int


def model_info(path: str | Path) -> ModelInfo | None:
    """The steps and T of a checkpoint file, a run folder (its latest checkpoint) or a diffusers model folder,
    or None if unreadable."""
    path = Path(path)
    try:
        if is_diffusers_folder(path):
            return ModelInfo(step=0, timesteps=read_timesteps(path))
        if path.is_dir():
            run = open_run(path)
            latest = run.checkpoints()
            return ModelInfo(step=latest[-1][0] if latest else 0, timesteps=run.config.diffusion.timesteps)
        config, step = read_checkpoint_config(path)  # the header alone: no tensor is read
        return ModelInfo(step=step, timesteps=config.diffusion.timesteps)
    except (OSError, ValueError, KeyError, RunError, CheckpointError):
        return None  # unreadable: the sampler reports the real error when it loads the model


def model_shape(path: str | Path) -> tuple[int, int, int] | None:
    """(C, H, W) of the images a model makes, from its config alone (no weights), or None if unreadable."""
    path = Path(path)
    try:
        if is_diffusers_folder(path):
            return read_shape(path)
        if path.is_dir():
            config = open_run(path).config
        else:
            config, _ = read_checkpoint_config(path)  # the header alone
        return config.model.in_channels, config.data.image_size, config.data.image_size
    except (OSError, ValueError, KeyError, RunError, CheckpointError):
        return None


def model_name(path: str | Path) -> str:
    """A short name for captions: 'demo model (step 5000)', 'my-run (step 1200)', 'my-run/step_00001200'."""
    path = Path(path)
    info = model_info(path)
    step = f" (step {info.step})" if info is not None and info.step else ""
    shipped = next((name for name, file in SHIPPED.items() if path == file), None)
    if shipped is not None:
        return f"{_SHIPPED_LABELS[shipped]}{step}"
    if path.is_dir():
        return f"{path.name}{step}"
    run = path.parent.parent.name if path.parent.name == "checkpoints" else path.parent.name
    return f"{run}/{path.stem}" if run else path.stem


def resolve_model(spec: str | Path, runs_dir: Path | None = None) -> Path:
    """A checkpoint file or run folder path, a run name under `runs_dir` (default: the user's runs), "demo" or
    "demo-classes".

    Raises CheckpointError with a one-line reason when nothing of that name exists.
    """
    if str(spec) in SHIPPED:
        shipped = SHIPPED[str(spec)]
        if not shipped.exists():
            raise CheckpointError(f"the {_SHIPPED_LABELS[str(spec)]} is not installed (expected {shipped})")
        return shipped
    path = Path(spec).expanduser()
    if path.exists():
        return path
    candidate = (Path(runs_dir) if runs_dir is not None else runs_root()) / str(spec)
    if candidate.exists():
        return candidate
    raise CheckpointError(f"no checkpoint, run folder or run named {str(spec)!r}")


def opened_choice(path: str | Path) -> ModelChoice:
    """A model a person opened by hand (File → Open Model…): a diffusers model folder, a run folder or a
    checkpoint file, labelled with where it came from. ValueError (one line) when it is none of these."""
    path = Path(path)
    if is_diffusers_folder(path):
        return ModelChoice(f"{path.name} (diffusers)", path, 0, origin="diffusers")
    info = model_info(path)
    if info is None:
        raise ValueError(f"{path} is not a diffusers model folder, a run folder or a checkpoint file")
    return ModelChoice(f"{model_name(path)} (opened)", path, info.step, origin="file")


def model_choices(current_run: Path | None = None, runs_dir: Path | None = None,
                  opened: Sequence[str | Path] = ()) -> list[ModelChoice]:
    """The models to offer, best first: the current run, the runs on disk with a checkpoint, the demo model, the
    class demo model, then the models opened by hand (`opened`, newest first; those gone from disk are left out)."""
    choices: list[ModelChoice] = []
    if current_run is not None:
        info = model_info(current_run)
        choices.append(ModelChoice(f"current run: {Path(current_run).name}", Path(current_run),
                                   info.step if info else 0))
    for info in list_runs(runs_dir):
        if info.step > 0 and (current_run is None or Path(info.path) != Path(current_run)):
            choices.append(ModelChoice(f"{info.name} (step {info.step})", Path(info.path), info.step))
    for name, shipped in SHIPPED.items():  # the demo first: default_choice takes the first shipped model
        if shipped.is_file():
            info = model_info(shipped)
            choices.append(ModelChoice(_LIST_LABELS[name], shipped, info.step if info else 0, is_demo=True,
                                       origin="demo"))
    offered = {c.path for c in choices}
    for path in opened:
        if Path(path) not in offered and Path(path).exists():
            try:
                choices.append(opened_choice(path))
            except ValueError:
                continue  # damaged since it was opened: the listing goes on
    return choices


def default_choice(choices: list[ModelChoice]) -> ModelChoice | None:
    """The model to select when the person has not chosen one (`BEST_MODEL_RULE`); None when there is none."""
    demo = next((c for c in choices if c.is_demo), None)
    floor = demo.step if demo is not None else -1
    better = [c for c in choices if not c.is_demo and c.step > floor]
    if better:
        return max(better, key=lambda c: c.step)  # max keeps the first on a tie: choices list the newest first
    return demo if demo is not None else (choices[0] if choices else None)
