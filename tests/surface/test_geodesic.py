"""Geodesic distances against the exact solver (pygeodesic, MMP) on the full skin.

The table is built once per machine (minutes) and cached in DPSTUDIO_CACHE_DIR; the tests
share it.
"""

import fcntl
import threading
import time

import numpy as np
import pygeodesic.geodesic as geodesic
import pytest

from annotator.paths import cache_dir
from annotator.surface.atlas import load_atlas
from annotator.surface.geodesic import Geodesics, table_path
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


def flat_grid(n: int = 6, step: float = 0.02) -> tuple[np.ndarray, np.ndarray]:
    """A flat square of n x n vertices: there geodesic distance is straight-line distance."""
    ys, xs = np.mgrid[0:n, 0:n]
    vertices = np.c_[xs.ravel() * step, ys.ravel() * step, np.zeros(n * n)]
    k = (ys[:-1, :-1] * n + xs[:-1, :-1]).ravel()
    faces = np.r_[np.c_[k, k + 1, k + n + 1], np.c_[k, k + n + 1, k + n]].astype(np.int64)
    return vertices, faces


def test_precompute_in_worker_processes_is_exact_on_a_plane_and_cancels():
    from annotator.surface.geodesic import exact_all_pairs, local_distances

    vertices, faces = flat_grid()
    straight = np.linalg.norm(vertices[:, None] - vertices[None], axis=2)
    seen: list[tuple[int, int]] = []
    all_pairs = exact_all_pairs(vertices, faces, progress=lambda d, n: seen.append((d, n)))
    np.testing.assert_allclose(all_pairs, straight, atol=1e-6)
    assert seen[-1] == (36, 36)
    indptr, indices, data = local_distances(vertices, faces, radius=0.05)
    for source in range(len(vertices)):
        near = indices[indptr[source] : indptr[source + 1]]
        expected = np.flatnonzero(straight[source] <= 0.05 + 1e-9)
        np.testing.assert_array_equal(near, expected)
        np.testing.assert_allclose(
            data[indptr[source] : indptr[source + 1]], straight[source, near], atol=1e-4
        )
    with pytest.raises(InterruptedError):
        exact_all_pairs(vertices, faces, should_stop=lambda: True)
