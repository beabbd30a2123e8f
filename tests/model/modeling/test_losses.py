"""The chart losses: hand-worked values, zero (not NaN) without targets, a connected graph."""

from __future__ import annotations

import math

import pytest
import torch
from torch.nn import functional as F

from model.modeling.losses import (
    DENSE_REFERENCE_POINTS,
    ChartLossWeights,
    PackedTargets,
    PointSampler,
    densepose_losses,
    pack_targets,
    resample_masks,
    uv_nll,
)
from model.structures import DensePoseChartOutput, DensePoseTargets

S = 8


def outputs(n: int = 1, coarse: int = 2, requires_grad: bool = True) -> DensePoseChartOutput:
    gen = torch.Generator().manual_seed(0)

    def t(c: int) -> torch.Tensor:
        return torch.randn(n, c, S, S, generator=gen).requires_grad_(requires_grad)

    return DensePoseChartOutput(coarse_segm=t(coarse), fine_segm=t(25), u=t(25), v=t(25))


def packed(
    x: list[float],
    y: list[float],
    i: list[int],
    u: list[float],
    v: list[float],
    box_est: tuple[float, ...] = (0, 0, S, S),
    dense: bool = False,
    masks: torch.Tensor | None = None,
) -> PackedTargets:
    k = len(x)
    return PackedTargets(
        roi=torch.tensor([0]),
        box_gt=torch.tensor([[0.0, 0.0, float(S), float(S)]]),
        box_est=torch.tensor([list(box_est)], dtype=torch.float32),
        masks=masks if masks is not None else torch.ones(1, 256, 256, dtype=torch.uint8),
        has_masks=torch.tensor([True]),
        point_roi=torch.zeros(k, dtype=torch.int64),
        x=torch.tensor(x),
        y=torch.tensor(y),
        i=torch.tensor(i),
        u=torch.tensor(u),
        v=torch.tensor(v),
        dense=dense,
    )


def test_no_targets_give_zero_losses_connected_to_every_output():
    out = outputs()
    losses = densepose_losses(out, None, ChartLossWeights())
    assert set(losses) == {
        "loss_densepose_I",
        "loss_densepose_S",
        "loss_densepose_U",
        "loss_densepose_V",
    }
    total = sum(losses.values())
    assert float(total.detach()) == 0.0
    total.backward()
    for name in ("coarse_segm", "fine_segm", "u", "v"):
        grad = getattr(out, name).grad
        assert grad is not None and torch.count_nonzero(grad) == 0


def test_zero_rois_give_zero_losses():
    out = outputs(n=0)
    losses = densepose_losses(out, None, ChartLossWeights(uv_confidence="iid_iso"))
    assert set(losses) == {"loss_densepose_I", "loss_densepose_S", "loss_densepose_UV"}
    assert all(float(v.detach()) == 0.0 for v in losses.values())


def test_point_at_a_cell_reads_that_cell():
    # Box frame 0..256 over an 8-cell grid: x = 32 * k lands exactly on cell k (weight 0).
    out = outputs()
    p = packed([64.0], [96.0], [5], [0.25], [0.75])
    sampler = PointSampler.create(p, (S, S))
    assert sampler.lo_x.tolist() == [2] and sampler.lo_y.tolist() == [3]
    assert sampler.wx.tolist() == [0.0] and sampler.wy.tolist() == [0.0]
    w = ChartLossWeights()
    losses = densepose_losses(out, p, w)
    logits = out.fine_segm[0, :, 3, 2]
    expected_i = F.cross_entropy(logits[None], torch.tensor([5]))
    assert torch.allclose(losses["loss_densepose_I"], w.part_weight * expected_i)
    du = out.u[0, 5, 3, 2] - 0.25
    expected_u = w.point_regression_weight * F.smooth_l1_loss(du, torch.zeros(()), reduction="sum")
    assert torch.allclose(losses["loss_densepose_U"], expected_u)


def test_bilinear_sampling_between_cells():
    maps = torch.arange(S * S, dtype=torch.float32).reshape(1, 1, S, S)
    # x = 48 is 1.5 cells: halfway between cells 1 and 2; y = 16 is 0.5 cells.
    p = packed([48.0], [16.0], [1], [0.5], [0.5])
    value = PointSampler.create(p, (S, S)).sample(maps, torch.tensor([0]))
    assert torch.allclose(value, torch.tensor([0.5 * (1.5 + 9.5)]))


def test_points_outside_the_proposal_are_dropped():
    out = outputs()
    inside = packed([16.0], [16.0], [3], [0.5], [0.5], box_est=(0, 0, 4, 4))
    with_outside = packed(
        [16.0, 200.0], [16.0, 200.0], [3, 7], [0.5, 0.1], [0.5, 0.9], box_est=(0, 0, 4, 4)
    )
    a = densepose_losses(out, inside, ChartLossWeights())
    b = densepose_losses(out, with_outside, ChartLossWeights())
    for key in ("loss_densepose_I", "loss_densepose_U", "loss_densepose_V"):
        assert torch.allclose(a[key], b[key])


def test_coarse_segmentation_target_follows_the_proposal():
    masks = torch.zeros(1, 256, 256, dtype=torch.uint8)
    masks[0, :, 128:] = 14  # right half of the person's box is head
    p = packed([16.0], [16.0], [1], [0.5], [0.5], masks=masks, box_est=(4, 0, 4, 8))
    # The proposal is the right half of the box: all head.
    assert (resample_masks(p.masks, p.box_gt, p.box_est, (S, S)) == 14).all()
    p = packed([16.0], [16.0], [1], [0.5], [0.5], masks=masks, box_est=(0, 0, 16, 8))
    # Twice the box: cells sample x = 0, 2, 4, ...; x = 8 is the box's right edge, which
    # (align_corners=True, as the reference) reads the last mask column; beyond it, background.
    gt = resample_masks(p.masks, p.box_gt, p.box_est, (S, S))
    assert gt[0, 0].tolist() == [0, 0, 14, 14, 14, 0, 0, 0]


def test_dense_targets_are_scaled_to_the_reference_point_count():
    out = outputs()
    xs = [8.0 + 16 * k for k in range(16)]
    sparse = packed(xs, xs, [2] * 16, [0.3] * 16, [0.6] * 16)
    dense = packed(xs, xs, [2] * 16, [0.3] * 16, [0.6] * 16, dense=True)
    w = ChartLossWeights()
    ratio = (
        densepose_losses(out, dense, w)["loss_densepose_U"]
        / densepose_losses(out, sparse, w)["loss_densepose_U"]
    )
    assert float(ratio.detach()) == pytest.approx(DENSE_REFERENCE_POINTS / 16)


def test_uv_nll_closed_forms():
    du, dv = torch.tensor([0.1, -0.2]), torch.tensor([0.05, 0.3])
    raw = torch.tensor([0.0, 1.0])
    eps = 0.01
    s = F.softplus(raw) + eps
    iso = 0.5 * (math.log(2 * math.pi) + 2 * torch.log(s) + (du**2 + dv**2) / s)
    assert torch.allclose(uv_nll(du, dv, raw, None, None, eps), iso.sum())
    # A zero anisotropic direction is the isotropic model with log(s^2) = 2 log s.
    zero = torch.zeros(2)
    assert torch.allclose(uv_nll(du, dv, raw, zero, zero, eps), iso.sum())


def test_pack_targets_only_annotated_people():
    dp = DensePoseTargets(
        has_points=torch.tensor([True, False]),
        person=torch.tensor([0, 0, 0]),
        x=torch.tensor([10.0, 20.0, 30.0]),
        y=torch.tensor([10.0, 20.0, 30.0]),
        i=torch.tensor([1, 2, 3]),
        u=torch.rand(3),
        v=torch.rand(3),
        masks=torch.zeros(2, 256, 256, dtype=torch.uint8),
        has_masks=torch.tensor([True, True]),
    )
    boxes = torch.tensor([[0.0, 0, 10, 10], [5.0, 5, 20, 20], [1.0, 1, 9, 9]])
    gt = torch.tensor([[0.0, 0, 10, 10], [5.0, 5, 20, 20], [0.0, 0, 10, 10]])
    p = pack_targets([boxes], [gt], [torch.tensor([0, 1, 0])], [dp])
    assert p is not None
    assert p.roi.tolist() == [0, 2]  # the second proposal's person has no points
    assert p.point_roi.tolist() == [0, 0, 0, 1, 1, 1]
    assert pack_targets([boxes[1:2]], [gt[1:2]], [torch.tensor([1])], [dp]) is None


def _people(has_points: list[bool], has_masks: list[bool]) -> DensePoseTargets:
    n = len(has_points)
    person = torch.tensor([k for k in range(n) if has_points[k] for _ in range(3)])
    masks = torch.zeros(n, 256, 256, dtype=torch.uint8)
    for k in range(n):
        if has_masks[k]:
            masks[k, 64:192, 64:192] = 1
    return DensePoseTargets(
        has_points=torch.tensor(has_points),
        person=person,
        x=torch.full((len(person),), 128.0),
        y=torch.full((len(person),), 128.0),
        i=torch.ones(len(person), dtype=torch.int64),
        u=torch.full((len(person),), 0.5),
        v=torch.full((len(person),), 0.5),
        masks=masks,
        has_masks=torch.tensor(has_masks),
    )


def test_coarse_segmentation_loss_skips_people_without_masks():
    """detectron2 trains S only from dp_masks: a person with points and no masks adds nothing
    to it (an all-background target would teach "no person here")."""
    box = torch.tensor([[0.0, 0.0, float(S), float(S)]])
    no_masks = pack_targets([box], [box], [torch.tensor([0])], [_people([True], [False])])
    assert no_masks is not None
    out = outputs()
    losses = densepose_losses(out, no_masks, ChartLossWeights())
    assert float(losses["loss_densepose_S"]) == 0.0
    assert float(losses["loss_densepose_I"]) > 0.0
    losses["loss_densepose_S"].backward()  # still connected

    # With two people, only the one with masks is in the S loss.
    boxes = torch.cat([box, box])
    both = pack_targets(
        [boxes], [boxes], [torch.tensor([0, 1])], [_people([True, True], [True, False])]
    )
    assert both is not None
    out2 = outputs(n=2)
    s = densepose_losses(out2, both, ChartLossWeights())["loss_densepose_S"]
    labels = resample_masks(both.masks, both.box_gt, both.box_est, (S, S))[:1].clamp(max=1)
    expected = 5.0 * F.cross_entropy(out2.coarse_segm[:1], labels)
    assert torch.allclose(s, expected)


def test_people_with_masks_only_are_not_pooled():
    from model.modeling.roi_heads import densepose_proposals

    gt = torch.tensor([[0.0, 0.0, 50.0, 50.0], [60.0, 0.0, 110.0, 50.0]])
    target = {"boxes": gt, "densepose": _people([True, False], [True, True])}
    kept, kept_gt, people = densepose_proposals(
        [target], [gt.clone()], [torch.tensor([0, 1])], [torch.tensor([1, 1])], 0.7
    )
    assert people[0].tolist() == [0]
    assert torch.equal(kept[0], gt[:1]) and torch.equal(kept_gt[0], gt[:1])


def test_balanced_coarse_loss_gives_each_class_the_same_weight():
    from model.modeling.losses import _balance

    labels = torch.tensor([[0, 0, 0, 1], [0, 0, -1, 1]])
    weight = _balance(labels, 2)
    # 5 background, 2 person pixels: each class weighs 7 / 2 in all
    assert torch.allclose(weight * torch.tensor([5.0, 2.0]), torch.tensor([3.5, 3.5]))
    assert torch.equal(_balance(torch.tensor([0, 0]), 3)[1:], torch.zeros(2))
