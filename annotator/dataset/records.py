"""Plain records of an annotation project: images, persons, masks, points, answers, gold.

These are what :class:`annotator.dataset.store.Project` reads and writes. They hold numbers and
numpy arrays only and know nothing of SQL, files or Qt.

Coordinates are image pixels, continuous: pixel ``(col, row)`` covers ``[col, col + 1) x
[row, row + 1)`` and has its centre at ``(col + 0.5, row + 0.5)``.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from annotator.surface.parts import N_COARSE
from annotator.surface.points import SurfacePoints


class TaskState(enum.IntEnum):
    """Where a person's annotation task stands. The order is the order of the protocol."""

    TODO = 0
    SEGMENTED = 1  # stage 1 done: the 14-part label map is painted
    CORRESPONDED = 2  # stage 2 done: every sampled point answered
    REVIEWED = 3  # checked by a reviewer

    @classmethod
    def parse(cls, text: str) -> TaskState:
        """``"corresponded"`` (any case, or the number) -> ``TaskState.CORRESPONDED``."""
        key = text.strip().upper().replace("-", "_")
        if key.isdigit() and int(key) in cls._value2member_map_:
            return cls(int(key))
        if key not in cls.__members__:
            names = ", ".join(s.name.lower() for s in cls)
            raise ValueError(f"unknown task state {text!r}; expected one of {names}")
        return cls[key]


class MaskFrame(enum.IntEnum):
    """Which raster a part label map covers."""

    IMAGE = 0  # image pixels; ``labels[0, 0]`` is pixel (x0, y0)
    BOX256 = 1  # the person's box resampled to 256 x 256 (DensePose-COCO ``dp_masks``)


class AnswerStatus(enum.IntEnum):
    """State of one sampled point in one annotator's answers."""

    UNANSWERED = 0
    ANSWERED = 1
    NOT_VISIBLE = 2  # "not visible / unsure"


class ProposalStatus(enum.IntEnum):
    """Where a model's proposal for a person stands (docs/adr/0009-models-in-the-app.md)."""

    PROPOSED = 0  # made by a model, not reviewed yet
    ACCEPTED = 1  # a person confirmed it (one key), possibly after correcting it
    REJECTED = 2  # a person rejected it: the model's mask and answers are gone


#: Annotators whose name starts with this are machines (model runs), never people.
MACHINE_PREFIX = "model:"


def is_machine(annotator: str | None) -> bool:
    """Whether an annotator's name is a model's (``model:<run>``)."""
    return bool(annotator) and str(annotator).startswith(MACHINE_PREFIX)


@dataclass(frozen=True)
class Box:
    """An axis-aligned box ``[x, y, w, h]`` in image pixels (COCO ``bbox``)."""

    x: float
    y: float
    w: float
    h: float

    def __post_init__(self) -> None:
        values = (self.x, self.y, self.w, self.h)
        if not all(map(math.isfinite, values)):
            raise ValueError(f"box values must be finite, got {values}")
        if self.w <= 0 or self.h <= 0:
            raise ValueError(f"box width and height must be > 0, got {self.w} x {self.h}")

    def as_list(self) -> list[float]:
        return [float(self.x), float(self.y), float(self.w), float(self.h)]


@dataclass
class ImageRecord:
    """One image of the project.

    Attributes:
        path: where the file is, relative to the project folder, POSIX separators
            (may start with ``..``; absolute when no relative path exists).
        file_name: the COCO ``file_name`` (relative to the images folder it came from).
        sha256: hex digest of the file's bytes, to notice a changed or swapped file.
        width: pixels.
        height: pixels.
        id: the COCO image id; None until stored.
        extra: other COCO image keys (``license``, ``coco_url``...), written back on export.
    """

    path: str
    file_name: str
    sha256: str
    width: int
    height: int
    id: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Person:
    """One person in an image: a COCO ``person`` annotation and one annotation task.

    Attributes:
        image_id: id of the image.
        box: the person's box.
        id: the COCO annotation id; None until stored.
        iscrowd: a COCO crowd region (never annotated, exported as it came).
        area: COCO ``area`` in square pixels; None to compute on export.
        segmentation: COCO ``segmentation`` (polygons or RLE) kept verbatim, or None.
        keypoints: 51 numbers (x, y, visibility for the 17 COCO keypoints), or None.
        num_keypoints: COCO ``num_keypoints``, or None.
        state: the task's state.
        extra: other COCO annotation keys, written back on export.
    """

    image_id: int
    box: Box
    id: int | None = None
    iscrowd: bool = False
    area: float | None = None
    segmentation: Any = None
    keypoints: list[float] | None = None
    num_keypoints: int | None = None
    state: TaskState = TaskState.TODO
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Annotator:
    """A person (or an importer) who answers tasks."""

    id: int
    name: str


@dataclass
class PartMask:
    """A stage-1 label map: one of 14 coarse parts (1..14) or background (0) per pixel.

    Attributes:
        labels: ``[H, W]`` uint8 in 0..14; parts are mutually exclusive by construction.
        x0: column of ``labels[:, 0]`` in image pixels (frame IMAGE; 0 for BOX256).
        y0: row of ``labels[0, :]`` in image pixels (frame IMAGE; 0 for BOX256).
        frame: IMAGE (pixel aligned crop) or BOX256 (256 x 256 over the person's box).
        annotator: who painted it (set when read from a project).
        updated: unix time of the last save (set when read from a project).
    """

    labels: np.ndarray
    x0: int = 0
    y0: int = 0
    frame: MaskFrame = MaskFrame.IMAGE
    annotator: str | None = None
    updated: float | None = None

    def __post_init__(self) -> None:
        labels = np.asarray(self.labels)
        if labels.ndim != 2:
            raise ValueError(f"labels must be 2-D, got shape {labels.shape}")
        if labels.size and (labels.min() < 0 or labels.max() > N_COARSE):
            raise ValueError(f"labels must be in 0..{N_COARSE}")
        if self.frame == MaskFrame.BOX256 and labels.shape != (256, 256):
            raise ValueError(f"a BOX256 mask must be 256 x 256, got {labels.shape}")
        self.labels = labels.astype(np.uint8, copy=False)
        self.x0, self.y0 = int(self.x0), int(self.y0)
        self.frame = MaskFrame(self.frame)


@dataclass
class SamplePoints:
    """The points of one person's stage-2 task, in task order (index = position).

    Attributes:
        x: ``[N]`` float64 image pixels (continuous coordinates).
        y: ``[N]`` float64 image pixels.
        part: ``[N]`` int64 coarse part 1..14 the point was sampled in.
    """

    x: np.ndarray
    y: np.ndarray
    part: np.ndarray

    def __post_init__(self) -> None:
        self.x = np.asarray(self.x, dtype=np.float64).reshape(-1)
        self.y = np.asarray(self.y, dtype=np.float64).reshape(-1)
        self.part = np.asarray(self.part, dtype=np.int64).reshape(-1)
        if not len(self.x) == len(self.y) == len(self.part):
            raise ValueError("x, y and part must have the same length")
        if not np.all(np.isfinite(self.x)) or not np.all(np.isfinite(self.y)):
            raise ValueError("point coordinates must be finite")
        if len(self.part) and (self.part.min() < 1 or self.part.max() > N_COARSE):
            raise ValueError(f"part must be in 1..{N_COARSE}")

    def __len__(self) -> int:
        return len(self.x)

    @staticmethod
    def empty() -> SamplePoints:
        return SamplePoints(np.zeros(0), np.zeros(0), np.zeros(0, np.int64))


@dataclass
class Answers:
    """One annotator's answers to the N points of one person (stage 2).

    Attributes:
        annotator: the annotator's name.
        status: ``[N]`` uint8, an :class:`AnswerStatus` per point.
        face: ``[N]`` int64 surface point face, -1 when unknown or not answered.
        bary: ``[N, 3]`` float64 barycentric coordinates, NaN when unknown.
        i: ``[N]`` int64 chart 1..24, 0 when not answered or not visible.
        u: ``[N]`` float64 in [0, 1], NaN when not answered.
        v: ``[N]`` float64 in [0, 1], NaN when not answered.
        time: ``[N]`` float64 unix time of the answer, NaN when not answered.
    """

    annotator: str
    status: np.ndarray
    face: np.ndarray
    bary: np.ndarray
    i: np.ndarray
    u: np.ndarray
    v: np.ndarray
    time: np.ndarray

    def __len__(self) -> int:
        return len(self.status)

    @staticmethod
    def blank(annotator: str, n: int) -> Answers:
        """N unanswered points."""
        nan = np.full(n, np.nan)
        return Answers(
            annotator=annotator,
            status=np.zeros(n, np.uint8),
            face=np.full(n, -1, np.int64),
            bary=np.full((n, 3), np.nan),
            i=np.zeros(n, np.int64),
            u=nan.copy(),
            v=nan.copy(),
            time=nan.copy(),
        )

    @property
    def answered(self) -> np.ndarray:
        """``[N]`` bool: the point has an answer (a spot or "not visible")."""
        return self.status != AnswerStatus.UNANSWERED

    @property
    def visible(self) -> np.ndarray:
        """``[N]`` bool: the point was answered with a spot on the body."""
        return self.status == AnswerStatus.ANSWERED

    def surface(self, mask: np.ndarray | None = None) -> SurfacePoints:
        """The surface points of the rows in ``mask`` (default: those with a known face)."""
        rows = self.face >= 0 if mask is None else np.asarray(mask)
        return SurfacePoints(self.face[rows], self.bary[rows])


@dataclass
class GoldTruth:
    """Exact ground truth of a synthetic person over a pixel-aligned region of its image.

    Attributes:
        x0: column of the region's left edge in image pixels.
        y0: row of the region's top edge in image pixels.
        labels: ``[H, W]`` uint8 coarse part 0..14 per pixel.
        face: ``[H, W]`` int32 surface point face per pixel, -1 where no body.
        bary: ``[H, W, 3]`` float32 barycentric coordinates per pixel.
        i: ``[H, W]`` uint8 chart 0..24 per pixel, or None (computable from face/bary).
        u: ``[H, W]`` float32 in [0, 1], or None.
        v: ``[H, W]`` float32 in [0, 1], or None.
        source: free text saying what produced it (renderer, version, seed).
    """

    x0: int
    y0: int
    labels: np.ndarray
    face: np.ndarray
    bary: np.ndarray
    i: np.ndarray | None = None
    u: np.ndarray | None = None
    v: np.ndarray | None = None
    source: str = ""

    def __post_init__(self) -> None:
        shape = np.shape(self.labels)
        if len(shape) != 2:
            raise ValueError(f"labels must be 2-D, got shape {shape}")
        if np.shape(self.face) != shape or np.shape(self.bary) != (*shape, 3):
            raise ValueError(f"face must be {shape} and bary {(*shape, 3)}")
        iuv = (self.i, self.u, self.v)
        if any(a is None for a in iuv) and not all(a is None for a in iuv):
            raise ValueError("give all of i, u, v or none")
        if any(a is not None and np.shape(a) != shape for a in iuv):
            raise ValueError(f"i, u, v must have shape {shape}")


@dataclass
class PersonProposal:
    """What a model proposes for one person (input of ``Project.add_proposals``).

    Attributes:
        image_id: the image.
        box: the person's box (the existing person's, or the one the model found).
        score: the model's detection score in [0, 1] (1.0 on a box a person drew).
        person_id: the existing person, or None for a person the model found.
        mask: the model's 14-part label map (IMAGE frame), or None.
        points: the sample points ``answers`` refer to (the person's own, or sampled from
            ``mask`` when it had none), or None.
        answers: the model's answers at ``points`` (its ``annotator`` is the model's name),
            unanswered where the model saw no body.
    """

    image_id: int
    box: Box
    score: float
    person_id: int | None = None
    mask: PartMask | None = None
    points: SamplePoints | None = None
    answers: Answers | None = None


@dataclass(frozen=True)
class Proposal:
    """A stored proposal: what a model made for a person and how people reviewed it.

    Attributes:
        id: row id.
        person_id: the person, or None once deleted (a rejected found person).
        image_id: the image.
        model: the machine annotator's name (``model:<run>``).
        score: detection score in [0, 1].
        box: the box the model saw or proposed.
        made_box: the model found the person (its box is the model's).
        made_mask: the model's part mask was stored.
        made_answers: answers the model proposed.
        status: proposed, accepted or rejected.
        decided_by: who accepted or rejected it.
        decided: unix time of that decision.
        created: unix time of the proposal.
    """

    id: int
    person_id: int | None
    image_id: int
    model: str
    score: float
    box: Box
    made_box: bool
    made_mask: bool
    made_answers: int
    status: ProposalStatus
    decided_by: str | None
    decided: float | None
    created: float


@dataclass(frozen=True)
class ImageTasks:
    """How far the tasks (non-crowd persons) of one image are: what an image list shows."""

    image_id: int
    tasks: int
    done: int  # tasks at least CORRESPONDED
    lowest: TaskState | None  # the state of the least advanced task; None without tasks
    gold: bool  # one of the tasks is a gold task


@dataclass
class ProjectStats:
    """Counts that describe a project.

    ``proposals`` counts the persons models pre-annotated by review status; ``machine_masks``
    and ``machine_answers`` count masks and answered points made by models (people's are in
    ``masks`` and ``answers`` too: those count every annotator), and
    ``confirmed_machine_answers`` the machine answers a person accepted.
    """

    body: str
    images: int
    persons: int
    crowd: int
    by_state: dict[TaskState, int]
    masks: int
    persons_with_points: int
    points: int
    answers: int
    not_visible: int
    annotators: list[str]
    gold: int
    proposals: dict[ProposalStatus, int] = field(default_factory=dict)
    machine_masks: int = 0
    machine_answers: int = 0
    confirmed_machine_answers: int = 0
