"""Geodesic distance between surface points, in metres on the rest body, fast and batched.

How it works (docs/adr/0002-geodesics.md says why):

1. Once per atlas, the skin is simplified to about 9,000 vertices (quadric decimation keeps the
   shape) and the exact polyhedral geodesic distance between every pair of its vertices is
   computed with the exact (MMP) algorithm of ``pygeodesic``, in worker processes (about 12
   minutes on two cores). The table (float16, ~160 MB) is cached on disk.
2. Every atlas face is tied to a nearby coarse face (among those around the coarse vertices its
   corners collapsed into, so that it cannot jump across a gap between toes or fingers), with
   the affine map that takes its barycentric coordinates to the coarse face's.
3. Near the source the simplified surface is too rough, so for every skin vertex the exact
   distances to the skin vertices within ``LOCAL_RADIUS`` are computed as well, on the full
   mesh (exact solver on the patch around the vertex, which contains every such geodesic).
4. For points p in face (a_i, corners c_i) and q in (b_j, corners d_j), with vertex
   distances D_ij, the squared distance is interpolated as

       d(p, q)^2 = sum_ij a_i b_j D_ij^2 - sum_i a_i |c_i - p|^2 - sum_j b_j |d_j - q|^2,

   the unique expression of the form |x|^2 + affine in each point that matches the vertex
   distances; it is exact wherever the geodesics to a face unfold into a plane (in particular
   for two points on one face, where it gives their straight distance). Pairs closer than
   the local radius use the full-mesh vertex distances; others the simplified mesh's.

Measured against the exact solver on the full skin (scripts/bench_surface.py): within 2% or
5 mm on a random sample, at several million pairs per second.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.spatial import cKDTree

from annotator.surface.atlas import Atlas
from annotator.surface.meshutil import closest_point_on_triangles, face_components
from annotator.surface.points import SurfacePoints

log = logging.getLogger(__name__)

#: Bump when the table's contents or layout change, to invalidate caches.
TABLE_VERSION = 3
#: Target vertex count of the simplified mesh the exact distances are computed on.
COARSE_VERTICES = 9000
#: Radius (metres) of the exact full-mesh distances kept around every skin vertex.
LOCAL_RADIUS = 0.10


@dataclass
class GeodesicTable:
    """Precomputed geodesics of one atlas.

    Attributes:
        coarse_vertices: ``[C, 3]`` simplified skin, metres.
        coarse_faces: ``[G, 3]``.
        distances: ``[C, C]`` float16 exact geodesic distance between coarse vertices, metres.
        face_coarse: ``[F]`` coarse face tied to each atlas face.
        face_map: ``[F, 3, 3]`` float32; row k holds the coarse barycentric coordinates of the
            atlas face's corner k, so coarse bary = fine bary @ face_map[f].
        local_indptr, local_indices, local_distances: CSR rows ``[W]`` over the welded skin
            vertices: exact distances (float16, metres) to the vertices within the local radius.
    """

    coarse_vertices: np.ndarray
    coarse_faces: np.ndarray
    distances: np.ndarray
    face_coarse: np.ndarray
    face_map: np.ndarray
    local_indptr: np.ndarray
    local_indices: np.ndarray
    local_distances: np.ndarray

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.stem + ".tmp.npz")
        np.savez(tmp, **{k: getattr(self, k) for k in self.__dataclass_fields__})
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> GeodesicTable:
        with np.load(path) as data:
            return cls(**{k: data[k] for k in data.files})


def welded_mesh(atlas: Atlas) -> tuple[np.ndarray, np.ndarray]:
    """The atlas skin with seam duplicates merged (vertices ``[W, 3]``, faces ``[F, 3]``)."""
    ids, inverse = np.unique(atlas.model_vertex_ids, return_inverse=True)
    vertices = np.zeros((len(ids), 3))
    vertices[inverse] = atlas.rest_vertices
    return vertices, inverse[atlas.faces]


def simplify(
    vertices: np.ndarray, faces: np.ndarray, target: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Quadric simplification to about ``target`` vertices, checked to be one clean piece.

    Returns:
        coarse vertices ``[C, 3]``, coarse faces ``[G, 3]`` and, for every input vertex, the
        coarse vertex it was collapsed into ``[V]``.
    """
    import fast_simplification
    from fast_simplification import replay_simplification

    for attempt in range(6):
        reduction = min(0.95, max(0.0, 1 - target * (1 + 0.05 * attempt) / len(vertices)))
        v, f, collapses = fast_simplification.simplify(
            vertices.astype(np.float64),
            faces.astype(np.int64),
            target_reduction=reduction,
            return_collapses=True,
        )
        v, f = np.asarray(v, np.float64), np.asarray(f, np.int64)
        if _is_clean(v, f):
            _, _, mapping = replay_simplification(
                vertices.astype(np.float32), faces.astype(np.int32), collapses
            )
            return v, f, np.asarray(mapping, np.int64)
    raise RuntimeError("could not simplify the skin into one clean manifold piece")


def _is_clean(vertices: np.ndarray, faces: np.ndarray) -> bool:
    edges = np.sort(faces[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2), axis=1)
    _, counts = np.unique(edges, axis=0, return_counts=True)
    area = np.linalg.norm(
        np.cross(
            vertices[faces[:, 1]] - vertices[faces[:, 0]],
            vertices[faces[:, 2]] - vertices[faces[:, 0]],
        ),
        axis=1,
    )
    used = np.zeros(len(vertices), bool)
    used[faces.ravel()] = True
    one_piece = len(np.unique(face_components(faces))) == 1
    return bool(counts.max() <= 2 and area.min() > 1e-12 and used.all() and one_piece)


_WORKER: dict[str, Any] = {}


def _init_worker(vertices: np.ndarray, faces: np.ndarray) -> None:
    import pygeodesic.geodesic as geodesic

    _WORKER["solver"] = geodesic.PyGeodesicAlgorithmExact(vertices, faces)


def _init_local_worker(vertices: np.ndarray, faces: np.ndarray, radius: float) -> None:
    import scipy.sparse as sp

    _WORKER["vertices"], _WORKER["faces"], _WORKER["radius"] = vertices, faces, radius
    _WORKER["tree"] = cKDTree(vertices)
    n = len(vertices)
    _WORKER["incidence"] = sp.csr_matrix(
        (np.ones(faces.size), (faces.ravel(), np.repeat(np.arange(len(faces)), 3))),
        shape=(n, len(faces)),
    )


def _local_rows(sources: list[int]) -> tuple[list[int], list[tuple[np.ndarray, np.ndarray]]]:
    """Exact distances from each source to the vertices within the radius, on the full mesh.

    A geodesic of length r stays within Euclidean distance r of its source, so the patch of
    faces inside a slightly larger ball contains every geodesic we keep.
    """
    import pygeodesic.geodesic as geodesic

    vertices, faces = _WORKER["vertices"], _WORKER["faces"]
    radius = float(_WORKER["radius"])
    tree: cKDTree = _WORKER["tree"]
    out = []
    for source in sources:
        near = np.asarray(tree.query_ball_point(vertices[source], radius * 1.15 + 0.01))
        inside = np.zeros(len(vertices), bool)
        inside[near] = True
        patch = faces[np.all(inside[faces], axis=1)]
        # Only the piece of the patch that holds the source (the solver fails on the others).
        piece = face_components(patch)
        patch = patch[piece == piece[np.flatnonzero((patch == source).any(axis=1))[0]]]
        used, local = np.unique(patch, return_inverse=True)
        solver = geodesic.PyGeodesicAlgorithmExact(vertices[used], local.reshape(-1, 3))
        d, _ = solver.geodesicDistances(np.array([np.searchsorted(used, source)]), None)
        keep = np.isfinite(d) & (d <= radius)
        order = np.argsort(used[keep])
        out.append((used[keep][order].astype(np.int32), d[keep][order].astype(np.float32)))
    return sources, out


def _in_workers(
    work: Callable[[list[int]], tuple[list[int], Any]],
    n: int,
    chunk: int,
    workers: int,
    init: tuple[Callable[..., None], tuple[Any, ...]],
    progress: Callable[[int, int], None] | None,
    should_stop: Callable[[], bool] | None,
) -> Iterator[tuple[list[int], Any]]:
    """``work`` over the sources 0..n-1 in chunks, in spawned worker processes set up by
    ``init`` (function, arguments); yields (sources, result) as chunks finish, reports
    progress, and cancels (InterruptedError) when ``should_stop`` says so."""
    import multiprocessing as mp

    chunks = [list(range(i, min(n, i + chunk))) for i in range(0, n, chunk)]
    with mp.get_context("spawn").Pool(workers, init[0], init[1]) as pool:
        done = 0
        for sources, result in pool.imap_unordered(work, chunks):
            yield sources, result
            done += len(sources)
            if progress is not None:
                progress(done, n)
            if should_stop is not None and should_stop():
                pool.terminate()
                raise InterruptedError("geodesic precompute cancelled")


def local_distances(
    vertices: np.ndarray,
    faces: np.ndarray,
    radius: float = LOCAL_RADIUS,
    workers: int = 2,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact distances between vertices closer than ``radius``, as CSR (indptr, indices, data)."""
    n = len(vertices)
    rows: list[tuple[np.ndarray, np.ndarray]] = [(np.zeros(0, np.int32), np.zeros(0))] * n
    init = (_init_local_worker, (vertices, faces, radius))
    for sources, result in _in_workers(_local_rows, n, 50, workers, init, progress, should_stop):
        for source, row in zip(sources, result, strict=True):
            rows[source] = row
    indptr = np.r_[0, np.cumsum([len(r[0]) for r in rows])].astype(np.int64)
    indices = np.concatenate([r[0] for r in rows]).astype(np.int32)
    data = np.concatenate([r[1] for r in rows]).astype(np.float16)
    return indptr, indices, data


def _rows(sources: list[int]) -> tuple[list[int], np.ndarray]:
    solver = _WORKER["solver"]
    out = np.stack([solver.geodesicDistances(np.array([s]), None)[0] for s in sources])
    return sources, out.astype(np.float32)


def exact_all_pairs(
    vertices: np.ndarray,
    faces: np.ndarray,
    workers: int = 2,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> np.ndarray:
    """``[V, V]`` exact geodesic distances between all vertices (worker processes).

    Args:
        progress: called with (done, total) as rows arrive.
        should_stop: polled between chunks; returning True cancels (raises InterruptedError).
    """
    n = len(vertices)
    out = np.zeros((n, n), np.float32)
    init = (_init_worker, (vertices, faces))
    for sources, rows in _in_workers(_rows, n, 25, workers, init, progress, should_stop):
        out[sources] = rows
    if not np.isfinite(out).all() or (out.max(axis=1) <= 0).any():
        raise RuntimeError("the exact geodesic solver returned invalid distances")
    return 0.5 * (out + out.T)


def tie_faces(
    atlas: Atlas,
    coarse_vertices: np.ndarray,
    coarse_faces: np.ndarray,
    collapsed_into: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Coarse face ``[F]`` tied to each atlas face and the barycentric map ``[F, 3, 3]``.

    Candidates are the coarse faces within one ring of the coarse vertices the face's corners
    were collapsed into (``collapsed_into``: welded skin vertex -> coarse vertex); the nearest
    candidate to the face's centre wins.
    """
    import scipy.sparse as sp

    _, welded = np.unique(atlas.model_vertex_ids, return_inverse=True)
    n = len(coarse_vertices)
    incidence = sp.csr_matrix(
        (
            np.ones(coarse_faces.size),
            (coarse_faces.ravel(), np.repeat(np.arange(len(coarse_faces)), 3)),
        ),
        shape=(n, len(coarse_faces)),
    )
    ring = (((incidence @ incidence.T) > 0) @ incidence > 0).tocsr()
    corners = atlas.rest_vertices[atlas.faces]  # [F, 3, 3]
    centroid = corners.mean(axis=1)
    targets = collapsed_into[welded[atlas.faces]]  # [F, 3]
    best = np.zeros(len(atlas.faces), np.int64)
    for start in range(0, len(atlas.faces), 2048):
        block = range(start, min(len(atlas.faces), start + 2048))
        cands = [np.unique(ring[targets[f]].indices) for f in block]
        flat = np.concatenate(cands)
        owner = np.repeat(np.arange(len(cands)), [len(c) for c in cands])
        _, dist = closest_point_on_triangles(
            centroid[start + owner], coarse_vertices[coarse_faces[flat]]
        )
        order = np.lexsort((dist, owner))
        first = order[np.r_[0, np.flatnonzero(np.diff(owner[order])) + 1]]
        best[start : start + len(cands)] = flat[first]
    a, b, c = (coarse_vertices[coarse_faces[best, i]] for i in range(3))
    basis = np.stack([b - a, c - a], axis=2)  # [F, 3, 2]
    rel = corners - a[:, None, :]  # [F, 3 corners, 3]
    # Least-squares barycentric coordinates of each corner's projection on the coarse plane.
    gram = np.einsum("fdi,fdj->fij", basis, basis)
    rhs = np.einsum("fdi,fkd->fki", basis, rel)
    vw = np.einsum("fij,fkj->fki", np.linalg.inv(gram), rhs)
    face_map = np.concatenate([1 - vw.sum(axis=2, keepdims=True), vw], axis=2)
    return best.astype(np.int32), face_map.astype(np.float32)


def build_table(
    atlas: Atlas,
    workers: int = 2,
    target: int = COARSE_VERTICES,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> GeodesicTable:
    """Precompute the geodesic table of ``atlas`` (minutes: see the module docstring)."""
    start = time.perf_counter()
    vertices, faces = welded_mesh(atlas)
    cv, cf, collapsed_into = simplify(vertices, faces, target)
    total = len(cv) + len(vertices)

    def coarse_progress(done: int, n: int) -> None:
        if progress is not None:
            progress(done, total)

    def local_progress(done: int, n: int) -> None:
        if progress is not None:
            progress(len(cv) + done, total)

    distances = exact_all_pairs(cv, cf, workers, coarse_progress, should_stop)
    local = local_distances(vertices, faces, LOCAL_RADIUS, workers, local_progress, should_stop)
    face_coarse, face_map = tie_faces(atlas, cv, cf, collapsed_into)
    log.info("geodesic table: %d coarse vertices in %.0f s", len(cv), time.perf_counter() - start)
    return GeodesicTable(cv, cf, distances.astype(np.float16), face_coarse, face_map, *local)


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
        if len(table.face_coarse) != len(atlas.faces):
            raise ValueError("geodesic table does not belong to this atlas")
        self.atlas = atlas
        self.table = table
        # Distances kept as float16 (half the memory), flat: one gather per corner pair.
        self._n_coarse = len(table.coarse_vertices)
        self._dist = np.ascontiguousarray(table.distances).ravel()
        self._cv = table.coarse_vertices.astype(np.float32)
        self._cf = table.coarse_faces.astype(np.int32)
        self._cv_sq = np.einsum("vd,vd->v", self._cv, self._cv)
        self._face_corners = self._cf[table.face_coarse]  # coarse corners of each atlas face
        _, welded = np.unique(atlas.model_vertex_ids, return_inverse=True)
        self._welded_faces = welded[atlas.faces]
        self._fine_v = atlas.rest_vertices.astype(np.float32)
        n = len(table.local_indptr) - 1
        rows = np.repeat(np.arange(n, dtype=np.int64), np.diff(table.local_indptr))
        self._n_welded = n
        self._local_keys = rows * n + table.local_indices  # sorted: CSR rows, sorted columns
        self._local_d = table.local_distances

    @classmethod
    def load_or_build(
        cls,
        atlas: Atlas,
        cache_dir: Path | None = None,
        workers: int = 2,
        progress: Callable[[int, int], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> Geodesics:
        """From the disk cache, or precomputed now and cached (minutes, once per machine).

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

    def _coarse(self, points: SurfacePoints) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Coarse corner ids ``[N, 3]``, coarse bary ``[N, 3]`` and spread term ``[N]``.

        The spread sum_i a_i |c_i - p|^2 equals sum_i a_i |c_i|^2 - |p|^2 (the a_i sum to 1).
        """
        bary = np.einsum(
            "nk,nkj->nj", points.bary.astype(np.float32), self.table.face_map[points.face]
        )
        corners = self._face_corners[points.face]
        p = np.einsum("nk,nkd->nd", bary, self._cv[corners])
        spread = np.einsum("nk,nk->n", bary, self._cv_sq[corners]) - np.einsum("nd,nd->n", p, p)
        return corners, bary, spread

    def distance(self, p: SurfacePoints, q: SurfacePoints, chunk: int = 262144) -> np.ndarray:
        """Geodesic distance ``[N]`` in metres between ``p[i]`` and ``q[i]``."""
        if len(p) != len(q):
            raise ValueError(f"p has {len(p)} points but q has {len(q)}")
        out = np.empty(len(p), np.float64)
        for start in range(0, len(p), chunk):
            sl = slice(start, start + chunk)
            out[sl] = self._distance(p[sl], q[sl])
        return out

    def _distance(self, p: SurfacePoints, q: SurfacePoints) -> np.ndarray:
        ci, a, sp = self._coarse(p)
        cj, b, sq = self._coarse(q)
        rows = ci * self._n_coarse
        total = np.zeros(len(p), np.float32)
        for i in range(3):
            inner = np.zeros(len(p), np.float32)
            for j in range(3):
                d = np.take(self._dist, rows[:, i] + cj[:, j]).astype(np.float32)
                inner += b[:, j] * d * d
            total += a[:, i] * inner
        out = np.sqrt(np.maximum(total - sp - sq, 0.0))
        near = np.flatnonzero(out < LOCAL_RADIUS - 0.03)
        if len(near):
            fine, found = self._local(p[near], q[near])
            out[near[found]] = fine[found]
        return out.astype(np.float64)

    def _local(self, p: SurfacePoints, q: SurfacePoints) -> tuple[np.ndarray, np.ndarray]:
        """The same interpolation on the full mesh's exact local distances.

        Returns distances ``[N]`` and whether all nine vertex pairs were within reach ``[N]``.
        """
        vi, vj = self._welded_faces[p.face], self._welded_faces[q.face]
        a, b = p.bary.astype(np.float32), q.bary.astype(np.float32)
        keys = (vi[:, :, None].astype(np.int64) * self._n_welded + vj[:, None, :]).ravel()
        order = np.argsort(keys)  # sorted look-ups are several times faster
        pos = np.empty(len(keys), np.int64)
        pos[order] = np.searchsorted(self._local_keys, keys[order])
        pos = np.minimum(pos, len(self._local_keys) - 1)
        hit = (self._local_keys[pos] == keys).reshape(-1, 3, 3)
        d = np.where(hit, self._local_d[pos].reshape(-1, 3, 3).astype(np.float32), 0.0)
        total = np.einsum("ni,nij,nj->n", a, d * d, b)
        found = hit.all(axis=(1, 2))
        spread = []
        for _pts, faces, bary in (
            (p, self.atlas.faces[p.face], a),
            (q, self.atlas.faces[q.face], b),
        ):
            corners = self._fine_v[faces]
            centre = np.einsum("nk,nkd->nd", bary, corners)
            spread.append(
                np.einsum("nk,nk->n", bary, ((corners - centre[:, None]) ** 2).sum(axis=2))
            )
        return np.sqrt(np.maximum(total - spread[0] - spread[1], 0.0)), found
