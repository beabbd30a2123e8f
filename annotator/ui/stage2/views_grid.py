"""The six part views of stage 2 in a grid: a click picks, markers show on all six.

The grid takes the shape (3 x 2, 2 x 3, 6 x 1 or 1 x 6) that gives each view the largest square
in the space it has, so that the square renders are drawn as large as the panel allows.

Picking needs only the numpy buffers of a rendered view (face ids, camera), which the render
thread hands over with the images, so a click is answered here, on the UI thread, in about a
millisecond: no round trip to the render thread.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QMouseEvent, QResizeEvent
from PySide6.QtWidgets import (
    QGridLayout,
    QLabel,
    QProgressBar,
    QStackedLayout,
    QVBoxLayout,
    QWidget,
)

from annotator.surface.points import SurfacePoints
from annotator.surface.views import PartView
from annotator.ui.stage2.view_canvas import ViewCanvas, pick_outside

N_VIEWS = 6
GRID_SPACING = 4


def best_columns(width: int, height: int, n: int = N_VIEWS, spacing: int = GRID_SPACING) -> int:
    """Columns of the grid of ``n`` square views that draws each view largest in width x height."""

    def side(cols: int) -> float:
        rows = -(-n // cols)
        return min((width - spacing * (cols - 1)) / cols, (height - spacing * (rows - 1)) / rows)

    return max((c for c in range(1, n + 1) if n % c == 0), key=side)


class GridView(ViewCanvas):
    """One of the six views; a left click reports the view-image position.

    Signals:
        clicked(float, float): view-image pixel position of a left click on the image.
    """

    clicked = Signal(float, float)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return super().mousePressEvent(event)
        pos = self.to_image(event.position())
        if pos is not None:
            self.clicked.emit(*pos)
        event.accept()
        return None


class ViewsGrid(QWidget):
    """Six views of one coarse part, or a progress placeholder while they are on their way.

    Signals:
        picked(int, SurfacePoints): a click on view k hit the body at this surface point.
        missed(int, str): a click on view k picked nothing, and why (background, inside).
        markersPainted(): every view has painted the latest markers (for benchmarks).
    """

    picked = Signal(int, object)
    missed = Signal(int, str)
    markersPainted = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.views: list[PartView] | None = None
        self._generation = 0
        self._painted: set[int] = set()
        self._stack = QStackedLayout(self)
        self._stack.addWidget(self._make_placeholder())
        grid_page = QWidget()
        self._grid = QGridLayout(grid_page)
        self._grid.setContentsMargins(0, 0, 0, 0)
        self._grid.setSpacing(GRID_SPACING)
        self.canvases: list[GridView] = []
        for k in range(N_VIEWS):
            canvas = GridView()
            canvas.clicked.connect(lambda x, y, k=k: self.click(k, x, y))
            canvas.painted.connect(lambda generation, k=k: self._on_painted(k, generation))
            self.canvases.append(canvas)
        self.columns = 0
        self._arrange(3)
        self._stack.addWidget(grid_page)

    def _arrange(self, columns: int) -> None:
        if columns == self.columns:
            return
        for canvas in self.canvases:
            self._grid.removeWidget(canvas)
        for k, canvas in enumerate(self.canvases):
            self._grid.addWidget(canvas, k // columns, k % columns)
        for i in range(N_VIEWS):  # equal shares, also for rows / columns no longer used
            self._grid.setRowStretch(i, 1 if i < -(-N_VIEWS // columns) else 0)
            self._grid.setColumnStretch(i, 1 if i < columns else 0)
        self.columns = columns

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._arrange(best_columns(event.size().width(), event.size().height()))

    def _make_placeholder(self) -> QWidget:
        page = QWidget()
        page.setObjectName("stage2Placeholder")  # dark like the views it stands for
        page.setStyleSheet(
            "#stage2Placeholder { background: rgb(41, 43, 48); }"
            "#stage2Placeholder QLabel { color: rgb(210, 210, 210); }"
        )
        layout = QVBoxLayout(page)
        layout.addStretch(1)
        self._message = QLabel()
        self._message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._message.setWordWrap(True)
        layout.addWidget(self._message)
        self._busy = QProgressBar()
        self._busy.setRange(0, 0)  # busy indicator: the time a render takes is not known
        self._busy.setMaximumWidth(260)
        self._busy.setTextVisible(False)
        layout.addWidget(self._busy, 0, Qt.AlignmentFlag.AlignHCenter)
        layout.addStretch(1)
        return page

    # -- content ---------------------------------------------------------------------------

    @property
    def message(self) -> str:
        """The text shown instead of the views (empty while the views are shown)."""
        return "" if self.views is not None else self._message.text()

    def show_message(self, text: str, *, busy: bool) -> None:
        """Replace the views by a message (with a busy bar while something is on its way)."""
        self.views = None
        for canvas in self.canvases:
            canvas.set_view(None)
        self._message.setText(text)
        self._busy.setVisible(busy)
        self._stack.setCurrentIndex(0)

    def set_views(self, views: list[PartView]) -> None:
        """Show the six views of a part."""
        self.views = list(views)
        for canvas, view in zip(self.canvases, self.views, strict=True):
            canvas.set_view(view, view.name)
        self._stack.setCurrentIndex(1)

    def set_landmarks(self, landmarks: list[tuple[str, np.ndarray]]) -> None:
        """Joint labels for all six views (see :meth:`ViewCanvas.set_landmarks`)."""
        for canvas in self.canvases:
            canvas.set_landmarks(landmarks)

    def set_markers(self, current: SurfacePoints | None, others: SurfacePoints | None) -> None:
        """Mark the current answer and other answers on all six views."""
        self._generation += 1
        self._painted.clear()
        for canvas in self.canvases:
            canvas.set_markers(current, others, self._generation)

    # -- clicks ----------------------------------------------------------------------------

    def click(self, k: int, x: float, y: float) -> SurfacePoints | None:
        """Pick at view-image pixel (x, y) of view ``k``, as a mouse click there does.

        Returns:
            The surface point (also sent by :attr:`picked`), or None (see :attr:`missed`).
        """
        if self.views is None:
            return None
        point, reason = pick_outside(self.views[k], x, y)
        if point is None:
            self.missed.emit(k, reason)
        else:
            self.picked.emit(k, point)
        return point

    def _on_painted(self, k: int, generation: int) -> None:
        if generation != self._generation or k in self._painted:
            return
        self._painted.add(k)
        if len(self._painted) == N_VIEWS:
            self.markersPainted.emit()
