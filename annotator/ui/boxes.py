"""Person boxes on the canvas: drawing them, and the box tool (draw, move, resize).

:class:`BoxLayer` keeps one :class:`BoxItem` per person of the current image; the box tool
drags on empty canvas to draw a new person, drags a box to move it and a corner or edge to
resize it. Every edit is an undo step saved at once (through the session). Boxes snap to
whole pixels and stay inside the image.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetricsF, QMouseEvent, QPainter, QPen
from PySide6.QtWidgets import (
    QGraphicsItem,
    QStyleOptionGraphicsItem,
    QWidget,
)

from annotator.dataset.records import Box, Person, Proposal, TaskState
from annotator.ui.canvas import Canvas, CanvasTool
from annotator.ui.navigation import Navigator
from annotator.ui.session import Session

SELECTED = QColor(0, 200, 255)
OTHER = QColor(255, 255, 255)
CROWD = QColor(150, 150, 150)
#: A model's proposal waiting for review (dashed, orange; docs/adr/0009).
PROPOSED = QColor(255, 150, 30)
STATE_MARK = {
    TaskState.TODO: "",
    TaskState.SEGMENTED: " · segmented",
    TaskState.CORRESPONDED: " · done",
    TaskState.REVIEWED: " · reviewed",
}
#: Grab distance of box handles, screen pixels.
HANDLE = 7.0
#: Smallest box the tool creates, image pixels.
MIN_SIDE = 4.0


class BoxItem(QGraphicsItem):
    """One person's box with its label; handles when selected and editable."""

    def __init__(self, person: Person, gold: bool, proposal: Proposal | None = None) -> None:
        super().__init__()
        assert person.id is not None
        self.person_id = person.id
        self.crowd = person.iscrowd
        self.proposal = proposal
        self.selected = False
        self.handles = False
        self._rect = QRectF(person.box.x, person.box.y, person.box.w, person.box.h)
        self.setZValue(5)
        self._label = BoxLabel(self)
        gold_mark = " · gold" if gold else ""
        proposed = ""
        if proposal is not None:
            found = "found " if proposal.made_box else ""
            proposed = f" · {found}proposed {proposal.score:.2f}"
        self._text = f"#{person.id}{STATE_MARK[person.state]}{gold_mark}{proposed}"
        self._refresh_label()

    @property
    def rect(self) -> QRectF:
        return QRectF(self._rect)

    def set_rect(self, rect: QRectF) -> None:
        self.prepareGeometryChange()
        self._rect = QRectF(rect)
        self._refresh_label()

    def set_selected(self, selected: bool, handles: bool) -> None:
        self.selected, self.handles = selected, handles
        self.setZValue(6 if selected else 5)
        self._refresh_label()
        self.update()

    def _color(self) -> QColor:
        if self.crowd:
            return CROWD
        if self.proposal is not None:
            return PROPOSED
        return SELECTED if self.selected else OTHER

    def _refresh_label(self) -> None:
        color = self._color()
        self._label.set_text(self._text + (" · crowd" if self.crowd else ""), color)
        self._label.setPos(self._rect.topLeft())

    def boundingRect(self) -> QRectF:
        return self._rect.adjusted(-50, -50, 50, 50)

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        zoom = option.levelOfDetailFromTransform(painter.worldTransform()) or 1.0
        color = self._color()
        style = Qt.PenStyle.DotLine if self.crowd else Qt.PenStyle.SolidLine
        if self.proposal is not None:
            style = Qt.PenStyle.DashLine
        outline = QPen(QColor(0, 0, 0, 160), 4 if self.selected else 3)
        outline.setCosmetic(True)
        painter.setPen(outline)
        painter.drawRect(self._rect)
        pen = QPen(color, 2 if self.selected else 1.5, style)
        pen.setCosmetic(True)
        painter.setPen(pen)
        painter.drawRect(self._rect)
        if self.handles:
            side = 7.0 / zoom
            painter.setBrush(QBrush(color))
            for point in _handle_points(self._rect).values():
                painter.drawRect(QRectF(point.x() - side / 2, point.y() - side / 2, side, side))


class BoxLabel(QGraphicsItem):
    """The person's name tag, just above the box's top-left corner, at screen size."""

    def __init__(self, parent: QGraphicsItem) -> None:
        super().__init__(parent)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
        self._text = ""
        self._color = OTHER
        self._font = QFont()
        self._font.setBold(True)
        self._size = QRectF()

    def set_text(self, text: str, color: QColor) -> None:
        self.prepareGeometryChange()
        self._text, self._color = text, color
        metrics = QFontMetricsF(self._font)
        self._size = QRectF(
            0, -metrics.height() - 4, metrics.horizontalAdvance(text) + 8, metrics.height() + 4
        )
        self.update()

    def boundingRect(self) -> QRectF:
        return self._size

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        painter.fillRect(self._size, QColor(0, 0, 0, 170))
        painter.setFont(self._font)
        painter.setPen(self._color)
        painter.drawText(
            self._size.adjusted(4, 2, -4, -2), Qt.AlignmentFlag.AlignVCenter, self._text
        )


def _handle_points(r: QRectF) -> dict[str, QPointF]:
    cx, cy = r.center().x(), r.center().y()
    return {
        "tl": r.topLeft(),
        "t": QPointF(cx, r.top()),
        "tr": r.topRight(),
        "r": QPointF(r.right(), cy),
        "br": r.bottomRight(),
        "b": QPointF(cx, r.bottom()),
        "bl": r.bottomLeft(),
        "l": QPointF(r.left(), cy),
    }


class BoxLayer(QObject):
    """Keeps the canvas's box items in step with the session and the current person."""

    def __init__(self, canvas: Canvas, navigator: Navigator, parent: QObject | None = None):
        super().__init__(parent)
        self._canvas = canvas
        self._nav = navigator
        self._session: Session | None = None
        self._items: dict[int, BoxItem] = {}
        self.editable = False
        navigator.personChanged.connect(lambda _: self._restyle())

    def set_session(self, session: Session | None) -> None:
        self._session = session
        if session is not None:
            session.personsChanged.connect(self._on_persons_changed)
            session.taskChanged.connect(lambda image_id, _: self._on_persons_changed(image_id))
        self.rebuild()

    def set_editable(self, editable: bool) -> None:
        self.editable = editable
        self._restyle()

    def set_visible(self, visible: bool) -> None:
        for item in self._items.values():
            item.setVisible(visible)

    def rebuild(self) -> None:
        """Recreate the items for the current image."""
        for item in self._items.values():
            self._canvas.scene().removeItem(item)
        self._items.clear()
        image_id = self._nav.image_id
        if self._session is None or image_id is None:
            return
        gold = self._session.gold_ids()
        pending = self._session.pending_proposals(image_id)
        for person in self._session.persons(image_id):
            assert person.id is not None
            item = BoxItem(person, person.id in gold, pending.get(person.id))
            self._canvas.scene().addItem(item)
            self._items[person.id] = item
        self._restyle()

    def item(self, person_id: int) -> BoxItem | None:
        return self._items.get(person_id)

    def items(self) -> list[BoxItem]:
        return list(self._items.values())

    def person_at(self, pos: QPointF) -> int | None:
        """The (non-crowd) person whose box holds ``pos``: the current one first, else the
        smallest."""
        hits = [i for i in self._items.values() if not i.crowd and i.rect.contains(pos)]
        if not hits:
            return None
        for item in hits:
            if item.person_id == self._nav.person_id:
                return item.person_id
        return min(hits, key=lambda i: i.rect.width() * i.rect.height()).person_id

    def _on_persons_changed(self, image_id: int) -> None:
        if image_id == self._nav.image_id:
            self.rebuild()

    def _restyle(self) -> None:
        for pid, item in self._items.items():
            selected = pid == self._nav.person_id
            item.set_selected(selected, selected and self.editable and not item.crowd)


class BoxTool(CanvasTool):
    """Draw a new person box on empty canvas; move or resize boxes."""

    cursor = Qt.CursorShape.CrossCursor

    def __init__(self, layer: BoxLayer, navigator: Navigator, session_of: object) -> None:
        self._layer = layer
        self._nav = navigator
        self._session_of = session_of  # callable returning the current Session
        self._mode: str | None = None  # "new", "move" or a handle name
        self._start = QPointF()
        self._origin = QRectF()
        self._item: BoxItem | None = None
        self._preview: BoxItem | None = None

    def activate(self, canvas: Canvas) -> None:
        self._layer.set_editable(True)

    def deactivate(self, canvas: Canvas) -> None:
        self._layer.set_editable(False)
        self._cancel(canvas)

    def press(self, canvas: Canvas, pos: QPointF, event: QMouseEvent) -> None:
        if event.button() != Qt.MouseButton.LeftButton or self._session() is None:
            return
        self._start = _clamp(pos, canvas)
        handle = self._handle_at(canvas, pos)
        if handle is not None:
            self._mode, self._item = handle
        else:
            pid = self._layer.person_at(pos)
            if pid is not None:
                self._nav.set_person(pid)
                self._mode, self._item = "move", self._layer.item(pid)
            else:
                self._mode = "new"
                self._preview = BoxItem(_dummy_person(self._start), gold=False)
                self._preview.set_selected(True, False)
                canvas.scene().addItem(self._preview)
        if self._item is not None:
            self._origin = self._item.rect

    def move(self, canvas: Canvas, pos: QPointF, event: QMouseEvent) -> None:
        pos = _clamp(pos, canvas)
        if self._mode == "new" and self._preview is not None:
            self._preview.set_rect(QRectF(self._start, pos).normalized())
        elif self._mode == "move" and self._item is not None:
            self._item.set_rect(_moved(self._origin, pos - self._start, canvas))
        elif self._mode is not None and self._item is not None:
            self._item.set_rect(_resized(self._origin, self._mode, pos))

    def release(self, canvas: Canvas, pos: QPointF, event: QMouseEvent) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return
        mode, item, preview = self._mode, self._item, self._preview
        self._cancel(canvas)
        session, image_id = self._session(), self._nav.image_id
        if session is None or image_id is None:
            return
        if mode == "new" and preview is not None:
            rect = _snapped(QRectF(self._start, _clamp(pos, canvas)).normalized())
            if rect.width() >= MIN_SIDE and rect.height() >= MIN_SIDE:
                pid = session.draw_person(image_id, _box(rect))
                self._nav.set_person(pid)
        elif item is not None and mode is not None:
            rect = _snapped(item.rect)
            if rect != _snapped(self._origin) and rect.width() >= 1 and rect.height() >= 1:
                session.edit_box(item.person_id, _box(rect))
            else:
                item.set_rect(self._origin)

    def hover(self, canvas: Canvas, pos: QPointF) -> None:
        handle = self._handle_at(canvas, pos)
        shapes = {
            "tl": Qt.CursorShape.SizeFDiagCursor,
            "br": Qt.CursorShape.SizeFDiagCursor,
            "tr": Qt.CursorShape.SizeBDiagCursor,
            "bl": Qt.CursorShape.SizeBDiagCursor,
            "l": Qt.CursorShape.SizeHorCursor,
            "r": Qt.CursorShape.SizeHorCursor,
            "t": Qt.CursorShape.SizeVerCursor,
            "b": Qt.CursorShape.SizeVerCursor,
        }
        if handle is not None:
            shape = shapes[handle[0]]
        elif self._layer.person_at(pos) is not None:
            shape = Qt.CursorShape.SizeAllCursor
        else:
            shape = Qt.CursorShape.CrossCursor
        canvas.viewport().setCursor(shape)

    def _session(self) -> Session | None:
        session = self._session_of()  # type: ignore[operator]
        return None if session is None or session.readonly else session

    def _handle_at(self, canvas: Canvas, pos: QPointF) -> tuple[str, BoxItem] | None:
        pid = self._nav.person_id
        item = self._layer.item(pid) if pid is not None else None
        if item is None or item.crowd:
            return None
        reach = HANDLE / max(canvas.zoom(), 1e-6)
        for name, point in _handle_points(item.rect).items():
            if abs(point.x() - pos.x()) <= reach and abs(point.y() - pos.y()) <= reach:
                return name, item
        return None

    def _cancel(self, canvas: Canvas) -> None:
        if self._preview is not None:
            canvas.scene().removeItem(self._preview)
        self._mode, self._item, self._preview = None, None, None


def _clamp(pos: QPointF, canvas: Canvas) -> QPointF:
    w, h = canvas.image_size
    return QPointF(min(max(pos.x(), 0.0), float(w)), min(max(pos.y(), 0.0), float(h)))


def _moved(rect: QRectF, delta: QPointF, canvas: Canvas) -> QRectF:
    w, h = canvas.image_size
    dx = min(max(delta.x(), -rect.left()), w - rect.right())
    dy = min(max(delta.y(), -rect.top()), h - rect.bottom())
    return rect.translated(dx, dy)


def _resized(rect: QRectF, handle: str, pos: QPointF) -> QRectF:
    left, top, right, bottom = rect.left(), rect.top(), rect.right(), rect.bottom()
    if "l" in handle:
        left = pos.x()
    if "r" in handle:
        right = pos.x()
    if "t" in handle:
        top = pos.y()
    if "b" in handle:
        bottom = pos.y()
    return QRectF(QPointF(left, top), QPointF(right, bottom)).normalized()


def _snapped(rect: QRectF) -> QRectF:
    return QRectF(
        QPointF(round(rect.left()), round(rect.top())),
        QPointF(round(rect.right()), round(rect.bottom())),
    )


def _box(rect: QRectF) -> Box:
    return Box(rect.x(), rect.y(), rect.width(), rect.height())


def _dummy_person(pos: QPointF) -> Person:
    return Person(image_id=0, box=Box(pos.x(), pos.y(), 1, 1), id=0)
