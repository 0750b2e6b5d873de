"""The cost of a sampling run said before it starts (issue 27, item 3): measured, scaled, worded."""

from __future__ import annotations

import torch

from ddpm_studio.app import sampling_cost
from ddpm_studio.app.sampling import load_for_sampling
from ddpm_studio.app.sampling_cost import EvalCost, cost_warning, estimate_seconds, format_seconds, measure_eval
from ddpm_studio.cli.main import main
from ddpm_studio.engine.precision import AutocastModel


def test_measure_eval_times_the_real_network(tmp_path, save_random_checkpoint):
    loaded = load_for_sampling(save_random_checkpoint(tmp_path / "m.safetensors"), "cpu")
    calls: list[int] = []
    loaded.model.register_forward_hook(lambda _m, args, _o: calls.append(args[0].shape[0]))
    cost = measure_eval(loaded, "cpu", count=40)
    assert cost.seconds > 0 and cost.side == 8 and cost.device == "cpu"
    assert calls == [1, 16]  # a set-up pass on one image, then the measured batch (a small network)


def test_estimate_and_warning_scale_with_count_nfe_and_guidance():
    cost = EvalCost(seconds=2.0, side=256, device="cpu")
    assert estimate_seconds(cost, 16, 50) == 1600.0
    assert estimate_seconds(cost, 16, 50, batch_factor=2) == 3200.0
    assert cost_warning(EvalCost(0.001, 32, "cpu"), 4, 10) is None  # 0.04 s: nothing to say
    line = cost_warning(cost, 16, 50, batch_factor=2)
    assert line is not None and "\n" not in line
    assert "16 image(s) at 256 px × 50 NFE × 2 (guidance): about 53 min on the CPU" in line
    assert "2.00 s" in line


def test_format_seconds():
    assert [format_seconds(s) for s in (42, 600, 9000, 200_000)] == ["42 s", "10 min", "2.5 h", "2.3 days"]


def test_sample_says_the_estimate_before_sampling(tmp_path, save_random_checkpoint, capsys, monkeypatch):
    model = save_random_checkpoint(tmp_path / "m.safetensors")
    monkeypatch.setattr(sampling_cost, "WARN_SECONDS", 0.0)  # any run is "long": the line must appear
    assert main(["sample", str(model), "--count", "2", "--steps", "2", "--out", str(tmp_path / "out"),
                 "--device", "cpu", "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "2 image(s) at 8 px × 2 NFE: about" in err and (tmp_path / "out" / "sample_001.png").exists()


def test_sample_in_bf16_on_the_cpu(tmp_path, save_random_checkpoint):
    model = save_random_checkpoint(tmp_path / "m.safetensors")
    assert isinstance(load_for_sampling(model, "cpu", precision="bf16").model, AutocastModel)
    assert main(["sample", str(model), "--count", "2", "--steps", "2", "--out", str(tmp_path / "out"),
                 "--device", "cpu", "--precision", "bf16", "--quiet"]) == 0
    assert (tmp_path / "out" / "grid.png").exists()
    assert not torch.is_autocast_enabled("cpu")  # the wrapper left the global autocast state as it was
