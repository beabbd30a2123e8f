"""A contact sheet of synthetic samples: each image with its I, U and V maps.

Read from a ``dpstudio synth`` folder (so it shows what was written, through
:func:`annotator.synth.writer.load_ground_truth`). Each sample is a 2 x 2 block: the image,
I (one colour per chart, the app's chart colours), U and V (a colour ramp from 0 to 1 on
skin pixels); background black.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from annotator.surface.parts import FINE_COLORS
from annotator.synth.writer import load_ground_truth


def _ramp(values: np.ndarray, skin: np.ndarray) -> np.ndarray:
    import cv2

    scaled = np.clip(values * 255.0 + 0.5, 0, 255).astype(np.uint8)
    colored = cv2.applyColorMap(scaled, cv2.COLORMAP_VIRIDIS)[..., ::-1]
    return np.where(skin[..., None], colored, 0).astype(np.uint8)


def sample_block(image: np.ndarray, i: np.ndarray, u: np.ndarray, v: np.ndarray, tile: int):
    """``[2 * tile, 2 * tile, 3]`` uint8: image and I on top, U and V below."""
    import cv2

    skin = i > 0
    tiles = [image, FINE_COLORS[i], _ramp(u, skin), _ramp(v, skin)]
    small = [
        cv2.resize(np.ascontiguousarray(t), (tile, tile), interpolation=cv2.INTER_AREA)
        if k == 0
        else cv2.resize(np.ascontiguousarray(t), (tile, tile), interpolation=cv2.INTER_NEAREST)
        for k, t in enumerate(tiles)
    ]
    top = np.concatenate(small[:2], axis=1)
    bottom = np.concatenate(small[2:], axis=1)
    return np.concatenate([top, bottom], axis=0)


def contact_sheet(folder: str | Path, count: int = 16, columns: int = 4, tile: int = 192):
    """``[H, W, 3]`` uint8 sheet of the first ``count`` images of a synth folder."""
    import cv2

    folder = Path(folder)
    images = sorted((folder / "images").iterdir())[:count]
    if not images:
        raise FileNotFoundError(f"no images in {folder / 'images'}")
    blocks = []
    for path in images:
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise OSError(f"cannot read {path}")
        truth = load_ground_truth(folder / "gt" / f"{path.stem}.npz")
        blocks.append(sample_block(bgr[..., ::-1], truth.i, truth.u, truth.v, tile))
    gap = 6
    side = blocks[0].shape[0]
    rows = -(-len(blocks) // columns)
    sheet = np.full(
        (rows * side + (rows - 1) * gap, columns * side + (columns - 1) * gap, 3), 255, np.uint8
    )
    for n, block in enumerate(blocks):
        r, c = divmod(n, columns)
        sheet[
            r * (side + gap) : r * (side + gap) + side, c * (side + gap) : c * (side + gap) + side
        ] = block
    return sheet


def save_contact_sheet(folder: str | Path, out: str | Path, count: int = 16) -> Path:
    """Write the contact sheet of a synth folder as a PNG."""
    import cv2

    sheet = contact_sheet(folder, count)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(out), sheet[..., ::-1], [cv2.IMWRITE_PNG_COMPRESSION, 9]):
        raise OSError(f"cannot write {out}")
    return out
