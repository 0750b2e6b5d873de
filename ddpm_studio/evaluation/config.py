"""EvaluationConfig: how many images, which feature space, the estimators' sizes, the memorisation threshold."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from ddpm_studio.evaluation.embeddings import EMBEDDING_DEFAULT, EMBEDDINGS

__all__ = ["EvaluationConfig"]


@dataclass
class EvaluationConfig:
    """Settings of one evaluation; the defaults keep 256 samples vs 512 real images at 32 px to a few seconds."""

    sample_count: int = 256  # images to sample and evaluate (for callers that sample: CLI, live metrics)
    reference_count: int = 512  # real images in the reference set
    k: int = 3  # k of the k-NN manifolds (Kynkäänniemi et al. 2019)
    embedding: str = EMBEDDING_DEFAULT  # feature space of precision/recall (embeddings.py)
    swd_descriptors_per_image: int = 32  # 7×7 neighbourhoods per image and pyramid level
    swd_directions: int = 128  # random projections per repeat (Karras et al. 2018, appendix D)
    swd_repeats: int = 4  # repeats of the projections, averaged
    swd_min_resolution: int = 8  # side of the coarsest (low-pass) pyramid level, px
    memorisation_threshold: float = 0.25  # flag a sample when d(NN_1) / mean d(NN_1..n) <= this (memorisation.py)
    memorisation_neighbours: int = 50  # n of that mean (Carlini et al. 2023 use the 50 nearest)
    nearest_shown: int = 3  # nearest training images kept per sample (for the nearest-neighbour view)
    include_flips: bool = True  # a mirrored training image counts as a copy
    kid_subsets: int = 100  # KID: random subsets averaged
    kid_subset_size: int = 1000  # KID: images per subset (capped by the set sizes)
    seed: int = 0  # seeds every random choice (descriptor positions, projections, subsets, halves)

    def validate(self) -> None:
        """Raise ValueError with a one-line reason if a field is out of range."""
        for name in ("sample_count", "reference_count", "k", "swd_descriptors_per_image", "swd_directions",
                     "swd_repeats", "memorisation_neighbours", "nearest_shown", "kid_subsets", "kid_subset_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if self.sample_count <= self.k or self.reference_count <= self.k:
            raise ValueError(f"sample_count and reference_count must exceed k={self.k}")
        if self.embedding not in EMBEDDINGS:
            raise ValueError(f"embedding must be one of {', '.join(EMBEDDINGS)}, got {self.embedding!r}")
        if not isinstance(self.swd_min_resolution, int) or self.swd_min_resolution < 4:
            raise ValueError(f"swd_min_resolution must be an integer >= 4, got {self.swd_min_resolution!r}")
        if not 0.0 <= float(self.memorisation_threshold) <= 1.0:
            raise ValueError(f"memorisation_threshold must be in [0, 1], got {self.memorisation_threshold!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be an integer >= 0, got {self.seed!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EvaluationConfig:
        unknown = sorted(set(data) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(f"unknown EvaluationConfig field(s): {', '.join(unknown)}")
        config = cls(**data)
        config.validate()
        return config
