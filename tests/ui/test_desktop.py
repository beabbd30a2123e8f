"""Desktop basics: crash safety, settings that persist, locked projects, errors, start-up."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QMessageBox

from annotator.dataset.store import Project
from annotator.ui.settings import Settings

from .conftest import drag, key, saved

pytestmark = pytest.mark.gui
ROOT = Path(__file__).resolve().parents[2]

CRASHING_SESSION = """
import os, signal, sys
sys.path.insert(0, {root!r})
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QApplication
from annotator.ui.app import create_application
from annotator.ui.main_window import MainWindow
from annotator.ui.settings import Settings
from tests.ui.conftest import drag
app = create_application()
window = MainWindow(Settings(QSettings({ini!r}, QSettings.Format.IniFormat)))
window.resize(1200, 800)
window.show()
window.projects.open_path({project!r})
while not window.canvas.has_image():
    app.processEvents()
window.stage1.set_brush_size(10)
window.stage1.set_part(14)
drag(window, [(150, 40), (170, 40)])
window.stage1.set_part(6)
drag(window, [(150, 180), (150, 220)])
while window.session.saver.is_pending():
    app.processEvents()
os.kill(os.getpid(), signal.SIGKILL)  # no close, no flush: a crash
"""


def test_strokes_survive_a_crash(project_path: Path, tmp_path: Path) -> None:
    script = CRASHING_SESSION.format(
        root=str(ROOT), ini=str(tmp_path / "s.ini"), project=str(project_path)
    )
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", DPSTUDIO_DATA_DIR=str(tmp_path / "d"))
    run = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, timeout=120)
    assert run.returncode == -9, run.stderr.decode()[-2000:]
    with Project.open(project_path) as project:  # the writer lock died with the process
        mask = project.part_mask(1)
    assert mask is not None
    labels = np.zeros((240, 320), np.uint8)
    h, w = mask.labels.shape
    labels[mask.y0 : mask.y0 + h, mask.x0 : mask.x0 + w] = mask.labels
    assert labels[40, 160] == 14 and labels[200, 150] == 6


def test_settings_and_layout_persist(opened, settings: Settings, project_path, qtbot) -> None:
    from annotator.ui.main_window import MainWindow

    opened.stage1.set_brush_size(57)
    key(opened, ".")
    opened.resize(1234, 777)
    key(opened, "D")
    opacity = opened.overlays.opacity
    opened.close()
    again = MainWindow(settings)
    qtbot.addWidget(again)
    assert again.stage1.brush_size == 57
    assert again.overlays.opacity == pytest.approx(opacity, abs=0.011)
    assert settings.window_geometry() is not None and settings.window_state() is not None
    assert Path(settings.recent_projects[0]) == project_path
    assert again.projects.open_path(settings.recent_projects[0])
    assert again.navigator.image_id == 2  # back where the annotator was
    again.close()


def test_annotator_name_is_stored_with_every_edit(opened, project_path, qtbot) -> None:
    opened.settings.annotator = "alice"
    opened.projects.open_path(project_path)
    qtbot.waitUntil(opened.canvas.has_image)
    assert "alice" in opened.status.annotator.text()
    drag(opened, [(150, 60), (170, 60)])
    saved(opened, qtbot)
    with Project.open(project_path, readonly=True) as project:
        assert project.part_mask(1, "alice") is not None


def test_a_locked_project_opens_read_only_on_request(
    window, project_path, monkeypatch, qtbot
) -> None:
    holder = Project.open(project_path)
    try:
        monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
        assert window.projects.open_path(project_path)
        assert window.session.readonly
        assert "read-only" in window.windowTitle()
        qtbot.waitUntil(window.canvas.has_image)
        drag(window, [(150, 60), (170, 60)])
        assert not window.session.label_map(1).any()
        assert not window.acts.tool_brush.isEnabled()
    finally:
        holder.close()


def test_a_missing_project_is_a_clear_error(window, tmp_path, monkeypatch) -> None:
    shown = []
    monkeypatch.setattr("annotator.ui.projects.show_error", lambda t, m, d="": shown.append(m))
    assert not window.projects.open_path(tmp_path / "nothing")
    assert "no project" in shown[0]


def test_an_uncaught_exception_is_logged_shown_and_survived(window, monkeypatch) -> None:
    from annotator.ui import app

    shown = []
    monkeypatch.setattr(QMessageBox, "exec", lambda self: shown.append(self.text()))
    app.setup_logging()
    hook = app.ExceptionHook()
    try:
        raise RuntimeError("boom")
    except RuntimeError as exc:
        hook(type(exc), exc, exc.__traceback__)
    assert shown and "boom" in shown[0]
    assert window.isVisible()
    assert "RuntimeError: boom" in app.log_file().read_text()


def test_work_in_a_worker_reports_progress_and_cancels(window, qtbot) -> None:
    from annotator.ui.workers import run_with_progress

    seen = []

    def work(reporter):
        for k in range(3):
            reporter("step", k + 1, 3)
            seen.append(k)
        return 42

    outcome = run_with_progress(window, "Testing", work)
    assert outcome.ok and outcome.result == 42 and seen == [0, 1, 2]

    def cancelled(reporter):
        reporter.stop()
        reporter("step", 1, 2)
        return 1

    outcome = run_with_progress(window, "Testing", cancelled)
    assert outcome.cancelled and not outcome.ok
    outcome = run_with_progress(window, "Testing", lambda r: 1 / 0)
    assert not outcome.ok and "division" in outcome.error


def test_no_demo_yet_leaves_a_usable_empty_window(window, monkeypatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_demo(name, *args, **kwargs):
        if name == "annotator.synth.demo":
            raise ImportError("no demo")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_demo)
    assert not window.projects.open_demo()
    assert window.canvas._message.isVisible()


STARTUP = """
import sys, time
t0 = time.perf_counter()
from PySide6.QtCore import QSettings
from annotator.ui.app import create_application
app = create_application()
from annotator.ui.main_window import MainWindow
from annotator.ui.settings import Settings
w = MainWindow(Settings(QSettings(sys.argv[1], QSettings.Format.IniFormat)))
w.show()
app.processEvents()
heavy = [m for m in ("torch", "anny", "pyrender", "annotator.surface.body") if m in sys.modules]
print(json.dumps({"seconds": time.perf_counter() - t0, "heavy": heavy}))
"""


def test_start_up_imports_nothing_heavy(tmp_path: Path) -> None:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(ROOT))
    run = subprocess.run(
        [sys.executable, "-c", "import json\n" + textwrap.dedent(STARTUP), str(tmp_path / "s.ini")],
        env=env,
        capture_output=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr.decode()[-2000:]
    result = json.loads(run.stdout.decode().strip().splitlines()[-1])
    assert result["heavy"] == []


def test_cli_has_the_app_command() -> None:
    from annotator.cli import build_parser

    args = build_parser().parse_args(["app", "/some/project"])
    assert args.project == "/some/project" and args.handler is not None


def test_settings_fall_back_to_defaults_on_bad_values(tmp_path: Path) -> None:
    store = QSettings(str(tmp_path / "bad.ini"), QSettings.Format.IniFormat)
    store.setValue("tools/brush_size", "huge")
    store.setValue("theme", "purple")
    settings = Settings(store)
    assert settings.brush_size == 24.0 and settings.theme == "light"
    assert settings.annotator


def test_fresh_settings_go_to_the_next_point_after_a_pick(tmp_path: Path) -> None:
    ini = str(tmp_path / "fresh.ini")
    assert Settings(QSettings(ini, QSettings.Format.IniFormat)).advance_after_pick
    Settings(QSettings(ini, QSettings.Format.IniFormat)).advance_after_pick = False
    assert not Settings(QSettings(ini, QSettings.Format.IniFormat)).advance_after_pick


def test_the_accuracy_dock_hosts_the_panel_for_the_open_project(opened, project_path) -> None:
    assert not opened.accuracy_dock.isVisible()
    opened.accuracy_dock.toggleViewAction().trigger()
    panel = opened.accuracy_dock.panel
    assert panel is not None and panel.project_dir == project_path
    opened.set_session(None)
    assert opened.accuracy_dock.panel is None


@pytest.mark.parametrize(
    ("key_name", "modifier"),
    [("Key_Question", "ShiftModifier"), ("Key_Slash", "ControlModifier")],
)
def test_the_help_lists_every_key(window, monkeypatch, key_name, modifier) -> None:
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    from annotator.ui.dialogs import ShortcutsDialog

    shown = []
    monkeypatch.setattr(ShortcutsDialog, "exec", lambda self: shown.append(self.table.rowCount()))
    window.canvas.setFocus()
    QTest.keyClick(window.canvas, getattr(Qt.Key, key_name), getattr(Qt.KeyboardModifier, modifier))
    assert shown and shown[0] > 40


def test_closing_during_long_work_stops_it_first(window, qtbot) -> None:
    from PySide6.QtCore import QTimer

    from annotator.ui.workers import run_with_progress

    def slow(reporter):
        while not reporter.should_stop():
            reporter("waiting", 0, 1)
            import time

            time.sleep(0.01)

    QTimer.singleShot(100, window.close)
    outcome = run_with_progress(window, "Testing", slow)
    assert outcome.cancelled and window.isVisible()
    window.close()
    assert not window.isVisible()
