"""Dense supervision from synthetic ground truth: every skin pixel of a person as a point.

A ``dpstudio synth`` image carries its exact per-pixel truth (``gt/*.npz``, see
:mod:`annotator.synth.writer`): for every skin pixel its person (``instance``, the number the
person's annotation carries as ``instance``) and its exact I, U, V. Instead of the ~100
points the annotation protocol samples per person, a person can then be supervised at all
of its skin pixels, or at a random sample of them.

Positions: the point of pixel (col, row) is its centre (col + 0.5, row + 0.5), written in
the box frame exactly as the synthetic annotations and the DensePose-COCO export write
their points, ``dp_x = (x - box_x) / box_w * 255`` (:mod:`annotator.synth.annotate`), so a
dense point and an annotated point at the same pixel are the same target.

The npz is read compactly (only the skin pixels' instance, I, U, V; the surface points are
not needed), which is the same data :func:`annotator.synth.writer.load_ground_truth`
expands into full maps.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model.data.errors import DatasetError


@dataclass(frozen=True)
class TruthPixels:
    """The skin pixels of one synthetic image, row-major, grouped by person.

    Attributes:
        size: (height, width) of the image.
        rows, cols: ``[S]`` int64 pixel of each skin pixel.
        instance: ``[S]`` uint8 person number (1-based) of each.
        i: ``[S]`` uint8 chart 1..24.
        u, v: ``[S]`` float32 exact chart coordinates.
        order: ``[S]`` int64 skin pixels sorted by instance (row-major within a person).
        bounds: ``[257]`` int64, person k's pixels are ``order[bounds[k]:bounds[k + 1]]``.
    """

    size: tuple[int, int]
    rows: np.ndarray
    cols: np.ndarray
    instance: np.ndarray
    i: np.ndarray
    u: np.ndarray
    v: np.ndarray
    order: np.ndarray
    bounds: np.ndarray

    def pixels_of(self, instance: int) -> np.ndarray:
        """Indices (into the skin pixel arrays) of person ``instance``, row-major."""
        return self.order[self.bounds[instance] : self.bounds[instance + 1]]


def read_truth_pixels(path: Path, *, record: str = "") -> TruthPixels:
    """Read a ``gt/*.npz`` file's skin pixels.

    Raises:
        DatasetError: missing or unreadable file (names it and the image record).
    """
    try:
        with np.load(path, allow_pickle=False) as data:
            h, w = (int(x) for x in data["size"])
            skin = np.flatnonzero(np.unpackbits(data["skin"], count=h * w))
            instance = np.asarray(data["instance"], np.uint8)
            i = np.asarray(data["i"], np.uint8)
            u = np.asarray(data["u"], np.float32)
            v = np.asarray(data["v"], np.float32)
    except FileNotFoundError as exc:
        raise DatasetError.one(
            str(path), record, "gt_file", "ground-truth file not found", str(path)
        ) from exc
    except (OSError, ValueError, KeyError, EOFError) as exc:
        message = f"not a readable ground-truth npz ({exc}); re-run dpstudio synth"
        raise DatasetError.one(str(path), record, "gt_file", message) from exc
    if not len(skin) == len(instance) == len(i) == len(u) == len(v):
        raise DatasetError.one(str(path), record, "gt_file", "arrays of unequal length")
    rows, cols = np.divmod(skin, w)
    order = np.argsort(instance, kind="stable")
    bounds = np.searchsorted(instance[order], np.arange(257))
    return TruthPixels((h, w), rows, cols, instance, i, u, v, order, bounds)


def dense_points(
    truth: TruthPixels,
    boxes: np.ndarray,
    instances: np.ndarray,
    *,
    count: int | None = None,
    rng: np.random.Generator | None = None,
) -> tuple[np.ndarray, ...]:
    """Points of the given persons from their skin pixels.

    Args:
        truth: the image's skin pixels.
        boxes: ``[M, 4]`` COCO boxes (x, y, w, h) of the persons, image pixels.
        instances: ``[M]`` their person numbers in the truth.
        count: keep a random sample of at most ``count`` pixels per person (None: all).
        rng: draws the sample (required with ``count``).

    Returns:
        ``(owner [P] int64 index into the M persons, x, y [P] float32 box frame,
        i [P] int64, u, v [P] float32)``; each person's points in row-major pixel order.
    """
    chosen = []
    for n, k in enumerate(instances):
        pixels = truth.pixels_of(int(k))
        if count is not None and len(pixels) > count:
            if rng is None:
                raise ValueError("dense_points: a sample needs a random generator")
            pixels = pixels[np.sort(rng.choice(len(pixels), count, replace=False))]
        chosen.append((n, pixels))
    empty = np.zeros(0, np.int64)
    owner = np.concatenate([empty] + [np.full(len(p), n, np.int64) for n, p in chosen])
    pix = np.concatenate([empty] + [p for _, p in chosen]).astype(np.int64)
    box = boxes[owner]
    x = (truth.cols[pix] + 0.5 - box[:, 0]) / box[:, 2] * 255.0
    y = (truth.rows[pix] + 0.5 - box[:, 1]) / box[:, 3] * 255.0
    return (
        owner,
        np.clip(x, 0.0, 255.0).astype(np.float32),
        np.clip(y, 0.0, 255.0).astype(np.float32),
        truth.i[pix].astype(np.int64),
        truth.u[pix],
        truth.v[pix],
    )
