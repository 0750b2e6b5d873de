"""Launch the real window and save a screenshot of every view: `python -m ddpm_studio.gui.screenshots OUTDIR`.

Run it on a display, or headless under Xvfb:
    xvfb-run -a -s "-screen 0 1400x900x24" python -m ddpm_studio.gui.screenshots resources/screenshots \
        --run /path/to/a/run
Settings, runs and logs go to a temporary DDPM_STUDIO_HOME, never to the user's; `--run` is copied there
(the original is only read). Writes dataset.png, forward_process.png, main_window.png (the Forward process
tab at a mid t), training.png (the reopened run: loss history and previews), sampler_mid.png and sampler.png
(the shipped demo model, DDIM 50 steps, 16 images: a middle frame and the final one) and, unless
`--compare none`, sampler_compare.png (two lanes from the same x_T: DDIM η = 0 vs η = 1 by default, or
DDIM vs DDPM with `--compare samplers`, which takes minutes on a CPU: 1000 DDPM steps), then the 2-D lab:
lab.png (DDPM vs DDIM from one x_T after 1,500 training steps on two moons), lab_few_nfe.png (3 NFE) and
lab_guidance.png (the mode-dropping preset: CFG w = 1 vs w = 5 on a labelled four-mode mixture).
With `--classes W`, also sampler_classes.png: a class-conditional model (the class demo, or `--classes-model PATH`)
with "all classes" (one row per class from the same noise) at guidance scale w = W.
With `--guidance-model CKPT` (a class-conditional checkpoint or run trained on the shown data), also
compare_guidance.png: the Compare-samplers tab's guidance sweep of that model (w = 0, 1, 1.5, 2, 3, 5).
With `--runs FOLDER` (a runs folder, copied), runs.png: the Runs tab with all its runs selected and overlaid.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch  # noqa: F401  (before PySide6)
from PySide6.QtCore import QBuffer, QByteArray, QEventLoop, QIODevice, QSettings, QTimer
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QScrollArea

log = logging.getLogger(__name__)
WINDOW_SIZE = (1280, 820)  # the default window size (issue 13's walk-through)
POLL_MS = 50
MAX_PNG_BYTES = 400_000  # larger screenshots are saved with a 256-colour palette
COMPARE_MODES = ("eta", "samplers", "none")


def wait_until(condition: Callable[[], bool] = lambda: False, timeout_s: float = 5.0,
               minimum_s: float = 0.3) -> bool:
    """Run a local QEventLoop until `condition()` holds (checked by a QTimer, after `minimum_s`) or the timeout.

    This is the script driving the application, not a widget callback, so a nested event loop is fine here.
    """
    loop = QEventLoop()
    start = time.monotonic()
    result = {"ok": False}

    def check() -> None:
        elapsed = time.monotonic() - start
        if elapsed >= minimum_s and condition():
            result["ok"] = True
            loop.quit()
        elif elapsed >= timeout_s:
            loop.quit()

    timer = QTimer()
    timer.setInterval(POLL_MS)
    timer.timeout.connect(check)
    timer.start()
    loop.exec()
    timer.stop()
    return result["ok"]


def copy_run(run_dir: Path) -> Path:
    """Copy a run folder into `$DDPM_STUDIO_HOME/runs` (the original stays untouched); returns the copy."""
    from ddpm_studio.training.runs import runs_root

    if not (run_dir / "config.json").is_file():
        raise ValueError(f"not a training run (no config.json): {run_dir}")
    target = runs_root() / run_dir.name
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(run_dir, target)
    return target


def capture(out_dir: Path, source: str = "builtin:shapes", run_dir: Path | None = None,
            compare: str = "eta", compare_count: int = 16, compare_timeout_s: float = 240.0,
            size: tuple[int, int] = WINDOW_SIZE, classes_w: float | None = None,
            classes_model: Path | None = None, guidance_model: Path | None = None,
            runs: Path | None = None) -> list[Path]:
    """Build the main window, visit each tab and save PNGs into `out_dir`; returns the files."""
    from ddpm_studio.gui.application import create_application
    from ddpm_studio.gui.main_window import MainWindow
    from ddpm_studio.gui.state import AppState

    app = create_application([])
    out_dir.mkdir(parents=True, exist_ok=True)
    copied = copy_run(run_dir) if run_dir is not None else None
    shown_runs = [copy_run(path).name for path in sorted(runs.iterdir()) if (path / "config.json").is_file()] \
        if runs is not None else []
    with tempfile.TemporaryDirectory() as tmp:
        state = AppState(QSettings(os.path.join(tmp, "settings.ini"), QSettings.Format.IniFormat))
        window = MainWindow(state, initial_source=source)
        window.resize(*size)
        window.show()
        wait_until(lambda: state.source is not None, timeout_s=30)
        saved = [_dataset(window, out_dir)]
        saved += _forward(window, out_dir)
        saved.append(_training(window, out_dir, copied))
        saved += _sampler(window, out_dir, compare, compare_count, compare_timeout_s)
        if classes_w is not None:
            saved += sampler_classes(window.sampler_view, window, out_dir, classes_w, classes_model)
        window.sampler_view.shutdown()
        saved += _lab(window, out_dir)
        if guidance_model is not None:
            saved += _compare_guidance(window, out_dir, guidance_model)
        if shown_runs:
            saved.append(_runs(window, out_dir, shown_runs))
        window.close()
        wait_until(timeout_s=0.5)
    del app
    return saved


def _dataset(window, out_dir: Path) -> Path:
    model = window.dataset_view.model
    visible = min(model.rowCount(), 40)
    wait_until(lambda: all(model.is_cached(r) for r in range(visible)), timeout_s=30)
    wait_until(lambda: model.summary.done, timeout_s=8)  # the full check may take longer; fine
    return _save(window, out_dir / "dataset.png")


def _forward(window, out_dir: Path) -> list[Path]:
    forward = window.forward_view
    window.tabs.setCurrentWidget(forward)
    wait_until(lambda: forward.noiser.x0 is not None, timeout_s=30)
    forward.set_t(int(forward.slider.maximum() * 0.3))
    saved = [_save(window, out_dir / "main_window.png")]
    forward.compare_check.setChecked(True)
    saved.append(_save(window, out_dir / "forward_process.png"))
    forward.compare_check.setChecked(False)
    return saved


def _training(window, out_dir: Path, run: Path | None) -> Path:
    panel = window.training_panel
    window.tabs.setCurrentWidget(panel)
    if run is not None:
        panel.refresh_runs()
        index = panel.runs_combo.findData(str(run))
        if index >= 0:
            panel.runs_combo.setCurrentIndex(index)
        if not panel.open_run(run):
            raise RuntimeError(f"the training panel could not open {run}")
        scroll = panel.findChild(QScrollArea)
        if scroll is not None:  # show the "Runs on disk" box with the opened run rather than the form's top
            wait_until(timeout_s=0.3)
            scroll.ensureWidgetVisible(panel.resume_button)
    return _save(window, out_dir / "training.png")


def _sampler(window, out_dir: Path, compare: str, compare_count: int, compare_timeout_s: float) -> list[Path]:
    from ddpm_studio.training import DEMO_CHECKPOINT

    view = window.sampler_view
    window.tabs.setCurrentWidget(view)
    view.refresh_models()
    index = view.controls.model_combo.findData(str(DEMO_CHECKPOINT))
    if index < 0:
        log.warning("the demo model is not installed (%s): sampler.png shows an empty view", DEMO_CHECKPOINT)
        return [_save(window, out_dir / "sampler.png")]
    view.controls.model_combo.setCurrentIndex(index)
    view.controls.method.setCurrentIndex(view.controls.method.findData("ddim"))
    view.controls.steps.setValue(50)
    view.controls.count.setValue(16)
    view.controls.compare.setCurrentIndex(view.controls.compare.findData("none"))
    saved = []
    if _sample(view, timeout_s=120):
        view.player.set_current(view.frame_count() // 2)
        saved.append(_save(window, out_dir / "sampler_mid.png"))
    view.player.set_current(view.frame_count() - 1)
    saved.append(_save(window, out_dir / "sampler.png"))
    if compare != "none" and compare_count > 0:
        view.controls.count.setValue(compare_count)
        view.controls.compare.setCurrentIndex(view.controls.compare.findData(compare))
        view.controls.eta_b.setValue(1.0)
        if _sample(view, timeout_s=compare_timeout_s):
            view.player.set_current(view.frame_count() - 1)
            saved.append(_save(window, out_dir / "sampler_compare.png"))
        else:
            log.warning("%s did not finish within %.0f s: no sampler_compare.png", compare, compare_timeout_s)
            view.cancel()
            wait_until(lambda: not view.is_busy(), timeout_s=10)
    return saved


def sampler_classes(view, window, out_dir: Path, w: float, model: Path | None = None,
                    per_class: int = 6) -> list[Path]:
    """sampler_classes.png: `model` (default: the class demo) with "all classes" at guidance scale `w`, DDIM 50
    steps."""
    from ddpm_studio.app.sampling import ALL_CLASSES
    from ddpm_studio.training import CLASS_DEMO_CHECKPOINT

    if hasattr(window, "tabs"):
        window.tabs.setCurrentWidget(view)
    view.add_model(model if model is not None else CLASS_DEMO_CHECKPOINT)
    c = view.controls
    if c.steering.class_combo.findData(ALL_CLASSES) < 0:
        log.warning("%s is not class-conditional: no sampler_classes.png", c.model_combo.currentText())
        return []
    c.compare.setCurrentIndex(c.compare.findData("none"))
    c.method.setCurrentIndex(c.method.findData("ddim"))
    c.steps.setValue(50)
    c.count.setValue(per_class)
    c.steering.class_combo.setCurrentIndex(c.steering.class_combo.findData(ALL_CLASSES))
    c.steering.set_w(w)
    if not _sample(view, timeout_s=240):
        log.warning("all classes did not finish sampling: no sampler_classes.png")
        return []
    view.player.set_current(view.frame_count() - 1)
    return [_save(window, out_dir / "sampler_classes.png")]


def _compare_guidance(window, out_dir: Path, model: Path, count: int = 128, timeout_s: float = 900.0) -> list[Path]:
    """compare_guidance.png: the guidance sweep of `model` (DPM-Solver++ at 20 NFE, `count` samples per w)."""
    view = window.compare_view
    window.tabs.setCurrentWidget(view)
    view.set_mode("guidance")
    view.add_model(model, model.name)
    view.count.setValue(count)
    view.start()
    if not wait_until(lambda: not view.running, timeout_s=timeout_s) or view.error:
        log.warning("the guidance sweep did not finish (%s): no compare_guidance.png", view.error or "timed out")
        view.cancel()
        wait_until(lambda: not view.running, timeout_s=30)
        return []
    return [_save(window, out_dir / "compare_guidance.png")]


def _lab(window, out_dir: Path, steps: int = 1500, timeout_s: float = 300.0) -> list[Path]:
    """The 2-D lab: the DDPM vs DDIM preset trained `steps` steps (lab.png), then 3 NFE Euler vs DPM-Solver++
    on the same model (lab_few_nfe.png) and the field at large t (in both)."""
    from ddpm_studio.app.lab import SamplerChoice

    view = window.lab_view
    window.tabs.setCurrentWidget(view)
    view.preset.setCurrentIndex(view.preset.findData("ddpm_vs_ddim"))
    view.steps.setValue(steps)
    view.train()
    wait_until(lambda: not view.running and view.status.text().startswith(f"step {steps}"), timeout_s=timeout_s)
    view.t_slider.setValue(int(0.8 * view.t_slider.maximum()))
    wait_until(lambda: not view.running, timeout_s=30)
    saved = [_save(window, out_dir / "lab.png")]
    view.left_lane.set_choice(SamplerChoice("euler", 3))
    view.right_lane.set_choice(SamplerChoice("dpmpp_2m", 3))
    wait_until(lambda: not view.running, timeout_s=60)
    saved.append(_save(window, out_dir / "lab_few_nfe.png"))
    view.preset.setCurrentIndex(view.preset.findData("mode_dropping"))
    wait_until(lambda: not view.running, timeout_s=60)
    view.train()
    preset_steps = view.steps.value()
    wait_until(lambda: not view.running and view.status.text().startswith(f"step {preset_steps}"),
               timeout_s=timeout_s)
    saved.append(_save(window, out_dir / "lab_guidance.png"))
    view.shutdown()
    return saved


def _runs(window, out_dir: Path, names: list[str]) -> Path:
    """The Runs tab with these runs selected: their curves overlaid, x = step."""
    from ddpm_studio.gui.main_window import TAB_NAMES

    view = window.runs_view
    window.tabs.setCurrentIndex(TAB_NAMES.index("Runs"))
    wait_until(lambda: view.model.rowCount() >= len(names), timeout_s=60)
    view.select_runs(names)
    wait_until(lambda: len(view.curves.scalar_curves()) == len(names), timeout_s=60)
    return _save(window, out_dir / "runs.png")


def _sample(view, timeout_s: float) -> bool:
    """Press Sample and wait for the worker to finish; True if it completed."""
    start = time.monotonic()
    view.controls.sample_button.click()
    done = wait_until(lambda: view.finished_reason is not None and not view.is_busy(), timeout_s=timeout_s)
    log.info("sampling %s after %.1f s (%d frames)", view.finished_reason or "unfinished",
             time.monotonic() - start, view.frame_count())
    return done and view.finished_reason == "completed"


def _save(window, path: Path) -> Path:
    wait_until(timeout_s=1.0, minimum_s=1.0)
    write_png(window.grab().toImage(), path)
    log.info("saved %s (%d KB)", path, path.stat().st_size // 1024)
    return path


def write_png(image: QImage, path: Path, max_bytes: int = MAX_PNG_BYTES) -> None:
    """Save `image` as an optimised PNG; above `max_bytes`, as a 256-colour (median cut) palette PNG."""
    import io

    from PIL import Image

    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    if not image.save(buffer, "PNG"):
        raise OSError(f"could not encode {path}")
    buffer.close()
    picture = Image.open(io.BytesIO(bytes(data))).convert("RGB")
    out = io.BytesIO()
    picture.save(out, "PNG", optimize=True)
    if out.tell() > max_bytes:
        out = io.BytesIO()
        picture.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(out, "PNG", optimize=True)
    path.write_bytes(out.getvalue())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ddpm_studio.gui.screenshots", description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--source", default="builtin:shapes", help="data source to show (default builtin:shapes)")
    parser.add_argument("--run", type=Path, default=None, help="a run folder to reopen in the Training tab "
                                                                "(copied, never modified)")
    parser.add_argument("--compare", choices=COMPARE_MODES, default="eta",
                        help="sampler_compare.png: DDIM η 0 vs 1 (eta, default; seconds), two samplers "
                             "(samplers: DDIM vs DDPM; 1000 DDPM steps, minutes on a CPU) or none")
    parser.add_argument("--compare-count", type=int, default=16,
                        help="images for the comparison (0 skips it; default 16)")
    parser.add_argument("--compare-timeout", type=float, default=240.0,
                        help="seconds to wait for the comparison before skipping it (default 240)")
    parser.add_argument("--size", type=lambda text: tuple(int(v) for v in text.lower().split("x")),
                        default=WINDOW_SIZE, help=f"window size WxH (default {WINDOW_SIZE[0]}x{WINDOW_SIZE[1]})")
    parser.add_argument("--classes", type=float, default=None, metavar="W",
                        help="also sampler_classes.png: all classes of a class-conditional model at guidance w = W")
    parser.add_argument("--classes-model", type=Path, default=None,
                        help="the class-conditional model of --classes (default: the class demo model)")
    parser.add_argument("--guidance-model", type=Path, default=None,
                        help="a class-conditional checkpoint or run: also compare_guidance.png (its guidance sweep)")
    parser.add_argument("--runs", type=Path, default=None,
                        help="a runs folder whose runs the Runs tab shows overlaid in runs.png (copied)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if args.run is not None and not (args.run / "config.json").is_file():
        parser.error(f"--run: not a training run (no config.json): {args.run}")
    os.environ["DDPM_STUDIO_HOME"] = tempfile.mkdtemp(prefix="ddpm-studio-shots-")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        for path in capture(args.out_dir, args.source, args.run, args.compare, args.compare_count,
                            args.compare_timeout, args.size, args.classes, args.classes_model,
                            args.guidance_model, args.runs):
            sys.stdout.write(f"{path}\n")
    finally:
        shutil.rmtree(os.environ["DDPM_STUDIO_HOME"], ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
