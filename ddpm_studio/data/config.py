"""DataConfig: which images to train on and how they are shaped (saved in every run's config.json)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar

from ddpm_studio.data.labels import LABEL_MODES
from ddpm_studio.typed_config import load_config

__all__ = ["CHANNELS", "DataConfig"]

CHANNELS: tuple[int, ...] = (1, 3)  # grayscale or RGB


@dataclass
class DataConfig:
    """Where the images come from and the tensor each becomes: (channels, image_size, image_size) in [-1, 1].

    `source` is a folder path, a .zip path, or a built-in set: ``"builtin:shapes"``, ``"builtin:glyphs"``;
    a built-in set's size is a spec parameter, ``"builtin:shapes?n=2000"`` (default n = 4096 items;
    also ``size=`` render size, default 64, and ``seed=``, default 0).
    """

    source: str = "builtin:shapes"  # folder, .zip or "builtin:<name>[?n=...]"
    image_size: int = 32  # side of the square training image, pixels
    channels: int = 3  # 3 = RGB, 1 = grayscale
    hflip: bool = True  # random horizontal flip with p = 0.5
    random_crop: bool = False  # random crop from a 9/8-larger resize instead of a centre crop
    labels: str = "auto"  # class labels from the data: "auto" | "folders" | "csv" | "none" (data/labels.py)
    classes: tuple[str, ...] = ()  # the run's class names in class-index order (filled in from the data); () = none

    # runs written before labels existed trained unconditionally on whatever folder they had
    LEGACY_DEFAULTS: ClassVar[dict[str, Any]] = {"labels": "none"}

    def validate(self) -> None:
        """Raise ValueError with a one-line reason if a field is out of range."""
        if not isinstance(self.source, str) or not self.source.strip():
            raise ValueError("data source is empty: give a folder, a .zip file or builtin:shapes")
        if not isinstance(self.image_size, int) or not 4 <= self.image_size <= 1024:
            raise ValueError(f"image_size must be an integer in [4, 1024], got {self.image_size!r}")
        if self.channels not in CHANNELS:
            raise ValueError(f"channels must be 1 (grayscale) or 3 (RGB), got {self.channels!r}")
        if self.labels not in LABEL_MODES:
            raise ValueError(f"labels must be one of {', '.join(LABEL_MODES)}, got {self.labels!r}")
        if len(set(self.classes)) != len(self.classes) or not all(isinstance(c, str) and c for c in self.classes):
            raise ValueError(f"classes must be distinct non-empty names, got {list(self.classes)}")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["classes"] = list(self.classes)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str | None = None) -> DataConfig:
        """Build and validate from parsed JSON (`typed_config.load_config`: unknown keys are an error)."""
        return load_config(cls, data, source=source)
