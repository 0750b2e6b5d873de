"""Launch the real window and save a screenshot of every view: `python -m ddpm_studio.gui.screenshots OUTDIR`.

Run it on a display, or headless under Xvfb:
    xvfb-run -s "-screen 0 1400x900x24" python -m ddpm_studio.gui.screenshots resources/screenshots
Settings and logs go to a temporary folder, never to the user's. Writes dataset.png, forward_process.png,
training.png, sampler.png and main_window.png (the window on the Forward process tab).
"""

from __future__ import annotations

import torch  # noqa: F401  (before PySide6)

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication

log = logging.getLogger(__name__)
WINDOW_SIZE = (1360, 860)


def settle(app: QApplication, condition: Callable[[], bool] = lambda: False, timeout_s: float = 5.0,
           minimum_s: float = 0.3) -> bool:
    """Run the event loop (this is a script, not a callback) until `condition()` or the timeout."""
    start = time.monotonic()
    while True:
        app.processEvents()
        elapsed = time.monotonic() - start
        if elapsed >= minimum_s and condition():
            return True
        if elapsed >= timeout_s:
            return False
        time.sleep(0.02)


def capture(out_dir: Path, source: str = "builtin:shapes") -> list[Path]:
    """Build the main window, visit each tab and save PNGs into `out_dir`; returns the files."""
    from ddpm_studio.gui.app import create_application
    from ddpm_studio.gui.main_window import MainWindow
    from ddpm_studio.gui.state import AppState

    app = create_application([])
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        state = AppState(QSettings(os.path.join(tmp, "settings.ini"), QSettings.Format.IniFormat))
        window = MainWindow(state, initial_source=source)
        window.resize(*WINDOW_SIZE)
        window.show()
        settle(app, lambda: state.source is not None, timeout_s=30)
        model = window.dataset_view.model
        visible = min(model.rowCount(), 40)
        settle(app, lambda: all(model.is_cached(r) for r in range(visible)), timeout_s=30)
        settle(app, lambda: model.summary.done, timeout_s=8)  # the full check may take longer; fine
        saved = [_save(window, out_dir / "dataset.png", app)]

        window.tabs.setCurrentWidget(window.forward_view)
        forward = window.forward_view
        settle(app, lambda: forward.noiser.x0 is not None, timeout_s=30)
        forward.set_t(int(forward.slider.maximum() * 0.3))
        saved.append(_save(window, out_dir / "main_window.png", app))
        forward.compare_check.setChecked(True)
        saved.append(_save(window, out_dir / "forward_process.png", app))
        forward.compare_check.setChecked(False)

        for widget, name in ((window.training_panel, "training.png"), (window.sampler_view, "sampler.png")):
            window.tabs.setCurrentWidget(widget)
            saved.append(_save(window, out_dir / name, app))
        window.close()
        settle(app, timeout_s=0.5)
    return saved


def _save(window, path: Path, app: QApplication) -> Path:
    settle(app, timeout_s=1.0, minimum_s=1.0)
    if not window.grab().save(str(path)):
        raise OSError(f"could not write {path}")
    log.info("saved %s", path)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ddpm_studio.gui.screenshots", description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--source", default="builtin:shapes", help="data source to show (default builtin:shapes)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("DDPM_STUDIO_HOME", tempfile.mkdtemp(prefix="ddpm-studio-shots-"))
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for path in capture(args.out_dir, args.source):
        sys.stdout.write(f"{path}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
