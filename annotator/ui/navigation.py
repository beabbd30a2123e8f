"""Where the annotator is: the current image and person, and moving between them."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Signal

from annotator.dataset.records import Person


class Navigator(QObject):
    """The current image (in the image list's order) and the current person.

    Args:
        order: returns the image ids in the order the image list shows them (filtered).
        persons: returns the persons of an image.
    """

    imageChanged = Signal(object)  # image id or None
    personChanged = Signal(object)  # person id or None

    def __init__(
        self,
        order: Callable[[], list[int]],
        persons: Callable[[int], list[Person]],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._order = order
        self._persons = persons
        self.image_id: int | None = None
        self.person_id: int | None = None

    def position(self) -> tuple[int, int]:
        """``(i, n)``: 1-based position of the current image among the listed ones."""
        ids = self._order()
        if self.image_id in ids:
            return ids.index(self.image_id) + 1, len(ids)
        return 0, len(ids)

    def set_image(self, image_id: int | None, person_id: int | None = None) -> None:
        """Show an image; select ``person_id`` or its first person still to do."""
        if image_id == self.image_id and person_id is None:
            return
        changed = image_id != self.image_id
        self.image_id = image_id
        if changed:
            self.imageChanged.emit(image_id)
        if person_id is None and image_id is not None:
            person_id = self._default_person(image_id)
        self.set_person(person_id, force=changed)

    def set_person(self, person_id: int | None, *, force: bool = False) -> None:
        if person_id != self.person_id or force:
            self.person_id = person_id
            self.personChanged.emit(person_id)

    def annotatable(self, image_id: int | None = None) -> list[Person]:
        """Persons of an image that are tasks (crowd regions are not)."""
        image_id = self.image_id if image_id is None else image_id
        if image_id is None:
            return []
        return [p for p in self._persons(image_id) if not p.iscrowd]

    def step_image(self, step: int) -> bool:
        """Go ``step`` images forward (negative: back) in the list; False at an end."""
        ids = self._order()
        if not ids:
            return False
        if self.image_id not in ids:
            self.set_image(ids[0] if step > 0 else ids[-1])
            return True
        k = ids.index(self.image_id) + step
        if not 0 <= k < len(ids):
            return False
        self.set_image(ids[k])
        return True

    def step_person(self, step: int) -> bool:
        """Select the next (or previous) person of the image, wrapping around."""
        ids = [p.id for p in self.annotatable()]
        if not ids:
            return False
        k = ids.index(self.person_id) + step if self.person_id in ids else 0
        self.set_person(ids[k % len(ids)])
        return True

    def _default_person(self, image_id: int) -> int | None:
        persons = self.annotatable(image_id)
        if not persons:
            return None
        todo = min(persons, key=lambda p: (int(p.state), p.id or 0))
        return todo.id
