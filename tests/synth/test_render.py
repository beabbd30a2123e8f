"""Rendered scenes: exact ground truth (re-projection, visible surface), consistent masks,
boxes and keypoints. Real renders (EGL on the CPU here), no mocks."""

import numpy as np
import pytest

from annotator.surface.parts import FINE_TO_COARSE
from annotator.synth.checks import MAX_REPROJECTION, check_sample
from annotator.synth.render_scene import (
    MIN_ANNOTATED_PIXELS,
    MIN_PERSON_PIXELS,
    MIN_VISIBLE_FRACTION,
)
from annotator.synth.scene import sample_scene

from .conftest import SIZE

pytestmark = pytest.mark.slow

SEED = 11
N_SCENES = 6


@pytest.fixture(scope="module")
def samples(scene_renderer):
    scenes = [
        sample_scene(SEED, k, width=SIZE, height=SIZE, people=(2, 4)) for k in range(N_SCENES)
    ]
    return [scene_renderer.render(s) for s in scenes]


def test_every_labelled_pixel_reprojects_onto_itself(samples, scene_renderer):
    atlas = scene_renderer.body.atlas
    checked = 0
    for sample in samples:
        for person in sample.persons:
            pixels, points = sample.surface_points(person.instance)
            if not len(points):
                continue
            skin = atlas.skin_vertices(person.vertices)
            xy, depth = sample.camera.project(atlas.positions(points, skin))
            error = np.abs(xy - (pixels[:, ::-1] + 0.5))
            assert error.max() < MAX_REPROJECTION
            assert np.abs(depth - sample.depth[pixels[:, 0], pixels[:, 1]]).max() < 2e-3
            checked += len(points)
    assert checked > 10_000


def test_no_label_comes_from_an_occluded_body(samples, scene_renderer):
    """Each person and box rendered alone by the surface renderer's own id pass: no body is
    nearer than the labelled one at any pixel, and no visible body pixel is unlabelled."""
    overlapping = 0
    for sample in samples:
        report = check_sample(sample, scene_renderer.body.atlas, scene_renderer.renderer)
        assert report.ok, report.problems
        assert report.pixels == np.count_nonzero(sample.face >= 0)
        overlapping += sum(p.visible_fraction < 0.95 for p in sample.persons)
    assert overlapping > 0  # the scenes do have people hiding each other or cut by the border


def test_scene_pass_sees_what_the_surface_renderer_sees(samples, scene_renderer):
    """The synthetic renderer's face map equals Renderer.render_ids on the same meshes, but
    where it cast exact rays (a sliver misjudged by the rasterizer)."""
    body = scene_renderer.body
    for sample in samples[:2]:
        meshes = [(p.vertices, body.faces) for p in sample.persons] + sample.occluders
        ids = scene_renderer.renderer.render_ids(meshes, sample.camera)
        n = len(sample.persons)
        person = (ids.instance >= 0) & (ids.instance < n)
        same = ~sample.cast
        assert np.count_nonzero(sample.cast) < 1e-3 * np.count_nonzero(person)
        instance = np.where(person, ids.instance + 1, 0)
        assert np.array_equal(instance[same], sample.instance[same])
        skin = person & (ids.face < body.n_skin)
        assert np.array_equal(np.where(skin, ids.face, -1)[same], sample.face[same])
        assert np.abs(ids.bary[skin & same] - sample.bary[skin & same]).max() < 1e-6


def test_maps_masks_boxes_and_keypoints_agree(samples):
    for sample in samples:
        skin = sample.face >= 0
        assert np.array_equal(skin, sample.i > 0)
        assert np.array_equal(sample.parts[skin], FINE_TO_COARSE[sample.i[skin]])
        assert np.all(sample.parts[(sample.instance > 0) & ~skin] == 14)  # eyes, mouth
        assert np.all(sample.parts[sample.instance == 0] == 0)
        assert np.all((sample.u[skin] >= 0) & (sample.u[skin] <= 1))
        assert np.all((sample.v[skin] >= 0) & (sample.v[skin] <= 1))
        assert set(np.unique(sample.instance)) <= set(range(len(sample.persons) + 1))
        for person in sample.persons:
            mask = sample.instance == person.instance
            assert person.pixels == mask.sum()
            if person.box is None:
                assert person.pixels == 0
                continue
            rows, cols = np.nonzero(mask)
            x, y, w, h = person.box
            assert (x, y, x + w, y + h) == (cols.min(), rows.min(), cols.max() + 1, rows.max() + 1)
            assert person.listed == (person.pixels >= MIN_PERSON_PIXELS)
            assert person.annotated == (
                person.pixels >= MIN_ANNOTATED_PIXELS
                and person.visible_fraction >= MIN_VISIBLE_FRACTION
            )
            kp = person.keypoints
            inside = (kp[:, 0] >= 0) & (kp[:, 0] < SIZE) & (kp[:, 1] >= 0) & (kp[:, 1] < SIZE)
            assert np.all(kp[~inside, 2] == 0)
            for x_k, y_k, _ in kp[kp[:, 2] == 2]:
                r, c = int(y_k), int(x_k)
                near = mask[max(r - 2, 0) : r + 3, max(c - 2, 0) : c + 3]
                assert near.any()  # a visible keypoint is on its person


def test_rendering_is_deterministic(scene_renderer, samples):
    again = scene_renderer.render(sample_scene(SEED, 0, width=SIZE, height=SIZE, people=(2, 4)))
    first = samples[0]
    for key in ("image", "instance", "face", "bary", "i", "u", "v"):
        assert np.array_equal(getattr(again, key), getattr(first, key)), key


def test_people_are_cut_by_the_border_and_hidden(scene_renderer):
    """Over a few scenes some people touch the image border and some are partly hidden."""
    cut = hidden = 0
    for k in range(12):
        sample = scene_renderer.render(sample_scene(5, k, width=SIZE, height=SIZE))
        for p in sample.persons:
            if p.box is None:
                continue
            x, y, w, h = p.box
            cut += x == 0 or y == 0 or x + w == SIZE or y + h == SIZE
            hidden += p.visible_fraction < 0.8
    assert cut > 0 and hidden > 0
