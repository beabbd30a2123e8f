"""The aligned pooler: torchvision's RoIAlign with the half-pixel offset, FPN level choice."""

from __future__ import annotations

import torch
from torchvision.ops import MultiScaleRoIAlign, roi_align

from model.modeling.pooler import AlignedRoIPooler


def features() -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    return {str(k): torch.randn(2, 4, 64 // 2**k, 64 // 2**k, generator=gen) for k in range(4)}


def test_one_level_is_roi_align_v2():
    f = features()
    boxes = [torch.tensor([[3.0, 5.0, 40.0, 50.0]]), torch.tensor([[0.0, 0.0, 20.0, 10.0]])]
    pooler = AlignedRoIPooler(featmap_names=["0"], output_size=7)
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
    ours = AlignedRoIPooler(featmap_names=list(f), output_size=7, aligned=False)(f, boxes, shapes)
    theirs = MultiScaleRoIAlign(list(f), 7, 2)(f, boxes, shapes)
    assert torch.allclose(ours, theirs)


def test_small_boxes_go_to_fine_levels_and_large_to_coarse():
    pooler = AlignedRoIPooler(featmap_names=["0", "1", "2", "3"], output_size=7)
    boxes = torch.tensor([[0, 0, 20.0, 20.0], [0, 0, 224.0, 224.0], [0, 0, 900.0, 900.0]])
    levels = pooler._levels(boxes, [1 / 4, 1 / 8, 1 / 16, 1 / 32])
    assert levels.tolist() == [0, 2, 3]


def test_no_boxes():
    f = features()
    out = AlignedRoIPooler(featmap_names=list(f), output_size=5)(
        f, [torch.zeros(0, 4), torch.zeros(0, 4)], [(256, 256), (256, 256)]
    )
    assert out.shape == (0, 4, 5, 5)
