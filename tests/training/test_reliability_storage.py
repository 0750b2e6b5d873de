"""Issue 14, item 7: a full disk, a file size limit or a folder turning read-only mid-run is one line, leaves
nothing half-written and keeps the last good checkpoint.

The run trains in a subprocess that turns the storage hostile after its first checkpoint: a tiny
RLIMIT_FSIZE (always), or, where user namespaces allow it, a real tmpfs that fills up or is remounted
read-only (`unshare -rm`).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap

import pytest

from ddpm_studio.training.checkpoint import TMP_MARKER, load_checkpoint
from ddpm_studio.training.runs import create_run, open_run

_TRAIN = textwrap.dedent(
    """
    import resource, subprocess, sys
    from ddpm_studio.data.dataset import load_dataset
    from ddpm_studio.training.events import CheckpointEvent, FailedEvent
    from ddpm_studio.training.runs import open_run
    from ddpm_studio.training.trainer import Trainer
    run, hostile = open_run(sys.argv[1]), sys.argv[2]
    dataset = load_dataset(run.config.data)

    def on_event(event):
        if isinstance(event, CheckpointEvent) and event.step == 1:
            if hostile == "fsize":
                resource.setrlimit(resource.RLIMIT_FSIZE, (2000, 2000))
            elif hostile == "full":  # fill the tmpfs, then give back less room than a checkpoint needs
                with open(run.path / "ballast", "wb") as f:
                    try:
                        while True:
                            f.write(b"x" * 65536)
                            f.flush()
                    except OSError:
                        pass
                    f.truncate(max(0, f.tell() - int(sys.argv[3])))
            elif hostile == "readonly":
                subprocess.run(["mount", "-o", "remount,ro", str(run.path.parent)], check=True)
        if isinstance(event, FailedEvent):
            print(event.kind, event.message)

    Trainer(run.config, dataset, run, device="cpu").run(on_event)
    """
)


def _check_outcome(result, run, kind_and_start):
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith(kind_and_start), lines
    assert lines[0].endswith("the last good checkpoint (step 1) is kept")
    names = sorted(p.name for p in run.checkpoints_dir.iterdir())
    assert names == ["step_00000001.safetensors", "step_00000001.state.pt"], names  # no orphan, no temp file
    assert not [p for p in run.path.rglob("*") if TMP_MARKER in p.name]
    assert load_checkpoint(run.path).step == 1
    return lines[0]


def test_a_file_size_limit_mid_run_is_one_line_and_keeps_the_last_checkpoint(tiny_config, tmp_path):
    run = create_run(tiny_config(max_steps=4, checkpoint_every_steps=1), root=tmp_path, name="r")
    result = subprocess.run([sys.executable, "-c", _TRAIN, str(run.path), "fsize"], capture_output=True, text=True,
                            timeout=300)
    line = _check_outcome(result, run, f"storage the file size limit was reached writing to {run.checkpoints_dir}")
    assert "a checkpoint needs ~" in line


def _unshare_available() -> bool:
    if shutil.which("unshare") is None or shutil.which("mount") is None:
        return False
    probe = subprocess.run(["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=1m tmpfs /mnt || exit 1"],
                           capture_output=True, timeout=30)
    return probe.returncode == 0


@pytest.mark.skipif(not _unshare_available(), reason="needs user + mount namespaces (unshare -rm) for a tmpfs")
@pytest.mark.parametrize("hostile", ["full", "readonly"])
def test_a_full_or_read_only_tmpfs_mid_run_is_one_line(tiny_config, tmp_path, hostile):
    mount = tmp_path / "mnt"
    mount.mkdir()
    script = tmp_path / "train.py"
    script.write_text(_TRAIN)
    config = tiny_config(max_steps=4, checkpoint_every_steps=1)
    shell = (f"mount -t tmpfs -o size=64m tmpfs {mount} && "
             f"{sys.executable} -c 'from pathlib import Path; from ddpm_studio.training.runs import create_run; "
             f"from ddpm_studio.training.config import RunConfig; "
             f"create_run(RunConfig.from_json(Path(\"{tmp_path}/config.json\").read_text()), "
             f"root=\"{mount}\", name=\"r\")'"
             f" && {sys.executable} {script} {mount}/r {hostile} 20000 && cp -a {mount}/r {tmp_path}/copy")
    (tmp_path / "config.json").write_text(config.to_json())
    result = subprocess.run(["unshare", "-rm", "sh", "-c", shell], capture_output=True, text=True, timeout=300)
    run = open_run(tmp_path / "copy")
    if hostile == "full":
        line = _check_outcome(result, run, f"storage no space left on {mount}/r/checkpoints (")
        assert "MB free, a checkpoint needs ~" in line
    else:
        _check_outcome(result, run, f"storage cannot write to {mount}/r: it is read-only")
