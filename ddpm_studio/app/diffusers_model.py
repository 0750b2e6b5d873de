"""A published diffusers model as an engine model: a `UNet2DModel` folder (or a `DDPMPipeline` / `DDIMPipeline`
folder holding one) behind the engine's `model(x_t, t)` signature, with its scheduler's process.

What is read, and how it maps (diffusers' `DDPMScheduler` / `DDIMScheduler` config -> `DiffusionConfig`):
- `num_train_timesteps` -> T; the β_t are the scheduler's own (`scheduler.betas`, so every `beta_schedule` --
  linear, scaled_linear, squaredcos_cap_v2, sigmoid, trained_betas -- is exactly the process the model learnt);
- `prediction_type` epsilon / sample / v_prediction -> objective eps / x0 / v;
- `variance_type` learned_range -> learned variance (the same interpolation, Nichol & Dhariwal eq. 15); the
  fixed kinds -> the sampler's DDPM variance; `clip_sample` -> the suggested clip_x0.
Refused with one line naming the setting: a conditional or latent pipeline (UNet2DConditionModel, a VAE or
VQ-VAE), another scheduler, `thresholding`, a `clip_sample_range` other than 1, `rescale_betas_zero_snr`
(ᾱ_T = 0 has no σ), the "learned" variance without a range.

Nothing here downloads (the README says how to fetch a model with the hub's own command) and nothing runs code
from the folder: the configs are JSON, the weights safetensors, or a legacy `.bin` read with
`torch.load(weights_only=True)`, which refuses pickled code. diffusers itself is an optional extra
(`pip install "ddpm-studio[diffusers]"`); without it, opening such a folder says so.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ddpm_studio.engine import GaussianDiffusion
from ddpm_studio.engine.config import DiffusionConfig

__all__ = ["DiffusersModelError", "DiffusersModel", "is_diffusers_folder", "load_diffusers_model", "read_shape",
           "read_timesteps", "EXTRA_HINT"]

EXTRA_HINT = 'pip install "ddpm-studio[diffusers]"'
PIPELINES = ("DDPMPipeline", "DDIMPipeline")
SCHEDULERS = ("DDPMScheduler", "DDIMScheduler")
OBJECTIVES = {"epsilon": "eps", "sample": "x0", "v_prediction": "v"}
FIXED_VARIANCES = {"fixed_small": "fixed_small", "fixed_small_log": "fixed_small", "fixed_large": "fixed_large",
                   "fixed_large_log": "fixed_large"}
SCHEDULE_NAMES = {"linear": "linear", "scaled_linear": "quadratic", "squaredcos_cap_v2": "cosine",
                  "sigmoid": "sigmoid"}  # the engine's word shown for each (the β_t themselves are the scheduler's)
WEIGHT_FILES = ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.bin")
MAX_CONFIG_BYTES = 1 << 20  # a config.json larger than this is not a diffusers config


class DiffusersModelError(ValueError):
    """A folder that cannot be opened as a diffusers model: the message is one line naming the reason."""


class _UNetAdapter(nn.Module):
    """`model(x_t, t)` -> the UNet2DModel's output tensor (its `.sample`), the engine's model signature."""

    def __init__(self, unet: nn.Module) -> None:
        super().__init__()
        self.unet = unet

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        return self.unet(x, t).sample


@dataclass(frozen=True)
class DiffusersModel:
    """An opened diffusers model: the adapted network (eval mode), its process, and what the views show."""

    model: nn.Module
    diffusion: GaussianDiffusion
    shape: tuple[int, int, int]  # (C, H, W) of its samples
    clip_x0: bool  # the scheduler's clip_sample
    variance: str  # the scheduler's fixed DDPM variance ("fixed_small" | "fixed_large"), or learned
    source: str  # "diffusers UNet2DModel from <folder>"
    weights: Path  # the weights file read (its hash keys caches)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise DiffusersModelError(f"{path} is larger than {MAX_CONFIG_BYTES // 1024} KB: not a diffusers config")
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DiffusersModelError(f"{path.parent} has no {path.name}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise DiffusersModelError(f"{path} cannot be read as JSON: {exc}") from None
    if not isinstance(data, dict):
        raise DiffusersModelError(f"{path} holds no JSON object")
    return data


def is_diffusers_folder(path: str | Path) -> bool:
    """A folder that looks like a diffusers pipeline (model_index.json) or a UNet2DModel (config.json with a
    diffusers class name); no file is loaded."""
    folder = Path(path)
    if not folder.is_dir():
        return False
    if (folder / "model_index.json").is_file():
        return True
    config = folder / "config.json"
    if not config.is_file():
        return False
    try:
        return "_diffusers_version" in _read_json(config)
    except DiffusersModelError:
        return False


def _parts(folder: Path) -> tuple[Path, Path | None]:
    """(the UNet's folder, the scheduler config or None) of a pipeline folder or of a bare UNet folder."""
    index = folder / "model_index.json"
    if not index.is_file():
        return folder, None
    pipeline = _read_json(index)
    name = pipeline.get("_class_name")
    if name not in PIPELINES:
        latent = [k for k in ("vae", "vqvae", "text_encoder") if k in pipeline]
        why = f"it has a {latent[0]} (latent or text-conditioned pipelines are not supported)" if latent else (
            f"supported pipelines: {', '.join(PIPELINES)}")
        raise DiffusersModelError(f"{folder.name}: {name or 'an unnamed pipeline'} cannot be opened; {why}")
    return folder / "unet", folder / "scheduler" / "scheduler_config.json"


def _load_state(unet_folder: Path) -> tuple[dict[str, Tensor], Path]:
    """The UNet's weights: safetensors, or a legacy .bin read with weights_only=True (no pickled code runs)."""
    from safetensors.torch import load_file

    safetensors, legacy = (unet_folder / name for name in WEIGHT_FILES)
    if safetensors.is_file():
        try:
            return load_file(str(safetensors)), safetensors
        except Exception as exc:  # noqa: BLE001 - safetensors raises its own error types; say which file
            raise DiffusersModelError(f"{safetensors} is not a readable safetensors file: {exc}") from None
    if legacy.is_file():
        try:
            state = torch.load(legacy, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - the unpickler's refusal, whatever its type, is the message
            raise DiffusersModelError(f"{legacy.name} is refused: it is not plain weights (loading it would run "
                                      f"pickled code: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__})"
                                      ) from None
        if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
            raise DiffusersModelError(f"{legacy} holds no state dict of tensors")
        return state, legacy
    raise DiffusersModelError(f"{unet_folder} has no weights ({' or '.join(WEIGHT_FILES)})")


def _init_parameters(class_name: str) -> set[str]:
    import inspect

    import diffusers

    return set(inspect.signature(getattr(diffusers, class_name).__init__).parameters) - {"self"}


def _refuse_unknown_keys(where: str, config: dict[str, Any], classes: tuple[str, ...]) -> None:
    """A key none of `classes` takes is refused (a typo or another kind of model), named in one line."""
    known = set().union(*(_init_parameters(name) for name in classes))
    unknown = sorted(k for k in config if not k.startswith("_") and k not in known)
    if unknown:
        raise DiffusersModelError(f"{where}: unknown key{'s' if len(unknown) > 1 else ''} "
                                  f"{', '.join(unknown[:5])} (not a {' or '.join(classes)} setting)")


def _diffusion(scheduler_file: Path | None, timesteps_hint: int) -> tuple[GaussianDiffusion, bool, str]:
    """The engine's process from the scheduler config (diffusers' DDPMScheduler defaults without one)."""
    from diffusers import DDPMScheduler

    config = _read_json(scheduler_file) if scheduler_file is not None else {"_class_name": "DDPMScheduler"}
    name = config.get("_class_name", "DDPMScheduler")
    where = scheduler_file.name if scheduler_file is not None else "the default scheduler"
    if name not in SCHEDULERS:
        raise DiffusersModelError(f"{where}: {name} is not supported (supported: {', '.join(SCHEDULERS)})")
    for key, bad in (("thresholding", lambda v: bool(v)), ("rescale_betas_zero_snr", lambda v: bool(v)),
                     ("clip_sample_range", lambda v: v not in (None, 1, 1.0))):
        if key in config and bad(config[key]):
            raise DiffusersModelError(f"{where}: {key} = {config[key]!r} is not supported")
    objective = OBJECTIVES.get(config.get("prediction_type", "epsilon"))
    if objective is None:
        raise DiffusersModelError(f"{where}: prediction_type {config.get('prediction_type')!r} is not supported "
                                  f"(supported: {', '.join(OBJECTIVES)})")
    variance = config.get("variance_type", "fixed_small")
    if variance not in FIXED_VARIANCES and variance != "learned_range":
        raise DiffusersModelError(f"{where}: variance_type {variance!r} is not supported")
    known = {k: v for k, v in config.items() if not k.startswith("_")}
    _refuse_unknown_keys(where, known, SCHEDULERS)
    ddpm_keys = _init_parameters("DDPMScheduler")
    try:  # the scheduler's own β_t: every beta_schedule exactly as the model was trained
        scheduler = DDPMScheduler.from_config({k: v for k, v in known.items() if k in ddpm_keys})
    except (ValueError, TypeError, NotImplementedError) as exc:
        raise DiffusersModelError(f"{where}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
                                  ) from None
    betas = scheduler.betas.to(torch.float64)
    schedule = SCHEDULE_NAMES.get(config.get("beta_schedule", "linear"), "linear")
    diffusion = GaussianDiffusion(DiffusionConfig(schedule=schedule, timesteps=int(betas.shape[0] or timesteps_hint),
                                                  objective=objective,
                                                  learned_variance=variance == "learned_range"), betas=betas)
    return diffusion, bool(config.get("clip_sample", True)), FIXED_VARIANCES.get(variance, "learned")


def read_shape(path: str | Path) -> tuple[int, int, int]:
    """(C, H, W) of a diffusers model folder's samples, from its UNet config alone."""
    unet_folder, _ = _parts(Path(path))
    config = _read_json(unet_folder / "config.json")
    size, channels = config.get("sample_size"), config.get("in_channels", 3)
    size = size[0] if isinstance(size, (list, tuple)) and size else size
    if not all(isinstance(v, int) and not isinstance(v, bool) and 0 < v <= 4096 for v in (size, channels)):
        raise DiffusersModelError(f"{unet_folder.name}/config.json: sample_size and in_channels must be positive "
                                  f"integers, got {config.get('sample_size')!r} and {config.get('in_channels')!r}")
    return int(channels), int(size), int(size)


def read_timesteps(path: str | Path) -> int:
    """T of a diffusers model folder, from its scheduler config alone (1000, diffusers' default, without one)."""
    _, scheduler_file = _parts(Path(path))
    if scheduler_file is None:
        return 1000
    value = _read_json(scheduler_file).get("num_train_timesteps", 1000)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 100_000:
        raise DiffusersModelError(f"{scheduler_file.name}: num_train_timesteps must be an integer in 1..100000, "
                                  f"got {value!r}")
    return value


def load_diffusers_model(path: str | Path, *, device: str | torch.device = "cpu") -> DiffusersModel:
    """Open a diffusers UNet2DModel (a pipeline folder or the UNet's own folder) as an engine model."""
    folder = Path(path)
    if not folder.is_dir():
        raise DiffusersModelError(f"{folder} is not a folder")
    try:
        import diffusers
    except ImportError:
        raise DiffusersModelError(f"{folder.name} is a diffusers model; opening it needs the diffusers extra: "
                                  f"{EXTRA_HINT}") from None
    unet_folder, scheduler_file = _parts(folder)
    unet_config = _read_json(unet_folder / "config.json")
    if unet_config.get("_class_name") != "UNet2DModel":
        raise DiffusersModelError(f"{unet_folder.name}/config.json: {unet_config.get('_class_name')} is not "
                                  "supported (only UNet2DModel: unconditional pixel-space models)")
    _refuse_unknown_keys(f"{unet_folder.name}/config.json", unet_config, ("UNet2DModel",))
    try:
        unet = diffusers.UNet2DModel.from_config(unet_config)
    except (ValueError, TypeError, KeyError) as exc:
        raise DiffusersModelError(f"{unet_folder.name}/config.json cannot build a UNet2DModel: "
                                  f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
    state, weights = _load_state(unet_folder)
    missing, unexpected = unet.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise DiffusersModelError(f"{weights.name} does not fit its config.json: {len(missing)} missing and "
                                  f"{len(unexpected)} unexpected tensors (e.g. {(missing or unexpected)[0]})")
    diffusion, clip_x0, variance = _diffusion(scheduler_file, int(unet_config.get("num_train_timesteps") or 1000))
    size = unet.config.sample_size
    size = int(size[0] if isinstance(size, (list, tuple)) else size)
    model = _UNetAdapter(unet).to(device).eval()
    return DiffusersModel(model, diffusion, (int(unet.config.in_channels), size, size), clip_x0, variance,
                          f"diffusers UNet2DModel from {folder}", weights)
