"""Runs on disk: one folder per training run, reopened to resume, sample or browse.

    <runs_root>/<name>/
        config.json            the RunConfig (rebuilds model, diffusion, data and training)
        checkpoints/           step_XXXXXXXX.safetensors + .state.pt (see checkpoint.py), last K kept
        history.jsonl          one JSON object per step: step, epoch, loss, lr, time (s of training), wall,
                               grad_norm (before clipping; absent when clipping is off or in older runs) and
                               images (images seen, all ranks; absent in older runs)
        timestep_loss.json     the running loss by timestep bucket (timestep_loss.py); absent in older runs
        previews/epoch_XXXX.png  the EMA preview grid at the end of each epoch
        outcome.json           how the last training session ended (recorder.py); none while training or after a crash
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ddpm_studio.errors_text import one_line
from ddpm_studio.paths import data_home, demo_checkpoint_dir
from ddpm_studio.training.checkpoint import (
    Checkpoint,
    CheckpointError,
    atomic_write_text,
    config_json,
    describe_model_difference,
    list_checkpoints,
    load_checkpoint,
)
from ddpm_studio.training.config import RunConfig
from ddpm_studio.training.run_files import RunFileError, is_int, is_number, read_json_lines, read_small_text
from ddpm_studio.training.timestep_loss import TimestepLossRecord

log = logging.getLogger(__name__)

CONFIG_FILE = "config.json"
HISTORY_FILE = "history.jsonl"
TIMESTEP_LOSS_FILE = "timestep_loss.json"
CHECKPOINTS_DIR = "checkpoints"
PREVIEWS_DIR = "previews"
OUTCOME_FILE = "outcome.json"  # how the last training session ended (recorder.py): {"state", "step", "kind", ...}
DEMO_CHECKPOINT: Path = demo_checkpoint_dir() / "model.safetensors"  # shipped EMA-only demo model
# the shipped class-conditional model: builtin:shapes at 16 px, circle / square / triangle (README "Ask for a class")
CLASS_DEMO_CHECKPOINT: Path = demo_checkpoint_dir() / "classes.safetensors"
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


class RunError(Exception):
    """A folder that is not a usable run (no or bad config.json), or a name that cannot be created."""


def runs_root() -> Path:
    """`$DDPM_STUDIO_HOME/runs` if the variable is set, else the platformdirs user data dir + /runs."""
    return data_home() / "runs"


@dataclass
class Run:
    """A run folder and its configuration. Only rank 0 writes into it under DDP."""

    path: Path
    config: RunConfig

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def checkpoints_dir(self) -> Path:
        return self.path / CHECKPOINTS_DIR

    @property
    def previews_dir(self) -> Path:
        return self.path / PREVIEWS_DIR

    @property
    def history_path(self) -> Path:
        return self.path / HISTORY_FILE

    @property
    def timestep_loss_path(self) -> Path:
        return self.path / TIMESTEP_LOSS_FILE

    def own_folders(self) -> None:
        """Make checkpoints/ and previews/ real folders of the run: a symbolic link there (to a user's folder) is
        replaced, never written through (pruning would delete, previews overwrite, the files it points to)."""
        for folder in (self.checkpoints_dir, self.previews_dir):
            if folder.is_symlink():
                target = os.readlink(folder)
                folder.unlink()
                log.warning("run %s: %s was a symbolic link to %s; replaced by a folder of the run (links are "
                            "never written through)", self.name, folder.name, target)
            folder.mkdir(exist_ok=True)

    def checkpoints(self) -> list[tuple[int, Path]]:
        """(step, path) of the complete checkpoints, oldest first."""
        return list_checkpoints(self.checkpoints_dir)

    def latest_checkpoint(self) -> Path | None:
        found = self.checkpoints()
        return found[-1][1] if found else None

    def resume_checkpoint(self) -> Checkpoint:
        """The latest usable checkpoint, checked to fit this run's model and diffusion (CheckpointError if not, or
        none). A damaged latest checkpoint is passed over for an older one with a warning (Checkpoint.skipped)."""
        if self.latest_checkpoint() is None:
            raise CheckpointError(f"run {self.name} has no checkpoint to resume from")
        checkpoint = load_checkpoint(self.checkpoints_dir)
        path = checkpoint.path
        if checkpoint.config.model != self.config.model:
            raise CheckpointError(f"{path.name} was made for a different model than run {self.name} describes ("
                                  f"{describe_model_difference(self.config.model, checkpoint.config.model)})")
        if checkpoint.config.diffusion != self.config.diffusion:
            raise CheckpointError(f"{path.name} was trained with different diffusion settings than run {self.name}")
        return checkpoint

    def history(self) -> list[dict[str, Any]]:
        """The per-step records; a torn last line (crash mid-append) is skipped."""
        return read_history(self.history_path)

    def timestep_loss(self) -> TimestepLossRecord | None:
        """The stored loss by timestep, or None for a run without one (trained before it was stored, or not
        flushed yet). ValueError with a one-line reason if the file is damaged; the run itself stays usable."""
        try:
            text = read_small_text(self.timestep_loss_path)
        except FileNotFoundError:
            return None
        except (OSError, RunFileError) as exc:
            raise ValueError(f"{TIMESTEP_LOSS_FILE} cannot be read: {one_line(exc)}") from None
        try:
            return TimestepLossRecord.from_json(text)
        except (ValueError, TypeError, KeyError, RecursionError, OverflowError) as exc:
            raise ValueError(f"{TIMESTEP_LOSS_FILE} is damaged: {one_line(exc)}") from None

    def previews(self) -> list[Path]:
        return sorted(self.previews_dir.glob("epoch_*.png")) if self.previews_dir.is_dir() else []

    def preview_path(self, epoch: int) -> Path:
        return self.previews_dir / f"epoch_{epoch:04d}.png"

    def save_config(self, config: RunConfig | None = None) -> None:
        """Atomically (re)write config.json, e.g. after extending the number of steps on resume."""
        if config is not None:
            self.config = config
        atomic_write_text(self.path / CONFIG_FILE, config_json(self.config))

    def truncate_history(self, step: int) -> None:
        """Drop records after `step` (steps lost since the checkpoint a resume starts from)."""
        if not self.history_path.exists():
            return
        kept = [r for r in self.history() if r["step"] <= step]
        atomic_write_text(self.history_path, "".join(json.dumps(r) + "\n" for r in kept))


@dataclass(frozen=True)
class RunInfo:
    """One line of `ddpm-studio runs`."""

    name: str
    path: Path
    step: int  # latest checkpointed step (0 if none)
    last_loss: float | None  # loss recorded at that same step (None without a checkpoint or its record)
    date: datetime  # last modification
    source: str
    image_size: int


def last_history_record(path: Path, *, tail_bytes: int = 8192, step: int | None = None) -> dict[str, Any] | None:
    """The last usable record of a history file (or the last one of `step`), reading only its tail where it
    holds the answer (runs lists stay fast on long runs)."""
    if not path.is_file():
        return None
    with open(path, "rb") as f:
        size = f.seek(0, os.SEEK_END)
        f.seek(max(0, size - tail_bytes))
        lines = f.read(tail_bytes).decode("utf-8", errors="replace").splitlines()
    for line in reversed(lines):
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):
            continue  # the first line of the tail may be cut, the last one torn by a crash
        if isinstance(record, dict) and _history_problem(record) is None and (step is None or record["step"] == step):
            return record
    if size <= tail_bytes:
        return None
    records = [r for r in read_history(path) if step is None or r.get("step") == step]  # not in the tail
    return records[-1] if records else None


def _history_problem(record: dict[str, Any]) -> str | None:
    """Why a history record cannot be used (its step must be an integer, its loss a number), else None."""
    if not is_int(record.get("step")):
        return f"step must be an integer, got {record.get('step')!r:.40}"
    for key in ("loss", "lr", "time", "wall"):
        if key in record and not is_number(record[key]):
            return f"{key} must be a number, got {record[key]!r:.40}"
    return None


def read_history(path: Path) -> list[dict[str, Any]]:
    """The usable records of history.jsonl; torn lines are skipped, wrongly typed records too (with a warning
    naming the file)."""
    return read_json_lines(path, _history_problem)


def _default_name(config: RunConfig) -> str:
    source = config.data.source.split("?")[0]
    short = source.split(":", 1)[1] if source.startswith("builtin:") else Path(source).stem or "data"
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{short}-{config.data.image_size}px"


def create_run(config: RunConfig, root: Path | None = None, name: str | None = None) -> Run:
    """Make a new run folder (name made unique with -2, -3, ...) and write its config.json."""
    config.validate()
    root = Path(root) if root is not None else runs_root()
    root.mkdir(parents=True, exist_ok=True)
    base = _UNSAFE_NAME.sub("-", name).strip("-.") if name else _default_name(config)
    if not base:
        raise RunError(f"run name {name!r} has no usable characters")
    for attempt in range(1, 1000):
        path = root / (base if attempt == 1 else f"{base}-{attempt}")
        try:
            path.mkdir()
        except FileExistsError:
            continue
        break
    else:
        raise RunError(f"could not create a run folder named {base!r} in {root}")
    (path / CHECKPOINTS_DIR).mkdir()
    (path / PREVIEWS_DIR).mkdir()
    run = Run(path=path, config=config)
    run.save_config()
    return run


# what a run that never completed a step may hold and still count as unused (problems.txt: the skipped data files;
# outcome.json: its failure)
UNUSED_RUN_FILES = frozenset({CONFIG_FILE, CHECKPOINTS_DIR, PREVIEWS_DIR, ".lock", "problems.txt", OUTCOME_FILE})


def remove_unused_run(run: Run) -> bool:
    """Delete a run folder that never trained (config.json, empty subfolders, its lock, the list of skipped data
    files), e.g. when its data or its model could not be loaded or its first step failed (out of memory), so no
    empty run is left and the name is free again. True if it was removed."""
    allowed = UNUSED_RUN_FILES
    try:
        entries = list(run.path.iterdir())
        if any(e.name not in allowed or e.is_symlink() or (e.is_dir() and any(e.iterdir())) for e in entries):
            return False
        for entry in entries:
            entry.rmdir() if entry.is_dir() else entry.unlink()
        run.path.rmdir()
    except OSError as exc:
        log.warning("could not remove the unused run folder %s: %s", run.path, exc)
        return False
    return True


def open_run(path: Path | str, root: Path | None = None) -> Run:
    """Reopen a run by folder path, or by name under `root` (default runs_root())."""
    candidate = Path(path).expanduser()
    if not (candidate / CONFIG_FILE).exists() and not candidate.is_absolute():
        under_root = (Path(root) if root is not None else runs_root()) / candidate
        if (under_root / CONFIG_FILE).exists():
            candidate = under_root
    config_path = candidate / CONFIG_FILE
    if not config_path.is_file():
        raise RunError(f"{candidate} is not a run folder (no {CONFIG_FILE})")
    try:
        config = RunConfig.from_json(read_small_text(config_path))
    except (ValueError, OSError, RecursionError, MemoryError) as exc:  # nothing in one file may stop the app
        raise RunError(f"{config_path} cannot be used: {one_line(exc)}") from None
    return Run(path=candidate, config=config)


def _run_info(run: Run) -> RunInfo:
    latest = run.checkpoints()
    # the loss beside the checkpoint's step is that step's loss (steps after it are lost on resume)
    last = last_history_record(run.history_path, step=latest[-1][0]) if latest else None
    last_loss = last.get("loss") if last else None
    times = [os.path.getmtime(p) for p in (run.path / CONFIG_FILE, run.history_path) if p.exists()]
    times += [os.path.getmtime(p) for _, p in latest[-1:]]
    return RunInfo(name=run.name, path=run.path, step=latest[-1][0] if latest else 0,
                   last_loss=float(last_loss) if isinstance(last_loss, (int, float)) else None,
                   date=datetime.fromtimestamp(max(times)), source=run.config.data.source,
                   image_size=run.config.data.image_size)


@dataclass(frozen=True)
class RunListing:
    """The usable runs of a folder, newest first, and one line per run folder that was skipped."""

    runs: list[RunInfo]
    skipped: list[str]  # "deep: config.json cannot be used: ..."


def scan_runs(root: Path | None = None) -> RunListing:
    """Every usable run under `root` (default runs_root()), newest first, and why the others were skipped.
    Nothing in one run folder stops the listing of the others (any exception skips that folder alone)."""
    root = Path(root) if root is not None else runs_root()
    try:
        entries = list(root.iterdir()) if root.is_dir() else []
    except OSError as exc:
        log.warning("cannot list runs in %s: %s", root, exc)
        return RunListing([], [])
    infos, skipped = [], []
    for entry in entries:
        try:
            if entry.is_dir() and (entry / CONFIG_FILE).is_file():
                infos.append(_run_info(open_run(entry)))
        except Exception as exc:  # noqa: BLE001 - RunError, OSError, and whatever else a crafted file raises
            reason = str(exc) if isinstance(exc, RunError) else one_line(exc, with_type=not isinstance(exc, OSError))
            reason = reason.replace(f"{entry / CONFIG_FILE} ", f"{CONFIG_FILE} ", 1)
            log.warning("skipping run %s: %s", entry.name, reason)
            skipped.append(f"{entry.name}: {reason}")
    return RunListing(sorted(infos, key=lambda info: info.date, reverse=True), skipped)


def list_runs(root: Path | None = None) -> list[RunInfo]:
    """Every usable run under `root` (default runs_root()), newest first; unusable folders are skipped with a
    warning (`scan_runs` also says which)."""
    return scan_runs(root).runs
