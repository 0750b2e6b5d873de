"""DDP with 2 CPU processes (gloo): `torchrun -m ddpm_studio train` keeps replicas identical, rank 0 writes alone."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import torch
from safetensors.torch import load_file

from ddpm_studio.training.checkpoint import load_checkpoint
from ddpm_studio.training.runs import list_runs

# Runs the real CLI under torchrun; a wrapper around Trainer.run saves each rank's final weights so the
# test can compare the replicas (the library itself writes nothing on rank 1).
WORKER = textwrap.dedent("""
    import os, sys
    from safetensors.torch import save_file
    from ddpm_studio.training.trainer import Trainer
    from ddpm_studio.cli import main

    original_run = Trainer.run

    def run_and_dump(self, on_event):
        original_run(self, on_event)
        state = {k: v.contiguous() for k, v in self.model.state_dict().items()}
        save_file(state, os.path.join(sys.argv[1], f"rank{self.dist.rank}.safetensors"))

    Trainer.run = run_and_dump
    sys.exit(main(sys.argv[2:]))
""")


def test_two_process_ddp_training(tmp_path):
    dumps = tmp_path / "dumps"
    dumps.mkdir()
    runs = tmp_path / "runs"
    worker = tmp_path / "worker.py"
    worker.write_text(WORKER)
    argv = ["train", "--data", "builtin:shapes?n=16", "--size", "8", "--base-channels", "8", "--timesteps", "20",
            "--batch-size", "2", "--steps", "4", "--checkpoint-every", "2", "--threads", "1", "--device", "cpu",
            "--preview-count", "2", "--runs-dir", str(runs), "--name", "ddp", "--quiet"]
    env = dict(os.environ, GLOO_SOCKET_IFNAME="lo", OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(worker), str(dumps), *argv]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]

    rank0, rank1 = load_file(str(dumps / "rank0.safetensors")), load_file(str(dumps / "rank1.safetensors"))
    assert rank0.keys() == rank1.keys()
    assert all(torch.equal(rank0[k], rank1[k]) for k in rank0)  # gradients were all-reduced every step

    infos = list_runs(runs)
    assert [i.name for i in infos] == ["ddp"] and sorted(p.name for p in runs.iterdir()) == ["ddp"]
    run_dir = runs / "ddp"
    checkpoint = load_checkpoint(run_dir)
    assert checkpoint.step == 4
    assert all(torch.equal(checkpoint.model_state[k], rank0[k]) for k in rank0)
    state = checkpoint.training_state
    assert state["world_size"] == 2 and len(state["rng"]) == 2  # both ranks' random streams saved
    assert not torch.equal(state["rng"][0]["sampler"], state["rng"][1]["sampler"])  # different t/ε per rank
    history = (run_dir / "history.jsonl").read_text().splitlines()
    assert len(history) == 4  # one writer: no duplicated lines
    # 16 images / 2 ranks / batch 2 = 4 steps per epoch: one epoch ended, one preview
    assert sorted(p.name for p in (run_dir / "previews").iterdir()) == ["epoch_0001.png"]
