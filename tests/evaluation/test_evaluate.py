"""The entry point: one report with every metric and its real-vs-real floor, a prepared reference reused,
concise errors for bad inputs, and the config's validation."""

from __future__ import annotations

import json

import pytest
import torch

from ddpm_studio.evaluation import (
    EvaluationConfig,
    EvaluationReport,
    evaluate,
    prepare_reference,
    real_vs_real_reference,
)

SMALL = EvaluationConfig(sample_count=128, reference_count=256, swd_descriptors_per_image=16, swd_directions=64,
                         swd_repeats=2, seed=3)


def test_noise_scores_far_from_the_real_floor_and_copies_are_flagged(shapes, noise_like):
    reference, training = shapes[:256], shapes[256:512]
    prepared = prepare_reference(reference, SMALL)
    floor = real_vs_real_reference(shapes[256:], SMALL)  # 128 real images vs 256 others
    noise = evaluate(noise_like(shapes[:128]), prepared, training, SMALL)
    copies = evaluate(training[:128], prepared, training, SMALL)
    assert isinstance(noise, EvaluationReport) and (floor.sample_count, floor.reference_count) == (128, 256)
    assert floor.training_count == 512 - 128  # every real image but those posing as samples
    assert real_vs_real_reference(shapes[256:], SMALL, with_memorisation=False).memorisation is None
    assert noise.swd.mean > 4 * floor.swd.mean
    assert floor.precision_recall.precision > 0.8 and floor.precision_recall.recall > 0.8
    assert noise.precision_recall.precision == 0.0 and noise.precision_recall.recall == 0.0
    assert floor.memorisation.share < 0.05 and copies.memorisation.share == 1.0
    assert copies.memorisation.indices[:, 0].tolist() == list(range(128))
    assert noise.fid is None and noise.training_count == 256


def test_report_scalars_are_flat_and_json_ready(shapes):
    report = evaluate(shapes[:64], shapes[64:192], shapes[192:320], SMALL)
    values = report.scalars()
    assert {"swd", "swd_32px", "swd_16px", "swd_8px", "precision", "recall", "memorised", "nn_distance"} <= set(values)
    assert values["swd"] == pytest.approx(report.swd.mean * 1e3)
    json.dumps(report.to_dict())


def test_identical_sets_reach_the_estimators_floor(shapes):
    report = evaluate(shapes[:128], shapes[:128], None, SMALL)
    assert report.precision_recall.precision == 1.0 and report.precision_recall.recall == 1.0
    other = evaluate(shapes[128:256], shapes[:128], None, SMALL)
    assert report.swd.mean < other.swd.mean
    assert report.memorisation is None


def test_grayscale_images(shapes):
    gray = shapes[:, :1]
    report = evaluate(gray[:64], gray[64:192], gray[256:768], SMALL)
    assert report.precision_recall.precision > 0.7 and report.memorisation.share < 0.1
    assert list(report.swd.per_level) == [32, 16, 8]


def test_bad_inputs_are_refused_with_a_reason(shapes):
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        evaluate(shapes[:8] * 3, shapes[:64], None, SMALL)
    with pytest.raises(ValueError, match="C = 1 or 3"):
        evaluate(torch.zeros(8, 2, 32, 32), shapes[:64], None, SMALL)
    with pytest.raises(ValueError, match="differ in shape"):
        evaluate(torch.zeros(8, 3, 16, 16), shapes[:64], None, SMALL)
    with pytest.raises(ValueError, match="more than k"):
        evaluate(shapes[:3], shapes[:64], None, SMALL)
    with pytest.raises(ValueError, match="another embedding"):
        evaluate(shapes[:8], prepare_reference(shapes[:64], SMALL), None, EvaluationConfig(k=5))


def test_config_validation_and_round_trip():
    config = EvaluationConfig(k=5, embedding="pixels")
    assert EvaluationConfig.from_dict(config.to_dict()) == config
    for bad in ({"k": 0}, {"embedding": "inception"}, {"memorisation_threshold": 2.0}, {"seed": -1},
                {"sample_count": 2}):
        with pytest.raises(ValueError):
            EvaluationConfig(**bad).validate()
    with pytest.raises(ValueError, match="unknown"):
        EvaluationConfig.from_dict({"colour": 1})
