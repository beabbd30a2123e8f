"""The image list: every image with the state of its tasks, filters, and its persons.

An image is *to do* while one of its persons is (or when it has no person yet),
*segmented* when all its persons are at least segmented, *done* when all are corresponded.
*Gold* images hold at least one gold task.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
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

from annotator.dataset.records import ImageTasks, Person, TaskState
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
    def of(name: str, tasks: ImageTasks) -> ImageRow:
        if tasks.lowest is None:
            state = "no person"
        elif tasks.lowest >= TaskState.CORRESPONDED:
            state = "done"
        else:
            state = STATE_WORDS[tasks.lowest]
        return ImageRow(tasks.image_id, name, tasks.tasks, tasks.done, state, tasks.gold)

    def matches(self, filter_name: str) -> bool:
        if filter_name == "to do":
            return self.state in ("no person", "to do")
        if filter_name in ("segmented", "done"):
            return self.state == filter_name
        if filter_name == "gold":
            return self.gold
        return True


class ImageListModel(QAbstractTableModel):
    """The images of the project that pass the filter: name, persons, state.

    Filtering is done here rather than in a QSortFilterProxyModel, whose per-row Python
    callbacks take a second on 50,000 images. A row stays listed until the filter changes,
    even when its state no longer matches: the image the annotator just finished does not
    vanish under the pointer, and "next image" goes on from it.
    """

    HEADERS = ("Image", "Persons", "State")

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[ImageRow] = []  # every image of the project
        self.shown: list[int] = []  # indices into ``rows`` of the listed images
        self.filter_name = "all"
        self.text = ""
        self._row_of: dict[int, int] = {}  # image id -> index into rows
        self._shown_at: dict[int, int] = {}  # image id -> list position

    def load(self, session: Session | None) -> None:
        """Read every image and person of the session's project."""
        rows = []
        if session is not None:
            tasks = {t.image_id: t for t in session.project.image_tasks()}
            for image in session.images():
                assert image.id is not None
                rows.append(ImageRow.of(image.file_name or image.path, tasks[image.id]))
        self.rows = rows
        self._row_of = {r.image_id: k for k, r in enumerate(rows)}
        self._apply_filter()

    def set_filter(self, name: str) -> None:
        """Show one of :data:`FILTERS`."""
        if name not in FILTERS:
            raise ValueError(f"filter must be one of {FILTERS}")
        self.filter_name = name
        self._apply_filter()

    def set_text(self, text: str) -> None:
        """Show only images whose name holds ``text`` (any case)."""
        self.text = text.strip().lower()
        self._apply_filter()

    def _apply_filter(self) -> None:
        self.beginResetModel()
        name, text = self.filter_name, self.text
        self.shown = [
            k
            for k, row in enumerate(self.rows)
            if row.matches(name) and (not text or text in row.name.lower())
        ]
        self._shown_at = {self.rows[k].image_id: i for i, k in enumerate(self.shown)}
        self.endResetModel()

    def ordered_ids(self) -> list[int]:
        """Ids of the listed images, in list order."""
        return [self.rows[k].image_id for k in self.shown]

    def refresh(self, session: Session, image_id: int) -> None:
        """Re-read one image's persons."""
        k = self._row_of.get(image_id)
        if k is None:
            return
        old = self.rows[k]
        (tasks,) = session.project.image_tasks(image_id)
        self.rows[k] = ImageRow.of(old.name, tasks)
        at = self._shown_at.get(image_id)
        if at is not None:
            self.dataChanged.emit(self.index(at, 0), self.index(at, len(self.HEADERS) - 1))

    def position(self, image_id: int) -> int | None:
        """Row of an image in the list, or None if it is not listed."""
        return self._shown_at.get(image_id)

    def row(self, image_id: int) -> ImageRow | None:
        k = self._row_of.get(image_id)
        return None if k is None else self.rows[k]

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.shown)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.HEADERS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = 0) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.HEADERS[section]
        return None

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self.rows[self.shown[index.row()]]
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


class ImageListPanel(QWidget):
    """The image list dock: filter, search, images, and the persons of the current image."""

    imageActivated = Signal(int)
    personActivated = Signal(int)

    def __init__(self) -> None:
        super().__init__()
        self.model = ImageListModel()
        self.filter = QComboBox()
        self.filter.addItems([f.capitalize() for f in FILTERS])
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search names")
        self.search.setClearButtonEnabled(True)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for col, width in ((1, 64), (2, 110)):  # fixed: sizing to contents reads every row
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.Interactive)
            header.resizeSection(col, width)
        self.table.setFocusPolicy(Qt.FocusPolicy.ClickFocus)  # letter keys stay shortcuts
        self.persons = QListWidget()
        self.persons.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self._layout()
        # ``activated``: choosing the same filter again re-applies it (rows are sticky)
        self.filter.activated.connect(lambda k: self.model.set_filter(FILTERS[k]))
        self.search.textChanged.connect(self.model.set_text)
        self.table.clicked.connect(self._on_clicked)
        self.table.selectionModel().currentRowChanged.connect(self._on_current_row)
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
        """Show one of :data:`FILTERS` (again: re-applies it)."""
        self.filter.setCurrentIndex(FILTERS.index(name))
        self.model.set_filter(name)

    def ordered_ids(self) -> list[int]:
        """Image ids in the order shown (filtered)."""
        return self.model.ordered_ids()

    def select_image(self, image_id: int | None) -> None:
        """Highlight an image's row (without emitting ``imageActivated``)."""
        row = None if image_id is None else self.model.position(image_id)
        self.table.blockSignals(True)
        self.table.selectionModel().blockSignals(True)
        if row is None:
            self.table.clearSelection()
        else:
            self.table.selectRow(row)
            self.table.scrollTo(self.model.index(row, 0))
        self.table.selectionModel().blockSignals(False)
        self.table.blockSignals(False)

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

    def _on_current_row(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if current.isValid():
            self._on_clicked(current)

    def _on_clicked(self, index: QModelIndex) -> None:
        self.imageActivated.emit(int(index.data(Qt.ItemDataRole.UserRole)))
