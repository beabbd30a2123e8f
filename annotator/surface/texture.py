"""Chart textures: all 24 charts tiled into one image, as DensePose's texture atlas does.

Used to paint a UV grid on the body (so that a person can see the charts are clean) and to
transfer a texture between bodies.
"""

from __future__ import annotations

import numpy as np

from annotator.surface.parts import FINE_COLORS, N_FINE

#: The atlas is a TILES x TILES grid of charts (24 charts in a 5 x 5 grid).
TILES = 5
#: Empty border kept around each chart inside its tile (share of the tile side).
MARGIN = 0.02


def tiled_uv(face_chart: np.ndarray, face_uv: np.ndarray) -> np.ndarray:
    """Corner UV ``[F, 3, 2]`` in the tiled texture (chart i in tile i-1, row-major from the
    top-left; V up within a tile), from chart UV ``[F, 3, 2]``."""
    tile = face_chart - 1
    col = (tile % TILES)[:, None, None]
    row = (tile // TILES)[:, None, None]
    inner = MARGIN + (1 - 2 * MARGIN) * face_uv
    u = (col + inner[..., :1]) / TILES
    v = 1 - (row + 1 - inner[..., 1:]) / TILES
    return np.concatenate([u, v], axis=-1)


def uv_grid_texture(size: int = 1024, lines: int = 10) -> np.ndarray:
    """``[size, size, 3]`` uint8: each chart's tile in its colour, shaded by U (left to right)
    and V (bottom to top), with grid lines every 1/``lines``."""
    image = np.full((size, size, 3), 255, np.uint8)
    t = size // TILES
    ramp = (np.arange(t) + 0.5) / t
    ramp = (ramp - MARGIN) / (1 - 2 * MARGIN)  # tile position -> chart coordinate
    u, v = np.meshgrid(ramp, ramp[::-1])
    for chart in range(1, N_FINE + 1):
        row, col = divmod(chart - 1, TILES)
        base = FINE_COLORS[chart].astype(np.float64)
        shade = 0.55 + 0.45 * (0.5 * u + 0.5 * v)
        tile = base[None, None, :] * shade[..., None] + (1 - shade[..., None]) * 60
        grid = (np.abs(u * lines - np.round(u * lines)) < 0.04) | (
            np.abs(v * lines - np.round(v * lines)) < 0.04
        )
        tile[grid] = 30
        image[row * t : (row + 1) * t, col * t : (col + 1) * t] = tile.clip(0, 255).astype(np.uint8)
    return image
