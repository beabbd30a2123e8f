"""Opening, creating and filling projects from the window: new, open, recent, demo, import.

Imports run on a worker thread behind a progress dialog. The project file has one writer, so
while an import runs the window lets go of the project (after writing every pending edit)
and takes it back when the import ends.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QFileDialog, QMenu, QMessageBox, QWidget

from annotator.dataset.errors import ProjectError, ProjectLockedError
from annotator.dataset.pg import describe, is_url, without_password
from annotator.dataset.store import Project, project_file
from annotator.dataset.store_journaled import JournaledProject
from annotator.ui.app import show_error
from annotator.ui.session import Session
from annotator.ui.settings import Settings
from annotator.ui.team_view import SyncSignals, sync_text
from annotator.ui.workers import Reporter, run_with_progress

log = logging.getLogger(__name__)


class SessionHolder(Protocol):
    """The window, as far as projects are concerned."""

    session: Session | None

    def set_session(self, session: Session | None) -> None: ...


class ProjectController(QObject):
    """Project commands of the File menu.

    Args:
        window: the main window (dialogs' parent; holds the session).
        settings: recent projects, annotator name.
    """

    recentChanged = Signal()

    def __init__(self, window: Any, settings: Settings) -> None:
        super().__init__(window)
        self._window = window
        self._settings = settings

    @property
    def _parent(self) -> QWidget:
        return self._window

    # -- opening ---------------------------------------------------------------------------

    def open_path(self, path: str | Path, *, readonly: bool = False) -> bool:
        """Open a project folder (or its file), or a shared project's ``postgresql://`` URL;
        asks before falling back to read-only."""
        if is_url(path):
            return self._open_shared(str(path), readonly=readonly)
        folder = project_file(path).parent
        current = self._window.session
        if current is not None and Path(current.path).resolve() == folder.resolve():
            self._window.set_session(None)  # reopening: let go of the writer lock first
        try:
            session = Session.open(folder, self._settings.annotator, readonly=readonly)
        except ProjectLockedError as exc:
            answer = QMessageBox.question(
                self._parent,
                "Project in use",
                f"{exc}\n\nOpen it read-only (look, but not change)?",
            )
            if answer == QMessageBox.StandardButton.Yes:
                return self.open_path(folder, readonly=True)
            return False
        except ProjectError as exc:
            show_error("Cannot open the project", str(exc))
            if not project_file(folder).exists():
                self._settings.remove_recent(str(folder))
                self.recentChanged.emit()
            return False
        self._window.set_session(session)
        self._settings.add_recent(str(folder))
        self.recentChanged.emit()
        return True

    def _open_shared(self, url: str, *, readonly: bool) -> bool:
        """Open a shared project; the connection is made on a worker thread."""
        self._window.set_session(None)
        outcome = run_with_progress(
            self._parent,
            f"Connecting to {describe(url)}",
            lambda reporter: JournaledProject.open_url(url, readonly=readonly),
            cancellable=False,
        )
        if not outcome.ok:
            show_error("Cannot open the shared project", outcome.error, outcome.details)
            return False
        project = outcome.result
        signals = SyncSignals()  # the sender thread's reports, queued to this thread
        status = self._window.status
        signals.stateChanged.connect(lambda state, n: status.set_server(sync_text(state, n)))
        signals.rejected.connect(lambda why: show_error("The server refused an edit", why))
        project.start_outbox(
            on_state=signals.stateChanged.emit,
            on_rejected=lambda e, why: signals.rejected.emit(why),
        )
        session = Session(project, project.user)
        signals.setParent(session)
        self._window.set_session(session)
        status.set_server(sync_text("online", 0))
        self._settings.add_recent(without_password(url))
        self.recentChanged.emit()
        return True

    def open_dialog(self) -> bool:
        folder = QFileDialog.getExistingDirectory(self._parent, "Open a project folder")
        return bool(folder) and self.open_path(folder)

    def new_dialog(self, folder: str | None = None) -> bool:
        """Create a project in an (empty) folder, open it, offer to add images."""
        if folder is None:
            folder = QFileDialog.getExistingDirectory(
                self._parent, "New project: choose or create an empty folder"
            )
            if not folder:
                return False
        try:
            Project.create(folder).close()
        except ProjectError as exc:
            show_error("Cannot create the project", str(exc))
            return False
        if not self.open_path(folder):
            return False
        self._window.status.message("New project: add images (Ctrl+I) or import COCO boxes.")
        return True

    def open_demo(self) -> bool:
        """Open the demo project, creating it first (with progress) if needed."""
        try:
            from annotator.synth.demo import ensure_demo_project
        except ImportError as exc:
            log.warning("no demo project available: %s", exc)
            self._window.show_empty(
                "The demo project is not available in this build.\n"
                "Create a project (Ctrl+N) or open one (Ctrl+O)."
            )
            return False

        def make(reporter: Reporter) -> Path:
            return Path(ensure_demo_project(progress=reporter, should_stop=reporter.should_stop))

        self._window.show_empty("")
        title = (
            "Preparing the demo project: synthetic people, rendered once.\n"
            "On a new machine the body model is built first (a few minutes, once)."
        )
        outcome = run_with_progress(self._parent, title, make)
        if outcome.cancelled:
            self._window.show_empty("Demo project not created (cancelled).")
            return False
        if not outcome.ok:
            show_error("Cannot create the demo project", outcome.error, outcome.details)
            self._window.show_empty("Create a project (Ctrl+N) or open one (Ctrl+O).")
            return False
        return self.open_path(outcome.result)

    def fill_recent_menu(self, menu: QMenu) -> None:
        menu.clear()
        recent = self._settings.recent_projects
        for path in recent:
            action = menu.addAction(path)
            action.triggered.connect(lambda _=False, p=path: self.open_path(p))
        if not recent:
            menu.addAction("(none)").setEnabled(False)

    # -- filling ---------------------------------------------------------------------------

    def add_images(self, folder: str | None = None) -> bool:
        """Add the images of a folder to the open project."""
        if folder is None:
            folder = QFileDialog.getExistingDirectory(self._parent, "Add images from a folder")
            if not folder:
                return False
        from annotator.dataset.coco_import import import_image_folder

        def work(project: Project, reporter: Reporter) -> str:
            report = import_image_folder(project, folder, progress=reporter)
            return f"{report.images_added} image(s) added, {report.images_reused} already there"

        return self._exclusive("Adding images", work)

    def import_coco(self, json_path: str | None = None, images: str | None = None) -> bool:
        """Import COCO person boxes (with their images) into the open project."""
        if json_path is None:
            json_path, _ = QFileDialog.getOpenFileName(
                self._parent, "COCO instances or keypoints JSON", "", "JSON (*.json)"
            )
            if not json_path:
                return False
        if images is None:
            images = QFileDialog.getExistingDirectory(
                self._parent, "Folder the JSON's file names are relative to"
            )
            if not images:
                return False
        from annotator.dataset.coco_import import import_coco

        def work(project: Project, reporter: Reporter) -> str:
            report = import_coco(project, json_path, images, progress=reporter)
            return f"{report.persons} person(s) in {report.images_added} new image(s)"

        return self._exclusive("Importing COCO boxes", work)

    def _exclusive(self, title: str, work: Callable[[Project, Reporter], str]) -> bool:
        """Run ``work(project, reporter)`` on a worker thread with the project to itself."""
        session = self._window.session
        if session is None or session.readonly:
            show_error(title, "Open a project for writing first.")
            return False
        folder = session.project.target
        self._window.set_session(None)

        def job(reporter: Reporter) -> str:
            with Project.open(folder) as project:
                return work(project, reporter)

        outcome = run_with_progress(self._parent, title, job)
        self.open_path(folder)
        if outcome.ok:
            self._window.status.message(f"{title}: {outcome.result}")
            return True
        if not outcome.cancelled:
            show_error(title, outcome.error, outcome.details)
        return False
