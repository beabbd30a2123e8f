"""The stage-2 panel: point correspondences for one task, hosted by the main window.

For the current sample point the panel shows a zoomed inset of the image around it, the six
views of its part and a free-rotate view; a click on any view picks the matching surface
point, saved to the project at once and then marked on every view. The walk goes point by
point (keys in :data:`SHORTCUTS`); a point can be marked "not visible / unsure"; undo puts
back the previous answer. When every point is answered the task becomes ``CORRESPONDED`` and
:attr:`Stage2Panel.taskCompleted` fires.

Rendering runs in one render thread (:mod:`annotator.ui.stage2.render_worker`); sampling too.
The walk logic is the Qt-free :class:`~annotator.ui.stage2.session.Stage2Session`.

A save that fails (read-only or locked project, full disk) is shown in the panel's own
dialog and the annotation goes on; any other exception is a bug and is left to reach the
caller or the app's exception hook (:data:`EXPECTED_FAILURES`).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import sqlite3
import warnings
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

from annotator.dataset.errors import ProjectError
from annotator.dataset.records import SamplePoints
from annotator.dataset.store import Project
from annotator.surface.atlas import Atlas
from annotator.surface.parts import COARSE_PARTS
from annotator.surface.points import SurfacePoints
from annotator.surface.views import PART_LANDMARKS, PartView
from annotator.ui.stage2.layout import PanelWidgets, build_panel
from annotator.ui.stage2.render_worker import RenderWorker
from annotator.ui.stage2.session import (
    Stage2Error,
    Stage2Session,
    part_mask_in_image,
    sampling_job,
    store_points,
)

log = logging.getLogger(__name__)

#: Keyboard and mouse controls of stage 2, for the app's help: (keys, what they do).
SHORTCUTS: list[tuple[str, str]] = [
    ("Click a view", "pick the spot matching the marked point"),
    ("Drag the free view", "turn the part (click it to pick)"),
    ("N, Space", "next point"),
    ("P, Backspace", "previous point"),
    ("T", "next point still to do"),
    ("X", "not visible / unsure"),
    ("Ctrl+Z", "undo the last answer"),
    ("O", "show or hide the person's other answers on the views"),
    ("R", "reset the free view"),
    ("+, -", "zoom the inset in or out (or the mouse wheel)"),
]

#: Parts whose views the panel keeps in memory (about 17 MB each at 512 px).
_VIEWS_KEPT = 5

_F = TypeVar("_F", bound=Callable[..., Any])

#: Failures a user action of the panel can meet and the panel reports itself (its dialog, the
#: log, the status bar), the app going on: the project refuses or fails a write (read-only,
#: locked by a slow disk, disk full) or the task cannot go on (:class:`Stage2Error`).
EXPECTED_FAILURES: tuple[type[Exception], ...] = (Stage2Error, ProjectError, sqlite3.Error)


def _reports_failures(method: _F) -> _F:
    """Report the :data:`EXPECTED_FAILURES` of a user action and return None. Any other
    exception is a bug: it reaches the caller (from a Qt slot, the app's exception hook, which
    logs it and shows the app's error dialog)."""

    @functools.wraps(method)
    def wrapper(self: Stage2Panel, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except EXPECTED_FAILURES as exc:
            self._report_error(exc)
            return None

    return wrapper  # type: ignore[return-value]


class Stage2Panel(QWidget):
    """Stage 2 (point correspondences) of one task at a time.

    Args:
        project: the open, writable project (used from the UI thread only).
        annotator: whose answers are shown and saved.
        parent: Qt parent.
        view_size: side of the rendered part views, pixels.
        cache_dir: disk cache of rendered views (default: the app's cache folder).
        advance_after_pick: a pick goes on to the next point to do (the app passes the
            user's setting, :attr:`annotator.ui.settings.Settings.advance_after_pick`).

    Signals:
        currentPointChanged(float, float): image x, y of the current sample point, or
            (-1, -1) when there is none.
        answersChanged(): an answer was saved or cleared.
        taskCompleted(int): person id: every point is answered or marked not visible.
        statusMessage(str): a line for the status bar (errors also go to a dialog, the log
            and :attr:`last_error`).
        viewsShown(int): the six views of this coarse part are on screen.
        markersPainted(): every one of the six views painted the latest markers.
        advanceAfterPickChanged(bool): the user ticked or unticked "Next point after a pick".
    """

    currentPointChanged = Signal(float, float)
    answersChanged = Signal()
    taskCompleted = Signal(int)
    statusMessage = Signal(str)
    viewsShown = Signal(int)
    markersPainted = Signal()
    advanceAfterPickChanged = Signal(bool)

    def __init__(
        self,
        project: Project,
        annotator: str,
        parent: QWidget | None = None,
        *,
        view_size: int = 512,
        cache_dir: Path | None = None,
        advance_after_pick: bool = True,
    ) -> None:
        super().__init__(parent)
        self.project = project
        self.annotator = annotator
        self.session: Stage2Session | None = None
        self.atlas: Atlas | None = None
        self._joints: dict[str, np.ndarray] = {}
        self.show_others = True
        self._person_id: int | None = None
        self._ticket = 0
        self._awaiting_points = False
        self._shown_part: int | None = None
        self._views: OrderedDict[int, list[PartView]] = OrderedDict()
        self._error_box: QMessageBox | None = None
        self.last_error = ""
        self.ui: PanelWidgets = build_panel(self)
        self.ui.advance.setChecked(advance_after_pick)
        self._connect_widgets()
        self._setup_actions()
        if cache_dir is None:
            from annotator.paths import cache_dir as app_cache_dir

            cache_dir = app_cache_dir() / "views"
        self.worker = RenderWorker(project.body, size=view_size, cache_dir=cache_dir)
        self._connect_worker()
        self.worker.start()
        app = QApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)
        self._show_empty("No task")

    # -- set-up ----------------------------------------------------------------------------

    def _connect_widgets(self) -> None:
        ui = self.ui
        ui.grid.picked.connect(lambda _k, point: self._answer(point))
        ui.grid.missed.connect(lambda _k, reason: self.statusMessage.emit(reason))
        ui.grid.markersPainted.connect(self.markersPainted)
        ui.rotate.picked.connect(self._answer)
        ui.rotate.missed.connect(self.statusMessage)
        ui.rotate.renderRequested.connect(self._request_rotate)
        ui.strip.pointActivated.connect(self.go_to)
        ui.previous.clicked.connect(self.previous_point)
        ui.next.clicked.connect(self.next_point)
        ui.not_visible.clicked.connect(self.mark_not_visible)
        ui.undo.clicked.connect(self.undo)
        ui.show_others.toggled.connect(self.set_show_others)
        ui.advance.toggled.connect(self.advanceAfterPickChanged)

    def _setup_actions(self) -> None:
        table: list[tuple[str, list[str], Callable[[], object]]] = [
            ("Next point", ["N", "Space"], self.next_point),
            ("Previous point", ["P", "Backspace"], self.previous_point),
            ("Next point to do", ["T"], self.next_todo),
            ("Not visible / unsure", ["X"], self.mark_not_visible),
            ("Undo the last answer", ["Ctrl+Z"], self.undo),
            ("Show other answers", ["O"], self.ui.show_others.toggle),
            ("Reset the free view", ["R"], self.ui.rotate.reset),
            ("Zoom the inset in", ["+", "="], lambda: self.ui.inset.zoom_by(1)),
            ("Zoom the inset out", ["-"], lambda: self.ui.inset.zoom_by(-1)),
        ]
        for text, keys, slot in table:
            action = QAction(text, self)
            action.setShortcuts([QKeySequence(k) for k in keys])
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            action.triggered.connect(slot)
            self.addAction(action)

    def _connect_worker(self) -> None:
        self.worker.atlasReady.connect(self._on_atlas)
        self.worker.viewsReady.connect(self._on_views)
        self.worker.rotateReady.connect(self._on_rotate)
        self.worker.sampled.connect(self._on_sampled)
        self.worker.failed.connect(self._on_worker_failed)

    # -- the interface of the main window --------------------------------------------------

    @_reports_failures
    def set_task(self, person_id: int | None, image: np.ndarray | None) -> None:
        """Annotate person ``person_id`` of ``image`` (``[H, W, 3]`` uint8 RGB), or nothing.

        Points are sampled (off the UI thread) if the person has none yet; the walk resumes
        at the first point still to do.
        """
        self._ticket += 1
        self.session = None
        self._person_id = person_id
        self._awaiting_points = False
        self._shown_part = None
        self.worker.cancel_prefetch()
        self.ui.inset.set_image(image)
        self.ui.inset.set_mask(None)
        self.ui.inset.set_points(np.zeros(0), np.zeros(0), np.zeros(0, np.int64))
        self.ui.strip.set_points(np.zeros(0, np.int64), np.zeros(0, np.uint8))
        self.ui.rotate.set_part(None)
        if person_id is None:
            self._show_empty("No task")
            return
        try:
            job = sampling_job(self.project, person_id)
        except Stage2Error as exc:
            self._show_empty(str(exc))
            self.statusMessage.emit(str(exc))
            return
        if job is None:
            self._open_session()
            return
        self._show_empty("Sampling the points…", busy=True)
        self._awaiting_points = True
        self.worker.request_sampling(self._ticket, job)

    def shutdown(self) -> None:
        """Stop the render thread (call when the window closes); safe to call twice.

        Results the thread still delivers afterwards are dropped: the project they belong to
        may be closed by then.
        """
        for signal in (
            self.worker.atlasReady,
            self.worker.viewsReady,
            self.worker.rotateReady,
            self.worker.sampled,
            self.worker.failed,
        ):
            with warnings.catch_warnings(), contextlib.suppress(RuntimeError, TypeError):
                warnings.simplefilter("ignore", RuntimeWarning)  # already disconnected
                signal.disconnect()
        if not self.worker.stop():
            log.warning("the stage-2 render thread did not stop in time")

    # -- walking ---------------------------------------------------------------------------

    def next_point(self) -> None:
        """Go to the next point."""
        if self.session is not None and not self.session.next():
            self.statusMessage.emit("This is the last point.")
        self._show_current()

    def previous_point(self) -> None:
        """Go to the previous point."""
        if self.session is not None and not self.session.previous():
            self.statusMessage.emit("This is the first point.")
        self._show_current()

    def next_todo(self) -> None:
        """Go to the next point still to do."""
        if self.session is not None and not self.session.next_todo():
            self.statusMessage.emit("No other point is left to do.")
        self._show_current()

    def go_to(self, index: int) -> None:
        """Make point ``index`` (task order) current."""
        if self.session is not None:
            self.session.go(index)
        self._show_current()

    # -- answering -------------------------------------------------------------------------

    def click_view(self, view: int, x: float, y: float) -> SurfacePoints | None:
        """Click view ``view`` (0..5) at view-image pixel (x, y), as the mouse does.

        For benchmarks and tests: the answer is saved before this returns and
        :attr:`markersPainted` fires once the six views show it.
        """
        return self.ui.grid.click(view, x, y)

    def current_views(self) -> list[PartView] | None:
        """The six views on screen (None while they are on their way)."""
        return self.ui.grid.views

    @_reports_failures
    def mark_not_visible(self) -> None:
        """Answer the current point "not visible / unsure" and go to the next one to do."""
        if self.session is None:
            return
        completed = self.session.mark_not_visible()
        self._after_answer(completed)
        self.session.next_todo()
        self._show_current()

    @_reports_failures
    def undo(self) -> None:
        """Put back the answer before the last change and show its point."""
        if self.session is None:
            return
        index = self.session.undo()
        if index is None:
            self.statusMessage.emit("Nothing to undo.")
            return
        self.statusMessage.emit(f"Undone: point {index + 1} is {self.session.describe()}.")
        self.answersChanged.emit()
        self._show_current()

    def set_show_others(self, show: bool) -> None:
        """Show the person's other answers on the part views (small, dim) or not."""
        self.show_others = bool(show)
        if self.ui.show_others.isChecked() != self.show_others:
            self.ui.show_others.setChecked(self.show_others)
        self._refresh_markers()

    @_reports_failures
    def _answer(self, point: SurfacePoints) -> None:
        if self.session is None:
            return
        completed = self.session.pick(point)
        self._refresh_markers()
        self._refresh_walk()
        self._after_answer(completed)
        if self.ui.advance.isChecked() and self.session.next_todo():
            self._show_current()

    def _after_answer(self, completed: bool) -> None:
        assert self.session is not None
        self.answersChanged.emit()
        if completed:
            self.statusMessage.emit("Every point of this person is answered: task done.")
            self.taskCompleted.emit(self.session.person_id)

    # -- showing ---------------------------------------------------------------------------

    def _open_session(self) -> None:
        if self._person_id is None:
            return
        if self.atlas is None:
            self._show_empty("Loading the body surface…", busy=True)
            return  # continued by _on_atlas
        session = Stage2Session(self.project, self._person_id, self.annotator, self.atlas)
        self.session = session
        points = session.points
        self.ui.inset.set_mask(part_mask_in_image(self.project, session.person_id))
        self.ui.inset.set_points(points.x, points.y, points.part)
        self.ui.strip.set_points(points.part, session.statuses)
        if len(session) == 0:
            text = "No points to annotate: the part mask of this person is empty."
            self._show_empty(text)
            self.statusMessage.emit(text)
            return
        todo = session.counts()[2]
        self.statusMessage.emit(
            f"Person {session.person_id}: {len(session)} points, {todo} to do."
            if todo
            else f"Person {session.person_id}: all {len(session)} points are answered."
        )
        self._show_current()

    def _show_current(self) -> None:
        session = self.session
        if session is None or len(session) == 0:
            return
        part = session.part()
        if part != self._shown_part:
            self._shown_part = part
            self._show_part(part)
        self.ui.inset.set_current(session.index)
        self.ui.strip.set_current(session.index)
        self._refresh_walk()
        self._refresh_markers()
        self.currentPointChanged.emit(*session.position())

    def _show_part(self, part: int) -> None:
        views = self._views.get(part)
        if views is not None:
            self._views.move_to_end(part)
            self.ui.grid.set_views(views)
            self.viewsShown.emit(part)
        else:
            name = COARSE_PARTS[part - 1]
            self.ui.grid.show_message(f"Rendering the six views of the {name}…", busy=True)
            self.worker.request_views(part)
        self.ui.rotate.set_part(part)
        landmarks = [(j, self._joints[j]) for j in PART_LANDMARKS[part] if j in self._joints]
        self.ui.grid.set_landmarks(landmarks)
        self.ui.rotate.set_landmarks(landmarks)
        self._prefetch_after(part)

    def _prefetch_after(self, part: int) -> None:
        """Ask for the views of the next part of the walk (rendered while this one is done)."""
        assert self.session is not None
        later = self.session.points.part[self.session.index :]
        following = later[later != part]
        if len(following) and int(following[0]) not in self._views:
            self.worker.request_views(int(following[0]), urgent=False)

    def _refresh_walk(self) -> None:
        session = self.session
        if session is None:
            return
        self.ui.strip.set_statuses(session.statuses)
        self.ui.inset.set_statuses(session.statuses)
        answered, hidden, todo = session.counts()
        part = COARSE_PARTS[session.part() - 1]
        self.ui.title.setText(f"Point {session.index + 1} of {len(session)} · {part}")
        self.ui.counts.setText(f"{answered} answered · {hidden} not visible · {todo} to do")
        self.ui.answer.setText(f"Answer: {session.describe()}")
        self.ui.undo.setEnabled(session.can_undo)

    def _refresh_markers(self) -> None:
        session = self.session
        if session is None:
            return
        current = session.picked()
        others = session.others_in_part() if self.show_others else None
        self.ui.grid.set_markers(current, others)
        self.ui.rotate.set_markers(current, others)

    def _show_empty(self, text: str, *, busy: bool = False) -> None:
        self.ui.grid.show_message(text, busy=busy)
        self.ui.title.setText(text)
        self.ui.counts.setText("")
        self.ui.answer.setText("")
        self.ui.undo.setEnabled(False)
        self.currentPointChanged.emit(-1.0, -1.0)

    # -- results of the render thread ------------------------------------------------------

    def _on_atlas(self, atlas: Atlas, joints: dict[str, np.ndarray]) -> None:
        self.atlas = atlas
        self._joints = joints
        if self._person_id is not None and self.session is None and not self._awaiting_points:
            self._open_session()

    @_reports_failures
    def _on_sampled(self, ticket: int, points: SamplePoints) -> None:
        if ticket != self._ticket or self._person_id is None:
            return  # the task changed meanwhile
        self._awaiting_points = False
        store_points(self.project, self._person_id, points)
        self._open_session()

    def _on_views(self, part: int, views: list[PartView]) -> None:
        self._views[part] = views
        self._views.move_to_end(part)
        while len(self._views) > _VIEWS_KEPT:
            self._views.popitem(last=False)
        if part == self._shown_part and self.ui.grid.views is None:
            self.ui.grid.set_views(views)
            self._refresh_markers()
            self.viewsShown.emit(part)

    def _request_rotate(self, azimuth: float, elevation: float, ids: bool) -> None:
        part = self.ui.rotate.part
        if part is not None:
            self.worker.request_rotate(part, azimuth, elevation, ids)

    def _on_rotate(self, _serial: int, view: PartView) -> None:
        self.ui.rotate.show_render(view)

    def _on_worker_failed(self, what: str, message: str) -> None:
        if what == "views" and self.ui.grid.views is None:
            self.ui.grid.show_message(f"The views could not be rendered.\n{message}", busy=False)
        if what == "atlas":
            self._show_empty(message)
        self._report_error(message, title=f"Stage 2: {what} failed")

    # -- errors ----------------------------------------------------------------------------

    def _report_error(self, error: Exception | str, title: str = "Stage 2") -> None:
        """Log an error and show it in a (non-blocking) dialog; never raises."""
        if isinstance(error, Exception):
            log.error("stage 2 error", exc_info=error)
            text = f"{type(error).__name__}: {error}"
        else:
            log.error("%s: %s", title, error)
            text = error
        self.last_error = text
        self.statusMessage.emit(f"Error: {text}")
        try:
            if self._error_box is None:
                self._error_box = QMessageBox(QMessageBox.Icon.Warning, title, text, parent=self)
                self._error_box.setModal(False)
            self._error_box.setWindowTitle(title)
            self._error_box.setText(text)
            QTimer.singleShot(0, self._error_box.show)
        except Exception:  # pragma: no cover - a broken dialog must not hide the error
            log.exception("cannot show the error dialog")
