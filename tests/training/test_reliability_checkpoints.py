"""Issue 14, items 1, 2, 4, 5, 15, 19: crafted and damaged checkpoints, non-finite weights, divergence.

Each test makes its hostile file in tmp_path. Those that would crash or exhaust memory on a loader without the
checks run the load in a subprocess (a segfault or a RLIMIT_AS failure is then a failed test, not a dead run).
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap

import pytest
import torch
from safetensors.torch import save_file

from ddpm_studio.engine.unet_config import UNetConfig
from ddpm_studio.training import checkpoint as ckpt
from ddpm_studio.training.checkpoint import (
    CHECKPOINT_FORMAT,
    CheckpointError,
    export_for_sampling,
    load_checkpoint,
    load_model,
    save_checkpoint,
)
from ddpm_studio.training.config import TrainingConfig
from ddpm_studio.training.events import FailedEvent
from ddpm_studio.training.runs import create_run, open_run
from ddpm_studio.training.trainer import Trainer


def _trained_run(config, dataset, root, name="run"):
    run = create_run(config, root=root, name=name)
    trainer = Trainer(config, dataset, run, device="cpu")
    events = []
    trainer.run(events.append)
    return trainer, run, events


def _run_python(script: str, *args: str, memory_gb: int = 3) -> subprocess.CompletedProcess[str]:
    """Run `script` in a fresh interpreter whose address space is capped (a runaway allocation fails there)."""
    preamble = f"import resource\nresource.setrlimit(resource.RLIMIT_AS, ({memory_gb} << 30, {memory_gb} << 30))\n"
    return subprocess.run([sys.executable, "-c", preamble + textwrap.dedent(script), *args], capture_output=True,
                          text=True, timeout=180)


# ---- 1: optimizer state tensors are checked before the fused AdamW kernel sees them --------------------------

_RESUME = """
    import sys
    from dataclasses import replace
    from ddpm_studio.training.checkpoint import CheckpointError
    from ddpm_studio.training.runs import open_run
    from ddpm_studio.training.trainer import Trainer
    for path in sys.argv[1:]:
        try:
            run = open_run(path)
            run.config = replace(run.config, training=replace(run.config.training, max_steps=4))
            trainer = Trainer.resume(run, device="cpu")
            trainer.run(lambda event: None)
            print("resumed", path)
        except CheckpointError as exc:
            print("refused", exc)
"""


def test_a_crafted_optimizer_state_is_refused_with_the_file_and_the_tensor(tiny_config, tiny_dataset, tmp_path):
    crafts = {"shape": lambda buffers: buffers.update(exp_avg=torch.zeros(3)),
              "dtype": lambda buffers: buffers.update(exp_avg_sq=buffers["exp_avg_sq"].double()),
              "nan": lambda buffers: buffers["exp_avg_sq"].view(-1).__setitem__(0, float("nan"))}
    paths = []
    for craft_name, craft in crafts.items():
        _, run, _ = _trained_run(tiny_config(max_steps=2), tiny_dataset, tmp_path, name=craft_name)
        state_file = ckpt.state_path_for(run.latest_checkpoint())
        state = torch.load(state_file, weights_only=True)
        craft(state["optimizer"]["state"][0])
        torch.save(state, state_file)
        torch.load(state_file, weights_only=True)  # the crafted file passes the pickle-free loader
        paths.append(str(run.path))
    result = _run_python(_RESUME, *paths)
    assert result.returncode == 0, result.stderr[-2000:]  # a segfault (rc -11 / 139) without the check
    lines = result.stdout.splitlines()
    assert len(lines) == 3
    assert all(line.startswith("refused step_00000002.state.pt cannot be resumed") for line in lines)
    assert "exp_avg of parameter" in lines[0] and "shape (3,)" in lines[0]
    assert "exp_avg_sq of parameter" in lines[1] and "torch.float64" in lines[1]
    assert "exp_avg_sq of parameter" in lines[2] and "NaN" in lines[2]


# ---- 2: a small file cannot make us build a huge network ----------------------------------------------------

_LOAD = """
    import sys
    from ddpm_studio.training.checkpoint import CheckpointError, load_model
    for path in sys.argv[1:]:
        try:
            load_model(path)
            print("loaded", path)
        except CheckpointError as exc:
            print("refused", exc)
"""


def _crafted_checkpoint(path, config_dict):
    save_file({"ema.conv_in.weight": torch.zeros(1)}, str(path),
              metadata={"format": CHECKPOINT_FORMAT, "step": "1", "config": json.dumps(config_dict)})
    return path


def test_a_tiny_file_declaring_a_huge_unet_is_refused_before_building_it(tiny_config, tmp_path):
    base = tiny_config().to_dict()
    models = {"huge.safetensors": dict(base["model"], base_channels=8192, channel_mults=[1, 2, 4, 8]),
              "in_bounds.safetensors": dict(base["model"], base_channels=1024, channel_mults=[1, 2, 4, 4],
                                            num_res_blocks=8, norm_groups=8),
              "mismatch.safetensors": dict(base["model"], base_channels=512, channel_mults=[1, 2, 4, 8])}
    paths = [str(_crafted_checkpoint(tmp_path / name, dict(base, model=model))) for name, model in models.items()]
    assert all((tmp_path / name).stat().st_size < 4096 for name in models)
    result = _run_python(_LOAD, *paths, memory_gb=3)
    assert result.returncode == 0, result.stderr[-2000:]  # out of memory under the 3 GB cap without the checks
    huge, in_bounds, mismatch = result.stdout.splitlines()
    assert huge.startswith("refused huge.safetensors has an unusable configuration") and "at most 1024" in huge
    assert in_bounds.startswith("refused in_bounds.safetensors declares a UNet of") and "parameters" in in_bounds
    assert mismatch.startswith("refused mismatch.safetensors was made for a different architecture")


def test_unet_config_has_upper_bounds():
    with pytest.raises(ValueError, match="base_channels must be at most 1024"):
        UNetConfig(base_channels=8192).validate()
    with pytest.raises(ValueError, match="num_res_blocks must be at most"):
        UNetConfig(num_res_blocks=1000).validate()
    with pytest.raises(ValueError, match="levels must be at most"):
        UNetConfig(channel_mults=(1,) * 20).validate()


# ---- 4 and 5: non-finite weights are never written, never loaded ---------------------------------------------

def test_learning_rates_that_overflow_float32_are_rejected():
    with pytest.raises(ValueError, match="lr must be"):
        TrainingConfig(lr=1e39).validate()
    TrainingConfig(lr=1e-3).validate()


def test_inf_weights_are_never_saved_as_the_last_good_checkpoint(tiny_config, tiny_dataset, tmp_path):
    # lr within float32 but absurd: AdamW's decoupled decay p·(1 - lr·λ) overflows the weights at step 1
    _, run, events = _trained_run(tiny_config(lr=3e38, warmup_steps=0, checkpoint_every_steps=1), tiny_dataset,
                                  tmp_path)
    failed = events[-1]
    assert isinstance(failed, FailedEvent) and failed.kind == "nan"
    assert "the weights became NaN or inf at step 1" in failed.message
    assert "no checkpoint had been written yet" in failed.message and "last good" not in failed.message
    assert list(run.checkpoints_dir.iterdir()) == []


def test_save_checkpoint_refuses_non_finite_weights_and_writes_nothing(tiny_config, tiny_dataset, tmp_path):
    trainer, run, _ = _trained_run(tiny_config(max_steps=2), tiny_dataset, tmp_path)
    ema = {k: v.clone() for k, v in trainer.ema.state_dict().items()}
    next(v for v in ema.values() if v.is_floating_point()).view(-1)[0] = float("inf")
    target = run.checkpoints_dir / ckpt.checkpoint_name(3)
    refused = getattr(ckpt, "NonFiniteWeights", CheckpointError)
    with pytest.raises(refused, match="not writing step_00000003.safetensors: its EMA weight"):
        save_checkpoint(target, config=trainer.config, step=3, model_state=trainer.model.state_dict(),
                        ema_state=ema, training_state=trainer.training_state())
    assert not target.exists() and not ckpt.state_path_for(target).exists()


def test_nan_weights_are_refused_for_sampling_export_and_resume(tiny_config, tiny_dataset, tmp_path):
    trainer, run, _ = _trained_run(tiny_config(max_steps=2), tiny_dataset, tmp_path)
    path = run.latest_checkpoint()
    tensors = {"model." + k: v.contiguous() for k, v in trainer.model.state_dict().items()}
    tensors.update({"ema." + k: v.clone().contiguous() for k, v in trainer.ema.state_dict().items()})
    key = next(k for k, v in tensors.items() if k.startswith("ema.") and v.is_floating_point())
    tensors[key].view(-1)[0] = float("nan")
    metadata = {"format": CHECKPOINT_FORMAT, "step": "2", "config": trainer.config.to_json()}
    save_file(tensors, str(path), metadata=metadata)  # written behind save_checkpoint's back
    for action in (lambda: load_model(path), lambda: export_for_sampling(path, tmp_path / "out.safetensors"),
                   lambda: Trainer.resume(open_run(run.path), tiny_dataset, device="cpu")):
        with pytest.raises(CheckpointError) as info:
            action()
        message = str(info.value)
        assert "step_00000002.safetensors holds NaN or inf weights" in message and key in message
        assert "\n" not in message
    assert not (tmp_path / "out.safetensors").exists()


# ---- 15: a damaged latest checkpoint falls back to the older one ---------------------------------------------

def test_a_damaged_latest_checkpoint_falls_back_to_an_older_valid_one(tiny_config, tiny_dataset, tmp_path, caplog):
    _, run, _ = _trained_run(tiny_config(max_steps=4, checkpoint_every_steps=2), tiny_dataset, tmp_path)
    assert [step for step, _ in run.checkpoints()] == [2, 4]
    latest = run.latest_checkpoint()
    latest.write_bytes(latest.read_bytes()[:1000])  # torn by a bad disk
    with caplog.at_level(logging.WARNING):
        checkpoint = load_checkpoint(run.path)
        model, _, _ = load_model(run.path)
        trainer = Trainer.resume(open_run(run.path), tiny_dataset, device="cpu")
    assert checkpoint.step == 2 and len(checkpoint.skipped) == 1
    assert "step_00000004.safetensors" in checkpoint.skipped[0]
    assert trainer.step == 2
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert warnings and all("passing over a damaged checkpoint for step_00000002.safetensors" in w for w in warnings)
    with pytest.raises(CheckpointError, match="an older checkpoint, step_00000002.safetensors, is usable"):
        load_model(latest)  # named explicitly: no silent substitution, but the older one is offered
    events = []
    trainer.run(events.append)
    assert events[-1].reason == "completed" and load_checkpoint(run.path).step == 4  # the damaged one is rewritten


# ---- 19: divergence is reported once, with one numbering ------------------------------------------------------

def test_divergence_is_reported_once_with_one_step_numbering(tiny_config, tiny_dataset, tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        _, _, events = _trained_run(tiny_config(lr=1e30, warmup_steps=0, checkpoint_every_steps=1), tiny_dataset,
                                    tmp_path)
    failed = events[-1]
    assert isinstance(failed, FailedEvent) and failed.kind == "nan"
    assert failed.message.startswith("the loss became nan at step 2: training diverged")
    assert "the last good checkpoint (step 1) is kept" in failed.message
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]  # the faces show the event, once
