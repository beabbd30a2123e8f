"""DensePose AP / AR (GPS, GPSm, IOU) exactly as detectron2's ``densepose_coco_evaluation.py``.

The reference is a 1,300-line copy of pycocotools' ``COCOeval``; only its per-image step
differs from COCO keypoints. So here the per-image step is our own (:func:`evaluate_image`)
and pycocotools' own ``COCOeval.accumulate`` turns the per-image records into precision and
recall, with COCO keypoint parameters, which are the reference's DensePose parameters:
thresholds 0.50:0.05:0.95, recall 0:0.01:1, at most 20 detections per image (the 20 best
scores), areas all / medium [32^2, 96^2] / large [96^2, 1e10] (bounds inclusive).

What the per-image step keeps from the reference, each of which changes AP:

* the similarity of a (detection, person) pair is GPS (mean over the person's points of
  exp(-g^2 / 2k^2)), GPSm = sqrt(GPS * mask IoU), or the mask IoU; a person without
  ``dp_x`` is ignored and has GPS 0 (so it is never matched in GPS and GPSm modes);
* a person is also ignored outside the area range (its ``area`` field); ignored persons are
  tried last; a pair is matched greedily by score at each threshold, never on similarity 0;
* after matching, at the *last* threshold (0.95), each detection still unmatched there takes
  the ignore flag of the free person whose *box* IoU with it is highest and at least 0.8
  (ties: the later person), for *every* threshold; if that person is ignored, the pair is
  also recorded as matched at 0.95;
* in an image whose persons are all ignored for the area range (or that has none), every
  detection is ignored;
* an unmatched detection whose box area (w x h) is outside the range is ignored;
* matches store annotation ids, and an id of 0 reads as "unmatched", as in the reference;
* equal scores keep their order: within an image the results' order, across images the
  image id order (stable sorts, as ``COCOeval.accumulate`` does).

The reference's ``ignore_regions_x`` image field (DensePose-PoseTrack) is not supported.
"""

from __future__ import annotations

import contextlib
import copy
import io
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from model.evaluation.ground_truth import GroundTruth
from model.evaluation.results import Detection

MODES = ("gps", "gpsm", "iou")
#: The ten standard numbers, in the reference's order.
STAT_NAMES = ("AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl")
#: Box IoU at which an unmatched detection takes a free person's ignore flag.
BOX_IGNORE_IOU = 0.8


@dataclass(frozen=True)
class APSummary:
    """The ten standard numbers of one mode, fractions in [0, 1] (-1: nothing to measure).

    Attributes:
        mode: "gps", "gpsm" or "iou".
        stats: name (:data:`STAT_NAMES`) -> value.
    """

    mode: str
    stats: dict[str, float]

    @property
    def ap(self) -> float:
        return self.stats["AP"]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Block:
    """Detections and persons of one (image, category), grouped as the reference does.

    Attributes:
        image_id, category_id: the group.
        ann: ``[G]`` annotation indices, file order.
        det: ``[D]`` detection indices, best score first (stable), at most 20.
        scores: ``[D]`` their scores; det_area: ``[D]`` their box areas w x h.
        gps: ``[D, G]`` GPS of each pair (0 for ignored persons).
        box_iou: ``[D, G]`` box IoU (crowd persons: intersection over the detection's box).
        mask_iou: ``[D, G]`` mask IoU, or None when no mode needs it.
    """

    image_id: int
    category_id: int
    ann: np.ndarray
    det: np.ndarray
    scores: list[float]
    det_area: np.ndarray
    gps: np.ndarray | None = None
    box_iou: np.ndarray | None = None
    mask_iou: np.ndarray | None = None


def make_blocks(
    gt: GroundTruth, detections: Sequence[Detection], max_dets: int = 20
) -> dict[tuple[int, int], Block]:
    """Every (image, category) that has persons or detections of a ground-truth category.

    Raises:
        ValueError: a detection on an image the ground truth does not have.
    """
    categories = set(gt.category_ids)
    by_key: dict[tuple[int, int], list[int]] = defaultdict(list)
    for k, d in enumerate(detections):
        if d.image_id not in gt.images:
            raise ValueError(
                f"detection {k}: image_id {d.image_id} is not in the ground truth "
                f"{gt.source}; score the results against the data set they were made on"
            )
        if d.category_id in categories:
            by_key[d.image_id, d.category_id].append(k)
    blocks = {}
    for key in set(by_key) | set(gt.blocks):
        dets = sorted(by_key.get(key, []), key=lambda k: -detections[k].score)[:max_dets]
        ann = np.array(gt.blocks.get(key, []), np.int64)
        boxes = np.array([detections[k].bbox for k in dets], np.float64).reshape(-1, 4)
        scores = [detections[k].score for k in dets]
        det = np.array(dets, np.int64)
        blocks[key] = Block(key[0], key[1], ann, det, scores, boxes[:, 2] * boxes[:, 3])
    return blocks


def ap_pairs(gt: GroundTruth, blocks: dict[tuple[int, int], Block]) -> np.ndarray:
    """``[Q, 2]`` (detection, annotation) pairs whose GPS the reference computes."""
    out = [
        np.stack(np.meshgrid(b.det, b.ann[gt.has_points[b.ann]], indexing="ij"), -1).reshape(-1, 2)
        for b in blocks.values()
        if len(b.det) and len(b.ann)
    ]
    return np.concatenate(out) if out else np.zeros((0, 2), np.int64)


def similarity(block: Block, mode: str) -> np.ndarray:
    """``[D, G]`` the mode's similarity of each pair."""
    assert block.gps is not None
    if mode == "gps":
        return block.gps
    if block.mask_iou is None:
        raise ValueError(f"mode {mode!r} needs the mask IoU")
    if mode == "gpsm":
        return np.sqrt(block.mask_iou * block.gps)
    if mode == "iou":
        return block.mask_iou
    raise ValueError(f"unknown mode {mode!r}; choose from {', '.join(MODES)}")


def evaluate_mode(gt: GroundTruth, blocks: dict[tuple[int, int], Block], mode: str) -> APSummary:
    """AP / AR of one mode over all images (``COCOeval.accumulate`` does the counting)."""
    from pycocotools.cocoeval import COCOeval

    evaluator = COCOeval(iouType="keypoints")  # the DensePose parameters (module docstring)
    params = evaluator.params
    params.imgIds, params.catIds = list(gt.image_ids), list(gt.category_ids)
    thresholds = np.asarray(params.iouThrs)
    records: list[dict[str, Any] | None] = []
    for category in params.catIds:
        for area in params.areaRng:
            for image in params.imgIds:
                block = blocks.get((image, category))
                records.append(
                    None if block is None else evaluate_image(gt, block, mode, area, thresholds)
                )
    evaluator.evalImgs = records
    evaluator._paramsEval = copy.deepcopy(params)
    with contextlib.redirect_stdout(io.StringIO()):
        evaluator.accumulate()
    return APSummary(mode, summarize(evaluator.eval, params))


def evaluate_image(
    gt: GroundTruth, block: Block, mode: str, area: Sequence[float], thresholds: np.ndarray
) -> dict[str, Any] | None:
    """The per-image record ``COCOeval.accumulate`` reads, for one area range."""
    n_gt, n_det = len(block.ann), len(block.det)
    if n_gt == 0 and n_det == 0:
        return None
    lo, hi = area
    areas = gt.areas[block.ann]
    ignore = ~gt.has_points[block.ann] | (areas < lo) | (areas > hi)
    order = np.argsort(ignore, kind="mergesort")
    ignore = ignore[order]
    ann = block.ann[order]
    t_count = len(thresholds)
    gt_match = np.zeros((t_count, n_gt))
    det_match = np.zeros((t_count, n_det))
    det_ignore = np.full((t_count, n_det), bool(np.all(ignore)))
    if n_gt and n_det:
        assert block.box_iou is not None
        state = _Matching(
            ids=gt.ids[ann].tolist(),
            det_ids=(block.det + 1).tolist(),
            ignore=ignore.tolist(),
            crowd=gt.crowd[ann].tolist(),
            gt_match=gt_match,
            det_match=det_match,
            det_ignore=det_ignore,
        )
        state.match(similarity(block, mode)[:, order], thresholds)
        state.box_rule(block.box_iou[:, order])
    outside = (block.det_area < lo) | (block.det_area > hi)
    det_ignore = det_ignore | ((det_match == 0) & outside[None, :])
    return {
        "image_id": block.image_id,
        "category_id": block.category_id,
        "aRng": list(area),
        "maxDet": 20,
        "dtIds": (block.det + 1).tolist(),
        "gtIds": gt.ids[ann].tolist(),
        "dtMatches": det_match,
        "gtMatches": gt_match,
        "dtScores": block.scores,
        "gtIgnore": ignore,
        "dtIgnore": det_ignore,
    }


@dataclass
class _Matching:
    """Greedy matching state of one image (persons sorted ignored-last)."""

    ids: list[int]
    det_ids: list[int]
    ignore: list[bool]
    crowd: list[bool]
    gt_match: np.ndarray
    det_match: np.ndarray
    det_ignore: np.ndarray

    def match(self, sim: np.ndarray, thresholds: np.ndarray) -> None:
        """Each detection, best score first, takes the free person it is most similar to."""
        rows = sim.tolist()
        n_gt = len(self.ids)
        for t, threshold in enumerate(thresholds):
            taken = [0] * n_gt
            for d, row in enumerate(rows):
                best, m = min(float(threshold), 1 - 1e-10), -1
                for g in range(n_gt):
                    if taken[g] and not self.crowd[g]:
                        continue
                    if m > -1 and not self.ignore[m] and self.ignore[g]:
                        break
                    if row[g] < best or row[g] == 0.0:
                        continue
                    best, m = row[g], g
                if m == -1:
                    continue
                self.det_ignore[t, d] = self.ignore[m]
                self.det_match[t, d] = self.ids[m]
                taken[m] = self.det_ids[d]
            self.gt_match[t] = taken

    def box_rule(self, box_iou: np.ndarray) -> None:
        """Unmatched at the last threshold: take the ignore flag of a free person with box
        IoU >= 0.8 (the reference's rule, including its use of the last threshold only)."""
        last = len(self.gt_match) - 1
        for d, row in enumerate(box_iou.tolist()):
            if self.det_match[last, d] != 0:
                continue
            best, m = BOX_IGNORE_IOU, -1
            for g, value in enumerate(row):
                if self.gt_match[last, g] > 0 and not self.crowd[g]:
                    continue
                if value < best:
                    continue
                best, m = value, g
            if m > -1:
                self.det_ignore[:, d] = self.ignore[m]
                if self.ignore[m]:
                    self.det_match[last, d] = self.ids[m]
                    self.gt_match[last, m] = self.det_ids[d]


def summarize(result: dict[str, Any], params: Any) -> dict[str, float]:
    """The ten standard numbers from accumulated precision ``[T, R, K, A, M]`` and recall."""
    thresholds = np.asarray(params.iouThrs)

    def mean(values: np.ndarray) -> float:
        valid = values[values > -1]
        return float(np.mean(valid)) if valid.size else -1.0

    stats = {}
    for name in STAT_NAMES:
        kind, suffix = name[:2], name[2:]
        array = result["precision"] if kind == "AP" else result["recall"]
        if suffix in ("50", "75"):
            array = array[np.flatnonzero(np.abs(thresholds - int(suffix) / 100) < 1e-3)]
        label = {"m": "medium", "l": "large"}.get(suffix, "all")
        a = params.areaRngLbl.index(label)
        stats[name] = mean(array[..., a, :] if kind == "AP" else array[:, :, a, :])
    return stats
