"""Part views: six per part, a click gives a surface point, a point shows on all six."""

import numpy as np
import pytest

from annotator.surface.atlas import load_atlas
from annotator.surface.points import SurfacePoints
from annotator.surface.views import VIEW_AZIMUTHS, PartViews, draw_markers

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def views():
    part_views = PartViews(load_atlas(), size=128)
    yield part_views
    part_views.close()


@pytest.mark.parametrize("part", [1, 3, 6, 12, 14])
def test_click_gives_the_point_under_the_cursor_on_all_views(views, part):
    rendered = views.views(part)
    assert len(rendered) == len(VIEW_AZIMUTHS) == 6
    atlas = views.atlas
    for view in rendered:
        assert view.image.shape == (128, 128, 3)
        shown = view.face >= 0
        assert shown.mean() > 0.03
        # Only faces of this part are pickable.
        assert set(atlas.face_coarse[view.face[shown]]) == {part}
    first = rendered[0]
    rows, cols = np.nonzero(first.face >= 0)
    k = len(rows) // 2
    point = first.pick(cols[k] + 0.5, rows[k] + 0.5)
    assert point is not None and atlas.face_coarse[point.face[0]] == part
    xy, visible = first.project(point)
    assert visible[0] and np.abs(xy[0] - [cols[k] + 0.5, rows[k] + 0.5]).max() < 0.6
    # Shown on every view: visible in some, hidden (behind the part) in others.
    positions = [v.project(point) for v in rendered]
    assert sum(bool(vis[0]) for _, vis in positions) >= 2
    assert any(not vis[0] for _, vis in positions)
    marked = draw_markers(first.image, xy, visible)
    assert (marked != first.image).any()


def test_background_click_gives_nothing(views):
    view = views.views(1)[0]
    assert view.pick(0.5, 0.5) is None
    assert view.pick(-3, 5) is None


def test_views_are_cached_on_disk(tmp_path):
    atlas = load_atlas()
    first = PartViews(atlas, size=64, cache_dir=tmp_path)
    rendered = first.views(2)
    first.close()
    files = list(tmp_path.rglob("part02.npz"))
    assert len(files) == 1
    second = PartViews(atlas, size=64, cache_dir=tmp_path)
    loaded = second.views(2)
    assert second._renderer is None  # nothing rendered: all from the cache
    for a, b in zip(rendered, loaded, strict=True):
        assert (a.image == b.image).all() and (a.face == b.face).all()
        assert np.allclose(a.camera.pose, b.camera.pose)
    files[0].write_bytes(b"damaged")
    third = PartViews(atlas, size=64, cache_dir=tmp_path)
    assert len(third.views(2)) == 6  # re-rendered, not crashed
    third.close()


def test_memory_keeps_only_the_most_recent_parts(tmp_path):
    part_views = PartViews(load_atlas(), size=64, cache_dir=tmp_path, keep=2)
    first = part_views.views(2)
    part_views.views(3)
    assert part_views.views(2) is first  # still in memory, now the most recent
    part_views.views(4)  # drops part 3, the least recently used
    assert part_views.views(2) is first
    again = part_views.views(3)  # back from the disk cache
    assert len(again) == 6 and (again[0].face == part_views.views(3)[0].face).all()
    part_views.close()


def test_repeated_renders_reuse_the_uploaded_part_mesh(views):
    # The chart-coloured views go through pyrender, which keeps uploaded meshes by name.
    first = views.render(12, 30.0, 20.0, ids=False, style="charts")
    meshes = dict(views.renderer._meshes)
    second = views.render(12, 40.0, 20.0, ids=False, style="charts")
    assert views.renderer._meshes.keys() == meshes.keys() and len(meshes) >= 1
    assert (first.image != second.image).any()


def test_the_inside_of_the_skin_seen_through_an_opening_is_not_visible(views):
    atlas = views.atlas
    faces = np.flatnonzero(atlas.face_coarse == 1)
    points = SurfacePoints(faces, np.full((len(faces), 3), 1 / 3))
    through_holes = 0
    for view in views.views(1):  # the torso: open at the neck, the arms and the legs
        xy, visible = view.project(points)
        _, depth = view.camera.project(atlas.positions(points))
        h, w = view.depth.shape
        col = np.clip(xy[:, 0].astype(int), 0, w - 1)
        row = np.clip(xy[:, 1].astype(int), 0, h - 1)
        first_hit = (view.depth[row, col] > 0) & (depth <= view.depth[row, col] + 0.01)
        inside = first_hit & ~view.facing(points)
        through_holes += int(inside.sum())
        assert not (visible & inside).any()
        assert (visible == (first_hit & view.facing(points))).all()
    assert through_holes > 0  # such points exist: the test looks at the right thing
