"""A small SMPL-format model file, built here so that tests exercise the real SMPL loading
path (smplx) without the licensed SMPL model.

The mesh is the Anny skin simplified to ~1,500 vertices, rotated into SMPL's axes (Y up, the
person faces +Z); its 24 joints sit where SMPL's would, and every vertex is skinned to the
joint of the part its atlas chart belongs to.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from annotator.surface.atlas import load_atlas
from annotator.surface.views import atlas_joints

#: SMPL's kinematic tree (parent of each of the 24 joints).
SMPL_PARENTS = [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21]
#: SMPL joint skinning each coarse part (1..14).
PART_JOINT = {
    1: 3,
    2: 21,
    3: 20,
    4: 7,
    5: 8,
    6: 2,
    7: 1,
    8: 5,
    9: 4,
    10: 16,
    11: 17,
    12: 18,
    13: 19,
    14: 15,
}


def _drop_non_manifold(
    v: np.ndarray, f: np.ndarray, mapping: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Remove the faces on edges shared by more than two faces (quadric simplification leaves
    one at this size), then the vertices nothing uses."""
    edges = np.sort(f[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2), axis=1)
    _, inverse, counts = np.unique(edges, axis=0, return_inverse=True, return_counts=True)
    bad = (counts[inverse.ravel()] > 2).reshape(-1, 3).any(axis=1)
    f = f[~bad]
    used, compact = np.unique(f, return_inverse=True)
    remap = np.full(len(v), -1)
    remap[used] = np.arange(len(used))
    new_mapping = remap[mapping]
    # Fine vertices whose coarse vertex went away take the nearest kept one.
    lost = new_mapping < 0
    if lost.any():
        from scipy.spatial import cKDTree

        new_mapping[lost] = cKDTree(v[used]).query(v[mapping[lost]])[1]
    return v[used], compact.reshape(-1, 3), new_mapping


def write_smpl_file(path: Path, target_vertices: int = 1500) -> Path:
    import fast_simplification

    atlas = load_atlas("anny")
    v, f, collapses = fast_simplification.simplify(
        atlas.rest_vertices,
        atlas.faces,
        target_reduction=1 - target_vertices / len(atlas.rest_vertices),
        return_collapses=True,
    )
    _, _, mapping = fast_simplification.replay_simplification(
        atlas.rest_vertices.astype(np.float32), atlas.faces.astype(np.int32), collapses
    )
    v, f, mapping = _drop_non_manifold(np.asarray(v), np.asarray(f), np.asarray(mapping))
    # Each coarse vertex takes the coarse part most of its collapsed fine vertices belong to.
    fine_part = np.zeros(len(atlas.rest_vertices), np.int64)
    fine_part[atlas.faces.ravel()] = np.repeat(atlas.face_coarse, 3)
    votes = np.zeros((len(v), 15))
    np.add.at(votes, (mapping, fine_part), 1)
    part = votes.argmax(axis=1)

    anny_to_smpl = np.array([[1.0, 0, 0], [0, 0, 1.0], [0, -1.0, 0]])  # x, z up, -y forward
    vertices = v @ anny_to_smpl.T
    joints_anny = atlas_joints(atlas)
    centre = atlas.rest_vertices.mean(axis=0)
    top = atlas.rest_vertices[:, 2].max()
    pelvis = 0.5 * (joints_anny["left_hip"] + joints_anny["right_hip"])
    neck = 0.5 * (joints_anny["left_shoulder"] + joints_anny["right_shoulder"])
    named = {
        0: pelvis,
        1: joints_anny["left_hip"],
        2: joints_anny["right_hip"],
        3: pelvis + 0.25 * (neck - pelvis),
        4: joints_anny["left_knee"],
        5: joints_anny["right_knee"],
        6: pelvis + 0.5 * (neck - pelvis),
        7: joints_anny["left_ankle"],
        8: joints_anny["right_ankle"],
        9: pelvis + 0.75 * (neck - pelvis),
        10: joints_anny["left_ankle"] + [0, -0.1, -0.05],
        11: joints_anny["right_ankle"] + [0, -0.1, -0.05],
        12: neck + np.array([0, 0, 0.05]),
        13: neck + np.array([0.05, 0, 0]),
        14: neck + np.array([-0.05, 0, 0]),
        15: np.array([centre[0], centre[1], top - 0.12]),
        16: joints_anny["left_shoulder"],
        17: joints_anny["right_shoulder"],
        18: joints_anny["left_elbow"],
        19: joints_anny["right_elbow"],
        20: joints_anny["left_wrist"],
        21: joints_anny["right_wrist"],
        22: joints_anny["left_wrist"] + [0.05, -0.03, -0.05],
        23: joints_anny["right_wrist"] + [-0.05, -0.03, -0.05],
    }
    joints = np.stack([named[j] for j in range(24)]) @ anny_to_smpl.T
    # J_regressor: each joint is the average of its 8 nearest vertices, offset-free enough.
    rows, cols = [], []
    for j in range(24):
        nearest = np.argsort(np.linalg.norm(vertices - joints[j], axis=1))[:8]
        rows += [j] * 8
        cols += list(nearest)
    regressor = sp.csc_matrix((np.full(len(rows), 1 / 8), (rows, cols)), shape=(24, len(vertices)))
    weights = np.zeros((len(vertices), 24))
    weights[np.arange(len(vertices)), [PART_JOINT[int(p)] for p in part]] = 1.0
    rng = np.random.default_rng(0)
    data = {
        "v_template": vertices,
        "f": np.asarray(f, np.uint32),
        "J_regressor": regressor,
        "weights": weights,
        "kintree_table": np.array(
            [[2**32 - 1 if p < 0 else p for p in SMPL_PARENTS], list(range(24))], np.int64
        ),
        "shapedirs": rng.normal(scale=0.002, size=(len(vertices), 3, 10)),
        "posedirs": np.zeros((len(vertices), 3, 207)),
    }
    with path.open("wb") as fh:
        pickle.dump(data, fh)
    return path
