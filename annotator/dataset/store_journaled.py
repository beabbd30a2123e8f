"""A shared project as the app uses it: edits go through the outbox, reads survive an outage.

:class:`JournaledProject` is a :class:`~annotator.dataset.store_shared.SharedProject` whose
edits of tasks (answers, cleared answers, part masks, task states) are committed to the
local :class:`~annotator.dataset.store_outbox.Outbox` -- the acknowledgement -- and sent by a
:class:`~annotator.dataset.store_outbox.Sender` thread, so that the UI thread never waits for the
server on an edit. Reads go to the server and are remembered; while the server is away they
are answered from what was read before, and the waiting edits are laid over what the server
returns, so the app sees its own edits at once (docs/adr/0020-shared-projects.md).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np

from annotator.dataset import masks, pg
from annotator.dataset.errors import ProjectError
from annotator.dataset.records import (
    Answers,
    ImageRecord,
    ImageTasks,
    PartMask,
    Person,
    ProjectStats,
    SamplePoints,
    TaskState,
)
from annotator.dataset.store_outbox import Edit, Outbox, Sender
from annotator.dataset.store_shared import SharedProject, local_folder
from annotator.dataset.store_tasks import _answer_fields

T = TypeVar("T")
_NOTHING = object()


class JournaledProject(SharedProject):
    """A shared project whose task edits go through an outbox (see the module docstring).

    Call :meth:`start_outbox` before the first edit.
    """

    def __init__(self, conn: pg.PgConnection, url: str, *, readonly: bool = False) -> None:
        super().__init__(conn, url, readonly=readonly)
        self._cache: dict[tuple[Any, ...], Any] = {}
        self._online = True
        self._reconnect = False
        self._state_lock = threading.Lock()
        self.sender: Sender | None = None

    def start_outbox(
        self,
        on_state: Callable[[str, int], None] = lambda state, waiting: None,
        on_rejected: Callable[[Edit, str], None] = lambda edit, why: None,
        retry: float = 1.0,
    ) -> None:
        """Open this machine's outbox of the project and start sending it."""
        self._login = super().user
        self.outbox = Outbox(local_folder(self.url) / f"outbox-{self._login}.sqlite")

        def state(name: str, waiting: int) -> None:
            with self._state_lock:
                if name != "offline" and not self._online:
                    self._reconnect = True
                self._online = name != "offline"
            on_state(name, waiting)

        self.sender = Sender(self.outbox, self._fresh, state, on_rejected, retry)
        self.sender.start()

    def _fresh(self) -> SharedProject:
        """The sender's own connection: a plain shared project (edits go to the server)."""
        return SharedProject.open_url(self.url)

    @property
    def online(self) -> bool:
        return self._online

    @property
    def user(self) -> str:
        """The login (read once, so that it is known while the server is away)."""
        return self._login if hasattr(self, "_login") else super().user

    def close(self) -> None:
        """Stop the sender (waiting edits stay in the outbox for next time) and close."""
        if self.sender is not None:
            self.sender.stop()
            self.outbox.close()
            self.sender = None
        super().close()

    # -- edits: into the outbox ------------------------------------------------------------

    def save_answer(
        self,
        person_id: int,
        index: int,
        annotator: str,
        *,
        iuv: tuple[int, float, float] | None = None,
        face: int | None = None,
        bary: Sequence[float] | None = None,
        not_visible: bool = False,
        when: float | None = None,
    ) -> None:
        """Acknowledge one answer (outbox), send it behind the scenes."""
        _answer_fields(iuv, face, bary, not_visible)  # the same checks as a folder project
        points = self.sample_points(person_id)
        if points is None or not 0 <= index < len(points):
            raise IndexError(f"person {person_id} has no point {index}")
        args = {
            "index": int(index),
            "iuv": None if iuv is None else [int(iuv[0]), float(iuv[1]), float(iuv[2])],
            "face": None if face is None else int(face),
            "bary": None if bary is None else [float(b) for b in bary],
            "not_visible": bool(not_visible), "when": time.time() if when is None else when,
        }  # fmt: skip
        self._put("answer", person_id, annotator, args)

    def clear_answer(self, person_id: int, index: int, annotator: str) -> None:
        self._put("clear", person_id, annotator, {"index": int(index)})

    def save_part_mask(
        self, person_id: int, annotator: str, mask: PartMask | masks.EncodedMask
    ) -> None:
        encoded = mask if isinstance(mask, masks.EncodedMask) else masks.encode_mask(mask)
        args = {"frame": int(encoded.frame), "x0": encoded.x0, "y0": encoded.y0,
                "width": encoded.width, "height": encoded.height}  # fmt: skip
        self._put("mask", person_id, annotator, args, encoded.data)

    def set_state(self, person_id: int, state: TaskState, *, annotator: str | None = None) -> None:
        self._put("state", person_id, annotator or self.user, {"state": int(state)})

    def _put(
        self,
        kind: str,
        person_id: int,
        annotator: str,
        args: dict[str, Any],
        data: bytes | None = None,
    ) -> None:
        if self.sender is None:
            raise ProjectError(f"{self.location}: the outbox is not started; nothing was saved")
        seq = self.outbox.put(kind, person_id, annotator, args, data)
        self._remember(Edit(seq, kind, person_id, annotator, args, data))
        self.sender.poke()

    def _remember(self, edit: Edit) -> None:
        """Lay an edit over what was read before, so that a read while the server is away
        shows it even after it was sent."""
        from dataclasses import replace

        for key, value in list(self._cache.items()):
            if edit.kind == "state" and key[0] == "person" and key[1] == edit.person_id:
                self._cache[key] = replace(value, state=TaskState(edit.args["state"]))
            elif edit.kind == "state" and key[0] == "persons":
                self._cache[key] = [
                    replace(p, state=TaskState(edit.args["state"])) if p.id == edit.person_id else p
                    for p in value
                ]
            elif key == ("answers", edit.person_id, edit.annotator):
                self._cache[key] = self._overlay_answers(
                    edit.person_id, edit.annotator, value, [edit]
                )
            elif edit.kind == "mask" and key[:2] == ("mask", edit.person_id):
                self._cache[key] = _stored(edit)

    # -- reads: remembered, with the waiting edits laid over -------------------------------

    def _read(self, key: tuple[Any, ...], read: Callable[[], T], offline: Any = _NOTHING) -> T:
        """``read()`` from the server, remembered; while offline, what was read before, else
        ``offline`` if given (only for what the outbox's edits are laid over: the server's
        own copy is never replaced, the sender changes it edit by edit)."""
        if self._reconnect:
            with self._state_lock:
                self._reconnect = False
            self._conn.close()
            self._conn = pg.connect(self.url)
        if self._online:
            try:
                value = read()
            except pg.ServerGoneError:
                self._online = False
            else:
                self._cache[key] = value
                return value
        if key in self._cache:
            return self._cache[key]
        if offline is not _NOTHING:
            return offline
        raise pg.ServerGoneError(
            f"{self.location}: the server is away and this was not read before; your edits "
            "are kept on this machine and sent when it is back"
        )

    def images(self) -> list[ImageRecord]:
        return self._read(("images",), super().images)

    def image(self, image_id: int) -> ImageRecord:
        return self._read(("image", image_id), lambda: SharedProject.image(self, image_id))

    def gold_person_ids(self) -> list[int]:
        return self._read(("gold_ids",), super().gold_person_ids)

    def stats(self) -> ProjectStats:
        return self._read(("stats",), super().stats)

    def image_tasks(self, image_id: int | None = None) -> list[ImageTasks]:
        return self._read(
            ("image_tasks", image_id), lambda: SharedProject.image_tasks(self, image_id)
        )

    def sample_points(self, person_id: int) -> SamplePoints | None:
        return self._read(
            ("points", person_id), lambda: SharedProject.sample_points(self, person_id)
        )

    def person(self, person_id: int) -> Person:
        key = ("person", person_id)
        found = self._with_state(self._read(key, lambda: SharedProject.person(self, person_id)))
        self._cache[key] = found  # with the waiting edits: still right after they are sent
        return found

    def persons(self, **kwargs: Any) -> list[Person]:
        key = ("persons", *sorted(kwargs.items()))
        found = [
            self._with_state(p)
            for p in self._read(key, lambda: SharedProject.persons(self, **kwargs))
        ]
        self._cache[key] = found
        return found

    def answers(self, person_id: int, annotator: str) -> Answers | None:
        key = ("answers", person_id, annotator)
        found = self._read(
            key, lambda: SharedProject.answers(self, person_id, annotator), offline=None
        )
        found = self._overlay_answers(person_id, annotator, found)
        self._cache[key] = found
        return found

    def all_answers(self, person_id: int) -> list[Answers]:
        found = self._read(
            ("all_answers", person_id), lambda: SharedProject.all_answers(self, person_id)
        )
        names = [a.annotator for a in found]
        mine = {
            e.annotator for e in self.outbox.pending(person_id) if e.kind in ("answer", "clear")
        }
        out = [self._overlay_answers(person_id, a.annotator, a) for a in found]
        for name in sorted(mine - set(names)):
            out.append(self._overlay_answers(person_id, name, None))
        return [a for a in out if a is not None]

    def stored_mask(self, person_id: int, annotator: str | None = None) -> masks.StoredMask | None:
        for edit in reversed(self.outbox.pending(person_id)):
            if edit.kind == "mask" and annotator in (None, edit.annotator):
                return _stored(edit)
        return self._read(
            ("mask", person_id, annotator),
            lambda: SharedProject.stored_mask(self, person_id, annotator),
            offline=None,
        )

    def _with_state(self, person: Person) -> Person:
        assert person.id is not None
        states = [e for e in self.outbox.pending(person.id) if e.kind == "state"]
        if not states:
            return person
        from dataclasses import replace

        return replace(person, state=TaskState(states[-1].args["state"]))

    def _overlay_answers(
        self,
        person_id: int,
        annotator: str,
        found: Answers | None,
        edits: list[Edit] | None = None,
    ) -> Answers | None:
        if edits is None:
            edits = self.outbox.pending(person_id)
        edits = [e for e in edits if e.annotator == annotator and e.kind in ("answer", "clear")]
        if not edits:
            return found
        points = self.sample_points(person_id)
        n = 0 if points is None else len(points)
        current = Answers.blank(annotator, n) if found is None else _copy(found)
        blank = Answers.blank(annotator, 1)
        for edit in edits:
            k = edit.args["index"]
            if edit.kind == "clear":
                for name in ("status", "face", "bary", "i", "u", "v", "time"):
                    getattr(current, name)[k] = getattr(blank, name)[0]
                continue
            a = edit.args
            iuv = None if a["iuv"] is None else tuple(a["iuv"])
            fields = _answer_fields(iuv, a["face"], a["bary"], a["not_visible"])
            for name, value in fields.items():
                getattr(current, name)[k] = value
            current.time[k] = a["when"]
        return current


def _stored(edit: Edit) -> masks.StoredMask:
    """A mask edit as the store reads masks back."""
    a = edit.args
    assert edit.data is not None
    return masks.StoredMask(
        masks.MaskFrame(a["frame"]), a["x0"], a["y0"], a["width"], a["height"],
        masks.CODEC_ZLIB, edit.data, edit.annotator, time.time(),
    )  # fmt: skip


def _copy(answers: Answers) -> Answers:
    return Answers(
        annotator=answers.annotator,
        status=np.array(answers.status, copy=True),
        face=np.array(answers.face, copy=True),
        bary=np.array(answers.bary, copy=True),
        i=np.array(answers.i, copy=True),
        u=np.array(answers.u, copy=True),
        v=np.array(answers.v, copy=True),
        time=np.array(answers.time, copy=True),
    )
