"""One save dialog for every export: it opens in the folder of the last export (remembered in the settings) and
proposes a name (`app.export_names`), instead of the home folder and "samples.png" every time (issue 22 N18)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QFileDialog, QWidget

LAST_FOLDER_KEY = "export/last_folder"


def last_folder(settings: QSettings) -> Path:
    """The folder of the last export, else the home folder."""
    folder = Path(str(settings.value(LAST_FOLDER_KEY, "") or ""))
    return folder if str(folder) not in ("", ".") and folder.is_dir() else Path.home()


def ask_save_path(parent: QWidget, settings: QSettings, title: str, name: str, filter_text: str,
                  suffix: str) -> Path | None:
    """Ask where to save `name` (a proposal); the chosen path with `suffix`, or None. Remembers the folder."""
    path, _ = QFileDialog.getSaveFileName(parent, title, str(last_folder(settings) / name), filter_text)
    if not path:
        return None
    if not path.lower().endswith(suffix):
        path += suffix
    settings.setValue(LAST_FOLDER_KEY, str(Path(path).parent))
    return Path(path)
