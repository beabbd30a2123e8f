"""Building a :class:`~model.data.flip.FlipTable` from an atlas (under a second, then cached on
disk per atlas by :func:`model.data.flip.load_flip_table`; mirroring every cell through
``Atlas.from_iuv`` and ``Atlas.mirror`` takes about a minute), in four steps:

1. Rasterize each chart's UV triangles at the cell centres: the face and barycentric
   coordinates of every *covered* cell (the triangle ``Atlas.from_iuv`` finds).
2. Mirror those surface points. The Anny skin is left/right symmetric to 0.3 mm, so
   reflecting the vertices maps each face onto its mirror face; a point keeps its
   barycentric coordinates, permuted to the mirror face's corners. Faces without a mirror
   face (12, on the midline) go through ``Atlas.mirror`` (the closest surface point to the
   reflected position).
3. Reference form: where the mirror lies on a chart other than ``FLIP_FINE[I]``, the closest
   point of chart ``FLIP_FINE[I]``.
4. Cells that the chart does not cover (hands, feet and head charts fill 40 to 63 % of their
   square) take the values of the nearest covered cell (Euclidean distance in cells): a point
   there is off the chart already, and its nearest point on the chart is within a cell or so
   of that cell's centre. ``table.covered`` says which cells are on the chart.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage
from scipy.spatial import cKDTree

from annotator.surface.atlas import Atlas
from annotator.surface.meshutil import closest_point_on_triangles
from annotator.surface.parts import FLIP_FINE, N_FINE
from annotator.surface.points import SurfacePoints
from model.data.flip import GRID, FlipTable, cell_centres

#: A vertex whose reflection is farther than this from every vertex has no mirror vertex.
_SYMMETRY_TOLERANCE_M = 1e-3


def build_flip_table(atlas: Atlas) -> FlipTable:
    """Compute the table of ``atlas`` (see the module docstring for the four steps)."""
    centres = cell_centres()
    names = ("u", "v", "exact_chart", "exact_u", "exact_v")
    out = {name: np.zeros((N_FINE, GRID, GRID), np.float32) for name in names}
    covered = np.zeros((N_FINE, GRID, GRID), bool)
    mirror_face, corner_perm = _mirror_faces(atlas)
    for chart in range(1, N_FINE + 1):
        cells, points = _rasterize(atlas, chart, centres)
        exact = _mirror(atlas, points, mirror_face, corner_perm)
        values = dict(zip(names[2:], atlas.to_iuv(exact), strict=True))
        _, values["u"], values["v"] = atlas.to_iuv(_onto_chart(atlas, exact, int(FLIP_FINE[chart])))
        on = np.zeros((GRID, GRID), bool)
        on.ravel()[cells] = True
        # Uncovered cells: the values of the nearest covered cell.
        _, (rows, cols) = ndimage.distance_transform_edt(~on, return_indices=True)
        for name in names:
            grid = np.zeros(GRID * GRID)
            grid[cells] = values[name]
            out[name][chart - 1] = grid.reshape(GRID, GRID)[rows, cols]
        covered[chart - 1] = on
    return FlipTable(
        u=torch.from_numpy(out["u"]),
        v=torch.from_numpy(out["v"]),
        exact_chart=torch.from_numpy(out["exact_chart"].astype(np.int64)),
        exact_u=torch.from_numpy(out["exact_u"]),
        exact_v=torch.from_numpy(out["exact_v"]),
        covered=torch.from_numpy(covered),
        source=f"{atlas.source} (built)",
    )


def _rasterize(atlas: Atlas, chart: int, centres: np.ndarray) -> tuple[np.ndarray, SurfacePoints]:
    """Covered cells (flat ``v * 256 + u``) of ``chart`` and their surface points."""
    faces = atlas.chart_faces(chart)
    uv = atlas.face_uv[faces]  # [Fc, 3, 2]
    eps = 1e-9
    lo = np.searchsorted(centres, uv.min(axis=1) - eps, side="left")  # [Fc, 2] (u, v)
    hi = np.searchsorted(centres, uv.max(axis=1) + eps, side="right")
    n_u, n_v = hi[:, 0] - lo[:, 0], hi[:, 1] - lo[:, 1]
    count = n_u * n_v
    owner = np.repeat(np.arange(len(faces)), count)
    within = np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count)
    ku = lo[owner, 0] + within % n_u[owner]
    kv = lo[owner, 1] + within // n_u[owner]
    p = np.stack([centres[ku], centres[kv]], axis=1)
    a = uv[:, 0]
    edges = np.stack([uv[:, 1] - a, uv[:, 2] - a], axis=2)  # [Fc, 2, 2] columns e1, e2
    good = np.abs(np.linalg.det(edges)) > 1e-18  # triangles flattened to a line: skipped
    inverse = np.linalg.inv(np.where(good[:, None, None], edges, np.eye(2)))
    vw = np.einsum("nij,nj->ni", inverse[owner], p - a[owner])
    bary = np.concatenate([1 - vw.sum(axis=1, keepdims=True), vw], axis=1)
    inside = np.all(bary >= -eps, axis=1) & good[owner]
    cell = (kv * GRID + ku)[inside]
    # A cell on a shared edge is hit twice: keep one hit per cell.
    cell, first = np.unique(cell, return_index=True)
    bary = np.clip(bary[inside][first], 0.0, 1.0)
    bary /= bary.sum(axis=1, keepdims=True)
    return cell, SurfacePoints(faces[owner[inside][first]], bary)


def _mirror_faces(atlas: Atlas) -> tuple[np.ndarray, np.ndarray]:
    """Mirror face of every face (-1: none) and where each corner goes (``[F, 3]``)."""
    left = atlas.frame[0]
    verts = atlas.rest_vertices
    centre = float(verts.mean(axis=0) @ left)
    reflected = verts - 2 * ((verts @ left) - centre)[:, None] * left[None, :]
    dist, mirror_vertex = cKDTree(verts).query(reflected)
    corners = mirror_vertex[atlas.faces]  # [F, 3] mirror vertex of each corner
    n = len(verts)

    def key(tri: np.ndarray) -> np.ndarray:
        s = np.sort(tri, axis=1).astype(np.int64)
        return (s[:, 0] * n + s[:, 1]) * n + s[:, 2]

    face_keys = key(atlas.faces)
    order = np.argsort(face_keys)
    wanted = key(corners)
    pos = np.clip(np.searchsorted(face_keys[order], wanted), 0, len(order) - 1)
    found = face_keys[order][pos] == wanted
    found &= np.all(dist[atlas.faces] < _SYMMETRY_TOLERANCE_M, axis=1)
    mirror_face = np.where(found, order[pos], -1)
    target = atlas.faces[np.maximum(mirror_face, 0)]  # [F, 3]
    perm = np.argmax(target[:, None, :] == corners[:, :, None], axis=2)  # corner k -> slot
    return mirror_face, perm


def _mirror(
    atlas: Atlas, points: SurfacePoints, mirror_face: np.ndarray, corner_perm: np.ndarray
) -> SurfacePoints:
    """Mirror points face to face; through ``Atlas.mirror`` where a face has no mirror."""
    face = mirror_face[points.face]
    bary = np.zeros_like(points.bary)
    rows = np.arange(len(face))[:, None]
    bary[rows, corner_perm[points.face]] = points.bary
    slow = np.flatnonzero(face < 0)
    if len(slow):
        exact = atlas.mirror(points[slow])
        face[slow], bary[slow] = exact.face, exact.bary
    return SurfacePoints(face, bary)


def _onto_chart(atlas: Atlas, points: SurfacePoints, chart: int) -> SurfacePoints:
    """Points moved to the closest point of ``chart`` when they lie on another chart."""
    off = np.flatnonzero(atlas.face_chart[points.face] != chart)
    if len(off) == 0:
        return points
    faces = atlas.chart_faces(chart)
    tri = atlas.rest_vertices[atlas.faces[faces]]  # [Fc, 3, 3]
    k = min(12, len(faces))
    _, near = cKDTree(tri.mean(axis=1)).query(atlas.positions(points[off]), k=k)
    near = near.reshape(len(off), k)
    query = np.repeat(atlas.positions(points[off]), k, axis=0)
    bary, dist = closest_point_on_triangles(query, tri[near.ravel()])
    best = dist.reshape(-1, k).argmin(axis=1)
    rows = np.arange(len(off))
    face, out_bary = points.face.copy(), points.bary.copy()
    face[off] = faces[near[rows, best]]
    out_bary[off] = bary.reshape(-1, k, 3)[rows, best]
    return SurfacePoints(face, out_bary)
