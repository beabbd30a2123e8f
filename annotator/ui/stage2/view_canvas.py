"""One part view on screen: the rendered image, scaled to fit, with surface points marked.

:class:`ViewCanvas` shows a :class:`~annotator.surface.views.PartView` and draws, with
QPainter over the image, where surface points fall in it: the current answer as a big dot
(filled where the point is visible from this side, a hollow ring where the body hides it) and
the person's other answers on the same part as small dim dots. It maps widget positions to
view-image pixels and back; the six-view grid and the free-rotate view build on it.

Landmarks (the joints at the ends of the part, such as "L elbow" and "L wrist", or the
shoulders and hips of the torso) are labelled on the views so that the ends of a limb and the
person's left and right are never in doubt.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPaintEvent, QPen, QPixmap
from PySide6.QtWidgets import QSizePolicy, QWidget

from annotator.surface.points import SurfacePoints
from annotator.surface.views import PartView

#: Marker colours (RGB): the current answer, other answers of the person.
CURRENT_COLOR = QColor(255, 48, 48)
OTHER_COLOR = QColor(255, 205, 70, 200)
_BACKGROUND = QColor(41, 43, 48)
_OUTLINE = QColor(255, 255, 255)


#: How much deeper (metres) than its other-side twin a joint is to count as on the far side.
FAR_SIDE = 0.05


def near_side(joints: list[str], depth: np.ndarray) -> np.ndarray:
    """Which joint labels to draw plainly: all but those of a left / right pair whose twin is
    at least FAR_SIDE nearer (the far shoulder in a side view). Joints lie inside the body,
    so the rendered surface cannot tell; the twin can, whatever the camera's elevation."""
    at = {name: k for k, name in enumerate(joints)}
    near = np.ones(len(joints), bool)
    for k, name in enumerate(joints):
        side, _, rest = name.partition("_")
        twin = at.get({"left": "right_", "right": "left_"}.get(side, "?") + rest)
        if twin is not None and depth[k] > depth[twin] + FAR_SIDE:
            near[k] = False
    return near


def landmark_label(joint: str) -> str:
    """``"left_elbow"`` -> ``"L elbow"`` (the person's own left)."""
    side, _, name = joint.partition("_")
    return f"{side[0].upper()} {name}"


def _same_points(a: SurfacePoints | None, b: SurfacePoints | None) -> bool:
    if a is None or b is None:
        return a is b
    return bool(np.array_equal(a.face, b.face) and np.array_equal(a.bary, b.bary))


def pick_outside(view: PartView, x: float, y: float) -> tuple[SurfacePoints | None, str]:
    """The surface point clicked at view-image pixel (x, y), or None with the reason.

    A click on the inside of the skin (seen through the neck or an arm hole) is refused: the
    spot the annotator sees there is not the outside of the body they match.
    """
    point = view.pick(x, y)
    if point is None:
        return None, "That click missed the body: click on the part itself."
    if not view.facing(point)[0]:
        return None, (
            "That is the inside of the body, seen through an opening: click the outside, "
            "or turn the free view."
        )
    return point, ""


def to_qimage(image: np.ndarray) -> QImage:
    """A QImage owning a copy of an ``[H, W, 3]`` uint8 RGB array."""
    rgb = np.ascontiguousarray(image, dtype=np.uint8)
    h, w = rgb.shape[:2]
    return QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


class ViewCanvas(QWidget):
    """A part view scaled to fit the widget, with markers.

    Signals:
        painted(int): the widget painted the markers of this generation
            (see :meth:`set_markers`).
    """

    painted = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.view: PartView | None = None
        self._image: QImage | None = None
        self._backdrop: QPixmap | None = None  # image, labels, title: see _make_backdrop
        self._title = ""
        self._placeholder = ""
        self._points: tuple[SurfacePoints | None, SurfacePoints | None] = (None, None)
        self._current = (np.zeros((0, 2)), np.zeros(0, bool))
        self._others = (np.zeros((0, 2)), np.zeros(0, bool))
        self._landmarks: list[tuple[str, np.ndarray]] = []
        self._landmark_xy = np.zeros((0, 2))
        self._landmark_near = np.zeros(0, bool)
        self._generation = 0
        self.setMinimumSize(120, 120)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)

    def sizeHint(self) -> QSize:
        return QSize(240, 240)

    def hasHeightForWidth(self) -> bool:
        return True

    def heightForWidth(self, width: int) -> int:
        return width

    # -- content ---------------------------------------------------------------------------

    def set_view(self, view: PartView | None, title: str = "") -> None:
        """Show ``view`` (None: show the placeholder text instead)."""
        self.view = view
        self._image = None if view is None else to_qimage(view.image)
        self._backdrop = None
        self._title = title
        self._reproject()
        self.update()

    def set_placeholder(self, text: str) -> None:
        """Text shown while there is no view."""
        self._placeholder = text
        self.update()

    def set_markers(
        self, current: SurfacePoints | None, others: SurfacePoints | None, generation: int = 0
    ) -> None:
        """Mark the current answer and the person's other answers on this view.

        Args:
            current: the current point's picked surface point (one), or None.
            others: other picked surface points to show small and dim, or None.
            generation: echoed by :attr:`painted` once these markers are on screen.
        """
        old_current, old_others = self._points
        self._points = (current, others)
        self._generation = generation
        # Only what changed is projected again (a pick changes the current point only).
        if not _same_points(current, old_current):
            self._current = self._project(current)
        if not _same_points(others, old_others):
            self._others = self._project(others)
        self.update()

    def set_landmarks(self, landmarks: list[tuple[str, np.ndarray]]) -> None:
        """Labels to draw at 3D positions (model coordinates, metres), e.g. joints."""
        self._landmarks = list(landmarks)
        self._backdrop = None
        self._reproject()
        self.update()

    @property
    def current_marker(self) -> tuple[np.ndarray, np.ndarray]:
        """Where the current answer is marked: view-image positions ``[0 or 1, 2]`` and
        whether it is visible from this side ``[0 or 1]`` (a dot) or hidden (a ring)."""
        return self._current

    @property
    def other_markers(self) -> tuple[np.ndarray, np.ndarray]:
        """Where the person's other answers are marked: positions ``[N, 2]``, visible ``[N]``."""
        return self._others

    def _reproject(self) -> None:
        current, others = self._points
        self._current = self._project(current)
        self._others = self._project(others)
        if self.view is None or not self._landmarks:
            self._landmark_xy = np.zeros((0, 2))
            self._landmark_near = np.zeros(0, bool)
        else:
            positions = np.array([p for _, p in self._landmarks])
            self._landmark_xy, depth = self.view.camera.project(positions)
            self._landmark_near = near_side([n for n, _ in self._landmarks], depth)

    def _project(self, points: SurfacePoints | None) -> tuple[np.ndarray, np.ndarray]:
        if self.view is None or points is None or len(points) == 0:
            return np.zeros((0, 2)), np.zeros(0, bool)
        return self.view.project(points)

    # -- geometry --------------------------------------------------------------------------

    def image_rect(self) -> QRectF:
        """Where the view image is drawn in the widget (aspect kept, centred, whole pixels)."""
        if self.view is None:
            return QRectF(self.rect())
        h, w = self.view.image.shape[:2]
        scale = min(self.width() / w, self.height() / h)
        dw, dh = max(1, round(w * scale)), max(1, round(h * scale))
        return QRectF((self.width() - dw) // 2, (self.height() - dh) // 2, dw, dh)

    def to_image(self, pos: QPointF) -> tuple[float, float] | None:
        """View-image pixel position of a widget position, or None outside the image."""
        if self.view is None:
            return None
        rect = self.image_rect()
        h, w = self.view.image.shape[:2]
        x = (pos.x() - rect.x()) * w / rect.width()
        y = (pos.y() - rect.y()) * h / rect.height()
        return (x, y) if 0 <= x < w and 0 <= y < h else None

    def to_widget(self, x: float, y: float) -> QPointF:
        """Widget position of a view-image pixel position."""
        rect = self.image_rect()
        assert self.view is not None
        h, w = self.view.image.shape[:2]
        return QPointF(rect.x() + x * rect.width() / w, rect.y() + y * rect.height() / h)

    # -- painting --------------------------------------------------------------------------

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        if self._image is None:
            painter.fillRect(self.rect(), _BACKGROUND)
            painter.setPen(QColor(200, 200, 200))
            painter.drawText(
                self.rect(),
                Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                self._placeholder,
            )
            painter.end()
            return
        ratio = self.devicePixelRatioF()
        if self._backdrop is None or self._backdrop.size() != self.size() * ratio:
            self._backdrop = self._make_backdrop(ratio)
        painter.drawPixmap(0, 0, self._backdrop)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        self._draw_points(painter, *self._others, radius=3.5, color=OTHER_COLOR, outline=1.0)
        self._draw_points(painter, *self._current, radius=6.5, color=CURRENT_COLOR, outline=2.0)
        self.paint_extra(painter)
        painter.end()
        self.painted.emit(self._generation)

    def _make_backdrop(self, ratio: float) -> QPixmap:
        """What changes only with the view, its labels or the widget's size, drawn once: the
        scaled image, the landmark labels, the title. Markers go over it at each paint."""
        assert self._image is not None
        pixmap = QPixmap(self.size() * ratio)
        pixmap.setDevicePixelRatio(ratio)
        pixmap.fill(_BACKGROUND)
        painter = QPainter(pixmap)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        painter.drawImage(self.image_rect(), self._image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        self._draw_landmarks(painter)
        if self._title:
            painter.setPen(QColor(220, 220, 220))
            painter.drawText(
                self.rect().adjusted(6, 4, -6, -4),
                Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop,
                self._title,
            )
        painter.end()
        return pixmap

    def paint_extra(self, painter: QPainter) -> None:
        """Subclasses draw more here (over the markers)."""

    def _draw_landmarks(self, painter: QPainter) -> None:
        if not len(self._landmark_xy):
            return
        assert self.view is not None
        h, w = self.view.image.shape[:2]
        metrics = painter.fontMetrics()
        # Far-side labels faint and first, so that the near side's are read on top of them.
        order = np.argsort(self._landmark_near, kind="stable")
        for k in order:
            (x, y), near = self._landmark_xy[k], bool(self._landmark_near[k])
            if not (0 <= x < w and 0 <= y < h):
                continue
            centre = self.to_widget(float(x), float(y))
            text = landmark_label(self._landmarks[k][0])
            box = QRectF(metrics.boundingRect(text)).adjusted(-4, -1, 4, 1)
            box.moveCenter(centre)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor(20, 22, 26, 170 if near else 70))
            painter.drawRoundedRect(box, 4, 4)
            painter.setPen(QColor(150, 210, 255, 255 if near else 110))
            painter.drawText(box, Qt.AlignmentFlag.AlignCenter, text)

    @property
    def landmarks_near(self) -> list[str]:
        """The joints labelled on the near side of the part in this view (the others faint)."""
        return [
            name
            for (name, _), near in zip(self._landmarks, self._landmark_near, strict=True)
            if near
        ]

    def _draw_points(
        self,
        painter: QPainter,
        xy: np.ndarray,
        visible: np.ndarray,
        *,
        radius: float,
        color: QColor,
        outline: float,
    ) -> None:
        halo = QColor(_OUTLINE)
        halo.setAlpha(color.alpha())
        for (x, y), seen in zip(xy, visible, strict=True):
            centre = self.to_widget(float(x), float(y))
            if not self.rect().contains(centre.toPoint()):
                continue
            painter.setPen(QPen(halo, outline + 2.0))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawEllipse(centre, radius + 1.0, radius + 1.0)
            if seen:
                painter.setPen(Qt.PenStyle.NoPen)
                painter.setBrush(color)
                painter.drawEllipse(centre, radius, radius)
            else:  # behind the body from this side: a ring
                painter.setPen(QPen(color, max(outline, 2.0)))
                painter.drawEllipse(centre, radius - 1.0, radius - 1.0)
