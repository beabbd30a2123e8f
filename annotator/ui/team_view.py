"""The Team dock of a shared project, and the server state in the status bar.

The dock shows the team's progress, each member's throughput and held tasks, and the tasks
waiting for review (:meth:`annotator.dataset.store_team.TeamMixin.team_overview`), refreshed every
15 seconds while it is open; *Next task* claims the next task for the annotator and shows it.
Both run on a worker thread with a connection of their own: the UI never waits for the
server. Accuracy on gold tasks is the Accuracy dock, which reads the shared project like a
folder (docs/adr/0020-shared-projects.md).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TypeVar

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import (
    QDockWidget,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from annotator.dataset.errors import ProjectError
from annotator.dataset.records import TaskState
from annotator.dataset.store_shared import SharedProject
from annotator.dataset.store_team import TeamOverview
from annotator.ui.session import Session

log = logging.getLogger(__name__)
T = TypeVar("T")

_COLUMNS = ("member", "holding", "finished", "answers", "tasks / h")


def sync_text(state: str, waiting: int) -> str:
    """The status bar's words for the outbox sender's state."""
    if state == "offline":
        return f"Server: OFFLINE, {waiting} edit(s) kept on this machine"
    if state == "sending" and waiting:
        return f"Server: sending {waiting} edit(s)"
    return "Server: online, all sent"


class SyncSignals(QObject):
    """Carries the sender thread's reports to the UI thread (queued signals)."""

    stateChanged = Signal(str, int)
    rejected = Signal(str)


class TeamDock(QDockWidget):
    """Progress, members and review queue of a shared project; the next task."""

    taskClaimed = Signal(int)  # person id now held by this annotator
    _loaded = Signal(object)  # TeamOverview or an error message
    _claimed = Signal(object)  # person id, None, or an error message

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Team", parent)
        self.setObjectName("team-dock")
        self._session: Session | None = None
        body = QWidget()
        layout = QVBoxLayout(body)
        self.summary = QLabel("Open a shared project (a postgresql:// URL) to see its team.")
        self.summary.setWordWrap(True)
        self.table = QTableWidget(0, len(_COLUMNS))
        self.table.setHorizontalHeaderLabels(list(_COLUMNS))
        self.table.verticalHeader().setVisible(False)
        buttons = QHBoxLayout()
        self.next_button = QPushButton("Next task")
        self.refresh_button = QPushButton("Refresh")
        buttons.addWidget(self.next_button)
        buttons.addWidget(self.refresh_button)
        layout.addWidget(self.summary)
        layout.addWidget(self.table)
        layout.addLayout(buttons)
        self.setWidget(body)
        self.next_button.clicked.connect(self.claim_next)
        self.refresh_button.clicked.connect(self.refresh)
        self._loaded.connect(self._show)
        self._claimed.connect(self._on_claimed)
        self._timer = QTimer(self)
        self._timer.setInterval(15_000)
        self._timer.timeout.connect(self.refresh)
        self.visibilityChanged.connect(self._on_visibility)
        self._set_enabled(False)

    def set_session(self, session: Session | None) -> None:
        self._session = session
        shared = session is not None and isinstance(session.project, SharedProject)
        self._set_enabled(shared)
        self.table.setRowCount(0)
        if shared and self.isVisible():
            self.refresh()

    def refresh(self) -> None:
        """Read the team's figures (worker thread)."""
        target = self._target()
        if target is not None:
            self.summary.setText("Reading the team's figures...")
            _in_thread(lambda: self._loaded.emit(_overview(target)))

    def claim_next(self) -> None:
        """Claim the next task for this annotator (worker thread), then show it."""
        target = self._target()
        if target is not None:
            self.next_button.setEnabled(False)
            _in_thread(lambda: self._claimed.emit(_claim(target)))

    # -- UI thread -----------------------------------------------------------------------

    def _target(self) -> str | None:
        session = self._session
        if session is None or not isinstance(session.project, SharedProject):
            return None
        return session.project.target

    def _set_enabled(self, on: bool) -> None:
        self.next_button.setEnabled(on)
        self.refresh_button.setEnabled(on)

    def _on_visibility(self, visible: bool) -> None:
        if visible and self._target() is not None:
            self.refresh()
            self._timer.start()
        else:
            self._timer.stop()

    def _show(self, found: object) -> None:
        if not isinstance(found, TeamOverview):
            self.summary.setText(str(found))
            return
        done = found.by_state[TaskState.CORRESPONDED] + found.by_state[TaskState.REVIEWED]
        total = sum(found.by_state.values())
        self.summary.setText(
            f"{done} of {total} persons done ({100 * done / max(total, 1):.0f} %), "
            f"{found.by_state[TaskState.SEGMENTED]} segmented; {found.waiting_review} waiting "
            f"for review. Agreement share {found.agreement_share:g}, gold rate "
            f"{found.gold_rate:g}. Accuracy on gold tasks: View > Accuracy of annotators."
        )
        self.table.setRowCount(len(found.members))
        for row, m in enumerate(found.members):
            cells = (m.name, m.holding, m.finished, m.answers, f"{m.per_hour:.1f}")
            for col, value in enumerate(cells):
                self.table.setItem(row, col, QTableWidgetItem(str(value)))

    def _on_claimed(self, found: object) -> None:
        self.next_button.setEnabled(self._target() is not None)
        if isinstance(found, int):
            self.taskClaimed.emit(found)
        elif found is None:
            self.summary.setText("No task is free for you right now.")
        else:
            self.summary.setText(str(found))


def _in_thread(work: Callable[[], None]) -> None:
    threading.Thread(target=work, name="team-view", daemon=True).start()


def _overview(target: str) -> TeamOverview | str:
    return _on_server(target, lambda project: project.team_overview(), readonly=True)


def _claim(target: str) -> int | str | None:
    return _on_server(target, lambda project: project.claim_next())


def _on_server(
    target: str, work: Callable[[SharedProject], T], *, readonly: bool = False
) -> T | str:
    """``work`` on a connection of its own; a project error becomes its one-line message."""
    try:
        project = SharedProject.open_url(target, readonly=readonly)
        try:
            return work(project)
        finally:
            project.close()
    except ProjectError as exc:
        return str(exc)
