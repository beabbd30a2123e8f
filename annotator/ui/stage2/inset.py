"""The zoomed inset of stage 2: the image around the current point, magnified.

Shows the pixels around the point being annotated with the point marked by a crosshair (open
in the middle, so the pixel itself stays visible), the outline of its part in the stage-1 mask,
and the person's other sample points coloured by state. The wheel (or +/-) zooms.
"""

from __future__ import annotations

import cv2
import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import (
    QColor,
    QImage,
    QPainter,
    QPainterPath,
    QPaintEvent,
    QPen,
    QWheelEvent,
)
from PySide6.QtWidgets import QSizePolicy, QWidget

from annotator.dataset.records import AnswerStatus, PartMask
from annotator.surface.parts import COARSE_COLORS
from annotator.ui.stage2.view_canvas import to_qimage

#: Colour of a sample point by answer state.
STATUS_COLORS = {
    AnswerStatus.UNANSWERED: QColor(240, 240, 240),
    AnswerStatus.ANSWERED: QColor(60, 200, 90),
    AnswerStatus.NOT_VISIBLE: QColor(235, 140, 40),
}
ZOOM_STEPS = (1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0)
_CROSSHAIR = QColor(255, 235, 40)


class InsetView(QWidget):
    """The image around the current point, magnified, with the part outline and points."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._image: QImage | None = None
        self._mask: PartMask | None = None
        self._outlines: dict[int, QPainterPath] = {}
        self._xs = np.zeros(0)
        self._ys = np.zeros(0)
        self._parts = np.zeros(0, np.int64)
        self._statuses = np.zeros(0, np.uint8)
        self._current: int | None = None
        self._zoom_index = ZOOM_STEPS.index(4.0)
        self.setMinimumSize(160, 160)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        self.setToolTip("The image around the current point. Wheel or +/- to zoom.")

    def sizeHint(self) -> QSize:
        return QSize(260, 260)

    # -- content ---------------------------------------------------------------------------

    @property
    def zoom(self) -> float:
        return ZOOM_STEPS[self._zoom_index]

    def set_image(self, image: np.ndarray | None) -> None:
        """The whole image, ``[H, W, 3]`` uint8 RGB (None: no image)."""
        self._image = None if image is None else to_qimage(image)
        self.update()

    def set_mask(self, mask: PartMask | None) -> None:
        """The person's label map in image pixels, for the part outlines."""
        self._mask = mask
        self._outlines.clear()
        self.update()

    def set_points(self, xs: np.ndarray, ys: np.ndarray, parts: np.ndarray) -> None:
        """The person's sample points (image pixels) and their parts."""
        self._xs, self._ys = np.asarray(xs, float), np.asarray(ys, float)
        self._parts = np.asarray(parts, np.int64)
        self._statuses = np.zeros(len(self._xs), np.uint8)
        self._current = None
        self.update()

    def set_statuses(self, statuses: np.ndarray) -> None:
        """Answer state of every sample point."""
        self._statuses = np.asarray(statuses, np.uint8).copy()
        self.update()

    def set_current(self, index: int | None) -> None:
        """The point to centre on (None: none)."""
        self._current = index
        self.update()

    def zoom_by(self, steps: int) -> None:
        """Zoom in (positive steps) or out."""
        self._zoom_index = int(np.clip(self._zoom_index + steps, 0, len(ZOOM_STEPS) - 1))
        self.update()

    def wheelEvent(self, event: QWheelEvent) -> None:
        delta = event.angleDelta().y()
        if delta:
            self.zoom_by(1 if delta > 0 else -1)
        event.accept()

    # -- painting --------------------------------------------------------------------------

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(30, 31, 34))
        if self._image is None or self._current is None or self._current >= len(self._xs):
            painter.setPen(QColor(190, 190, 190))
            text = "No image" if self._image is None else "No point"
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, text)
            painter.end()
            return
        cx, cy = float(self._xs[self._current]), float(self._ys[self._current])
        zoom = self.zoom
        painter.save()
        painter.translate(self.width() / 2, self.height() / 2)
        painter.scale(zoom, zoom)
        painter.translate(-cx, -cy)
        self._draw_image(painter, cx, cy, zoom)
        outline = self._outline(int(self._parts[self._current]))
        if outline is not None:
            color = QColor(*(int(c) for c in COARSE_COLORS[int(self._parts[self._current])]))
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            for pen in (QPen(QColor(0, 0, 0, 170), 4.0), QPen(color, 2.0)):
                pen.setCosmetic(True)  # a dark halo keeps the part colour visible on skin
                painter.strokePath(outline, pen)
        painter.restore()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        self._draw_other_points(painter, cx, cy, zoom)
        self._draw_crosshair(painter, QPointF(self.width() / 2, self.height() / 2))
        self._draw_zoom_label(painter, f"×{zoom:g}")
        painter.end()

    def _draw_zoom_label(self, painter: QPainter, text: str) -> None:
        box = QRectF(painter.fontMetrics().boundingRect(text)).adjusted(-5, -2, 5, 2)
        box.moveBottomLeft(QPointF(5, self.height() - 5))
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(20, 22, 26, 180))
        painter.drawRoundedRect(box, 4, 4)
        painter.setPen(QColor(230, 230, 230))
        painter.drawText(box, Qt.AlignmentFlag.AlignCenter, text)

    def _draw_image(self, painter: QPainter, cx: float, cy: float, zoom: float) -> None:
        assert self._image is not None
        half_w, half_h = self.width() / (2 * zoom) + 1, self.height() / (2 * zoom) + 1
        window = QRectF(cx - half_w, cy - half_h, 2 * half_w, 2 * half_h)
        source = window.intersected(QRectF(0, 0, self._image.width(), self._image.height()))
        if source.isEmpty():
            return
        # Whole pixels at high zoom (the annotator sees exactly which pixel), smooth below.
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, zoom < 3)
        source = QRectF(
            np.floor(source.left()),
            np.floor(source.top()),
            np.ceil(source.right()) - np.floor(source.left()),
            np.ceil(source.bottom()) - np.floor(source.top()),
        ).intersected(QRectF(0, 0, self._image.width(), self._image.height()))
        painter.drawImage(source, self._image, source)

    def _outline(self, part: int) -> QPainterPath | None:
        """The outline of ``part`` in the mask as a path in image pixels (cached per part)."""
        if self._mask is None:
            return None
        if part not in self._outlines:
            inside = (self._mask.labels == part).astype(np.uint8)
            contours, _ = cv2.findContours(inside, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
            path = QPainterPath()
            for contour in contours:
                xy = contour.reshape(-1, 2).astype(float) + 0.5
                xy += (self._mask.x0, self._mask.y0)
                path.moveTo(*xy[0])
                for x, y in xy[1:]:
                    path.lineTo(x, y)
                path.closeSubpath()
            self._outlines[part] = path
        return self._outlines[part]

    def _draw_other_points(self, painter: QPainter, cx: float, cy: float, zoom: float) -> None:
        x = (self._xs - cx) * zoom + self.width() / 2
        y = (self._ys - cy) * zoom + self.height() / 2
        near = (x > -8) & (x < self.width() + 8) & (y > -8) & (y < self.height() + 8)
        painter.setPen(QPen(QColor(0, 0, 0, 160), 1.0))
        for k in np.flatnonzero(near):
            if k == self._current:
                continue
            status = AnswerStatus(int(self._statuses[k])) if k < len(self._statuses) else 0
            painter.setBrush(STATUS_COLORS[AnswerStatus(status)])
            painter.drawEllipse(QPointF(x[k], y[k]), 3.0, 3.0)

    def _draw_crosshair(self, painter: QPainter, centre: QPointF) -> None:
        gap, arm = max(4.0, self.zoom * 0.9), 14.0
        for pen in (QPen(QColor(0, 0, 0, 200), 4.0), QPen(_CROSSHAIR, 2.0)):
            painter.setPen(pen)
            for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1)):
                painter.drawLine(
                    centre + QPointF(dx * gap, dy * gap),
                    centre + QPointF(dx * (gap + arm), dy * (gap + arm)),
                )
