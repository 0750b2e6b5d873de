"""Issue 23 F4, F8, F10, F11, F19: numbers out of range are refused in one line naming the field (or at parse
time naming the flag) from the flag, config.json and checkpoint metadata alike; never an internal error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ddpm_studio.training.budget import BudgetPlanner
from ddpm_studio.training.checkpoint import load_checkpoint, save_checkpoint
from ddpm_studio.training.config import MAX_STEPS

TINY = ["--size", "8", "--preset", "tiny", "--base-channels", "8", "--timesteps", "10", "--schedule", "linear",
        "--batch-size", "4", "--threads", "1", "--preview-every", "0", "--quiet"]


def _one_error(result, *fragments: str) -> str:
    assert result.code == 1, (result.code, result.err)
    assert len(result.err_lines) == 1 and result.err_lines[0].startswith("ddpm-studio: error: "), result.err
    for fragment in fragments:
        assert fragment in result.err_lines[0], result.err
    return result.err_lines[0]


def _usage_error(result, flag: str) -> None:
    assert result.code == 2, (result.code, result.err)
    assert f"argument {flag}: " in result.err and "Traceback" not in result.err


def _edit_config(run: Path, section: str, key: str, value) -> None:
    config = json.loads((run / "config.json").read_text())
    config[section][key] = value
    (run / "config.json").write_text(json.dumps(config))


# ---- F4: T ---------------------------------------------------------------------------------------------

def test_a_huge_timesteps_flag_is_refused_before_a_run_exists(cli_here, tmp_path):
    flags = [f if f != "10" else "200000000" for f in TINY]
    result = cli_here("train", "--data", "builtin:shapes?n=8", *flags, "--steps", "1", "--name", "big",
                      "--runs-dir", str(tmp_path / "runs"))
    _one_error(result, "diffusion.timesteps must be an integer >= 1 and <= 100,000")
    assert not (tmp_path / "runs" / "big").exists()


def test_a_huge_timesteps_in_config_json_is_refused(cli_here, tiny_run):
    _edit_config(tiny_run, "diffusion", "timesteps", 20_000_000)
    _one_error(cli_here("train", "--resume", str(tiny_run), "--quiet"), "config.json", "diffusion.timesteps")


def test_a_checkpoint_declaring_a_huge_timesteps_is_refused(cli_here, tiny_run, tmp_path):
    checkpoint = load_checkpoint(tiny_run / "checkpoints", with_state=False)
    config = checkpoint.config
    config.diffusion.timesteps = 20_000_000  # what a crafted 6.8 MB file declared: 3.4 GB to sample
    crafted = save_checkpoint(tmp_path / "crafted.safetensors", config=config, step=4,
                              model_state=checkpoint.model_state, ema_state=checkpoint.ema_state)
    result = cli_here("sample", str(crafted), "--count", "1", "--steps", "2", "--out", str(tmp_path / "o"), "--quiet")
    _one_error(result, "crafted.safetensors", "diffusion.timesteps")


def test_noise_bounds_timesteps(cli_here, tmp_path):
    _one_error(cli_here("noise", "builtin:shapes?n=2", "--timesteps", "2000000000", "--out", str(tmp_path / "n.png")),
               "timesteps must be an integer >= 1 and <= 100,000")


# ---- F8: --minutes ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("minutes", ["1.79e308", "1e300", "inf"])
def test_an_absurd_time_budget_is_one_line_and_leaves_no_run(cli_here, tmp_path, minutes):
    result = cli_here("train", "--data", "builtin:shapes?n=8", *TINY, "--minutes", minutes, "--name", "long",
                      "--runs-dir", str(tmp_path / "runs"))
    _one_error(result, "max_minutes must be a finite number")
    assert not (tmp_path / "runs" / "long").exists()


def test_a_300_digit_planned_steps_is_refused_by_name(cli_here, tiny_run):
    _edit_config(tiny_run, "training", "planned_steps", 10**300)
    _one_error(cli_here("train", "--resume", str(tiny_run), "--quiet"), "training: planned_steps must be")


def test_a_budget_of_years_plans_a_step_total_that_stays_in_range():
    planner = BudgetPlanner(60.0 * 9_000_000)
    for step in (1, 2, 3):
        assert planner.observe(step, 0.0) is None
    plan = planner.observe(100_000, 25.0)  # 0.25 ms a step for 17 years: 2e12 steps planned before the bound
    assert plan is not None and plan.planned_steps == MAX_STEPS


# ---- F10, F19: flags ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("command", ["eval", "sweep", "probe"])
@pytest.mark.parametrize("value", ["-1", "0"])
def test_threads_must_be_positive(cli_here, command, value):
    _usage_error(cli_here(command, "demo", "--threads", value), "--threads")


@pytest.mark.parametrize("args, flag", [
    (["sample", "demo", "--nfe", "0"], "--nfe"),
    (["sample", "demo", "--ncols", "-1"], "--ncols"),
    (["sample", "demo", "--gif-frames", "-1"], "--gif-frames"),
    (["sample", "demo", "--seed", "-1"], "--seed"),
    (["probe", "demo", "--scale", "-1"], "--scale"),
    (["probe", "demo", "--seed", "-1"], "--seed"),
    (["probe", "demo", "--frames", "1000000000"], "--frames"),
    (["eval", "demo", "--seed", str(2**70)], "--seed"),
    (["sweep", "demo", "--count", "0"], "--count"),
])
def test_out_of_range_flags_are_usage_errors(cli_here, args, flag):
    _usage_error(cli_here(*args), flag)


# ---- F11: numbers and long values in config.json -------------------------------------------------------------

@pytest.mark.parametrize("key, value", [("seed", 2**70), ("metrics_count", 10**9), ("preview_seed", 2**64)])
def test_out_of_range_training_numbers_name_the_field(cli_here, tiny_run, key, value):
    _edit_config(tiny_run, "training", key, value)
    _one_error(cli_here("train", "--resume", str(tiny_run), "--quiet"), f"training: {key} must be an integer")


def test_a_long_data_source_is_shortened_in_the_message(cli_here, tmp_path):
    result = cli_here("train", "--data", "/nonexistent/" + "x" * 1_000_000, *TINY, "--steps", "1",
                      "--runs-dir", str(tmp_path / "runs"))
    line = _one_error(result)
    assert len(line) < 500 and "characters" in line


def test_a_long_wrong_value_in_config_json_is_shortened(cli_here, tiny_run):
    _edit_config(tiny_run, "training", "batch_size", "b" * 500_000)
    line = _one_error(cli_here("train", "--resume", str(tiny_run), "--quiet"), "training.batch_size")
    assert len(line) < 600
