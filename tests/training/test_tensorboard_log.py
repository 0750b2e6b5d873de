"""The TensorBoard sink (training/tensorboard_log.py) on a short real run, read back by TensorBoard's own reader."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("tensorboard")  # the `tensorboard` extra (in the `test` extra)
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from ddpm_studio.app.training import TrainingJob, prepare
from ddpm_studio.training.events import FinishedEvent
from ddpm_studio.training.runs import open_run


def _read(folder):
    events = EventAccumulator(str(folder), size_guidance={"scalars": 0, "images": 0, "tensors": 0})
    events.Reload()
    return events


@pytest.fixture(scope="module")
def logged(tmp_path_factory, train_tiny_run):
    root = tmp_path_factory.mktemp("tb")
    path, events = train_tiny_run(root / "runs", "board", steps=4, metrics_every=2, preview_every=2,
                                  tensorboard=root / "tb")
    return path, root / "tb", events


def test_tensorboard_reads_back_the_scalars_of_a_real_run(logged):
    path, board, _ = logged
    events = _read(board / "board")
    history = open_run(path).history()
    loss = events.Scalars("train/loss")
    assert [e.step for e in loss] == [r["step"] for r in history] == [1, 2, 3, 4]
    assert [e.value for e in loss] == pytest.approx([r["loss"] for r in history], rel=1e-6)
    assert [e.value for e in events.Scalars("train/lr")] == pytest.approx([r["lr"] for r in history], rel=1e-6)
    assert "train/images_per_s" in events.Tags()["scalars"]
    points = [json.loads(line) for line in (path / "metrics.jsonl").read_text().splitlines()]
    scored = [p for p in points if p["kind"] == "ema"]
    swd = events.Scalars("quality/swd")
    assert [e.step for e in swd] == [p["step"] for p in scored] == [2, 4]
    assert [e.value for e in swd] == pytest.approx([p["metrics"]["swd"] for p in scored], rel=1e-6)
    floor = next(p for p in points if p["kind"] == "floor")
    assert [e.value for e in events.Scalars("quality_floor/swd")] == pytest.approx([floor["metrics"]["swd"]])
    assert {"quality/precision", "quality/recall"} <= set(events.Tags()["scalars"])


def test_previews_and_the_outcome_are_logged(logged):
    _, board, run_events = logged
    events = _read(board / "board")
    previews = events.Images("preview")
    assert [p.step for p in previews] == [2, 4]
    assert previews[0].width > 8 and previews[0].height >= 8  # the grid of 4 previews of 8×8
    assert "outcome" in " ".join(events.Tags()["tensors"])
    assert isinstance(run_events[-1], FinishedEvent)


def test_a_resume_continues_the_log_without_steps_twice(logged, tmp_path):
    path, board, _ = logged
    session = prepare(TrainingJob(resume=path, max_steps=6, tensorboard=board))
    session.run_training(lambda event: None)
    del session
    steps = [e.step for e in _read(board / "board").Scalars("train/loss")]
    assert steps == [1, 2, 3, 4, 5, 6]


def test_a_failing_log_never_fails_training(tmp_path, train_tiny_run, caplog):
    class Broken:
        def __call__(self, event):
            raise OSError("No space left on device")

        def close(self):
            pass

    from ddpm_studio.app.run_table import run_row  # the run ends "done" all the same

    first, _ = train_tiny_run(tmp_path / "first", "first", steps=2)
    session = prepare(TrainingJob(config=open_run(first).config, runs_dir=tmp_path / "runs", name="other",
                                  tensorboard=tmp_path / "tb"))
    session.tensorboard.close()
    session.tensorboard = Broken()
    events = []
    session.run_training(events.append)
    assert isinstance(events[-1], FinishedEvent) and events[-1].reason == "completed"
    assert "TensorBoard logging stopped: No space left on device" in caplog.text
    assert run_row(open_run(session.run.path)).state == "done"


def test_the_validation_loss_is_logged(tmp_path):
    from ddpm_studio.training.events import ValidationEvent
    from ddpm_studio.training.tensorboard_log import TensorBoardLog

    board = TensorBoardLog(tmp_path / "tb", "val")
    for step, loss in ((10, 0.5), (20, 0.25)):
        board(ValidationEvent(step=step, elapsed_s=1.0, loss=loss, images=32, timesteps=(1, 3), seconds=0.1))
    board.close()
    scalars = _read(tmp_path / "tb" / "val").Scalars("validation/loss")
    assert [(e.step, e.value) for e in scalars] == [(10, 0.5), (20, 0.25)]
