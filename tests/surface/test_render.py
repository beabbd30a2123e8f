"""Offscreen renders (EGL on the CPU here): shaded images and exact face-id buffers."""

import numpy as np
import pytest

from annotator.surface.atlas import load_atlas
from annotator.surface.parts import FINE_COLORS
from annotator.surface.points import SurfacePoints
from annotator.surface.render import Camera, ColorMesh, Renderer, pick_bary

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def scene():
    atlas = load_atlas()
    _left, up, forward = atlas.frame
    centre = atlas.rest_vertices.mean(axis=0)
    camera = Camera.look_at(centre + 3.5 * forward, centre, up, np.radians(35), 320, 240)
    with Renderer(320, 240) as renderer:
        color, depth = renderer.render_color(
            [
                ColorMesh(
                    atlas.rest_vertices, atlas.faces, face_colors=FINE_COLORS[atlas.face_chart]
                )
            ],
            camera,
        )
        ids = renderer.render_ids([(atlas.rest_vertices, atlas.faces)], camera)
    return atlas, camera, color, depth, ids


def test_shaded_render_shows_the_body(scene):
    _, _, color, depth, ids = scene
    assert color.shape == (240, 320, 3) and color.dtype == np.uint8
    body = depth > 0
    assert 0.05 < body.mean() < 0.6
    assert np.mean(color[~body] == 255) > 0.98  # white background (edges are anti-aliased)
    # Silhouettes of the shaded pass and of the id pass agree (anti-aliased edges aside).
    assert np.mean(body == ids.mask) > 0.99


def test_every_labelled_pixel_reprojects_onto_itself(scene):
    atlas, camera, _, _, ids = scene
    rows, cols = np.nonzero(ids.mask)
    assert set(np.unique(ids.instance[ids.mask])) == {0}
    points = SurfacePoints(ids.face[ids.mask], ids.bary[ids.mask].astype(np.float64))
    xy, depth = camera.project(atlas.positions(points))
    err = np.abs(xy - np.stack([cols + 0.5, rows + 0.5], axis=1))
    assert err.max() < 0.5
    assert np.abs(depth - ids.depth[ids.mask]).max() < 1e-3


def test_visible_surface_wins(scene):
    atlas, camera, _, _, ids = scene
    # Every labelled face faces the camera (we see the front, not the back through it).
    normals = np.cross(
        atlas.rest_vertices[atlas.faces[:, 1]] - atlas.rest_vertices[atlas.faces[:, 0]],
        atlas.rest_vertices[atlas.faces[:, 2]] - atlas.rest_vertices[atlas.faces[:, 0]],
    )
    seen = np.unique(ids.face[ids.mask])
    towards = camera.pose[:3, 3] - atlas.rest_vertices[atlas.faces[seen, 0]]
    facing = np.einsum("nd,nd->n", normals[seen], towards) > 0
    assert facing.mean() > 0.97


def test_pick_bary_recovers_a_point(scene):
    atlas, camera, _, _, ids = scene
    rows, cols = np.nonzero(ids.mask)
    k = len(rows) // 3
    face = ids.face[rows[k], cols[k]]
    bary, _ = pick_bary(
        camera, np.array([[cols[k] + 0.5, rows[k] + 0.5]]), atlas.rest_vertices[atlas.faces[[face]]]
    )
    assert np.abs(bary[0] - ids.bary[rows[k], cols[k]]).max() < 1e-3
