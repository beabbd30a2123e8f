"""The status bar: messages, who annotates, progress of the tasks, saving, zoom, position."""

from __future__ import annotations

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QLabel, QStatusBar

from annotator.dataset.records import ProposalStatus, TaskState
from annotator.ui.session import Session


class StatusBinding(QObject):
    """Fills the window's status bar."""

    def __init__(self, bar: QStatusBar) -> None:
        super().__init__(bar)
        self._bar = bar
        self.tool = QLabel()
        self.position = QLabel()
        self.zoom = QLabel()
        self.saving = QLabel()
        self.progress = QLabel()
        self.annotator = QLabel()
        self.server = QLabel()  # a shared project's connection (shown only for those)
        for label in (self.tool, self.position, self.zoom, self.saving, self.server, self.progress):
            bar.addPermanentWidget(label)
        bar.addPermanentWidget(self.annotator)
        self.position.setMinimumWidth(110)
        self.saving.setMinimumWidth(70)

    def message(self, text: str, ms: int = 6000) -> None:
        self._bar.showMessage(text, ms)

    def set_annotator(self, name: str, readonly: bool = False) -> None:
        self.annotator.setText(f"Annotator: {name}" + ("  (read-only)" if readonly else ""))

    def set_tool(self, text: str) -> None:
        self.tool.setText(text)

    def set_zoom(self, zoom: float) -> None:
        self.zoom.setText(f"{zoom * 100:.0f} %")

    def set_position(self, x: float, y: float) -> None:
        self.position.setText("" if x < 0 else f"x {x:.0f}  y {y:.0f}")

    def set_saving(self, pending: bool) -> None:
        self.saving.setText("saving..." if pending else "all saved")

    def set_server(self, text: str) -> None:
        """The shared project's server state ("" for a folder project)."""
        self.server.setText(text)
        offline = "OFFLINE" in text
        self.server.setStyleSheet("color: #e04040; font-weight: bold;" if offline else "")

    def set_failed(self) -> None:
        self.saving.setText("NOT SAVED")
        self.saving.setStyleSheet("color: #e04040; font-weight: bold;")

    def refresh_progress(self, session: Session | None) -> None:
        """Task counts of the project."""
        if session is None:
            self.progress.setText("")
            return
        stats = session.project.stats()
        counts = {state: 0 for state in TaskState}
        counts.update(stats.by_state)
        counts[TaskState.TODO] = max(0, counts[TaskState.TODO] - stats.crowd)  # not tasks
        done = counts[TaskState.CORRESPONDED] + counts[TaskState.REVIEWED]
        total = sum(counts.values())
        text = (
            f"Persons: {done}/{total} done · {counts[TaskState.SEGMENTED]} segmented · "
            f"{counts[TaskState.TODO]} to do"
        )
        if stats.machine_answers or any(stats.proposals.values()):
            pending = stats.proposals.get(ProposalStatus.PROPOSED, 0)
            text += (
                f" · {pending} proposal(s) to review · {stats.machine_answers} machine-made "
                f"answers ({stats.confirmed_machine_answers} confirmed)"
            )
        self.progress.setText(text)
