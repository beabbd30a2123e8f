"""Person masks in the image and their IoU, for GPSm and the IOU mode (reference behaviour).

Ground truth: the union of the 14 ``dp_masks`` (256 x 256 in the box frame) resized to the
box with ``scipy.ndimage.zoom`` (linear, no prefilter, zoom factors ``max(w, 1) / 256`` and
``max(h, 1) / 256``, hence ``round(h) x round(w)`` pixels), thresholded at 0.5 and pasted at
``(int(x), int(y))``; a person without ``dp_masks`` uses its COCO ``segmentation``
(polygons or RLE), and one with neither an empty mask. Prediction: ``I > 0`` over its box,
pasted at ``(int(x), int(y))``. Pasting clips to the image and to ``int(x + w)``,
``int(y + h)``.

The reference encodes every mask over the whole image and asks pycocotools for the IoU;
here a mask keeps only its pasted rectangle and the IoU counts pixels where two rectangles
meet, which gives the same integer counts and so the same ratio (pycocotools' rules kept: a
crowd person counts the intersection over the prediction's area; an empty union gives 0).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Pasted:
    """A mask placed in its image: ``mask`` (bool ``[h, w]``) with its top-left at (x0, y0)."""

    x0: int
    y0: int
    mask: np.ndarray

    @property
    def area(self) -> int:
        return int(np.count_nonzero(self.mask))

    def image(self, height: int, width: int) -> np.ndarray:
        """The whole ``[height, width]`` bool image."""
        out = np.zeros((height, width), bool)
        h, w = self.mask.shape
        out[self.y0 : self.y0 + h, self.x0 : self.x0 + w] = self.mask
        return out


def paste(
    mask: np.ndarray | None, box: tuple[float, float, float, float], height: int, width: int
) -> Pasted:
    """``mask [h, w]`` (nonzero = person) placed at ``(int(x), int(y))``, clipped."""
    if mask is None:
        return Pasted(0, 0, np.zeros((0, 0), bool))
    x, y, w, h = box
    x0, y0 = max(int(x), 0), max(int(y), 0)
    x1 = min(int(x + w), width, int(x) + mask.shape[1])
    y1 = min(int(y + h), height, int(y) + mask.shape[0])
    if x1 <= x0 or y1 <= y0:
        return Pasted(0, 0, np.zeros((0, 0), bool))
    return Pasted(x0, y0, mask[y0 - int(y) : y1 - int(y), x0 - int(x) : x1 - int(x)] > 0)


def densepose_mask(entries: list[Any], box: tuple[float, float, float, float]) -> np.ndarray:
    """Union of the ``dp_masks`` resized to the box: ``[round(h), round(w)]`` uint8 0/1."""
    from pycocotools import mask as mask_utils
    from scipy.ndimage import zoom

    rles = [_bytes_counts(entry) for entry in entries[:14] if entry]
    union = np.zeros((256, 256))
    if rles:
        union[mask_utils.decode(rles).any(axis=2)] = 1.0
    _, _, w, h = box
    scale = (float(max(h, 1)) / 256, float(max(w, 1)) / 256)
    return (zoom(union, scale, order=1, prefilter=False) > 0.5).astype(np.uint8)


def _bytes_counts(rle: dict[str, Any]) -> dict[str, Any]:
    counts = rle["counts"]
    if isinstance(counts, str):
        counts = counts.encode("ascii")
    return {"size": rle["size"], "counts": counts}


def ground_truth_mask(ann: dict[str, Any], height: int, width: int) -> Pasted:
    """The person's mask in its ``height x width`` image, as the reference builds it."""
    from pycocotools import mask as mask_utils

    x, y, w, h = (float(c) for c in ann["bbox"])
    box = (x, y, w, h)
    if "dp_masks" in ann:
        return paste(densepose_mask(ann["dp_masks"], box), box, height, width)
    segmentation = ann.get("segmentation")
    rle = None
    if isinstance(segmentation, list) and segmentation:
        rle = mask_utils.merge(mask_utils.frPyObjects(segmentation, height, width))
    elif isinstance(segmentation, dict):
        if isinstance(segmentation["counts"], list):
            rle = mask_utils.frPyObjects(segmentation, height, width)
        else:
            rle = _bytes_counts(segmentation)
    if rle is None:
        return paste(None, box, height, width)
    return _trimmed(mask_utils.decode(rle).astype(bool))


def _trimmed(image: np.ndarray) -> Pasted:
    """A whole-image mask kept as its bounding rectangle."""
    rows, cols = np.flatnonzero(image.any(axis=1)), np.flatnonzero(image.any(axis=0))
    if not len(rows):
        return Pasted(0, 0, np.zeros((0, 0), bool))
    y0, y1, x0, x1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    return Pasted(int(x0), int(y0), image[y0:y1, x0:x1])


def intersection(a: Pasted, b: Pasted) -> int:
    """Pixels in both masks."""
    x0, y0 = max(a.x0, b.x0), max(a.y0, b.y0)
    x1 = min(a.x0 + a.mask.shape[1], b.x0 + b.mask.shape[1])
    y1 = min(a.y0 + a.mask.shape[0], b.y0 + b.mask.shape[0])
    if x1 <= x0 or y1 <= y0:
        return 0
    pa = a.mask[y0 - a.y0 : y1 - a.y0, x0 - a.x0 : x1 - a.x0]
    pb = b.mask[y0 - b.y0 : y1 - b.y0, x0 - b.x0 : x1 - b.x0]
    return int(np.count_nonzero(pa & pb))


def iou(predicted: list[Pasted], truth: list[Pasted], crowd: np.ndarray) -> np.ndarray:
    """``[D, G]`` mask IoU (a crowd person: intersection over the prediction's area)."""
    out = np.zeros((len(predicted), len(truth)))
    p_area = [p.area for p in predicted]
    t_area = [t.area for t in truth]
    for d, p in enumerate(predicted):
        for g, t in enumerate(truth):
            inter = intersection(p, t)
            union = p_area[d] if crowd[g] else p_area[d] + t_area[g] - inter
            out[d, g] = inter / union if inter and union else 0.0
    return out


def box_iou(predicted: np.ndarray, truth: np.ndarray, crowd: np.ndarray) -> np.ndarray:
    """``[D, G]`` box IoU of xywh boxes (pycocotools; crowd: intersection over prediction)."""
    from pycocotools import mask as mask_utils

    if len(predicted) == 0 or len(truth) == 0:
        return np.zeros((len(predicted), len(truth)))
    out = mask_utils.iou(
        np.asarray(predicted, np.float64).tolist(),
        np.asarray(truth, np.float64).tolist(),
        [int(c) for c in crowd],
    )
    return np.asarray(out, np.float64).reshape(len(predicted), len(truth))
