"""Test-time augmentation: a mirrored image gets the mirrored answer, sizes merge."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from annotator.surface.atlas import load_atlas
from annotator.surface.parts import FLIP_FINE
from model.data.flip import load_flip_table
from model.engine.checkpoint import load_checkpoint
from model.inference.predictor import Predictor, load_model
from model.inference.tta import Augmentation
from model.zoo.catalog import zoo_config, zoo_model
from model.zoo.convert import import_detectron2
from tests.model.zoo.test_detectron2_fixture import FIXTURE, SPEC

NAME = "R_50_FPN_s1x_legacy"  # 15 coarse parts: their channels swap too


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory):
    """The fixture's narrow detectron2 model (random calibrated weights: it detects)."""
    cfg = zoo_config(zoo_model(NAME), [*SPEC["overrides"], "model.min_size_test=160"])
    path = import_detectron2(FIXTURE / f"{NAME}.pkl", cfg, tmp_path_factory.mktemp("tta"))
    net, _ = load_model(load_checkpoint(path), torch.device("cpu"))
    return net


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    return np.asarray(Image.open(FIXTURE / "images" / "0.png").convert("RGB"))


def test_a_mirrored_image_gets_the_mirrored_answer(model, image):
    """With flip, the views of an image and of its mirror are the same views, so the answers
    are mirror images: boxes mirrored, charts swapped, up to the table's resolution."""
    table = load_flip_table(load_atlas("anny"))  # any chart symmetry shows the property
    predictor = Predictor(model, score_threshold=0.05, tta=Augmentation(), flip_table=table)
    width = image.shape[1]
    direct = predictor(image)
    mirror = predictor(np.ascontiguousarray(image[:, ::-1]))
    assert len(direct) == len(mirror) > 0
    for a, b in zip(direct, mirror, strict=True):
        x0, y0, x1, y1 = b.box
        assert np.allclose(a.box, (width - x1, y0, width - x0, y1), atol=1e-3)
        assert a.score == pytest.approx(b.score, abs=1e-5)
        back = FLIP_FINE[b.densepose.labels.numpy()[:, ::-1]]
        got = a.densepose.labels.numpy()
        if back.shape == got.shape:  # integer boxes may differ by a pixel at the border
            assert (back == got).mean() >= 0.99


def test_scales_and_flip_give_one_merged_answer(model, image):
    table = load_flip_table(load_atlas("anny"))
    plain = Predictor(model, score_threshold=0.05)(image)
    one_view = Predictor(model, score_threshold=0.05, tta=Augmentation(flip=False))(image)
    assert len(one_view) == len(plain)  # one view: the plain answer (boxes round-tripped)
    for a, b in zip(one_view, plain, strict=True):
        assert np.allclose(a.box, b.box, atol=1e-3)
        assert (a.densepose.labels == b.densepose.labels).float().mean() >= 0.99
    tta = Augmentation(scales=(128, 160, 224), flip=True)
    merged = Predictor(model, score_threshold=0.05, tta=tta, flip_table=table)(image)
    assert 0 < len(merged) <= model.roi_heads.detections_per_img  # merged by NMS
    assert all(p.densepose.labels.shape == p.densepose.uv.shape[1:] for p in merged)


def test_flip_needs_the_charts_symmetry(model):
    with pytest.raises(ValueError, match="chart symmetry"):
        Predictor(model, tta=Augmentation(flip=True))
