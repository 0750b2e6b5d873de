"""Issue 23, Notes: an out-of-memory error at step 1 leaves no run folder; --resume of a run without a checkpoint
says so before decoding the data; --resume refuses flags it would ignore; checkpoints/ and previews/ that are
symbolic links to a user's folder are replaced, never written through."""

from __future__ import annotations

import resource

from ddpm_studio.training.trainer import Trainer

TINY = ["--size", "8", "--preset", "tiny", "--base-channels", "8", "--timesteps", "10", "--schedule", "linear",
        "--batch-size", "4", "--threads", "1", "--preview-every", "0", "--quiet"]


def _limit_memory() -> None:  # a small address space: the allocation fails at once, the machine is spared
    resource.setrlimit(resource.RLIMIT_AS, (3 * 2**30, 3 * 2**30))


def test_out_of_memory_at_step_one_leaves_no_run_folder(cli, tmp_path):
    result = cli("train", "--data", "builtin:shapes?n=4", *TINY[2:], "--size", "1024", "--steps", "1",
                 "--name", "oom", "--runs-dir", str(tmp_path / "runs"), preexec_fn=_limit_memory)
    assert result.code == 1 and "out of memory" in result.err, result.err
    assert not (tmp_path / "runs" / "oom").exists()


def test_resuming_a_run_without_a_checkpoint_says_so_before_loading_data(cli_here, tiny_run, monkeypatch):
    for path in (tiny_run / "checkpoints").iterdir():
        path.unlink()
    import ddpm_studio.app.training as jobs

    def no_decoding(*args, **kwargs):
        raise AssertionError("the data set was decoded first")

    monkeypatch.setattr(jobs, "load_dataset", no_decoding)
    result = cli_here("train", "--resume", str(tiny_run), "--quiet")
    assert (result.code, result.err_lines) == (1, ["ddpm-studio: error: run tiny has no checkpoint to resume from"])


def test_resume_refuses_flags_it_would_ignore(cli_here, tiny_run):
    for flag, value in (("--data", "builtin:glyphs"), ("--lr", "0.1"), ("--name", "other")):
        result = cli_here("train", "--resume", str(tiny_run), flag, value, "--quiet")
        assert result.code == 1, result.err
        assert result.err_lines == [f"ddpm-studio: error: {flag} cannot be used with --resume: a resumed run keeps "
                                    f"its own settings (only --steps, --epochs, --minutes and --device may change)"]


def test_symlinked_run_folders_are_replaced_not_written_through(tiny_run, tmp_path):
    from ddpm_studio.data.dataset import load_dataset
    from ddpm_studio.training.runs import open_run

    user = tmp_path / "holiday_photos"
    user.mkdir()
    (user / "step_00000001.safetensors").write_bytes(b"a photo")  # pruning would have deleted it
    (user / "epoch_0001.png").write_bytes(b"another photo")
    previews = tiny_run / "previews"
    for child in previews.iterdir():
        child.unlink()
    previews.rmdir()
    previews.symlink_to(user)
    run = open_run(tiny_run)
    trainer = Trainer.resume(run, load_dataset(run.config.data), device="cpu")
    trainer.release_lock()
    assert previews.is_dir() and not previews.is_symlink()
    assert sorted(p.name for p in user.iterdir()) == ["epoch_0001.png", "step_00000001.safetensors"]
    assert (user / "epoch_0001.png").read_bytes() == b"another photo"
