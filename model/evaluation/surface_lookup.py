"""(I, U, V) -> surface points for millions of points, and their geodesic errors.

Scoring converts every annotated point of every (detection, person) pair, and every skin
pixel of a synthetic image, from the predicted (I, U, V) to a surface point.
:meth:`annotator.surface.atlas.Atlas.from_iuv` does that exactly but tests each point against
all the triangles listed in a coarse cell of the chart (up to 50 in the head charts), about
150,000 points per second. Here each chart gets a finer grid (256 x 256 cells) whose cells
list their few triangles best first (the one holding the cell's centre leads), so that
nearly every point is settled by one or two tests. Points that no listed triangle contains
(a UV in a gap between triangles, or a crowded cell) go to ``Atlas.from_iuv`` itself, so
the result is the atlas's own answer: the chart-I triangle containing (U, V), else the
nearest one.
"""

from __future__ import annotations

import functools

import numpy as np

from annotator.surface.atlas import Atlas
from annotator.surface.geodesic import Geodesics
from annotator.surface.parts import N_FINE
from annotator.surface.points import SurfacePoints

#: Barycentric tolerance of "inside a triangle" (the atlas's own).
_INSIDE = -1e-9


class IuvLookup:
    """Grid-accelerated twin of ``Atlas.from_iuv``.

    Args:
        atlas: the charts.
        grid: cells per side of each chart's grid.
        width: triangles listed per cell (the rest of a crowded cell goes to the atlas).
    """

    def __init__(self, atlas: Atlas, grid: int = 256, width: int = 8) -> None:
        self.atlas = atlas
        self.grid = grid
        self.width = width
        uv = atlas.face_uv.astype(np.float64)  # [F, 3, 2]
        self._origin = uv[:, 0]
        edges = np.stack([uv[:, 1] - uv[:, 0], uv[:, 2] - uv[:, 0]], axis=2)  # [F, 2, 2]
        self._inverse = np.linalg.inv(edges)
        self._table = np.full((N_FINE + 1, grid * grid, width), -1, np.int32)
        for chart in range(1, N_FINE + 1):
            self._fill(chart, atlas.chart_faces(chart))

    def _fill(self, chart: int, faces: np.ndarray) -> None:
        """List, per cell of ``chart``, the faces whose UV box meets it, best first."""
        g = self.grid
        uv = self.atlas.face_uv[faces]
        lo = np.clip(np.floor(uv.min(axis=1) * g).astype(np.int64), 0, g - 1)
        hi = np.clip(np.floor(uv.max(axis=1) * g).astype(np.int64), 0, g - 1)
        nx, ny = hi[:, 0] - lo[:, 0] + 1, hi[:, 1] - lo[:, 1] + 1
        count = nx * ny
        owner = np.repeat(np.arange(len(faces)), count)
        offset = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
        cx = lo[owner, 0] + offset % nx[owner]
        cy = lo[owner, 1] + offset // nx[owner]
        centre = np.stack([cx + 0.5, cy + 0.5], axis=1) / g
        face = faces[owner]
        score = self._bary(face, centre).min(axis=1)  # >= 0: the face holds the centre
        cell = cy * g + cx
        order = np.lexsort((-score, cell))
        cell, face = cell[order], face[order]
        first = np.r_[0, np.flatnonzero(np.diff(cell)) + 1]
        rank = np.arange(len(cell)) - np.repeat(first, np.diff(np.r_[first, len(cell)]))
        keep = rank < self.width
        self._table[chart, cell[keep], rank[keep]] = face[keep]

    def _bary(self, face: np.ndarray, uv: np.ndarray) -> np.ndarray:
        """Barycentric coordinates ``[N, 3]`` of ``uv [N, 2]`` in the UV triangles ``face``."""
        rel = uv - self._origin[face]
        inv = self._inverse[face]
        b1 = inv[:, 0, 0] * rel[:, 0] + inv[:, 0, 1] * rel[:, 1]
        b2 = inv[:, 1, 0] * rel[:, 0] + inv[:, 1, 1] * rel[:, 1]
        return np.stack([1.0 - b1 - b2, b1, b2], axis=1)

    def __call__(self, i: np.ndarray, u: np.ndarray, v: np.ndarray) -> SurfacePoints:
        """Surface points of (I ``[N]`` in 1..24, U ``[N]``, V ``[N]``), as ``Atlas.from_iuv``.

        Raises:
            ValueError: a chart index outside 1..24, or lengths that differ.
        """
        i = np.asarray(i, dtype=np.int64).ravel()
        uv = np.clip(np.stack([np.ravel(u), np.ravel(v)], axis=1).astype(np.float64), 0, 1)
        if len(i) != len(uv):
            raise ValueError(f"I has {len(i)} values but U, V have {len(uv)}")
        if len(i) and (i.min() < 1 or i.max() > N_FINE):
            raise ValueError(f"chart index I must be in 1..{N_FINE}")
        g = self.grid
        cell = np.clip((uv * g).astype(np.int64), 0, g - 1)
        cell = cell[:, 1] * g + cell[:, 0]
        face = np.full(len(i), -1, np.int64)
        bary = np.zeros((len(i), 3))
        pending = np.arange(len(i))
        for k in range(self.width):
            cand = self._table[i[pending], cell[pending], k].astype(np.int64)
            listed = cand >= 0
            pending, cand = pending[listed], cand[listed]
            b = self._bary(cand, uv[pending])
            inside = np.all(b >= _INSIDE, axis=1)
            face[pending[inside]] = cand[inside]
            bary[pending[inside]] = b[inside]
            pending = pending[~inside]
            if not len(pending):
                break
        rest = np.flatnonzero(face < 0)
        if len(rest):
            found = self.atlas.from_iuv(i[rest], uv[rest, 0], uv[rest, 1])
            face[rest], bary[rest] = found.face, found.bary
        bary = np.clip(bary, 0.0, 1.0)
        bary /= bary.sum(axis=1, keepdims=True)
        return SurfacePoints(face, bary)


@functools.lru_cache(maxsize=4)
def iuv_lookup(atlas: Atlas) -> IuvLookup:
    """The lookup of ``atlas``, built once per process (about a second)."""
    return IuvLookup(atlas)


def iuv_errors(
    geodesics: Geodesics,
    truth: SurfacePoints,
    i: np.ndarray,
    u: np.ndarray,
    v: np.ndarray,
) -> np.ndarray:
    """Geodesic error ``[N]`` (metres) of predicted (I, U, V) against true surface points.

    A predicted I outside 1..24 (0 is background) has an infinite error.

    Args:
        geodesics: distances on the atlas the surface points refer to.
        truth: ``[N]`` true surface points.
        i: ``[N]`` predicted chart, 0..255.
        u, v: ``[N]`` predicted chart coordinates in [0, 1].
    """
    i = np.asarray(i, dtype=np.int64)
    errors = np.full(len(i), np.inf)
    valid = np.flatnonzero((i >= 1) & (i <= N_FINE))
    if len(valid):
        predicted = iuv_lookup(geodesics.atlas)(i[valid], u[valid], v[valid])
        errors[valid] = geodesics.distance(truth[valid], predicted)
    return errors
