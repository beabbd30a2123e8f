"""Surface points: where on the body surface a pixel lands.

A surface point is a face of the atlas mesh plus barycentric coordinates in that face. It is
independent of pose and shape: the same point has a position on every posed body of the same
body model. Conversion to and from DensePose (I, U, V) lives in :mod:`annotator.surface.atlas`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SurfacePoints:
    """A batch of N points on the body surface.

    Attributes:
        face: ``[N]`` int64, index into the atlas faces.
        bary: ``[N, 3]`` float64 barycentric coordinates, each row in [0, 1] summing to 1.
    """

    face: np.ndarray
    bary: np.ndarray

    def __post_init__(self) -> None:
        face = np.atleast_1d(np.asarray(self.face, dtype=np.int64))
        bary = np.atleast_2d(np.asarray(self.bary, dtype=np.float64))
        if bary.shape != (len(face), 3):
            raise ValueError(f"bary must have shape [{len(face)}, 3], got {bary.shape}")
        object.__setattr__(self, "face", face)
        object.__setattr__(self, "bary", bary)

    def __len__(self) -> int:
        return len(self.face)

    def __getitem__(self, index: int | slice | np.ndarray) -> SurfacePoints:
        face = self.face[index]
        return SurfacePoints(np.atleast_1d(face), self.bary[index].reshape(-1, 3))

    @staticmethod
    def empty() -> SurfacePoints:
        return SurfacePoints(np.zeros(0, np.int64), np.zeros((0, 3)))

    @staticmethod
    def concatenate(parts: list[SurfacePoints]) -> SurfacePoints:
        if not parts:
            return SurfacePoints.empty()
        return SurfacePoints(
            np.concatenate([p.face for p in parts]), np.concatenate([p.bary for p in parts])
        )

    def positions(self, vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
        """3D positions ``[N, 3]`` on a mesh with ``vertices [V, 3]`` and ``faces [F, 3]``."""
        corners = vertices[faces[self.face]]  # [N, 3, 3]
        return np.einsum("nk,nkd->nd", self.bary, corners)
