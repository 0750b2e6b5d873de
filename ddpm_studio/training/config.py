"""Typed configuration of a training run: how to optimise (`TrainingConfig`) and everything a run needs
to rebuild itself (`RunConfig` = model + diffusion + data + training), saved as JSON beside every checkpoint.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, replace
from dataclasses import fields as dataclass_fields
from typing import Any, ClassVar

from ddpm_studio.data.augment import AUGMENT_DIM
from ddpm_studio.data.config import DataConfig
from ddpm_studio.engine.config import DiffusionConfig
from ddpm_studio.engine.sampler_table import SAMPLERS
from ddpm_studio.engine.unet_config import DEFAULT_PRESET, UNET_PRESETS, UNetConfig
from ddpm_studio.typed_config import ConfigError, check_int, check_number, load_config

MIXED_PRECISION_MODES: tuple[str, ...] = ("auto", "no", "bf16", "fp16")
LR_SCHEDULES: tuple[str, ...] = ("constant", "cosine")
LEGACY_LR_SCHEDULE = "constant"  # what a config.json written before lr_schedule existed trained with
AUGMENT_MODES: tuple[str, ...] = ("off", "on", "auto")  # non-leaky augmentation (data/augment.py)
# "auto" (the default) is the small-set recipe for a run long enough to use it: below AUTO_AUGMENT_BELOW images and
# for at least AUTO_RECIPE_MIN_STEPS optimiser steps, augmentation on and, unless the run chose its EMA, the power
# EMA at SMALL_SET_EMA_SIGMA_REL. The size threshold is chosen, then checked from one side (at 1,000 glyphs and 10
# CPU-minutes the recipe cost SWD +6 on two seeds, bench/README.md): EDM augments even 50k-image CIFAR-10
# (p = 0.12) and 15k-70k-image AFHQ/FFHQ (p = 0.15), but with networks 60-100x the "tiny" preset's, which a CPU
# budget keeps far from over-fitting large sets; below ~1,000 images a 10-minute CPU run (~5,000 steps x 16
# images) revisits each image 80+ times, where memorisation starts to show. The recipe is measured on 200 glyphs
# at 16 px (bench/README.md, "The small-set defaults" and "The recipe by budget"): at 10 CPU-minutes (~5,000
# steps), against augmentation off and the 0.995 EMA, recall +0.08..+0.25 on 4 of 4 seeds, SWD lower on 3 of 4,
# precision -0.08..-0.12, and no sample copied (3-7 % without it); at 2 minutes (~1,000 steps) it costs more than
# it buys (precision -0.22, SWD +3..+18, two seeds). Hence the step threshold, placed by two more budgets (same
# bench, seeds 0 and 1): at 3 minutes (~1,550 steps) mixed (SWD +1.7 / -31.7, recall +0.07 / +0.06, precision
# -0.17 / -0.25), at 5 minutes (~2,500 steps) a gain on both seeds (SWD -30.7 / -5.3, recall +0.15 / +0.16,
# precision -0.16 / -0.22); AUTO_RECIPE_MIN_STEPS sits between the two. Above it the gain holds: at 30 minutes
# (~14,000 steps) the old defaults copy 42-52 % of samples, the recipe 1 % (recall +0.14, precision -0.04).
# A time-budgeted run learns its step total a few seconds in (budget.py): until then a small set's "auto" run
# trains plain, with the network's augmentation map already built (a zero vector adds exactly nothing), and the
# Trainer decides at the plan.
AUTO_AUGMENT_BELOW = 1000
AUTO_RECIPE_MIN_STEPS = 2000
SMALL_SET_EMA_SIGMA_REL = 0.15  # EDM2's σ_rel for a small set trained for hundreds of epochs (the same bench)
CONFIG_FORMAT = "ddpm-studio.run/1"


MAX_TIMESTEPS = 100_000  # T at most: the schedules and samplers hold O(T) tensors (DDPM uses 1000, some 4000)
MAX_STEPS = 2**31 - 1  # steps, epochs, a planned step total: what a GUI spin box (int32) can show
MAX_MINUTES = 10_000_000.0  # a time budget of ~19 years: anything longer is a typo
MAX_SEED = 2**62  # seeds: torch's generators take a signed 64-bit seed, ranks and chunks add offsets to it
MAX_IMAGES = 50_000  # images per batch, preview, score or reference set
MAX_SAMPLER_STEPS = MAX_TIMESTEPS
MAX_THREADS = 4096


def _positive_int(name: str, value: Any, *, low: int = 1, high: int | None = None, optional: bool = False) -> None:
    check_int(name, value, low, high, optional=optional)


def _finite(name: str, value: Any, *, low: float, high: float = math.inf, open_low: bool = False) -> None:
    check_number(name, value, low=low, high=high, open_low=open_low)


def check_timesteps(value: Any, name: str = "timesteps") -> None:
    """T within 1..MAX_TIMESTEPS (a bound on the memory a flag, a config.json or a checkpoint may ask for)."""
    check_int(name, value, 1, MAX_TIMESTEPS)


@dataclass
class TrainingConfig:
    """How to optimise ε_θ: AdamW with linear warm-up (then constant or cosine decay), gradient clipping and
    an EMA of the weights. The learning rate of each step is given in lr_schedule.py.

    These defaults are THE defaults: the CLI's flags and the GUI's form read them. They are the README's
    measured demo recipe (v objective in DiffusionConfig, batch 16, lr 1.5e-3, cosine decay, EMA 0.995),
    which scored FD 2.03 against 3.21 for the previous defaults (issue 10).
    """

    # What a config.json written before a field existed meant (typed_config.load_config fills them in):
    # runs from before lr_schedule kept their learning rate constant after warm-up, so they resume that way.
    # Runs from before preview_time_share previewed at epoch ends only (their preview_every_epochs is in the file).
    # Their previews were DDIM (preview_sampler_steps is in the file).
    LEGACY_DEFAULTS: ClassVar[dict[str, Any]] = {"lr_schedule": LEGACY_LR_SCHEDULE, "preview_time_share": 0.0,
                                                 "preview_sampler": "ddim", "metrics_sampler": "ddim",
                                                 "posthoc_ema": False,
                                                 "augment": "off",  # runs from before augmentation had none
                                                 # runs from before the validation loss trained on every image
                                                 "validation_images": 0, "validation_time_share": 0.0}

    batch_size: int = 16  # images per step (per process under DDP)
    lr: float = 1.5e-3  # peak learning rate of AdamW, reached after warmup_steps
    weight_decay: float = 0.0  # AdamW decoupled weight decay
    warmup_steps: int = 100  # linear warm-up of the learning rate from 0
    lr_schedule: str = "cosine"  # after warm-up: "constant", or "cosine" decay to lr·lr_min_ratio at the last step
    lr_min_ratio: float = 0.1  # floor of the cosine decay, as a fraction of lr (0..1)
    grad_clip: float = 1.0  # max global gradient norm (0 = no clipping)
    ema_decay: float = 0.995  # EMA decay of the weights used for sampling
    ema_warmup: bool = True  # decay_n = min(ema_decay, (1 + n) / (10 + n))
    ema_sigma_rel: float = 0.0  # > 0: power EMA of Karras et al. 2024 with this relative width (ema_decay unused)
    # keep EDM2's two power-EMA profiles (σ_rel 0.05, 0.10) and ≤ 64 snapshots of them in posthoc/ so the EMA
    # length can be chosen after training (posthoc_ema.py). Off by default: measured on a 1,500-step tiny-UNet run
    # (bench/README.md) the snapshots took 307 MB (5x its kept checkpoints; ~9x that for "small") and ~7 % of the
    # training time (updating two more weight copies every step ~5 %, writing ~2 %); runs from before it had none
    posthoc_ema: bool = False
    max_steps: int | None = 2000  # stop after this many optimiser steps (None: use epochs / max_minutes)
    epochs: int | None = None  # stop after this many passes over the data (None: use max_steps / max_minutes)
    max_minutes: float | None = None  # time budget: the step total is planned from the measured step rate (budget.py)
    planned_steps: int | None = None  # the step total the time budget planned (written by the Trainer, then fixed)
    device: str = "auto"  # "auto" | "cpu" | "cuda" | "cuda:N" | "mps"
    mixed_precision: str = "auto"  # "auto" | "no" | "bf16" | "fp16" (CUDA only; CPU trains in float32)
    preview_every_steps: int = 0  # sample a preview grid every N steps (0: see preview_every_epochs)
    preview_every_epochs: int = 0  # else every N epochs (0: see preview_time_share)
    # previews and live metrics share ~5 % of the training time (issue 10 item 4), checkpoints ~0.2 % more
    preview_time_share: float = 0.02  # else as often as keeps previews within this share of training time (0 = never)
    preview_count: int = 16  # images in the preview grid
    preview_seed: int = 0  # fixed noise seed of the preview grid
    preview_sampler: str = "euler"  # sampler of the preview (Euler at 12 steps ≈ DDIM at 25, measured; issue 10)
    preview_sampler_steps: int = 12  # its steps
    metrics_every_steps: int = 0  # score the EMA model's samples every N steps (0: see metrics_time_share)
    metrics_time_share: float = 0.03  # else as often as keeps scoring within this share of training time (0 = never)
    metrics_count: int = 64  # samples per score, from a fixed noise seed (quality_monitor.py)
    # DPM-Solver++(2M) at 10 steps scores within ~6 % of a converged sampler; DDIM at 10 is dominated by its own
    # error (recall 0.12 vs 0.92 on the demo model) and ranked an early checkpoint best (issue 10, measured)
    metrics_sampler: str = "dpmpp_2m"  # sampler of those samples
    metrics_sampler_steps: int = 10  # its steps
    metrics_reference_count: int = 256  # held-out real images they are measured against
    checkpoint_every_steps: int = 500  # write a checkpoint every N steps (and at the end / on stop)
    keep_last: int = 3  # checkpoints kept on disk
    seed: int = 0  # seeds weights, data order, t and noise
    # a conditional model's labels are replaced by "no class" with this probability, so one network learns both
    # ε(x_t, t, c) and ε(x_t, t, ∅) for classifier-free guidance; Ho & Salimans 2022 (Table 1) found p = 0.1 and
    # 0.2 alike and both better than 0.5; not re-measured here (issue 20 asks for it)
    class_dropout: float = 0.1
    num_threads: int | None = None  # torch.set_num_threads (None: leave torch's default)
    # non-leaky augmentation (Karras et al. 2022, EDM; data/augment.py): "off" | "on" | "auto" (below
    # AUTO_AUGMENT_BELOW images and for AUTO_RECIPE_MIN_STEPS steps or more, the small-set recipe: on, with the
    # SMALL_SET_EMA_SIGMA_REL EMA; a new run's config.json records the outcome, "on" or "off" and the EMA, once
    # the step total is known: at the start, or at a time budget's plan)
    augment: str = "auto"
    augment_p: float = 0.12  # probability of each augmentation per image (EDM's CIFAR-10 config; 0.15 for FFHQ/AFHQ)
    # the validation loss (validation.py): images held out of training, never trained on; None: decided by the
    # Trainer from the data size (max(3 %, 32) when 64 are left to train on, then recorded here; else none); 0: none
    validation_images: int | None = None
    validation_every_steps: int = 0  # score them every N steps (0: see validation_time_share)
    validation_time_share: float = 0.02  # else as often as keeps the scoring within this share of training time

    def validate(self) -> None:
        """Raise ValueError with a one-line reason if a field is out of range."""
        _positive_int("batch_size", self.batch_size, high=MAX_IMAGES)
        _finite("lr", self.lr, low=0.0, open_low=True, high=3.4028234663852886e38)  # float32 max: no inf in AdamW
        _finite("weight_decay", self.weight_decay, low=0.0)
        _positive_int("warmup_steps", self.warmup_steps, low=0, high=MAX_STEPS)
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {', '.join(LR_SCHEDULES)}, got {self.lr_schedule!r}")
        _finite("lr_min_ratio", self.lr_min_ratio, low=0.0, high=1.0)
        _finite("grad_clip", self.grad_clip, low=0.0)
        _finite("ema_decay", self.ema_decay, low=0.0, high=1.0)
        if not isinstance(self.posthoc_ema, bool):
            raise ValueError(f"posthoc_ema must be true or false, got {self.posthoc_ema!r}")
        _positive_int("max_steps", self.max_steps, high=MAX_STEPS, optional=True)
        _positive_int("epochs", self.epochs, high=MAX_STEPS, optional=True)
        _finite("ema_sigma_rel", self.ema_sigma_rel, low=0.0, high=0.28)  # γ > 0 needs σ_rel < 0.2887
        if self.max_minutes is not None:
            _finite("max_minutes", self.max_minutes, low=0.0, open_low=True, high=MAX_MINUTES)
        _positive_int("planned_steps", self.planned_steps, high=MAX_STEPS, optional=True)
        if self.max_steps is None and self.epochs is None and self.max_minutes is None:
            raise ValueError("set max_steps, epochs or max_minutes (training stops at whichever comes first)")
        if not isinstance(self.device, str) or not self.device:
            raise ValueError(f"device must be a device name such as 'auto', 'cpu' or 'cuda', got {self.device!r}")
        if self.mixed_precision not in MIXED_PRECISION_MODES:
            raise ValueError(f"mixed_precision must be one of {', '.join(MIXED_PRECISION_MODES)}, "
                             f"got {self.mixed_precision!r}")
        _positive_int("preview_every_steps", self.preview_every_steps, low=0, high=MAX_STEPS)
        _positive_int("preview_every_epochs", self.preview_every_epochs, low=0, high=MAX_STEPS)
        _finite("preview_time_share", self.preview_time_share, low=0.0, high=0.5)
        _positive_int("preview_count", self.preview_count, high=MAX_IMAGES)
        _positive_int("preview_seed", self.preview_seed, low=0, high=MAX_SEED)
        if self.preview_sampler not in SAMPLERS:
            raise ValueError(f"preview_sampler must be one of {', '.join(SAMPLERS)}, got {self.preview_sampler!r}")
        _positive_int("preview_sampler_steps", self.preview_sampler_steps, high=MAX_SAMPLER_STEPS)
        _positive_int("metrics_every_steps", self.metrics_every_steps, low=0, high=MAX_STEPS)
        _finite("metrics_time_share", self.metrics_time_share, low=0.0, high=0.5)
        # more than k = 3 of the k-NN manifolds
        _positive_int("metrics_count", self.metrics_count, low=4, high=MAX_IMAGES)
        if self.metrics_sampler not in SAMPLERS:
            raise ValueError(f"metrics_sampler must be one of {', '.join(SAMPLERS)}, got {self.metrics_sampler!r}")
        _positive_int("metrics_sampler_steps", self.metrics_sampler_steps, high=MAX_SAMPLER_STEPS)
        _positive_int("metrics_reference_count", self.metrics_reference_count, low=4, high=MAX_IMAGES)
        _positive_int("checkpoint_every_steps", self.checkpoint_every_steps, high=MAX_STEPS)
        _positive_int("keep_last", self.keep_last, high=MAX_STEPS)
        _positive_int("seed", self.seed, low=0, high=MAX_SEED)
        _finite("class_dropout", self.class_dropout, low=0.0, high=1.0)
        _positive_int("num_threads", self.num_threads, high=MAX_THREADS, optional=True)
        if self.augment not in AUGMENT_MODES:
            raise ValueError(f"augment must be one of {', '.join(AUGMENT_MODES)}, got {self.augment!r}")
        _finite("augment_p", self.augment_p, low=0.0, high=1.0)
        _positive_int("validation_images", self.validation_images, low=0, high=MAX_IMAGES, optional=True)
        _positive_int("validation_every_steps", self.validation_every_steps, low=0, high=MAX_STEPS)
        _finite("validation_time_share", self.validation_time_share, low=0.0, high=0.5)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str | None = None) -> TrainingConfig:
        """Build and validate from parsed JSON (`typed_config.load_config`; a missing "lr_schedule" is the
        LEGACY_DEFAULTS one, so resuming an old run keeps its schedule: "cosine" is for new runs only)."""
        return load_config(cls, data, source=source)


def augmentation_is_on(mode: str, images: int) -> bool:
    """Whether augment = `mode` augments a set of `images` images in a run long enough for the small-set recipe
    ("auto": below AUTO_AUGMENT_BELOW); what the Dataset tab shows by default."""
    return mode == "on" or (mode == "auto" and images < AUTO_AUGMENT_BELOW)


def with_augmentation(config: RunConfig, images: int, total_steps: int | None = None) -> RunConfig:
    """`config` with "auto" decided for a set of `images` images trained for `total_steps` optimiser steps, and an
    augmented run's model conditioned on the augmentation vector (model.augment_dim = AUGMENT_DIM).

    "auto" on a small set (below AUTO_AUGMENT_BELOW images) is "on" for a run of at least AUTO_RECIPE_MIN_STEPS
    steps (or one with no end: it runs until stopped) and then also lengthens the EMA to σ_rel =
    SMALL_SET_EMA_SIGMA_REL when the run kept the default EMA (decay 0.995, no σ_rel); "off" for a shorter run.
    A time-budgeted run whose step total is not planned yet (max_minutes set, planned_steps None; `total_steps`
    then only an upper bound, from a step or epoch limit, or None) stays "auto" with the augmentation map built,
    to be decided again at the plan (Trainer._plan_budget), unless that bound is already short. On a large set
    "auto" is "off". `config` itself when nothing changes (a resumed run's config.json is already decided). Old
    runs load as "off" (LEGACY_DEFAULTS)."""
    tc, model = config.training, config.model
    if tc.augment != "auto":
        mode = tc.augment
    elif images >= AUTO_AUGMENT_BELOW:
        mode = "off"
    elif (tc.max_minutes is not None and tc.planned_steps is None
          and (total_steps is None or total_steps >= AUTO_RECIPE_MIN_STEPS)):
        mode = "auto"  # the budget may end it sooner: planned a few seconds in; plain until then, the map ready
    else:
        mode = "on" if total_steps is None or total_steps >= AUTO_RECIPE_MIN_STEPS else "off"
    dim = AUGMENT_DIM if mode in ("on", "auto") else model.augment_dim
    default_ema = tc.ema_sigma_rel == 0.0 and tc.ema_decay == TrainingConfig.ema_decay
    sigma_rel = SMALL_SET_EMA_SIGMA_REL if tc.augment == "auto" and mode == "on" and default_ema else tc.ema_sigma_rel
    if mode == tc.augment and dim == model.augment_dim:
        return config
    return replace(config, training=replace(tc, augment=mode, ema_sigma_rel=sigma_rel),
                   model=replace(model, augment_dim=dim))


@dataclass
class RunConfig:
    """Everything that defines a run; `to_json` / `from_json` round-trip it through config.json."""

    model: UNetConfig = field(default_factory=lambda: replace(UNET_PRESETS[DEFAULT_PRESET]))
    diffusion: DiffusionConfig = field(default_factory=DiffusionConfig)
    data: DataConfig = field(default_factory=DataConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)

    def validate(self) -> None:
        """Validate every part and their agreement (channels, learned variance, image size)."""
        self.model.validate()
        self.diffusion.validate()
        check_timesteps(self.diffusion.timesteps, "diffusion.timesteps")
        self.data.validate()
        self.training.validate()
        if self.model.in_channels != self.data.channels:
            raise ValueError(f"model in_channels ({self.model.in_channels}) must equal data channels "
                             f"({self.data.channels})")
        if self.model.num_classes != len(self.data.classes):
            raise ValueError(f"model.num_classes ({self.model.num_classes}) must equal the number of data classes "
                             f"({len(self.data.classes)})")
        if self.model.augment_dim not in (0, AUGMENT_DIM):
            raise ValueError(f"model.augment_dim must be 0 or {AUGMENT_DIM} (the length of data/augment.py's "
                             f"vector), got {self.model.augment_dim}")
        if self.model.learned_variance != self.diffusion.learned_variance:
            raise ValueError("model.learned_variance and diffusion.learned_variance must agree")
        multiple = 2 ** (len(self.model.channel_mults) - 1)
        if self.data.image_size < multiple or self.data.image_size % multiple:
            raise ValueError(f"image size {self.data.image_size} must be a multiple of {multiple} "
                             f"for a UNet with {len(self.model.channel_mults)} levels")

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": CONFIG_FORMAT,
            "model": self.model.to_dict(),
            "diffusion": self.diffusion.to_dict(),
            "data": self.data.to_dict(),
            "training": self.training.to_dict(),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "config.json") -> RunConfig:
        """Inverse of `to_dict` (`typed_config.load_config` for every section); a `ConfigError` (a ValueError)
        naming `source` and the key on a bad or foreign file."""
        if not isinstance(data, dict) or data.get("format") != CONFIG_FORMAT:
            raise ConfigError(f"{source}: not a DDPM Studio run configuration (expected format {CONFIG_FORMAT!r})")
        sections = {k: v for k, v in data.items() if k != "format"}
        missing = [f.name for f in dataclass_fields(cls) if f.name not in sections]
        if missing:
            raise ConfigError(f"{source}: the run configuration lacks the {missing[0]!r} section")
        return load_config(cls, sections, source=source)

    @classmethod
    def from_json(cls, text: str, *, source: str = "config.json") -> RunConfig:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{source}: the run configuration is not valid JSON "
                              f"({exc.msg} at line {exc.lineno})") from None
        except (RecursionError, ValueError):  # nested too deep for the parser, or a number too long to convert
            raise ConfigError(f"{source}: the run configuration is not valid JSON (nested too deeply or a "
                              f"number too long)") from None
        return cls.from_dict(data, source=source)
