"""The guidance sweep (no Qt): w → metrics for a class-conditional model (CFG) and for autoguidance, its cache,
its one-line errors; on random tiny UNets (8×8, T = 20) saved as real checkpoints."""

from __future__ import annotations

import pytest
import torch

from ddpm_studio.app import guidance_sweep as module
from ddpm_studio.app.guidance_sweep import GuidanceSweepSettings, parse_scales, run_guidance_sweep
from ddpm_studio.app.sampling import load_for_sampling
from ddpm_studio.engine import SamplingConfig, sample

DATA = "builtin:shapes?n=48"
CLASSES = ("circle", "square", "triangle")
SMALL = dict(method="ddim", budget=3, count=9, reference_count=12, batch_size=9)


@pytest.fixture
def conditional(tmp_path, save_random_checkpoint):
    return save_random_checkpoint(tmp_path / "cond.safetensors", DATA, classes=CLASSES)


def test_cfg_points_at_w0_and_w1_are_the_unconditional_and_conditional_models(conditional, tmp_path):
    settings = GuidanceSweepSettings(scales=(0.0, 1.0, 2.0), with_floor=False, **SMALL)
    captured = []
    real_evaluate = module.score_samples  # the faces' one score (issue 21)

    def spy(samples, *args, **kwargs):
        captured.append(samples)
        return real_evaluate(samples, *args, **kwargs)

    module.score_samples = spy
    try:
        result = run_guidance_sweep(conditional, DATA, settings, cache_dir=tmp_path / "cache")
    finally:
        module.score_samples = real_evaluate
    assert [p.scale for p in result.points] == [0.0, 1.0, 2.0] and result.mode == "classifier-free"
    assert result.classes == CLASSES and result.steps == 3 and result.nfe == 3
    for point in result.points:
        assert {"swd", "precision", "recall", "faithfulness"} <= set(point.metrics)
        assert 0.0 <= point.metrics["faithfulness"] <= 1.0
        assert {"swd", "precision", "recall"} <= set(point.errors)  # each point's bootstrap errors
    assert [p.evaluations for p in result.points] == [3, 3, 6]  # guiding doubles the batch, not the steps
    # by hand: the same x_T; w = 0 the unconditional model, w = 1 the conditional one, classes spread i mod 3
    loaded = load_for_sampling(conditional, "cpu")
    x_T = torch.randn((9, 3, 8, 8), generator=torch.Generator().manual_seed(0))
    labels = tuple(i % 3 for i in range(9))
    for index, w in ((0, 0.0), (1, 1.0)):
        config = SamplingConfig(method="ddim", steps=3, seed=0, count=9, labels=labels, guidance=w)
        images = list(sample(loaded.model, loaded.diffusion, x_T.shape, config, noise=x_T))[-1].xt.clamp(-1, 1)
        assert torch.allclose(captured[index], images, atol=1e-5)
    plain = list(sample(loaded.model, loaded.diffusion, x_T.shape, SamplingConfig(method="ddim", steps=3, count=9),
                        noise=x_T))[-1].xt.clamp(-1, 1)
    assert torch.allclose(captured[0], plain, atol=1e-5)  # w = 0 is the unconditional model itself
    assert not torch.allclose(captured[1], captured[0])  # the classes change the samples
    assert "9 samples per w, spread over 3 classes" in result.caption()


def test_second_run_reads_the_cache_and_a_new_scale_costs_one_point(conditional, tmp_path):
    settings = GuidanceSweepSettings(scales=(0.0, 1.0), **SMALL)
    first = run_guidance_sweep(conditional, DATA, settings, cache_dir=tmp_path)
    assert first.floor is not None and not any(p.cached for p in first.points)
    progress = []
    second = run_guidance_sweep(conditional, DATA, settings, cache_dir=tmp_path, on_progress=progress.append)
    assert all(p.cached for p in second.points) and progress == []
    assert [p.metrics for p in second.points] == [p.metrics for p in first.points] and second.floor == first.floor
    third = run_guidance_sweep(conditional, DATA, GuidanceSweepSettings(scales=(0.0, 1.0, 3.0), **SMALL),
                               cache_dir=tmp_path, on_progress=progress.append)
    assert [p.cached for p in third.points] == [True, True, False] and progress[-1].total_nfe == 3
    # another class set is another key
    one_class = run_guidance_sweep(conditional, DATA, GuidanceSweepSettings(scales=(1.0,), classes=("square",),
                                                                            **SMALL), cache_dir=tmp_path)
    assert not one_class.points[0].cached and one_class.classes == ("square",)


def test_autoguidance_of_an_unconditional_model(tmp_path, save_random_checkpoint):
    main = save_random_checkpoint(tmp_path / "main.safetensors", DATA, seed=0)
    weak = save_random_checkpoint(tmp_path / "weak.safetensors", DATA, seed=1)
    settings = GuidanceSweepSettings(scales=(1.0, 2.0), with_floor=False, **SMALL)
    result = run_guidance_sweep(main, DATA, settings, guide=weak, cache_dir=tmp_path / "c")
    assert result.mode == "autoguidance" and result.classes == () and result.guide.endswith("weak.safetensors")
    assert "faithfulness" not in result.points[0].metrics and [p.evaluations for p in result.points] == [3, 6]
    assert "autoguided by weak.safetensors" in result.caption()
    # another guide is another key
    other = save_random_checkpoint(tmp_path / "other.safetensors", DATA, seed=2)
    again = run_guidance_sweep(main, DATA, settings, guide=other, cache_dir=tmp_path / "c")
    assert not any(p.cached for p in again.points)  # the guide's hash is in every key


def test_errors_are_one_line(tmp_path, save_random_checkpoint, conditional):
    plain = save_random_checkpoint(tmp_path / "plain.safetensors", DATA)
    with pytest.raises(ValueError, match=r"needs a class-conditional model .* or a guide model \(--guide"):
        run_guidance_sweep(plain, DATA, GuidanceSweepSettings(**SMALL), cache_dir=tmp_path)
    with pytest.raises(ValueError, match="guidance scales must be finite numbers >= 0.*-1"):
        run_guidance_sweep(conditional, DATA, GuidanceSweepSettings(scales=(1.0, -1.0), **SMALL), cache_dir=tmp_path)
    with pytest.raises(ValueError, match="unknown class 'dog'; the model's classes are circle, square, triangle"):
        run_guidance_sweep(conditional, DATA, GuidanceSweepSettings(classes=("dog",), **SMALL), cache_dir=tmp_path)
    with pytest.raises(ValueError, match="plain.safetensors cannot guide this model: the guide model differs in "
                                         "classes"):
        run_guidance_sweep(conditional, DATA, GuidanceSweepSettings(**SMALL), guide=plain, cache_dir=tmp_path)
    assert parse_scales("0, 1,1.5") == (0.0, 1.0, 1.5)
    for text, message in (("1,x", "scales separated by commas"), ("", "at least one"), ("2,-3", ">= 0"),
                          ("nan", ">= 0")):
        with pytest.raises(ValueError, match=message) as caught:
            parse_scales(text)
        assert "\n" not in str(caught.value)


def test_cancel_keeps_the_finished_points(conditional, tmp_path):
    done = []
    result = run_guidance_sweep(conditional, DATA, GuidanceSweepSettings(scales=(0.0, 1.0, 2.0), **SMALL),
                                cache_dir=tmp_path, on_point=done.append, should_stop=lambda: bool(done))
    assert result.cancelled and [p.scale for p in result.points] == [0.0] and result.floor is None
    again = run_guidance_sweep(conditional, DATA, GuidanceSweepSettings(scales=(0.0, 1.0, 2.0), **SMALL),
                               cache_dir=tmp_path)
    assert [p.cached for p in again.points] == [True, False, False] and not again.cancelled


def test_guide_candidates_are_the_other_checkpoints_of_the_run(tmp_path, save_random_checkpoint):
    from ddpm_studio.app.guidance_sweep import guide_candidates

    folder = tmp_path / "run" / "checkpoints"
    folder.mkdir(parents=True)
    for step in (10, 20, 30):
        save_random_checkpoint(folder / f"step_{step:08d}.safetensors", DATA)
    assert [label for label, _ in guide_candidates(tmp_path / "run")] == ["run: step 20", "run: step 10"]
    assert [label for label, _ in guide_candidates(folder / "step_00000020.safetensors")] == ["run: step 30",
                                                                                               "run: step 10"]
    assert guide_candidates(tmp_path / "missing") == [] and guide_candidates(tmp_path / ("x" * 300)) == []
