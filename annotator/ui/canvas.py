"""The image canvas: zoom and pan, and mouse events handed to the active tool.

Wheel zooms about the pointer; the middle button, or the left button with Space held, pans;
``fit`` shows the whole image. Everything else of the mouse and keyboard goes to the active
:class:`CanvasTool` (stage-1 tools, the box tool), in image pixel coordinates.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRect, QRectF, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QResizeEvent,
    QWheelEvent,
)
from PySide6.QtWidgets import QFrame, QGraphicsScene, QGraphicsView, QLabel, QWidget

from annotator.ui.canvas_items import BrushCursorItem, ImageItem, MarkerItem
from annotator.ui.images import LoadedImage

MIN_ZOOM, MAX_ZOOM = 0.01, 64.0


class CanvasTool:
    """Base of the canvas tools: each handler gets the position in image pixels."""

    cursor = Qt.CursorShape.CrossCursor

    def activate(self, canvas: Canvas) -> None:
        """The tool became active."""

    def deactivate(self, canvas: Canvas) -> None:
        """Another tool replaces it (cancel anything half done)."""

    def press(self, canvas: Canvas, pos: QPointF, event: QMouseEvent) -> None: ...

    def move(self, canvas: Canvas, pos: QPointF, event: QMouseEvent) -> None: ...

    def release(self, canvas: Canvas, pos: QPointF, event: QMouseEvent) -> None: ...

    def double_click(self, canvas: Canvas, pos: QPointF, event: QMouseEvent) -> None: ...

    def hover(self, canvas: Canvas, pos: QPointF) -> None: ...

    def leave(self, canvas: Canvas) -> None: ...

    def key(self, canvas: Canvas, event: QKeyEvent) -> bool:
        """Handle a key; return True if used."""
        return False


class Canvas(QGraphicsView):
    """Shows one image with its overlays; zoom, pan, and the active tool."""

    zoomChanged = Signal(float)  # screen pixels per image pixel
    cursorMoved = Signal(float, float)  # image pixels; (-1, -1) when the pointer leaves

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setObjectName("canvas")
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.NoAnchor)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.MinimalViewportUpdate)
        self.setOptimizationFlag(QGraphicsView.OptimizationFlag.DontSavePainterState, True)
        self.setBackgroundBrush(QColor(58, 58, 62))
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self._image_item: ImageItem | None = None
        self._image_size = (0, 0)
        self._tool: CanvasTool | None = None
        self._panning: QPointF | None = None
        self._space = False
        self._fitted = True
        self.paints = 0
        self.marker = MarkerItem()
        self.brush_cursor = BrushCursorItem()
        self.scene().addItem(self.marker)
        self.scene().addItem(self.brush_cursor)
        self._message = QLabel(self.viewport())
        self._message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._message.setWordWrap(True)
        self._message.setStyleSheet("color: #ddd; font-size: 15px;")
        self._message.hide()

    # -- content ---------------------------------------------------------------------------

    def set_image(self, image: LoadedImage | None, message: str = "") -> None:
        """Show ``image`` (None: only ``message``), fitted to the view."""
        if self._image_item is not None:
            self.scene().removeItem(self._image_item)
            self._image_item = None
        if image is not None and image.levels:
            self._image_item = ImageItem(image)
            self.scene().addItem(self._image_item)
            self._image_size = (image.width, image.height)
            w, h = image.width, image.height
            margin = max(w, h)
            self.setSceneRect(QRectF(-margin, -margin, w + 2 * margin, h + 2 * margin))
            self.fit()
        self.set_message(message if image is None or not image.levels else "")

    @property
    def image_size(self) -> tuple[int, int]:
        """(width, height) of the shown image."""
        return self._image_size

    def has_image(self) -> bool:
        return self._image_item is not None

    def set_message(self, text: str) -> None:
        """A line of text over the canvas (empty hides it)."""
        self._message.setText(text)
        self._message.setVisible(bool(text))
        self._message.setGeometry(self.viewport().rect().adjusted(20, 20, -20, -20))

    def show_marker(self, x: float, y: float) -> None:
        """Show the stage-2 marker at image ``(x, y)``; negative hides it."""
        if x < 0 or y < 0:
            self.marker.hide()
            return
        self.marker.setPos(x, y)
        self.marker.show()
        view_rect = self.mapToScene(self.viewport().rect()).boundingRect()
        if not view_rect.contains(QPointF(x, y)):
            self.centerOn(x, y)

    # -- zoom and pan ----------------------------------------------------------------------

    def zoom(self) -> float:
        """Screen pixels per image pixel."""
        return float(self.transform().m11())

    def fit(self) -> None:
        """Show the whole image."""
        w, h = self._image_size
        if w and h:
            self.fitInView(
                QRectF(0, 0, w, h).adjusted(-8, -8, 8, 8), Qt.AspectRatioMode.KeepAspectRatio
            )
        self._fitted = True
        self.zoomChanged.emit(self.zoom())

    def ensure_visible(self, rect: QRectF) -> None:
        """Fit ``rect`` (image pixels) in the view if part of it is off screen."""
        view_rect = self.mapToScene(self.viewport().rect()).boundingRect()
        if rect.isEmpty() or view_rect.contains(rect):
            return
        margin = 0.08 * max(rect.width(), rect.height())
        self.fitInView(
            rect.adjusted(-margin, -margin, margin, margin), Qt.AspectRatioMode.KeepAspectRatio
        )
        self._fitted = False
        self.zoomChanged.emit(self.zoom())

    def set_zoom(self, zoom: float, anchor: QPointF | None = None) -> None:
        """Set the zoom, keeping the image point under ``anchor`` (view pixels) in place."""
        zoom = min(max(zoom, MIN_ZOOM), MAX_ZOOM)
        anchor = anchor if anchor is not None else QPointF(self.viewport().rect().center())
        before = self.image_pos(anchor)
        factor = zoom / self.zoom()
        self.scale(factor, factor)
        shift = self.view_pos(before) - anchor
        self._scroll(shift.x(), shift.y())
        self._fitted = False
        self.zoomChanged.emit(self.zoom())

    def zoom_by(self, factor: float, anchor: QPointF | None = None) -> None:
        self.set_zoom(self.zoom() * factor, anchor)

    def pan_by(self, dx: float, dy: float) -> None:
        """Move the image by ``(dx, dy)`` screen pixels."""
        self._scroll(-dx, -dy)
        self._fitted = False

    def _scroll(self, dx: float, dy: float) -> None:
        h, v = self.horizontalScrollBar(), self.verticalScrollBar()
        h.setValue(h.value() + round(dx))
        v.setValue(v.value() + round(dy))

    # -- tools -----------------------------------------------------------------------------

    def set_tool(self, tool: CanvasTool | None) -> None:
        if self._tool is not None:
            self._tool.deactivate(self)
        self._tool = tool
        if tool is not None:
            tool.activate(self)
        self._update_cursor()

    @property
    def tool(self) -> CanvasTool | None:
        return self._tool

    def image_pos(self, view_pos: QPointF) -> QPointF:
        """Image pixels under a viewport position (sub-pixel exact)."""
        inverse, _ = self.viewportTransform().inverted()
        return inverse.map(view_pos)

    def view_pos(self, image_pos: QPointF) -> QPointF:
        """Viewport position of an image point."""
        return self.viewportTransform().map(image_pos)

    def view_pixels(self, image_pixels: float) -> float:
        """An image length in screen pixels."""
        return image_pixels * self.zoom()

    def _update_cursor(self) -> None:
        if self._panning is not None:
            shape = Qt.CursorShape.ClosedHandCursor
        elif self._space:
            shape = Qt.CursorShape.OpenHandCursor
        elif self._tool is not None:
            shape = self._tool.cursor
        else:
            shape = Qt.CursorShape.ArrowCursor
        self.viewport().setCursor(shape)

    # -- events ----------------------------------------------------------------------------

    def _scene_pos(self, event: QMouseEvent) -> QPointF:
        return self.image_pos(event.position())

    def wheelEvent(self, event: QWheelEvent) -> None:
        delta = event.angleDelta().y() or event.angleDelta().x()
        if delta:
            self.zoom_by(1.0015**delta, event.position())
        event.accept()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self.setFocus()
        button = event.button()
        if button == Qt.MouseButton.MiddleButton or (
            button == Qt.MouseButton.LeftButton and self._space
        ):
            self._panning = event.position()
            self._update_cursor()
        elif self._tool is not None and self.has_image():
            self._tool.press(self, self._scene_pos(event), event)
        event.accept()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        pos = self._scene_pos(event)
        if self._panning is not None:
            delta = event.position() - self._panning
            self._panning = event.position()
            self.pan_by(delta.x(), delta.y())
        elif self._tool is not None and self.has_image():
            if event.buttons() & (Qt.MouseButton.LeftButton | Qt.MouseButton.RightButton):
                self._tool.move(self, pos, event)
            else:
                self._tool.hover(self, pos)
        self.cursorMoved.emit(pos.x(), pos.y())
        event.accept()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._panning is not None and event.button() in (
            Qt.MouseButton.MiddleButton,
            Qt.MouseButton.LeftButton,
        ):
            self._panning = None
            self._update_cursor()
        elif self._tool is not None and self.has_image():
            self._tool.release(self, self._scene_pos(event), event)
        event.accept()

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        if self._tool is not None and self.has_image():
            self._tool.double_click(self, self._scene_pos(event), event)
        event.accept()

    def leaveEvent(self, event: object) -> None:
        if self._tool is not None:
            self._tool.leave(self)
        self.cursorMoved.emit(-1.0, -1.0)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = True
            self._update_cursor()
            return
        if self._tool is not None and self._tool.key(self, event):
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = False
            self._update_cursor()
            return
        super().keyReleaseEvent(event)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._message.setGeometry(self.viewport().rect().adjusted(20, 20, -20, -20))
        if self._fitted:
            self.fit()

    def drawBackground(self, painter: QPainter, rect: QRectF | QRect) -> None:
        painter.fillRect(rect, self.backgroundBrush())

    def drawForeground(self, painter: QPainter, rect: QRectF | QRect) -> None:
        self.paints += 1  # a finished frame (benchmarks wait for it)
