"""What the canvas draws: the image pyramid, part overlays, the point marker, the brush cursor.

Items draw only the part of them that is exposed, so a brush stroke repaints a few hundred
pixels whatever the image size. Above 200 % zoom pixels are drawn as squares (nearest
neighbour); below, the image is smoothed from the pyramid level nearest the zoom.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPen
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem, QWidget

from annotator.surface.parts import COARSE_COLORS, N_COARSE
from annotator.ui.images import LoadedImage
from annotator.ui.label_map import LabelMap, Rect

#: Zoom from which image pixels are drawn as sharp squares.
NEAREST_FROM_ZOOM = 2.0


class ImageItem(QGraphicsItem):
    """The image, drawn from the pyramid level that suits the zoom."""

    def __init__(self, image: LoadedImage) -> None:
        super().__init__()
        self._image = image
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemUsesExtendedStyleOption)
        self.setZValue(0)

    def boundingRect(self) -> QRectF:
        return QRectF(0, 0, self._image.width, self._image.height)

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        if not self._image.levels:
            return
        zoom = option.levelOfDetailFromTransform(painter.worldTransform())
        level = 0
        while level + 1 < len(self._image.levels) and zoom <= 0.5 ** (level + 1):
            level += 1
        source_image = self._image.levels[level]
        exposed = option.exposedRect.intersected(self.boundingRect())
        if exposed.isEmpty():
            return
        fx = source_image.width() / self._image.width
        fy = source_image.height() / self._image.height
        source = QRectF(
            exposed.x() * fx, exposed.y() * fy, exposed.width() * fx, exposed.height() * fy
        )
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, zoom < NEAREST_FROM_ZOOM)
        painter.drawImage(exposed, source_image, source)


def part_lut(visible: np.ndarray | None = None) -> np.ndarray:
    """``[15, 4]`` uint8 BGRA colours of the labels (label 0 and hidden parts transparent).

    Args:
        visible: ``[15]`` bool, which labels to show (default: all parts).
    """
    lut = np.zeros((N_COARSE + 1, 4), np.uint8)
    lut[:, :3] = COARSE_COLORS[:, ::-1]
    lut[:, 3] = 255
    lut[0] = 0
    if visible is not None:
        lut[~np.asarray(visible, bool)] = 0
    return lut


class OverlayItem(QGraphicsItem):
    """A person's label map drawn in the part colours, over the person's box region.

    The colour image is kept in a numpy array shared with a QImage, and refreshed only in the
    rectangle a stroke changed.
    """

    def __init__(self, label_map: LabelMap, lut: np.ndarray) -> None:
        super().__init__()
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemUsesExtendedStyleOption)
        self.setZValue(1)
        self._lut = lut
        self._map = label_map
        self._rgba = np.zeros((0, 0, 4), np.uint8)
        self._qimage = QImage()
        self.set_label_map(label_map)

    @property
    def label_map(self) -> LabelMap:
        return self._map

    def set_label_map(self, label_map: LabelMap) -> None:
        """Show another map (or the same one after its region changed)."""
        self.prepareGeometryChange()
        self._map = label_map
        h, w = label_map.labels.shape
        self._rgba = np.zeros((h, w, 4), np.uint8)
        self._qimage = QImage(
            self._rgba.data, w, h, 4 * w, QImage.Format.Format_ARGB32_Premultiplied
        )
        self.setPos(label_map.x0, label_map.y0)
        self.refresh(None)

    def set_lut(self, lut: np.ndarray) -> None:
        self._lut = lut
        self.refresh(None)

    def refresh(self, rect: Rect | None) -> None:
        """Recolour ``rect`` (image pixels; None = everything) from the label map."""
        area = self._map.region if rect is None else rect.intersect(self._map.region)
        if area.empty:
            return
        local = self._map.local(area)
        rows, cols = local.slices()
        self._rgba[rows, cols] = self._lut[self._map.labels[rows, cols]]
        self.update(QRectF(local.x0, local.y0, local.width, local.height))

    def boundingRect(self) -> QRectF:
        h, w = self._map.labels.shape
        return QRectF(0, 0, w, h)

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        exposed = option.exposedRect.intersected(self.boundingRect()).toAlignedRect()
        if exposed.isEmpty():
            return
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        painter.drawImage(QRectF(exposed), self._qimage, QRectF(exposed))


class MarkerItem(QGraphicsItem):
    """The stage-2 point being answered: a ring that keeps its size on screen."""

    RADIUS = 9.0

    def __init__(self) -> None:
        super().__init__()
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
        self.setZValue(10)
        self.hide()

    def boundingRect(self) -> QRectF:
        r = self.RADIUS + 3
        return QRectF(-r, -r, 2 * r, 2 * r)

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        r = self.RADIUS
        painter.setPen(QPen(QColor(0, 0, 0), 4))
        painter.drawEllipse(QPointF(0, 0), r, r)
        painter.setPen(QPen(QColor(255, 255, 0), 2))
        painter.drawEllipse(QPointF(0, 0), r, r)
        painter.drawLine(QPointF(-3, 0), QPointF(3, 0))
        painter.drawLine(QPointF(0, -3), QPointF(0, 3))


class BrushCursorItem(QGraphicsItem):
    """A circle of the brush's diameter (image pixels) following the pointer."""

    def __init__(self) -> None:
        super().__init__()
        self.setZValue(9)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self._diameter = 10.0
        self._color = QColor(255, 255, 255)
        self.hide()

    def set_brush(self, diameter: float, color: QColor) -> None:
        self.prepareGeometryChange()
        self._diameter = max(1.0, diameter)
        self._color = color
        self.update()

    def boundingRect(self) -> QRectF:
        r = self._diameter / 2 + 2
        return QRectF(-r, -r, 2 * r, 2 * r)

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        r = self._diameter / 2
        black = QPen(QColor(0, 0, 0, 200), 0)
        black.setCosmetic(True)
        painter.setPen(black)
        painter.drawEllipse(QPointF(0, 0), r, r)
        pen = QPen(self._color, 0, Qt.PenStyle.DashLine)
        pen.setCosmetic(True)
        painter.setPen(pen)
        painter.drawEllipse(QPointF(0, 0), r, r)
