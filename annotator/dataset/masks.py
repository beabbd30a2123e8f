"""Stage-1 part label maps: compact storage, box resampling, DensePose-COCO ``dp_masks`` RLEs.

A label map holds one coarse part (1..14) or background (0) per pixel. In the project it is
stored cropped to its non-zero region and zlib-compressed (level 1: a full 12-megapixel map
saves in about 35 ms). Masks imported from DensePose-COCO keep their 14 RLEs verbatim, so
export writes them back unchanged.

DensePose-COCO ``dp_masks`` cover the person's box resampled to 256 x 256: cell ``(r, c)``
is the image point ``(x + (c + 0.5) * w / 256, y + (r + 0.5) * h / 256)`` for the box
``[x, y, w, h]`` (the convention of detectron2's loader and of the official notebook, which
resizes the 256 x 256 map to the box with nearest-neighbour interpolation).

Every RLE string is checked by :func:`check_rle_counts` before pycocotools decodes it:
pycocotools' decoder trusts the run lengths and writes past its buffer on a malformed string.
"""

from __future__ import annotations

import math
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from annotator.dataset import jsonio
from annotator.dataset.records import Box, MaskFrame, PartMask
from annotator.surface.parts import N_COARSE

#: Side of the DensePose-COCO box raster.
DP_SIZE = 256

#: How a part mask BLOB is encoded (``part_masks.codec``).
CODEC_ZLIB = 0  # zlib of the uint8 label map, row-major
CODEC_RLE14 = 1  # UTF-8 JSON list of the 14 dp_masks entries, kept as imported


def encode_labels(labels: np.ndarray) -> bytes:
    """``[H, W]`` uint8 label map -> compressed bytes."""
    return zlib.compress(np.ascontiguousarray(labels, dtype=np.uint8).tobytes(), 1)


def decode_labels(blob: bytes, height: int, width: int) -> np.ndarray:
    """Compressed bytes -> ``[height, width]`` uint8 label map."""
    flat = np.frombuffer(zlib.decompress(blob), np.uint8)
    return flat.reshape(height, width).copy()


@dataclass(frozen=True)
class EncodedMask:
    """A label map compressed for the store, ready for ``Project.save_part_mask``.

    Made by :func:`encode_mask`, which touches no database: an app can encode in a worker
    thread and leave only the (fast) write to the thread that owns the project.

    Attributes:
        frame: raster the labels cover.
        x0: column of the left edge (IMAGE frame), pixels.
        y0: row of the top edge (IMAGE frame), pixels.
        width: label map width (0 for an empty mask).
        height: label map height.
        data: the labels, zlib-compressed (:data:`CODEC_ZLIB`).
    """

    frame: MaskFrame
    x0: int
    y0: int
    width: int
    height: int
    data: bytes


def encode_mask(mask: PartMask) -> EncodedMask:
    """Crop an IMAGE-frame mask to its labelled region and compress it."""
    stored = crop(mask)
    height, width = stored.labels.shape
    data = encode_labels(stored.labels)
    return EncodedMask(stored.frame, stored.x0, stored.y0, width, height, data)


def crop(mask: PartMask) -> PartMask:
    """The same IMAGE-frame mask cropped to its non-zero region (0 x 0 when empty)."""
    if mask.frame != MaskFrame.IMAGE:
        return mask
    labels = mask.labels
    rows = np.flatnonzero(labels.any(axis=1))
    if len(rows) == 0:
        return PartMask(np.zeros((0, 0), np.uint8), mask.x0, mask.y0)
    cols = np.flatnonzero(labels.any(axis=0))
    r0, r1, c0, c1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    return PartMask(labels[r0:r1, c0:c1], mask.x0 + c0, mask.y0 + r0)


def to_box256(mask: PartMask, box: Box) -> np.ndarray:
    """Resample a mask to the person's box as ``[256, 256]`` uint8 (nearest neighbour)."""
    if mask.frame == MaskFrame.BOX256:
        return mask.labels
    centres = (np.arange(DP_SIZE) + 0.5) / DP_SIZE
    cols = np.floor(box.x + centres * box.w).astype(np.int64) - mask.x0
    rows = np.floor(box.y + centres * box.h).astype(np.int64) - mask.y0
    h, w = mask.labels.shape
    col_ok = (cols >= 0) & (cols < w)
    row_ok = (rows >= 0) & (rows < h)
    out = np.zeros((DP_SIZE, DP_SIZE), np.uint8)
    if col_ok.any() and row_ok.any():
        out[np.ix_(row_ok, col_ok)] = mask.labels[np.ix_(rows[row_ok], cols[col_ok])]
    return out


def to_image(mask: PartMask, box: Box) -> PartMask:
    """The mask in image pixels (IMAGE frame) over the pixels the box touches.

    A BOX256 mask is sampled at each pixel centre (nearest neighbour); an IMAGE mask is
    returned as is.
    """
    if mask.frame == MaskFrame.IMAGE:
        return mask
    x0, y0 = math.floor(box.x), math.floor(box.y)
    x1, y1 = math.ceil(box.x + box.w), math.ceil(box.y + box.h)
    cells_c = np.floor((np.arange(x0, x1) + 0.5 - box.x) / box.w * DP_SIZE).astype(np.int64)
    cells_r = np.floor((np.arange(y0, y1) + 0.5 - box.y) / box.h * DP_SIZE).astype(np.int64)
    col_ok = (cells_c >= 0) & (cells_c < DP_SIZE)
    row_ok = (cells_r >= 0) & (cells_r < DP_SIZE)
    out = np.zeros((y1 - y0, x1 - x0), np.uint8)
    out[np.ix_(row_ok, col_ok)] = mask.labels[np.ix_(cells_r[row_ok], cells_c[col_ok])]
    return PartMask(out, x0, y0, annotator=mask.annotator, updated=mask.updated)


def labels_to_rles(labels256: np.ndarray) -> list[Any]:
    """``[256, 256]`` label map -> 14 ``dp_masks`` entries (RLE dict, or ``[]`` when absent).

    Each RLE is ``{"size": [256, 256], "counts": str}`` (compressed pycocotools counts).
    """
    from pycocotools import mask as mask_utils

    present = np.zeros(N_COARSE + 1, bool)
    present[np.unique(labels256)] = True
    parts = np.flatnonzero(present[1:]) + 1
    entries: list[Any] = [[] for _ in range(N_COARSE)]
    if len(parts) == 0:
        return entries
    stack = np.asfortranarray((labels256[:, :, None] == parts[None, None, :]).astype(np.uint8))
    for part, rle in zip(parts, mask_utils.encode(stack), strict=True):
        entries[part - 1] = {"size": [DP_SIZE, DP_SIZE], "counts": rle["counts"].decode("ascii")}
    return entries


def rles_to_labels(entries: Sequence[Any]) -> np.ndarray:
    """14 checked ``dp_masks`` entries -> ``[256, 256]`` uint8 label map (later parts win).

    Raises:
        ValueError: an entry is not a valid 256 x 256 compressed RLE.
    """
    from pycocotools import mask as mask_utils

    labels = np.zeros((DP_SIZE, DP_SIZE), np.uint8)
    for index, entry in enumerate(entries):
        if not entry:
            continue
        problem = rle_entry_problem(entry)
        if problem:
            raise ValueError(f"dp_masks[{index}]: {problem}")
        rle = {"size": [DP_SIZE, DP_SIZE], "counts": entry["counts"].encode("ascii")}
        labels[mask_utils.decode(rle) > 0] = index + 1
    return labels


def rle_entry_problem(entry: Any) -> str | None:
    """What is wrong with one non-empty ``dp_masks`` entry, or None when it is valid."""
    if not isinstance(entry, dict):
        return f"must be an RLE object or [] (absent part), got {type(entry).__name__}"
    size = entry.get("size")
    if size != [DP_SIZE, DP_SIZE] or not all(type(s) is int for s in size):
        return f"size must be [256, 256], got {size!r}"
    counts = entry.get("counts")
    if isinstance(counts, list):
        return "counts is an uncompressed RLE list; detectron2 decodes only compressed strings"
    if not isinstance(counts, str):
        return f"counts must be a compressed RLE string, got {type(counts).__name__}"
    return check_rle_counts([counts], DP_SIZE * DP_SIZE)[0]


def check_rle_counts(strings: Sequence[str], area: int) -> list[str | None]:
    """Check compressed pycocotools RLE strings without decoding them (vectorized).

    Args:
        strings: the ``counts`` strings.
        area: ``height * width`` the run lengths must sum to.

    Returns:
        One entry per string: None when valid, else what is wrong.
    """
    out: list[str | None] = [None] * len(strings)
    good: list[int] = []
    for k, s in enumerate(strings):
        if not s:
            out[k] = "counts is empty"
        elif not _RLE_ALPHABET.fullmatch(s):
            out[k] = "counts has characters outside the RLE alphabet '0'..'o'"
        elif (ord(s[-1]) - 48) & 0x20:
            out[k] = "counts ends in the middle of a number (truncated)"
        else:
            good.append(k)
    for batch in _batches(good, strings, 1 << 16):
        for k, problem in zip(batch, _check_parsed([strings[k] for k in batch], area), strict=True):
            out[k] = problem
    return out


def _batches(indices: list[int], strings: Sequence[str], chars: int) -> list[list[int]]:
    """Split string indices into batches of about ``chars`` characters (cache-sized work)."""
    batches: list[list[int]] = []
    current: list[int] = []
    size = 0
    for k in indices:
        current.append(k)
        size += len(strings[k])
        if size >= chars:
            batches.append(current)
            current, size = [], 0
    if current:
        batches.append(current)
    return batches


_RLE_ALPHABET = re.compile("[0-o]+")


def _check_parsed(strings: list[str], area: int) -> list[str | None]:
    """Decode the run lengths of well-formed strings and check them (all strings at once)."""
    codes = np.frombuffer("".join(strings).encode("ascii"), np.uint8) - np.uint8(48)
    lengths = np.fromiter(map(len, strings), np.int64, len(strings))
    is_last = codes < 32  # no continuation bit (0x20): a number ends here
    group_last = np.flatnonzero(is_last)
    group_first = np.empty_like(group_last)
    group_first[0], group_first[1:] = 0, group_last[:-1] + 1
    n_chunks = group_last - group_first + 1
    per_string = np.add.reduceat(is_last, np.cumsum(lengths) - lengths, dtype=np.int64)
    values = (codes[group_first] & 0x1F).astype(np.int64)
    longest = int(n_chunks.max())
    for k in range(1, min(longest, 8)):
        longer = np.flatnonzero(n_chunks > k)
        values[longer] |= (codes[group_first[longer] + k] & 0x1F).astype(np.int64) << (5 * k)
    negative = np.flatnonzero(codes[group_last] & 0x10)
    values[negative] -= np.int64(1) << (5 * np.minimum(n_chunks[negative], 7))
    counts = _undelta(values, per_string)
    group_start = np.cumsum(per_string) - per_string
    totals = np.add.reduceat(counts, group_start)
    out: list[str | None] = [None] * len(strings)
    for j in np.flatnonzero(totals != area).tolist():
        out[j] = f"run lengths sum to {int(totals[j])}, not {area}"
    if counts.min() < 0 or counts.max() > 0xFFFFFFFF:  # rare: find the strings
        bad = (counts < 0) | (counts > 0xFFFFFFFF)
        for j in np.flatnonzero(np.add.reduceat(bad, group_start)).tolist():
            out[j] = "counts decodes to a negative or too long run"
    if longest > 7:
        for j in np.flatnonzero(np.add.reduceat(n_chunks > 7, group_start)).tolist():
            out[j] = "counts holds a number longer than 32 bits"
    return out


def _undelta(values: np.ndarray, per_string: np.ndarray) -> np.ndarray:
    """Undo pycocotools' delta coding, ``c[j] = d[j] + c[j - 2]`` for ``j > 2``, per string.

    One running sum with step 2 over all strings, corrected at each string's chain heads
    (its numbers 1 and 2): ``c[g] = P[g] - P[head - 2]`` with ``P[g] = d[g] + P[g - 2]``.

    Args:
        values: ``[G]`` the decoded numbers of all strings, one after the other.
        per_string: ``[S]`` how many numbers each string holds (all > 0).
    """
    n = len(values)
    running = np.empty(n + 2, np.int64)
    running[:2] = 0
    running[2::2] = np.cumsum(values[0::2])
    running[3::2] = np.cumsum(values[1::2])
    start = np.repeat(np.cumsum(per_string) - per_string, per_string)
    j = np.arange(n) - start
    counts = running[2:] - running[start + 2 - (j & 1)]
    heads = np.cumsum(per_string) - per_string
    counts[heads] = values[heads]
    return counts


def encode_rle14(entries: Sequence[Any]) -> bytes:
    """14 ``dp_masks`` entries -> BLOB (compact JSON)."""
    return jsonio.dumps(list(entries)).encode("utf-8")


def decode_rle14(blob: bytes) -> list[Any]:
    """BLOB -> 14 ``dp_masks`` entries, exactly as imported."""
    return jsonio.loads(blob)


@dataclass(frozen=True)
class StoredMask:
    """A part mask as stored: decoded only when needed (export passes RLEs through).

    Attributes:
        frame: raster the labels cover.
        x0: column of the left edge (IMAGE frame), pixels.
        y0: row of the top edge (IMAGE frame), pixels.
        width: label map width.
        height: label map height.
        codec: :data:`CODEC_ZLIB` or :data:`CODEC_RLE14`.
        data: the encoded bytes.
        annotator: who saved it.
        updated: unix time of the save.
    """

    frame: MaskFrame
    x0: int
    y0: int
    width: int
    height: int
    codec: int
    data: bytes
    annotator: str
    updated: float

    def part_mask(self) -> PartMask:
        """Decode to a label map."""
        if self.codec == CODEC_RLE14:
            labels = rles_to_labels(decode_rle14(self.data))
        else:
            labels = decode_labels(self.data, self.height, self.width)
        return PartMask(labels, self.x0, self.y0, self.frame, self.annotator, self.updated)

    def dp_masks(self, box: Box) -> list[Any]:
        """The 14 DensePose-COCO ``dp_masks`` entries over ``box`` (imported RLEs as they came)."""
        if self.codec == CODEC_RLE14:
            return decode_rle14(self.data)
        return labels_to_rles(to_box256(self.part_mask(), box))

    def n_labelled(self) -> int:
        """Number of labelled (non-zero) cells of the stored raster."""
        return int(np.count_nonzero(self.part_mask().labels))
