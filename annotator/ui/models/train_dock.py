"""The Training dock: the current run's progress bar, ETA and live curves, the queue, and how
the last runs ended (a failed one with the end of its output)."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDockWidget,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from annotator.ui.models.plots import CurvePlot
from annotator.ui.models.train_core import TrainProgress, TrainSpec, format_eta
from annotator.ui.models.train_runner import RunOutcome, TrainRunner

#: Held-out figures drawn (fractions), when the run reports them.
FIGURES = ("gps_AP", "gpsm_AP", "iou_AP", "auc10", "auc30", "mask_iou", "dense_auc10")


class TrainDock(QDockWidget):
    """Shows a :class:`TrainRunner`."""

    statusMessage = Signal(str)

    def __init__(self, runner: TrainRunner, parent: QWidget | None = None) -> None:
        super().__init__("Training", parent)
        self.setObjectName("training-dock")
        self.runner = runner
        self.title = QLabel("No training run yet: Model > Train...")
        self.title.setWordWrap(True)
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setFormat("%p%")
        self.eta = QLabel("")
        self.losses = CurvePlot("losses", "iteration", "loss")
        self.figures = CurvePlot("held-out figures", "iteration", "fraction", fraction=True)
        self.queue = QListWidget()
        self.queue.setMaximumHeight(56)
        self.cancel = QPushButton("Stop (resumable)")
        self.cancel.setToolTip("Stop after the current iteration, with a checkpoint to resume")
        self.remove = QPushButton("Remove from queue")
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(400)
        self.log.setMaximumHeight(140)
        self._build()
        runner.started.connect(self._on_started)
        runner.progressed.connect(self._on_progress)
        runner.finished.connect(self._on_finished)
        runner.queueChanged.connect(self._refresh_queue)
        self.cancel.clicked.connect(runner.cancel)
        self.remove.clicked.connect(lambda: runner.remove_queued(self.queue.currentRow()))
        self._refresh_queue()
        if runner.current is not None:
            self._on_started(runner.current)
            self._on_progress(runner.progress)

    def _build(self) -> None:
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.addWidget(self.title)
        row = QHBoxLayout()
        row.addWidget(self.bar, 1)
        row.addWidget(self.eta)
        row.addWidget(self.cancel)
        layout.addLayout(row)
        layout.addWidget(self.losses, 2)
        layout.addWidget(self.figures, 1)
        queue = QHBoxLayout()
        queue.addWidget(QLabel("Queued:"))
        queue.addWidget(self.queue, 1)
        queue.addWidget(self.remove, 0, Qt.AlignmentFlag.AlignTop)
        layout.addLayout(queue)
        layout.addWidget(QLabel("Output"))
        layout.addWidget(self.log)
        self.setWidget(body)
        self.cancel.setEnabled(False)

    def _on_started(self, spec: TrainSpec) -> None:
        self.title.setText(f"<b>{spec.name}</b> · {'resuming' if spec.resume else spec.preset}")
        self.bar.setValue(0)
        self.eta.setText("starting...")
        self.cancel.setEnabled(True)
        self.losses.set_curves({})
        self.figures.set_curves({})
        self.log.appendPlainText(f"--- {spec.name}: {spec.out}")

    def _on_progress(self, progress: TrainProgress) -> None:
        self.bar.setValue(round(1000 * progress.fraction))
        self.eta.setText(f"{progress.iteration}/{progress.max_iter} · ETA "
                         f"{format_eta(progress.eta_seconds)}")  # fmt: skip
        losses = {k: (list(map(float, xs)), ys) for k, (xs, ys) in progress.losses.items()}
        self.losses.set_curves(losses)
        figures = {
            k: (list(map(float, xs)), ys)
            for k, (xs, ys) in progress.figures.items()
            if k in FIGURES
        }
        self.figures.set_curves(figures)
        while progress.notes:
            self.log.appendPlainText(progress.notes.pop(0))

    def _on_finished(self, outcome: RunOutcome) -> None:
        self.cancel.setEnabled(False)
        name = outcome.spec.name
        if outcome.status == "failed":
            self.title.setText(f"<b>{name}</b> · <span style='color:#c00'>failed</span>")
            self.eta.setText("failed")
            self.log.appendPlainText(f"{name} failed; the end of its output:\n{outcome.message}")
            self.statusMessage.emit(f"Training {name} failed: see the Training dock.")
        else:
            word = "finished" if outcome.status == "done" else "stopped (resume it from Train...)"
            self.title.setText(f"<b>{name}</b> · {word}")
            self.eta.setText(outcome.status)
            if outcome.status == "done":
                self.bar.setValue(1000)
            self.log.appendPlainText(f"{name} {word}: {outcome.message}")
            self.statusMessage.emit(f"Training {name} {word}.")

    def _refresh_queue(self) -> None:
        self.queue.clear()
        for spec in self.runner.queue:
            self.queue.addItem(f"{spec.name} ({'resume' if spec.resume else spec.preset})")
        self.remove.setEnabled(bool(self.runner.queue))
