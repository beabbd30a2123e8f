"""Model > Evaluate...: a checkpoint on a data set, then its figures in the Evaluation dock.

The dialog picks the checkpoint and the data (the project's gold tasks, a run's held-out
split, or any DensePose-COCO file or synthetic folder); the dock shows the AP table, the
per-part errors, the RCP curves and, on gold tasks, the heat map of the model's errors on the
body next to the people's (the Accuracy panel's picture: one ruler for both).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDockWidget,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from annotator.ui.models.eval_core import AP_COLUMNS, PART_COLUMNS, EvaluationView
from annotator.ui.models.plots import CurvePlot
from annotator.ui.models.runs import RunInfo

GOLD = "The project's gold tasks"
HELD_OUT = "The run's held-out split"
FILE = "A DensePose-COCO file or synthetic folder"


@dataclass
class EvaluateChoice:
    """Which checkpoint on which data.

    Attributes:
        checkpoint: the checkpoint file.
        source: GOLD, HELD_OUT or FILE.
        data, images: the data of FILE (and HELD_OUT, filled from the run).
        heatmap: also measure it on the gold tasks for the heat maps.
    """

    checkpoint: Path
    source: str
    data: Path | None = None
    images: Path | None = None
    heatmap: bool = True


def imported_zoo_models() -> dict[str, Path]:
    """``zoo:NAME`` -> checkpoint of the detectron2 zoo models imported on this machine."""
    from model.zoo.catalog import ZOO
    from model.zoo.local import imported_checkpoint

    paths = {f"zoo:{m.name}": imported_checkpoint(m) for m in ZOO}
    return {name: path for name, path in paths.items() if path.is_file()}


class EvaluateDialog(QDialog):
    """Choose a checkpoint and the data to evaluate it on."""

    def __init__(self, runs: list[RunInfo], has_gold: bool, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Evaluate a model")
        self.runs = runs
        self.has_gold = has_gold
        self.checkpoint = QComboBox()
        self.checkpoint.setEditable(True)
        for run in runs:
            for ckpt in reversed(run.checkpoints):
                self.checkpoint.addItem(f"{run.name}/{ckpt.name}", str(ckpt))
        for name, path in imported_zoo_models().items():
            self.checkpoint.addItem(name, str(path))
        self.source = QComboBox()
        self.source.addItems(([GOLD] if has_gold else []) + [HELD_OUT, FILE])
        self.data = QLineEdit()
        self.images = QLineEdit()
        self.images.setPlaceholderText("(default: next to the data)")
        self.heatmap = QCheckBox("Heat map on the gold tasks, next to the annotators'")
        self.heatmap.setChecked(has_gold)
        self.heatmap.setEnabled(has_gold)
        browse = QPushButton("File...")
        browse.clicked.connect(self._browse)
        data_row = QHBoxLayout()
        data_row.addWidget(self.data, 1)
        data_row.addWidget(browse)
        form = QFormLayout()
        form.addRow("Checkpoint", self.checkpoint)
        form.addRow("Data", self.source)
        form.addRow("  file or folder", data_row)
        form.addRow("  images", self.images)
        form.addRow("", self.heatmap)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(buttons)

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Data", "", "JSON (*.json)")
        if path:
            self.data.setText(path)

    def choice(self) -> EvaluateChoice:
        """The evaluation asked for.

        Raises:
            ValueError: no checkpoint, or data missing.
        """
        text = self.checkpoint.currentData() or self.checkpoint.currentText()
        checkpoint = Path(str(text).strip())
        if not str(text).strip() or not checkpoint.exists():
            raise ValueError(f"choose a checkpoint: {text or 'none'} does not exist")
        source = self.source.currentText()
        choice = EvaluateChoice(checkpoint, source, heatmap=self.heatmap.isChecked())
        if source == HELD_OUT:
            run = next((r for r in self.runs if checkpoint.parent == r.path), None)
            val = _held_out(run)
            if val is None:
                raise ValueError(f"{checkpoint.parent.name} was trained without a held-out split")
            choice.data, choice.images = val
        elif source == FILE:
            data = self.data.text().strip()
            if not data or not Path(data).exists():
                raise ValueError(f"choose the data: {data or 'nothing given'} does not exist")
            choice.data = Path(data)
            choice.images = Path(self.images.text()) if self.images.text().strip() else None
        return choice


def _held_out(run: RunInfo | None) -> tuple[Path, Path | None] | None:
    import json

    if run is None:
        return None
    try:
        record = json.loads((run.path / "run.json").read_text())
    except (OSError, ValueError):
        return None
    if not record.get("val"):
        return None
    images = record.get("val_images")
    return Path(record["val"]), Path(images) if images else None


class EvaluationDock(QDockWidget):
    """The figures of the last evaluation."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Evaluation", parent)
        self.setObjectName("evaluation-dock")
        self.title = QLabel("Model > Evaluate... shows a checkpoint's figures here.")
        self.title.setWordWrap(True)
        self.ap = _table(["mode", *AP_COLUMNS])
        self.parts = _table(["part", *PART_COLUMNS])
        self.people = _table(["part", *PART_COLUMNS])
        self.rcp = CurvePlot("ratio of correct points", "geodesic error (cm)", "RCP", fraction=True)
        self.heatmaps = QHBoxLayout()
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.addWidget(self.title)
        layout.addWidget(QLabel("<b>AP</b> (percent)"))
        layout.addWidget(self.ap)
        layout.addWidget(QLabel("<b>Model: per part</b>"))
        layout.addWidget(self.parts)
        layout.addWidget(self.rcp)
        layout.addWidget(QLabel("<b>Errors on the body</b> (gold tasks: model | people)"))
        layout.addLayout(self.heatmaps)
        layout.addWidget(QLabel("<b>People on the same gold tasks: per part</b>"))
        layout.addWidget(self.people)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(body)
        self.setWidget(scroll)

    def show_message(self, text: str) -> None:
        self.title.setText(text)

    def show_view(self, view: EvaluationView) -> None:
        self.title.setText(f"<b>{view.title}</b>")
        _fill(self.ap, view.ap_rows)
        _fill(self.parts, view.part_rows)
        _fill(self.people, view.people_rows)
        self.rcp.set_curves(view.rcp)
        while self.heatmaps.count():
            item = self.heatmaps.takeAt(0)
            if item is not None and item.widget() is not None:
                item.widget().deleteLater()  # type: ignore[union-attr]
        for name, file in view.heatmaps:
            label = QLabel()
            label.setObjectName(f"heatmap-{name}")
            label.setPixmap(
                QPixmap(str(file)).scaledToWidth(420, Qt.TransformationMode.SmoothTransformation)
            )
            label.setToolTip(f"{name}: {file}")
            self.heatmaps.addWidget(label)


def _table(header: list[str]) -> QTableWidget:
    table = QTableWidget(0, len(header))
    table.setHorizontalHeaderLabels(header)
    table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
    table.verticalHeader().setVisible(False)
    table.setMinimumHeight(110)
    return table


def _fill(table: QTableWidget, rows: list[list[str]]) -> None:
    table.setRowCount(len(rows))
    for r, row in enumerate(rows):
        for c, text in enumerate(row):
            item = QTableWidgetItem(text)
            if c:
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            table.setItem(r, c, item)
    table.resizeColumnsToContents()
