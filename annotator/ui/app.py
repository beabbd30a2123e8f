"""The Qt application: logging to a file, the exception hook, themes, and :func:`run`.

An uncaught exception is logged with its traceback and shown in a dialog; the app keeps
running (every edit is already saved as it is made, see :mod:`annotator.ui.saver`).
"""

from __future__ import annotations

import logging
import logging.handlers
import sys
import threading
import time
import traceback
from pathlib import Path
from types import TracebackType

from PySide6.QtCore import QCoreApplication, Qt, QTimer
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication, QMessageBox, QStyleFactory

from annotator import paths
from annotator.ui.settings import APPLICATION, ORGANIZATION

log = logging.getLogger("annotator.ui")

_LOG_HANDLER: logging.Handler | None = None


def log_file() -> Path:
    """Where the app writes its log (in the user data folder)."""
    return paths.data_dir() / "logs" / "app.log"


def setup_logging() -> Path:
    """Log INFO and above to a rotating file in the data folder; returns its path."""
    global _LOG_HANDLER
    file = log_file()
    if _LOG_HANDLER is None:
        file.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(
            file, maxBytes=2_000_000, backupCount=3, encoding="utf-8"
        )
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root = logging.getLogger()
        root.addHandler(handler)
        if root.level > logging.INFO or root.level == logging.NOTSET:
            root.setLevel(logging.INFO)
        _LOG_HANDLER = handler
    return file


def show_error(title: str, message: str, details: str = "") -> None:
    """A clear error dialog (and a log entry); safe when no window exists."""
    log.error("%s: %s%s", title, message, f"\n{details}" if details else "")
    if QApplication.instance() is None:
        print(f"{title}: {message}", file=sys.stderr)
        return
    box = QMessageBox(QMessageBox.Icon.Critical, title, message)
    if details:
        box.setDetailedText(details)
    box.setInformativeText(f"Details are in the log: {log_file()}")
    box.exec()


class ExceptionHook:
    """Replaces ``sys.excepthook``: log, show a dialog, keep the app running."""

    def __init__(self) -> None:
        self._showing = False
        self._last_time = 0.0

    def __call__(
        self, kind: type[BaseException], exc: BaseException, tb: TracebackType | None
    ) -> None:
        if issubclass(kind, KeyboardInterrupt):
            QCoreApplication.quit()
            return
        details = "".join(traceback.format_exception(kind, exc, tb))
        log.error("uncaught exception\n%s", details)
        now = time.monotonic()
        if self._showing or now - self._last_time < 1.0 or QApplication.instance() is None:
            return  # no cascade of dialogs
        self._showing = True
        try:
            show_error(
                "Unexpected error",
                f"{kind.__name__}: {exc}\n\nYour work so far is saved. "
                "The app keeps running; you may want to reopen the project.",
                details,
            )
        finally:
            self._showing = False
            self._last_time = time.monotonic()

    def thread_hook(self, args: threading.ExceptHookArgs) -> None:
        details = "".join(
            traceback.format_exception(args.exc_type, args.exc_value, args.exc_traceback)
        )
        log.error("uncaught exception in thread %s\n%s", args.thread, details)


def install_exception_hook() -> ExceptionHook:
    hook = ExceptionHook()
    sys.excepthook = hook
    threading.excepthook = hook.thread_hook
    return hook


def apply_theme(app: QApplication, theme: str) -> None:
    """Fusion style with a light or dark palette."""
    app.setStyle(QStyleFactory.create("Fusion"))
    if theme != "dark":
        app.setPalette(app.style().standardPalette())
        return
    p = QPalette()
    base, window, text = QColor(37, 37, 40), QColor(50, 50, 54), QColor(225, 225, 225)
    roles = {
        QPalette.ColorRole.Window: window,
        QPalette.ColorRole.WindowText: text,
        QPalette.ColorRole.Base: base,
        QPalette.ColorRole.AlternateBase: QColor(44, 44, 48),
        QPalette.ColorRole.ToolTipBase: window,
        QPalette.ColorRole.ToolTipText: text,
        QPalette.ColorRole.PlaceholderText: QColor(140, 140, 140),
        QPalette.ColorRole.Text: text,
        QPalette.ColorRole.Button: window,
        QPalette.ColorRole.ButtonText: text,
        QPalette.ColorRole.BrightText: QColor(255, 90, 90),
        QPalette.ColorRole.Link: QColor(90, 160, 240),
        QPalette.ColorRole.Highlight: QColor(60, 120, 200),
        QPalette.ColorRole.HighlightedText: QColor(255, 255, 255),
    }
    for role, color in roles.items():
        p.setColor(role, color)
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText):
        p.setColor(QPalette.ColorGroup.Disabled, role, QColor(120, 120, 120))
    app.setPalette(p)


def create_application(argv: list[str] | None = None) -> QApplication:
    """The QApplication (created once), named so that QSettings find the app's settings."""
    app = QApplication.instance()
    if app is None:
        QCoreApplication.setOrganizationName(ORGANIZATION)
        QCoreApplication.setApplicationName(APPLICATION)
        QApplication.setHighDpiScaleFactorRoundingPolicy(
            Qt.HighDpiScaleFactorRoundingPolicy.PassThrough
        )
        app = QApplication(argv if argv is not None else sys.argv[:1])
        app.setApplicationDisplayName("DensePose Studio")
    assert isinstance(app, QApplication)
    return app


def run(project_path: str | None = None, *, demo: bool | None = None) -> int:
    """Open the app on a project (or the demo project) and run until the window closes.

    Args:
        project_path: a project folder or file; None opens the demo project.
        demo: open the demo project (default: when no project is given).

    Returns:
        The process exit code.
    """
    started = time.perf_counter()
    setup_logging()
    app = create_application()
    install_exception_hook()
    from annotator.ui.main_window import MainWindow
    from annotator.ui.settings import Settings

    settings = Settings()
    apply_theme(app, settings.theme)
    window = MainWindow(settings)
    window.show()
    log.info("window shown in %.2f s", time.perf_counter() - started)
    if project_path:
        QTimer.singleShot(0, lambda: window.projects.open_path(project_path))
    elif demo is None or demo:
        QTimer.singleShot(0, window.projects.open_demo)
    return app.exec()
