"""Long work off the UI thread, with progress and cancel.

:func:`run_with_progress` runs a function in a :class:`QThread` while a window-modal progress
dialog shows its progress; the UI keeps painting and the user can cancel. The function gets
a :class:`Reporter`: call it to report progress (``reporter("images", 3, 10)``, the
``progress(stage, done, total)`` convention of the dataset and synth packages) and ask
``reporter.should_stop()`` to honour a cancel.
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QEventLoop, QObject, Qt, QThread, Signal
from PySide6.QtWidgets import QProgressDialog, QWidget

log = logging.getLogger(__name__)


class Cancelled(Exception):
    """Raised inside a job (by :meth:`Reporter.check`) when the user cancelled it."""


class Reporter:
    """What a job function gets: report progress, check for cancel."""

    def __init__(self, emit: Callable[[str, int, int], None]) -> None:
        self._emit = emit
        self._stop = threading.Event()

    def __call__(self, *args: Any) -> None:
        """Report progress: ``(stage, done, total)``, ``(done, total)``, ``(fraction,)`` or
        ``(message,)``.

        Raises:
            Cancelled: the user cancelled (so any function that reports progress stops at
                its next report, even one that never asks ``should_stop``).
        """
        self.check()
        stage, done, total = "", 0, 0
        if len(args) >= 3:
            stage, done, total = str(args[0]), int(args[1]), int(args[2])
        elif len(args) == 2:
            done, total = int(args[0]), int(args[1])
        elif len(args) == 1 and isinstance(args[0], str):
            stage = args[0]
        elif len(args) == 1:
            done, total = round(float(args[0]) * 1000), 1000
        self._emit(stage, done, total)

    def should_stop(self) -> bool:
        """Whether the user asked to cancel."""
        return self._stop.is_set()

    def check(self) -> None:
        """Raise :class:`Cancelled` if the user asked to cancel."""
        if self._stop.is_set():
            raise Cancelled()

    def stop(self) -> None:
        self._stop.set()


@dataclass
class Outcome:
    """How a job ended.

    Attributes:
        ok: it returned normally.
        result: what it returned.
        cancelled: the user cancelled it.
        error: the exception's message, if it failed.
        details: the traceback, if it failed.
    """

    ok: bool
    result: Any = None
    cancelled: bool = False
    error: str = ""
    details: str = ""


#: Jobs running now (the window does not close under one).
RUNNING: set[Job] = set()


def cancel_running() -> bool:
    """Ask every running job to stop; True if there was any."""
    for job in list(RUNNING):
        job.reporter.stop()
    return bool(RUNNING)


class Job(QThread):
    """Runs ``fn(reporter)`` on its own thread; signals arrive on the UI thread."""

    progressed = Signal(str, int, int)
    ended = Signal(object)  # Outcome

    def __init__(self, fn: Callable[[Reporter], Any], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._fn = fn
        self.reporter = Reporter(self.progressed.emit)
        self.outcome: Outcome | None = None

    def run(self) -> None:
        try:
            outcome = Outcome(True, self._fn(self.reporter))
        except Cancelled:
            outcome = Outcome(False, cancelled=True)
        except Exception as exc:
            log.exception("background job failed")
            cancelled = self.reporter.should_stop()
            outcome = Outcome(False, cancelled=cancelled, error=str(exc) or type(exc).__name__)
            outcome.details = traceback.format_exc()
        if self.reporter.should_stop() and outcome.ok:
            outcome.cancelled = True
        self.outcome = outcome
        self.ended.emit(outcome)


def run_with_progress(
    parent: QWidget | None,
    title: str,
    fn: Callable[[Reporter], Any],
    *,
    cancellable: bool = True,
    delay_ms: int = 300,
) -> Outcome:
    """Run ``fn(reporter)`` off the UI thread behind a modal progress dialog; wait for it.

    The UI keeps repainting (a local event loop runs) but takes no input meanwhile.

    Args:
        parent: window the dialog belongs to.
        title: what is being done, e.g. "Creating the demo project".
        fn: the work; gets a :class:`Reporter`.
        cancellable: show a Cancel button.
        delay_ms: show the dialog only if the job takes longer than this.
    """
    dialog = QProgressDialog(title, "Cancel" if cancellable else "", 0, 0, parent)
    dialog.setWindowTitle("DensePose Studio")
    dialog.setWindowModality(Qt.WindowModality.WindowModal)
    dialog.setMinimumDuration(delay_ms)
    dialog.setAutoReset(False)
    dialog.setAutoClose(False)
    if not cancellable:
        dialog.setCancelButton(None)
    job = Job(fn)
    loop = QEventLoop()

    def on_progress(stage: str, done: int, total: int) -> None:
        dialog.setMaximum(max(total, 0))
        dialog.setValue(min(done, total) if total > 0 else 0)
        text = title if not stage else f"{title}\n{stage}"
        if total > 0:
            text += f" ({done}/{total})"
        dialog.setLabelText(text)

    def on_cancel() -> None:
        job.reporter.stop()
        dialog.setLabelText(f"{title}\nstopping...")

    job.progressed.connect(on_progress)
    job.ended.connect(lambda _: loop.quit())
    dialog.canceled.connect(on_cancel)
    RUNNING.add(job)
    job.start()
    try:
        if not job.isFinished():
            loop.exec()
        job.wait()
    finally:
        RUNNING.discard(job)
    dialog.close()
    dialog.deleteLater()
    if parent is not None:
        parent.window().activateWindow()  # keys go back to the window
    outcome = job.outcome or Outcome(False, error="the job did not finish")
    job.deleteLater()
    return outcome
