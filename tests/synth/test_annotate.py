"""DensePose-COCO records of rendered samples: valid for the project's validator and for
pycocotools, points sampled like the protocol with their exact truth."""

import numpy as np
import pytest

from annotator.dataset.densepose_io import PERSON_CATEGORY
from annotator.dataset.masks import rles_to_labels, to_box256
from annotator.dataset.records import Box
from annotator.dataset.validate import check_document
from annotator.synth.annotate import (
    annotation_id,
    image_record,
    person_annotations,
    person_part_masks,
    sample_points,
)
from annotator.synth.scene import sample_scene

from .conftest import SIZE

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore::DeprecationWarning:pycocotools.*"),
]


@pytest.fixture(scope="module")
def rendered(scene_renderer):
    samples = [
        scene_renderer.render(sample_scene(21, k, width=SIZE, height=SIZE)) for k in range(5)
    ]
    images = [image_record(s, f"{s.scene.index:06d}.jpg") for s in samples]
    annotations = [a for s in samples for a in person_annotations(s)]
    doc = {"images": images, "annotations": annotations, "categories": [PERSON_CATEGORY]}
    return samples, doc


def test_document_validates_and_loads_in_pycocotools(rendered, tmp_path):
    import json

    from pycocotools import mask as mask_utils
    from pycocotools.coco import COCO

    samples, doc = rendered
    report = check_document(doc, "synthetic")
    assert report.ok, report.problems[:5]
    assert report.densepose > 0 and report.points > 0
    path = tmp_path / "dp.json"
    path.write_text(json.dumps(doc))
    coco = COCO(str(path))
    by_index = {s.scene.index + 1: s for s in samples}
    for ann in coco.loadAnns(coco.getAnnIds()):
        sample = by_index[ann["image_id"]]
        mask = coco.annToMask(ann).astype(bool)
        assert np.array_equal(mask, sample.instance == ann["instance"])
        assert ann["area"] == mask.sum() == mask_utils.area(ann["segmentation"])
        assert ann["id"] == annotation_id(sample.scene.index, ann["instance"])


def test_points_are_sampled_like_the_protocol_with_exact_truth(rendered):
    samples, doc = rendered
    anns = {a["id"]: a for a in doc["annotations"]}
    for sample in samples:
        for person in sample.persons:
            ann = anns.get(annotation_id(sample.scene.index, person.instance))
            if not person.listed:
                assert ann is None
                continue
            assert ann is not None
            if not person.annotated:
                assert "dp_x" not in ann and "dp_masks" not in ann
                continue
            points = sample_points(sample, person)
            assert len(ann["dp_x"]) == len(points) > 0
            assert np.bincount(points.part).max() <= 14
            # back from the 0..255 box frame to pixels: the truth at that pixel
            x, y, w, h = person.box
            px = np.array(ann["dp_x"]) / 255.0 * w + x
            py = np.array(ann["dp_y"]) / 255.0 * h + y
            rows, cols = np.floor(py).astype(int), np.floor(px).astype(int)
            assert np.all(sample.instance[rows, cols] == person.instance)
            assert np.array_equal(sample.i[rows, cols], ann["dp_I"])
            assert np.allclose(sample.u[rows, cols], ann["dp_U"], atol=1e-6)
            assert np.allclose(sample.v[rows, cols], ann["dp_V"], atol=1e-6)
            # dp_masks are the person's 14 part masks over its box
            whole, _ = person_part_masks(sample, person)
            labels = rles_to_labels(ann["dp_masks"])
            assert np.array_equal(labels, to_box256(whole, Box(*person.box)))


def test_keypoints_follow_coco_conventions(rendered):
    _, doc = rendered
    for ann in doc["annotations"]:
        kp = np.array(ann["keypoints"]).reshape(17, 3)
        assert ann["num_keypoints"] == np.count_nonzero(kp[:, 2])
        assert np.all(kp[kp[:, 2] == 0, :2] == 0)
        visible = kp[kp[:, 2] > 0]
        assert np.all((visible[:, :2] >= -0.5) & (visible[:, :2] < SIZE))
