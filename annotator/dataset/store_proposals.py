"""Machine-made proposals in the project store: what a model pre-annotated, and its review.

Mixed into :class:`annotator.dataset.store.Project`, built on
:class:`~annotator.dataset.store_tasks.TaskStoreMixin`; like it, the only place with SQL.

A model is a *machine annotator* (``model:<run>``, :func:`~annotator.dataset.records.is_machine`):
its part mask and answers are its own rows in ``part_masks`` and ``answers``, beside people's,
and one ``proposals`` row per person records its score, what it made and the review. The rules
that keep human work safe live here, where every write passes (docs/adr/0009):

* a person who has a mask painted by someone gets no machine mask;
* machine answers are stored only at points no person has answered, and only for the points
  they were made for (a person re-sampled in between gets none);
* sample points are set only for a person who has none;
* a person a model already proposed for (pending or accepted) is left alone, and a found
  person is not proposed again where a person, or a rejected proposal, already is.

Accepting confirms the model's work (the task moves on to *segmented* or *corresponded* as
far as it is complete); rejecting deletes the model's mask and answers, and a person the
model found, unless someone else has worked on it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from annotator.dataset import blobs, masks
from annotator.dataset.records import (
    AnswerStatus,
    Box,
    Person,
    PersonProposal,
    Proposal,
    ProposalStatus,
    TaskState,
    is_machine,
)
from annotator.dataset.store_core import PERSON_COLUMNS, UPSERT_ANSWERS, UPSERT_MASK, person_row
from annotator.dataset.store_tasks import TaskStoreMixin

#: A found person overlapping a person (or a rejected proposal) by this box IoU is the same.
SAME_PERSON_IOU = 0.5

_PROPOSAL_COLUMNS = (
    "p.id, p.person_id, p.image_id, a.name, p.score, p.x, p.y, p.w, p.h, p.made_box, "
    "p.made_mask, p.made_answers, p.status, d.name, p.decided, p.created"
)
_PROPOSAL_FROM = (
    "FROM proposals p JOIN annotators a ON a.id = p.model_id "
    "LEFT JOIN annotators d ON d.id = p.decided_by"
)


class ProposalMixin(TaskStoreMixin):
    """Proposals of a :class:`~annotator.dataset.store.Project` (see module docstring)."""

    # -- writing ---------------------------------------------------------------------------

    def add_proposals(
        self, model: str, proposals: Sequence[PersonProposal], *, checkpoint: str = ""
    ) -> list[int]:
        """Store a model's proposals in one transaction; returns the persons proposed for.

        Args:
            model: the machine annotator's name (``model:<run>``).
            proposals: one per person (existing or found).
            checkpoint: the file the model came from (kept with the machine annotator).

        Raises:
            ValueError: ``model`` is not a machine annotator's name.
        """
        if not is_machine(model):
            raise ValueError(f"{model!r} is not a model's name (it must start with 'model:')")
        out: list[int] = []
        with self.transaction():
            who = self.annotator_id(model)
            if checkpoint:
                self._conn.execute(
                    "UPDATE annotators SET model = ? WHERE id = ?", (checkpoint, who)
                )
            for proposal in proposals:
                person_id = self._propose_one(who, model, proposal)
                if person_id is not None:
                    out.append(person_id)
        return out

    def _propose_one(self, who: int, model: str, proposal: PersonProposal) -> int | None:
        made_box = proposal.person_id is None
        if made_box:
            if self._overlaps_known(proposal.image_id, proposal.box):
                return None
            person_id = self._insert_found(proposal)
        else:
            person_id = int(proposal.person_id)  # type: ignore[arg-type]
            self._require_person(person_id)
            if self._has_proposal(person_id):
                return None
        made_mask = proposal.mask is not None and not self._has_mask(person_id)
        if made_mask:
            encoded = masks.encode_mask(proposal.mask)  # type: ignore[arg-type]
            self._conn.execute(
                UPSERT_MASK,
                (person_id, who, int(encoded.frame), encoded.x0, encoded.y0, encoded.width,
                 encoded.height, masks.CODEC_ZLIB, encoded.data, time.time()),
            )  # fmt: skip
        made_answers = self._put_machine_answers(person_id, who, proposal)
        if not (made_box or made_mask or made_answers):
            return None
        box = proposal.box
        self._conn.execute(
            "INSERT INTO proposals (person_id, image_id, model_id, score, x, y, w, h, made_box, "
            "made_mask, made_answers, status, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
            "0, ?)",
            (person_id, proposal.image_id, who, float(proposal.score), *box.as_list(),
             int(made_box), int(made_mask), made_answers, time.time()),
        )  # fmt: skip
        return person_id

    def _insert_found(self, proposal: PersonProposal) -> int:
        top = self._scalar("SELECT COALESCE(MAX(id), 0) FROM persons") + 1
        person = Person(image_id=proposal.image_id, box=proposal.box)
        placeholders = ", ".join("?" * len(PERSON_COLUMNS.split(",")))
        self._conn.execute(
            f"INSERT INTO persons ({PERSON_COLUMNS}) VALUES ({placeholders})",
            person_row(top, person),
        )
        return top

    def _put_machine_answers(self, person_id: int, who: int, proposal: PersonProposal) -> int:
        """Store the model's answers where allowed (see module docstring); returns how many."""
        points, answers = proposal.points, proposal.answers
        if points is None or answers is None or len(points) != len(answers):
            return 0
        stored = self.sample_points(person_id)
        if stored is None:
            self._conn.execute(
                "INSERT INTO sample_points VALUES (?, ?, ?, ?)",
                (person_id, len(points), blobs.pack_points(points), time.time()),
            )
        elif not (
            len(stored) == len(points)
            and np.array_equal(stored.part, points.part)
            and np.allclose(stored.x, points.x)
            and np.allclose(stored.y, points.y)
        ):
            return 0
        mine = blobs.unpack_answers(blobs.pack_answers(answers), answers.annotator)
        for data, name in self._conn.execute(
            "SELECT a.data, n.name FROM answers a JOIN annotators n ON n.id = a.annotator_id "
            "WHERE a.person_id = ?",
            (person_id,),
        ).fetchall():
            if not is_machine(name):
                taken = blobs.unpack_answers(data, name).answered
                mine.status[taken] = AnswerStatus.UNANSWERED
        answered = int(np.count_nonzero(mine.status == AnswerStatus.ANSWERED))
        if answered == 0:
            return 0
        self._conn.execute(
            UPSERT_ANSWERS,
            (person_id, who, answered, 0, blobs.pack_answers(mine), time.time()),
        )
        return answered

    def accept_proposals(self, person_id: int, annotator: str) -> int:
        """A person confirms the pending proposals of a person; returns how many.

        The task moves on as far as the project now holds its work: *corresponded* when every
        sample point has an answer, else *segmented* when it has a mask (never back).
        """
        with self.transaction():
            self._require_person(person_id)
            count = self._decide(person_id, annotator, ProposalStatus.ACCEPTED)
            if count:
                self._advance_state(person_id, annotator)
        return count

    def reject_proposals(self, person_id: int, annotator: str) -> tuple[int, bool]:
        """A person rejects the pending proposals of a person: the models' masks and answers
        go; a person a model found goes too unless someone has worked on it.

        Returns:
            ``(proposals rejected, whether the person was deleted)``.
        """
        with self.transaction():
            self._require_person(person_id)
            pending = self.proposals(person_id=person_id, status=ProposalStatus.PROPOSED)
            if not pending:
                return 0, False
            self._decide(person_id, annotator, ProposalStatus.REJECTED)
            for proposal in pending:
                who = self.annotator_id(proposal.model)
                for table in ("part_masks", "answers"):
                    self._conn.execute(
                        f"DELETE FROM {table} WHERE person_id = ? AND annotator_id = ?",
                        (person_id, who),
                    )
            left = self._scalar(
                "SELECT (SELECT COUNT(*) FROM part_masks WHERE person_id = ?) + "
                "(SELECT COUNT(*) FROM answers WHERE person_id = ?)",
                (person_id, person_id),
            )
            if not left:
                self._conn.execute("DELETE FROM sample_points WHERE person_id = ?", (person_id,))
            found = any(p.made_box for p in pending)
            if (
                found
                and not left
                and self._scalar("SELECT COUNT(*) FROM gold WHERE person_id = ?", (person_id,)) == 0
            ):
                self._conn.execute("DELETE FROM persons WHERE id = ?", (person_id,))
                return len(pending), True
        return len(pending), False

    def _decide(self, person_id: int, annotator: str, status: ProposalStatus) -> int:
        cur = self._conn.execute(
            "UPDATE proposals SET status = ?, decided_by = ?, decided = ? "
            "WHERE person_id = ? AND status = ?",
            (int(status), self.annotator_id(annotator), time.time(), person_id,
             int(ProposalStatus.PROPOSED)),
        )  # fmt: skip
        return int(cur.rowcount)

    def _advance_state(self, person_id: int, annotator: str) -> None:
        state = TaskState(self._scalar("SELECT state FROM persons WHERE id = ?", (person_id,)))
        points = self.sample_points(person_id)
        answered = np.zeros(0 if points is None else len(points), bool)
        for (data,) in self._conn.execute(
            "SELECT data FROM answers WHERE person_id = ?", (person_id,)
        ).fetchall():
            found = blobs.unpack_answers(data, "").answered
            if len(found) == len(answered):
                answered |= found
        if len(answered) and answered.all():
            target = TaskState.CORRESPONDED
        elif self._scalar("SELECT COUNT(*) FROM part_masks WHERE person_id = ?", (person_id,)):
            target = TaskState.SEGMENTED
        else:
            return
        if target > state:
            self._conn.execute(
                "UPDATE persons SET state = ? WHERE id = ?", (int(target), person_id)
            )
            self._conn.execute(
                "INSERT INTO state_log (person_id, state, annotator_id, time) VALUES (?, ?, ?, ?)",
                (person_id, int(target), self.annotator_id(annotator), time.time()),
            )

    def link_proposals(self, person_id: int, proposal_ids: Sequence[int]) -> None:
        """Give proposals back to a person restored under its id (undo of a deletion)."""
        with self.transaction():
            self._conn.executemany(
                "UPDATE proposals SET person_id = ? WHERE id = ?",
                [(person_id, int(i)) for i in proposal_ids],
            )

    # -- reading ---------------------------------------------------------------------------

    def proposals(
        self,
        *,
        person_id: int | None = None,
        image_id: int | None = None,
        status: ProposalStatus | None = None,
    ) -> list[Proposal]:
        """Stored proposals, oldest first, optionally of one person, image or status."""
        where, args = [], []
        for clause, value in (
            ("p.person_id = ?", person_id),
            ("p.image_id = ?", image_id),
            ("p.status = ?", None if status is None else int(status)),
        ):
            if value is not None:
                where.append(clause)
                args.append(value)
        sql = f"SELECT {_PROPOSAL_COLUMNS} {_PROPOSAL_FROM}"
        sql += (" WHERE " + " AND ".join(where)) if where else ""
        return [_proposal(r) for r in self._conn.execute(sql + " ORDER BY p.id", args)]

    def pending_proposals(self) -> dict[int, Proposal]:
        """Person id -> its newest proposal still waiting for review."""
        found = self.proposals(status=ProposalStatus.PROPOSED)
        return {p.person_id: p for p in found if p.person_id is not None}

    def unconfirmed(self) -> tuple[set[int], set[tuple[int, str]]]:
        """What export leaves out on request: persons a model found that nobody accepted, and
        the (person, model) pairs whose mask and answers nobody accepted."""
        persons: set[int] = set()
        pairs: set[tuple[int, str]] = set()
        for p in self.proposals(status=ProposalStatus.PROPOSED):
            if p.person_id is None:
                continue
            pairs.add((p.person_id, p.model))
            if p.made_box:
                persons.add(p.person_id)
        return persons, pairs

    # -- helpers ---------------------------------------------------------------------------

    def _has_mask(self, person_id: int) -> bool:
        return bool(
            self._scalar("SELECT COUNT(*) FROM part_masks WHERE person_id = ?", (person_id,))
        )

    def _has_proposal(self, person_id: int) -> bool:
        return bool(
            self._scalar(
                "SELECT COUNT(*) FROM proposals WHERE person_id = ? AND status != ?",
                (person_id, int(ProposalStatus.REJECTED)),
            )
        )

    def _overlaps_known(self, image_id: int, box: Box) -> bool:
        """A person of the image, or a rejected or deleted proposal, already covers ``box``."""
        rows = self._conn.execute(
            "SELECT x, y, w, h FROM persons WHERE image_id = ? UNION ALL "
            "SELECT x, y, w, h FROM proposals WHERE image_id = ? "
            "AND (status = ? OR person_id IS NULL)",
            (image_id, image_id, int(ProposalStatus.REJECTED)),
        ).fetchall()
        return any(box_iou(box, Box(*row)) >= SAME_PERSON_IOU for row in rows)


def box_iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes."""
    w = min(a.x + a.w, b.x + b.w) - max(a.x, b.x)
    h = min(a.y + a.h, b.y + b.h) - max(a.y, b.y)
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    return inter / (a.w * a.h + b.w * b.h - inter)


def _proposal(row: Sequence[Any]) -> Proposal:
    i, pid, image, model, score, x, y, w, h, mb, mm, ma, status, who, decided, created = row
    return Proposal(
        id=int(i),
        person_id=None if pid is None else int(pid),
        image_id=int(image),
        model=str(model),
        score=float(score),
        box=Box(x, y, w, h),
        made_box=bool(mb),
        made_mask=bool(mm),
        made_answers=int(ma),
        status=ProposalStatus(status),
        decided_by=who,
        decided=decided,
        created=float(created),
    )
