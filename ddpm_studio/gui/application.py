"""The application entry point: logging, Qt set-up (style, DPI, icon, settings), the main window.

torch is imported BEFORE PySide6: with torch >= 2.9 on Windows, loading Qt's DLLs first breaks torch's.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

import torch
from PySide6.QtCore import QCoreApplication, QSettings, Qt, QTimer, QtMsgType, qInstallMessageHandler
from PySide6.QtGui import QColor, QGuiApplication, QIcon, QPalette
from PySide6.QtWidgets import QApplication

import ddpm_studio
from ddpm_studio import paths
from ddpm_studio.app.logs import LOG_FILE_NAME, setup_logging  # noqa: F401 - the log file both faces write
from ddpm_studio.gui import launch_failure
from ddpm_studio.gui.errors import ErrorReporter
from ddpm_studio.gui.state import APPLICATION, ORGANIZATION
from ddpm_studio.gui.widgets.wheel_guard import install_wheel_guard

log = logging.getLogger("ddpm_studio")
_qt_log = logging.getLogger("ddpm_studio.qt")
# Platform-plugin notices that say nothing about the app (the headless "offscreen" plugin used by
# tests and screenshots cannot propagate size hints); logged at DEBUG instead of WARNING.
BENIGN_QT_MESSAGES = ("This plugin does not support propagateSizeHints()",)


def parse_args(argv: list[str]) -> argparse.Namespace:
    """The GUI's own flags (the CLI has its subcommands elsewhere)."""
    parser = argparse.ArgumentParser(prog="ddpm-studio", description="DDPM Studio desktop app")
    parser.add_argument("--reset-settings", action="store_true", help="forget window geometry, recent items, etc.")
    parser.add_argument("--source", default=None, help="open this folder, .zip or builtin:<name> at start")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    parser.add_argument("--quit-after", type=int, default=None, metavar="MS", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def _qt_message_handler(mode: QtMsgType, context, message: str) -> None:
    """Route qDebug/qWarning/qCritical into Python logging (and so into the log file); a fatal message (Qt
    aborts after it) goes to stderr too, with the platform plugin's missing libraries (`launch_failure`)."""
    level = {QtMsgType.QtDebugMsg: logging.DEBUG, QtMsgType.QtInfoMsg: logging.INFO,
             QtMsgType.QtWarningMsg: logging.WARNING, QtMsgType.QtCriticalMsg: logging.ERROR,
             QtMsgType.QtFatalMsg: logging.CRITICAL}.get(mode, logging.WARNING)
    if any(message.startswith(benign) for benign in BENIGN_QT_MESSAGES):
        level = logging.DEBUG
    _qt_log.log(level, "%s", message)
    launch_failure.note(message)
    if mode == QtMsgType.QtFatalMsg:
        launch_failure.die(message)


def install_qt_message_handler() -> None:
    """Send Qt's own messages to the log."""
    qInstallMessageHandler(_qt_message_handler)


def dark_palette() -> QPalette:
    """A Fusion palette for a dark system scheme."""
    palette = QPalette()
    base, window, text, mid = QColor(30, 30, 32), QColor(45, 45, 48), QColor(230, 230, 230), QColor(90, 90, 95)
    for role, color in ((QPalette.ColorRole.Window, window), (QPalette.ColorRole.WindowText, text),
                        (QPalette.ColorRole.Base, base), (QPalette.ColorRole.AlternateBase, window),
                        (QPalette.ColorRole.ToolTipBase, window), (QPalette.ColorRole.ToolTipText, text),
                        (QPalette.ColorRole.Text, text), (QPalette.ColorRole.Button, window),
                        (QPalette.ColorRole.ButtonText, text), (QPalette.ColorRole.BrightText, QColor(255, 80, 80)),
                        (QPalette.ColorRole.Mid, mid), (QPalette.ColorRole.Dark, QColor(20, 20, 22)),
                        (QPalette.ColorRole.Link, QColor(100, 160, 255)),
                        (QPalette.ColorRole.Highlight, QColor(60, 120, 215)),
                        (QPalette.ColorRole.HighlightedText, QColor(255, 255, 255)),
                        (QPalette.ColorRole.PlaceholderText, QColor(150, 150, 150))):
        palette.setColor(role, color)
    for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor(130, 130, 130))
    return palette


def apply_color_scheme(app: QApplication) -> None:
    """Fusion, light or dark after the system's colour scheme (re-applied when it changes)."""
    app.setStyle("Fusion")
    dark = QGuiApplication.styleHints().colorScheme() == Qt.ColorScheme.Dark
    app.setPalette(dark_palette() if dark else app.style().standardPalette())
    import pyqtgraph as pg

    pg.setConfigOptions(background=app.palette().color(QPalette.ColorRole.Base),
                        foreground=app.palette().color(QPalette.ColorRole.Text))


def app_icon() -> QIcon:
    """The application icon from resources/icons (empty icon if the files are missing)."""
    icon = QIcon()
    folder = paths.resources_dir() / "icons"
    for name in ("ddpm-studio.svg", "ddpm-studio.png"):
        if (folder / name).is_file():
            icon.addFile(str(folder / name))
    return icon


def create_application(argv: list[str]) -> QApplication:
    """The QApplication (reused if one exists), named, high-DPI clean, styled, with the icon."""
    QCoreApplication.setOrganizationName(ORGANIZATION)
    QCoreApplication.setApplicationName(APPLICATION)
    QCoreApplication.setApplicationVersion(ddpm_studio.__version__)
    app = QApplication.instance()
    if app is None:
        QGuiApplication.setHighDpiScaleFactorRoundingPolicy(Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
        app = QApplication([sys.argv[0] if sys.argv else "ddpm-studio", *argv])
    QGuiApplication.setDesktopFileName("io.github.ddpmstudio.DDPMStudio")
    apply_color_scheme(app)
    QGuiApplication.styleHints().colorSchemeChanged.connect(lambda _scheme: apply_color_scheme(app))
    app.setWindowIcon(app_icon())
    install_wheel_guard(app)  # the wheel scrolls forms, never edits an unfocused field (every view)
    return app


def main(argv: list[str] | None = None, *, exit_process: bool | None = None) -> int:
    """Open the DDPM Studio window; returns the process exit code.

    `exit_process` (default: when this call creates the QApplication, i.e. the process is the app's own) ends the
    process as soon as the window is closed and every worker joined: settings are synced and logs flushed, then
    `os._exit` skips the interpreter's teardown of torch's and Qt's objects, which took 1-6 s after the window
    had already gone (issue 13 item 26). Tests that call `main` in-process keep running.
    """
    args = parse_args(list(sys.argv[1:] if argv is None else argv))
    log_path = setup_logging(args.log_level)
    launch_failure.set_log_path(log_path)
    install_qt_message_handler()
    log.info("DDPM Studio %s starting (torch %s)", ddpm_studio.__version__, torch.__version__)
    if exit_process is None:
        exit_process = QApplication.instance() is None
    app = create_application([])
    settings = QSettings()
    if args.reset_settings:
        settings.clear()
        settings.sync()
        log.info("settings reset")
    reporter = ErrorReporter(log_path)
    reporter.install()
    try:
        from ddpm_studio.gui.main_window import MainWindow
        from ddpm_studio.gui.state import AppState

        state = AppState(settings)
        window = MainWindow(state, log_path=log_path, initial_source=args.source)
        window.show()
        if args.quit_after is not None:
            QTimer.singleShot(args.quit_after, window.close)
        code = app.exec()
        log.info("DDPM Studio exiting with code %d", code)
    finally:
        reporter.uninstall()
        qInstallMessageHandler(None)
    settings.sync()
    if exit_process:
        exit_now(int(code))
    return int(code)


def exit_now(code: int) -> None:
    """End the process at once, after the work that matters: the log's records flushed and closed, and the
    standard streams. The window is closed, settings synced and every worker thread joined before this is called.

    The other atexit handlers are skipped on purpose: they are torch's operator-library teardown and PySide's
    destruction of every Qt object (which also sends thousands of events through the app's event filter), about
    0.3 s of a 0.8 s quit for nothing a user keeps (issue 22 old #26). The app registers none of its own.
    """
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass
    os._exit(code)


if __name__ == "__main__":
    sys.exit(main())
