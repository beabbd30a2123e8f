"""The image list: every image with the state of its tasks, filters, and its persons.

An image is *to do* while one of its persons is (or when it has no person yet),
*segmented* when all its persons are at least segmented, *done* when all are corresponded.
*Gold* images hold at least one gold task.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
    Signal,
)
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from annotator.dataset.records import Person, TaskState
from annotator.ui.session import Session

FILTERS = ("all", "to do", "segmented", "done", "gold")
STATE_WORDS = {
    TaskState.TODO: "to do",
    TaskState.SEGMENTED: "segmented",
    TaskState.CORRESPONDED: "done",
    TaskState.REVIEWED: "reviewed",
}
STATE_COLORS = {
    "no person": QColor(150, 150, 150),
    "to do": QColor(220, 120, 40),
    "segmented": QColor(60, 140, 220),
    "done": QColor(50, 170, 80),
    "reviewed": QColor(50, 170, 80),
}
_Index = QModelIndex | QPersistentModelIndex


@dataclass
class ImageRow:
    """What the list shows of one image."""

    image_id: int
    name: str
    persons: int
    done: int
    state: str  # "no person", "to do", "segmented", "done"
    gold: bool

    @staticmethod
    def of(image_id: int, name: str, persons: list[Person], gold_ids: set[int]) -> ImageRow:
        tasks = [p for p in persons if not p.iscrowd]
        if not tasks:
            state = "no person"
        else:
            lowest = min(p.state for p in tasks)
            state = "done" if lowest >= TaskState.CORRESPONDED else STATE_WORDS[lowest]
        done = sum(p.state >= TaskState.CORRESPONDED for p in tasks)
        gold = any(p.id in gold_ids for p in tasks)
        return ImageRow(image_id, name, len(tasks), done, state, gold)

    def matches(self, filter_name: str) -> bool:
        if filter_name == "to do":
            return self.state in ("no person", "to do")
        if filter_name in ("segmented", "done"):
            return self.state == filter_name
        if filter_name == "gold":
            return self.gold
        return True


class ImageListModel(QAbstractTableModel):
    """One row per image of the project: name, persons, state."""

    HEADERS = ("Image", "Persons", "State")

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[ImageRow] = []
        self._row_of: dict[int, int] = {}

    def load(self, session: Session | None) -> None:
        """Read every image and person of the session's project."""
        self.beginResetModel()
        self.rows = []
        if session is not None:
            by_image: dict[int, list[Person]] = defaultdict(list)
            for person in session.project.iter_persons():
                by_image[person.image_id].append(person)
            gold = session.gold_ids()
            for image in session.images():
                assert image.id is not None
                name = image.file_name or image.path
                self.rows.append(ImageRow.of(image.id, name, by_image.get(image.id, []), gold))
        self._row_of = {r.image_id: k for k, r in enumerate(self.rows)}
        self.endResetModel()

    def refresh(self, session: Session, image_id: int) -> None:
        """Re-read one image's persons."""
        k = self._row_of.get(image_id)
        if k is None:
            return
        old = self.rows[k]
        self.rows[k] = ImageRow.of(
            image_id, old.name, session.persons(image_id), session.gold_ids()
        )
        self.dataChanged.emit(self.index(k, 0), self.index(k, len(self.HEADERS) - 1))

    def row_of(self, image_id: int) -> int | None:
        return self._row_of.get(image_id)

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.HEADERS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = 0) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.HEADERS[section]
        return None

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self.rows[index.row()]
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if col == 0:
                return row.name
            if col == 1:
                return f"{row.done}/{row.persons}" if row.persons else "0"
            return row.state + (" · gold" if row.gold else "")
        if role == Qt.ItemDataRole.ForegroundRole and col == 2:
            return STATE_COLORS.get(row.state)
        if role == Qt.ItemDataRole.UserRole:
            return row.image_id
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"image {row.image_id}: {row.name}"
        return None


class ImageFilter(QSortFilterProxyModel):
    """Shows the images of one filter (see :data:`FILTERS`) whose name holds a text."""

    def __init__(self) -> None:
        super().__init__()
        self.filter_name = "all"
        self.text = ""

    def set_filter(self, name: str) -> None:
        if name not in FILTERS:
            raise ValueError(f"filter must be one of {FILTERS}")
        self.beginFilterChange()
        self.filter_name = name
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def set_text(self, text: str) -> None:
        self.beginFilterChange()
        self.text = text.strip().lower()
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def filterAcceptsRow(self, source_row: int, source_parent: _Index) -> bool:
        model = self.sourceModel()
        assert isinstance(model, ImageListModel)
        row = model.rows[source_row]
        return row.matches(self.filter_name) and (not self.text or self.text in row.name.lower())


class ImageListPanel(QWidget):
    """The image list dock: filter, search, images, and the persons of the current image."""

    imageActivated = Signal(int)
    personActivated = Signal(int)

    def __init__(self) -> None:
        super().__init__()
        self.model = ImageListModel()
        self.proxy = ImageFilter()
        self.proxy.setSourceModel(self.model)
        self.filter = QComboBox()
        self.filter.addItems([f.capitalize() for f in FILTERS])
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search names")
        self.search.setClearButtonEnabled(True)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for col in (1, 2):
            self.table.horizontalHeader().setSectionResizeMode(
                col, QHeaderView.ResizeMode.ResizeToContents
            )
        self.table.setFocusPolicy(Qt.FocusPolicy.ClickFocus)  # letter keys stay shortcuts
        self.persons = QListWidget()
        self.persons.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self._layout()
        self.filter.currentIndexChanged.connect(lambda k: self.proxy.set_filter(FILTERS[k]))
        self.search.textChanged.connect(self.proxy.set_text)
        self.table.clicked.connect(self._on_clicked)
        self.table.selectionModel().currentRowChanged.connect(
            lambda current, _: current.isValid() and self._on_clicked(current)
        )
        self.persons.itemClicked.connect(
            lambda item: self.personActivated.emit(int(item.data(Qt.ItemDataRole.UserRole)))
        )

    def _layout(self) -> None:
        top = QWidget()
        column = QVBoxLayout(top)
        column.setContentsMargins(4, 4, 4, 0)
        row = QHBoxLayout()
        row.addWidget(self.filter)
        row.addWidget(self.search, 1)
        column.addLayout(row)
        column.addWidget(self.table, 1)
        bottom = QWidget()
        column2 = QVBoxLayout(bottom)
        column2.setContentsMargins(4, 0, 4, 4)
        column2.addWidget(QLabel("Persons (Tab: next)"))
        column2.addWidget(self.persons)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(top)
        splitter.addWidget(bottom)
        splitter.setSizes([600, 160])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)

    def set_filter(self, name: str) -> None:
        self.filter.setCurrentIndex(FILTERS.index(name))

    def ordered_ids(self) -> list[int]:
        """Image ids in the order shown (filtered)."""
        return [
            int(self.proxy.index(r, 0).data(Qt.ItemDataRole.UserRole))
            for r in range(self.proxy.rowCount())
        ]

    def select_image(self, image_id: int | None) -> None:
        """Highlight an image's row (without emitting ``imageActivated``)."""
        row = None if image_id is None else self.model.row_of(image_id)
        if row is None:
            self.table.clearSelection()
            return
        index = self.proxy.mapFromSource(self.model.index(row, 0))
        if index.isValid():
            self.table.selectRow(index.row())
            self.table.scrollTo(index)
        else:
            self.table.clearSelection()

    def show_persons(self, persons: list[Person], current: int | None, gold: set[int]) -> None:
        """List the persons of the current image."""
        self.persons.clear()
        for person in persons:
            text = f"#{person.id}  {STATE_WORDS[person.state]}"
            text += " · gold" if person.id in gold else ""
            text += " · crowd" if person.iscrowd else ""
            item = QListWidgetItem(text)
            item.setData(Qt.ItemDataRole.UserRole, person.id)
            if person.iscrowd:
                item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEnabled)
            self.persons.addItem(item)
            if person.id == current:
                item.setSelected(True)
                self.persons.setCurrentItem(item)

    def _on_clicked(self, index: QModelIndex) -> None:
        self.imageActivated.emit(int(index.data(Qt.ItemDataRole.UserRole)))
