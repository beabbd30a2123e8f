"""Model > Runs: the project's runs with their preset, status, figures and checkpoints; open
the run folder, copy the TensorBoard command, delete a run."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from annotator.ui.models.runs import RunInfo, delete_run, list_runs, tensorboard_command

COLUMNS = ("run", "preset", "status", "iteration", "loss", "held-out figures", "checkpoints")


def run_row(run: RunInfo) -> list[str]:
    """The table row of a run."""
    done = f"{run.iteration} / {run.max_iter}" if run.max_iter else str(run.iteration)
    loss = "-" if run.total_loss != run.total_loss else f"{run.total_loss:.3f}"
    names = ", ".join(p.name for p in run.checkpoints) or "-"
    return [run.name, run.preset, run.status, done, loss, run.figures_text(), names]


class RunsDialog(QDialog):
    """The runs under a folder (the project's ``runs``)."""

    statusMessage = Signal(str)

    def __init__(self, folder: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Runs")
        self.resize(980, 360)
        self.folder = folder
        self.runs: list[RunInfo] = []
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.verticalHeader().setVisible(False)
        self.note = QLabel(f"Runs in {folder}")
        self.note.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.open_folder = QPushButton("Open folder")
        self.tensorboard = QPushButton("TensorBoard command")
        self.delete = QPushButton("Delete...")
        self.refresh_button = QPushButton("Refresh")
        buttons = QHBoxLayout()
        for button in (self.open_folder, self.tensorboard, self.delete, self.refresh_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)
        layout.addWidget(self.note)
        self.open_folder.clicked.connect(self._open)
        self.tensorboard.clicked.connect(self._tensorboard)
        self.delete.clicked.connect(self._delete)
        self.refresh_button.clicked.connect(self.refresh)
        self.refresh()

    def refresh(self) -> None:
        self.runs = list_runs(self.folder)
        self.table.setRowCount(len(self.runs))
        for r, run in enumerate(self.runs):
            for c, text in enumerate(run_row(run)):
                self.table.setItem(r, c, QTableWidgetItem(text))
        self.table.resizeColumnsToContents()
        if self.runs and self.table.currentRow() < 0:
            self.table.selectRow(0)

    def selected(self) -> RunInfo | None:
        row = self.table.currentRow()
        return self.runs[row] if 0 <= row < len(self.runs) else None

    def _open(self) -> None:
        run = self.selected()
        if run is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(run.path)))

    def _tensorboard(self) -> None:
        run = self.selected()
        command = tensorboard_command(run.path if run is not None else self.folder)
        QGuiApplication.clipboard().setText(command)
        self.note.setText(f"Copied: {command}")

    def _delete(self) -> None:
        run = self.selected()
        if run is None:
            return
        answer = QMessageBox.question(
            self,
            "Delete run",
            f"Delete the run {run.name} and its {len(run.checkpoints)} checkpoint(s)?\n{run.path}",
        )
        if answer != QMessageBox.StandardButton.Yes:
            return
        try:
            delete_run(run.path)
        except (OSError, ValueError) as exc:
            self.note.setText(f"Could not delete {run.name}: {exc}")
            return
        self.note.setText(f"Deleted {run.name}.")
        self.statusMessage.emit(f"Run {run.name} deleted.")
        self.refresh()
