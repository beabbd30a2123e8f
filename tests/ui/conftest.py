"""Qt test set-up: settings in a temporary file, a window on a small synthetic project."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, QPointF, QSettings, Qt
from PySide6.QtTest import QTest

from annotator.ui.settings import Settings

from .helpers import make_project


@pytest.fixture()
def settings(tmp_path: Path) -> Settings:
    """Settings in a temporary INI file (never the user's)."""
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path))
    return Settings(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))


@pytest.fixture()
def project_path(tmp_path: Path) -> Path:
    return make_project(tmp_path / "work")


@pytest.fixture()
def window(qtbot, settings: Settings, data_dir: Path) -> Iterator:
    """The main window, shown, with no project."""
    from annotator.ui.main_window import MainWindow

    w = MainWindow(settings)
    qtbot.addWidget(w)
    w.resize(1400, 900)
    w.show()
    qtbot.waitExposed(w)
    yield w
    w.close()


@pytest.fixture()
def opened(window, project_path: Path, qtbot):
    """The window on the test project, first image shown."""
    assert window.projects.open_path(project_path)
    qtbot.waitUntil(window.canvas.has_image, timeout=5000)
    return window


def view_point(window, x: float, y: float) -> QPoint:
    return window.canvas.view_pos(QPointF(x, y)).toPoint()


def drag(window, points, button=Qt.MouseButton.LeftButton) -> None:
    """Press at the first image point, move through the others, release at the last."""
    viewport = window.canvas.viewport()
    pts = [view_point(window, x, y) for x, y in points]
    QTest.mousePress(viewport, button, Qt.KeyboardModifier.NoModifier, pts[0])
    for p in pts[1:]:
        QTest.mouseMove(viewport, p)
    QTest.mouseRelease(viewport, button, Qt.KeyboardModifier.NoModifier, pts[-1])


def click(window, x: float, y: float, button=Qt.MouseButton.LeftButton) -> None:
    QTest.mouseClick(
        window.canvas.viewport(), button, Qt.KeyboardModifier.NoModifier, view_point(window, x, y)
    )


def key(window, sequence: str) -> None:
    """Press a shortcut as the user would, with the canvas focused."""
    from PySide6.QtGui import QKeySequence

    window.canvas.setFocus()
    combo = QKeySequence(sequence)[0]
    QTest.keyClick(window.canvas, combo.key(), combo.keyboardModifiers())


def saved(window, qtbot) -> None:
    """Wait until every stroke is written (without forcing it)."""
    qtbot.waitUntil(lambda: not window.session.saver.is_pending(), timeout=5000)


@pytest.fixture(autouse=True)
def no_unexpected_dialogs(monkeypatch: pytest.MonkeyPatch) -> None:
    """A modal dialog would wait forever offscreen: fail the test instead (tests that expect
    one patch it themselves)."""
    from PySide6.QtWidgets import QMessageBox

    def unexpected(*args, **kwargs):
        texts = [a.text() for a in args if isinstance(a, QMessageBox)] + [
            str(a) for a in args if isinstance(a, str)
        ]
        raise AssertionError(f"unexpected dialog: {texts}")

    for name in ("exec", "question", "warning", "critical", "information"):
        monkeypatch.setattr(QMessageBox, name, unexpected)
