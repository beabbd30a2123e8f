"""The RoI pooler: torchvision's RoIAlign with or without the half-pixel offset, FPN levels."""

from __future__ import annotations

import torch
from torchvision.ops import MultiScaleRoIAlign, roi_align

from model.modeling.pooler import RoIPooler


def features() -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    return {str(k): torch.randn(2, 4, 64 // 2**k, 64 // 2**k, generator=gen) for k in range(4)}


def test_one_level_is_roi_align_v2():
    f = features()
    boxes = [torch.tensor([[3.0, 5.0, 40.0, 50.0]]), torch.tensor([[0.0, 0.0, 20.0, 10.0]])]
    pooler = RoIPooler(featmap_names=["0"], output_size=7, aligned=True)
    out = pooler({"0": f["0"]}, boxes, [(256, 256), (256, 256)])
    rois = torch.tensor([[0, 3.0, 5.0, 40.0, 50.0], [1, 0.0, 0.0, 20.0, 10.0]])
    expected = roi_align(f["0"], rois, 7, spatial_scale=0.25, sampling_ratio=2, aligned=True)
    assert torch.equal(out, expected)


def test_levels_match_torchvision_when_not_aligned():
    f = features()
    boxes = [
        torch.tensor([[0.0, 0.0, 30.0, 30.0], [0.0, 0.0, 250.0, 250.0]]),
        torch.tensor([[10.0, 10.0, 130.0, 90.0]]),
    ]
    shapes = [(256, 256), (256, 256)]
    ours = RoIPooler(featmap_names=list(f), output_size=7, aligned=False)(f, boxes, shapes)
    theirs = MultiScaleRoIAlign(list(f), 7, 2)(f, boxes, shapes)
    assert torch.allclose(ours, theirs)


def test_small_boxes_go_to_fine_levels_and_large_to_coarse():
    pooler = RoIPooler(featmap_names=["0", "1", "2", "3"], output_size=7, aligned=True)
    boxes = torch.tensor([[0, 0, 20.0, 20.0], [0, 0, 224.0, 224.0], [0, 0, 900.0, 900.0]])
    levels = pooler._levels(boxes, [1 / 4, 1 / 8, 1 / 16, 1 / 32])
    assert levels.tolist() == [0, 2, 3]


def test_no_boxes():
    f = features()
    out = RoIPooler(featmap_names=list(f), output_size=5, aligned=True)(
        f, [torch.zeros(0, 4), torch.zeros(0, 4)], [(256, 256), (256, 256)]
    )
    assert out.shape == (0, 4, 5, 5)


#: Presets that reproduce detectron2's configs (and the paper's R-50 variants built on them).
DETECTRON2_PRESETS = [
    "densepose_rcnn_R_50_FPN_s1x",
    "densepose_rcnn_R_50_FPN_s1x_legacy",
    "densepose_rcnn_R_50_FPN_DL_s1x",
    "densepose_rcnn_R_50_FPN_WC1_s1x",
    "densepose_rcnn_R_50_FPN_WC2_s1x",
    "densepose_rcnn_R_50_FPN_WC1M_s1x",
    "densepose_rcnn_R_50_FPN_WC2M_s1x",
    "densepose_cascade_R_50_FPN_s1x",
]


def test_detectron2_presets_pool_without_the_half_pixel_offset():
    """Base-DensePose-RCNN-FPN.yaml sets ROI_DENSEPOSE_HEAD.POOLER_TYPE "ROIAlign": every
    shipped detectron2 DensePose config pools with ``aligned=False``."""
    from model.config import load_config
    from model.modeling.build import build_model

    for name in DETECTRON2_PRESETS:
        assert load_config(name).model.densepose.pooler_aligned is False, name
    cfg = load_config("densepose_rcnn_R_50_FPN_s1x", ["model.densepose.decoder=false"])
    branch = build_model(cfg.model).roi_heads.densepose
    f = features()
    boxes = [torch.tensor([[3.0, 5.0, 40.0, 50.0]]), torch.tensor([[0.0, 0.0, 20.0, 10.0]])]
    out = branch.pooler(f, boxes, [(256, 256), (256, 256)])  # both boxes pool from "0"
    rois = torch.tensor([[0, 3.0, 5.0, 40.0, 50.0], [1, 0.0, 0.0, 20.0, 10.0]])
    size = cfg.model.densepose.pooler_resolution
    expected = roi_align(f["0"], rois, size, spatial_scale=0.25, sampling_ratio=2, aligned=False)
    assert torch.equal(out, expected)
