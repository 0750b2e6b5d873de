"""Issue 21: one protocol and one score function; bootstrap error bars that match the spread over independent
draws; decimals that follow the error; the floor note; the folder reference split that keeps the floor's counts."""

from __future__ import annotations

import numpy as np
import pytest

from ddpm_studio.evaluation import (
    EvaluationConfig,
    Protocol,
    evaluate,
    floor_note,
    floor_score,
    format_with_error,
    prepare_reference,
    score_samples,
)
from ddpm_studio.evaluation.score import BEYOND_FLOOR_NOTE, WITHIN_FLOOR_NOTE
from ddpm_studio.evaluation.uncertainty import decimals_for
from ddpm_studio.training.quality_monitor import reference_split


def test_caption_and_comparability():
    p = Protocol(64, "dpmpp_2m", 10, "builtin:shapes?seed=1000", 256)
    assert p.caption() == "SWD×10³ · 64 samples · DPM-Solver++(2M) 10 · vs 256 real"
    assert Protocol(16, None, None, "x", 512).caption("") == "16 samples · vs 512 real"
    assert p.comparable(Protocol(64, "dpmpp_2m", 10, "builtin:shapes?seed=1000", 256, seed=7))
    assert not p.comparable(Protocol(128, "dpmpp_2m", 10, "builtin:shapes?seed=1000", 256))
    assert Protocol.from_dict(p.to_dict()) == p
    with pytest.raises(ValueError, match="not a measurement protocol"):
        Protocol.from_dict({"sample_count": 3})


@pytest.mark.parametrize("value, error, text", [
    (87.34, 5.1, "87 ± 5"), (0.623, 0.041, "0.62 ± 0.04"), (12.34, 1.43, "12.3 ± 1.4"), (134.0, 23.0, "134 ± 23"),
    (0.95, 0.0123, "0.950 ± 0.012"), (42.9, None, "42.9"), (1.0, 0.0, "1 ± 0")])
def test_decimals_follow_the_error(value, error, text):
    assert format_with_error(value, error) == text


def test_decimals_for():
    assert decimals_for(0.04) == 2 and decimals_for(0.14) == 2 and decimals_for(3.0) == 0 and decimals_for(1.4) == 1


def test_floor_note():
    assert floor_note("swd", 58.4, 3.0, 75.7, 4.0) == BEYOND_FLOOR_NOTE  # better than real data by 17 ± 5
    assert floor_note("swd", 73.0, 3.0, 75.7, 4.0) == WITHIN_FLOOR_NOTE
    assert floor_note("swd", 120.0, 3.0, 75.7, 4.0) is None
    assert floor_note("recall", 0.95, 0.02, 0.90, 0.02) == BEYOND_FLOOR_NOTE  # higher is better for recall
    assert floor_note("recall", 0.50, 0.02, 0.90, 0.02) is None
    assert floor_note("swd", 50.0, 1.0, None, None) is None


def test_the_protocol_must_state_what_is_scored(shapes):
    config = EvaluationConfig(sample_count=32, reference_count=64)
    reference = prepare_reference(shapes[:64], config)
    with pytest.raises(ValueError, match="says 16 samples, got 32"):
        score_samples(shapes[64:96], reference, Protocol(16, None, None, "r", 64), config)
    with pytest.raises(ValueError, match="says 128 reference images, got 64"):
        score_samples(shapes[64:96], reference, Protocol(32, None, None, "r", 128), config)
    assert floor_score(shapes[64:80], reference, Protocol(32, None, None, "r", 64), config) is None  # too few


def test_errors_leave_the_values_unchanged_and_match_the_spread_over_draws(shapes):
    """The bootstrap error of one draw against the spread of SWD (and recall) over 7 disjoint draws of the same
    size: same order of magnitude (their ratio within 0.4..2.5: an error estimated from 16 replicates, a spread
    from 7 draws, each known to about ±30 %)."""
    config = EvaluationConfig(sample_count=32, reference_count=256)
    reference = prepare_reference(shapes[:256], config)
    protocol = Protocol(32, None, None, "shapes", 256)
    draws = [shapes[256 + 32 * i: 288 + 32 * i] for i in range(7)]
    scores = [score_samples(d, reference, protocol, config) for d in draws]
    plain = evaluate(draws[0], reference, None, config)
    assert scores[0].values() == plain.scalars() and plain.errors == {}  # bootstraps only add errors
    for metric in ("swd", "recall"):
        spread = float(np.std([s.values()[metric] for s in scores], ddof=1))
        error = float(np.mean([s.errors()[metric] for s in scores]))
        assert 0.4 < error / spread < 2.5, (metric, error, spread)
    assert set(scores[0].errors()) >= {"swd", "precision", "recall", "swd_32px", "swd_8px"}


def test_reference_split_keeps_the_floor_at_the_samples_count():
    assert reference_split(1000, 64, 256, 3) == (256, 64)
    assert reference_split(200, 64, 256, 3) == (136, 64)  # the reference shrinks, the floor keeps 64
    assert reference_split(60, 64, 256, 3) == (60, 0)  # too small for a floor at 64
