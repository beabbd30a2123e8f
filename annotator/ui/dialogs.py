"""Small dialogs: keyboard shortcuts, settings, about."""

from __future__ import annotations

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from annotator.ui.actions import MOUSE_HELP
from annotator.ui.settings import THEMES, Settings


class ShortcutsDialog(QDialog):
    """Every keyboard shortcut and mouse gesture of the window."""

    def __init__(
        self,
        actions: list[QAction],
        parent: QWidget | None = None,
        stage2: list[tuple[str, str]] | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        rows: list[tuple[str, str]] = [("", "Everywhere and in stage 1 (parts)")]
        for action in actions:
            keys = ", ".join(
                s.toString(QKeySequence.SequenceFormat.NativeText) for s in action.shortcuts()
            )
            if keys:
                rows.append((keys, action.toolTip().split(" (")[0] or action.text()))
        rows += list(MOUSE_HELP)
        rows.append(("", "Stage 2 (points)"))
        rows += stage2 or [("", "(its keys are listed here once stage 2 has been opened)")]
        self.table = QTableWidget(len(rows), 2)
        self.table.setHorizontalHeaderLabels(["Keys / mouse", "Does"])
        for r, (keys, what) in enumerate(rows):
            self.table.setItem(r, 0, QTableWidgetItem(keys))
            item = QTableWidgetItem(what)
            if not keys:  # a section title
                font = item.font()
                font.setBold(True)
                item.setFont(font)
            self.table.setItem(r, 1, item)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 6)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addWidget(buttons)
        self.resize(620, 640)


class SettingsDialog(QDialog):
    """Annotator name and theme."""

    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.annotator = QLineEdit(settings.annotator)
        self.annotator.setToolTip("Stored with every edit; used to measure annotators")
        self.theme = QComboBox()
        self.theme.addItems(list(THEMES))
        self.theme.setCurrentText(settings.theme)
        form = QFormLayout()
        form.addRow("Annotator name", self.annotator)
        form.addRow("Theme", self.theme)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(
            QLabel("A new annotator name applies from the next project opened or now.")
        )
        layout.addWidget(buttons)

    def values(self) -> tuple[str, str]:
        return self.annotator.text().strip(), self.theme.currentText()


ABOUT = """<h3>DensePose Studio</h3>
<p>Annotate people for DensePose: paint the 14 body parts (stage 1), then click the matching
spot on the body for points sampled in them (stage 2). Every stroke and click is saved to the
project as you make it.</p>"""
