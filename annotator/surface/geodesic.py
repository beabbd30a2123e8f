"""Geodesic distance between surface points, in metres on the rest body, fast and batched.

How it works (docs/adr/0002-geodesics.md says why, and what it costs and measures):

1. Once per atlas, the geodesic distance between every pair of skin vertices is precomputed
   (:mod:`annotator.surface.geodesic_build`, about a minute on two cores): exact local
   distances with the exact (MMP) algorithm of ``pygeodesic``, then shortest paths through
   them. Only the vertices of one side of the body (and the middle) are sources; the other
   side's rows are their mirror images. The table (float16) is cached on disk.
2. For points p in face (a_i, corners c_i) and q in (b_j, corners d_j), with vertex
   distances D_ij, the squared distance is interpolated as

       d(p, q)^2 = sum_ij a_i b_j D_ij^2 - sum_i a_i |c_i - p|^2 - sum_j b_j |d_j - q|^2,

   the unique expression of the form |x|^2 + affine in each point that matches the vertex
   distances; it is exact wherever the geodesics to a face unfold into a plane (in particular
   for two points on one face, where it gives their straight distance).
"""

from __future__ import annotations

import functools
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from annotator.surface.atlas import Atlas
from annotator.surface.points import SurfacePoints

log = logging.getLogger(__name__)

#: Bump when the table's contents or layout change, to invalidate caches.
TABLE_VERSION = 4
#: Radius (metres) of the per-vertex neighbourhoods the error heat maps smooth over.
LOCAL_RADIUS = 0.10


@dataclass
class GeodesicTable:
    """Precomputed geodesics of one atlas's welded skin (V vertices).

    Attributes:
        distances: ``[S, V]`` float16 geodesic distance (metres) from the source vertices,
            those i with ``mirror[i] >= i`` in increasing order, to every vertex.
        mirror: ``[V]`` int64 left/right mirror of each vertex (the identity on a mesh that
            is not symmetric, where every vertex is a source); the distance from a vertex
            that is not a source is its mirror's row, read at the mirrored columns.
    """

    distances: np.ndarray
    mirror: np.ndarray

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.stem + ".tmp.npz")
        np.savez(tmp, distances=self.distances, mirror=self.mirror)
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> GeodesicTable:
        with np.load(path) as data:
            table = cls(data["distances"], data["mirror"])
        n = len(table.mirror)
        ids = np.arange(n)
        if table.mirror.min(initial=0) < 0 or table.mirror.max(initial=0) >= n:
            raise ValueError(f"{path}: mirror vertex out of range")
        if not np.array_equal(table.mirror[table.mirror], ids):
            raise ValueError(f"{path}: the mirror map does not pair vertices")
        sources = int((table.mirror >= ids).sum())
        if table.distances.shape != (sources, n) or table.distances.dtype != np.float16:
            raise ValueError(
                f"{path}: distances of shape {table.distances.shape} and type "
                f"{table.distances.dtype}, expected ({sources}, {n}) float16"
            )
        return table

    @property
    def source_row(self) -> np.ndarray:
        """``[V]`` row of ``distances`` holding each vertex's (or its mirror's) distances."""
        n = len(self.mirror)
        row = np.full(n, -1, np.int64)
        sources = np.flatnonzero(self.mirror >= np.arange(n))
        row[sources] = np.arange(len(sources))
        return row[np.minimum(self.mirror, np.arange(n))]

    def vertex_distances(self, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        """Distance ``[...]`` (metres, float32) between welded vertices ``i`` and ``j``."""
        i, j = np.asarray(i), np.asarray(j)
        flipped = self.mirror[i] < i
        col = np.where(flipped, self.mirror[j], j)
        return self.distances[self.source_row[i], col].astype(np.float32)

    @functools.cached_property
    def _local(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        n = len(self.mirror)
        sources = np.flatnonzero(self.mirror >= np.arange(n))
        rows, cols = np.nonzero(self.distances <= LOCAL_RADIUS)
        d = self.distances[rows, cols]
        src = sources[rows]
        other = self.mirror[src] != src
        src = np.r_[src, self.mirror[src[other]]]
        cols = np.r_[cols, self.mirror[cols[other]]]
        d = np.r_[d, d[other]]
        order = np.argsort(src * n + cols, kind="stable")
        indptr = np.r_[0, np.cumsum(np.bincount(src, minlength=n))].astype(np.int64)
        return indptr, cols[order].astype(np.int32), d[order]

    @property
    def local_indptr(self) -> np.ndarray:
        """CSR rows ``[V + 1]`` of the distances within ``LOCAL_RADIUS`` (for heat maps)."""
        return self._local[0]

    @property
    def local_indices(self) -> np.ndarray:
        """CSR columns: the vertices within ``LOCAL_RADIUS`` of each vertex, sorted."""
        return self._local[1]

    @property
    def local_distances(self) -> np.ndarray:
        """CSR values: their geodesic distances (float16, metres)."""
        return self._local[2]


def welded_mesh(atlas: Atlas) -> tuple[np.ndarray, np.ndarray]:
    """The atlas skin with seam duplicates merged (vertices ``[W, 3]``, faces ``[F, 3]``)."""
    ids, inverse = np.unique(atlas.model_vertex_ids, return_inverse=True)
    vertices = np.zeros((len(ids), 3))
    vertices[inverse] = atlas.rest_vertices
    return vertices, inverse[atlas.faces]


def build_table(
    atlas: Atlas,
    workers: int = 2,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> GeodesicTable:
    """Precompute the geodesic table of ``atlas`` (about a minute: see the module docstring)."""
    from annotator.surface.geodesic_build import geodesic_rows

    vertices, faces = welded_mesh(atlas)
    distances, mirror = geodesic_rows(
        vertices, faces, atlas.frame[0], workers, progress, should_stop
    )
    return GeodesicTable(distances, mirror)


def table_path(atlas: Atlas, cache_dir: Path) -> Path:
    digest = hashlib.sha1(
        atlas.rest_vertices.astype(np.float32).tobytes() + atlas.faces.astype(np.int32).tobytes()
    ).hexdigest()[:16]
    return cache_dir / "geodesics" / f"{atlas.body}-v{TABLE_VERSION}-{digest}.npz"


class Geodesics:
    """Batched geodesic distances on one atlas's rest body.

    Args:
        atlas: the charts (surface points refer to its faces).
        table: its precomputed :class:`GeodesicTable`.
    """

    def __init__(self, atlas: Atlas, table: GeodesicTable) -> None:
        _, welded = np.unique(atlas.model_vertex_ids, return_inverse=True)
        if len(table.mirror) != welded.max() + 1:
            raise ValueError("geodesic table does not belong to this atlas")
        self.atlas = atlas
        self.table = table
        n = len(table.mirror)
        self._n = n
        self._flat = table.distances.reshape(-1)  # one gather per corner pair
        self._row_start = table.source_row * n  # [V] offset of each vertex's row
        self._flipped = table.mirror < np.arange(n)
        self._mirror = table.mirror
        self._welded_faces = welded[atlas.faces]
        vertices = atlas.rest_vertices.astype(np.float32)
        self._corners = vertices[atlas.faces]  # [F, 3, 3]

    @classmethod
    def load_or_build(
        cls,
        atlas: Atlas,
        cache_dir: Path | None = None,
        workers: int = 2,
        progress: Callable[[int, int], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> Geodesics:
        """From the disk cache, or precomputed now and cached (about a minute, once per
        machine).

        Processes that need the same table at once (the app and a command, tests run in
        parallel) take turns through a lock file: one builds, the others then load it.
        """
        import fcntl

        from annotator.paths import cache_dir as default_cache

        path = table_path(atlas, cache_dir or default_cache())
        if (found := cls._load(atlas, path)) is not None:
            return found
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path.with_suffix(".lock"), "w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                log.info("another process is building %s: waiting for it", path.name)
                fcntl.flock(lock, fcntl.LOCK_EX)
            if (found := cls._load(atlas, path)) is not None:
                return found
            table = build_table(atlas, workers=workers, progress=progress, should_stop=should_stop)
            table.save(path)
        return cls(atlas, table)

    @classmethod
    def _load(cls, atlas: Atlas, path: Path) -> Geodesics | None:
        if not path.is_file():
            return None
        try:
            return cls(atlas, GeodesicTable.load(path))
        except (OSError, ValueError, KeyError):
            log.warning("geodesic cache %s is damaged: rebuilding it", path)
            return None

    def distance(self, p: SurfacePoints, q: SurfacePoints, chunk: int = 262144) -> np.ndarray:
        """Geodesic distance ``[N]`` in metres between ``p[i]`` and ``q[i]``."""
        if len(p) != len(q):
            raise ValueError(f"p has {len(p)} points but q has {len(q)}")
        out = np.empty(len(p), np.float64)
        for start in range(0, len(p), chunk):
            sl = slice(start, start + chunk)
            out[sl] = self._distance(p[sl], q[sl])
        return out

    def _spread(self, points: SurfacePoints, bary: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """sum_i a_i |c_i - p|^2 ``[N]`` and the positions p ``[N, 3]``.

        Computed from the corners relative to p: the shorter form sum_i a_i |c_i|^2 - |p|^2
        loses a quarter of a millimetre to float32 rounding of |c|^2 (about 1 m^2).
        """
        corners = self._corners[points.face]
        p = np.einsum("nk,nkd->nd", bary, corners)
        rel = corners - p[:, None, :]
        return np.einsum("nk,nkd,nkd->n", bary, rel, rel), p

    def _distance(self, p: SurfacePoints, q: SurfacePoints) -> np.ndarray:
        a, b = p.bary.astype(np.float32), q.bary.astype(np.float32)
        vi, vj = self._welded_faces[p.face], self._welded_faces[q.face]
        mirrored = self._mirror[vj]
        total = np.zeros(len(p), np.float32)
        for i in range(3):
            cols = np.where(self._flipped[vi[:, i], None], mirrored, vj)
            d = np.take(self._flat, self._row_start[vi[:, i], None] + cols).astype(np.float32)
            total += a[:, i] * np.einsum("nj,nj->n", b, d * d)
        spread_p, pos_p = self._spread(p, a)
        spread_q, pos_q = self._spread(q, b)
        out = np.sqrt(np.maximum(total - spread_p - spread_q, 0.0)).astype(np.float64)
        # Two points of one triangle: the geodesic is the straight segment (exact, and free of
        # the interpolation's rounding, so equal points are 0 apart).
        same = p.face == q.face
        out[same] = np.linalg.norm((pos_p[same] - pos_q[same]).astype(np.float64), axis=1)
        return out
