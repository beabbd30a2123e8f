"""The free-rotate view of stage 2: drag to turn the part, click to pick.

For points the six fixed views show badly (under an arm, the sole of a foot), the annotator
turns the part freely. A drag changes the azimuth and elevation and asks the render thread for
a quick render without the pick buffer; on release it asks for a full render with the pick
buffer. A click (press and release without moving) picks on the latest full render.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtGui import QColor, QMouseEvent, QPainter
from PySide6.QtWidgets import QWidget

from annotator.surface.views import VIEW_ELEVATION, PartView
from annotator.ui.stage2.view_canvas import ViewCanvas, pick_outside

#: Where the free view starts: between the front and the front-left view, from higher up.
START_AZIMUTH = 30.0
START_ELEVATION = 35.0
#: Degrees of turn per pixel of drag.
DEGREES_PER_PIXEL = 0.5
_DRAG_THRESHOLD = 4.0
_MAX_ELEVATION = 85.0


class RotateView(ViewCanvas):
    """The free-rotate view of the current part.

    Signals:
        renderRequested(float, float, bool): render at (azimuth, elevation), with the pick
            buffer or not.
        picked(SurfacePoints): a click hit the body here.
        missed(str): a click picked nothing, and why.
    """

    renderRequested = Signal(float, float, bool)
    picked = Signal(object)
    missed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.part: int | None = None
        self.azimuth = START_AZIMUTH
        self.elevation = START_ELEVATION
        self._press: QPointF | None = None
        self._press_angles = (self.azimuth, self.elevation)
        self._dragging = False
        self._has_ids = False
        self.setCursor(Qt.CursorShape.OpenHandCursor)
        self.set_placeholder("Free view")

    # -- content ---------------------------------------------------------------------------

    def set_part(self, part: int | None) -> None:
        """Show ``part`` from the starting direction (None: show nothing)."""
        self.part = part
        self.set_view(None)
        self._has_ids = False
        if part is None:
            self.set_placeholder("Free view")
            return
        self.set_placeholder("Rendering the free view…")
        self.reset()

    def reset(self) -> None:
        """Back to the starting direction."""
        self.azimuth, self.elevation = START_AZIMUTH, START_ELEVATION
        if self.part is not None:
            self.renderRequested.emit(self.azimuth, self.elevation, True)

    def turn_to(self, azimuth: float, elevation: float = VIEW_ELEVATION) -> None:
        """Look from (azimuth, elevation), degrees."""
        self.azimuth = azimuth % 360.0
        self.elevation = max(-_MAX_ELEVATION, min(_MAX_ELEVATION, elevation))
        if self.part is not None:
            self.renderRequested.emit(self.azimuth, self.elevation, True)

    def show_render(self, view: PartView) -> None:
        """Show a render that came back from the render thread (other parts are ignored)."""
        if view.part != self.part:
            return
        self._has_ids = bool((view.face >= 0).any())
        self.set_view(view, f"az {view.azimuth:.0f}°  el {view.elevation:.0f}°")

    # -- mouse -----------------------------------------------------------------------------

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() != Qt.MouseButton.LeftButton or self.part is None:
            return super().mousePressEvent(event)
        self._press = event.position()
        self._press_angles = (self.azimuth, self.elevation)
        self._dragging = False
        event.accept()
        return None

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._press is None:
            return super().mouseMoveEvent(event)
        delta = event.position() - self._press
        if not self._dragging and max(abs(delta.x()), abs(delta.y())) < _DRAG_THRESHOLD:
            return None
        if not self._dragging:
            self._dragging = True
            self.setCursor(Qt.CursorShape.ClosedHandCursor)
        az0, el0 = self._press_angles
        self.azimuth = (az0 - delta.x() * DEGREES_PER_PIXEL) % 360.0
        self.elevation = max(
            -_MAX_ELEVATION, min(_MAX_ELEVATION, el0 + delta.y() * DEGREES_PER_PIXEL)
        )
        self.renderRequested.emit(self.azimuth, self.elevation, False)
        return None

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._press is None or event.button() != Qt.MouseButton.LeftButton:
            return super().mouseReleaseEvent(event)
        self._press = None
        self.setCursor(Qt.CursorShape.OpenHandCursor)
        if self._dragging:
            self._dragging = False
            self.renderRequested.emit(self.azimuth, self.elevation, True)
            return None
        pos = self.to_image(event.position())
        if pos is not None:
            self.click(*pos)
        return None

    def click(self, x: float, y: float) -> None:
        """Pick at view-image pixel (x, y), as a click there does."""
        if self.view is None or not self._has_ids:
            self.missed.emit("The free view is still turning: click again in a moment.")
            return
        point, reason = pick_outside(self.view, x, y)
        if point is None:
            self.missed.emit(reason)
        else:
            self.picked.emit(point)

    def paint_extra(self, painter: QPainter) -> None:
        painter.setPen(QColor(170, 170, 170))
        painter.drawText(
            self.rect().adjusted(6, 4, -6, -4),
            Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignBottom,
            "drag to turn · click to pick",
        )
