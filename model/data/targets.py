"""Per-person target pieces: dp_masks label maps (decoded once, cached), instance masks,
keypoints.

``dp_masks``: the 14 RLEs of a person are decoded with pycocotools into one ``[256, 256]``
label map, part k + 1 where entry k is set and later parts overwriting earlier ones where
they overlap (detectron2's ``DensePoseDataRelative.extract_segmentation_mask``). A decoded
map is kept run-length encoded (values and run lengths of the row-major map: about 5 KB
for a person instead of 64 KB), and expanded with one ``np.repeat``, ten times faster than
decoding the 14 RLEs again (figures in NOTES-data.md).

Instance masks (for a model with a mask head): the COCO ``segmentation`` (polygons,
uncompressed or compressed RLE), else the union of the ``dp_masks`` pasted on the box (each
pixel takes the cell its centre falls in, :func:`annotator.dataset.masks.to_image`), else
the filled box. Keypoints: COCO stores pixel indices; torchvision's keypoint head, like
detectron2's loader, works in continuous coordinates, so 0.5 is added to labelled ones
(visibility 0 keypoints are zeros).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from annotator.dataset.masks import DP_SIZE, check_rle_counts, to_image
from annotator.dataset.records import Box, MaskFrame, PartMask
from annotator.surface.parts import N_COARSE


class DpMaskCache:
    """Decoded ``dp_masks`` label maps, run-length encoded, by key (e.g. annotation id)."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self._runs: dict[Any, tuple[np.ndarray, np.ndarray]] = {}

    def __len__(self) -> int:
        return len(self._runs)

    @property
    def nbytes(self) -> int:
        return sum(v.nbytes + n.nbytes for v, n in self._runs.values())

    def labels(self, key: Any, entries: list[Any]) -> np.ndarray:
        """The ``[256, 256]`` uint8 label map (0..14) of one person's 14 ``dp_masks``.

        Raises:
            ValueError: an entry is not a valid 256 x 256 compressed RLE (names the entry).
        """
        found = self._runs.get(key)
        if found is not None:
            values, lengths = found
            return np.repeat(values, lengths).reshape(DP_SIZE, DP_SIZE)
        labels = decode_dp_masks(entries)
        if self.enabled:
            self._runs[key] = run_length(labels)
        return labels


def decode_dp_masks(entries: list[Any]) -> np.ndarray:
    """14 ``dp_masks`` entries -> ``[256, 256]`` uint8 labels (later parts win overlaps).

    The entries are checked first (:func:`annotator.dataset.masks.check_rle_counts`:
    pycocotools' decoder trusts run lengths and writes past its buffer on a bad string),
    then decoded in one pycocotools call.

    Raises:
        ValueError: an entry is not a valid 256 x 256 compressed RLE (names the entry).
    """
    from pycocotools import mask as mask_utils

    present = [k for k, entry in enumerate(entries) if entry]
    if len(entries) != N_COARSE:
        raise ValueError(f"dp_masks must have {N_COARSE} entries, got {len(entries)}")
    for k in present:
        entry = entries[k]
        if not isinstance(entry, dict) or entry.get("size") != [DP_SIZE, DP_SIZE]:
            raise ValueError(f"dp_masks[{k}]: must be a 256 x 256 RLE, got {entry!r:.60}")
        if not isinstance(entry.get("counts"), str):
            raise ValueError(f"dp_masks[{k}]: counts must be a compressed RLE string")
    problems = check_rle_counts([entries[k]["counts"] for k in present], DP_SIZE * DP_SIZE)
    for k, problem in zip(present, problems, strict=True):
        if problem:
            raise ValueError(f"dp_masks[{k}]: {problem}")
    if not present:
        return np.zeros((DP_SIZE, DP_SIZE), np.uint8)
    rles = [{"size": [DP_SIZE, DP_SIZE], "counts": entries[k]["counts"].encode()} for k in present]
    stack = mask_utils.decode(rles)  # [256, 256, K] uint8 0/1
    # Part k + 1 where entry k is set; a later (higher) part wins where parts overlap.
    values = np.array(present, np.uint8) + 1
    return (stack * values).max(axis=2).astype(np.uint8)


def run_length(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(values ``[R]`` uint8, lengths ``[R]`` int32) of the row-major runs of ``labels``."""
    flat = labels.ravel()
    starts = np.concatenate([[0], np.flatnonzero(flat[1:] != flat[:-1]) + 1])
    lengths = np.diff(np.concatenate([starts, [len(flat)]])).astype(np.int32)
    return flat[starts].copy(), lengths


def instance_mask(
    segmentation: Any, dp_labels: np.ndarray | None, box: np.ndarray, height: int, width: int
) -> np.ndarray:
    """``[height, width]`` uint8 0/1 mask of one person (see the module docstring)."""
    from pycocotools import mask as mask_utils

    if segmentation is not None:
        if isinstance(segmentation, list):  # polygons
            rle = mask_utils.merge(mask_utils.frPyObjects(segmentation, height, width))
        elif isinstance(segmentation.get("counts"), list):  # uncompressed RLE
            rle = mask_utils.frPyObjects(segmentation, height, width)
        else:
            counts = segmentation["counts"]
            rle = {"size": segmentation["size"], "counts": counts.encode("ascii")}
        return np.ascontiguousarray(mask_utils.decode(rle), dtype=np.uint8)
    out = np.zeros((height, width), np.uint8)
    if dp_labels is not None:
        pasted = to_image(PartMask(dp_labels, frame=MaskFrame.BOX256), Box(*map(float, box)))
        _paste(out, (pasted.labels > 0).astype(np.uint8), pasted.x0, pasted.y0)
        return out
    x0, y0 = math.floor(box[0]), math.floor(box[1])
    x1, y1 = math.ceil(box[0] + box[2]), math.ceil(box[1] + box[3])
    out[max(y0, 0) : max(y1, 0), max(x0, 0) : max(x1, 0)] = 1
    return out


def _paste(out: np.ndarray, patch: np.ndarray, x0: int, y0: int) -> None:
    """Write ``patch`` into ``out`` at (x0, y0), clipped to ``out``."""
    h, w = out.shape
    ph, pw = patch.shape
    ox0, oy0 = max(x0, 0), max(y0, 0)
    ox1, oy1 = min(x0 + pw, w), min(y0 + ph, h)
    if ox1 > ox0 and oy1 > oy0:
        out[oy0:oy1, ox0:ox1] = patch[oy0 - y0 : oy1 - y0, ox0 - x0 : ox1 - x0]


def continuous_keypoints(keypoints: np.ndarray) -> np.ndarray:
    """COCO keypoints ``[N, K, 3]`` (pixel indices) -> continuous pixel coordinates.

    Labelled keypoints (visibility > 0) get +0.5; unlabelled ones become (0, 0, 0).
    """
    out = keypoints.astype(np.float32).copy()
    labelled = out[..., 2] > 0
    out[..., :2][labelled] += 0.5
    out[~labelled] = 0
    return out
