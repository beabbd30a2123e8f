"""Person masks in the image and their IoU, for GPSm and the IOU mode (reference behaviour).

Ground truth: the union of the 14 ``dp_masks`` (256 x 256 in the box frame) resized to the
box with ``scipy.ndimage.zoom`` (linear, no prefilter, zoom factors ``max(w, 1) / 256`` and
``max(h, 1) / 256``, hence ``round(h) x round(w)`` pixels), thresholded at 0.5 and pasted at
``(int(x), int(y))``; a person without ``dp_masks`` uses its COCO ``segmentation``
(polygons or RLE), and one with neither an empty mask. Prediction: ``I > 0`` over its box,
pasted at ``(int(x), int(y))``. Pasting clips to the image and to ``int(x + w)``,
``int(y + h)``. IoU is pycocotools' (a crowd person counts the intersection over the
prediction's area).
"""

from __future__ import annotations

from typing import Any

import numpy as np

RLE = dict[str, Any]


def paste(
    mask: np.ndarray | None, box: tuple[float, float, float, float], height: int, width: int
) -> RLE:
    """``mask [h, w]`` (nonzero = person) placed at ``(int(x), int(y))``: an image RLE."""
    from pycocotools import mask as mask_utils

    image = np.zeros((height, width), np.uint8, order="F")
    if mask is not None:
        x, y, w, h = box
        x0, y0 = max(int(x), 0), max(int(y), 0)
        x1 = min(int(x + w), width, int(x) + mask.shape[1])
        y1 = min(int(y + h), height, int(y) + mask.shape[0])
        if x1 > x0 and y1 > y0:
            crop = mask[y0 - int(y) : y1 - int(y), x0 - int(x) : x1 - int(x)]
            image[y0:y1, x0:x1] = crop > 0
    return mask_utils.encode(image)


def densepose_mask(entries: list[Any], box: tuple[float, float, float, float]) -> np.ndarray:
    """Union of the ``dp_masks`` resized to the box: ``[round(h), round(w)]`` uint8 0/1."""
    from pycocotools import mask as mask_utils
    from scipy.ndimage import zoom

    union = np.zeros((256, 256))
    for entry in entries[:14]:
        if entry:
            union[mask_utils.decode(_bytes_counts(entry)) > 0] = 1.0
    _, _, w, h = box
    scale = (float(max(h, 1)) / 256, float(max(w, 1)) / 256)
    return (zoom(union, scale, order=1, prefilter=False) > 0.5).astype(np.uint8)


def _bytes_counts(rle: dict[str, Any]) -> dict[str, Any]:
    counts = rle["counts"]
    return {
        "size": rle["size"],
        "counts": counts.encode("ascii") if isinstance(counts, str) else counts,
    }


def ground_truth_rle(ann: dict[str, Any], height: int, width: int) -> RLE:
    """The person's mask in its ``height x width`` image, as the reference builds it."""
    from pycocotools import mask as mask_utils

    x, y, w, h = (float(c) for c in ann["bbox"])
    box = (x, y, w, h)
    if "dp_masks" in ann:
        return paste(densepose_mask(ann["dp_masks"], box), box, height, width)
    segmentation = ann.get("segmentation")
    if isinstance(segmentation, list) and segmentation:
        return mask_utils.merge(mask_utils.frPyObjects(segmentation, height, width))
    if isinstance(segmentation, dict):
        if isinstance(segmentation["counts"], list):
            return mask_utils.frPyObjects(segmentation, height, width)
        return _bytes_counts(segmentation)
    return paste(None, box, height, width)


def iou(predicted: list[RLE], truth: list[RLE], crowd: np.ndarray) -> np.ndarray:
    """``[D, G]`` mask IoU (zeros when either list is empty)."""
    from pycocotools import mask as mask_utils

    if not predicted or not truth:
        return np.zeros((len(predicted), len(truth)))
    out = mask_utils.iou(predicted, truth, [int(c) for c in crowd])
    return np.asarray(out, np.float64).reshape(len(predicted), len(truth))


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
