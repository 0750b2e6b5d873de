"""DDP with 2 CPU processes (gloo): `torchrun -m ddpm_studio train` keeps replicas identical, rank 0 writes alone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest
import torch
from safetensors.torch import load_file

from ddpm_studio.training.checkpoint import load_checkpoint
from ddpm_studio.training.runs import list_runs, open_run

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


ENV = dict(os.environ, GLOO_SOCKET_IFNAME="lo", OMP_NUM_THREADS="1")


def _train_argv(runs, *extra: str) -> list[str]:
    """`train` on 16 built-in 8x8 images, batch 2 per rank, into the run `ddp` under `runs`."""
    return ["train", "--data", "builtin:shapes?n=16", "--size", "8", "--base-channels", "8", "--timesteps", "20",
            "--batch-size", "2", "--threads", "1", "--device", "cpu", "--runs-dir", str(runs), "--name", "ddp",
            "--quiet", *extra]


def _torchrun(worker, *args: str) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(worker), *args]


def test_two_process_ddp_training(tmp_path):
    dumps = tmp_path / "dumps"
    dumps.mkdir()
    runs = tmp_path / "runs"
    worker = tmp_path / "worker.py"
    worker.write_text(WORKER)
    cmd = _torchrun(worker, str(dumps), *_train_argv(runs, "--steps", "4", "--checkpoint-every", "2",
                                                     "--preview-count", "2"))
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=ENV, cwd=tmp_path)
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


# Rank 1's fourth batch cannot be read. Without the ranks agreeing on every batch, rank 1 leaves on its own and
# rank 0 waits for it in the gradient all-reduce: a hang while rank 1 lives (or until NCCL's watchdog timeout),
# and on gloo, once rank 1 has exited, an "error" failure about a closed connection that names no data problem.
# A watchdog in each worker and the test's own deadline turn a hang into a failure instead of a stuck CI job.
FAILING_WORKER = textwrap.dedent("""
    import faulthandler, os, sys
    faulthandler.dump_traceback_later(float(sys.argv[1]), exit=True)  # never outlive the test
    import ddpm_studio.app.training as train_command  # the training job both faces use loads the data
    from ddpm_studio.cli import main

    load_dataset = train_command.load_dataset

    def load_with_a_failing_read(*args, **kwargs):
        dataset = load_dataset(*args, **kwargs)
        if os.environ["RANK"] == "1":
            read, calls = dataset.batch, []

            def batch(indices, generator=None):
                calls.append(1)
                if len(calls) == 4:
                    raise OSError(f"image {int(indices[0])} vanished from disk")
                return read(indices, generator=generator)

            dataset.batch = batch
        return dataset

    train_command.load_dataset = load_with_a_failing_read
    sys.exit(main(sys.argv[2:]))
""")
DEADLINE_S = 240


def _run_torchrun(cmd: list[str], cwd) -> tuple[int, str]:
    """(exit status, stderr) of a torchrun job; SIGTERM then SIGKILL and a test failure past DEADLINE_S."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV, cwd=cwd)
    try:
        _, err = proc.communicate(timeout=DEADLINE_S)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)  # torchrun passes it on to its workers
        try:
            _, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
        pytest.fail(f"torchrun hung past {DEADLINE_S} s after a data error on one rank:\n{err[-3000:]}")
    return proc.returncode, err


def test_a_data_error_on_one_rank_stops_every_rank(tmp_path):
    runs = tmp_path / "runs"
    worker = tmp_path / "failing_worker.py"
    worker.write_text(FAILING_WORKER)
    cmd = _torchrun(worker, str(DEADLINE_S - 30), *_train_argv(runs, "--steps", "8", "--checkpoint-every", "2",
                                                                "--preview-every", "0"))
    code, err = _run_torchrun(cmd, tmp_path)

    assert code != 0
    failure = [line for line in err.splitlines() if "training failed (data)" in line]
    assert len(failure) == 1, err[-3000:]  # rank 0 reports it, once
    assert "on rank 1: image" in failure[0] and "vanished from disk" in failure[0]
    assert "Timeout (" not in err  # no worker was killed by its watchdog
    run_dir = runs / "ddp"
    assert [step for step, _ in open_run(run_dir).checkpoints()] == [2]  # the last good checkpoint is kept
    history = (run_dir / "history.jsonl").read_text().splitlines()
    assert len(history) == 3  # steps 1-3 trained; the 4th batch failed on rank 1


def test_describe_failures_names_the_first_failing_rank():
    from ddpm_studio.training.batches import describe_failures

    assert describe_failures([None, "image 3 vanished"]) == "on rank 1: image 3 vanished"
    assert describe_failures(["a", None, "b", "c"]) == "on rank 0 (and 2 more ranks): a"
    assert describe_failures(["a", "b"]) == "on rank 0 (and 1 more rank): a"


def test_single_process_training_runs_no_collective(tiny_config, tiny_dataset, tmp_path, monkeypatch):
    from ddpm_studio.training import distributed
    from ddpm_studio.training.runs import create_run
    from ddpm_studio.training.trainer import Trainer

    def no_collective(*args, **kwargs):
        raise AssertionError("a collective was called in a single-process run")

    for name in ("any_rank", "all_gather", "broadcast_from_main"):  # the per-step agreements of DDP
        monkeypatch.setattr(distributed, name, no_collective)
    for name in ("all_reduce", "all_gather_object", "broadcast_object_list", "gather_object"):
        monkeypatch.setattr(torch.distributed, name, no_collective)
    config = tiny_config(max_steps=3, max_minutes=60.0)
    events = []
    Trainer(config, tiny_dataset, create_run(config, root=tmp_path), device="cpu").run(events.append)
    assert events[-1].step == 3 and type(events[-1]).__name__ == "FinishedEvent"
