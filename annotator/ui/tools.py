"""Stage-1 canvas tools: brush, eraser, polygon fill and flood fill.

Each tool paints on the current person's label map through a :class:`PaintContext` (the
stage-1 controller) and hands every finished step to the session, which makes it an undo
step and saves it. A press outside the current person's box but inside another person's box
selects that person instead of painting.
"""

from __future__ import annotations

from typing import Protocol

from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QColor, QKeyEvent, QMouseEvent, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsPathItem

from annotator.ui.canvas import Canvas, CanvasTool
from annotator.ui.label_map import LabelMap, Rect
from annotator.ui.paint_tools import Patch, Stroke, fill_polygon, flood_fill
from annotator.ui.undo import stroke_text


class PaintContext(Protocol):
    """What the tools need of the stage-1 controller."""

    part: int
    brush_size: float

    def target(self, pos: QPointF) -> LabelMap | None:
        """The current person's map if ``pos`` may paint on it (else maybe select)."""
        ...

    def paint_over(self, erase: bool) -> frozenset[int] | None: ...

    def painted(self, rect: Rect | None) -> None: ...

    def commit(self, patch: Patch | None, what: str) -> None: ...

    def part_color(self, part: int) -> QColor: ...


class BrushTool(CanvasTool):
    """Paint (left button) or erase (right button, or as the eraser) along the pointer."""

    cursor = Qt.CursorShape.BlankCursor

    def __init__(self, ctx: PaintContext, *, eraser: bool = False) -> None:
        self._ctx = ctx
        self.eraser = eraser
        self._stroke: Stroke | None = None
        self._erasing = False

    def activate(self, canvas: Canvas) -> None:
        self._update_cursor(canvas)

    def deactivate(self, canvas: Canvas) -> None:
        self._end()
        canvas.brush_cursor.hide()

    def press(self, canvas: Canvas, pos: QPointF, event: QMouseEvent) -> None:
        if event.button() not in (Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton):
            return
        self._end()
        label_map = self._ctx.target(pos)
        if label_map is None:
            return
        self._erasing = self.eraser or event.button() == Qt.MouseButton.RightButton
        value = 0 if self._erasing else self._ctx.part
        paint_over = self._ctx.paint_over(self._erasing)
        self._stroke = Stroke(label_map, value, self._ctx.brush_size, paint_over)
        self._ctx.painted(self._stroke.move_to(pos.x(), pos.y()))
        self._update_cursor(canvas, pos)

    def move(self, canvas: Canvas, pos: QPointF, event: QMouseEvent) -> None:
        self._update_cursor(canvas, pos)
        if self._stroke is not None:
            self._ctx.painted(self._stroke.move_to(pos.x(), pos.y()))

    def release(self, canvas: Canvas, pos: QPointF, event: QMouseEvent) -> None:
        self._end()
        self._update_cursor(canvas, pos)

    def hover(self, canvas: Canvas, pos: QPointF) -> None:
        self._update_cursor(canvas, pos)

    def leave(self, canvas: Canvas) -> None:
        canvas.brush_cursor.hide()

    def refresh_cursor(self, canvas: Canvas) -> None:
        """The brush size or part changed."""
        self._update_cursor(canvas)

    def _end(self) -> None:
        stroke, self._stroke = self._stroke, None
        if stroke is not None:
            what = "eraser" if self._erasing else "brush"
            self._ctx.commit(stroke.finish(), stroke_text(what, stroke.value))

    def _update_cursor(self, canvas: Canvas, pos: QPointF | None = None) -> None:
        erasing = self.eraser or (self._erasing and self._stroke is not None)
        color = QColor(255, 255, 255) if erasing else self._ctx.part_color(self._ctx.part)
        canvas.brush_cursor.set_brush(self._ctx.brush_size, color)
        if pos is not None:
            canvas.brush_cursor.setPos(pos)
            canvas.brush_cursor.show()


class PolygonTool(CanvasTool):
    """Click corners; close by clicking the first corner, double-clicking or Enter.

    Backspace removes the last corner, Escape cancels. The polygon is filled with the
    current part (right-click to close it as an eraser polygon).
    """

    def __init__(self, ctx: PaintContext) -> None:
        self._ctx = ctx
        self._points: list[QPointF] = []
        self._preview: QGraphicsPathItem | None = None
        self._canvas: Canvas | None = None
        self._hover: QPointF | None = None

    def activate(self, canvas: Canvas) -> None:
        self._canvas = canvas
        self._preview = QGraphicsPathItem()
        self._preview.setZValue(8)
        canvas.scene().addItem(self._preview)

    def deactivate(self, canvas: Canvas) -> None:
        self._points.clear()
        if self._preview is not None:
            canvas.scene().removeItem(self._preview)
            self._preview = None

    def press(self, canvas: Canvas, pos: QPointF, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.RightButton:
            self._close(erase=True)
            return
        if event.button() != Qt.MouseButton.LeftButton:
            return
        if not self._points and self._ctx.target(pos) is None:
            return
        if len(self._points) >= 3 and canvas.view_pixels(_distance(pos, self._points[0])) < 8:
            self._close(erase=False)
            return
        self._points.append(pos)
        self._redraw()

    def double_click(self, canvas: Canvas, pos: QPointF, event: QMouseEvent) -> None:
        self._close(erase=False)

    def hover(self, canvas: Canvas, pos: QPointF) -> None:
        self._hover = pos
        if self._points:
            self._redraw()

    def key(self, canvas: Canvas, event: QKeyEvent) -> bool:
        if not self._points:
            return False
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self._close(erase=False)
        elif event.key() == Qt.Key.Key_Escape:
            self._points.clear()
            self._redraw()
        elif event.key() == Qt.Key.Key_Backspace:
            self._points.pop()
            self._redraw()
        else:
            return False
        return True

    @property
    def corners(self) -> int:
        return len(self._points)

    def _close(self, *, erase: bool) -> None:
        points = [(p.x(), p.y()) for p in self._points]
        self._points.clear()
        self._redraw()
        if len(points) < 3:
            return
        label_map = self._ctx.target(QPointF(*points[0]))
        if label_map is None:
            return
        value = 0 if erase else self._ctx.part
        patch = fill_polygon(label_map, points, value, self._ctx.paint_over(erase))
        if patch is not None:
            self._ctx.painted(patch.rect)
        self._ctx.commit(patch, stroke_text("polygon", value))

    def _redraw(self) -> None:
        if self._preview is None:
            return
        path = QPainterPath()
        if self._points:
            path.moveTo(self._points[0])
            for p in self._points[1:]:
                path.lineTo(p)
            if self._hover is not None:
                path.lineTo(self._hover)
        pen = QPen(self._ctx.part_color(self._ctx.part), 2)
        pen.setCosmetic(True)
        self._preview.setPen(pen)
        self._preview.setPath(path)


class FillTool(CanvasTool):
    """Click to fill the region of equal labels under the pointer (right-click: clear it)."""

    cursor = Qt.CursorShape.PointingHandCursor

    def __init__(self, ctx: PaintContext) -> None:
        self._ctx = ctx

    def press(self, canvas: Canvas, pos: QPointF, event: QMouseEvent) -> None:
        if event.button() not in (Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton):
            return
        label_map = self._ctx.target(pos)
        if label_map is None:
            return
        value = 0 if event.button() == Qt.MouseButton.RightButton else self._ctx.part
        allowed = self._ctx.paint_over(value == 0)
        col, row = int(pos.x()) - label_map.x0, int(pos.y()) - label_map.y0
        h, w = label_map.labels.shape
        inside = 0 <= col < w and 0 <= row < h
        if allowed is not None and inside and int(label_map.labels[row, col]) not in allowed:
            return  # a protected part
        patch = flood_fill(label_map, pos.x(), pos.y(), value)
        if patch is not None:
            self._ctx.painted(patch.rect)
        self._ctx.commit(patch, stroke_text("fill", value))


def _distance(a: QPointF, b: QPointF) -> float:
    d = a - b
    return float((d.x() ** 2 + d.y() ** 2) ** 0.5)
