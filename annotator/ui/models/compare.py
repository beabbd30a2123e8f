"""Model > Compare...: ``dpstudio model compare`` on chosen runs, its report shown in a dock.

The report folder holds ``report.html`` (with its PNG plots beside it), ``report.md`` and
``report.csv``; the dock shows the HTML (or the Markdown when there is no HTML) with its
pictures, offline.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QUrl
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDockWidget,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from annotator.ui.models.runs import RunInfo


def report_file(folder: Path) -> Path | None:
    """The report page of a comparison folder: ``report.html``, else ``report.md``."""
    for name in ("report.html", "report.md"):
        if (folder / name).is_file():
            return folder / name
    return None


GOLD = "The project's gold tasks"
FILE = "A DensePose-COCO file or synthetic folder"


class CompareDialog(QDialog):
    """Pick the runs to compare (their final or latest checkpoints) and the common data."""

    def __init__(self, runs: list[RunInfo], has_gold: bool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Compare models")
        self.runs = [r for r in runs if r.checkpoints]
        self.list = QListWidget()
        for run in self.runs:
            item = QListWidgetItem(
                f"{run.name} · {run.preset} · {run.status} · {run.figures_text()}"
            )
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked)
            self.list.addItem(item)
        self.source = QComboBox()
        self.source.addItems(([GOLD] if has_gold else []) + [FILE])
        self.data = QLineEdit()
        self.data.setPlaceholderText("densepose.json or a `dpstudio synth` folder")
        self.timing = QCheckBox("Also time a few training iterations of each run")
        self.timing.setChecked(True)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Runs to compare on the same data:"))
        layout.addWidget(self.list)
        layout.addWidget(self.source)
        layout.addWidget(self.data)
        layout.addWidget(self.timing)
        layout.addWidget(buttons)

    def data_path(self) -> Path | None:
        """The data file or folder (None: the project's gold tasks).

        Raises:
            ValueError: a file was asked for and does not exist.
        """
        if self.source.currentText() == GOLD:
            return None
        text = self.data.text().strip()
        if not text or not Path(text).exists():
            raise ValueError(f"choose the data: {text or 'nothing given'} does not exist")
        return Path(text)

    def chosen(self) -> list[RunInfo]:
        return [
            run
            for k, run in enumerate(self.runs)
            if self.list.item(k).checkState() == Qt.CheckState.Checked
        ]


class ReportDock(QDockWidget):
    """Shows a comparison report folder."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Comparison", parent)
        self.setObjectName("comparison-dock")
        self.browser = QTextBrowser()
        self.browser.setOpenExternalLinks(True)
        self.browser.setPlainText("Model > Compare... shows the comparison of runs here.")
        self.setWidget(self.browser)
        self.folder: Path | None = None

    def show_message(self, text: str) -> None:
        self.browser.setPlainText(text)

    def show_report(self, folder: Path) -> bool:
        """Show the report in ``folder``; False when there is none."""
        page = report_file(folder)
        if page is None:
            self.browser.setPlainText(f"{folder} holds no report.html or report.md.")
            return False
        self.folder = folder
        self.browser.setSearchPaths([str(folder)])
        text = page.read_text(errors="replace")
        if page.suffix == ".html":
            self.browser.document().setBaseUrl(QUrl.fromLocalFile(str(folder) + "/"))
            self.browser.setHtml(text)
        else:
            self.browser.setMarkdown(text)
        return True
