"""An open project in the app: the only object that writes to it from the UI.

The session owns the :class:`~annotator.dataset.store.Project` (used on the UI thread
only), the label maps being painted, the background mask saver and one undo stack per image.
Widgets read through it and change the project only through its methods, which save at
once: there is no "save" to forget.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoGroup, QUndoStack

from annotator.dataset.masks import EncodedMask
from annotator.dataset.records import (
    Box,
    ImageRecord,
    Person,
    PersonProposal,
    Proposal,
    ProposalStatus,
    TaskState,
)
from annotator.dataset.store import Project
from annotator.dataset.store_shared import SharedProject
from annotator.ui.label_map import LabelMap, Rect, box_region
from annotator.ui.paint_tools import Patch, apply_patch
from annotator.ui.saver import MaskSaver
from annotator.ui.snapshot import PersonSnapshot
from annotator.ui.undo import AddPersonCommand, BoxCommand, DeletePersonCommand, StrokeCommand

log = logging.getLogger(__name__)

#: Label maps kept in memory besides those of the current image.
_CACHED_MAPS = 12


class Session(QObject):
    """An open project, its annotator, and every edit made in the app.

    Args:
        project: the open project (the session closes it).
        annotator: the name stored with every edit.
    """

    maskChanged = Signal(int, object)  # person id, Rect that changed (None: all of it)
    personsChanged = Signal(int)  # image id: a box was added, moved or removed
    taskChanged = Signal(int, int)  # image id, person id: a task's state changed
    focusPerson = Signal(int)  # person an undo or redo just changed
    saveFailed = Signal(str)
    savePending = Signal(bool)

    def __init__(self, project: Project, annotator: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.project = project
        self.annotator = annotator
        self.undo_group = QUndoGroup(self)
        self._stacks: dict[int, QUndoStack] = {}
        self._images = {im.id: im for im in project.images() if im.id is not None}
        self._maps: dict[int, LabelMap] = {}
        self._keep: set[int] = set()  # persons of the current image: never evicted
        self.saver = MaskSaver(self._write_mask, self)
        self.saver.failed.connect(self._on_save_failed)
        self.saver.pendingChanged.connect(self.savePending)

    @staticmethod
    def open(path: str | Path, annotator: str, *, readonly: bool = False) -> Session:
        """Open the project at ``path``, a folder or a ``postgresql://`` URL (raises the
        store's ProjectError family). On a shared project the annotator is the login."""
        project = Project.open(path, readonly=readonly)
        if isinstance(project, SharedProject):
            annotator = project.user
        return Session(project, annotator)

    @property
    def readonly(self) -> bool:
        return self.project.readonly

    @property
    def name(self) -> str:
        if isinstance(self.project, SharedProject):
            return self.project.location.rsplit("/", 1)[-1]
        return self.project.directory.name

    @property
    def path(self) -> str:
        """Where the project is: its folder, or its server and database (no password)."""
        return self.project.location

    def image_source(self, record: ImageRecord) -> Callable[[], Path]:
        """The image file, as a function for the image loader's thread (a shared project
        fetches the image there the first time)."""
        project = self.project
        return lambda: project.image_file(record)

    def close(self) -> None:
        """Write every pending mask, then close the project."""
        try:
            self.saver.close()
        finally:
            self.undo_group.setActiveStack(None)  # type: ignore[arg-type]  # nullptr is valid
            self.project.close()

    def flush(self) -> None:
        """Block until every edit is in the project."""
        self.saver.flush()

    # -- reading ---------------------------------------------------------------------------

    def image_ids(self) -> list[int]:
        return list(self._images)

    def image(self, image_id: int) -> ImageRecord:
        return self._images[image_id]

    def images(self) -> list[ImageRecord]:
        return list(self._images.values())

    def reload_images(self) -> None:
        """Re-read the image list (after an import)."""
        self._images = {im.id: im for im in self.project.images() if im.id is not None}

    def persons(self, image_id: int) -> list[Person]:
        """The persons of an image, by id (crowd regions included)."""
        return self.project.persons(image_id=image_id)

    def person(self, person_id: int) -> Person:
        return self.project.person(person_id)

    def is_gold(self, person_id: int) -> bool:
        return person_id in self.gold_ids()

    def gold_ids(self) -> set[int]:
        return set(self.project.gold_person_ids())

    def label_map(self, person_id: int) -> LabelMap:
        """The person's label map over its box: the annotator's own, else the latest saved."""
        found = self._maps.get(person_id)
        if found is not None:
            return found
        if self.saver.is_pending(person_id):
            self.saver.flush()
        person = self.project.person(person_id)
        image = self._images[person.image_id]
        mask = self.project.part_mask(person_id, self.annotator)
        if mask is None:
            mask = self.project.part_mask(person_id)
        region = box_region(person.box, image.width, image.height)
        label_map = LabelMap.from_part_mask(mask, person.box, region)
        self._remember(person_id, label_map)
        return label_map

    def cached_label_map(self, person_id: int) -> LabelMap | None:
        return self._maps.get(person_id)

    def set_current_image(self, image_id: int) -> None:
        """Make ``image_id`` current: its undo stack is active, its maps stay in memory."""
        self.undo_group.setActiveStack(self.stack(image_id))
        self._keep = {p.id for p in self.persons(image_id) if p.id is not None}
        self._evict()

    def stack(self, image_id: int) -> QUndoStack:
        """The undo stack of an image (created on first use, kept while the project is open)."""
        if image_id not in self._stacks:
            stack = QUndoStack(self.undo_group)
            self._stacks[image_id] = stack
        return self._stacks[image_id]

    # -- stage 1 edits ---------------------------------------------------------------------

    def painted(self, person_id: int, rect: Rect | None) -> None:
        """Live painting changed ``rect`` of a person's map (not yet a step)."""
        self.maskChanged.emit(person_id, rect)

    def commit(self, person_id: int, patch: Patch | None, what: str) -> None:
        """A finished stroke: push its undo step and save the map."""
        if patch is None:
            return
        image_id = self.project.person(person_id).image_id
        self.stack(image_id).push(StrokeCommand(self, person_id, patch, what))
        self.save(person_id)

    def put_patch(self, person_id: int, patch: Patch, *, undo: bool) -> None:
        """Undo or redo a stroke: apply, show, save."""
        rect = apply_patch(self.label_map(person_id), patch, undo=undo)
        self.maskChanged.emit(person_id, rect)
        self.save(person_id)
        self.focusPerson.emit(person_id)

    def save(self, person_id: int) -> None:
        """Queue a copy of the person's map for saving (encoded off the UI thread)."""
        if self.readonly:
            return
        label_map = self._maps.get(person_id)
        if label_map is not None:
            self.saver.submit(person_id, label_map.labels.copy(), label_map.x0, label_map.y0)

    def _write_mask(self, person_id: int, encoded: EncodedMask) -> None:
        try:
            self.project.save_part_mask(person_id, self.annotator, encoded)
        except KeyError:
            log.info("person %s was deleted before its mask was written", person_id)

    def _on_save_failed(self, person_id: int, message: str) -> None:
        self.saveFailed.emit(f"The parts of person {person_id} could not be saved: {message}")

    # -- boxes -----------------------------------------------------------------------------

    def draw_person(self, image_id: int, box: Box) -> int:
        """Add a person with ``box`` to an image (an undo step); returns its id."""
        command = AddPersonCommand(self, image_id, box)
        self.stack(image_id).push(command)
        assert command.person_id is not None
        return command.person_id

    def edit_box(self, person_id: int, box: Box) -> None:
        """Move or resize a box (an undo step); the label map follows, clipped to the box."""
        person = self.project.person(person_id)
        if person.box == box:
            return
        image = self._images[person.image_id]
        old_map = self.label_map(person_id).copy()
        new_map = old_map.reframed(box_region(box, image.width, image.height))
        painted = old_map.any()
        command = BoxCommand(
            self,
            person_id,
            (person.box, old_map if painted else None),
            (box, new_map if painted else None),
        )
        self.stack(person.image_id).push(command)

    def delete_person(self, person_id: int) -> None:
        """Delete a person with its work (an undo step)."""
        image_id = self.project.person(person_id).image_id
        self.stack(image_id).push(DeletePersonCommand(self, person_id))

    def put_box(self, person_id: int, box: Box, label_map: LabelMap | None) -> None:
        """Set a box and its label map (from an undo step)."""
        person = self.project.person(person_id)
        image = self._images[person.image_id]
        self.project.update_box(person_id, box)
        region = box_region(box, image.width, image.height)
        self._remember(person_id, label_map.copy() if label_map else LabelMap.blank(region))
        self.personsChanged.emit(person.image_id)
        self.maskChanged.emit(person_id, None)
        if label_map is not None:
            self.save(person_id)
        self.focusPerson.emit(person_id)

    def insert_person(self, image_id: int, box: Box) -> int:
        pid = self.project.add_person(Person(image_id=image_id, box=box))
        self._keep.add(pid)
        self.personsChanged.emit(image_id)
        self.focusPerson.emit(pid)
        return pid

    def remove_person(self, person_id: int) -> PersonSnapshot:
        self.saver.flush()
        snapshot = PersonSnapshot.take(self.project, person_id)
        self.project.delete_person(person_id)
        self._maps.pop(person_id, None)
        self._keep.discard(person_id)
        self.personsChanged.emit(snapshot.person.image_id)
        return snapshot

    def restore_person(self, snapshot: PersonSnapshot) -> int:
        pid = snapshot.restore(self.project)
        self._maps.pop(pid, None)
        self._keep.add(pid)
        self.personsChanged.emit(snapshot.person.image_id)
        self.focusPerson.emit(pid)
        return pid

    # -- task states -----------------------------------------------------------------------

    def set_state(self, person_id: int, state: TaskState) -> None:
        """Move a task to ``state`` (logged with the annotator)."""
        person = self.project.person(person_id)
        if person.state == state:
            return
        self.project.set_state(person_id, state, annotator=self.annotator)
        self.taskChanged.emit(person.image_id, person_id)

    # -- model proposals (pre-annotation) -------------------------------------------------

    def pending_proposals(self, image_id: int | None = None) -> dict[int, Proposal]:
        """Person id -> the model proposal waiting for review (of one image, or all)."""
        if image_id is None:
            return self.project.pending_proposals()
        found = self.project.proposals(image_id=image_id, status=ProposalStatus.PROPOSED)
        return {p.person_id: p for p in found if p.person_id is not None}

    def add_proposals(
        self, model: str, checkpoint: str, proposals: list[PersonProposal]
    ) -> list[int]:
        """Store a model's proposals (the store keeps people's work untouched); returns the
        persons proposed for. Their masks are shown at once."""
        self.flush()
        persons = self.project.add_proposals(model, proposals, checkpoint=checkpoint)
        images = set()
        for pid in persons:
            self._maps.pop(pid, None)
            images.add(self.project.person(pid).image_id)
        for image_id in sorted(images):
            self.personsChanged.emit(image_id)
        for pid in persons:
            self.maskChanged.emit(pid, None)
        return persons

    def accept_proposal(self, person_id: int) -> int:
        """Confirm a person's pending proposals (one key); returns how many."""
        self.flush()
        count = self.project.accept_proposals(person_id, self.annotator)
        if count:
            self.taskChanged.emit(self.project.person(person_id).image_id, person_id)
        return count

    def reject_proposal(self, person_id: int) -> tuple[int, bool]:
        """Reject a person's pending proposals: the model's mask and answers go (and a person
        the model found). Returns (how many, whether the person was deleted)."""
        self.flush()
        image_id = self.project.person(person_id).image_id
        count, deleted = self.project.reject_proposals(person_id, self.annotator)
        if count:
            self._maps.pop(person_id, None)
            if deleted:
                self._keep.discard(person_id)
            self.personsChanged.emit(image_id)
            if not deleted:
                self.maskChanged.emit(person_id, None)
        return count, deleted

    # -- cache -----------------------------------------------------------------------------

    def _remember(self, person_id: int, label_map: LabelMap) -> None:
        self._maps.pop(person_id, None)
        self._maps[person_id] = label_map
        self._evict()

    def _evict(self) -> None:
        others = [pid for pid in self._maps if pid not in self._keep]
        for pid in others[: max(0, len(others) - _CACHED_MAPS)]:
            if not self.saver.is_pending(pid):
                del self._maps[pid]
