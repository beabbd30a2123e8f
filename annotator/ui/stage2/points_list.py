"""The point walk of stage 2 at a glance: one small cell per sample point, coloured by state.

Cells follow the task order and are grouped by part; the current point has a bright frame.
A click on a cell jumps to that point.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPaintEvent, QPen, QResizeEvent
from PySide6.QtWidgets import QSizePolicy, QToolTip, QWidget

from annotator.dataset.records import AnswerStatus
from annotator.surface.parts import COARSE_PARTS
from annotator.ui.stage2.inset import STATUS_COLORS

_CELL = 13
_GAP = 3
_PART_GAP = 9
_STATUS_NAMES = {
    AnswerStatus.UNANSWERED: "to do",
    AnswerStatus.ANSWERED: "answered",
    AnswerStatus.NOT_VISIBLE: "not visible / unsure",
}


class PointStrip(QWidget):
    """One cell per sample point, wrapping over lines.

    Signals:
        pointActivated(int): the cell of this point was clicked.
    """

    pointActivated = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._parts = np.zeros(0, np.int64)
        self._statuses = np.zeros(0, np.uint8)
        self._current: int | None = None
        self._rects: list[QRect] = []
        self.setMouseTracking(True)
        sizing = QSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        sizing.setHeightForWidth(True)
        self.setSizePolicy(sizing)

    def set_points(self, parts: np.ndarray, statuses: np.ndarray) -> None:
        """The parts and states of all points, in task order."""
        self._parts = np.asarray(parts, np.int64)
        self._statuses = np.asarray(statuses, np.uint8).copy()
        self._current = None
        self._rects = self._layout(self.width())[0]
        self.updateGeometry()
        self.update()

    def set_statuses(self, statuses: np.ndarray) -> None:
        self._statuses = np.asarray(statuses, np.uint8).copy()
        self.update()

    def set_current(self, index: int | None) -> None:
        self._current = index
        self.update()

    # -- layout ----------------------------------------------------------------------------

    def _layout(self, width: int) -> tuple[list[QRect], int]:
        """The cells for a widget ``width`` wide, and the height they need."""
        rects = []
        x = y = 2
        width = max(width, _CELL + 4)
        for k, part in enumerate(self._parts):
            if k and part != self._parts[k - 1]:
                x += _PART_GAP - _GAP
            if x + _CELL > width - 2 and x > 2:
                x, y = 2, y + _CELL + _GAP
            rects.append(QRect(x, y, _CELL, _CELL))
            x += _CELL + _GAP
        return rects, (y + _CELL + 2 if len(self._parts) else 0)

    def hasHeightForWidth(self) -> bool:
        return True

    def heightForWidth(self, width: int) -> int:
        return self._layout(width)[1]

    def sizeHint(self) -> QSize:
        return QSize(300, max(self.heightForWidth(300), _CELL + 4))

    def minimumSizeHint(self) -> QSize:
        return QSize(100, _CELL + 4)

    def resizeEvent(self, event: QResizeEvent) -> None:
        self._rects = self._layout(self.width())[0]
        super().resizeEvent(event)

    # -- painting and mouse ----------------------------------------------------------------

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        for k, rect in enumerate(self._rects):
            status = AnswerStatus(int(self._statuses[k]))
            if status == AnswerStatus.UNANSWERED:
                painter.setPen(QPen(QColor(150, 150, 150), 1.0))
                painter.setBrush(Qt.BrushStyle.NoBrush)
                painter.drawRect(rect.adjusted(0, 0, -1, -1))
            else:
                painter.fillRect(rect, STATUS_COLORS[status])
        if self._current is not None and self._current < len(self._rects):
            painter.setPen(QPen(QColor(255, 235, 40), 2.0))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRect(self._rects[self._current].adjusted(-2, -2, 1, 1))
        painter.end()

    def _cell_at(self, event: QMouseEvent) -> int | None:
        pos = event.position().toPoint()
        for k, rect in enumerate(self._rects):
            if rect.adjusted(-1, -1, 1, 1).contains(pos):
                return k
        return None

    def mousePressEvent(self, event: QMouseEvent) -> None:
        k = self._cell_at(event)
        if k is not None and event.button() == Qt.MouseButton.LeftButton:
            self.pointActivated.emit(k)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        k = self._cell_at(event)
        if k is None:
            QToolTip.hideText()
            return
        status = _STATUS_NAMES[AnswerStatus(int(self._statuses[k]))]
        text = f"Point {k + 1} · {COARSE_PARTS[int(self._parts[k]) - 1]} · {status}"
        QToolTip.showText(event.globalPosition().toPoint(), text, self)
