"""Sample-quality metrics, Qt-free (pure torch/numpy; no files except an explicitly loaded feature network):
multi-scale SWD (swd.py), improved precision/recall (precision_recall.py) in a download-free embedding
(embeddings.py), the memorisation ratio test (memorisation.py), FID/KID over a local network (fid.py), and
one entry point, `evaluate` (evaluate.py), configured by `EvaluationConfig` (config.py); every face scores
through `score_samples` / `floor_score` (score.py) under a stated `Protocol` (protocol.py), with bootstrap
error bars (uncertainty.py)."""

from ddpm_studio.evaluation.config import EvaluationConfig
from ddpm_studio.evaluation.embeddings import EMBEDDING_DEFAULT, EMBEDDINGS, embed
from ddpm_studio.evaluation.evaluate import (
    EvaluationReport,
    PreparedReference,
    evaluate,
    prepare_reference,
    real_vs_real_reference,
)
from ddpm_studio.evaluation.fid import (
    FeatureNetwork,
    FIDResult,
    frechet_distance,
    kernel_distance,
    load_feature_network,
)
from ddpm_studio.evaluation.memorisation import MemorisationResult, memorisation, nearest_training_images
from ddpm_studio.evaluation.precision_recall import PrecisionRecall, precision_recall
from ddpm_studio.evaluation.protocol import MIN_TRUSTED_SAMPLES, Protocol
from ddpm_studio.evaluation.score import Score, floor_note, floor_score, score_samples
from ddpm_studio.evaluation.swd import SWDResult, sliced_wasserstein_distance
from ddpm_studio.evaluation.uncertainty import format_with_error

__all__ = [
    "EvaluationConfig", "EMBEDDING_DEFAULT", "EMBEDDINGS", "embed", "EvaluationReport", "PreparedReference",
    "evaluate", "prepare_reference", "real_vs_real_reference", "FeatureNetwork", "FIDResult", "frechet_distance",
    "kernel_distance", "load_feature_network", "MemorisationResult", "memorisation", "nearest_training_images",
    "PrecisionRecall", "precision_recall", "SWDResult", "sliced_wasserstein_distance", "MIN_TRUSTED_SAMPLES",
    "Protocol", "Score", "floor_note", "floor_score", "score_samples", "format_with_error",
]
