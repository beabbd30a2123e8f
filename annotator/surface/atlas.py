"""The chart atlas at run time: surface points <-> DensePose (I, U, V), positions, mirror.

An atlas (built by scripts/build_atlas.py, shipped in assets/atlas/) holds, for one body
model, the skin mesh at rest and, for every skin face, its chart I (1..24) and the (U, V) of
its three corners. A surface point (face + barycentric coordinates) then has exactly one
(I, U, V); the other way, (I, U, V) lands in the triangle of chart I whose UV triangle
contains it, or the nearest one.
"""

from __future__ import annotations

import functools
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

from annotator.surface.meshutil import closest_point_on_triangles
from annotator.surface.parts import FINE_TO_COARSE, N_FINE
from annotator.surface.points import SurfacePoints

#: Where the shipped atlases live.
ASSET_DIR = Path(__file__).resolve().parents[2] / "assets" / "atlas"


class AtlasError(RuntimeError):
    """The atlas file is missing, corrupt, or does not match the body model."""


class _ChartLocator:
    """Finds the triangle of one chart that contains a (U, V): a uniform grid of candidates."""

    GRID = 128

    def __init__(self, face_ids: np.ndarray, uv: np.ndarray) -> None:
        self.face_ids = face_ids  # [Fc] global face ids
        self.uv = uv.astype(np.float64)  # [Fc, 3, 2]
        g = self.GRID
        lo = np.floor(uv.min(axis=1) * g).astype(int).clip(0, g - 1)
        hi = np.floor(uv.max(axis=1) * g).astype(int).clip(0, g - 1)
        cells: list[list[int]] = [[] for _ in range(g * g)]
        for f, (x0, y0), (x1, y1) in zip(range(len(uv)), lo, hi, strict=True):
            for y in range(y0, y1 + 1):
                for x in range(x0, x1 + 1):
                    cells[y * g + x].append(f)
        centroids = cKDTree(uv.mean(axis=1))
        centres = (np.stack(np.meshgrid(np.arange(g), np.arange(g)), -1).reshape(-1, 2) + 0.5) / g
        k = min(8, len(uv))
        _, near = centroids.query(centres, k=k)
        near = near.reshape(len(centres), k)
        for c in range(g * g):  # empty cells: the faces nearest to the cell's centre
            if not cells[c]:
                cells[c] = list(near[c])
        width = max(len(c) for c in cells)
        self.table = np.full((g * g, width), -1, dtype=np.int64)
        for c, members in enumerate(cells):
            self.table[c, : len(members)] = members
        a = self.uv[:, 0]
        m = np.stack([self.uv[:, 1] - a, self.uv[:, 2] - a], axis=2)  # [Fc, 2, 2]
        self.origin = a
        self.inverse = np.linalg.inv(m)

    def locate(self, uv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Global face ids ``[N]`` and barycentric coordinates ``[N, 3]`` for UVs ``[N, 2]``."""
        g = self.GRID
        cell = np.clip((uv * g).astype(int), 0, g - 1)
        cand = self.table[cell[:, 1] * g + cell[:, 0]]  # [N, W]
        valid = cand >= 0
        safe = np.where(valid, cand, 0)
        rel = uv[:, None, :] - self.origin[safe]  # [N, W, 2]
        vw = np.einsum("nwij,nwj->nwi", self.inverse[safe], rel)
        bary = np.concatenate([1 - vw.sum(-1, keepdims=True), vw], axis=-1)  # [N, W, 3]
        inside = valid & np.all(bary >= -1e-9, axis=-1)
        found = inside.any(axis=1)
        pick = inside.argmax(axis=1)
        rows = np.arange(len(uv))
        local = safe[rows, pick]
        out_bary = bary[rows, pick]
        missing = np.flatnonzero(~found)
        if len(missing):
            local[missing], out_bary[missing] = self._nearest(uv[missing], cand[missing])
        out_bary = np.clip(out_bary, 0.0, 1.0)
        out_bary /= out_bary.sum(axis=1, keepdims=True)
        return self.face_ids[local], out_bary

    def _nearest(self, uv: np.ndarray, cand: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n, w = cand.shape
        valid = cand >= 0
        safe = np.where(valid, cand, 0)
        bary, dist = closest_point_on_triangles(np.repeat(uv, w, axis=0), self.uv[safe.ravel()])
        dist = np.where(valid.ravel(), dist, np.inf).reshape(n, w)
        best = dist.argmin(axis=1)
        rows = np.arange(n)
        return safe[rows, best], bary.reshape(n, w, 3)[rows, best]


@dataclass
class ChartStats:
    """Quality of one chart's parametrization.

    Attributes:
        chart: chart index 1..24.
        method: "texture", "square", "lscm" or "tutte".
        faces: number of faces.
        islands: number of separate pieces in UV.
        fill: share of the unit square covered by the chart's triangles.
        flipped: triangles with negative orientation in UV (must be 0).
        overlaps: pairs of triangles that overlap in UV (must be 0).
        angle_distortion: area-weighted median of sigma_max / sigma_min (1 = conformal).
        angle_distortion_p95: its area-weighted 95th percentile.
        area_distortion: area-weighted mean of |log(area ratio / mean ratio)| (0 = equiareal).
        slivers: faces squeezed to under 5% of the chart's mean UV/3D area ratio.
        area_m2: surface area of the chart, square metres.
    """

    chart: int
    method: str
    faces: int
    islands: int
    fill: float
    flipped: int
    overlaps: int
    angle_distortion: float
    angle_distortion_p95: float
    area_distortion: float
    slivers: int
    area_m2: float

    def as_dict(self) -> dict[str, float | int | str]:
        """The record, floats to 9 significant digits: their last bits depend on the CPU's
        vector instructions, and the shipped atlas must rebuild byte for byte anywhere."""
        return {
            k: float(f"{v:.9g}") if isinstance(v, float) else v for k, v in asdict(self).items()
        }


class Atlas:
    """A body model's charts.

    Attributes:
        body: body model name ("anny", "smpl").
        fingerprint: topology of the model the atlas was built for.
        rest_vertices: ``[V, 3]`` skin vertices at rest, metres.
        faces: ``[F, 3]`` skin faces (indices into ``rest_vertices``).
        face_chart: ``[F]`` chart I (1..24) of each face.
        face_uv: ``[F, 3, 2]`` (U, V) of each face corner, in [0, 1].
        model_vertex_ids: ``[V]`` index of each skin vertex in the body model's full mesh.
        frame: ``[3, 3]`` rows: the person's left, up and forward in model coordinates.
    """

    def __init__(self, arrays: dict[str, np.ndarray], source: str = "<memory>") -> None:
        try:
            self.body = str(arrays["body"])
            self.fingerprint = str(arrays["fingerprint"])
            self.rest_vertices = np.asarray(arrays["rest_vertices"], dtype=np.float64)
            self.faces = np.asarray(arrays["faces"], dtype=np.int64)
            self.face_chart = np.asarray(arrays["face_chart"], dtype=np.int64)
            self.face_uv = np.asarray(arrays["face_uv"], dtype=np.float64)
            self.model_vertex_ids = np.asarray(arrays["model_vertex_ids"], dtype=np.int64)
            self.frame = np.asarray(arrays["frame"], dtype=np.float64)
            self._stats = json.loads(str(arrays["stats"])) if "stats" in arrays else []
        except KeyError as exc:
            raise AtlasError(f"{source}: not an atlas file, missing {exc.args[0]!r}") from exc
        self.source = source
        n_faces, n_vertices = len(self.faces), len(self.rest_vertices)
        problems = []
        if self.faces.min() < 0 or self.faces.max() >= n_vertices:
            problems.append("face indices out of range")
        if self.face_chart.shape != (n_faces,) or not np.isin(self.face_chart, range(1, 25)).all():
            problems.append("face_chart must hold 1..24 for every face")
        if self.face_uv.shape != (n_faces, 3, 2):
            problems.append(f"face_uv must have shape [{n_faces}, 3, 2]")
        if problems:
            raise AtlasError(f"{source}: corrupt atlas: {'; '.join(problems)}")
        self.face_coarse = FINE_TO_COARSE[self.face_chart]

    @classmethod
    def load(cls, path: str | Path) -> Atlas:
        path = Path(path)
        if not path.is_file():
            raise AtlasError(
                f"atlas file not found: {path}. Build it with `dpstudio body atlas` "
                "(for SMPL: --body smpl --smpl-model FILE)."
            )
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files}
        except (OSError, ValueError) as exc:
            raise AtlasError(f"{path}: cannot read the atlas ({exc}); rebuild it.") from exc
        return cls(arrays, source=str(path))

    def __repr__(self) -> str:
        return f"Atlas({self.body!r}, {len(self.faces)} faces, {len(self.rest_vertices)} vertices)"

    # -- charts -------------------------------------------------------------------------

    def chart_faces(self, chart: int) -> np.ndarray:
        """Face ids of chart ``chart`` (1..24)."""
        return np.flatnonzero(self.face_chart == chart)

    def chart_info(self) -> list[ChartStats]:
        """How each chart was flattened and how well (see :class:`ChartStats`)."""
        return [ChartStats(**s) for s in self._stats]

    @property
    def official_charts(self) -> bool:
        """The official DensePose charts: SMPL cut and flattened as ``UV_Processed.mat`` says
        (what DensePose-COCO and detectron2's models speak)."""
        return (
            self.body == "smpl"
            and bool(self._stats)
            and all(s.get("method") == "densepose" for s in self._stats)
        )

    @functools.cached_property
    def _locators(self) -> dict[int, _ChartLocator]:
        out = {}
        for chart in range(1, N_FINE + 1):
            ids = self.chart_faces(chart)
            out[chart] = _ChartLocator(ids, self.face_uv[ids])
        return out

    # -- conversions --------------------------------------------------------------------

    def to_iuv(self, points: SurfacePoints) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(I ``[N]`` in 1..24, U ``[N]``, V ``[N]`` in [0, 1]) of surface points."""
        uv = np.einsum("nk,nkd->nd", points.bary, self.face_uv[points.face])
        return self.face_chart[points.face], uv[:, 0], uv[:, 1]

    def from_iuv(
        self, i: np.ndarray, u: np.ndarray, v: np.ndarray, chunk: int = 65536
    ) -> SurfacePoints:
        """Surface points of (I, U, V): the chart-I triangle containing (U, V), else the nearest.

        Args:
            i: ``[N]`` chart indices 1..24.
            u, v: ``[N]`` chart coordinates in [0, 1] (values outside are clipped).
        """
        i = np.asarray(i, dtype=np.int64).ravel()
        uv = np.clip(np.stack([np.ravel(u), np.ravel(v)], axis=1).astype(np.float64), 0, 1)
        if len(i) != len(uv):
            raise ValueError(f"I has {len(i)} values but U, V have {len(uv)}")
        bad = (i < 1) | (i > N_FINE)
        if bad.any():
            raise ValueError(f"chart index I must be in 1..{N_FINE}, got {i[bad][0]}")
        face = np.zeros(len(i), np.int64)
        bary = np.zeros((len(i), 3))
        for chart in np.unique(i):
            sel = np.flatnonzero(i == chart)
            for start in range(0, len(sel), chunk):
                part = sel[start : start + chunk]
                face[part], bary[part] = self._locators[int(chart)].locate(uv[part])
        return SurfacePoints(face, bary)

    # -- geometry -----------------------------------------------------------------------

    def skin_vertices(self, model_vertices: np.ndarray) -> np.ndarray:
        """Skin vertices ``[..., V, 3]`` out of a body model's full vertex array."""
        return model_vertices[..., self.model_vertex_ids, :]

    def positions(self, points: SurfacePoints, vertices: np.ndarray | None = None) -> np.ndarray:
        """3D positions ``[N, 3]`` of surface points on skin ``vertices`` (default: rest)."""
        vertices = self.rest_vertices if vertices is None else vertices
        return points.positions(vertices, self.faces)

    @functools.cached_property
    def _centroid_tree(self) -> cKDTree:
        return cKDTree(self.rest_vertices[self.faces].mean(axis=1))

    def closest_points(self, positions: np.ndarray, k: int = 12) -> SurfacePoints:
        """Surface points nearest to 3D ``positions [N, 3]`` on the rest skin."""
        positions = np.atleast_2d(np.asarray(positions, dtype=np.float64))
        _, near = self._centroid_tree.query(positions, k=k)
        near = near.reshape(len(positions), k)
        tri = self.rest_vertices[self.faces[near.ravel()]]
        bary, dist = closest_point_on_triangles(np.repeat(positions, k, axis=0), tri)
        best = dist.reshape(-1, k).argmin(axis=1)
        rows = np.arange(len(positions))
        return SurfacePoints(near[rows, best], bary.reshape(-1, k, 3)[rows, best])

    def mirror(self, points: SurfacePoints) -> SurfacePoints:
        """The left/right mirror image of surface points (for flip augmentation)."""
        left = self.frame[0]
        centre = float(self.rest_vertices.mean(axis=0) @ left)
        p = self.positions(points)
        reflected = p - 2 * ((p @ left) - centre)[:, None] * left[None, :]
        return self.closest_points(reflected)


def atlas_path(body: str) -> Path:
    """The atlas file of ``body``: shipped in assets/ (Anny) or built by the user (SMPL)."""
    shipped = ASSET_DIR / f"{body}.npz"
    if shipped.is_file():
        return shipped
    from annotator.paths import data_dir

    return data_dir() / "atlas" / f"{body}.npz"


@functools.lru_cache(maxsize=4)
def load_atlas(body: str = "anny", path: str | None = None) -> Atlas:
    """The shipped atlas of ``body`` (or the atlas file at ``path``), loaded once per process."""
    return Atlas.load(path or atlas_path(body))
