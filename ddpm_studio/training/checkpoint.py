"""Checkpoints on disk, written atomically and read without executing code from the file.

A checkpoint at step s is two files in one folder:

    step_0000000s.safetensors   weights: "model.<name>" and "ema.<name>" tensors; the RunConfig JSON and the
                                step in the safetensors metadata, so the file alone rebuilds its network
    step_0000000s.state.pt      optimiser, grad scaler, EMA update count, data position and RNG states:
                                plain tensors/numbers only, read with torch.load(weights_only=True)

The state file is written first, so a weights file on disk always has its state beside it. Every file is
written to a temporary name in the same folder, flushed, fsynced and renamed over the target (os.replace),
then the folder is fsynced: a crash leaves either the old file or the new one, never a partial one.
"""

from __future__ import annotations

import io
import json
import logging
import pickle
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save
from torch import Tensor

from ddpm_studio.atomic import (  # noqa: F401 - atomic_write, atomic_write_text, fsync_dir re-exported
    TMP_MARKER,
    StorageError,
    atomic_write,
    atomic_write_bytes,
    atomic_write_text,
    free_mb,
    fsync_dir,
    storage_error,
)
from ddpm_studio.engine.diffusion import GaussianDiffusion
from ddpm_studio.engine.unet import UNet
from ddpm_studio.engine.unet_config import UNetConfig
from ddpm_studio.errors_text import one_line, short_repr
from ddpm_studio.training.checkpoint_checks import (
    MAX_PARAMETERS,
    architecture_mismatch,
    expected_shapes,
    first_non_finite,
    parameter_count,
)
from ddpm_studio.training.config import RunConfig
from ddpm_studio.training.run_files import read_small_text

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "ddpm-studio.checkpoint/1"
WEIGHTS_SUFFIX = ".safetensors"
STATE_SUFFIX = ".state.pt"
_NAME_RE = re.compile(r"^step_(\d+)\.safetensors$")


class CheckpointError(Exception):
    """A checkpoint that cannot be used: missing, damaged, unsafe, or made for a different model."""


class NonFiniteWeights(CheckpointError):
    """Weights holding NaN or inf: never written as a checkpoint, never loaded for sampling or resuming."""


@dataclass
class Checkpoint:
    """A checkpoint read back into memory (tensors on CPU)."""

    path: Path  # the .safetensors file
    config: RunConfig
    step: int
    model_state: dict[str, Tensor]
    ema_state: dict[str, Tensor] | None
    training_state: dict[str, Any] | None  # None for a weights-only (exported) checkpoint
    skipped: tuple[str, ...] = ()  # one line per newer checkpoint of the folder that was damaged and passed over


def checkpoint_name(step: int) -> str:
    return f"step_{step:08d}{WEIGHTS_SUFFIX}"


def state_path_for(weights_path: Path) -> Path:
    return weights_path.with_name(weights_path.name[: -len(WEIGHTS_SUFFIX)] + STATE_SUFFIX)


def _cpu_contiguous(state: dict[str, Tensor], prefix: str) -> dict[str, Tensor]:
    return {prefix + k: v.detach().to("cpu").contiguous() for k, v in state.items()}


def save_checkpoint(path: Path, *, config: RunConfig, step: int, model_state: dict[str, Tensor],
                    ema_state: dict[str, Tensor] | None = None,
                    training_state: dict[str, Any] | None = None) -> Path:
    """Write the weights file at `path` (and its .state.pt when `training_state` is given), atomically.

    Refuses (NonFiniteWeights) weights holding NaN or inf, before writing anything. Both files are serialised
    in memory first, so a full disk or a read-only folder is one StorageError ("no space left on <folder>
    (N MB free, a checkpoint needs ~M MB)"), and a state file whose weights could not follow is removed.
    """
    path = Path(path)
    for group, state in (("model", model_state), ("EMA", ema_state)):
        bad = first_non_finite(state) if state is not None else None
        if bad is not None:
            raise NonFiniteWeights(f"not writing {path.name}: its {group} weight {bad} holds NaN or inf")
    tensors = _cpu_contiguous(model_state, "model.")
    if ema_state is not None:
        tensors.update(_cpu_contiguous(ema_state, "ema."))
    metadata = {"format": CHECKPOINT_FORMAT, "step": str(int(step)), "config": config.to_json()}
    weights = save(tensors, metadata=metadata)
    state_bytes = None
    if training_state is not None:
        buffer = io.BytesIO()
        torch.save(training_state, buffer)
        state_bytes = buffer.getvalue()
    needs = len(weights) + (len(state_bytes) if state_bytes is not None else 0)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise storage_error(exc, path.parent, what="a checkpoint", needs_bytes=needs) from None
    if free_mb(path.parent) * 1024 * 1024 < needs:  # refuse up front rather than fill the disk to the last byte
        raise StorageError(f"no space left on {path.parent} ({free_mb(path.parent):.0f} MB free, a checkpoint "
                           f"needs ~{needs / 2**20:.1f} MB)", folder=path.parent)
    state_path = state_path_for(path)
    state_existed = state_path.exists()
    try:
        if state_bytes is not None:
            atomic_write_bytes(state_path, state_bytes, what="a checkpoint", needs_bytes=needs)
        atomic_write_bytes(path, weights, what="a checkpoint", needs_bytes=needs)
    except BaseException:
        if state_bytes is not None and not state_existed:
            state_path.unlink(missing_ok=True)  # no orphan state without its weights
        raise
    return path


Shapes = dict[str, tuple[int, ...]]


def _read_header(path: Path) -> tuple[dict[str, str], Shapes]:
    """The metadata and the stored tensors' shapes, from the file's header alone (no tensor is read)."""
    try:
        with safe_open(str(path), framework="pt") as f:
            shapes = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
            return dict(f.metadata() or {}), shapes
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{path.name} is not a readable checkpoint (damaged or not a safetensors "
                              f"file: {one_line(exc, 200)})") from None


def _config_for(path: Path, metadata: dict[str, str]) -> RunConfig:
    """The RunConfig in the metadata, else a config.json beside the file or in its run folder."""
    text = metadata.get("config")
    try:
        if text is None:
            for candidate in (path.parent / "config.json", path.parent.parent / "config.json"):
                if candidate.is_file():
                    text = read_small_text(candidate)
                    break
        if text is None:
            raise CheckpointError(f"{path.name} carries no model configuration and has no config.json beside it")
        return RunConfig.from_json(text)
    except (ValueError, OSError) as exc:
        raise CheckpointError(f"{path.name} has an unusable configuration: {one_line(exc)}") from None


def _step_of(path: Path, metadata: dict[str, str]) -> int:
    """The step in the metadata (0 if absent); CheckpointError naming the file and the field if it is no count."""
    text = metadata.get("step", "0")
    if not isinstance(text, str) or not text.isdigit() or len(text) > 18:
        raise CheckpointError(f"{path.name}: the metadata field step must be a whole number, got "
                              f"{short_repr(text, 40)}")
    return int(text)


def read_checkpoint_config(path: Path) -> tuple[RunConfig, int]:
    """The RunConfig and step of a checkpoint file, from its header alone (no tensor is read): the one way to ask
    a checkpoint what it is (T, image size, data source) without loading it. CheckpointError on trouble."""
    metadata, _ = _read_header(Path(path))
    if metadata.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{Path(path).name} is a safetensors file but not a DDPM Studio checkpoint")
    return _config_for(Path(path), metadata), _step_of(Path(path), metadata)


def load_training_state(path: Path) -> dict[str, Any]:
    """Read a .state.pt with torch.load(weights_only=True): pickled code is refused, never run."""
    if not path.is_file():
        raise CheckpointError(f"training state {path.name} is missing; this checkpoint can sample but not resume")
    try:
        with warnings.catch_warnings():  # torch's UserWarning about a raw pickle's protocol: ours to explain
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:  # a refused global: torch's advice (weights_only=False) would run it
        log.info("refused %s: %s", path, exc)
        raise CheckpointError(f"{path.name} was refused: it holds Python objects other than tensors and numbers, "
                              f"which are never loaded (a damaged or foreign file)") from None
    except Exception as exc:  # noqa: BLE001 - RuntimeError/EOFError/... for a damaged file
        log.info("could not read %s: %s", path, exc)
        reason = "" if "weights_only" in str(exc) else f" ({one_line(exc, 200)})"
        raise CheckpointError(f"{path.name} is damaged and was not loaded{reason}") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path.name} is not a DDPM Studio training state")
    return state


def _check_shapes(path: Path, config: RunConfig, shapes: Shapes) -> None:
    """The stored shapes against those `config.model` implies (a meta-device UNet: nothing allocated), before any
    tensor is read or any network built: a small file cannot make us build a huge model."""
    own = expected_shapes(config.model)
    count = parameter_count(own)
    if count > MAX_PARAMETERS:
        raise CheckpointError(f"{path.name} declares a UNet of {count:,} parameters (at most {MAX_PARAMETERS:,}); "
                              f"refused before building it")
    for group in ("model", "ema"):
        stored = {k[len(group) + 1:]: v for k, v in shapes.items() if k.startswith(group + ".")}
        reason = architecture_mismatch(own, stored) if stored else None
        if reason:
            raise CheckpointError(f"{path.name} was made for a different architecture than its configuration "
                                  f"describes ({group} weights: {reason})")


def _load_one(path: Path, with_state: bool) -> Checkpoint:
    metadata, shapes = _read_header(path)
    if metadata.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path.name} is a safetensors file but not a DDPM Studio checkpoint")
    config = _config_for(path, metadata)
    _step_of(path, metadata)
    if not any(k.startswith(("model.", "ema.")) for k in shapes):
        raise CheckpointError(f"{path.name} holds no model weights")
    _check_shapes(path, config, shapes)
    try:
        tensors = load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{path.name} is damaged ({one_line(exc, 200)})") from None
    bad = first_non_finite(tensors)
    if bad is not None:
        raise NonFiniteWeights(f"{path.name} holds NaN or inf weights ({bad}); it cannot be used")
    model_state = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    ema_state = {k[len("ema."):]: v for k, v in tensors.items() if k.startswith("ema.")} or None
    state = None
    if with_state and state_path_for(path).exists():
        state = load_training_state(state_path_for(path))
    return Checkpoint(path=path, config=config, step=_step_of(path, metadata),
                      model_state=model_state, ema_state=ema_state, training_state=state)


def load_checkpoint(path: Path, *, with_state: bool = True) -> Checkpoint:
    """Read a checkpoint file, or the latest usable one of a run folder, into CPU tensors; CheckpointError on
    trouble. Checked before use: shapes against the configuration, every weight finite, state pickle-free.

    In a folder, a damaged newer checkpoint is passed over for the next older one, with a warning (logged
    and kept in `Checkpoint.skipped` for the faces to show). A damaged file named explicitly is an error
    that names the newest usable older checkpoint of its folder, if there is one.
    """
    candidates = checkpoint_candidates(path)
    if Path(path).expanduser().is_file():
        try:
            return _load_one(candidates[0], with_state)
        except CheckpointError as exc:
            older = _usable_older(candidates[0], with_state)
            if older is None:
                raise
            raise CheckpointError(f"{exc}; an older checkpoint, {older.name}, is usable") from None
    skipped: list[str] = []
    for candidate in candidates:
        try:
            checkpoint = _load_one(candidate, with_state)
        except CheckpointError as exc:
            skipped.append(str(exc))
            continue
        for reason in skipped:
            log.warning("passing over a damaged checkpoint for %s: %s", candidate.name, reason)
        checkpoint.skipped = tuple(skipped)
        return checkpoint
    more = f" (and {len(skipped) - 1} older checkpoint(s) are unusable too)" if len(skipped) > 1 else ""
    raise CheckpointError(skipped[0] + more)


def _usable_older(path: Path, with_state: bool) -> Path | None:
    """The newest checkpoint in the folder of `path` older than it that loads, else None."""
    for _, candidate in reversed(list_checkpoints(path.parent)):
        if candidate.name < path.name:  # step_XXXXXXXX names sort by step
            try:
                _load_one(candidate, with_state)
            except CheckpointError:
                continue
            return candidate
    return None


def list_checkpoints(directory: Path) -> list[tuple[int, Path]]:
    """(step, weights path) of every complete checkpoint in `directory`, oldest first (temp files ignored)."""
    if not Path(directory).is_dir():
        return []
    found = []
    for entry in Path(directory).iterdir():
        match = _NAME_RE.match(entry.name)
        if match and entry.is_file():
            found.append((int(match.group(1)), entry))
    return sorted(found)


def prune_checkpoints(directory: Path, keep: int, protect: set[int] | frozenset[int] = frozenset()) -> list[Path]:
    """Delete all but the newest `keep` checkpoints (and those of the `protect` steps: the best one) and the
    debris of a crash (temp files, orphan states)."""
    deleted = []
    for step, weights in list_checkpoints(directory)[:-keep] if keep > 0 else []:
        if step in protect:
            continue
        for file in (weights, state_path_for(weights)):
            if file.exists():
                file.unlink()
                deleted.append(file)
    for entry in Path(directory).iterdir():
        torn = TMP_MARKER in entry.name and entry.name.startswith(".")
        orphan = entry.name.endswith(STATE_SUFFIX) and not entry.with_name(
            entry.name[: -len(STATE_SUFFIX)] + WEIGHTS_SUFFIX).exists()  # weights write never completed
        if torn or orphan:
            entry.unlink(missing_ok=True)
            deleted.append(entry)
    return deleted


def checkpoint_candidates(path: Path) -> list[Path]:
    """A .safetensors file as [file]; a run folder or a folder of checkpoints -> its checkpoints, newest first."""
    path = Path(path).expanduser()
    if path.is_file():
        return [path]
    if path.is_dir():
        for folder in (path / "checkpoints", path):
            found = list_checkpoints(folder) or [(0, p) for p in sorted(folder.glob("*" + WEIGHTS_SUFFIX))]
            if found:
                return [p for _, p in reversed(found)]
        raise CheckpointError(f"no checkpoint found in {path}")
    raise CheckpointError(f"checkpoint not found: {path}")


def resolve_checkpoint(path: Path) -> Path:
    """A .safetensors file as is; a run folder -> its latest checkpoint; a folder of checkpoints -> the latest."""
    return checkpoint_candidates(path)[0]


def describe_model_difference(expected: UNetConfig, found: UNetConfig) -> str:
    """A short 'field a vs b' list of what differs between two model configurations."""
    a, b = expected.to_dict(), found.to_dict()
    diffs = [f"{k} {b[k]} vs {a[k]}" for k in a if a[k] != b.get(k)]
    return ", ".join(diffs) or "same configuration"


def load_weights(model: torch.nn.Module, state: dict[str, Tensor], *, name: str) -> None:
    """load_state_dict(strict) with a one-line CheckpointError when the architecture does not match."""
    reason = architecture_mismatch({k: tuple(v.shape) for k, v in model.state_dict().items()},
                                   {k: tuple(v.shape) for k, v in state.items()})
    if reason:
        raise CheckpointError(f"{name} was made for a different architecture: {reason}")
    model.load_state_dict(state, strict=True)


def load_model(path: Path, *, device: str | torch.device = "cpu",
               ema: bool = True) -> tuple[UNet, GaussianDiffusion, RunConfig]:
    """A UNet with the checkpoint's (EMA) weights in eval mode, its GaussianDiffusion and RunConfig.

    `path` may be a .safetensors checkpoint, a run folder (its latest checkpoint) or a folder of checkpoints.
    """
    checkpoint = load_checkpoint(path, with_state=False)
    config = checkpoint.config
    state = checkpoint.ema_state if ema and checkpoint.ema_state is not None else checkpoint.model_state
    if not state:
        raise CheckpointError(f"{checkpoint.path.name} holds no {'EMA ' if ema else ''}model weights")
    model = UNet(config.model)
    load_weights(model, state, name=checkpoint.path.name)
    model.to(device).eval()
    diffusion = GaussianDiffusion(config.diffusion)
    return model, diffusion, config


def export_for_sampling(source: Path, destination: Path) -> Path:
    """Write a weights-only checkpoint (EMA weights stored as "ema.*") for shipping, e.g. the demo model."""
    checkpoint = load_checkpoint(source, with_state=False)
    ema_state = checkpoint.ema_state if checkpoint.ema_state is not None else checkpoint.model_state
    tensors = _cpu_contiguous(ema_state, "ema.")
    metadata = {"format": CHECKPOINT_FORMAT, "step": str(checkpoint.step), "config": checkpoint.config.to_json()}
    Path(destination).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(Path(destination), save(tensors, metadata=metadata), what="the exported model")
    return Path(destination)


def config_json(config: RunConfig) -> str:
    """The config.json text written beside checkpoints (same as RunConfig.to_json, newline-terminated)."""
    return json.dumps(config.to_dict(), indent=2) + "\n"
