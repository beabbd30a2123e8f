"""Where stage 2 lives in the window: the stage-2 panel, or a placeholder until it exists.

The panel (``annotator.ui.stage2.panel.Stage2Panel``, built separately) is imported when a
project opens, not at start-up: it brings the body model and the renderer, which take time
and must not delay the first window. Its signals are bound here: the current point becomes
the canvas marker; answers and finished tasks refresh the image list.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import sys
import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import shiboken6
from PySide6.QtCore import QCoreApplication, Qt, Signal
from PySide6.QtWidgets import QLabel, QStackedLayout, QWidget

from annotator.dataset.records import TaskState
from annotator.ui.canvas import Canvas
from annotator.ui.session import Session
from annotator.ui.settings import Settings

log = logging.getLogger(__name__)

PANEL_MODULE = "annotator.ui.stage2.panel"


def load_panel_class() -> tuple[type | None, str]:
    """The Stage2Panel class, or None and why it is not available."""
    try:
        module = importlib.import_module(PANEL_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name and PANEL_MODULE.startswith(exc.name):
            return None, "The stage-2 panel is not part of this build yet."
        log.exception("the stage-2 panel could not be loaded")
        return None, f"The stage-2 panel could not be loaded: {exc}"
    except Exception as exc:  # a broken panel must not take the app down
        log.exception("the stage-2 panel could not be loaded")
        return None, f"The stage-2 panel could not be loaded: {exc}"
    panel = getattr(module, "Stage2Panel", None)
    return panel, "" if panel is not None else "annotator.ui.stage2.panel has no Stage2Panel"


def stage2_keys() -> list[tuple[str, str]] | None:
    """The stage-2 panel's keys for the help, if its module is loaded (never imports it)."""
    module = sys.modules.get(PANEL_MODULE)
    keys = getattr(module, "SHORTCUTS", None)
    return list(keys) if keys else None


class Stage2Host(QWidget):
    """Holds the stage-2 panel of the open session and binds it to the window.

    Args:
        canvas: shows the current point's marker.
        on_answers: called when answers changed (refresh lists and progress).
        settings: the app's settings (the panel's options start from them and are kept in
            them).
    """

    statusMessage = Signal(str)

    def __init__(self, canvas: Canvas, on_answers: Callable[[], None], settings: Settings) -> None:
        super().__init__()
        self._settings = settings
        self.setObjectName("stage2-host")
        self._canvas = canvas
        self._on_answers = on_answers
        self._session: Session | None = None
        self.panel: Any = None
        self._layout = QStackedLayout(self)
        self.placeholder = QLabel()
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setWordWrap(True)
        self.placeholder.setMargin(24)
        self._layout.addWidget(self.placeholder)
        self._show_placeholder("Open a project to annotate points.")
        self._task: tuple[int | None, int | None] = (None, None)

    @property
    def available(self) -> bool:
        return self.panel is not None

    def set_session(self, session: Session | None) -> None:
        """Bind to a new session (the old panel shuts down; a new one is made when needed)."""
        self.shutdown()
        self._session = session
        if session is None:
            self._show_placeholder("Open a project to annotate points.")
            return
        self._show_placeholder("Stage 2 starts when you switch to it (F2).")

    def prewarm(self) -> None:
        """Import the panel's module on a worker thread, so the first F2 is quick."""
        if PANEL_MODULE in sys.modules:
            return

        def load() -> None:
            with contextlib.suppress(Exception):  # reported when the panel is made
                importlib.import_module(PANEL_MODULE)

        threading.Thread(target=load, name="stage2-import", daemon=True).start()

    def ensure_panel(self) -> bool:
        """Make the session's panel if it does not exist yet; False if it cannot be."""
        if self.panel is not None:
            return True
        session = self._session
        if session is None:
            return False
        panel_class, why = load_panel_class()
        if panel_class is None:
            self._show_placeholder(why + "\nStage 1 (parts) works; points come with the panel.")
            return False
        try:
            panel = panel_class(
                session.project,
                session.annotator,
                self,
                advance_after_pick=self._settings.advance_after_pick,
            )
        except Exception as exc:
            log.exception("the stage-2 panel failed to start")
            self._show_placeholder(f"The stage-2 panel failed to start: {exc}")
            return False
        self.panel = panel
        panel.currentPointChanged.connect(self._canvas.show_marker)
        panel.answersChanged.connect(self._on_answers)
        panel.taskCompleted.connect(self._on_task_completed)
        panel.statusMessage.connect(self.statusMessage)
        panel.advanceAfterPickChanged.connect(self._keep_advance_after_pick)
        self._layout.addWidget(panel)
        self._layout.setCurrentWidget(panel)
        return True

    def set_task(self, person_id: int | None, image: np.ndarray | None) -> None:
        """Show a person's points (None: nothing)."""
        if self.panel is None:
            return
        key = (person_id, None if image is None else id(image))
        if key == self._task:
            return
        self._task = key
        if person_id is None or image is None:
            self._canvas.show_marker(-1, -1)
        self.panel.set_task(person_id, image)

    def shutdown(self) -> None:
        """Stop the panel's threads and drop it."""
        if self.panel is not None:
            try:
                self.panel.shutdown()
            except Exception:
                log.exception("the stage-2 panel did not shut down cleanly")
            # Results its render thread sent before stopping must not reach it once the
            # project closes: drop them, then delete it now rather than later.
            QCoreApplication.removePostedEvents(self.panel)
            self._layout.removeWidget(self.panel)
            self.panel.setParent(None)
            shiboken6.delete(self.panel)
            self.panel = None
        self._task = (None, None)
        self._canvas.show_marker(-1, -1)

    def _keep_advance_after_pick(self, value: bool) -> None:
        self._settings.advance_after_pick = value

    def _show_placeholder(self, text: str) -> None:
        self.placeholder.setText(text)
        self._layout.setCurrentWidget(self.placeholder)

    def _on_task_completed(self, person_id: int) -> None:
        session = self._session
        if session is not None and not session.readonly:
            try:
                if session.person(person_id).state < TaskState.CORRESPONDED:
                    session.set_state(person_id, TaskState.CORRESPONDED)
            except KeyError:
                pass
        self.statusMessage.emit(f"Person #{person_id} done. Tab: next person, D: next image.")
        self._on_answers()
