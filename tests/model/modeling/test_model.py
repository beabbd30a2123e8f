"""Every preset builds, trains a step (losses finite, gradients everywhere) and predicts."""

from __future__ import annotations

import pytest
import torch

from model.config import load_config, preset_names
from model.modeling.build import build_model
from model.modeling.postprocess import to_results
from model.structures import DensePoseTargets

# Small images and light heads keep the test fast; the structure (decoder, RoI, output size)
# stays the preset's.
TINY = [
    "model.min_size_train=[96]",
    "model.min_size_test=96",
    "model.max_size=128",
    "model.rpn_post_nms_top_n_train=40",
    "model.rpn_post_nms_top_n_test=20",
    "model.box_batch_size_per_image=32",
    "model.detections_per_img=3",
    "model.densepose.num_convs=2",
    "model.densepose.conv_dim=32",
    "model.densepose.decoder_conv_dim=32",
    "model.densepose.decoder_channels=64",  # the DL head's GroupNorm(32) needs 2+ per group
    "model.backbone_norm=gn",
    "model.trainable_backbone_layers=5",
    "model.cascade.mask_dims=[16]",
    "model.cascade.keypoint_dims=[16]",
]


def person(n_points: int = 30) -> DensePoseTargets:
    gen = torch.Generator().manual_seed(0)
    masks = torch.zeros(1, 256, 256, dtype=torch.uint8)
    masks[0, 40:220, 60:200] = 1
    masks[0, 40:90, 100:160] = 14
    return DensePoseTargets(
        has_points=torch.tensor([True]),
        person=torch.zeros(n_points, dtype=torch.int64),
        x=torch.rand(n_points, generator=gen) * 140 + 60,
        y=torch.rand(n_points, generator=gen) * 180 + 40,
        i=torch.randint(1, 25, (n_points,), generator=gen),
        u=torch.rand(n_points, generator=gen),
        v=torch.rand(n_points, generator=gen),
        masks=masks,
        has_masks=torch.tensor([True]),
    )


def batch() -> tuple[list[torch.Tensor], list[dict]]:
    images = [torch.rand(3, 96, 80), torch.rand(3, 90, 96)]
    masks = [torch.zeros(1, 96, 80, dtype=torch.uint8), torch.zeros(1, 90, 96, dtype=torch.uint8)]
    masks[0][0, 10:90, 12:58] = 1
    masks[1][0, 12:78, 22:68] = 1
    keypoints = torch.zeros(1, 17, 3)
    keypoints[0, :, 0] = torch.linspace(15, 55, 17)
    keypoints[0, :, 1] = torch.linspace(12, 85, 17)
    keypoints[0, ::2, 2] = 2  # half visible
    targets = [
        {
            "boxes": torch.tensor([[10.0, 8.0, 60.0, 90.0]]),
            "labels": torch.tensor([1]),
            "densepose": person(),
            "masks": masks[0],
            "keypoints": keypoints,
        },
        # a person without DensePose annotation still trains the detector
        {
            "boxes": torch.tensor([[20.0, 10.0, 70.0, 80.0]]),
            "labels": torch.tensor([1]),
            "densepose": DensePoseTargets.empty(1),
            "masks": masks[1],
            "keypoints": torch.zeros(1, 17, 3),
        },
    ]
    return images, targets


@pytest.mark.parametrize("name", preset_names())
def test_preset_trains_and_predicts(name: str):
    cfg = load_config(name, TINY)
    torch.manual_seed(0)
    model = build_model(cfg.model)
    model.train()
    images, targets = batch()
    losses = model(images, targets)
    expected = {"loss_densepose_I", "loss_densepose_S", "loss_classifier", "loss_objectness"}
    dp_cfg, cascade = cfg.model.densepose, cfg.model.cascade
    expected |= (
        {"loss_densepose_UV"}
        if dp_cfg.uv_confidence != "none"
        else {"loss_densepose_U", "loss_densepose_V"}
    )
    if cascade.masks:
        expected |= {"loss_mask"} | ({"loss_mask_stage1"} if cascade.refine else set())
    if cascade.keypoints:
        expected.add("loss_keypoint")
    assert expected <= set(losses)
    total = sum(losses.values())
    assert torch.isfinite(total) and float(total.detach()) > 0
    total.backward()
    dp = model.roi_heads.densepose
    assert all(p.grad is not None for p in dp.parameters())

    model.eval()
    with torch.no_grad():
        out = model(images)
        given = model.densepose_for_boxes(images[:1], [torch.tensor([[5.0, 5.0, 50.0, 70.0]])])
    size = cfg.model.densepose.heatmap_size
    assert given[0].fine_segm.shape == (1, 25, size, size)
    assert out[0]["densepose"].coarse_segm.shape[1:] == (
        cfg.model.densepose.coarse_segm_channels,
        size,
        size,
    )
    if cascade.masks:
        assert out[0]["masks"].shape[1:] == (1, 96, 80)  # pasted on the image
    if cascade.keypoints:
        assert out[0]["keypoints"].shape[1:] == (17, 3)
    box = torch.tensor([[5.0, 5.0, 50.0, 70.0]])
    (result,) = to_results(given[0], box, confidences=True)
    assert result.labels.shape == (65, 45) and result.uv.shape == (2, 65, 45)
    if dp_cfg.uv_confidence != "none":
        assert result.confidences is not None
        assert result.confidences["sigma_2"].shape == (65, 45)
    assert to_results(given[0], box)[0].confidences is None  # only when asked


def test_a_batch_without_any_densepose_gives_zero_densepose_losses():
    cfg = load_config("R_18_FPN_cpu", TINY)
    model = build_model(cfg.model).train()
    images, targets = batch()
    losses = model(images[1:], targets[1:])
    for key in ("loss_densepose_I", "loss_densepose_S", "loss_densepose_U", "loss_densepose_V"):
        assert float(losses[key].detach()) == 0.0
    sum(losses.values()).backward()  # the graph is intact
