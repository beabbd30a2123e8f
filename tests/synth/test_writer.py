"""Files on disk: the ground truth reads back exactly."""

import numpy as np
import pytest

from annotator.synth.runner import prepare_output
from annotator.synth.scene import sample_scene
from annotator.synth.writer import load_ground_truth, write_sample

from .conftest import SIZE

pytestmark = pytest.mark.slow


def test_truth_files_read_back_exactly(scene_renderer, tmp_path):
    import cv2

    sample = scene_renderer.render(sample_scene(4, 2, width=SIZE, height=SIZE))
    prepare_output(tmp_path)
    files = write_sample(tmp_path, sample, "anny", png=True)
    truth = load_ground_truth(tmp_path / files["gt_file"])
    skin = sample.face >= 0
    assert truth.body == "anny"
    assert np.array_equal(truth.face, sample.face)
    assert np.array_equal(truth.bary, sample.bary)
    assert np.array_equal(truth.i, sample.i)
    assert np.array_equal(truth.u, sample.u) and np.array_equal(truth.v, sample.v)
    assert np.array_equal(truth.instance, np.where(skin, sample.instance, 0))
    points = truth.points()
    assert len(points) == skin.sum()
    image = cv2.imread(str(tmp_path / "images" / files["file_name"]))[..., ::-1]
    assert np.array_equal(image, sample.image)  # PNG: lossless
    instances = cv2.imread(str(tmp_path / files["instances_file"]), cv2.IMREAD_UNCHANGED)
    parts = cv2.imread(str(tmp_path / files["parts_file"]), cv2.IMREAD_UNCHANGED)
    assert np.array_equal(instances, sample.instance) and np.array_equal(parts, sample.parts)
    with pytest.raises(FileExistsError):
        (tmp_path / "densepose.json").write_text("{}")
        prepare_output(tmp_path)
