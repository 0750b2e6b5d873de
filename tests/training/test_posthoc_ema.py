"""Post-hoc EMA (EDM2 section 3, appendix C): the snapshot grid, the least-squares reconstruction, the Trainer's
snapshots across a resume, and old runs without the option."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from ddpm_studio.training.config import TrainingConfig
from ddpm_studio.training.ema import power_ema_gamma
from ddpm_studio.training.events import FinishedEvent, StepEvent
from ddpm_studio.training.posthoc_ema import (
    MAX_SNAPSHOTS,
    POSTHOC_DIR,
    PROFILE_SIGMA_RELS,
    PosthocError,
    list_snapshots,
    reconstruct_weights,
    reconstructable_range,
    snapshot_interval,
    solve_exponential_coefficients,
    solve_posthoc_coefficients,
)
from ddpm_studio.training.runs import create_run, open_run
from ddpm_studio.training.trainer import Trainer


def test_the_snapshot_grid_stays_bounded_and_evenly_spaced():
    for step in (1, 16, 1000, 1500, 10_000, 123_457, 2_000_000):
        interval = snapshot_interval(step)
        assert step // interval <= MAX_SNAPSHOTS
        assert step < 16 * MAX_SNAPSHOTS or step // interval > MAX_SNAPSHOTS // 2  # never thinner than half
    assert snapshot_interval(1500) == 32


def _toy_trajectory(n: int) -> float:
    return np.sin(n / 40.0) + n / 500.0 + 0.3 * np.cos(n / 7.0)


def _power_ema_of_toy(sigma_rel: float, steps: int) -> dict[int, float]:
    """ema.EMA's power-EMA recursion (d_n = (1 − 1/(n+1))^(γ+1)) on a scalar parameter, at every step."""
    gamma, value, out = power_ema_gamma(sigma_rel), 0.0, {}
    for n in range(steps):
        d = (1.0 - 1.0 / (n + 1)) ** (gamma + 1.0)
        value = d * value + (1.0 - d) * _toy_trajectory(n + 1)
        out[n + 1] = value
    return out


def test_reconstruction_reproduces_the_stored_profiles_and_tracks_an_intermediate_length():
    total = 1500
    interval = snapshot_interval(total)
    steps = list(range(interval, total + 1, interval)) + ([total] if total % interval else [])
    gammas = [power_ema_gamma(s) for s in PROFILE_SIGMA_RELS]
    tracked = [_power_ema_of_toy(s, total) for s in PROFILE_SIGMA_RELS]
    in_steps = np.array([s for s in steps for _ in gammas], dtype=float)
    in_gammas = np.array([g for _ in steps for g in gammas])
    snapshots = np.array([tracked[i][s] for s in steps for i in range(len(gammas))])
    for sigma_rel, tolerance in ((0.05, 1e-10), (0.10, 1e-10), (0.03, 2e-4), (0.07, 1e-5), (0.15, 1e-4),
                                 (0.2, 5e-4)):
        solution = solve_posthoc_coefficients(in_steps, in_gammas, total, power_ema_gamma(sigma_rel))
        direct = _power_ema_of_toy(sigma_rel, total)[total]
        assert abs(solution.coefficients @ snapshots - direct) < tolerance, sigma_rel  # the values wander over ~2.5
        assert solution.residual < 0.01


def test_an_exponential_ema_is_reconstructed_from_the_power_profiles():
    """The classic EMA θ̄ ← d θ̄ + (1 − d) θ of the toy trajectory, from the same 47 snapshots: its profile is
    matched within 0.1 % for a half-life well inside the run; one as long as the run is not (the residual says)."""
    total = 1500
    interval = snapshot_interval(total)
    steps = list(range(interval, total + 1, interval)) + [total]
    gammas = [power_ema_gamma(s) for s in PROFILE_SIGMA_RELS]
    tracked = [_power_ema_of_toy(s, total) for s in PROFILE_SIGMA_RELS]
    in_steps = np.array([s for s in steps for _ in gammas], dtype=float)
    in_gammas = np.array([g for _ in steps for g in gammas])
    snapshots = np.array([tracked[i][s] for s in steps for i in range(len(gammas))])
    for decay, tolerance in ((0.99, 1e-5), (0.995, 1e-3)):
        direct = _toy_trajectory(1)
        for n in range(2, total + 1):
            direct = decay * direct + (1 - decay) * _toy_trajectory(n)
        solution = solve_exponential_coefficients(in_steps, in_gammas, total, decay)
        assert solution.residual < 1e-3
        assert abs(solution.coefficients @ snapshots - direct) < tolerance, decay
    assert solve_exponential_coefficients(in_steps, in_gammas, total, 0.999).residual > 0.05


def _train(config, dataset, root, name, *, stop_at=None):
    run = create_run(config, root=root, name=name)
    trainer = Trainer(config, dataset, run, device="cpu")
    events = []

    def collect(event):
        events.append(event)
        if stop_at is not None and isinstance(event, StepEvent) and event.step == stop_at:
            trainer.request_stop()

    trainer.run(collect)
    return trainer, run, events


def test_trainer_snapshots_reconstruct_the_stored_ema_and_survive_a_resume(tiny_config, tiny_dataset, tmp_path):
    config = tiny_config(max_steps=40, checkpoint_every_steps=100, posthoc_ema=True)
    straight, run, _ = _train(config, tiny_dataset, tmp_path, "straight")
    folder = run.path / POSTHOC_DIR
    assert [s for s, _ in list_snapshots(folder)] == [16, 32, 40]  # the grid, and the end of training
    for i, sigma_rel in enumerate(PROFILE_SIGMA_RELS):
        weights, step = reconstruct_weights(folder, sigma_rel)
        assert step == 40
        stored = straight.posthoc.emas[i].state_dict()
        for key, value in stored.items():
            torch.testing.assert_close(weights[key], value.float(), rtol=1e-5, atol=1e-6)
    low, high = reconstructable_range(folder)
    assert low < 0.05 and high > 0.10

    first, interrupted, events = _train(config, tiny_dataset, tmp_path, "interrupted", stop_at=20)
    assert events[-1] == FinishedEvent(step=20, reason="stopped")
    resumed = Trainer.resume(open_run(interrupted.path), tiny_dataset, device="cpu")
    resumed.run(lambda event: None)
    ours, theirs = list_snapshots(interrupted.path / POSTHOC_DIR), list_snapshots(folder)
    assert [s for s, _ in ours] == [16, 32, 40]  # the stop's own step-20 snapshot was thinned away
    for (_, a), (_, b) in zip(ours, theirs):
        ta, tb = load_file(a), load_file(b)
        assert ta.keys() == tb.keys()
        assert all(torch.equal(ta[k], tb[k]) for k in ta)  # bit for bit the uninterrupted run's


def test_bad_lengths_and_runs_without_snapshots_are_one_line_errors(tiny_config, tiny_dataset, tmp_path):
    _, run, _ = _train(tiny_config(max_steps=20, posthoc_ema=True), tiny_dataset, tmp_path, "with")
    folder = run.path / POSTHOC_DIR
    for bad in (0.001, 0.5):
        with pytest.raises(PosthocError, match="sigma_rel must be in 0.01..0.28") as caught:
            reconstruct_weights(folder, bad)
        assert "\n" not in str(caught.value)
    _, plain, _ = _train(tiny_config(max_steps=4), tiny_dataset, tmp_path, "without")
    with pytest.raises(PosthocError, match="no post-hoc EMA snapshots.*posthoc_ema"):
        reconstruct_weights(plain.path / POSTHOC_DIR, 0.1)


def test_a_length_the_snapshots_cannot_express_names_the_range(tmp_path):
    from ddpm_studio.training.posthoc_ema import PosthocTracker

    model = torch.nn.Linear(2, 2)
    tracker = PosthocTracker(model, tmp_path / POSTHOC_DIR)
    for step in range(1, 33):
        tracker.update(model)
        if tracker.due(step):
            tracker.save_snapshot(step)
    with pytest.raises(PosthocError, match=r"cannot be reconstructed from this run's 2 snapshots.*choose one in"):
        reconstruct_weights(tmp_path / POSTHOC_DIR, 0.012)


def test_old_runs_load_without_the_option_and_resume_unchanged(tiny_config, tiny_dataset, tmp_path):
    assert TrainingConfig.from_dict({"max_steps": 10}).posthoc_ema is False  # the legacy default
    assert TrainingConfig().posthoc_ema is False
    config = tiny_config(max_steps=8, checkpoint_every_steps=4)
    straight, _, _ = _train(config, tiny_dataset, tmp_path, "straight")
    _, run, _ = _train(config, tiny_dataset, tmp_path, "old", stop_at=4)
    saved = json.loads((run.path / "config.json").read_text())
    del saved["training"]["posthoc_ema"]  # a config.json written before the field existed
    (run.path / "config.json").write_text(json.dumps(saved))
    resumed = Trainer.resume(open_run(run.path), tiny_dataset, device="cpu")
    assert resumed.posthoc is None
    resumed.run(lambda event: None)
    for key, value in straight.ema.state_dict().items():
        assert torch.equal(value, resumed.ema.state_dict()[key]), key
    assert not (run.path / POSTHOC_DIR).exists()


def test_a_damaged_snapshot_is_named_in_one_line(tiny_config, tiny_dataset, tmp_path):
    _, run, _ = _train(tiny_config(max_steps=20, posthoc_ema=True), tiny_dataset, tmp_path, "damaged")
    folder = run.path / POSTHOC_DIR
    first = list_snapshots(folder)[0][1]
    first.write_bytes(first.read_bytes()[:200])  # cut short
    with pytest.raises(PosthocError, match=f"{first.name} is not a readable post-hoc EMA snapshot") as caught:
        reconstruct_weights(folder, 0.1)
    assert "\n" not in str(caught.value)
