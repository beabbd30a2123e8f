"""Exact truth on sliver faces: the case of the issue (a real render), the nearest-point rule,
the exact rays against the rasterizer, and a short run of ``scripts/check_synth_truth.py``."""

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from annotator.surface.raster import DrawMesh, nearest_in_triangles
from annotator.synth.annotate import person_annotations
from annotator.synth.checks import MAX_REPROJECTION, check_sample
from annotator.synth.exact import MAX_MISS, cast_rays, ray_triangles
from annotator.synth.render_scene import SceneRenderer
from annotator.synth.scene import sample_scene

ROOT = Path(__file__).resolve().parents[2]

#: The failing case found by ``dpstudio synth --check --size 199 --seed 2``: image 5 has a
#: skin pixel on a sliver whose coordinates were clipped to (0, 0.5, 0.5), 28 mm behind the
#: recorded depth.
ISSUE_SIZE, ISSUE_SEED, ISSUE_IMAGE = 199, 2, 5


@pytest.fixture(scope="module")
def issue_sample(synth_body):
    with SceneRenderer(ISSUE_SIZE, ISSUE_SIZE, body=synth_body) as renderer:
        scene = sample_scene(ISSUE_SEED, ISSUE_IMAGE, width=ISSUE_SIZE, height=ISSUE_SIZE)
        sample = renderer.render(scene)
        report = check_sample(sample, synth_body.atlas, renderer.renderer)
        yield sample, report, renderer, _meshes(sample, synth_body.faces)


def _meshes(sample, faces):
    """The sample's people and boxes as drawn (instance k = person k + 1, boxes 1000 + j)."""
    meshes = [
        DrawMesh(p.vertices, faces, np.zeros((len(p.vertices), 4), np.uint8), k)
        for k, p in enumerate(sample.persons)
    ]
    for j, (vertices, box_faces) in enumerate(sample.occluders):
        meshes.append(DrawMesh(vertices, box_faces, np.zeros((8, 4), np.uint8), 1000 + j))
    return meshes


@pytest.mark.slow
def test_the_issue_scene_passes_every_check(issue_sample):
    sample, report, _, _ = issue_sample
    assert report.ok, report.problems
    assert report.pixels == np.count_nonzero(sample.face >= 0) > 1000
    assert report.max_reprojection < MAX_MISS  # the rasterizer's snapping, not 0.5 px
    assert report.cast >= 1  # the sliver pixel is in this scene and was cast exactly


@pytest.mark.slow
def test_cast_pixels_are_exact_in_every_output(issue_sample):
    """At a cast pixel the label is the surface point of the pixel centre's ray (to 1e-6 px),
    the maps agree with each other there, and the DensePose sampling works on them."""
    sample, _, renderer, _ = issue_sample
    atlas = renderer.body.atlas
    rows, cols = np.nonzero(sample.cast & (sample.face >= 0))
    assert len(rows) >= 1
    for r, c in zip(rows, cols, strict=True):
        person = sample.persons[sample.instance[r, c] - 1]
        _, points = sample.surface_points(person.instance)
        mine = (sample.instance == person.instance) & (sample.face >= 0)
        k = int(np.count_nonzero(mine.ravel()[: r * ISSUE_SIZE + c]))  # row-major rank
        position = atlas.positions(points[k : k + 1], atlas.skin_vertices(person.vertices))
        xy, depth = sample.camera.project(position)
        assert np.abs(xy[0] - (c + 0.5, r + 0.5)).max() < 1e-6
        assert abs(depth[0] - sample.depth[r, c]) < 1e-5
        assert sample.i[r, c] > 0 and sample.parts[r, c] > 0
    annotations = person_annotations(sample)  # raises if a point lands without a surface point
    assert any("dp_x" in a for a in annotations)


@pytest.mark.slow
def test_rays_meet_what_the_rasterizer_sees_away_from_slivers(issue_sample):
    """The exact rays and the OpenGL pass are two independent ways to find the visible face:
    at pixels inside a face they agree on mesh, face, coordinates and depth."""
    sample, _, _, meshes = issue_sample
    inside = (sample.face >= 0) & ~sample.cast & (sample.bary.min(axis=2) > 0.05)
    rows, cols = np.nonzero(inside)
    pick = np.random.default_rng(0).choice(len(rows), 60, replace=False)
    rows, cols = rows[pick], cols[pick]
    hits = cast_rays(meshes, sample.camera, rows, cols)
    assert np.array_equal(hits.instance + 1, sample.instance[rows, cols])
    assert np.array_equal(hits.face, sample.face[rows, cols])
    assert np.abs(hits.bary - sample.bary[rows, cols]).max() < 1e-5
    assert np.abs(hits.depth - sample.depth[rows, cols]).max() < 1e-4
    rows, cols = np.nonzero(sample.depth == 0)  # nothing drawn there
    pick = np.random.default_rng(1).choice(len(rows), 10, replace=False)
    empty = cast_rays(meshes, sample.camera, rows[pick], cols[pick])
    assert np.all(empty.instance == -1) and np.all(empty.depth == 0)


def test_nearest_point_of_a_sliver_is_its_edge_not_a_clip():
    """A sliver (corners nearly on a line) and a point a hair beside it: the nearest point
    lies on the sliver and is as far as the line is, however degenerate the triangle; the
    clipping it replaces put such points at (0, 0.5, 0.5), far away along the sliver."""
    a, b = np.array([51.273, 42.234]), np.array([51.772, 42.818])
    for squash in (1.0, 1e-6, 0.0):  # down to exactly collinear corners
        tri = np.stack([a, b, a + 0.6 * (b - a) + squash * np.array([0.05, -0.04])])
        point = np.array([51.5, 42.5])
        bary, miss = nearest_in_triangles(point[None], tri[None])
        nearest = bary[0] @ tri
        assert np.all(bary >= 0) and bary.sum() == pytest.approx(1.0)
        assert np.linalg.norm(nearest - point) == pytest.approx(miss[0], abs=1e-12)
        # no point of the triangle is nearer (dense sampling of it)
        w = np.random.default_rng(1).dirichlet(np.ones(3), 20000)
        assert miss[0] <= np.linalg.norm(w @ tri - point, axis=1).min() + 1e-12
        assert miss[0] < MAX_REPROJECTION


def test_ray_meets_a_triangle_where_expected():
    tri = np.array([[[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]])
    t, bary = ray_triangles(np.array([0.25, 0.25, 2.0]), np.array([0.0, 0.0, -1.0]), tri)
    assert t[0] == pytest.approx(2.0) and bary[0] == pytest.approx([0.5, 0.25, 0.25])
    t, _ = ray_triangles(np.array([0.9, 0.9, 2.0]), np.array([0.0, 0.0, -1.0]), tri)
    assert np.isinf(t[0])  # outside
    t, _ = ray_triangles(np.array([0.25, 0.25, 2.0]), np.array([0.0, 0.0, 1.0]), tri)
    assert np.isinf(t[0])  # behind the origin


def _check_script():
    spec = importlib.util.spec_from_file_location(
        "check_synth_truth", ROOT / "scripts" / "check_synth_truth.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_check_script_short_run(tmp_path, capsys):
    """Two images through the real pipeline (one worker process), read back; then a
    tampered instance map is caught."""
    import cv2

    script = _check_script()
    folder = tmp_path / "161"
    result = script.check_size(161, 2, 3, folder, 1, (1, 2))
    assert result.images == 2 and result.labelled > 500 and result.problems == []
    assert 0 < result.max_reprojection < MAX_MISS
    script.print_table([result])
    assert "labelled px" in capsys.readouterr().out
    document = json.loads((folder / "densepose.json").read_text())
    ann = next(a for a in document["annotations"] if "dp_x" in a)
    image = next(i for i in document["images"] if i["id"] == ann["image_id"])
    x, y, w, h = ann["bbox"]
    col, row = int(ann["dp_x"][0] / 255 * w + x), int(ann["dp_y"][0] / 255 * h + y)
    path = folder / image["instances_file"]
    instances = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    instances[row, col] = 0
    cv2.imwrite(str(path), instances)
    assert any("has no surface point" in p for p in script.files_problems(folder))
