"""One call scores detections against DensePose-COCO ground truth: :func:`evaluate`.

Stages: group and match (:mod:`~model.evaluation.densepose_eval`,
:mod:`~model.evaluation.pointwise`), the per-point geodesic errors of every pair any figure
needs in one batch (:mod:`~model.evaluation.pairs`), masks, AP per mode, pointwise figures,
and dense figures on synthetic folders (:mod:`~model.evaluation.dense_scores`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from annotator.surface.atlas import Atlas
from annotator.surface.geodesic import Geodesics
from model.evaluation import masks
from model.evaluation.dense_scores import DenseReport, dense_report, has_truth_files
from model.evaluation.densepose_eval import MODES, Block, ap_pairs, evaluate_mode, make_blocks
from model.evaluation.distances import BodyDistance, PointDistance
from model.evaluation.ground_truth import GroundTruth, load_ground_truth
from model.evaluation.pairs import PairErrors, kappa_of, pair_errors
from model.evaluation.pointwise import match_by_box, match_by_gt_id, pointwise_report
from model.evaluation.report import EvaluationReport
from model.evaluation.results import Detection


def evaluate(
    ground_truth: str | Path | dict[str, Any] | GroundTruth,
    detections: Sequence[Detection],
    *,
    atlas: Atlas | None = None,
    geodesics: Geodesics | None = None,
    distance: PointDistance | None = None,
    images_root: str | Path | None = None,
    kappa: str | float = "per_part",
    modes: Sequence[str] = MODES,
    dense: bool | None = None,
    gt_boxes: bool | None = None,
) -> EvaluationReport:
    """Score ``detections`` against the ground truth.

    Args:
        ground_truth: DensePose-COCO file, its parsed dict, or a loaded :class:`GroundTruth`.
        detections: the detections (any order; scores decide).
        atlas, geodesics: the body's atlas (default: Anny's) and its geodesic table (default:
            from the cache, or built: minutes; its atlas is then the one used).
        distance: the ruler of the pointwise errors and GPS (default: :class:`BodyDistance`
            on ``geodesics``); dense figures always use the body's geodesics.
        images_root: folder of the truth files (``gt_file``); default: the JSON's folder.
        kappa: GPS normalisation: ``"per_part"`` (reference) or metres (paper: 0.255).
        modes: AP modes among "gps", "gpsm", "iou" (empty: pointwise figures only).
        dense: score every skin pixel (synthetic folders; None: when truth files are found).
        gt_boxes: detections on the true boxes (None: when every one carries a ``gt_id``).

    Raises:
        GroundTruthError: the ground truth is malformed, or dense truth files are missing.
        ValueError: bad ``modes`` / ``kappa``, or a detection on an unknown image.
    """
    clock = _Clock()
    gt = _ground_truth(ground_truth, images_root)
    _check_options(modes, kappa)
    distance = _ruler(distance, atlas, geodesics, modes)
    measured, blocks = distance.name != "none", make_blocks(gt, detections)
    match, how = _match(gt, detections, gt_boxes)
    clock.lap("grouping")
    errors = _errors(gt, detections, blocks, match, distance)
    clock.lap("geodesics")
    masks_needed = bool(set(modes) & {"gpsm", "iou"})
    matched_iou = _fill_blocks(gt, detections, blocks, errors, kappa, match, masks_needed)
    clock.lap("masks")
    ap = {mode: evaluate_mode(gt, blocks, mode) for mode in modes}
    clock.lap("matching_ap")
    body = _Body(atlas, geodesics, distance)
    dense_figures = _dense_figures(gt, detections, match, body, dense if measured else False, clock)
    return EvaluationReport(
        ground_truth=gt.source,
        detections=len(detections),
        images=len(gt.image_ids),
        kappa=kappa,
        geodesics=distance.describe(),
        ap=ap,
        pointwise=pointwise_report(gt, match, errors, matched_iou, how, measured),
        dense=dense_figures,
        seconds=clock.laps,
        notes=_notes(gt, detections),
    )


def similarities(
    gt: GroundTruth,
    detections: Sequence[Detection],
    distance: PointDistance,
    *,
    kappa: str | float = "per_part",
    need_masks: bool = True,
) -> dict[tuple[int, int], Block]:
    """The (image, category) blocks with the similarities the AP matches on, as
    :func:`evaluate` computes them: ``gps``, ``box_iou`` and ``mask_iou`` ``[D, G]``
    (detections best score first, persons in file order; None where a block has no pair).

    For checks against the reference, which stores the same matrices.
    """
    blocks = make_blocks(gt, detections)
    no_match = np.full(len(gt), -1, np.int64)
    errors = _errors(gt, detections, blocks, no_match, distance)
    _fill_blocks(gt, detections, blocks, errors, kappa, no_match, need_masks)
    return blocks


def _ruler(
    distance: PointDistance | None,
    atlas: Atlas | None,
    geodesics: Geodesics | None,
    modes: Sequence[str],
) -> PointDistance:
    """The ruler given, else the body's geodesics; GPS modes refused without a ruler."""
    if distance is None:
        distance = BodyDistance(_resolve_geodesics(atlas, geodesics))
    if distance.name == "none" and set(modes) - {"iou"}:
        raise ValueError(f"GPS needs geodesic errors, which are {distance.describe()}")
    return distance


def _match(
    gt: GroundTruth, detections: Sequence[Detection], gt_boxes: bool | None
) -> tuple[np.ndarray, str]:
    """Each annotation's detection for the pointwise figures, and how they were matched."""
    if gt_boxes is None:
        gt_boxes = bool(detections) and all(d.gt_id is not None for d in detections)
    if gt_boxes:
        return match_by_gt_id(gt, detections), "gt_id or identical box"
    return match_by_box(gt, detections), "greedy by score, box IoU >= 0.5"


def _resolve_geodesics(atlas: Atlas | None, geodesics: Geodesics | None) -> Geodesics:
    """The geodesics given, else those of ``atlas`` (default: the shipped Anny atlas)."""
    if geodesics is not None:
        return geodesics
    return Geodesics.load_or_build(atlas if atlas is not None else _default_atlas())


class _Body:
    """The body's geodesics for the dense figures, loaded only when they are computed."""

    def __init__(
        self, atlas: Atlas | None, geodesics: Geodesics | None, distance: PointDistance
    ) -> None:
        if geodesics is None and isinstance(distance, BodyDistance):
            geodesics = distance.geodesics
        self.atlas, self.loaded = atlas, geodesics

    def geodesics(self) -> Geodesics:
        if self.loaded is None:
            self.loaded = _resolve_geodesics(self.atlas, None)
        return self.loaded


def _dense_figures(
    gt: GroundTruth,
    detections: Sequence[Detection],
    match: np.ndarray,
    body: _Body,
    dense: bool | None,
    clock: _Clock,
) -> DenseReport | None:
    """Dense figures when asked (``dense``) or, with ``dense`` None, when truth files exist."""
    if dense and gt.root is None:
        raise ValueError("dense figures need images_root: the synthetic folder")
    if gt.root is None or not (dense or (dense is None and has_truth_files(gt))):
        return None
    figures = dense_report(gt, detections, match, body.geodesics(), gt.root)
    clock.lap("dense")
    return figures


class _Clock:
    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = round(now - self._last, 3)
        self._last = now


def _default_atlas() -> Atlas:
    from annotator.surface.atlas import load_atlas

    return load_atlas()


def _ground_truth(
    source: str | Path | dict[str, Any] | GroundTruth, root: str | Path | None
) -> GroundTruth:
    if isinstance(source, GroundTruth):
        if root is not None:
            source.root = Path(root)
        return source
    return load_ground_truth(source, root=root)


def _check_options(modes: Sequence[str], kappa: str | float) -> None:
    unknown = [m for m in modes if m not in MODES]
    if unknown:
        raise ValueError(f"unknown mode(s) {unknown}; choose from {', '.join(MODES)}")
    kappa_of(np.array([1]), kappa)  # raises on a bad value
    if not isinstance(kappa, str) and not float(kappa) > 0:
        raise ValueError(f"kappa must be positive metres, got {kappa}")


def _errors(
    gt: GroundTruth,
    detections: Sequence[Detection],
    blocks: dict[tuple[int, int], Block],
    match: np.ndarray,
    distance: PointDistance,
) -> PairErrors:
    """Per-point errors of the AP pairs and of the matched pairs, in one batch."""
    scored = np.flatnonzero((match >= 0) & gt.has_points)
    matched = np.stack([match[scored], scored], axis=1)
    pairs = np.unique(np.concatenate([ap_pairs(gt, blocks), matched]), axis=0)
    return pair_errors(gt, detections, pairs, distance)


def _fill_blocks(
    gt: GroundTruth,
    detections: Sequence[Detection],
    blocks: dict[tuple[int, int], Block],
    errors: PairErrors,
    kappa: str | float,
    match: np.ndarray,
    need_masks: bool,
) -> dict[tuple[int, int], float]:
    """Set each block's GPS, box IoU and (if needed) mask IoU; return the matched pairs'
    mask IoU."""
    gps = errors.gps(gt, kappa)
    index = errors.index()
    rles = _MaskCache(gt, detections)
    for block in blocks.values():
        if not len(block.det) or not len(block.ann):
            continue
        q = np.array([[index.get((int(d), int(a)), -1) for a in block.ann] for d in block.det])
        block.gps = np.where(q >= 0, gps[np.maximum(q, 0)], 0.0)
        crowd = gt.crowd[block.ann]
        boxes = np.array([detections[d].bbox for d in block.det], np.float64)
        block.box_iou = masks.box_iou(boxes, gt.boxes[block.ann], crowd)
        if need_masks:
            block.mask_iou = masks.iou(
                [rles.detection(int(d)) for d in block.det],
                [rles.annotation(int(a)) for a in block.ann],
                crowd,
            )
    out = {}
    for a in np.flatnonzero((match >= 0) & gt.has_points & ~gt.crowd):
        d = int(match[a])
        out[d, int(a)] = float(
            masks.iou([rles.detection(d)], [rles.annotation(int(a))], np.zeros(1, bool))[0, 0]
        )
    return out


class _MaskCache:
    """Pasted masks of detections and annotations, each built once."""

    def __init__(self, gt: GroundTruth, detections: Sequence[Detection]) -> None:
        self.gt, self.detections = gt, detections
        self._det: dict[int, masks.Pasted] = {}
        self._ann: dict[int, masks.Pasted] = {}

    def _size(self, image_id: int) -> tuple[int, int]:
        record = self.gt.images[image_id]
        return int(record["height"]), int(record["width"])

    def detection(self, d: int) -> masks.Pasted:
        if d not in self._det:
            det = self.detections[d]
            labels = det.densepose.labels.numpy()
            self._det[d] = masks.paste(labels, det.bbox, *self._size(det.image_id))
        return self._det[d]

    def annotation(self, a: int) -> masks.Pasted:
        if a not in self._ann:
            ann = self.gt.annotations[a]
            self._ann[a] = masks.ground_truth_mask(ann, *self._size(int(ann["image_id"])))
        return self._ann[a]


def _notes(gt: GroundTruth, detections: Sequence[Detection]) -> list[str]:
    categories = set(gt.category_ids)
    other = sum(d.category_id not in categories for d in detections)
    notes = []
    if other:
        notes.append(f"{other} detections of categories absent from the ground truth skipped")
    return notes
