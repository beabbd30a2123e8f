"""Geodesic distances against the exact solver (pygeodesic, MMP) on the full skin, and the
precompute on a flat grid, where geodesic distance is straight-line distance.

The Anny table is built once per machine (about a minute) and cached in DPSTUDIO_CACHE_DIR;
the tests share it.
"""

import fcntl
import threading
import time

import numpy as np
import pygeodesic.geodesic as geodesic
import pytest

from annotator.paths import cache_dir
from annotator.surface.atlas import Atlas, load_atlas
from annotator.surface.geodesic import LOCAL_RADIUS, Geodesics, build_table, table_path
from annotator.surface.geodesic_build import geodesic_rows, mirror_map
from annotator.surface.points import SurfacePoints

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def geo() -> Geodesics:
    return Geodesics.load_or_build(load_atlas())


def vertex_points(atlas, ids):
    face_of = np.zeros(len(atlas.rest_vertices), np.int64)
    face_of[atlas.faces.ravel()] = np.repeat(np.arange(len(atlas.faces)), 3)
    faces = face_of[ids]
    return SurfacePoints(faces, (atlas.faces[faces] == np.asarray(ids)[:, None]).astype(float))


def within_tolerance(estimate, exact):
    return np.abs(estimate - exact) <= np.maximum(0.02 * exact, 0.005)


def test_matches_the_exact_solver_far_and_near(geo):
    atlas = geo.atlas
    exact = geodesic.PyGeodesicAlgorithmExact(atlas.rest_vertices, atlas.faces)
    rng = np.random.default_rng(7)
    estimates, truths = [], []
    for source in rng.choice(len(atlas.rest_vertices), 6, replace=False):
        d, _ = exact.geodesicDistances(np.array([source]), None)
        targets = np.r_[rng.choice(len(d), 60, replace=False), np.argsort(d)[1:200:4]]
        est = geo.distance(
            vertex_points(atlas, np.full(len(targets), source)), vertex_points(atlas, targets)
        )
        estimates.append(est)
        truths.append(d[targets])
    est, truth = np.concatenate(estimates), np.concatenate(truths)
    ok = within_tolerance(est, truth)
    assert ok.mean() >= 0.995, (truth[~ok], est[~ok])
    assert np.abs(est - truth).max() < 0.015


def test_a_point_inside_a_face(geo):
    """The exact solver starts from a vertex, so split a face at the point first."""
    atlas = geo.atlas
    rng = np.random.default_rng(3)
    face, bary = int(rng.integers(len(atlas.faces))), np.array([0.2, 0.5, 0.3])
    point = bary @ atlas.rest_vertices[atlas.faces[face]]
    vertices = np.vstack([atlas.rest_vertices, point])
    a, b, c = atlas.faces[face]
    new = len(vertices) - 1
    faces = np.vstack(
        [np.delete(atlas.faces, face, axis=0), [[a, b, new], [b, c, new], [c, a, new]]]
    )
    d, _ = geodesic.PyGeodesicAlgorithmExact(vertices, faces).geodesicDistances(
        np.array([new]), None
    )
    targets = np.r_[
        rng.choice(len(atlas.rest_vertices), 80, replace=False), np.argsort(d[:-1])[1:120:3]
    ]
    src = SurfacePoints(np.full(len(targets), face), np.tile(bary, (len(targets), 1)))
    est = geo.distance(src, vertex_points(atlas, targets))
    assert within_tolerance(est, d[targets]).mean() >= 0.99


def test_zero_symmetric_and_batched(geo):
    atlas = geo.atlas
    rng = np.random.default_rng(0)
    n = 20_000
    p = SurfacePoints(rng.integers(0, len(atlas.faces), n), rng.dirichlet([1, 1, 1], n))
    q = SurfacePoints(rng.integers(0, len(atlas.faces), n), rng.dirichlet([1, 1, 1], n))
    assert np.abs(geo.distance(p, p)).max() < 1e-3
    assert np.allclose(geo.distance(p, q), geo.distance(q, p), atol=1e-3)
    d = geo.distance(p, q)
    straight = np.linalg.norm(atlas.positions(p) - atlas.positions(q), axis=1)
    assert (d >= straight - 0.005).all()  # never shorter than the straight line
    assert 0.3 < np.median(d) < 1.2 and d.max() < 3.0
    with pytest.raises(ValueError, match="20000"):
        geo.distance(p, q[:10])


def test_a_second_process_waits_for_the_builder_then_loads(geo, tmp_path):
    """While another process holds the build lock, load_or_build waits, then loads its table."""
    path = table_path(geo.atlas, tmp_path)
    path.parent.mkdir(parents=True)
    lock = open(path.with_suffix(".lock"), "w")  # noqa: SIM115  # held across the thread
    fcntl.flock(lock, fcntl.LOCK_EX)
    found: list[Geodesics] = []

    def load() -> None:  # stopping at once if it ever tried to build instead of waiting
        found.append(
            Geodesics.load_or_build(geo.atlas, cache_dir=tmp_path, should_stop=lambda: True)
        )

    waiter = threading.Thread(target=load)
    waiter.start()
    time.sleep(0.5)
    assert waiter.is_alive() and not found  # blocked on the lock
    path.symlink_to(table_path(geo.atlas, cache_dir()))  # "the builder" saved its table
    fcntl.flock(lock, fcntl.LOCK_UN)
    lock.close()
    waiter.join(60)
    assert len(found) == 1
    assert found[0].table.distances.shape == geo.table.distances.shape


def flat_grid(n: int = 9, step: float = 0.02, rows: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A flat grid of n columns and ``rows`` (default n) rows of vertices: there geodesic
    distance is straight-line distance.

    It is mirror-symmetric across x = (n - 1) * step / 2 (vertex for vertex, not face for
    face: all diagonals lean the same way)."""
    ys, xs = np.mgrid[0 : rows or n, 0:n]
    vertices = np.c_[xs.ravel() * step, ys.ravel() * step, np.zeros(xs.size)]
    k = (ys[:-1, :-1] * n + xs[:-1, :-1]).ravel()
    faces = np.r_[np.c_[k, k + 1, k + n + 1], np.c_[k, k + n + 1, k + n]].astype(np.int64)
    return vertices, faces


def flat_atlas(n: int = 9, step: float = 0.02) -> Atlas:
    """An atlas whose skin is the flat grid (one chart; UVs unused by geodesics)."""
    vertices, faces = flat_grid(n, step)
    return Atlas(
        {
            "body": "flat",
            "fingerprint": "flat",
            "rest_vertices": vertices,
            "faces": faces,
            "face_chart": np.ones(len(faces), np.int64),
            "face_uv": np.zeros((len(faces), 3, 2)),
            "model_vertex_ids": np.arange(len(vertices)),
            "frame": np.eye(3),
        }
    )


def test_mirror_map_pairs_a_symmetric_grid_and_refuses_a_lopsided_one():
    vertices, _ = flat_grid(5)
    mirror = mirror_map(vertices, np.array([1.0, 0, 0]))
    reflected = vertices.copy()
    reflected[:, 0] = 0.08 - reflected[:, 0]
    np.testing.assert_allclose(vertices[mirror], reflected, atol=1e-12)
    lopsided = vertices.copy()
    lopsided[3, 0] += 0.004  # 4 mm off: no longer symmetric
    np.testing.assert_array_equal(
        mirror_map(lopsided, np.array([1.0, 0, 0])), np.arange(len(vertices))
    )


def test_the_table_is_exact_on_a_plane_mirrored_and_reports_progress():
    """On a plane, geodesic = straight distance, at vertices (the precompute) and between
    points inside faces (the interpolation), on both sides of the mirror."""
    atlas = flat_atlas()
    seen: list[tuple[int, int]] = []
    table = build_table(atlas, progress=lambda d, n: seen.append((d, n)))
    vertices = atlas.rest_vertices
    assert len(table.distances) == 45  # 9 x 9 grid: the left half and the middle column
    assert seen[-1][0] == seen[-1][1] and [d for d, _ in seen] == sorted(d for d, _ in seen)
    ids = np.arange(len(vertices))
    all_pairs = table.vertex_distances(ids[:, None], ids[None, :])
    straight = np.linalg.norm(vertices[:, None] - vertices[None], axis=2)
    np.testing.assert_allclose(all_pairs, straight, rtol=5e-4, atol=1e-6)  # float16 table

    geo = Geodesics(atlas, table)
    rng = np.random.default_rng(1)
    p = SurfacePoints(rng.integers(0, len(atlas.faces), 500), rng.dirichlet([1, 1, 1], 500))
    q = SurfacePoints(rng.integers(0, len(atlas.faces), 500), rng.dirichlet([1, 1, 1], 500))
    expected = np.linalg.norm(atlas.positions(p) - atlas.positions(q), axis=1)
    np.testing.assert_allclose(geo.distance(p, q), expected, rtol=1e-3, atol=1e-4)

    # The heat maps' neighbourhoods: every vertex within LOCAL_RADIUS, with its distance.
    for v in (0, 40, 80):  # left corner, centre, right corner
        row = slice(table.local_indptr[v], table.local_indptr[v + 1])
        np.testing.assert_array_equal(
            table.local_indices[row], np.flatnonzero(straight[v] <= LOCAL_RADIUS + 1e-4)
        )
        np.testing.assert_allclose(
            table.local_distances[row], straight[v, table.local_indices[row]], atol=1e-4
        )


def test_long_distances_through_the_local_neighbourhoods_are_near_exact():
    """A 78 cm strip: far pairs are sums of exact local distances (several hops), a little
    longer where no vertex lies on the straight line."""
    vertices, faces = flat_grid(40, rows=3)
    distances, mirror = geodesic_rows(vertices, faces, np.array([1.0, 0, 0]))
    sources = np.flatnonzero(mirror >= np.arange(len(vertices)))
    straight = np.linalg.norm(vertices[sources, None] - vertices[None], axis=2)
    assert straight.max() > 0.75 and len(sources) == 60
    error = (distances.astype(np.float64) - straight) / np.maximum(straight, 1e-9)
    assert error.min() > -5e-4  # never shorter than the straight line (float16 rounding)
    assert error.max() < 5e-3 and error.mean() < 1e-3


def test_the_precompute_cancels():
    vertices, faces = flat_grid(5)
    with pytest.raises(InterruptedError):
        geodesic_rows(vertices, faces, np.array([1.0, 0, 0]), should_stop=lambda: True)


def test_a_damaged_cache_file_is_rebuilt_not_used(tmp_path):
    atlas = flat_atlas(5)
    path = table_path(atlas, tmp_path)
    path.parent.mkdir(parents=True)
    np.savez(path, distances=np.zeros((3, 4), np.float16), mirror=np.arange(25))
    assert Geodesics._load(atlas, path) is None
    geo = Geodesics.load_or_build(atlas, cache_dir=tmp_path)
    assert geo.table.distances.shape == (15, 25)
    assert Geodesics._load(atlas, path) is not None  # the rebuilt table replaced it
