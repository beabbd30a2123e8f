"""The training queue: runs one ``dpstudio model train`` process at a time, in order.

Cancel writes the run's STOP file (``model.engine.run.STOP_FILE``): the run stops after the
current iteration with a checkpoint, so it can be resumed exactly. A run that fails (exit
code not 0) is reported with the end of its output; the queue goes on with the next one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from PySide6.QtCore import QObject, Signal

from annotator.ui.models.process import ModelProcess, python
from annotator.ui.models.train_core import TrainProgress, TrainSpec

log = logging.getLogger(__name__)

#: The file that asks a run to stop (``model.engine.run.STOP_FILE``; not imported: the app
#: never imports torch).
STOP_FILE = "STOP"


@dataclass
class RunOutcome:
    """How a run ended: "done", "stopped" (resumable) or "failed", with its last output."""

    spec: TrainSpec
    status: str
    message: str = ""
    progress: TrainProgress = field(default_factory=TrainProgress)


class TrainRunner(QObject):
    """A queue of training runs and the process of the current one."""

    started = Signal(object)  # TrainSpec
    progressed = Signal(object)  # TrainProgress of the current run
    finished = Signal(object)  # RunOutcome
    queueChanged = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.queue: list[TrainSpec] = []
        self.current: TrainSpec | None = None
        self.progress = TrainProgress()
        self.history: list[RunOutcome] = []
        self._process: ModelProcess | None = None
        self._cancelled = False

    def busy(self) -> bool:
        return self.current is not None

    def submit(self, spec: TrainSpec) -> None:
        """Queue a run (it starts at once when nothing is running)."""
        self.queue.append(spec)
        self.queueChanged.emit()
        if self.current is None:
            self._next()

    def remove_queued(self, index: int) -> None:
        if 0 <= index < len(self.queue):
            del self.queue[index]
            self.queueChanged.emit()

    def cancel(self) -> None:
        """Stop the current run after its iteration (a resumable checkpoint is written)."""
        if self.current is None:
            return
        self._cancelled = True
        self.current.out.mkdir(parents=True, exist_ok=True)
        (self.current.out / STOP_FILE).touch()

    def stop_all(self) -> None:
        """Empty the queue and stop the current run (closing the app)."""
        self.queue.clear()
        self.queueChanged.emit()
        self.cancel()

    def shutdown(self, wait_ms: int = 30_000) -> None:
        """Stop now: ask the run to stop, wait for its checkpoint, then kill it."""
        self.stop_all()
        if self._process is not None and not self._process.wait(wait_ms):
            self._process.kill()
            self._process.wait(5_000)

    def _next(self) -> None:
        if self.current is not None or not self.queue:
            return
        spec = self.queue.pop(0)
        self.queueChanged.emit()
        self.current, self.progress, self._cancelled = spec, TrainProgress(), False
        (spec.out / STOP_FILE).unlink(missing_ok=True)
        try:
            argv = spec.command(python())
        except ValueError as exc:
            self._end(RunOutcome(spec, "failed", str(exc)))
            return
        spec.out.parent.mkdir(parents=True, exist_ok=True)
        self._process = ModelProcess(argv, self)
        self._process.line.connect(self._on_line)
        self._process.ended.connect(self._on_ended)
        self.started.emit(spec)
        self._process.start()

    def _on_line(self, text: str) -> None:
        if self.progress.feed_line(text) is not None:
            self.progressed.emit(self.progress)

    def _on_ended(self, ok: bool, code: int, tail: str) -> None:
        spec = self.current
        if spec is None:
            return
        progress = self.progress
        if ok and progress.ended in ("done", "stopped"):
            status = progress.ended
        elif ok:
            status = "stopped" if self._cancelled else "done"
        else:
            status = "failed"
        message = tail if status == "failed" else progress.describe()
        if status == "failed" and not message:
            message = f"exit code {code}"
        (spec.out / STOP_FILE).unlink(missing_ok=True)
        self._end(RunOutcome(spec, status, message, progress))

    def _end(self, outcome: RunOutcome) -> None:
        log.info("training run %s ended: %s", outcome.spec.out, outcome.status)
        process, self._process, self.current = self._process, None, None
        if process is not None:
            process.deleteLater()
        self.history.append(outcome)
        self.finished.emit(outcome)
        self._next()
