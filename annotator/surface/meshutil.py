"""Small mesh helpers on plain numpy arrays: adjacency, components, areas, closest points."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components


def face_adjacency(faces: np.ndarray) -> sp.csr_matrix:
    """``[F, F]`` sparse matrix, 1 where two faces share an edge."""
    n = len(faces)
    edges = np.sort(faces[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2), axis=1)
    owner = np.repeat(np.arange(n), 3)
    order = np.lexsort((edges[:, 1], edges[:, 0]))
    edges, owner = edges[order], owner[order]
    same = np.all(edges[1:] == edges[:-1], axis=1)
    a, b = owner[:-1][same], owner[1:][same]
    data = np.ones(2 * len(a))
    return sp.csr_matrix((data, (np.r_[a, b], np.r_[b, a])), shape=(n, n))


def vertex_adjacency(faces: np.ndarray, n_vertices: int) -> sp.csr_matrix:
    """``[V, V]`` sparse matrix, 1 where two vertices share an edge."""
    e = faces[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2)
    m = sp.csr_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(n_vertices, n_vertices))
    m = ((m + m.T) > 0).astype(np.float64)
    return m.tocsr()


def face_components(faces: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Connected component id per face (faces linked through shared edges).

    Args:
        faces: ``[F, 3]``.
        mask: optional ``[F]`` bool; only faces in the mask are linked, others get -1.
    """
    adj = face_adjacency(faces)
    if mask is not None:
        keep = sp.diags(mask.astype(np.float64))
        adj = keep @ adj @ keep
    _, labels = connected_components(adj, directed=False)
    if mask is not None:
        labels = np.where(mask, labels, -1)
    return labels


def triangle_areas(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area ``[F]`` of each triangle (3D or 2D vertices); signed for 2D vertices."""
    a, b, c = (vertices[faces[:, k]] for k in range(3))
    if vertices.shape[1] == 2:
        return 0.5 * (
            (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])
        )
    return 0.5 * np.linalg.norm(np.cross(b - a, c - a), axis=1)


def signed_uv_areas(uv: np.ndarray) -> np.ndarray:
    """Signed area ``[N]`` of UV triangles given per corner as ``[N, 3, 2]``."""
    e1, e2 = uv[:, 1] - uv[:, 0], uv[:, 2] - uv[:, 0]
    return 0.5 * (e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0])


def closest_point_on_triangles(p: np.ndarray, tri: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Closest point of each triangle to each query point, any dimension.

    Args:
        p: ``[N, D]`` query points.
        tri: ``[N, 3, D]`` one triangle per query.

    Returns:
        bary ``[N, 3]`` barycentric coordinates of the closest point, and its squared
        distance ``[N]``.
    """
    a, b, c = tri[:, 0], tri[:, 1], tri[:, 2]
    ab, ac, ap = b - a, c - a, p - a
    d00 = np.einsum("nd,nd->n", ab, ab)
    d01 = np.einsum("nd,nd->n", ab, ac)
    d11 = np.einsum("nd,nd->n", ac, ac)
    d20 = np.einsum("nd,nd->n", ap, ab)
    d21 = np.einsum("nd,nd->n", ap, ac)
    denom = d00 * d11 - d01 * d01
    denom = np.where(np.abs(denom) < 1e-30, 1e-30, denom)
    v = (d11 * d20 - d01 * d21) / denom
    w = (d00 * d21 - d01 * d20) / denom
    bary = np.stack([1 - v - w, v, w], axis=1)
    inside = np.all(bary >= 0, axis=1)
    best_bary = bary.copy()
    best_d = np.full(len(p), np.inf)
    best_d[inside] = 0.0
    # Outside: the closest point lies on one of the three edges.
    for i, j in ((0, 1), (1, 2), (2, 0)):
        s, e = tri[:, i], tri[:, j]
        se = e - s
        t = np.einsum("nd,nd->n", p - s, se) / np.maximum(np.einsum("nd,nd->n", se, se), 1e-30)
        t = np.clip(t, 0.0, 1.0)
        q = s + t[:, None] * se
        d = np.einsum("nd,nd->n", p - q, p - q)
        better = ~inside & (d < best_d)
        best_d[better] = d[better]
        edge_bary = np.zeros((better.sum(), 3))
        edge_bary[:, i] = 1 - t[better]
        edge_bary[:, j] = t[better]
        best_bary[better] = edge_bary
    if inside.any():
        diff = np.einsum("nk,nkd->nd", bary[inside], tri[inside]) - p[inside]
        best_d[inside] = np.einsum("nd,nd->n", diff, diff)
    return best_bary, best_d


def _separated(t1: np.ndarray, t2: np.ndarray, eps: float) -> np.ndarray:
    """For pairs of 2D triangles ``[P, 3, 2]``, True where an edge of ``t1`` separates them."""
    out = np.zeros(len(t1), bool)
    orient = np.sign(signed_uv_areas(t1))
    for k in range(3):
        a, b = t1[:, k], t1[:, (k + 1) % 3]
        normal = np.stack([b[:, 1] - a[:, 1], a[:, 0] - b[:, 0]], axis=1) * orient[:, None]
        length = np.linalg.norm(normal, axis=1, keepdims=True)
        normal = normal / np.maximum(length, 1e-30)
        # For a counter-clockwise triangle, ``normal`` points out of edge k.
        side = np.einsum("npd,nd->np", t2 - a[:, None, :], normal)
        out |= np.all(side >= -eps, axis=1)
    return out


def uv_overlaps(corner_uv: np.ndarray, eps: float = 1e-9) -> np.ndarray:
    """Pairs ``[P, 2]`` of triangles whose interiors overlap in UV (a chart must have none).

    Args:
        corner_uv: ``[F, 3, 2]`` UV per face corner.
        eps: overlaps thinner than this are ignored (shared edges and vertices touch only).
    """
    lo, hi = corner_uv.min(axis=1), corner_uv.max(axis=1)
    g = max(1, int(np.sqrt(len(corner_uv))))
    span_lo, span_hi = lo.min(axis=0), hi.max(axis=0)
    scale = g / np.maximum(span_hi - span_lo, 1e-12)
    c0 = np.clip(((lo - span_lo) * scale).astype(int), 0, g - 1)
    c1 = np.clip(((hi - span_lo) * scale).astype(int), 0, g - 1)
    cells: dict[tuple[int, int], list[int]] = {}
    for f in range(len(corner_uv)):
        for x in range(c0[f, 0], c1[f, 0] + 1):
            for y in range(c0[f, 1], c1[f, 1] + 1):
                cells.setdefault((x, y), []).append(f)
    pairs = set()
    for members in cells.values():
        for i in range(len(members)):
            for j in range(i + 1, len(members)):
                pairs.add((members[i], members[j]))
    if not pairs:
        return np.zeros((0, 2), np.int64)
    cand = np.array(sorted(pairs), dtype=np.int64)
    boxes_apart = np.any(
        (hi[cand[:, 0]] <= lo[cand[:, 1]] + eps) | (hi[cand[:, 1]] <= lo[cand[:, 0]] + eps), axis=1
    )
    cand = cand[~boxes_apart]
    t1, t2 = corner_uv[cand[:, 0]], corner_uv[cand[:, 1]]
    apart = _separated(t1, t2, eps) | _separated(t2, t1, eps)
    return cand[~apart]
