"""Issue 23 F2, F3: a `.lock` that is a symbolic link or a FIFO is refused in one line: never written through,
never waited on."""

from __future__ import annotations

import os
import threading

import pytest

from ddpm_studio.training.run_lock import RunLock, RunLocked
from ddpm_studio.training.runs import create_run


def _acquire_in_thread(lock: RunLock) -> BaseException | None:
    """acquire() on a thread (joined generously: the old code blocked for ever on a FIFO)."""
    outcome: list[BaseException | None] = []

    def take() -> None:
        try:
            lock.acquire()
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            outcome.append(exc)

    thread = threading.Thread(target=take, daemon=True)
    thread.start()
    thread.join(120)
    assert outcome, "acquire() blocked on the FIFO"
    return outcome[0]


def test_a_lock_that_links_to_a_user_file_is_refused_and_the_file_kept(tmp_path, tiny_config):
    run = create_run(tiny_config(), root=tmp_path / "runs", name="r")
    victim = tmp_path / "thesis.txt"
    victim.write_text("years of work\n")
    (run.path / ".lock").symlink_to(victim)
    with pytest.raises(RunLocked) as info:
        RunLock(run.path).acquire()
    assert victim.read_text() == "years of work\n"
    assert str(info.value) == (f"run r cannot be locked: its .lock is a symbolic link (never followed); "
                               f"remove {run.path / '.lock'} and try again")


def test_a_dangling_lock_link_creates_no_file_outside_the_run(tmp_path, tiny_config):
    run = create_run(tiny_config(), root=tmp_path / "runs", name="r")
    target = tmp_path / "elsewhere" / "created.txt"
    target.parent.mkdir()
    (run.path / ".lock").symlink_to(target)
    with pytest.raises(RunLocked, match="symbolic link"):
        RunLock(run.path).acquire()
    assert not target.exists()


def test_a_lock_that_is_a_fifo_is_refused_at_once(tmp_path, tiny_config):
    run = create_run(tiny_config(), root=tmp_path / "runs", name="r")
    os.mkfifo(run.path / ".lock")
    outcome = _acquire_in_thread(RunLock(run.path))
    assert isinstance(outcome, RunLocked)
    assert "its .lock is not a regular file" in str(outcome) and "\n" not in str(outcome)


def test_a_regular_lock_still_records_its_holder(tmp_path, tiny_config):
    run = create_run(tiny_config(), root=tmp_path / "runs", name="r")
    (run.path / ".lock").write_text("a much longer previous content of the lock file\n")
    with RunLock(run.path):
        assert (run.path / ".lock").read_text().split()[0] == str(os.getpid())
        assert (run.path / ".lock").read_text().count("\n") == 1
