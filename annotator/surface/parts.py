"""The DensePose part vocabulary: 24 charts (fine parts) and 14 coarse parts.

Indices follow DensePose-COCO exactly (see docs/GLOSSARY.md):

* fine part / chart index ``I`` in 1..24 (0 is background), as stored in ``dp_I``;
* coarse part index in 1..14 (0 is background), the order of ``dp_masks`` and of stage 1.

Left and right are always the person's own sides. In each pair of charts the first index is
the back of a leg or the torso, the inside of an arm, the right half of the head.
"""

from __future__ import annotations

import numpy as np

#: Names of the 24 charts; ``FINE_PARTS[i - 1]`` is chart ``i``.
FINE_PARTS: tuple[str, ...] = (
    "torso back",
    "torso front",
    "right hand",
    "left hand",
    "left foot",
    "right foot",
    "right upper leg back",
    "left upper leg back",
    "right upper leg front",
    "left upper leg front",
    "right lower leg back",
    "left lower leg back",
    "right lower leg front",
    "left lower leg front",
    "left upper arm inside",
    "right upper arm inside",
    "left upper arm outside",
    "right upper arm outside",
    "left lower arm inside",
    "right lower arm inside",
    "left lower arm outside",
    "right lower arm outside",
    "right head",
    "left head",
)

#: Names of the 14 coarse parts; ``COARSE_PARTS[k - 1]`` is coarse part ``k`` (dp_masks[k-1]).
COARSE_PARTS: tuple[str, ...] = (
    "torso",
    "right hand",
    "left hand",
    "left foot",
    "right foot",
    "right upper leg",
    "left upper leg",
    "right lower leg",
    "left lower leg",
    "left upper arm",
    "right upper arm",
    "left lower arm",
    "right lower arm",
    "head",
)

N_FINE = len(FINE_PARTS)
N_COARSE = len(COARSE_PARTS)

#: ``FINE_TO_COARSE[i]`` is the coarse part of chart ``i`` (index 0 maps background to 0).
FINE_TO_COARSE = np.array(
    [0, 1, 1, 2, 3, 4, 5, 6, 7, 6, 7, 8, 9, 8, 9, 10, 11, 10, 11, 12, 13, 12, 13, 14, 14],
    dtype=np.int64,
)

#: ``COARSE_TO_FINE[k]`` lists the charts of coarse part ``k``.
COARSE_TO_FINE: dict[int, tuple[int, ...]] = {
    k: tuple(int(i) for i in np.flatnonzero(k == FINE_TO_COARSE)) for k in range(1, N_COARSE + 1)
}

#: Horizontal flip of the coarse channels, background included (DensePose-COCO convention).
FLIP_COARSE = np.array([0, 1, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 14], dtype=np.int64)

#: Horizontal flip of the charts, background included: pairs 3<->4, 5<->6, 7<->8, ...
FLIP_FINE = np.array(
    [0, 1, 2, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15, 18, 17, 20, 19, 22, 21, 24, 23],
    dtype=np.int64,
)

#: One colour per coarse part (RGB, 0..255), used by the app, the renders and the reports.
COARSE_COLORS = np.array(
    [
        [0, 0, 0],  # background
        [70, 130, 180],  # torso: steel blue
        [255, 127, 14],  # right hand: orange
        [255, 200, 60],  # left hand: amber
        [148, 103, 189],  # left foot: purple
        [214, 39, 140],  # right foot: magenta
        [44, 160, 44],  # right upper leg: green
        [152, 223, 138],  # left upper leg: light green
        [23, 190, 207],  # right lower leg: cyan
        [158, 218, 229],  # left lower leg: light cyan
        [255, 152, 150],  # left upper arm: salmon
        [214, 39, 40],  # right upper arm: red
        [196, 156, 148],  # left lower arm: tan
        [140, 86, 75],  # right lower arm: brown
        [240, 240, 110],  # head: pale yellow
    ],
    dtype=np.uint8,
)

#: One colour per chart (RGB, 0..255), background black: a hue wheel, pairs kept apart.
FINE_COLORS = np.vstack(
    [
        np.zeros((1, 3)),
        np.array(
            [
                [(np.cos(2 * np.pi * (t + s)) * 0.5 + 0.5) * 215 + 40 for s in (0, 1 / 3, 2 / 3)]
                for t in ((7 * i) % N_FINE / N_FINE for i in range(N_FINE))
            ]
        ),
    ]
).astype(np.uint8)


def fine_to_coarse(fine: np.ndarray) -> np.ndarray:
    """Map chart indices (0..24, any shape) to coarse part indices (0..14)."""
    return FINE_TO_COARSE[np.asarray(fine, dtype=np.int64)]


def coarse_name(k: int) -> str:
    """Name of coarse part ``k`` (1..14)."""
    if not 1 <= k <= N_COARSE:
        raise ValueError(f"coarse part index must be in 1..{N_COARSE}, got {k}")
    return COARSE_PARTS[k - 1]


def fine_name(i: int) -> str:
    """Name of chart ``i`` (1..24)."""
    if not 1 <= i <= N_FINE:
        raise ValueError(f"chart index must be in 1..{N_FINE}, got {i}")
    return FINE_PARTS[i - 1]


#: The 17 COCO person keypoints, in COCO order.
COCO_KEYPOINTS: tuple[str, ...] = (
    "nose",
    "left_eye",
    "right_eye",
    "left_ear",
    "right_ear",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
)

#: COCO's person skeleton: pairs of 1-based keypoint numbers.
COCO_SKELETON: tuple[tuple[int, int], ...] = (
    (16, 14),
    (14, 12),
    (17, 15),
    (15, 13),
    (12, 13),
    (6, 12),
    (7, 13),
    (6, 7),
    (6, 8),
    (7, 9),
    (8, 10),
    (9, 11),
    (2, 3),
    (1, 2),
    (1, 3),
    (2, 4),
    (3, 5),
    (4, 6),
    (5, 7),
)
