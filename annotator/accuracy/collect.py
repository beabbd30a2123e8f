"""Gather annotators' answers on gold tasks and measure them against the truth.

A gold task knows, for every pixel of its person, the true surface point. Each stage-2
answer is compared with the truth at its sampled pixel: the geodesic distance on the rest body
between the picked and the true surface point is its error. Stage-1 masks are compared part by
part (IoU) with the true part labels.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields

import numpy as np

from annotator.dataset.masks import to_image
from annotator.dataset.records import AnswerStatus, GoldTruth, PartMask
from annotator.dataset.store import Project
from annotator.surface.atlas import Atlas
from annotator.surface.geodesic import Geodesics
from annotator.surface.parts import N_COARSE
from annotator.surface.points import SurfacePoints


@dataclass
class PointErrors:
    """One row per answered point of a gold task (arrays of equal length N).

    Attributes:
        person, image, index: which point (index in the person's sample points).
        annotator: ``[N]`` object array of names.
        part: ``[N]`` true coarse part 1..14 at the point's pixel (0: no body there).
        status: ``[N]`` :class:`AnswerStatus` (ANSWERED or NOT_VISIBLE).
        error: ``[N]`` geodesic error in metres; NaN when not visible or off the body.
        true_face, true_bary: the true surface point (-1 / NaN off the body).
        picked_face, picked_bary: the answer's surface point (-1 / NaN when not visible).
        time: ``[N]`` unix time of the answer.
    """

    person: np.ndarray
    image: np.ndarray
    index: np.ndarray
    annotator: np.ndarray
    part: np.ndarray
    status: np.ndarray
    error: np.ndarray
    true_face: np.ndarray
    true_bary: np.ndarray
    picked_face: np.ndarray
    picked_bary: np.ndarray
    time: np.ndarray

    def __len__(self) -> int:
        return len(self.person)

    @property
    def measured(self) -> np.ndarray:
        """``[N]`` bool: the point has an error (a spot on the body, truth at its pixel)."""
        return np.isfinite(self.error)

    @property
    def not_visible(self) -> np.ndarray:
        return self.status == AnswerStatus.NOT_VISIBLE

    @property
    def off_body(self) -> np.ndarray:
        return (self.status == AnswerStatus.ANSWERED) & (self.true_face < 0)


def true_points(
    gold: GoldTruth, x: np.ndarray, y: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """True (face ``[N]``, bary ``[N, 3]``, coarse part ``[N]``) at image positions (x, y).

    Pixels outside the gold region or without body give face -1 and part 0.
    """
    col = np.floor(np.asarray(x)).astype(np.int64) - gold.x0
    row = np.floor(np.asarray(y)).astype(np.int64) - gold.y0
    h, w = gold.face.shape
    inside = (col >= 0) & (col < w) & (row >= 0) & (row < h)
    c, r = np.clip(col, 0, w - 1), np.clip(row, 0, h - 1)
    face = np.where(inside, gold.face[r, c], -1).astype(np.int64)
    bary = np.where(face[:, None] >= 0, gold.bary[r, c].astype(np.float64), np.nan)
    part = np.where(face >= 0, gold.labels[r, c], 0).astype(np.int64)
    return face, bary, part


def collect_errors(
    project: Project,
    geodesics: Geodesics,
    annotators: Iterable[str] | None = None,
    since: float | None = None,
    until: float | None = None,
) -> PointErrors:
    """Every answered point of every gold task, with its geodesic error.

    Args:
        annotators: only these annotators (default: all).
        since, until: only answers given in [since, until) (unix time).
    """
    wanted = None if annotators is None else set(annotators)
    atlas = geodesics.atlas
    rows: dict[str, list[np.ndarray]] = {f.name: [] for f in fields(PointErrors)}
    for person_id in project.gold_person_ids():
        points = project.sample_points(person_id)
        gold = project.gold(person_id)
        if points is None or gold is None or len(points) == 0:
            continue
        true_face, true_bary, part = true_points(gold, points.x, points.y)
        image_id = project.person(person_id).image_id
        for answers in project.all_answers(person_id):
            if wanted is not None and answers.annotator not in wanted:
                continue
            keep = answers.answered.copy()
            if since is not None:
                keep &= answers.time >= since
            if until is not None:
                keep &= answers.time < until
            idx = np.flatnonzero(keep)
            face, bary = _picked(atlas, answers.face[idx], answers.bary[idx], answers.i[idx],
                                 answers.u[idx], answers.v[idx])  # fmt: skip
            n = len(idx)
            rows["person"].append(np.full(n, person_id))
            rows["image"].append(np.full(n, image_id))
            rows["index"].append(idx)
            rows["annotator"].append(np.full(n, answers.annotator, dtype=object))
            rows["part"].append(part[idx])
            rows["status"].append(answers.status[idx])
            rows["true_face"].append(true_face[idx])
            rows["true_bary"].append(true_bary[idx])
            rows["picked_face"].append(face)
            rows["picked_bary"].append(bary)
            rows["time"].append(answers.time[idx])
            rows["error"].append(np.full(n, np.nan))
    out = PointErrors(**{k: _concat(k, v) for k, v in rows.items()})
    ok = (out.picked_face >= 0) & (out.true_face >= 0) & (out.status == AnswerStatus.ANSWERED)
    if ok.any():
        picked = SurfacePoints(out.picked_face[ok], out.picked_bary[ok])
        truth = SurfacePoints(out.true_face[ok], out.true_bary[ok])
        out.error[ok] = geodesics.distance(picked, truth)
    return out


def _picked(
    atlas: Atlas, face: np.ndarray, bary: np.ndarray, i: np.ndarray, u: np.ndarray, v: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The answers' surface points; answers known only by (I, U, V) go through the atlas."""
    face = face.astype(np.int64).copy()
    bary = bary.astype(np.float64).copy()
    need = (face < 0) & (i > 0)
    if need.any():
        found = atlas.from_iuv(i[need], u[need], v[need])
        face[need], bary[need] = found.face, found.bary
    return face, bary


def _concat(name: str, parts: list[np.ndarray]) -> np.ndarray:
    if parts:
        return np.concatenate(parts)
    shapes = {"true_bary": (0, 3), "picked_bary": (0, 3)}
    dtype = object if name == "annotator" else np.float64
    return np.zeros(shapes.get(name, (0,)), dtype=dtype)


@dataclass(frozen=True)
class MaskScore:
    """Stage-1 IoU of one annotator's part mask of one gold person, per coarse part.

    Attributes:
        iou: ``[15]`` IoU per coarse part (index 1..14), NaN where neither mask has the part.
    """

    annotator: str
    person: int
    iou: np.ndarray
    updated: float | None


def stage1_scores(project: Project, annotators: Iterable[str] | None = None) -> list[MaskScore]:
    """IoU per part of every annotator's stage-1 mask of every gold task."""
    wanted = None if annotators is None else set(annotators)
    out = []
    for person_id in project.gold_person_ids():
        gold = project.gold(person_id)
        if gold is None:
            continue
        box = project.person(person_id).box
        for mask in project.part_masks(person_id):
            if wanted is not None and mask.annotator not in wanted:
                continue
            image_mask = to_image(mask, box)
            out.append(
                MaskScore(str(mask.annotator), person_id, part_iou(image_mask, gold), mask.updated)
            )
    return out


def part_iou(mask: PartMask, gold: GoldTruth) -> np.ndarray:
    """IoU ``[15]`` of an image-aligned part mask against the true labels, per coarse part."""
    x0, y0 = min(mask.x0, gold.x0), min(mask.y0, gold.y0)
    x1 = max(mask.x0 + mask.labels.shape[1], gold.x0 + gold.labels.shape[1])
    y1 = max(mask.y0 + mask.labels.shape[0], gold.y0 + gold.labels.shape[0])
    a = np.zeros((y1 - y0, x1 - x0), np.uint8)
    g = np.zeros_like(a)
    h, w = mask.labels.shape
    a[mask.y0 - y0 : mask.y0 - y0 + h, mask.x0 - x0 : mask.x0 - x0 + w] = mask.labels
    h, w = gold.labels.shape
    g[gold.y0 - y0 : gold.y0 - y0 + h, gold.x0 - x0 : gold.x0 - x0 + w] = gold.labels
    iou = np.full(N_COARSE + 1, np.nan)
    for part in range(1, N_COARSE + 1):
        union = np.count_nonzero((a == part) | (g == part))
        if union:
            iou[part] = np.count_nonzero((a == part) & (g == part)) / union
    return iou
