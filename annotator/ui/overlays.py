"""Part masks over the image: one overlay per person of the current image.

The current person's parts are drawn at the chosen opacity, the other persons' fainter.
Parts can be hidden one by one; the whole overlay can be hidden (the M key).
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject

from annotator.surface.parts import N_COARSE
from annotator.ui.canvas import Canvas
from annotator.ui.canvas_items import OverlayItem, part_lut
from annotator.ui.label_map import Rect
from annotator.ui.navigation import Navigator
from annotator.ui.session import Session

#: Opacity of other persons' parts relative to the current person's.
OTHERS = 0.45


class OverlayLayer(QObject):
    """Keeps the canvas's part overlays in step with the session's label maps."""

    def __init__(self, canvas: Canvas, navigator: Navigator, parent: QObject | None = None):
        super().__init__(parent)
        self._canvas = canvas
        self._nav = navigator
        self._session: Session | None = None
        self._items: dict[int, OverlayItem] = {}
        self.opacity = 0.55
        self.shown = True
        self.visible_parts = np.ones(N_COARSE + 1, bool)
        self._lut = part_lut(self.visible_parts)
        navigator.personChanged.connect(lambda _: self._restyle())

    def set_session(self, session: Session | None) -> None:
        self._session = session
        if session is not None:
            session.maskChanged.connect(self._on_mask_changed)
            session.personsChanged.connect(self._on_persons_changed)
        self.rebuild()

    def rebuild(self) -> None:
        """Recreate the overlays for the current image."""
        for item in self._items.values():
            self._canvas.scene().removeItem(item)
        self._items.clear()
        image_id = self._nav.image_id
        if self._session is None or image_id is None:
            return
        for person in self._session.persons(image_id):
            if person.iscrowd or person.id is None:
                continue
            item = OverlayItem(self._session.label_map(person.id), self._lut)
            self._canvas.scene().addItem(item)
            self._items[person.id] = item
        self._restyle()

    def item(self, person_id: int) -> OverlayItem | None:
        return self._items.get(person_id)

    def set_opacity(self, opacity: float) -> None:
        self.opacity = min(max(opacity, 0.0), 1.0)
        self._restyle()

    def set_shown(self, shown: bool) -> None:
        self.shown = shown
        self._restyle()

    def set_part_visible(self, part: int, visible: bool) -> None:
        self.visible_parts[part] = visible
        self._lut = part_lut(self.visible_parts)
        for item in self._items.values():
            item.set_lut(self._lut)

    def _on_mask_changed(self, person_id: int, rect: Rect | None) -> None:
        item = self._items.get(person_id)
        if item is None or self._session is None:
            return
        label_map = self._session.label_map(person_id)
        if rect is None or label_map is not item.label_map:
            item.set_label_map(label_map)
        else:
            item.refresh(rect)

    def _on_persons_changed(self, image_id: int) -> None:
        if image_id == self._nav.image_id:
            self.rebuild()

    def _restyle(self) -> None:
        for pid, item in self._items.items():
            current = pid == self._nav.person_id
            item.setOpacity(self.opacity * (1.0 if current else OTHERS))
            item.setZValue(2 if current else 1)
            item.setVisible(self.shown)
