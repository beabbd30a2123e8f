"""Model > Train...: preset, data, iterations, device, resume; the answer is a run to queue."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from annotator.ui.models.runs import RunInfo
from annotator.ui.models.train_core import TrainSpec, next_run_name

PROJECT_DATA = "This project (exported now, split by image)"
FILE_DATA = "A DensePose-COCO file or a synthetic folder"
NEW_RUN = "New run"


@dataclass
class TrainChoice:
    """What the dialog asks for: the run, and whether to export the project as its data.

    Attributes:
        spec: the run (``data`` None when the project is exported first).
        export_project: export the open project (training + held-out files) before starting.
        held_out: share of the project's images held out for evaluation.
    """

    spec: TrainSpec
    export_project: bool = False
    held_out: float = 0.2


def presets() -> list[tuple[str, str]]:
    """``(name, description)`` of the shipped presets (model.config imports no torch)."""
    from model.config import load_config, preset_names

    out = []
    for name in preset_names():
        try:
            out.append((name, load_config(name).description))
        except Exception as exc:  # a broken preset must not break the dialog
            out.append((name, f"(cannot read: {exc})"))
    return out


class TrainDialog(QDialog):
    """The Train dialog.

    Args:
        runs_dir: where new runs go (the project's ``runs`` folder).
        runs: the existing runs (any with a checkpoint can be resumed, a finished one to
            train longer with more iterations).
        has_project: a project is open (its data can be exported).
    """

    def __init__(
        self, runs_dir: Path, runs: list[RunInfo], has_project: bool, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Train a model")
        self.runs_dir = runs_dir
        self.runs = {r.name: r for r in runs if r.checkpoints}  # a done run can train longer
        self.preset = QComboBox()
        for name, description in presets():
            self.preset.addItem(name, name)
            self.preset.setItemData(self.preset.count() - 1, description, 3)  # ToolTipRole
        cpu = self.preset.findText("densepose_rcnn_R_18_FPN_cpu")
        self.preset.setCurrentIndex(max(cpu, 0))
        self.name = QLineEdit()
        self.resume = QComboBox()
        self.resume.addItems([NEW_RUN, *self.runs])
        self.source = QComboBox()
        self.source.addItems([PROJECT_DATA, FILE_DATA] if has_project else [FILE_DATA])
        self.data = QLineEdit()
        self.data.setPlaceholderText("densepose.json or a `dpstudio synth` folder")
        self.images = QLineEdit()
        self.images.setPlaceholderText("(default: next to the data)")
        self.val = QLineEdit()
        self.val.setPlaceholderText("(optional) held-out JSON or synthetic folder")
        self.held_out = QDoubleSpinBox()
        self.held_out.setRange(0.0, 0.9)
        self.held_out.setSingleStep(0.05)
        self.held_out.setValue(0.2)
        self.iterations = QSpinBox()
        self.iterations.setRange(0, 10_000_000)
        self.iterations.setSpecialValueText("the preset's")
        self.eval_period = QSpinBox()
        self.eval_period.setRange(0, 1_000_000)
        self.eval_period.setSpecialValueText("never")
        self.device = QComboBox()
        self.device.addItems(["auto", "cuda", "cpu"])
        self.gpus = QSpinBox()
        self.gpus.setRange(1, 64)
        self.weights = QComboBox()
        self.weights.addItems(["the preset's", "none", "imagenet", "coco"])
        self.overrides = QPlainTextEdit()
        self.overrides.setPlaceholderText("key=value per line, e.g. solver.base_lr=0.005")
        self.overrides.setMaximumHeight(90)
        self._build()

    def _build(self) -> None:
        form = QFormLayout()
        form.addRow("Resume", self.resume)
        form.addRow("Run name", self.name)
        form.addRow("Preset", self.preset)
        form.addRow("Data", self.source)
        form.addRow("  file or folder", self._browse_row(self.data, folder_too=True))
        form.addRow("  images", self._browse_row(self.images))
        form.addRow("  held-out data", self._browse_row(self.val, folder_too=True))
        form.addRow("  held out (project)", self.held_out)
        form.addRow("Iterations", self.iterations)
        form.addRow("Evaluate every", self.eval_period)
        form.addRow("Device", self.device)
        form.addRow("GPUs (processes)", self.gpus)
        form.addRow("Starting weights", self.weights)
        form.addRow("Other settings", self.overrides)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        ok = buttons.button(QDialogButtonBox.StandardButton.Ok)
        ok.setText("Queue")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(buttons)
        self.preset.currentIndexChanged.connect(self._suggest_name)
        self.resume.currentIndexChanged.connect(self._sync)
        self.source.currentIndexChanged.connect(self._sync)
        self._suggest_name()
        self._sync()

    def _browse_row(self, edit: QLineEdit, folder_too: bool = False) -> QWidget:
        row = QWidget()
        layout = QHBoxLayout(row)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(edit, 1)
        browse = QPushButton("File..." if folder_too else "Folder...")
        layout.addWidget(browse)
        if folder_too:
            browse.clicked.connect(lambda: self._pick_file(edit))
            folder = QPushButton("Folder...")
            folder.clicked.connect(lambda: self._pick_folder(edit))
            layout.addWidget(folder)
        else:
            browse.clicked.connect(lambda: self._pick_folder(edit))
        return row

    def _pick_file(self, edit: QLineEdit) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "DensePose-COCO file", "", "JSON (*.json)")
        if path:
            edit.setText(path)

    def _pick_folder(self, edit: QLineEdit) -> None:
        path = QFileDialog.getExistingDirectory(self, "Folder")
        if path:
            edit.setText(path)

    def _suggest_name(self) -> None:
        short = self.preset.currentText().removeprefix("densepose_rcnn_")
        self.name.setText(next_run_name(self.runs_dir, short))

    def _sync(self) -> None:
        new = self.resume.currentText() == NEW_RUN
        from_file = self.source.currentText() == FILE_DATA
        for widget in (self.name, self.preset, self.source, self.weights, self.held_out):
            widget.setEnabled(new)
        for widget in (self.data, self.images, self.val):
            widget.setEnabled(new and from_file)
        self.held_out.setEnabled(new and not from_file)

    def choice(self) -> TrainChoice:
        """The run asked for (call after the dialog was accepted).

        Raises:
            ValueError: a field is missing or wrong (the message says which).
        """
        overrides = [
            line.strip() for line in self.overrides.toPlainText().splitlines() if line.strip()
        ]
        bad = [line for line in overrides if "=" not in line]
        if bad:
            raise ValueError(f"'{bad[0]}' is not a key=value setting")
        common = dict(
            iterations=self.iterations.value() or None,
            device=self.device.currentText(),
            gpus=self.gpus.value(),
            eval_period=self.eval_period.value(),
            overrides=overrides,
        )
        if self.resume.currentText() != NEW_RUN:
            run = self.runs[self.resume.currentText()]
            return TrainChoice(TrainSpec(out=run.path, resume=True, **common))  # type: ignore[arg-type]
        name = self.name.text().strip()
        if not name or "/" in name:
            raise ValueError("give the run a name (a folder name)")
        if (self.runs_dir / name).exists():
            raise ValueError(f"{self.runs_dir / name} exists already: choose another name")
        weights = None if self.weights.currentIndex() == 0 else self.weights.currentText()
        spec = TrainSpec(
            out=self.runs_dir / name,
            preset=str(self.preset.currentData()),
            weights=weights,
            **common,  # type: ignore[arg-type]
        )
        if self.source.currentText() == PROJECT_DATA:
            return TrainChoice(spec, export_project=True, held_out=self.held_out.value())
        data = self.data.text().strip()
        if not data or not Path(data).exists():
            raise ValueError(f"choose the training data: {data or 'nothing given'} does not exist")
        spec.data = Path(data)
        spec.images = Path(self.images.text().strip()) if self.images.text().strip() else None
        val = self.val.text().strip()
        if val and not Path(val).exists():
            raise ValueError(f"the held-out data {val} does not exist")
        spec.val = Path(val) if val else None
        return TrainChoice(spec)
