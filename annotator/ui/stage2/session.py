"""The stage-2 walk of one task, without Qt: which point is current, saving answers, undo.

A :class:`Stage2Session` walks one annotator through the sample points of one person. Every
answer (a picked surface point, or "not visible / unsure") is saved to the project before the
method returns, so a crash loses nothing already shown. Undo restores the previous answer of
the point that changed last, in the project too. When the last open point is answered the
task moves to ``CORRESPONDED``; undoing back below that moves it back to ``SEGMENTED``.

Sampling happens before a session starts: :func:`sampling_job` says what to sample (or that
the points are settled), :func:`run_sampling` does the numeric work (safe in any thread, it
touches no project) and :func:`store_points` writes the result.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from annotator.dataset.masks import to_image
from annotator.dataset.records import (
    Answers,
    AnswerStatus,
    Box,
    PartMask,
    SamplePoints,
    TaskState,
    is_machine,
)
from annotator.dataset.sampling import sample_mask
from annotator.dataset.store import Project
from annotator.surface.atlas import Atlas
from annotator.surface.parts import FINE_PARTS
from annotator.surface.points import SurfacePoints

#: How many changes undo remembers.
UNDO_DEPTH = 1000


class Stage2Error(RuntimeError):
    """A task cannot be annotated in stage 2 (say, it has no part mask yet)."""


# -- sampling --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SamplingJob:
    """The input of sampling one person's points (see :func:`run_sampling`).

    Attributes:
        person_id: the person.
        mask: its latest stage-1 label map.
        box: its box (needed for masks stored over the box).
    """

    person_id: int
    mask: PartMask
    box: Box


def sampling_job(project: Project, person_id: int) -> SamplingJob | None:
    """What to sample for a person before stage 2, or None when its points are settled.

    Points are settled once a person has answered one of them. Until then they are sampled
    again from the latest part mask each time the task opens (sampling is deterministic, so an
    unchanged mask gives the same points and a repainted one gets fresh points; a model's
    proposed answers go with the points they were made for).

    Raises:
        Stage2Error: the person has neither sample points nor a part mask.
    """
    points = project.sample_points(person_id)
    if points is not None and any(
        a.answered.any() for a in project.all_answers(person_id) if not is_machine(a.annotator)
    ):
        return None
    mask = project.part_mask(person_id)
    if mask is None:
        if points is not None:
            return None  # imported points without a mask: keep them
        raise Stage2Error(
            f"person {person_id} has no part mask yet: paint its parts (stage 1) first"
        )
    return SamplingJob(person_id, mask, project.person(person_id).box)


def run_sampling(job: SamplingJob) -> SamplePoints:
    """Sample the points of a job (k-means per part; pure numpy, any thread)."""
    return sample_mask(job.mask, box=job.box)


def store_points(project: Project, person_id: int, points: SamplePoints) -> None:
    """Save freshly sampled points unless the project already holds the same ones."""
    stored = project.sample_points(person_id)
    if stored is not None and _same_points(stored, points):
        return
    # A model's proposed answers go with the points they were made for; a person's never
    # (the store refuses, as before).
    people = any(
        a.answered.any() for a in project.all_answers(person_id) if not is_machine(a.annotator)
    )
    project.set_sample_points(person_id, points, force=not people)


def _same_points(a: SamplePoints, b: SamplePoints) -> bool:
    return (
        len(a) == len(b)
        and bool(np.array_equal(a.part, b.part))
        and bool(np.allclose(a.x, b.x))
        and bool(np.allclose(a.y, b.y))
    )


def part_mask_in_image(project: Project, person_id: int) -> PartMask | None:
    """The person's latest label map in image pixels (IMAGE frame), or None."""
    mask = project.part_mask(person_id)
    return None if mask is None else to_image(mask, project.person(person_id).box)


# -- the walk --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Snapshot:
    """One point's answer as it was before a change (what undo puts back)."""

    index: int
    status: AnswerStatus
    face: int
    bary: tuple[float, float, float]
    i: int
    u: float
    v: float
    time: float

    @classmethod
    def of(cls, answers: Answers, index: int) -> _Snapshot:
        b = answers.bary[index]
        return cls(
            index,
            AnswerStatus(int(answers.status[index])),
            int(answers.face[index]),
            (float(b[0]), float(b[1]), float(b[2])),
            int(answers.i[index]),
            float(answers.u[index]),
            float(answers.v[index]),
            float(answers.time[index]),
        )

    def save(self, project: Project, person_id: int, annotator: str) -> None:
        """Write these values back to the project."""
        if self.status == AnswerStatus.UNANSWERED:
            project.clear_answer(person_id, self.index, annotator)
            return
        when = None if np.isnan(self.time) else self.time
        if self.status == AnswerStatus.NOT_VISIBLE:
            project.save_answer(person_id, self.index, annotator, not_visible=True, when=when)
            return
        known = self.face >= 0
        project.save_answer(
            person_id,
            self.index,
            annotator,
            iuv=(self.i, self.u, self.v),
            face=self.face if known else None,
            bary=self.bary if known else None,
            when=when,
        )


class Stage2Session:
    """One annotator's stage-2 walk through the sample points of one person.

    Args:
        project: the open, writable project.
        person_id: the person (its sample points must exist: see :func:`sampling_job`).
        annotator: who answers.
        atlas: the charts of the project's body model (surface point -> I, U, V).

    Raises:
        Stage2Error: the person has no sample points.
    """

    def __init__(self, project: Project, person_id: int, annotator: str, atlas: Atlas) -> None:
        points = project.sample_points(person_id)
        if points is None:
            raise Stage2Error(f"person {person_id} has no sample points yet")
        self.project = project
        self.person_id = person_id
        self.annotator = annotator
        self.atlas = atlas
        self.points = points
        stored = project.answers(person_id, annotator)
        self.answers = Answers.blank(annotator, len(points)) if stored is None else stored
        self._undo: list[_Snapshot] = []
        todo = np.flatnonzero(~self.answers.answered)
        self.index = int(todo[0]) if len(todo) else 0

    def __len__(self) -> int:
        return len(self.points)

    # -- reading ---------------------------------------------------------------------------

    @property
    def statuses(self) -> np.ndarray:
        """``[N]`` uint8 :class:`AnswerStatus` of every point."""
        return self.answers.status

    def status(self, index: int | None = None) -> AnswerStatus:
        """The state of point ``index`` (default: the current point)."""
        return AnswerStatus(int(self.answers.status[self._at(index)]))

    def position(self, index: int | None = None) -> tuple[float, float]:
        """Image position (x, y) in pixels of point ``index`` (default: current)."""
        i = self._at(index)
        return float(self.points.x[i]), float(self.points.y[i])

    def part(self, index: int | None = None) -> int:
        """Coarse part 1..14 point ``index`` (default: current) was sampled in."""
        return int(self.points.part[self._at(index)])

    def picked(self, index: int | None = None) -> SurfacePoints | None:
        """The picked surface point of point ``index`` (default: current), if it has one."""
        i = self._at(index)
        if self.answers.status[i] != AnswerStatus.ANSWERED or self.answers.face[i] < 0:
            return None
        return SurfacePoints(self.answers.face[i : i + 1], self.answers.bary[i : i + 1])

    def iuv(self, index: int | None = None) -> tuple[int, float, float] | None:
        """(I, U, V) of the answer of point ``index`` (default: current), if answered."""
        i = self._at(index)
        if self.answers.status[i] != AnswerStatus.ANSWERED:
            return None
        return int(self.answers.i[i]), float(self.answers.u[i]), float(self.answers.v[i])

    def describe(self, index: int | None = None) -> str:
        """One line on the answer of a point, for the app (chart name, U and V)."""
        status = self.status(index)
        if status == AnswerStatus.NOT_VISIBLE:
            return "not visible / unsure"
        iuv = self.iuv(index)
        if iuv is None:
            return "not answered yet"
        i, u, v = iuv
        return f"{FINE_PARTS[i - 1]} (I {i}) · U {u:.3f} · V {v:.3f}"

    def others_in_part(self, part: int | None = None) -> SurfacePoints:
        """Picked surface points of the other points of this person on coarse part ``part``
        (default: the current point's part), to show next to the current one."""
        part = self.part() if part is None else part
        rows = (self.answers.status == AnswerStatus.ANSWERED) & (self.answers.face >= 0)
        rows[self.index] = False
        faces = np.where(rows, self.answers.face, 0)
        rows &= self.atlas.face_coarse[faces] == part
        return SurfacePoints(self.answers.face[rows], self.answers.bary[rows])

    def counts(self) -> tuple[int, int, int]:
        """(answered with a spot, not visible, still to do) point counts."""
        status = self.answers.status
        answered = int(np.count_nonzero(status == AnswerStatus.ANSWERED))
        hidden = int(np.count_nonzero(status == AnswerStatus.NOT_VISIBLE))
        return answered, hidden, len(status) - answered - hidden

    @property
    def complete(self) -> bool:
        """Every point is answered or marked not visible (and there is at least one)."""
        return len(self) > 0 and bool(self.answers.answered.all())

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    # -- moving ----------------------------------------------------------------------------

    def go(self, index: int) -> bool:
        """Make point ``index`` current; returns whether the current point changed."""
        if not 0 <= index < len(self):
            raise IndexError(f"no point {index} (0..{len(self) - 1})")
        changed = index != self.index
        self.index = index
        return changed

    def next(self) -> bool:
        """Go to the next point (stays on the last one); returns whether it moved."""
        return self.go(min(self.index + 1, len(self) - 1)) if len(self) else False

    def previous(self) -> bool:
        """Go to the previous point (stays on the first one); returns whether it moved."""
        return self.go(max(self.index - 1, 0)) if len(self) else False

    def next_todo(self) -> bool:
        """Go to the next point still to do after the current one, wrapping around.

        Returns:
            False when no other point is left to do (the current point stays).
        """
        n = len(self)
        for step in range(1, n):
            i = (self.index + step) % n
            if not self.answers.answered[i]:
                return self.go(i)
        return False

    # -- answering -------------------------------------------------------------------------

    def pick(self, point: SurfacePoints) -> bool:
        """Answer the current point with a surface point (saved before returning).

        Args:
            point: one surface point (a click on a part view).

        Returns:
            Whether this answer completed the task.
        """
        if len(point) != 1:
            raise ValueError(f"pick one surface point, got {len(point)}")
        i, u, v = self.atlas.to_iuv(point)
        iuv = (int(i[0]), float(np.clip(u[0], 0.0, 1.0)), float(np.clip(v[0], 0.0, 1.0)))
        face, bary = int(point.face[0]), [float(b) for b in point.bary[0]]
        return self._change(iuv=iuv, face=face, bary=bary)

    def mark_not_visible(self) -> bool:
        """Answer the current point "not visible / unsure"; returns whether that completed
        the task."""
        return self._change(not_visible=True)

    def undo(self) -> int | None:
        """Put back the answer before the last change (in the project too) and make its point
        current. Returns that point's index, or None when there is nothing to undo."""
        if not self._undo:
            return None
        before = self._undo.pop()
        was_complete = self.complete
        with self.project.transaction():
            before.save(self.project, self.person_id, self.annotator)
            after = self._reload()
            self._update_state(was_complete, after)
        self.answers = after
        self.index = before.index
        return before.index

    def _change(
        self,
        *,
        iuv: tuple[int, float, float] | None = None,
        face: int | None = None,
        bary: list[float] | None = None,
        not_visible: bool = False,
    ) -> bool:
        index = self.index
        before = _Snapshot.of(self.answers, index)
        was_complete = self.complete
        with self.project.transaction():
            self.project.save_answer(
                self.person_id,
                index,
                self.annotator,
                iuv=iuv,
                face=face,
                bary=bary,
                not_visible=not_visible,
            )
            after = self._reload()
            completed = self._update_state(was_complete, after)
        self.answers = after
        self._undo.append(before)
        del self._undo[:-UNDO_DEPTH]
        return completed

    def _reload(self) -> Answers:
        answers = self.project.answers(self.person_id, self.annotator)
        if answers is None:
            raise Stage2Error(f"the answers of person {self.person_id} did not save")
        return answers

    def _update_state(self, was_complete: bool, answers: Answers) -> bool:
        """Move the task's state with completeness; True when the task just became complete."""
        state = self.project.person(self.person_id).state
        now_complete = len(self) > 0 and bool(answers.answered.all())
        if now_complete and not was_complete:
            if state < TaskState.CORRESPONDED:
                self.project.set_state(
                    self.person_id, TaskState.CORRESPONDED, annotator=self.annotator
                )
            return True
        if was_complete and not now_complete and state == TaskState.CORRESPONDED:
            self.project.set_state(self.person_id, TaskState.SEGMENTED, annotator=self.annotator)
        return False

    def _at(self, index: int | None) -> int:
        return self.index if index is None else int(index)
