"""Undo steps of stage 1 and of person boxes, one QUndoCommand per stroke or box edit.

A stroke stores only its changed rectangle, before and after (a :class:`Patch`). Every undo
and redo is saved to the project like the stroke itself. The stacks live in the session, one
per image, so undo survives switching images (docs/adr/0006).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtGui import QUndoCommand

from annotator.dataset.records import Box
from annotator.surface.parts import coarse_name
from annotator.ui.label_map import LabelMap
from annotator.ui.paint_tools import Patch
from annotator.ui.snapshot import PersonSnapshot

if TYPE_CHECKING:
    from annotator.ui.session import Session


class StrokeCommand(QUndoCommand):
    """A brush, eraser, polygon or fill step on one person's label map (already applied)."""

    def __init__(self, session: Session, person_id: int, patch: Patch, what: str) -> None:
        super().__init__(what)
        self._session = session
        self.person_id = person_id
        self.patch = patch
        self._applied = True  # the stroke was painted live; the first redo does nothing

    def redo(self) -> None:
        if self._applied:
            self._applied = False
            return
        self._session.put_patch(self.person_id, self.patch, undo=False)

    def undo(self) -> None:
        self._session.put_patch(self.person_id, self.patch, undo=True)


def stroke_text(tool: str, value: int) -> str:
    """Undo text of a painting step, e.g. ``"brush: left hand"``."""
    return f"{tool}: {coarse_name(value)}" if value else tool


class BoxCommand(QUndoCommand):
    """Move or resize a person's box (its label map follows the new box)."""

    def __init__(
        self,
        session: Session,
        person_id: int,
        old: tuple[Box, LabelMap | None],
        new: tuple[Box, LabelMap | None],
    ) -> None:
        super().__init__(f"move box of person {person_id}")
        self._session = session
        self.person_id = person_id
        self._old, self._new = old, new

    def redo(self) -> None:
        self._session.put_box(self.person_id, *self._new)

    def undo(self) -> None:
        self._session.put_box(self.person_id, *self._old)


class AddPersonCommand(QUndoCommand):
    """Draw a new person box. Undo removes the person (and anything added to it since)."""

    def __init__(self, session: Session, image_id: int, box: Box) -> None:
        super().__init__("new person box")
        self._session = session
        self._image_id = image_id
        self._box = box
        self.person_id: int | None = None
        self._snapshot: PersonSnapshot | None = None

    def redo(self) -> None:
        if self._snapshot is not None:
            self.person_id = self._session.restore_person(self._snapshot)
        else:
            self.person_id = self._session.insert_person(self._image_id, self._box)

    def undo(self) -> None:
        assert self.person_id is not None
        self._snapshot = self._session.remove_person(self.person_id)


class DeletePersonCommand(QUndoCommand):
    """Delete a person with all its work; undo puts everything back."""

    def __init__(self, session: Session, person_id: int) -> None:
        super().__init__(f"delete person {person_id}")
        self._session = session
        self.person_id = person_id
        self._snapshot: PersonSnapshot | None = None

    def redo(self) -> None:
        self._snapshot = self._session.remove_person(self.person_id)

    def undo(self) -> None:
        assert self._snapshot is not None
        self._session.restore_person(self._snapshot)
