"""The Accuracy dock: hosts the accuracy panel (``annotator.ui.accuracy.panel``) for the open
project, made the first time the dock is shown (View > Accuracy of annotators)."""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QDockWidget, QLabel, QWidget

from annotator.ui.session import Session

log = logging.getLogger(__name__)


class AccuracyDock(QDockWidget):
    """A dock holding the accuracy panel of the session's project."""

    statusMessage = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Accuracy of annotators", parent)
        self.setObjectName("accuracy-dock")
        self._session: Session | None = None
        self.panel: Any = None
        self._empty = QLabel("Open a project to measure its annotators on the gold tasks.")
        self._empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setWidget(self._empty)
        self.visibilityChanged.connect(self._on_visibility)

    def set_session(self, session: Session | None) -> None:
        self.shutdown()
        self._session = session
        if self.isVisible():
            self._ensure_panel()

    def shutdown(self) -> None:
        if self.panel is not None:
            try:
                self.panel.shutdown()
            except Exception:
                log.exception("the accuracy panel did not stop cleanly")
            self.panel.deleteLater()
            self.panel = None
        self.setWidget(self._empty)

    def _on_visibility(self, visible: bool) -> None:
        if visible:
            self._ensure_panel()

    def _ensure_panel(self) -> None:
        session = self._session
        if self.panel is not None or session is None:
            return
        try:
            from annotator.ui.accuracy.panel import AccuracyPanel

            session.flush()
            names = [a.name for a in session.project.annotators()]
            self.panel = AccuracyPanel(session.project.target, names)
        except Exception as exc:
            log.exception("the accuracy panel could not start")
            self._empty.setText(f"The accuracy panel could not start: {exc}")
            return
        self.panel.statusMessage.connect(self.statusMessage)
        self.setWidget(self.panel)
