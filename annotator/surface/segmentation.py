"""Split the skin into the 14 coarse parts and the 24 charts (build time, see scripts/).

Coarse parts come from the body model's own skinning weights, smoothed over the surface so
that part boundaries are clean curves rather than the saw-tooth of per-vertex argmax; faces
the model itself labels (Anny's head, hands and feet) keep that label. Each coarse part is then
cut in two by a plane through its bone axis (back/front, inside/outside, right/left) to give
the charts, and every chart is made one connected piece.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from annotator.surface.body import BodyFrame
from annotator.surface.meshutil import face_adjacency, face_components, vertex_adjacency
from annotator.surface.parts import COARSE_TO_FINE, FINE_TO_COARSE, N_COARSE

#: Coarse parts whose faces only the model's own segmentation may give, when it gives any.
_MODEL_OWNED = (2, 3, 4, 5)

#: Limb coarse part -> (proximal joint, distal joint, split direction). With "forward" the
#: first chart of the pair is the back; with "medial" the first chart is the inside.
_LIMBS = {
    6: ("right_hip", "right_knee", "forward"),
    7: ("left_hip", "left_knee", "forward"),
    8: ("right_knee", "right_ankle", "forward"),
    9: ("left_knee", "left_ankle", "forward"),
    10: ("left_shoulder", "left_elbow", "medial"),
    11: ("right_shoulder", "right_elbow", "medial"),
    12: ("left_elbow", "left_wrist", "medial"),
    13: ("right_elbow", "right_wrist", "medial"),
}


def smooth_vertex_field(
    field: np.ndarray, faces: np.ndarray, iterations: int, keep: np.ndarray | None = None
) -> np.ndarray:
    """Average a per-vertex field ``[V, C]`` over mesh neighbours ``iterations`` times.

    Vertices where ``keep`` is True hold their values (they anchor the diffusion).
    """
    adj = vertex_adjacency(faces, len(field))
    adj = adj + sp.identity(len(field), format="csr")
    inv_degree = 1.0 / np.asarray(adj.sum(axis=1)).ravel()
    out = field.copy()
    for _ in range(iterations):
        smoothed = (adj @ out) * inv_degree[:, None]
        out = smoothed if keep is None else np.where(keep[:, None], out, smoothed)
    return out


#: How far (metres, roughly) skinning weights are diffused before parts are assigned.
#: Diffusing over n neighbour-averaging passes reaches about sqrt(n) edge lengths: on Anny's
#: mesh (mean edge 10.3 mm) this is 25 passes.
SMOOTHING_RADIUS = 0.0517


def coarse_labels(
    vertices: np.ndarray,
    faces: np.ndarray,
    group_weights: np.ndarray,
    fixed: np.ndarray,
    smoothing: int | None = None,
) -> np.ndarray:
    """Coarse part (1..14) of every face.

    Args:
        vertices: ``[V, 3]`` rest positions.
        faces: ``[F, 3]`` skin faces.
        group_weights: ``[V, 15]`` skinning weight per coarse part.
        fixed: ``[F]`` coarse part given by the model itself (0 = free).
        smoothing: neighbour-averaging passes applied to the weights (default: enough to
            diffuse over :data:`SMOOTHING_RADIUS` whatever the mesh resolution).
    """
    if smoothing is None:
        edges = vertices[faces] - vertices[np.roll(faces, 1, axis=1)]
        mean_edge = float(np.linalg.norm(edges, axis=2).mean())
        smoothing = max(1, round((SMOOTHING_RADIUS / mean_edge) ** 2))
    owned = [p for p in _MODEL_OWNED if np.any(fixed == p)]
    weights = smooth_vertex_field(group_weights, faces, smoothing)
    scores = weights[faces].mean(axis=1)
    scores[:, 0] = -np.inf
    scores[:, owned] = -np.inf
    labels = np.where(fixed > 0, fixed, scores.argmax(axis=1))
    allowed = np.ones((N_COARSE + 1, N_COARSE + 1), bool)
    allowed[:, owned] = False
    labels = majority_filter(faces, labels, frozen=fixed > 0, allowed=allowed)
    return merge_small_components(faces, labels, frozen=fixed > 0)


def majority_filter(
    faces: np.ndarray,
    labels: np.ndarray,
    frozen: np.ndarray | None = None,
    allowed: np.ndarray | None = None,
    iterations: int = 10,
) -> np.ndarray:
    """Smooth label boundaries: a face whose edge-neighbours mostly (2 of 3) carry another label
    takes that label. Removes the saw-teeth a per-face classification leaves along a cut.

    Faces are updated one at a time (two facing teeth would otherwise swap labels forever).

    Args:
        faces: ``[F, 3]``.
        labels: ``[F]``.
        frozen: ``[F]`` bool, faces that keep their label.
        allowed: ``[L, L]`` bool, allowed[a, b] when a face may go from label a to label b.
    """
    adj = face_adjacency(faces).tocsr()
    labels = labels.copy()
    frozen = np.zeros(len(faces), bool) if frozen is None else frozen
    for _ in range(iterations):
        changed = False
        rows = np.repeat(np.arange(len(faces)), np.diff(adj.indptr))
        differs = np.bincount(
            rows, weights=labels[adj.indices] != labels[rows], minlength=len(faces)
        )
        candidates = np.flatnonzero((differs >= 2) & ~frozen)
        for f in candidates:
            neighbours = labels[adj.indices[adj.indptr[f] : adj.indptr[f + 1]]]
            values, counts = np.unique(neighbours[neighbours != labels[f]], return_counts=True)
            if len(values) == 0 or counts.max() < 2:
                continue
            target = values[counts.argmax()]
            if allowed is None or allowed[labels[f], target]:
                labels[f] = target
                changed = True
        if not changed:
            break
    return labels


def merge_small_components(
    faces: np.ndarray, labels: np.ndarray, frozen: np.ndarray | None = None
) -> np.ndarray:
    """Keep the largest connected piece of every label; give other pieces a neighbour's label.

    Args:
        faces: ``[F, 3]``.
        labels: ``[F]`` label per face.
        frozen: ``[F]`` bool, faces whose label must not change.
    """
    labels = labels.copy()
    adj = face_adjacency(faces)
    frozen = np.zeros(len(faces), bool) if frozen is None else frozen
    for _ in range(20):
        stray = np.zeros(len(faces), bool)
        for label in np.unique(labels):
            comp = face_components(faces, labels == label)
            ids, counts = np.unique(comp[comp >= 0], return_counts=True)
            if len(ids) > 1:
                stray |= (comp >= 0) & (comp != ids[counts.argmax()])
        stray &= ~frozen
        if not stray.any():
            break
        # Each stray face takes the most common label among its non-stray neighbours.
        rows, cols = adj[stray].nonzero()
        stray_ids = np.flatnonzero(stray)
        ok = ~stray[cols]
        votes: dict[int, dict[int, int]] = {}
        for r, c in zip(stray_ids[rows[ok]], cols[ok], strict=True):
            votes.setdefault(int(r), {}).setdefault(int(labels[c]), 0)
            votes[int(r)][int(labels[c])] += 1
        for face, tally in votes.items():
            labels[face] = max(tally, key=lambda k: (tally[k], -k))
    return labels


def _canonical(vertices: np.ndarray, frame: BodyFrame) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    rot = frame.to_canonical()
    return vertices @ rot.T, {k: rot @ v for k, v in frame.joints.items()}


def _torso_front(points: np.ndarray) -> np.ndarray:
    """True for torso points in front of the torso's mid-depth at their height."""
    y, z = points[:, 1], points[:, 2]
    bins = np.linspace(y.min(), y.max(), 41)
    which = np.clip(np.digitize(y, bins) - 1, 0, len(bins) - 2)
    mid = np.array(
        [
            0.5 * (z[which == b].min() + z[which == b].max()) if np.any(which == b) else np.nan
            for b in range(len(bins) - 1)
        ]
    )
    valid = ~np.isnan(mid)
    centres = 0.5 * (bins[1:] + bins[:-1])
    mid = np.interp(centres, centres[valid], mid[valid])
    mid = np.convolve(np.pad(mid, 2, mode="edge"), np.ones(5) / 5, mode="valid")
    return z > np.interp(y, centres, mid)


def _limb_first_side(points: np.ndarray, joints: dict[str, np.ndarray], part: int) -> np.ndarray:
    """True where a limb point lies on the first chart of its pair (back, or inside)."""
    proximal, distal, kind = _LIMBS[part]
    a, b = joints[proximal], joints[distal]
    axis = (b - a) / np.linalg.norm(b - a)
    if kind == "forward":
        ref = np.array([0.0, 0.0, 1.0])
    else:  # towards the body midline: -x for the left arm, +x for the right arm
        ref = np.array([-np.sign(a[0]), 0.0, 0.0])
    ref = ref - axis * (ref @ axis)
    ref /= np.linalg.norm(ref)
    side = (points - a) @ ref
    return side < 0 if kind == "forward" else side > 0


def fine_labels(
    vertices: np.ndarray, faces: np.ndarray, coarse: np.ndarray, frame: BodyFrame
) -> np.ndarray:
    """Chart (1..24) of every face, from its coarse part and the body's anatomy."""
    points, joints = _canonical(vertices[faces].mean(axis=1), frame)
    fine = np.zeros(len(faces), np.int64)
    for part in range(1, N_COARSE + 1):
        sel = coarse == part
        charts = COARSE_TO_FINE[part]
        if len(charts) == 1:
            fine[sel] = charts[0]
        elif part == 1:
            fine[sel] = np.where(_torso_front(points[sel]), charts[1], charts[0])
        elif part == 14:  # right half first: the person's right is -x in canonical axes
            fine[sel] = np.where(points[sel, 0] < 0, charts[0], charts[1])
        else:
            first = _limb_first_side(points[sel], joints, part)
            fine[sel] = np.where(first, charts[0], charts[1])
    # Smooth each cut within its coarse part, then give cut-off pieces a neighbour's chart.
    same_part = FINE_TO_COARSE[:, None] == FINE_TO_COARSE[None, :]
    fine = majority_filter(faces, fine, allowed=same_part)
    return merge_small_components(faces, fine, frozen=None)


def segment(
    vertices: np.ndarray,
    faces: np.ndarray,
    group_weights: np.ndarray,
    fixed: np.ndarray,
    frame: BodyFrame,
) -> tuple[np.ndarray, np.ndarray]:
    """Coarse part ``[F]`` and chart ``[F]`` of every skin face."""
    coarse = coarse_labels(vertices, faces, group_weights, fixed)
    fine = fine_labels(vertices, faces, coarse, frame)
    # A stray piece may have joined a neighbouring part's chart: keep coarse parts nested.
    return FINE_TO_COARSE[fine], fine
