"""Pointwise figures (the paper's): each annotated person's points scored on one detection.

Which detection is a person's (:func:`match_by_box`): in each image, detections of the
ground truth's categories are taken best score first (ties: results order); each takes the
free, non-crowd person of its category whose box IoU with it is highest, if at least 0.5
(ties: the earlier person in the file). Persons without DensePose points take part in the
matching (a detection of an unannotated person must not be counted against a neighbour)
but are not scored. With predictions made on the true boxes (:func:`match_by_gt_id`), each
detection names its person (``gt_id``), or is the person whose box it repeats exactly; of
several detections for one person the best score is kept.

Every annotated point of a person is then read in its detection's maps as the reference
reads it (:mod:`model.evaluation.pairs`); a person without a detection misses all its
points. The mask IoU of a person is the GPSm mask IoU (:mod:`model.evaluation.masks`) with
its detection, 0 without one.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from model.evaluation.figures import ErrorFigures, error_figures
from model.evaluation.ground_truth import GroundTruth
from model.evaluation.masks import box_iou
from model.evaluation.pairs import PairErrors
from model.evaluation.results import Detection

#: Box IoU a detection needs to be a person's (pointwise matching).
MATCH_IOU = 0.5


def match_by_box(gt: GroundTruth, detections: Sequence[Detection]) -> np.ndarray:
    """``[N]`` detection index of each annotation, -1 when none (see module docstring)."""
    out = np.full(len(gt), -1, np.int64)
    by_key: dict[tuple[int, int], list[int]] = defaultdict(list)
    for k, d in enumerate(detections):
        by_key[d.image_id, d.category_id].append(k)
    for key, dets in by_key.items():
        ann = np.array([a for a in gt.blocks.get(key, []) if not gt.crowd[a]], np.int64)
        if not len(ann):
            continue
        dets = sorted(dets, key=lambda k: -detections[k].score)
        boxes = np.array([detections[k].bbox for k in dets], np.float64)
        iou = box_iou(boxes, gt.boxes[ann], np.zeros(len(ann), bool))
        free = np.ones(len(ann), bool)
        for row, k in zip(iou, dets, strict=True):
            candidates = np.where(free, row, -1.0)
            best = int(np.argmax(candidates))
            if candidates[best] >= MATCH_IOU:
                out[ann[best]], free[best] = k, False
    return out


def match_by_gt_id(gt: GroundTruth, detections: Sequence[Detection]) -> np.ndarray:
    """``[N]`` detection index of each annotation for predictions on the true boxes.

    Raises:
        ValueError: a ``gt_id`` that is not an annotation of the detection's image.
    """
    index = gt.index_of()
    out = np.full(len(gt), -1, np.int64)
    for k, d in enumerate(detections):
        if d.gt_id is not None:
            a = index.get(d.gt_id, -1)
            if a < 0 or gt.image_of[a] != d.image_id:
                raise ValueError(
                    f"detection {k}: gt_id {d.gt_id} is not an annotation of image {d.image_id}"
                )
        else:
            same = [
                a for a in gt.blocks.get((d.image_id, d.category_id), [])
                if np.allclose(gt.boxes[a], d.bbox, rtol=0, atol=1e-3)
            ]  # fmt: skip
            if not same:
                continue
            a = same[0]
        if out[a] < 0 or d.score > detections[out[a]].score:
            out[a] = k
    return out


@dataclass(frozen=True)
class PersonScore:
    """One annotated person's result.

    Attributes:
        annotation_id: its id.
        detection: index of its detection in the scored list, or None.
        points: its annotated points.
        mean_error: mean error of its predicted points, metres (NaN: none predicted).
        misses: points without a prediction.
        mask_iou: IoU of its detection's mask with its mask (0 without a detection).
    """

    annotation_id: int
    detection: int | None
    points: int
    mean_error: float
    misses: int
    mask_iou: float


@dataclass(frozen=True)
class PointwiseReport:
    """The paper's figures over the annotated persons.

    Attributes:
        matching: how detections were assigned ("box IoU >= 0.5" or "gt_id / true box").
        persons: annotated persons scored; matched: those with a detection.
        figures: RCP, AUC, mean / median per chart and coarse part (misses infinite).
        mean_mask_iou: mean of the persons' mask IoU.
        per_person: one :class:`PersonScore` per annotated person, file order.
        measured: the geodesic figures mean something (False: the model's charts are not
            the data's; only the matching and the mask IoU do).
    """

    matching: str
    persons: int
    matched: int
    figures: ErrorFigures
    mean_mask_iou: float
    per_person: list[PersonScore]
    measured: bool = True

    def as_dict(self) -> dict[str, Any]:
        return {
            "matching": self.matching,
            "persons": self.persons,
            "matched": self.matched,
            "mean_mask_iou": self.mean_mask_iou,
            "measured": self.measured,
            **(self.figures.as_dict() if self.measured else {}),
            "per_person": [vars(p) for p in self.per_person],
        }


def pointwise_report(
    gt: GroundTruth,
    match: np.ndarray,
    errors: PairErrors,
    mask_iou: dict[tuple[int, int], float],
    matching: str,
    measured: bool = True,
) -> PointwiseReport:
    """Figures of the annotated persons given their detections ``match [N]``.

    Args:
        errors: per-point errors of (at least) every matched pair.
        mask_iou: (detection, annotation) -> mask IoU of every matched pair.
    """
    pair_index = errors.index()
    all_errors, people = [], []
    for a in np.flatnonzero(gt.has_points & ~gt.crowd):
        det = int(match[a])
        span = gt.points(int(a))
        if det >= 0:
            e = errors.errors[errors.rows(pair_index[det, int(a)])]
        else:
            e = np.full(span.stop - span.start, np.inf)
        finite = e[np.isfinite(e)]
        people.append(
            PersonScore(
                annotation_id=int(gt.ids[a]),
                detection=det if det >= 0 else None,
                points=len(e),
                mean_error=float(finite.mean()) if len(finite) else float("nan"),
                misses=int(len(e) - len(finite)),
                mask_iou=float(mask_iou.get((det, int(a)), 0.0)),
            )
        )
        all_errors.append((e, gt.i[span]))
    e_all = np.concatenate([e for e, _ in all_errors]) if all_errors else np.zeros(0)
    c_all = np.concatenate([c for _, c in all_errors]) if all_errors else np.zeros(0, np.int64)
    ious = [p.mask_iou for p in people]
    return PointwiseReport(
        matching=matching,
        persons=len(people),
        matched=sum(p.detection is not None for p in people),
        figures=error_figures(e_all, c_all),
        mean_mask_iou=float(np.mean(ious)) if ious else float("nan"),
        per_person=people,
        measured=measured,
    )
