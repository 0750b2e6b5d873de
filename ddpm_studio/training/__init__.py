"""ddpm_studio.training: the Trainer, its events, checkpoints, EMA, runs on disk and DDP helpers. No Qt."""

from ddpm_studio.training.checkpoint import (
    Checkpoint,
    CheckpointError,
    export_for_sampling,
    load_checkpoint,
    load_model,
    resolve_checkpoint,
    save_checkpoint,
)
from ddpm_studio.training.config import RunConfig, TrainingConfig
from ddpm_studio.training.devices import resolve_device
from ddpm_studio.training.ema import EMA
from ddpm_studio.training.events import (
    CheckpointEvent,
    FailedEvent,
    FinishedEvent,
    PreviewEvent,
    StepEvent,
    TimestepLossEvent,
    TrainingEvent,
)
from ddpm_studio.training.runs import (
    CLASS_DEMO_CHECKPOINT,
    DEMO_CHECKPOINT,
    Run,
    RunError,
    RunInfo,
    create_run,
    list_runs,
    open_run,
    runs_root,
)
from ddpm_studio.training.trainer import Trainer

__all__ = [
    "CLASS_DEMO_CHECKPOINT",
    "DEMO_CHECKPOINT",
    "EMA",
    "Checkpoint",
    "CheckpointError",
    "CheckpointEvent",
    "PreviewEvent",
    "FailedEvent",
    "FinishedEvent",
    "Run",
    "RunConfig",
    "RunError",
    "RunInfo",
    "StepEvent",
    "TimestepLossEvent",
    "Trainer",
    "TrainingConfig",
    "TrainingEvent",
    "create_run",
    "export_for_sampling",
    "list_runs",
    "load_checkpoint",
    "load_model",
    "open_run",
    "resolve_checkpoint",
    "resolve_device",
    "runs_root",
    "save_checkpoint",
]
