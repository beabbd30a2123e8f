"""Flatten each chart into the unit square (build time, see scripts/build_atlas.py).

Two ways, as the DensePose paper did:

* the model's own texture layout, for head, hands and feet when the model ships one (Anny
  does): the chart's texture islands are packed side by side, each island unchanged;
* for the torso and limb halves, a map onto the whole square: the chart's boundary runs
  around the square's sides (four corners chosen on the chart's diagonals, V along its long
  axis) and the interior follows Floater's mean-value weights, which cannot fold a triangle.
  Should it fail on some chart, libigl's least-squares conformal map (LSCM), then a Tutte
  embedding, take over.

Either layout is then scaled, separately in U and V, to fill [0, 1] x [0, 1].
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from annotator.surface.atlas import ChartStats
from annotator.surface.meshutil import (
    face_components,
    signed_uv_areas,
    triangle_areas,
    uv_overlaps,
)


def _local_mesh(faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Compact vertex ids: (global ids used ``[Vc]``, faces in local ids ``[Fc, 3]``)."""
    used, local = np.unique(faces, return_inverse=True)
    return used, local.reshape(-1, 3)


def _boundary_loops(faces: np.ndarray) -> list[np.ndarray]:
    import igl

    return [np.asarray(loop) for loop in igl.boundary_loop_all(faces.astype(np.int64))]


def lscm(vertices: np.ndarray, faces: np.ndarray, axis: np.ndarray) -> np.ndarray:
    """Least-squares conformal map of a chart, V along ``axis``.

    Args:
        vertices: ``[Vc, 3]`` chart vertices.
        faces: ``[Fc, 3]`` chart faces (local ids), one piece with a boundary.
        axis: ``[3]`` direction that V should follow.

    Returns:
        ``[Vc, 2]`` UV per vertex (not yet normalized).
    """
    import igl

    loop = max(_boundary_loops(faces), key=len)
    along = vertices[loop] @ axis
    b = np.array([loop[along.argmin()], loop[along.argmax()]], dtype=np.int64)
    bc = np.array([[0.0, 0.0], [0.0, 1.0]])
    uv, _ = igl.lscm(vertices.astype(np.float64), faces.astype(np.int64), b, bc)
    return np.asarray(uv)


def tutte(vertices: np.ndarray, faces: np.ndarray, axis: np.ndarray) -> np.ndarray:
    """Tutte embedding: boundary on the unit circle, interior at neighbour averages.

    Fold-free for a chart with one boundary loop. The boundary starts at the vertex furthest
    along ``-axis`` so that V roughly follows ``axis``.
    """
    loops = _boundary_loops(faces)
    loop = max(loops, key=len)
    start = int(np.argmin(vertices[loop] @ axis))
    loop = np.roll(loop, -start)
    seg = np.linalg.norm(vertices[np.roll(loop, -1)] - vertices[loop], axis=1)
    angle = -0.5 * np.pi + 2 * np.pi * np.r_[0.0, np.cumsum(seg)[:-1]] / seg.sum()
    n = len(vertices)
    uv = np.zeros((n, 2))
    uv[loop] = np.c_[np.cos(angle), np.sin(angle)]
    e = faces[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2)
    adj = sp.csr_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(n, n))
    adj = ((adj + adj.T) > 0).astype(np.float64).tocsr()
    lap = sp.diags(np.asarray(adj.sum(axis=1)).ravel()) - adj
    inner = np.setdiff1d(np.arange(n), loop)
    rhs = -lap[inner][:, loop] @ uv[loop]
    uv[inner] = spla.spsolve(lap[inner][:, inner].tocsc(), rhs)
    return uv


def _mean_value_weights(vertices: np.ndarray, faces: np.ndarray) -> sp.csr_matrix:
    """Floater's mean-value weights ``[V, V]``: positive, so a convex boundary gives no folds."""
    n = len(vertices)
    rows, cols, vals = [], [], []
    for k in range(3):
        i, j, m = faces[:, k], faces[:, (k + 1) % 3], faces[:, (k + 2) % 3]
        eij = vertices[j] - vertices[i]
        eim = vertices[m] - vertices[i]
        lij = np.linalg.norm(eij, axis=1)
        lim = np.linalg.norm(eim, axis=1)
        cos = np.einsum("nd,nd->n", eij, eim) / np.maximum(lij * lim, 1e-30)
        half_tan = np.tan(0.5 * np.arccos(np.clip(cos, -1.0, 1.0)))
        # The angle at i between edges ij and im contributes to both of those edges' weights.
        rows += [i, i]
        cols += [j, m]
        vals += [half_tan / np.maximum(lij, 1e-30), half_tan / np.maximum(lim, 1e-30)]
    return sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)
    )


def _fill_holes(
    vertices: np.ndarray, faces: np.ndarray, loops: list[np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Close every loop but the outer one with a fan around a new centre vertex."""
    extra_v: list[np.ndarray] = []
    extra_f: list[np.ndarray] = []
    for loop in loops:
        centre = len(vertices) + len(extra_v)
        extra_v.append(vertices[loop].mean(axis=0))
        extra_f.append(np.c_[np.roll(loop, -1), loop, np.full(len(loop), centre)])
    if not extra_v:
        return vertices, faces
    return np.vstack([vertices, *extra_v]), np.vstack([faces, *extra_f])


#: How far the middle of each side of the square map bulges out (before normalization).
_BULGE = 0.01


def _clip_ears(faces: np.ndarray) -> tuple[np.ndarray, list[tuple[int, int, int]]]:
    """Remove the ears: triangles with two boundary edges (their tip touches nothing else).

    Returns:
        The remaining faces and the ears as (tip, a, b), where a-b is the ear's third edge,
        on the boundary of what remains, and (a, b, tip) is counter-clockwise.
    """
    edges = np.sort(faces[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2), axis=1)
    _, inverse, counts = np.unique(edges, axis=0, return_inverse=True, return_counts=True)
    on_boundary = (counts[inverse] == 1).reshape(-1, 3)  # edge k is (f[k], f[k+1])
    ear_rows = np.flatnonzero(on_boundary.sum(axis=1) == 2)
    ears = []
    for row in ear_rows:
        f = faces[row]
        k = int(np.flatnonzero(~on_boundary[row])[0])
        ears.append((int(f[(k + 2) % 3]), int(f[k]), int(f[(k + 1) % 3])))
    if len(ear_rows) >= len(faces) - 1:
        return faces, []
    return np.delete(faces, ear_rows, axis=0), ears


def _place_ears(
    uv: np.ndarray, vertices: np.ndarray, ears: list[tuple[int, int, int]]
) -> np.ndarray:
    """Put clipped ear tips back outside their base edge, with the ear's own shape.

    The tip's foot stays inside the base edge, so each ear lies in the strip over its own
    edge of the convex boundary: ears cannot overlap each other or the rest of the chart.
    """
    for tip, a, b in reversed(ears):
        base3 = vertices[b] - vertices[a]
        length3 = np.linalg.norm(base3)
        along = np.clip((vertices[tip] - vertices[a]) @ base3 / length3**2, 0.1, 0.9)
        height = np.linalg.norm(np.cross(base3, vertices[tip] - vertices[a])) / length3**2
        base = uv[b] - uv[a]
        normal = np.array([-base[1], base[0]])  # (a, b, tip) is counter-clockwise
        uv[tip] = uv[a] + along * base + height * normal
    return uv


def square_map(vertices: np.ndarray, faces: np.ndarray, axis: np.ndarray) -> np.ndarray:
    """Map a chart onto the unit square: boundary on the square's sides, interior by mean-value
    weights (Floater), which cannot fold. Holes are closed by temporary fans first.

    The four corners are the boundary vertices furthest towards the four diagonals of the
    chart's (across, along ``axis``) frame, so that V follows ``axis``.

    Returns:
        ``[Vc, 2]`` UV per vertex in [0, 1].
    """
    faces, ears = _clip_ears(faces)
    loops = _boundary_loops(faces)
    outer = max(loops, key=len)
    inner = [loop for loop in loops if loop is not outer]
    n = len(vertices)
    pts, filled = _fill_holes(vertices, faces, inner)
    centred = vertices - vertices.mean(axis=0)
    along = centred @ axis
    across_dir = np.linalg.svd(centred - np.outer(along, axis), full_matrices=False)[2][0]
    across = centred @ across_dir
    s = (along - along.min()) / np.ptp(along)
    t = (across - across.min()) / np.ptp(across)
    ls, lt = s[outer], t[outer]
    corner_pos = [int(np.argmax(f)) for f in (-ls - lt, -ls + lt, ls + lt, ls - lt)]
    order = np.argsort(corner_pos)
    if len(set(corner_pos)) < 4:
        raise ValueError("chart boundary has fewer than four distinct corners")
    loop = np.roll(outer, -corner_pos[order[0]])
    starts = sorted((p - corner_pos[order[0]]) % len(outer) for p in corner_pos)
    targets = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    outward = np.array([[0.0, -1.0], [1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    uv = np.zeros((len(pts), 2))
    seg = np.linalg.norm(pts[np.roll(loop, -1)] - pts[loop], axis=1)
    for k in range(4):
        a, b = starts[k], starts[(k + 1) % 4] if k < 3 else len(loop)
        arc = np.r_[0.0, np.cumsum(seg[a:b])]
        frac = arc[:-1] / arc[-1]
        side = targets[k] + frac[:, None] * (targets[(k + 1) % 4] - targets[k])
        # Sides bulge out a little: three boundary vertices of one triangle are then never
        # collinear, so the mean-value map gives every triangle a positive area.
        uv[loop[a:b]] = side + _BULGE * np.sin(np.pi * frac)[:, None] * outward[k]
    weights = _mean_value_weights(pts, filled)
    lap = sp.diags(np.asarray(weights.sum(axis=1)).ravel()) - weights
    free = np.setdiff1d(np.unique(filled), loop)  # clipped ear tips are placed afterwards
    rhs = -lap[free][:, loop] @ uv[loop]
    solved = spla.spsolve(lap[free][:, free].tocsc(), rhs)
    uv[free] = solved.reshape(len(free), 2)
    uv = uv[:n]
    if signed_uv_areas(uv[faces]).sum() < 0:
        uv[:, 0] = 1 - uv[:, 0]
    uv = _place_ears(uv, vertices, ears)
    # The square's corners were taken in loop order; make V follow the axis.
    if np.corrcoef(uv[:, 1], along)[0, 1] < np.corrcoef(uv[:, 0], along)[0, 1]:
        uv = uv[:, ::-1]
    return uv


def pack_islands(corner_uv: np.ndarray, face_texture: np.ndarray) -> tuple[np.ndarray, int]:
    """Pack a chart's texture islands side by side on shelves, each island unchanged.

    Args:
        corner_uv: ``[Fc, 3, 2]`` texture UV per face corner.
        face_texture: ``[Fc, 3]`` texture-vertex ids (faces sharing them are one island).

    Returns:
        packed ``[Fc, 3, 2]`` UV and the number of islands.
    """
    island = face_components(face_texture)
    ids = np.unique(island)
    boxes = []
    for i in ids:
        pts = corner_uv[island == i].reshape(-1, 2)
        boxes.append((pts.min(axis=0), pts.max(axis=0)))
    sizes = np.array([hi - lo for lo, hi in boxes])
    gap = 0.02 * float(np.sqrt((sizes[:, 0] * sizes[:, 1]).sum()))
    width = max(float(sizes[:, 0].max()), float(np.sqrt((sizes[:, 0] * sizes[:, 1]).sum())))
    out = corner_uv.copy()
    x = y = shelf_h = 0.0
    for k in np.argsort(-sizes[:, 1], kind="stable"):
        w, h = sizes[k]
        if x > 0 and x + w > width:
            x, y, shelf_h = 0.0, y + shelf_h + gap, 0.0
        sel = island == ids[k]
        out[sel] = corner_uv[sel] - boxes[k][0] + np.array([x, y])
        x += w + gap
        shelf_h = max(shelf_h, h)
    return out, len(ids)


def normalize_unit_square(corner_uv: np.ndarray) -> np.ndarray:
    """Scale U and V separately so that the chart spans [0, 1] x [0, 1]."""
    lo = corner_uv.reshape(-1, 2).min(axis=0)
    hi = corner_uv.reshape(-1, 2).max(axis=0)
    return (corner_uv - lo) / np.maximum(hi - lo, 1e-12)


def _weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    order = np.argsort(values)
    cum = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cum, q * cum[-1])])


def distortion(vertices: np.ndarray, faces: np.ndarray, corner_uv: np.ndarray) -> dict[str, float]:
    """How much a parametrization distorts the surface, weighted by surface area.

    Returns:
        angle_distortion (median of sigma_max / sigma_min of the 3D->UV Jacobian; 1 is
        conformal), angle_distortion_p95 (its 95th percentile), area_distortion (mean
        |log| of each face's UV/3D area ratio over the chart's; 0 is equiareal), slivers
        (faces whose ratio is under 5% of the chart's), flipped (faces with det <= 0), area_m2.
    """
    p = vertices[faces]
    e1, e2 = p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]
    x = e1 / np.linalg.norm(e1, axis=1, keepdims=True)
    normal = np.cross(e1, e2)
    area3 = 0.5 * np.linalg.norm(normal, axis=1)
    y = np.cross(normal / (2 * area3[:, None] + 1e-30), x)
    local = np.stack(
        [np.stack([np.einsum("nd,nd->n", e, x), np.einsum("nd,nd->n", e, y)], 1) for e in (e1, e2)],
        axis=2,
    )  # [F, 2, 2], columns are the edges in the face plane
    duv = np.stack([corner_uv[:, 1] - corner_uv[:, 0], corner_uv[:, 2] - corner_uv[:, 0]], axis=2)
    jac = duv @ np.linalg.inv(local + np.eye(2) * 1e-15)
    sv = np.linalg.svd(jac, compute_uv=False)
    det = np.linalg.det(jac)
    weights = area3 / area3.sum()
    conformal = sv[:, 0] / np.maximum(sv[:, 1], 1e-15)
    ratio = np.abs(det) / (np.abs(signed_uv_areas(corner_uv)).sum() / area3.sum())
    return {
        "angle_distortion": _weighted_quantile(conformal, weights, 0.5),
        "angle_distortion_p95": _weighted_quantile(conformal, weights, 0.95),
        "area_distortion": float(weights @ np.abs(np.log(np.maximum(ratio, 1e-6)))),
        "slivers": int((ratio < 0.05).sum()),
        "flipped": int((det <= 0).sum()),
        "area_m2": float(area3.sum()),
    }


def _flatten(pts: np.ndarray, faces: np.ndarray, axis: np.ndarray) -> tuple[str, np.ndarray]:
    """Corner UV ``[Fc, 3, 2]`` by the first method that folds nothing: square, LSCM, Tutte."""
    methods = (("square", square_map), ("lscm", lscm), ("tutte", tutte))
    corner = np.zeros((len(faces), 3, 2))
    for name, method in methods:
        try:
            corner = method(pts, faces, axis)[faces]
        except (ValueError, RuntimeError):
            continue
        if signed_uv_areas(corner).sum() < 0:
            corner[..., 0] *= -1
        if (signed_uv_areas(corner) > 0).all() and len(uv_overlaps(corner)) == 0:
            return name, corner
    return "tutte", corner


def parametrize_chart(
    chart: int,
    vertices: np.ndarray,
    faces: np.ndarray,
    axis: np.ndarray,
    texture: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, ChartStats]:
    """UV per face corner ``[Fc, 3, 2]`` in [0, 1] for one chart, and its quality.

    Args:
        chart: chart index 1..24 (for the stats).
        vertices: ``[V, 3]`` all rest vertices.
        faces: ``[Fc, 3]`` the chart's faces (global vertex ids).
        axis: ``[3]`` direction for V (the chart's long axis).
        texture: the model's (corner UV ``[Fc, 3, 2]``, texture ids ``[Fc, 3]``) to use
            instead of flattening, or None.
    """
    used, local = _local_mesh(faces)
    pts = vertices[used]
    islands = 1
    if texture is not None:
        corner, islands = pack_islands(*texture)
        method = "texture"
    else:
        method, corner = _flatten(pts, local, axis)
    corner = normalize_unit_square(corner)
    d = distortion(pts, local, corner)
    fill = float(np.abs(signed_uv_areas(corner)).sum())
    stats = ChartStats(
        chart=chart,
        method=method,
        faces=len(faces),
        islands=islands,
        fill=fill,
        flipped=int(d["flipped"]),
        overlaps=len(uv_overlaps(corner)),
        angle_distortion=d["angle_distortion"],
        angle_distortion_p95=d["angle_distortion_p95"],
        area_distortion=d["area_distortion"],
        slivers=int(d["slivers"]),
        area_m2=d["area_m2"],
    )
    return corner, stats


__all__ = [
    "ChartStats",
    "distortion",
    "lscm",
    "normalize_unit_square",
    "pack_islands",
    "parametrize_chart",
    "square_map",
    "triangle_areas",
    "tutte",
]
