"""The shipped Anny atlas: every skin face in one chart, clean charts, exact conversions."""

import numpy as np
import pytest

from annotator.surface.atlas import Atlas, AtlasError, load_atlas
from annotator.surface.meshutil import signed_uv_areas, uv_overlaps
from annotator.surface.parts import FINE_PARTS, FINE_TO_COARSE, FLIP_FINE
from annotator.surface.points import SurfacePoints


@pytest.fixture(scope="module")
def atlas() -> Atlas:
    return load_atlas("anny")


def random_points(atlas: Atlas, n: int, seed: int = 0) -> SurfacePoints:
    rng = np.random.default_rng(seed)
    return SurfacePoints(rng.integers(0, len(atlas.faces), n), rng.dirichlet([1, 1, 1], n))


def test_every_skin_face_is_in_exactly_one_chart(atlas):
    assert atlas.face_chart.shape == (len(atlas.faces),)
    assert set(np.unique(atlas.face_chart)) == set(range(1, 25))
    assert (atlas.face_coarse == FINE_TO_COARSE[atlas.face_chart]).all()
    # Only the outer skin: Anny's eyes, mouth cavity and tongue are left out.
    assert len(atlas.faces) == 24724 and len(atlas.rest_vertices) == 12408


def test_charts_are_fold_free_non_overlapping_and_fill_the_square(atlas):
    assert atlas.face_uv.min() >= 0.0 and atlas.face_uv.max() <= 1.0
    for chart in range(1, 25):
        uv = atlas.face_uv[atlas.chart_faces(chart)]
        assert (signed_uv_areas(uv) > 0).all(), f"chart {chart} has flipped triangles"
        assert len(uv_overlaps(uv)) == 0, f"chart {chart} has overlapping triangles"
        fill = np.abs(signed_uv_areas(uv)).sum()
        # Texture-laid charts (hands, feet, head) keep the model's own layout; the others
        # are mapped onto the whole square.
        assert fill > (0.35 if chart in (3, 4, 5, 6, 23, 24) else 0.85), (chart, fill)
    info = {c.chart: c for c in atlas.chart_info()}
    assert len(info) == 24 and all(c.flipped == 0 and c.overlaps == 0 for c in info.values())


def test_charts_sit_on_the_persons_own_sides(atlas):
    left, _up, forward = atlas.frame
    centre = atlas.rest_vertices.mean(axis=0)
    for chart in range(1, 25):
        pts = atlas.rest_vertices[np.unique(atlas.faces[atlas.chart_faces(chart)])] - centre
        name = FINE_PARTS[chart - 1]
        side = (pts @ left).mean()
        if "left" in name:
            assert side > 0.01, name
        if "right" in name:
            assert side < -0.01, name
    torso_front = atlas.rest_vertices[np.unique(atlas.faces[atlas.chart_faces(2)])] @ forward
    torso_back = atlas.rest_vertices[np.unique(atlas.faces[atlas.chart_faces(1)])] @ forward
    assert torso_front.mean() > torso_back.mean() + 0.05
    for back, front in ((7, 9), (8, 10), (11, 13), (12, 14)):
        pb = atlas.rest_vertices[np.unique(atlas.faces[atlas.chart_faces(back)])] @ forward
        pf = atlas.rest_vertices[np.unique(atlas.faces[atlas.chart_faces(front)])] @ forward
        assert pf.mean() > pb.mean(), (back, front)


def test_iuv_round_trip_is_exact(atlas):
    points = random_points(atlas, 50_000)
    i, u, v = atlas.to_iuv(points)
    back = atlas.from_iuv(i, u, v)
    i2, u2, v2 = atlas.to_iuv(back)
    assert (i2 == i).all()
    assert np.abs(u2 - u).max() < 1e-4 and np.abs(v2 - v).max() < 1e-4
    # Same place on the body, not only the same UV.
    assert np.abs(atlas.positions(back) - atlas.positions(points)).max() < 1e-4


def test_iuv_outside_every_triangle_lands_on_the_nearest(atlas):
    # The corners of the hand chart are empty (the hand layout does not fill the square).
    points = atlas.from_iuv(np.array([3, 3]), np.array([0.0, 1.0]), np.array([1.0, 1.0]))
    assert (atlas.face_chart[points.face] == 3).all()
    i, u, v = atlas.to_iuv(points)
    assert (i == 3).all() and np.all((u >= 0) & (u <= 1) & (v >= 0) & (v <= 1))


def test_bad_chart_index_is_a_clear_error(atlas):
    with pytest.raises(ValueError, match=r"1\.\.24"):
        atlas.from_iuv(np.array([25]), np.array([0.5]), np.array([0.5]))


def test_mirror_swaps_sides_and_is_its_own_inverse(atlas):
    points = random_points(atlas, 5000, seed=1)
    mirrored = atlas.mirror(points)
    i, _, _ = atlas.to_iuv(points)
    im, _, _ = atlas.to_iuv(mirrored)
    assert np.mean(im == FLIP_FINE[i]) > 0.99  # points on a seam may fall just across it
    p = atlas.positions(points)
    pm = atlas.positions(mirrored)
    left = atlas.frame[0]
    assert np.abs((p @ left) + (pm @ left) - 2 * atlas.rest_vertices.mean(0) @ left).max() < 0.005
    twice = atlas.positions(atlas.mirror(mirrored))
    assert np.linalg.norm(twice - p, axis=1).max() < 0.002


def test_a_damaged_atlas_file_is_reported(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip file")
    with pytest.raises(AtlasError, match=r"bad\.npz"):
        Atlas.load(bad)
    with pytest.raises(AtlasError, match="not found"):
        Atlas.load(tmp_path / "missing.npz")
    arrays = dict(np.load(load_atlas().source))
    arrays["face_chart"] = arrays["face_chart"].copy()
    arrays["face_chart"][0] = 30
    with pytest.raises(AtlasError, match="face_chart"):
        Atlas(arrays, source="edited")
