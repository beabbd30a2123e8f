"""The annotation half of the project store: part masks, sample points, answers, gold truth.

Mixed into :class:`annotator.dataset.store.Project`, built on
:class:`~annotator.dataset.store_core.StoreCore`; like it, the only place with SQL.

Points and answers are kept as one packed array per person (points) and per (person,
annotator) (answers) rather than one row per point: Python's sqlite3 binds about 3 us per
row, which makes 10 million rows (DensePose-COCO: 5M points and their answers) take minutes
to import and export; per-person arrays take seconds. Saving one answer rewrites that
person's array (a few kilobytes) in one committed transaction. See docs/adr/0003.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from annotator.dataset import blobs, masks
from annotator.dataset.errors import AnswersExistError, ProjectError
from annotator.dataset.records import (
    Answers,
    AnswerStatus,
    GoldTruth,
    MaskFrame,
    PartMask,
    Person,
    SamplePoints,
    TaskState,
)
from annotator.dataset.store_core import (
    PERSON_COLUMNS,
    UPSERT_ANSWERS,
    UPSERT_MASK,
    Cursor,
    StoreCore,
    person_from_row,
    upsert,
)
from annotator.surface.parts import N_FINE

_MASK_COLUMNS = "m.person_id, m.frame, m.x0, m.y0, m.width, m.height, m.codec, m.data, "
_MASK_COLUMNS += "a.name, m.updated"
_UPSERT_GOLD = upsert("gold", "person_id, x0, y0, data, source, created", "person_id")


@dataclass
class ExportItem:
    """What export needs of one person (read in person id order by ``iter_export``).

    Attributes:
        person: the person.
        reached: its task reached the export state (its DensePose data is exported).
        mask: its latest (or the chosen annotator's) stage-1 mask, if ``reached``.
        points: its sample points, if ``reached``.
        answers: every (or the chosen) annotator's answers to them, if ``reached``.
    """

    person: Person
    reached: bool
    mask: masks.StoredMask | None = None
    points: SamplePoints | None = None
    answers: list[Answers] = field(default_factory=list)


class TaskStoreMixin(StoreCore):
    """Masks, points, answers and gold truth of a :class:`~annotator.dataset.store.Project`."""

    # -- stage 1: part masks -----------------------------------------------------------

    def save_part_mask(
        self, person_id: int, annotator: str, mask: PartMask | masks.EncodedMask
    ) -> None:
        """Save (replace) ``annotator``'s label map of a person; committed on return.

        IMAGE-frame masks are cropped to their labelled region before compression. A mask
        already encoded by :func:`~annotator.dataset.masks.encode_mask` is stored as it is.
        """
        encoded = mask if isinstance(mask, masks.EncodedMask) else masks.encode_mask(mask)
        with self.transaction():
            self._put_mask(
                person_id,
                self.annotator_id(annotator),
                (encoded.frame, encoded.x0, encoded.y0, encoded.width, encoded.height),
                masks.CODEC_ZLIB,
                encoded.data,
            )

    def add_dp_masks(self, items: Iterable[tuple[int, Sequence[Any]]], annotator: str) -> None:
        """Store imported DensePose-COCO ``dp_masks`` (14 checked entries) verbatim."""
        who = self.annotator_id(annotator)
        now = time.time()
        frame = int(MaskFrame.BOX256)
        rows = (
            (pid, who, frame, 0, 0, 256, 256, masks.CODEC_RLE14, masks.encode_rle14(e), now)
            for pid, e in items
        )
        with self.transaction():
            self._conn.executemany(
                "INSERT INTO part_masks VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows
            )

    def _put_mask(
        self, person_id: int, who: int, geometry: tuple[int, ...], codec: int, data: bytes
    ) -> None:
        self._require_person(person_id)
        self._conn.execute(
            UPSERT_MASK,
            (person_id, who, *map(int, geometry), codec, data, time.time()),
        )

    def stored_mask(self, person_id: int, annotator: str | None = None) -> masks.StoredMask | None:
        """The stored (still encoded) mask of ``annotator``, or the latest saved by anyone."""
        sql = f"SELECT {_MASK_COLUMNS} FROM part_masks m JOIN annotators a "
        sql += "ON a.id = m.annotator_id WHERE m.person_id = ?"
        args: list[Any] = [person_id]
        if annotator is not None:
            sql += " AND a.name = ?"
            args.append(annotator)
        row = self._conn.execute(sql + " ORDER BY m.updated DESC LIMIT 1", args).fetchone()
        return None if row is None else _stored_mask(row)

    def part_mask(self, person_id: int, annotator: str | None = None) -> PartMask | None:
        """The label map of ``annotator`` (default: the latest saved by anyone), or None."""
        stored = self.stored_mask(person_id, annotator)
        return None if stored is None else stored.part_mask()

    def part_masks(self, person_id: int) -> list[PartMask]:
        """Every annotator's label map of a person, oldest first."""
        sql = f"SELECT {_MASK_COLUMNS} FROM part_masks m JOIN annotators a "
        sql += "ON a.id = m.annotator_id WHERE m.person_id = ? ORDER BY m.updated"
        return [_stored_mask(r).part_mask() for r in self._conn.execute(sql, (person_id,))]

    def delete_part_mask(self, person_id: int, annotator: str) -> None:
        with self.transaction():
            self._conn.execute(
                "DELETE FROM part_masks WHERE person_id = ? AND annotator_id = ?",
                (person_id, self.annotator_id(annotator)),
            )

    # -- stage 2: sample points ----------------------------------------------------------

    def set_sample_points(
        self, person_id: int, points: SamplePoints, *, force: bool = False
    ) -> None:
        """Replace a person's stage-2 points (and drop all answers to the old ones).

        Raises:
            AnswersExistError: some old point is answered and ``force`` is False.
        """
        with self.transaction():
            self._require_person(person_id)
            answered = self._scalar(
                "SELECT COALESCE(SUM(n_answered), 0) FROM answers WHERE person_id = ?",
                (person_id,),
            )
            if answered and not force:
                raise AnswersExistError(
                    f"person {person_id} has {answered} answered point(s); re-sampling would "
                    "discard them (force it to do so anyway)"
                )
            self._conn.execute("DELETE FROM sample_points WHERE person_id = ?", (person_id,))
            self._conn.execute(
                "INSERT INTO sample_points VALUES (?, ?, ?, ?)",
                (person_id, len(points), blobs.pack_points(points), time.time()),
            )

    def sample_points(self, person_id: int) -> SamplePoints | None:
        """A person's stage-2 points in task order, or None if not sampled yet."""
        row = self._conn.execute(
            "SELECT data FROM sample_points WHERE person_id = ?", (person_id,)
        ).fetchone()
        return None if row is None else blobs.unpack_points(row[0])

    def answered_person_ids(self) -> set[int]:
        """Persons with at least one answered point."""
        rows = self._conn.execute("SELECT DISTINCT person_id FROM answers WHERE n_answered > 0")
        return {int(r[0]) for r in rows}

    # -- stage 2: answers ----------------------------------------------------------------

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
        """Save one annotator's answer to point ``index`` of a person; committed on return.

        Args:
            person_id: the person.
            index: the point's position in the person's sample points.
            annotator: who answers.
            iuv: chart 1..24 and (U, V) in [0, 1] of the picked spot (required unless
                ``not_visible``).
            face: surface point face of the picked spot, if known.
            bary: its barycentric coordinates (3 floats), with ``face``.
            not_visible: the annotator marked the point "not visible / unsure".
            when: unix time of the answer (default: now).
        """
        fields = _answer_fields(iuv, face, bary, not_visible)
        with self.transaction():
            current = self._answers_or_blank(person_id, annotator)
            if not 0 <= index < len(current):
                raise IndexError(f"person {person_id} has no point {index} (0..{len(current) - 1})")
            for name, value in fields.items():
                getattr(current, name)[index] = value
            current.time[index] = time.time() if when is None else when
            self._put_answers(person_id, current)

    def clear_answer(self, person_id: int, index: int, annotator: str) -> None:
        """Forget one answer (undo)."""
        with self.transaction():
            current = self._answers_or_blank(person_id, annotator)
            blank = Answers.blank(annotator, 1)
            for name in ("status", "face", "bary", "i", "u", "v", "time"):
                getattr(current, name)[index] = getattr(blank, name)[0]
            self._put_answers(person_id, current)

    def save_answers(self, person_id: int, answers: Answers) -> None:
        """Replace all of one annotator's answers to a person's points."""
        with self.transaction():
            self._put_answers(person_id, answers)

    def answers(self, person_id: int, annotator: str) -> Answers | None:
        """``annotator``'s answers to a person's points, or None if they gave none."""
        row = self._conn.execute(
            "SELECT a.data FROM answers a JOIN annotators n ON n.id = a.annotator_id "
            "WHERE a.person_id = ? AND n.name = ?",
            (person_id, annotator),
        ).fetchone()
        return None if row is None else blobs.unpack_answers(row[0], annotator)

    def all_answers(self, person_id: int) -> list[Answers]:
        """Every annotator's answers to a person's points (for agreement), by annotator id."""
        rows = self._conn.execute(
            "SELECT a.data, n.name FROM answers a JOIN annotators n ON n.id = a.annotator_id "
            "WHERE a.person_id = ? ORDER BY n.id",
            (person_id,),
        )
        return [blobs.unpack_answers(data, name) for data, name in rows]

    def add_points_and_answers(
        self,
        items: Iterable[tuple[int, SamplePoints, Answers | None]],
        annotator: str,
        *,
        chunk: int = 2000,
    ) -> tuple[int, int]:
        """Bulk-store imported points with one annotator's answers (importers only).

        Reads ``items`` lazily, ``chunk`` persons at a time. Returns (persons, points).
        """
        who = self.annotator_id(annotator)
        now = time.time()
        items = iter(items)
        persons = total = 0
        with self.transaction():
            while batch := list(itertools.islice(items, chunk)):
                point_rows, answer_rows = [], []
                for person_id, points, answers in batch:
                    point_rows.append((person_id, len(points), blobs.pack_points(points), now))
                    total += len(points)
                    if answers is not None:
                        answered, not_visible = _answer_counts(answers)
                        data = blobs.pack_answers(answers)
                        answer_rows.append((person_id, who, answered, not_visible, data, now))
                persons += len(batch)
                self._conn.executemany("INSERT INTO sample_points VALUES (?, ?, ?, ?)", point_rows)
                self._conn.executemany("INSERT INTO answers VALUES (?, ?, ?, ?, ?, ?)", answer_rows)
        return persons, total

    def add_imported_points(
        self,
        person_ids: Sequence[int],
        starts: np.ndarray,
        points: np.ndarray,
        answers: np.ndarray,
        annotator: str,
    ) -> None:
        """Bulk-store many persons' points and one annotator's answers (importers only).

        Args:
            person_ids: ``[P]`` the persons.
            starts: ``[P + 1]`` person k owns rows ``starts[k]:starts[k + 1]``.
            points: ``[N]`` :data:`~annotator.dataset.blobs.POINT_DTYPE` records.
            answers: ``[N]`` :data:`~annotator.dataset.blobs.ANSWER_DTYPE` records.
            annotator: whose answers they are.
        """
        who = self.annotator_id(annotator)
        now = time.time()
        status = answers["status"]
        answered = np.concatenate(([0], np.cumsum(status != AnswerStatus.UNANSWERED)))
        hidden = np.concatenate(([0], np.cumsum(status == AnswerStatus.NOT_VISIBLE)))
        bounds = list(zip(starts[:-1].tolist(), starts[1:].tolist(), strict=True))
        with self.transaction():
            self._conn.executemany(
                "INSERT INTO sample_points VALUES (?, ?, ?, ?)",
                (
                    (pid, e - s, points[s:e].tobytes(), now)
                    for pid, (s, e) in zip(person_ids, bounds, strict=True)
                ),
            )
            self._conn.executemany(
                "INSERT INTO answers VALUES (?, ?, ?, ?, ?, ?)",
                (
                    (
                        pid,
                        who,
                        int(answered[e] - answered[s]),
                        int(hidden[e] - hidden[s]),
                        answers[s:e].tobytes(),
                        now,
                    )
                    for pid, (s, e) in zip(person_ids, bounds, strict=True)
                ),
            )

    def _answers_or_blank(self, person_id: int, annotator: str) -> Answers:
        points = self.sample_points(person_id)
        if points is None:
            raise ProjectError(f"person {person_id} has no sample points yet")
        current = self.answers(person_id, annotator)
        return Answers.blank(annotator, len(points)) if current is None else current

    def _put_answers(self, person_id: int, answers: Answers) -> None:
        n = self._scalar(
            "SELECT COALESCE(MAX(n), -1) FROM sample_points WHERE person_id = ?", (person_id,)
        )
        if n < 0:
            raise ProjectError(f"person {person_id} has no sample points yet")
        if n != len(answers):
            raise ValueError(f"person {person_id} has {n} points, got {len(answers)} answers")
        self._conn.execute(
            UPSERT_ANSWERS,
            (
                person_id,
                self.annotator_id(answers.annotator),
                *_answer_counts(answers),
                blobs.pack_answers(answers),
                time.time(),
            ),
        )

    # -- gold truth ----------------------------------------------------------------------

    def set_gold(self, person_id: int, gold: GoldTruth) -> None:
        """Attach (replace) exact ground truth to a person, making it a gold task."""
        with self.transaction():
            self._require_person(person_id)
            self._conn.execute(
                _UPSERT_GOLD,
                (person_id, gold.x0, gold.y0, blobs.pack_gold(gold), gold.source, time.time()),
            )

    def gold(self, person_id: int) -> GoldTruth | None:
        """A person's ground truth, or None if it is not a gold task."""
        row = self._conn.execute(
            "SELECT x0, y0, data, source FROM gold WHERE person_id = ?", (person_id,)
        ).fetchone()
        if row is None:
            return None
        x0, y0, data, source = row
        return blobs.unpack_gold(data, int(x0), int(y0), source)

    def gold_person_ids(self) -> list[int]:
        """Ids of the gold tasks."""
        return [int(r[0]) for r in self._conn.execute("SELECT person_id FROM gold ORDER BY 1")]

    # -- bulk reading for export ---------------------------------------------------------

    def count_export(self, min_state: TaskState) -> int:
        """How many persons :meth:`iter_export` yields for ``min_state``."""
        return self._scalar(
            "SELECT COUNT(*) FROM persons WHERE image_id IN "
            "(SELECT image_id FROM persons WHERE state >= ?)",
            (int(min_state),),
        )

    def export_image_ids(self, min_state: TaskState) -> list[int]:
        """Images holding at least one person whose task reached ``min_state``."""
        rows = self._conn.execute(
            "SELECT DISTINCT image_id FROM persons WHERE state >= ? ORDER BY 1", (int(min_state),)
        )
        return [int(r[0]) for r in rows]

    def iter_export(
        self, min_state: TaskState, annotator: str | None = None
    ) -> Iterator[ExportItem]:
        """Every person of every image with a person at ``min_state`` or later, by id.

        Persons whose own task reached ``min_state`` come with their mask, points and
        answers (``annotator``'s only, if given). Reads lazily: memory stays flat.
        """
        state = int(min_state)
        who = "" if annotator is None else " AND a.name = ?"
        extra: tuple[Any, ...] = () if annotator is None else (annotator,)
        reached = "JOIN persons p ON p.id = m.person_id AND p.state >= ?"
        mask_rows = _Follower(
            self._conn.execute(
                f"SELECT {_MASK_COLUMNS} FROM part_masks m JOIN annotators a "
                f"ON a.id = m.annotator_id {reached} WHERE 1 = 1{who} "
                "ORDER BY m.person_id, m.updated DESC",
                (state, *extra),
            )
        )
        point_rows = _Follower(
            self._conn.execute(
                f"SELECT m.person_id, m.data FROM sample_points m {reached} ORDER BY m.person_id",
                (state,),
            )
        )
        answer_rows = _Follower(
            self._conn.execute(
                f"SELECT m.person_id, m.data, a.name FROM answers m JOIN annotators a "
                f"ON a.id = m.annotator_id {reached} WHERE 1 = 1{who} ORDER BY m.person_id, a.id",
                (state, *extra),
            )
        )
        for person in self._export_persons(state):
            item = ExportItem(person, reached=person.state >= state)
            assert person.id is not None
            found = mask_rows.take(person.id)
            item.mask = _stored_mask(found[0]) if found else None
            found = point_rows.take(person.id)
            item.points = blobs.unpack_points(found[0][1]) if found else None
            item.answers = [blobs.unpack_answers(r[1], r[2]) for r in answer_rows.take(person.id)]
            yield item

    def _export_persons(self, state: int) -> Iterator[Person]:
        cursor = self._conn.execute(
            f"SELECT {PERSON_COLUMNS} FROM persons WHERE image_id IN "
            "(SELECT image_id FROM persons WHERE state >= ?) ORDER BY id",
            (state,),
        )
        for row in cursor:
            yield person_from_row(row)


class _Follower:
    """Rows of a cursor ordered by person id, handed out as the persons go by."""

    def __init__(self, cursor: Cursor) -> None:
        self._cursor = cursor
        self._next = next(cursor, None)

    def take(self, person_id: int) -> list[Any]:
        """The rows of ``person_id`` (rows of smaller ids are skipped)."""
        out = []
        while self._next is not None and self._next[0] <= person_id:
            if self._next[0] == person_id:
                out.append(self._next)
            self._next = next(self._cursor, None)
        return out


def _stored_mask(row: Sequence[Any]) -> masks.StoredMask:
    _, frame, x0, y0, width, height, codec, data, name, updated = row
    return masks.StoredMask(
        MaskFrame(frame), int(x0), int(y0), int(width), int(height), int(codec), data, name, updated
    )


def _answer_counts(answers: Answers) -> tuple[int, int]:
    """``(answered, not visible)`` counts of an answer array."""
    status = np.asarray(answers.status)
    return (
        int(np.count_nonzero(status != AnswerStatus.UNANSWERED)),
        int(np.count_nonzero(status == AnswerStatus.NOT_VISIBLE)),
    )


def _answer_fields(
    iuv: tuple[int, float, float] | None,
    face: int | None,
    bary: Sequence[float] | None,
    not_visible: bool,
) -> dict[str, Any]:
    """Check one answer's values; return the fields to set."""
    fields: dict[str, Any] = {"face": -1, "bary": np.nan, "i": 0, "u": np.nan, "v": np.nan}
    if not_visible:
        fields["status"] = AnswerStatus.NOT_VISIBLE
        return fields
    if iuv is None:
        raise ValueError("a visible answer needs its (I, U, V)")
    i, u, v = iuv
    if not (1 <= int(i) <= N_FINE and 0.0 <= u <= 1.0 and 0.0 <= v <= 1.0) or int(i) != i:
        raise ValueError(f"(I, U, V) must be in 1..24 x [0, 1] x [0, 1], got {iuv}")
    fields.update(status=AnswerStatus.ANSWERED, i=int(i), u=float(u), v=float(v))
    if (face is None) != (bary is None):
        raise ValueError("give face and bary together")
    if face is not None and bary is not None:
        weights = np.asarray(bary, dtype=np.float64)
        if face < 0 or weights.shape != (3,) or abs(weights.sum() - 1.0) > 1e-6:
            raise ValueError(f"bad surface point: face {face}, bary {bary}")
        if weights.min() < -1e-9:
            raise ValueError(f"barycentric coordinates must be >= 0, got {bary}")
        fields.update(face=int(face), bary=weights)
    return fields
