"""Per-point geodesic errors of (detection, annotated person) pairs, all pairs in one batch.

For a pair, every annotated point of the person is read in the detection's maps exactly as
the reference evaluator reads it: ``dp_x`` is mapped back to the image with ``/ 255`` (not
the ``/ 256`` of training) and into the detection's box with truncation toward zero,

    px = int(dp_x * w_gt / 255 + x_gt - x_det),   py = int(dp_y * h_gt / 255 + y_gt - y_det),

and lies in the box when ``0 <= px < int(w_det)`` and ``0 <= py < int(h_det)``. A point
outside the box, or predicted as background (I = 0), has an infinite error (it scores 0 in
GPS and still counts in the mean). Predictions are read quantized (:func:`quantize`), as the
reference reads them. The distance between the predicted (I, U, V) and the annotated one is
the ruler's (:mod:`model.evaluation.distances`: our body surface, or detectron2's tables).

Pairs whose boxes cannot share a point are skipped (every point is a miss), which keeps the
batch small: one location of the annotated points and one distance call for the data set.

A pair's GPS is the mean of its points' scores taken as the reference takes it (``np.mean``
of the pair's values: pairwise summation), so that equal inputs give equal bits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from annotator.accuracy.metrics import GPS_K_PER_PART
from annotator.surface.parts import FINE_TO_COARSE
from model.evaluation.distances import PointDistance
from model.evaluation.ground_truth import GroundTruth
from model.evaluation.results import Detection, quantize

#: Rows (pair points) converted per batch, to bound memory.
_CHUNK = 1 << 20


@dataclass
class PairErrors:
    """Errors of Q pairs, R = total points of their persons.

    Attributes:
        pairs: ``[Q, 2]`` int64 (detection index, annotation index).
        start: ``[Q + 1]`` int64; the rows of pair q are ``start[q]:start[q + 1]``.
        errors: ``[R]`` float64 geodesic error, metres (inf: outside the box or background).
        point: ``[R]`` int64 ground-truth point index of each row.
        squared: ``[R]`` float64 squared error (m^2) as GPS uses it (None: ``errors**2``).
    """

    pairs: np.ndarray
    start: np.ndarray
    errors: np.ndarray
    point: np.ndarray
    squared: np.ndarray | None = None

    def index(self) -> dict[tuple[int, int], int]:
        """(detection, annotation) -> pair number."""
        return {(int(d), int(a)): q for q, (d, a) in enumerate(self.pairs)}

    def rows(self, q: int) -> slice:
        return slice(int(self.start[q]), int(self.start[q + 1]))

    def gps(self, gt: GroundTruth, kappa: str | float = "per_part") -> np.ndarray:
        """``[Q]`` GPS of each pair: mean over the person's points of exp(-e^2 / (2 k^2)).

        Args:
            kappa: ``"per_part"`` (k by the annotated chart's coarse part, the reference's
                default) or a fixed k in metres (the paper's 0.255).
        """
        k = kappa_of(gt.i[self.point], kappa)
        squared = self.errors**2 if self.squared is None else self.squared
        score = np.exp(-squared / (2 * k**2))
        count = np.diff(self.start)
        out = np.zeros(len(count))
        for n in np.unique(count[count > 0]):
            same = np.flatnonzero(count == n)
            rows = self.start[same, None] + np.arange(n)
            out[same] = np.mean(score[rows], axis=1)  # row by row as np.mean of each pair
        return out


def kappa_of(charts: np.ndarray, kappa: str | float) -> np.ndarray:
    """GPS normalisation (metres) of points on ``charts`` ``[N]``."""
    if kappa == "per_part":
        return np.asarray(GPS_K_PER_PART[FINE_TO_COARSE[charts]], np.float64)
    if isinstance(kappa, str):
        raise ValueError(f"kappa must be 'per_part' or a number of metres, got {kappa!r}")
    return np.full(len(charts), float(kappa))


def pair_errors(
    gt: GroundTruth,
    detections: Sequence[Detection],
    pairs: np.ndarray,
    distance: PointDistance,
) -> PairErrors:
    """Errors of every point of every pair.

    Args:
        gt: the ground truth.
        detections: the detections the pairs refer to.
        pairs: ``[Q, 2]`` (detection index, annotation index), annotations with points.
        distance: the ruler.
    """
    errors_at = distance.bind(gt.i, gt.u, gt.v)
    pairs = np.asarray(pairs, np.int64).reshape(-1, 2)
    counts = np.diff(gt.point_start)[pairs[:, 1]]
    start = np.r_[0, np.cumsum(counts)].astype(np.int64)
    owner = np.repeat(np.arange(len(pairs)), counts)
    point = gt.point_start[pairs[owner, 1]] + np.arange(len(owner)) - start[owner]
    errors = np.full(len(owner), np.inf)
    boxes = np.array([d.bbox for d in detections], np.float64).reshape(-1, 4)
    shapes = np.array([tuple(d.densepose.labels.shape) for d in detections], np.int64)
    shapes = shapes.reshape(-1, 2)
    reach = _may_share_points(boxes[pairs[:, 0]], gt.boxes[pairs[:, 1]])
    rows = np.flatnonzero(reach[owner])
    for lo in range(0, len(rows), _CHUNK):
        chunk = rows[lo : lo + _CHUNK]
        det = pairs[owner[chunk], 0]
        ann_box = gt.boxes[pairs[owner[chunk], 1]]
        px, py = _box_positions(gt, point[chunk], ann_box, boxes[det])
        width = np.minimum(np.trunc(boxes[det, 2]).astype(np.int64), shapes[det, 1])
        height = np.minimum(np.trunc(boxes[det, 3]).astype(np.int64), shapes[det, 0])
        inside = (px >= 0) & (py >= 0) & (px < width) & (py < height)
        iuv = _read_maps(detections, det[inside], py[inside], px[inside])
        found = chunk[inside]
        errors[found] = errors_at(point[found], iuv[0], iuv[1] / 255.0, iuv[2] / 255.0)
    return PairErrors(pairs, start, errors, point, distance.squared(errors, start))


def _may_share_points(det: np.ndarray, ann: np.ndarray) -> np.ndarray:
    """``[Q]`` False where no point of the person's box can fall in the detection's box."""
    out = np.ones(len(det), bool)
    for axis in (0, 1):
        d0, dn = det[:, axis], np.trunc(det[:, axis + 2])
        a0, a1 = ann[:, axis], ann[:, axis] + ann[:, axis + 2]
        out &= (a1 > d0 - 1) & (a0 < d0 + dn)
    return out


def _box_positions(
    gt: GroundTruth, point: np.ndarray, ann_box: np.ndarray, det_box: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Column and row of points in the detection's box (reference mapping: / 255, truncation).

    The float operations run in the reference's order, so the truncation lands identically.
    """
    px = (gt.x[point] * ann_box[:, 2] / 255.0 + ann_box[:, 0] - det_box[:, 0]).astype(np.int64)
    py = (gt.y[point] * ann_box[:, 3] / 255.0 + ann_box[:, 1] - det_box[:, 1]).astype(np.int64)
    return px, py


def _read_maps(
    detections: Sequence[Detection], det: np.ndarray, py: np.ndarray, px: np.ndarray
) -> np.ndarray:
    """``[3, N]`` quantized (I, U * 255, V * 255) of detection ``det`` at ``(py, px)``."""
    out = np.zeros((3, len(det)), np.int64)
    order = np.argsort(det, kind="stable")
    bounds = np.flatnonzero(np.diff(det[order])) + 1
    for group in np.split(order, bounds):
        if len(group):
            maps = quantize(detections[int(det[group[0]])].densepose)
            out[:, group] = maps[:, py[group], px[group]]
    return out
