"""The body model as the synthetic renderer uses it: posing in world axes, draw order, looks.

Built once per worker process (the Anny model takes about a second to load once cached).
Everything is returned in *canonical* world axes (x = the person's left at rest, y = up,
z = forward), the axes the scene is laid out in.

Draw order: a person is drawn as one mesh whose first faces are the atlas's skin faces, in
atlas order, followed by the model's other faces (eyes, mouth cavity, tongue). The renderer
reports face ``f < n_skin`` as atlas face ``f``; a face ``>= n_skin`` is part of the person
but not of the annotated surface (it occludes like skin but has no surface point).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import numpy as np

from annotator.surface.atlas import Atlas, load_atlas
from annotator.surface.body import JOINT_NAMES, AnnyBody
from annotator.surface.raster import face_incidence
from annotator.synth.appearance import BodyRegions
from annotator.synth.pose import Pose, Skeleton, pose_rotations

#: Phenotype keys of Anny sampled by the scene (each in [0, 1]).
PHENOTYPES = ("gender", "age", "muscle", "weight", "height", "proportions")


@dataclass
class PosedPeople:
    """A batch of B posed people in canonical axes, standing on nothing in particular.

    Attributes:
        vertices: ``[B, V, 3]`` the whole model mesh, metres.
        joints: ``[B, 19, 3]`` the shared joints (:data:`annotator.surface.body.JOINT_NAMES`).
        keypoints: ``[B, 17, 3]`` COCO keypoints.
    """

    vertices: np.ndarray
    joints: np.ndarray
    keypoints: np.ndarray


class SynthBody:
    """Anny plus what the synthetic renderer needs of it (skeleton axes, regions, faces)."""

    def __init__(self, body: AnnyBody | None = None, atlas: Atlas | None = None) -> None:
        self.body = body if body is not None else AnnyBody()
        self.atlas = atlas if atlas is not None else load_atlas(self.body.name)
        frame = self.body.frame()
        self.to_canonical = frame.to_canonical()
        self.skeleton = Skeleton.from_joints(frame.joints, self.to_canonical)
        rest = self.body.pose()
        rest_vertices = rest.vertices[0] @ self.to_canonical.T
        joints = {n: rest.joints[0, i] @ self.to_canonical.T for i, n in enumerate(JOINT_NAMES)}
        model_faces = self.body.model.get_triangular_faces().cpu().numpy().astype(np.int64)
        skin = self.atlas.model_vertex_ids[self.atlas.faces]
        self.n_skin = len(skin)
        self.faces = np.concatenate([skin, _other_faces(model_faces, skin)])
        self.n_vertices = len(rest_vertices)
        self.regions = BodyRegions.build(rest_vertices, joints, self.atlas)
        self.incidence = face_incidence(self.faces, self.n_vertices)
        self.rest_vertices = rest_vertices

    def pose(self, poses: list[Pose], shapes: list[dict[str, float]]) -> PosedPeople:
        """Pose B people (one batched model call) in canonical axes."""
        if len(poses) != len(shapes):
            raise ValueError("give one shape per pose")
        rotations = pose_rotations(poses, self.skeleton)
        shape = {k: np.array([s.get(k, 0.5) for s in shapes]) for k in PHENOTYPES}
        out = self.body.pose(rotations, cast(Any, shape), batch=len(poses))  # [B] per key
        c = self.to_canonical.T
        return PosedPeople(out.vertices @ c, out.joints @ c, out.keypoints @ c)


def _other_faces(model_faces: np.ndarray, skin: np.ndarray) -> np.ndarray:
    """The faces of ``model_faces [F, 3]`` that are not (as vertex sets) in ``skin``."""
    n = int(model_faces.max()) + 1

    def keys(faces: np.ndarray) -> np.ndarray:
        s = np.sort(faces, axis=1)
        return (s[:, 0] * n + s[:, 1]) * n + s[:, 2]

    other = ~np.isin(keys(model_faces), keys(skin))
    if len(model_faces) - other.sum() != len(skin):
        raise ValueError("the atlas's skin faces are not faces of the body model")
    return model_faces[other]
