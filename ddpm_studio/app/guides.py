"""The guide models on offer for autoguidance, and why a chosen one cannot guide (from the configs alone).

Autoguidance (Karras et al. 2024, "Guiding a diffusion model with a bad version of itself") steers a model away
from a weaker one of the same shape and data: D = D_weak + w (D_main - D_weak). The weaker models a person
already has are the earlier checkpoints of the same run (the run keeps them) and other runs on the same data.
`guide_choices` lists those, newest first; `guide_problem` says in one line why a chosen guide does not fit
(`app.sampling.guide_mismatch`), reading only config.json and checkpoint headers, so the GUI thread may call
both. The sampling session checks the loaded models again (`SamplingSession._guide`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ddpm_studio.app.diffusers_model import is_diffusers_folder
from ddpm_studio.app.sampling import guide_mismatch
from ddpm_studio.training.checkpoint import CheckpointError, read_checkpoint_config
from ddpm_studio.training.config import RunConfig
from ddpm_studio.training.runs import CHECKPOINTS_DIR, CONFIG_FILE, Run, RunError, list_runs, open_run

_UNREADABLE = (OSError, ValueError, KeyError, RunError, CheckpointError)


@dataclass(frozen=True)
class GuideChoice:
    """A weaker model on offer as the guide: what to call it and its checkpoint file or run folder."""

    label: str
    path: Path


def read_config(path: str | Path) -> RunConfig | None:
    """A model's RunConfig from its files alone (a run's config.json or a checkpoint's header, no weights); None
    for a diffusers folder or anything unreadable (the sampler reports the real error when it loads it)."""
    path = Path(path)
    try:
        if is_diffusers_folder(path):
            return None
        if path.is_dir():
            return open_run(path).config
        return read_checkpoint_config(path)[0]
    except _UNREADABLE:
        return None


def model_classes(path: str | Path) -> tuple[str, ...]:
    """The class names of a conditional model, in label order; () for an unconditional or unreadable one."""
    config = read_config(path)
    return () if config is None or not config.model.num_classes else config.data.classes


def _run_of(model: Path) -> tuple[Run, int | None] | None:
    """The run a model belongs to and the step of its checkpoint (None: a run folder, i.e. its latest)."""
    try:
        if model.is_dir() and (model / CONFIG_FILE).is_file():
            return open_run(model), None
        if model.parent.name == CHECKPOINTS_DIR and (model.parent.parent / CONFIG_FILE).is_file():
            return open_run(model.parent.parent), read_checkpoint_config(model)[1]
    except _UNREADABLE:
        return None
    return None


def guide_choices(model: str | Path, runs_dir: Path | None = None) -> list[GuideChoice]:
    """The weaker models that could guide `model`: its run's earlier checkpoints (newest first), then the other
    runs on the same data and image size (their latest checkpoint). [] for a model whose config is unknown."""
    model = Path(model)
    config = read_config(model)
    if config is None:
        return []
    choices: list[GuideChoice] = []
    found = _run_of(model)
    own_run = found[0].path.resolve() if found is not None else None
    if found is not None:
        run, step = found
        checkpoints = run.checkpoints()
        current = step if step is not None else (checkpoints[-1][0] if checkpoints else 0)
        choices += [GuideChoice(f"earlier checkpoint: step {s}", path)
                    for s, path in reversed(checkpoints) if s < current]
    for info in list_runs(runs_dir):
        if info.step <= 0 or Path(info.path).resolve() == own_run:
            continue
        if info.source == config.data.source and info.image_size == config.data.image_size:
            choices.append(GuideChoice(f"run {info.name} (step {info.step})", Path(info.path)))
    return choices


def guide_problem(model: str | Path, guide: str | Path) -> str | None:
    """One line on why `guide` cannot guide `model` (`guide_mismatch`), or None when it fits. A guide that is no
    model is said so; when the model's own config is unknown (a diffusers folder) the session checks later."""
    guide = Path(guide)
    if not guide.exists():
        return f"the guide model {guide.name} is not there (moved or deleted?)"
    weak = read_config(guide)
    if weak is None:
        return f"{guide.name} is not a checkpoint or run folder of DDPM Studio: it cannot guide"
    main = read_config(model)
    problem = None if main is None else guide_mismatch(main, weak)
    return None if problem is None else f"{guide.name} cannot guide this model: {problem}"
