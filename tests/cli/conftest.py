"""`ddpm-studio` as a person runs it: a subprocess of `python -m ddpm_studio`, with its own user folder.

Every run gets DDPM_STUDIO_HOME (runs and the log file) in a temporary folder, never the real user folders.
A tiny trained run (8x8 images, T = 10, checkpoints at steps 2 and 4) is made once per session and copied
into each test that damages it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

TINY = ["--size", "8", "--preset", "tiny", "--base-channels", "8", "--timesteps", "10", "--schedule", "linear",
        "--batch-size", "4", "--threads", "1", "--preview-every", "0", "--quiet"]


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str

    @property
    def err_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.strip()]


def run_cli(args: list[str], *, home: Path, cwd: Path | None = None, timeout: float = 300,
            preexec_fn: Callable[[], None] | None = None, code: str | None = None) -> Result:
    """`python -m ddpm_studio ARGS` (or `python -c CODE ARGS`) with DDPM_STUDIO_HOME=home."""
    env = {**os.environ, "DDPM_STUDIO_HOME": str(home), "PYTHONWARNINGS": "default", "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-c", code, *args] if code is not None else [sys.executable, "-m", "ddpm_studio",
                                                                            *args]
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout,
                          preexec_fn=preexec_fn)
    return Result(done.returncode, done.stdout, done.stderr)


@pytest.fixture
def home(_isolated_home: Path) -> Path:
    """The user folder of this test (the root conftest's DDPM_STUDIO_HOME): runs/ and logs/ go there."""
    return _isolated_home


@pytest.fixture
def cli(home: Path) -> Callable[..., Result]:
    """`ddpm-studio ARGS` in a subprocess: exactly what a terminal shows (torch's own warnings included)."""
    def call(*args: str, **kwargs) -> Result:
        return run_cli(list(args), home=home, **kwargs)

    return call


@pytest.fixture
def cli_here(home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Callable[..., Result]:
    """`ddpm-studio ARGS` in this process (the same entry point, without the cost of starting Python and torch)."""
    from ddpm_studio.__main__ import main

    def call(*args: str, cwd: Path | None = None) -> Result:
        capsys.readouterr()
        with monkeypatch.context() as patch:
            if cwd is not None:
                patch.chdir(cwd)
            code = main(list(args))
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return call


@pytest.fixture(scope="session")
def _trained_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli_trained")
    result = run_cli(["train", "--data", "builtin:shapes?n=8", *TINY, "--steps", "4", "--checkpoint-every", "2",
                      "--name", "tiny", "--runs-dir", str(root / "runs")], home=root / "home")
    assert result.code == 0, result.err
    return root / "runs" / "tiny"


@pytest.fixture
def tiny_run(_trained_run: Path, tmp_path: Path) -> Path:
    """A copy of the session's tiny run under tmp_path/runs/tiny: checkpoints at steps 2 and 4."""
    copy = tmp_path / "runs" / "tiny"
    shutil.copytree(_trained_run, copy)
    (copy / ".lock").unlink(missing_ok=True)
    return copy
