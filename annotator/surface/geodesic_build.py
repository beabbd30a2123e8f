"""Precompute of the geodesic table: exact local distances, then shortest paths through them.

Why this way (docs/adr/0002-geodesics.md has the measurements):

1. A geodesic on a polyhedral surface is straight inside faces and bends only at vertices
   (saddle vertices). Between two of its bends, or between a bend and its ends, it is the
   exact local geodesic. So a graph whose nodes are the vertices and whose edges are *exact*
   geodesic distances to every vertex of a neighbourhood holds all geodesics through
   vertices exactly, and the others nearly: a path that must pass near, not through, a vertex
   bends there and is longer by about delta^2 / (2 L) for a vertex delta off the straight
   line and legs of length L. The neighbourhood of a vertex is the ``NEIGHBOURS`` nearest
   vertices (so it reaches farther on the torso and limbs, where vertices are centimetres
   apart, than on the face and hands): then the graph's shortest paths are 0.05% longer than
   the exact geodesics on average, 0.6% at most (the ADR has the figures).
2. The exact local distances come from the exact (MMP) algorithm of ``pygeodesic``, run on a
   small patch around each vertex: the faces whose corners are within ``PATCH_FACTOR`` times
   the radius along mesh edges. Paths along edges are longer than geodesics, so the patch
   holds the geodesics shorter than the radius (a patch twice as wide changed no distance by
   more than 0.02 mm). The solver's own distance limit is not usable: pygeodesic then returns
   garbage source indices for the vertices it did not reach, which fails at random.
3. Shortest paths from every source to all vertices are scipy's C Dijkstra on that graph.
4. The rest body is left/right symmetric (to a third of a millimetre for Anny), so only the
   vertices of one side (and the middle) are sources: the other side's local rows and
   distance rows are their mirror images.

Both stages run in worker processes, report progress and can be cancelled.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.spatial import cKDTree

from annotator.surface.meshutil import face_adjacency

log = logging.getLogger(__name__)

#: Vertices in the neighbourhood of each vertex whose exact distances become graph edges.
NEIGHBOURS = 150
#: Neighbourhood radius limits (metres); never smaller than the vertex's longest edge.
MIN_RADIUS, MAX_RADIUS = 0.02, 0.20
#: The exact solver runs on the faces within this factor of the radius along mesh edges.
PATCH_FACTOR = 1.5
#: A mesh is treated as mirror-symmetric when every mirrored vertex lands this near a vertex.
MIRROR_TOLERANCE = 1e-3
#: Progress weight of one distance row relative to one local row (about their time ratio).
ROW_WEIGHT = 3

Progress = Callable[[int, int], None]


def mirror_map(vertices: np.ndarray, left: np.ndarray) -> np.ndarray:
    """Vertex ``[V]`` mirror of each vertex across the left/right plane (identity if none).

    The plane is normal to ``left``; its offset is tried at the median, the middle and the
    mean of the vertices. The map is kept only if it pairs every vertex with one other
    (an involution) and every mirrored vertex lies within ``MIRROR_TOLERANCE`` of its pair.
    """
    left = np.asarray(left, np.float64) / np.linalg.norm(left)
    x = vertices @ left
    tree = cKDTree(vertices)
    ids = np.arange(len(vertices))
    for centre in (np.median(x), 0.5 * (x.min() + x.max()), x.mean()):
        reflected = vertices - 2 * (x - centre)[:, None] * left[None, :]
        gap, mirror = tree.query(reflected)
        if gap.max() <= MIRROR_TOLERANCE and np.array_equal(mirror[mirror], ids):
            log.info("mesh mirror-symmetric to %.2f mm", gap.max() * 1000)
            return mirror.astype(np.int64)
    log.info("mesh not mirror-symmetric: computing every row")
    return ids


def neighbourhood_radii(vertices: np.ndarray, faces: np.ndarray, k: int = NEIGHBOURS) -> np.ndarray:
    """Radius ``[V]`` (metres) of each vertex's exact neighbourhood.

    The Euclidean distance to the k-th nearest vertex, clipped to [MIN_RADIUS, MAX_RADIUS],
    and at least the vertex's longest edge (so that every mesh edge is a graph edge).
    """
    near, _ = cKDTree(vertices).query(vertices, max(2, min(k, len(vertices))))
    radii = np.clip(near[:, -1], MIN_RADIUS, MAX_RADIUS)
    edges = faces[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2)
    length = np.linalg.norm(vertices[edges[:, 0]] - vertices[edges[:, 1]], axis=1)
    longest = np.zeros(len(vertices))
    np.maximum.at(longest, edges.ravel(), np.repeat(length, 2))
    return np.maximum(radii, longest * (1 + 1e-6))


def edge_graph(vertices: np.ndarray, faces: np.ndarray) -> sp.csr_matrix:
    """``[V, V]`` sparse matrix of mesh edge lengths (both directions)."""
    e = np.unique(np.sort(faces[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2), axis=1), axis=0)
    w = np.linalg.norm(vertices[e[:, 0]] - vertices[e[:, 1]], axis=1)
    n = len(vertices)
    return sp.csr_matrix((np.r_[w, w], (np.r_[e[:, 0], e[:, 1]], np.r_[e[:, 1], e[:, 0]])), (n, n))


_WORKER: dict[str, Any] = {}


def _init_local_worker(vertices: np.ndarray, faces: np.ndarray, radii: np.ndarray) -> None:
    n = len(vertices)
    _WORKER.update(vertices=vertices, faces=faces, radii=radii)
    _WORKER["edges"] = edge_graph(vertices, faces)
    _WORKER["vertex_faces"] = sp.csr_matrix(
        (np.ones(faces.size), (faces.ravel(), np.repeat(np.arange(len(faces)), 3))),
        shape=(n, len(faces)),
    )
    _WORKER["face_adjacency"] = face_adjacency(faces)


def _local_rows(sources: list[int]) -> tuple[list[int], list[tuple[np.ndarray, np.ndarray]]]:
    """Exact distances from each source to the vertices within its radius (sorted ids)."""
    import pygeodesic.geodesic as geodesic
    from scipy.sparse.csgraph import connected_components, dijkstra

    vertices, faces, radii = _WORKER["vertices"], _WORKER["faces"], _WORKER["radii"]
    out = []
    for source in sources:
        radius = float(radii[source])
        # Edge paths are longer than geodesics, so the vertices within PATCH_FACTOR * radius
        # along edges cover the geodesic ball with room to spare.
        reach = np.isfinite(dijkstra(_WORKER["edges"], indices=source, limit=PATCH_FACTOR * radius))
        candidates = np.unique(_WORKER["vertex_faces"][np.flatnonzero(reach)].indices)
        inside = candidates[reach[faces[candidates]].all(axis=1)]
        # Only the piece (faces linked through edges) that holds the source: the solver
        # does not reach the others, and then fails (garbage source index, OverflowError).
        _, piece = connected_components(_WORKER["face_adjacency"][inside][:, inside])
        own = piece[np.flatnonzero((faces[inside] == source).any(axis=1))[0]]
        patch = faces[inside[piece == own]]
        used, local = np.unique(patch, return_inverse=True)
        solver = geodesic.PyGeodesicAlgorithmExact(vertices[used], local.reshape(-1, 3))
        d, _ = solver.geodesicDistances(np.array([np.searchsorted(used, source)]), None)
        keep = d <= radius
        out.append((used[keep].astype(np.int32), d[keep].astype(np.float32)))
    return sources, out


def _init_graph_worker(graph: sp.csr_matrix) -> None:
    _WORKER["graph"] = graph


def _distance_rows(sources: list[int]) -> tuple[list[int], np.ndarray]:
    from scipy.sparse.csgraph import dijkstra

    d = dijkstra(_WORKER["graph"], indices=sources)
    if not np.isfinite(d).all():
        raise RuntimeError("the skin is not one connected piece: some distances are infinite")
    return sources, d.astype(np.float16)


def _in_workers(
    work: Callable[[list[int]], tuple[list[int], Any]],
    sources: np.ndarray,
    chunk: int,
    workers: int,
    init: tuple[Callable[..., None], tuple[Any, ...]],
    progress: Callable[[int], None],
    should_stop: Callable[[], bool] | None,
) -> Iterator[tuple[list[int], Any]]:
    """``work`` over ``sources`` in chunks, in spawned worker processes set up by ``init``
    (function, arguments); yields (sources, result) as chunks finish, reports the number of
    sources done, and cancels (InterruptedError) when ``should_stop`` says so."""
    import multiprocessing as mp

    ids = [int(s) for s in sources]
    chunks = [ids[i : i + chunk] for i in range(0, len(ids), chunk)]
    with mp.get_context("spawn").Pool(workers, init[0], init[1]) as pool:
        done = 0
        for chunk_sources, result in pool.imap_unordered(work, chunks):
            yield chunk_sources, result
            done += len(chunk_sources)
            progress(done)
            if should_stop is not None and should_stop():
                pool.terminate()
                raise InterruptedError("geodesic precompute cancelled")


def exact_local_rows(
    vertices: np.ndarray,
    faces: np.ndarray,
    radii: np.ndarray,
    sources: np.ndarray,
    workers: int = 2,
    progress: Callable[[int], None] = lambda done: None,
    should_stop: Callable[[], bool] | None = None,
) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Exact distances from each of ``sources`` to the vertices within its radius.

    Returns:
        source -> (vertex ids ``[K]`` int32, sorted; distances ``[K]`` float32, metres).
    """
    rows: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    init = (_init_local_worker, (vertices, faces, radii))
    for chunk, result in _in_workers(
        _local_rows, sources, 100, workers, init, progress, should_stop
    ):
        rows.update(zip(chunk, result, strict=True))
    return rows


def local_graph(
    rows: dict[int, tuple[np.ndarray, np.ndarray]], mirror: np.ndarray
) -> sp.csr_matrix:
    """``[V, V]`` symmetric graph of the exact local distances; rows of vertices that are not
    sources are the mirror images of their mirror vertex's row."""
    n = len(mirror)
    src, dst, dist = [], [], []
    for source, (cols, d) in rows.items():
        src.append(np.full(len(cols), source))
        dst.append(cols)
        dist.append(d)
        if mirror[source] != source:
            src.append(np.full(len(cols), mirror[source]))
            dst.append(mirror[cols])
            dist.append(d)
    s, t, w = np.concatenate(src), np.concatenate(dst), np.concatenate(dist).astype(np.float64)
    keep = s != t
    graph = sp.csr_matrix((w[keep], (s[keep], t[keep])), shape=(n, n))
    return graph.maximum(graph.T).tocsr()


def all_distances(
    graph: sp.csr_matrix,
    sources: np.ndarray,
    workers: int = 2,
    progress: Callable[[int], None] = lambda done: None,
    should_stop: Callable[[], bool] | None = None,
) -> np.ndarray:
    """``[S, V]`` float16 shortest-path distances from ``sources`` to every vertex."""
    out = np.zeros((len(sources), graph.shape[0]), np.float16)
    row_of = {int(s): i for i, s in enumerate(sources)}
    init = (_init_graph_worker, (graph,))
    for chunk, rows in _in_workers(
        _distance_rows, sources, 32, workers, init, progress, should_stop
    ):
        out[[row_of[s] for s in chunk]] = rows
    return out


def geodesic_rows(
    vertices: np.ndarray,
    faces: np.ndarray,
    left: np.ndarray,
    workers: int = 2,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Geodesic distances from the vertices of one side to all vertices.

    Args:
        vertices: ``[V, 3]`` welded skin, metres; faces: ``[F, 3]``.
        left: ``[3]`` the body's left direction (normal of the mirror plane).
        progress: called with (done, total) steps; should_stop: polled between chunks,
            returning True cancels (raises InterruptedError).

    Returns:
        distances ``[S, V]`` float16 metres from the sources (the vertices i with
        mirror[i] >= i, in increasing order) and the mirror map ``[V]``.
    """
    start = time.perf_counter()
    mirror = mirror_map(vertices, left)
    sources = np.flatnonzero(mirror >= np.arange(len(mirror)))
    radii = neighbourhood_radii(vertices, faces)
    radii = np.maximum(radii, radii[mirror])  # a vertex and its mirror share a row shape
    n = len(sources)
    total = n * (1 + ROW_WEIGHT)

    def report(done: int) -> None:
        if progress is not None:
            progress(done, total)

    rows = exact_local_rows(vertices, faces, radii, sources, workers, report, should_stop)
    graph = local_graph(rows, mirror)
    log.info(
        "geodesic graph: %d sources, %.0f edges per vertex, %.0f s",
        n,
        graph.nnz / len(vertices),
        time.perf_counter() - start,
    )
    distances = all_distances(
        graph, sources, workers, lambda done: report(n + ROW_WEIGHT * done), should_stop
    )
    log.info("geodesic table computed in %.0f s", time.perf_counter() - start)
    return distances, mirror
