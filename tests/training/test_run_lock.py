"""Issue 14, item 3: one writer per run folder (an exclusive lock, released on exit, stale after a kill -9)."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import textwrap
import time

import pytest

from ddpm_studio.training.run_lock import RunLock, RunLocked
from ddpm_studio.training.runs import create_run, open_run
from ddpm_studio.training.trainer import Trainer

_TRAIN_FOREVER = textwrap.dedent(
    """
    import sys
    from ddpm_studio.data.dataset import load_dataset
    from ddpm_studio.training.runs import open_run
    from ddpm_studio.training.trainer import Trainer
    run = open_run(sys.argv[1])
    Trainer(run.config, load_dataset(run.config.data), run, device="cpu").run(lambda event: None)
    """
)


def _wait_for(condition, seconds=120.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError("timed out")


def test_a_second_writer_is_refused_until_the_first_one_dies(tiny_config, tiny_dataset, tmp_path):
    run = create_run(tiny_config(max_steps=100_000, checkpoint_every_steps=1, keep_last=2), root=tmp_path, name="r")
    first = subprocess.Popen([sys.executable, "-c", _TRAIN_FOREVER, str(run.path)], stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(lambda: run.latest_checkpoint() is not None or first.poll() is not None)
        assert first.poll() is None, first.stderr.read()
        history_before = run.history_path.stat().st_size if run.history_path.exists() else 0
        with pytest.raises(RunLocked) as info:
            Trainer.resume(open_run(run.path), tiny_dataset, device="cpu")
        message = str(info.value)
        assert message == (f"run r is being trained by process {first.pid} on {socket.gethostname()}; "
                           f"wait for it to finish or stop it first")
        with pytest.raises(RunLocked):
            Trainer(run.config, tiny_dataset, run, device="cpu")
        assert (run.history_path.stat().st_size if run.history_path.exists() else 0) >= history_before  # untouched
    finally:
        first.send_signal(signal.SIGKILL)  # no cleanup: the lock file stays, the kernel drops the flock
        first.wait(timeout=60)
    assert (run.path / ".lock").read_text().split()[0] == str(first.pid)  # left behind, and stale
    trainer = Trainer.resume(open_run(run.path), tiny_dataset, device="cpu")
    assert trainer.step >= 1 and (run.path / ".lock").read_text().split()[0] != str(first.pid)
    trainer.release_lock()


def test_the_lock_is_released_when_training_ends(tiny_config, tiny_dataset, tmp_path):
    run = create_run(tiny_config(max_steps=2), root=tmp_path, name="r")
    trainer = Trainer(run.config, tiny_dataset, run, device="cpu")
    with pytest.raises(RunLocked):
        RunLock(run.path).acquire()
    events = []
    trainer.run(events.append)
    assert events[-1].reason == "completed"
    again = Trainer(run.config, tiny_dataset, run, device="cpu")  # free again
    again.release_lock()
    with RunLock(run.path) as lock:
        assert lock.held
        events = []
        again.run(events.append)  # run() takes the lock itself: refused while another holder has it
        assert events[-1].kind == "locked" and "is being trained by process" in events[-1].message
    assert not lock.held
