"""Checkpoints: round trip, atomic writes under crashes, refusal of pickled code, damaged and foreign files."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from ddpm_studio import atomic
from ddpm_studio.engine.unet import UNet
from ddpm_studio.training import checkpoint as ckpt
from ddpm_studio.training.checkpoint import (
    CheckpointError,
    export_for_sampling,
    load_checkpoint,
    load_model,
    load_weights,
    save_checkpoint,
)
from ddpm_studio.training.runs import create_run, open_run
from ddpm_studio.training.trainer import Trainer


def _trained_run(config, dataset, root, name="run"):
    run = create_run(config, root=root, name=name)
    trainer = Trainer(config, dataset, run, device="cpu")
    events = []
    trainer.run(events.append)
    return trainer, run


class _Exploit:
    """Unpickling this runs exec(): what a crafted 'checkpoint' would do to a careless loader."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').write('pwned')",))


def test_round_trip_and_load_model(tiny_config, tiny_dataset, tmp_path):
    trainer, run = _trained_run(tiny_config(max_steps=3), tiny_dataset, tmp_path)
    path = run.latest_checkpoint()
    assert path.name == "step_00000003.safetensors" and ckpt.state_path_for(path).is_file()
    loaded = load_checkpoint(path)
    assert loaded.step == 3 and loaded.config == trainer.config
    assert loaded.training_state["step"] == 3 and "optimizer" in loaded.training_state
    for key, value in trainer.model.state_dict().items():
        assert torch.equal(loaded.model_state[key], value)
    for source in (path, run.path, run.checkpoints_dir):  # a file, a run folder, a folder of checkpoints
        model, diffusion, config = load_model(source)
        assert not model.training and config == trainer.config
        for key, value in trainer.ema.state_dict().items():
            assert torch.equal(model.state_dict()[key], value)
    raw, _, _ = load_model(path, ema=False)
    assert torch.equal(next(iter(raw.state_dict().values())), next(iter(trainer.model.state_dict().values())))


def test_export_for_sampling_keeps_only_the_ema_weights(tiny_config, tiny_dataset, tmp_path):
    trainer, run = _trained_run(tiny_config(max_steps=2), tiny_dataset, tmp_path)
    out = export_for_sampling(run.path, tmp_path / "demo" / "model.safetensors")
    loaded = load_checkpoint(out)
    assert loaded.training_state is None and not loaded.model_state
    model, _, config = load_model(out)
    assert config == trainer.config
    for key, value in trainer.ema.state_dict().items():
        assert torch.equal(model.state_dict()[key], value)


def test_keep_last_k(tiny_config, tiny_dataset, tmp_path):
    _, run = _trained_run(tiny_config(max_steps=5, checkpoint_every_steps=1, keep_last=2), tiny_dataset, tmp_path)
    assert [step for step, _ in run.checkpoints()] == [4, 5]
    assert sorted(p.name for p in run.checkpoints_dir.iterdir()) == [
        "step_00000004.safetensors", "step_00000004.state.pt", "step_00000005.safetensors", "step_00000005.state.pt"]


def test_failed_write_leaves_the_old_checkpoint_and_no_partial_file(tiny_config, tiny_dataset, tmp_path, monkeypatch):
    trainer, run = _trained_run(tiny_config(max_steps=2), tiny_dataset, tmp_path)
    target = run.latest_checkpoint()
    before = target.read_bytes()
    real_write_bytes = ckpt.atomic_write_bytes

    def filling_the_disk(path, data, **kwargs):
        if path.suffix != ".safetensors":  # the state file goes through; the weights fill the disk
            return real_write_bytes(path, data, **kwargs)

        def half_then_full(tmp):
            tmp.write_bytes(data[:100])  # half-written ...
            raise OSError(28, "No space left on device")  # ... then the disk fills up

        return atomic.atomic_write(path, half_then_full, **kwargs)

    monkeypatch.setattr(ckpt, "atomic_write_bytes", filling_the_disk)
    with pytest.raises(OSError, match="no space left on"):
        save_checkpoint(target, config=trainer.config, step=2, model_state=trainer.model.state_dict())
    with pytest.raises(OSError, match="no space left on .*a checkpoint needs ~"):
        save_checkpoint(run.checkpoints_dir / ckpt.checkpoint_name(3), config=trainer.config, step=3,
                        model_state=trainer.model.state_dict(), training_state={"format": ckpt.CHECKPOINT_FORMAT})
    assert target.read_bytes() == before
    assert not [p for p in run.checkpoints_dir.iterdir() if ckpt.TMP_MARKER in p.name]
    assert sorted(p.name for p in run.checkpoints_dir.iterdir()) == [  # no orphan step 3 state
        "step_00000002.safetensors", "step_00000002.state.pt"]
    assert load_checkpoint(target).step == 2


def test_process_killed_mid_write_leaves_the_previous_checkpoint_intact(tiny_config, tiny_dataset, tmp_path):
    trainer, run = _trained_run(tiny_config(max_steps=2), tiny_dataset, tmp_path)
    before = run.latest_checkpoint().read_bytes()
    script = f"""
import builtins, os
from pathlib import Path
import torch
from ddpm_studio import atomic
from ddpm_studio.training import checkpoint as ckpt
from ddpm_studio.training.runs import open_run

class DyingFile:
    def __init__(self, name, mode):
        self.f = builtins.open(name, mode)
    def __enter__(self):
        return self
    def __exit__(self, *exc):
        return False
    def write(self, data):
        self.f.write(data[:10])
        self.f.flush()
        os._exit(9)  # killed mid-write: no cleanup, no exception handlers

atomic.open = DyingFile
run = open_run(Path({str(run.path)!r}))
model = {{k: torch.zeros_like(v) for k, v in ckpt.load_checkpoint(run.latest_checkpoint()).model_state.items()}}
ckpt.save_checkpoint(run.checkpoints_dir / ckpt.checkpoint_name(4), config=run.config, step=4,
                     model_state=model, training_state={{"format": ckpt.CHECKPOINT_FORMAT}})
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 9, result.stderr
    leftovers = [p for p in run.checkpoints_dir.iterdir() if ckpt.TMP_MARKER in p.name]
    assert leftovers  # the torn temporary file is there ...
    assert [s for s, _ in run.checkpoints()] == [2]  # ... but never taken for a checkpoint
    assert run.latest_checkpoint().read_bytes() == before
    assert load_checkpoint(run.latest_checkpoint()).step == 2
    ckpt.prune_checkpoints(run.checkpoints_dir, keep=3)  # the next save sweeps debris away
    assert sorted(p.name for p in run.checkpoints_dir.iterdir()) == [
        "step_00000002.safetensors", "step_00000002.state.pt"]


@pytest.mark.parametrize("as_name", ["model.safetensors", "step_00000009.safetensors"])
def test_a_crafted_pickle_given_as_a_checkpoint_is_refused_without_running_it(tmp_path, as_name):
    marker = tmp_path / "marker.txt"
    evil = tmp_path / as_name
    evil.write_bytes(pickle.dumps(_Exploit(marker)))
    for load in (load_checkpoint, load_model):
        with pytest.raises(CheckpointError, match="not a readable checkpoint"):
            load(evil)
    assert not marker.exists()
    pickle.loads(evil.read_bytes())  # the file really is an exploit for a careless loader
    assert marker.read_text() == "pwned"


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@pytest.mark.parametrize("writer", ["pickle", "torch.save"])
def test_a_crafted_training_state_is_refused_on_resume(tiny_config, tiny_dataset, tmp_path, writer):
    _, run = _trained_run(tiny_config(max_steps=2), tiny_dataset, tmp_path)
    marker = tmp_path / "marker.txt"
    state = ckpt.state_path_for(run.latest_checkpoint())
    if writer == "pickle":
        state.write_bytes(pickle.dumps(_Exploit(marker)))
    else:
        torch.save({"format": ckpt.CHECKPOINT_FORMAT, "optimizer": _Exploit(marker)}, state)
    with pytest.raises(CheckpointError, match="refused"):
        Trainer.resume(open_run(run.path), tiny_dataset, device="cpu")
    assert not marker.exists()


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_damaged_files_are_a_clear_error(tiny_config, tiny_dataset, tmp_path, damage):
    _, run = _trained_run(tiny_config(max_steps=2), tiny_dataset, tmp_path)
    path = run.latest_checkpoint()
    data = path.read_bytes()
    path.write_bytes({"truncate": data[: len(data) // 2], "garbage": b"\x89PNG not weights" * 50,
                      "empty": b""}[damage])
    with pytest.raises(CheckpointError) as info:
        load_model(path)
    assert path.name in str(info.value) and "\n" not in str(info.value)
    state = ckpt.state_path_for(path)
    state.write_bytes(state.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="refused|damaged"):
        ckpt.load_training_state(state)


def test_missing_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_model(tmp_path / "nothing.safetensors")
    with pytest.raises(CheckpointError, match="no checkpoint"):
        load_model(tmp_path)


def test_a_checkpoint_of_a_different_architecture_is_a_clear_error(tiny_config, tiny_dataset, tmp_path):
    trainer, run = _trained_run(tiny_config(max_steps=2), tiny_dataset, tmp_path)
    # the run's config.json now describes a wider model than its checkpoints hold
    data = json.loads((run.path / "config.json").read_text())
    data["model"]["base_channels"] = 16
    (run.path / "config.json").write_text(json.dumps(data))
    with pytest.raises(CheckpointError, match="different model.*base_channels"):
        Trainer.resume(open_run(run.path), tiny_dataset, device="cpu")
    wider = UNet(replace(trainer.config.model, base_channels=16))
    with pytest.raises(CheckpointError, match="different architecture.*shape mismatch"):
        load_weights(wider, trainer.model.state_dict(), name="step_00000002.safetensors")
    # a file whose own configuration does not fit its tensors
    foreign = replace(trainer.config, model=replace(trainer.config.model, base_channels=16))
    bad = save_checkpoint(tmp_path / "bad.safetensors", config=foreign, step=1,
                          model_state=trainer.model.state_dict(), ema_state=trainer.ema.state_dict())
    with pytest.raises(CheckpointError, match="different architecture"):
        load_model(bad)


def test_resume_without_a_checkpoint_is_a_clear_error(tiny_config, tiny_dataset, tmp_path):
    run = create_run(tiny_config(), root=tmp_path, name="empty")
    with pytest.raises(CheckpointError, match="no checkpoint to resume"):
        Trainer.resume(run, tiny_dataset, device="cpu")


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_written_files_honour_the_umask(tiny_config, tiny_dataset, tmp_path):
    old = os.umask(0o027)
    try:
        trainer, run = _trained_run(tiny_config(max_steps=2, preview_every_epochs=1), tiny_dataset, tmp_path)
        exported = export_for_sampling(run.path, tmp_path / "demo" / "model.safetensors")
        private = tmp_path / "private.txt"
        ckpt.atomic_write(private, lambda tmp: os.close(os.open(tmp, os.O_CREAT | os.O_WRONLY, 0o600)))
    finally:
        os.umask(old)
    written = [*run.path.rglob("*.safetensors"), *run.path.rglob("*.pt"), run.path / "config.json",
               *run.previews(), exported, private]
    assert len(written) >= 5
    for path in written:
        assert path.stat().st_mode & 0o777 == 0o640, path  # 0o666 & ~0o027, even for a 0600 temporary file
