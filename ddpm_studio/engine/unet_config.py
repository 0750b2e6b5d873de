"""Typed configuration of the UNet noise predictor ε_θ(x_t, t), its presets, and its JSON round trip.

A `UNetConfig` is saved as JSON beside every checkpoint so the checkpoint can always rebuild its network
(docs/architecture.md, "Configuration"). Tuples survive `to_dict` -> JSON -> `from_dict`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from ddpm_studio.typed_config import load_config

BLOCK_TYPES: tuple[str, ...] = ("resnet", "convnext")


@dataclass
class UNetConfig:
    """Shape of the UNet. Levels = len(channel_mults); images must be divisible by 2**(levels-1)."""

    in_channels: int = 3                       # 1 (grey) or 3 (RGB)
    base_channels: int = 32                    # width of level 0
    channel_mults: tuple[int, ...] = (1, 2, 2)  # width of level i = base_channels * channel_mults[i]
    num_res_blocks: int = 1                    # blocks per level (down path; the up path mirrors it)
    block: str = "resnet"                      # "resnet" (GroupNorm, SiLU, scale-shift) | "convnext"
    dropout: float = 0.0                       # dropout inside each block, before its last conv
    linear_attention: bool = True              # linear attention (Katharopoulos-style) at each level
    mid_attention: bool = True                 # full softmax attention (SDPA) at the bottleneck
    learned_variance: bool = False             # out_channels = 2 * in_channels (Improved DDPM)
    attention_heads: int = 4                   # heads of both attention kinds
    attention_head_dim: int = 32               # width of one head
    norm_groups: int = 8                       # GroupNorm groups (must divide every level's width)
    convnext_mult: int = 2                     # hidden width factor of a ConvNeXt block
    num_classes: int = 0                       # class-conditional with this many classes (+1 "no class"); 0 = not
    augment_dim: int = 0                       # length of the augmentation vector it is conditioned on (EDM); 0 = not

    @property
    def out_channels(self) -> int:
        """Channels the network predicts: ε, plus the variance interpolation v when learned."""
        return 2 * self.in_channels if self.learned_variance else self.in_channels

    @property
    def levels(self) -> int:
        """Number of resolutions; the image is halved levels-1 times."""
        return len(self.channel_mults)

    @property
    def size_multiple(self) -> int:
        """Height and width must be multiples of this: 2**(levels-1)."""
        return 2 ** (self.levels - 1)

    @property
    def time_embed_dim(self) -> int:
        """Width of the time embedding after its MLP (4 × base, as in Ho et al.)."""
        return 4 * self.base_channels

    def validate(self) -> None:
        """Raise ValueError with a one-line reason when the configuration cannot build a network."""
        if self.in_channels not in (1, 3):
            raise ValueError(f"in_channels must be 1 or 3, got {self.in_channels}")
        if self.base_channels < 1:
            raise ValueError(f"base_channels must be positive, got {self.base_channels}")
        if len(self.channel_mults) < 1 or any(int(m) < 1 for m in self.channel_mults):
            raise ValueError(f"channel_mults must be a non-empty tuple of positive ints, got {self.channel_mults}")
        if self.num_res_blocks < 1:
            raise ValueError(f"num_res_blocks must be at least 1, got {self.num_res_blocks}")
        if self.block not in BLOCK_TYPES:
            raise ValueError(f"block must be one of {BLOCK_TYPES}, got {self.block!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.attention_heads < 1 or self.attention_head_dim < 1:
            raise ValueError("attention_heads and attention_head_dim must be positive")
        if isinstance(self.num_classes, bool) or not isinstance(self.num_classes, int) or self.num_classes < 0:
            raise ValueError(f"num_classes must be an integer >= 0, got {self.num_classes!r}")
        if isinstance(self.augment_dim, bool) or not isinstance(self.augment_dim, int) or self.augment_dim < 0:
            raise ValueError(f"augment_dim must be an integer >= 0, got {self.augment_dim!r}")
        if self.convnext_mult < 1:
            raise ValueError(f"convnext_mult must be positive, got {self.convnext_mult}")
        for mult in self.channel_mults:
            width = self.base_channels * mult
            if self.norm_groups < 1 or width % self.norm_groups:
                raise ValueError(f"norm_groups={self.norm_groups} must divide every level width (got {width})")
        # upper bounds, far above every preset: a config read from a file must not make us build a monster
        for name, value, most in (("base_channels", self.base_channels, 1024), ("levels", self.levels, 8),
                                  ("widest level", self.base_channels * max(self.channel_mults), 4096),
                                  ("num_res_blocks", self.num_res_blocks, 8),
                                  ("attention_heads", self.attention_heads, 64),
                                  ("attention_head_dim", self.attention_head_dim, 512),
                                  ("convnext_mult", self.convnext_mult, 8),
                                  ("num_classes", self.num_classes, 100_000),
                                  ("augment_dim", self.augment_dim, 1024)):
            if value > most:
                raise ValueError(f"{name} must be at most {most}, got {value}")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (tuples become lists; `from_dict` turns them back)."""
        d = asdict(self)
        d["channel_mults"] = list(self.channel_mults)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any], *, source: str | None = None) -> UNetConfig:
        """Inverse of `to_dict` (`typed_config.load_config`: unknown keys are an error, lists become tuples)."""
        return load_config(cls, d, source=source)

    def replace(self, **changes: Any) -> UNetConfig:
        """A copy with some fields changed (validated)."""
        config = replace(self, **changes)
        config.validate()
        return config


DEFAULT_PRESET = "tiny"  # the preset both faces start from

UNET_PRESETS: dict[str, UNetConfig] = {
    # Trains visibly within minutes on two CPU cores at 32×32 (852,451 parameters for RGB). Attention only at
    # the bottleneck (8×8 for 32 px; two heads): the per-level linear attention cost a third of the step, and
    # at equal CPU time without it the samples scored better (issue 10: SWD 118 vs 156, precision 0.63 vs 0.35,
    # 2 seeds × 1.5 CPU-minutes). Models trained with the earlier preset keep their own config (checkpoints).
    "tiny": UNetConfig(base_channels=32, channel_mults=(1, 2, 2), num_res_blocks=1, attention_heads=2,
                       linear_attention=False),
    # A middle step for 32–64 px data when a GPU or patience is at hand (8,026,627 parameters).
    "small": UNetConfig(base_channels=64, channel_mults=(1, 2, 2, 2), num_res_blocks=2),
    # The shape of the DDPM write-up this product grew from: base 128, mults (1,2,4), ResNet, 128×128 RGB.
    # One block per level gives 33,236,355 parameters, closest to the write-up's 32,009,619 (two: 51,259,395).
    "ddpm128": UNetConfig(base_channels=128, channel_mults=(1, 2, 4), num_res_blocks=1, norm_groups=32),
}

# The fields a model may change and still be "built from" a preset (the form and the runs table name it so).
PRESET_FREE_FIELDS: tuple[str, ...] = ("base_channels", "in_channels", "learned_variance", "block", "num_classes",
                                       "augment_dim")


def preset_of(model: UNetConfig, free: tuple[str, ...] = PRESET_FREE_FIELDS) -> str | None:
    """The UNET_PRESETS name `model` was built from, the `free` fields aside; None for none."""
    own = {name: getattr(model, name) for name in free}
    return next((name for name, preset in UNET_PRESETS.items() if replace(preset, **own) == model), None)

