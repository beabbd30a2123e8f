"""Detections made of the ground truth itself: the evaluation's sanity check and benchmark input.

Each annotated person becomes one detection on its own box whose mask is the person's mask
(as GPSm builds it) and whose maps hold the annotated (I, U, V) at the pixel where the
reference evaluator reads each point. Scored back, they must give AP 1 in every mode and
(for U, V on the 1/255 grid of the results format) zero error.
"""

from __future__ import annotations

import numpy as np
import torch

from model.evaluation import masks
from model.evaluation.ground_truth import GroundTruth
from model.evaluation.results import Detection
from model.structures import DensePoseResult


def ground_truth_detections(
    gt: GroundTruth, *, fill_chart: int = 1, score: float = 1.0
) -> list[Detection]:
    """One detection per annotated, non-crowd person (``gt_id`` set).

    Args:
        fill_chart: chart written on the mask where no point is (U = V = 0.5).
        score: every detection's score.
    """
    out = []
    for a in np.flatnonzero(gt.has_points & ~gt.crowd):
        ann = gt.annotations[a]
        x, y, w, h = (float(c) for c in gt.boxes[a])
        image = gt.images[int(ann["image_id"])]
        height, width = int(image["height"]), int(image["width"])
        full = masks.ground_truth_mask(ann, height, width).image(height, width)
        full = np.pad(full, ((0, int(h) + 1), (0, int(w) + 1)))
        region = full[int(y) : int(y) + int(h), int(x) : int(x) + int(w)]
        labels = np.where(region > 0, fill_chart, 0).astype(np.uint8)
        uv = np.where(region > 0, 0.5, 0.0).astype(np.float32)[None].repeat(2, axis=0)
        span = gt.points(int(a))
        px = (gt.x[span] * w / 255.0 + x - x).astype(np.int64)
        py = (gt.y[span] * h / 255.0 + y - y).astype(np.int64)
        inside = (px >= 0) & (py >= 0) & (px < int(w)) & (py < int(h))
        px, py = px[inside], py[inside]
        labels[py, px] = gt.i[span][inside]
        uv[0, py, px] = gt.u[span][inside]
        uv[1, py, px] = gt.v[span][inside]
        result = DensePoseResult(
            (int(x), int(y), int(w), int(h)), torch.from_numpy(labels), torch.from_numpy(uv)
        )
        out.append(
            Detection(int(ann["image_id"]), int(ann["category_id"]), (x, y, w, h), score,
                      result, gt_id=int(gt.ids[a]))
        )  # fmt: skip
    return out
