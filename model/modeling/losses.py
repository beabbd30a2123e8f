"""DensePose losses as free functions (the reference's chart losses and weights).

For every proposal that trains the DensePose head (IoU with its person above 0.7, person
annotated), the person's points are carried from the box frame into the proposal's output
grid: ``x_img = x0_gt + x * w_gt / 256``, then ``(x_img - x0_est) * S / w_est``. Points outside
the proposal are dropped. The predicted maps are sampled bilinearly at the points:

* ``loss_densepose_I``: cross-entropy of the fine part (25 classes) at every point, weight
  ``part_weight``;
* ``loss_densepose_U``, ``loss_densepose_V``: smooth-L1 of U and V of the true chart at the
  points whose chart is not background, **summed**, weight ``point_regression_weight``;
  with UV confidences, one Gaussian negative log-likelihood ``loss_densepose_UV`` instead;
* ``loss_densepose_S``: cross-entropy of the coarse segmentation against the person's
  dp_masks resampled (nearest) into the proposal, weight ``index_weight``, over the proposals
  whose person has dp_masks (a person with points only adds nothing to it, as in detectron2,
  whose coarse target comes only from dp_masks).

The UV sum grows with the number of points. DensePose-COCO has about 100 points per person
(5.0 M points over 50 K persons), so when the targets are dense synthetic truth (thousands of
points per person) the sum is rescaled to ``DENSE_REFERENCE_POINTS`` points per person, which
keeps the reference's balance between the terms.

When nothing in the batch can train the head, every loss is ``0 * sum(outputs)``: zero, not
NaN, and still connected to every output so that DDP sees the same graph on every process.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch.nn import functional as F

from model.structures import DensePoseChartOutput, DensePoseTargets

#: Points per person that a dense target's UV loss is scaled to (DensePose-COCO's mean).
DENSE_REFERENCE_POINTS = 100.0


@dataclass(frozen=True)
class ChartLossWeights:
    """Weights and options of the chart losses (detectron2's defaults).

    Attributes:
        index_weight: coarse segmentation (detectron2 INDEX_WEIGHTS).
        part_weight: fine part I at the points (PART_WEIGHTS).
        point_regression_weight: U and V (POINT_REGRESSION_WEIGHTS).
        coarse_channels: 2 (person / background) or 15 (parts).
        uv_confidence: "none", "iid_iso" or "indep_aniso".
        epsilon: lower bound of the UV variance.
        coarse_balanced: weigh the coarse segmentation's classes by inverse frequency.
    """

    index_weight: float = 5.0
    part_weight: float = 1.0
    point_regression_weight: float = 0.01
    coarse_channels: int = 2
    uv_confidence: str = "none"
    epsilon: float = 0.01
    coarse_balanced: bool = False


@dataclass(frozen=True)
class PackedTargets:
    """The annotations of the R proposals that train the head, packed over images.

    Attributes:
        roi: ``[R]`` int64 index of each proposal in the head's output batch.
        box_gt: ``[R, 4]`` xywh of the matched person's box, resized-image pixels.
        box_est: ``[R, 4]`` xywh of the proposal.
        masks: ``[R, 256, 256]`` uint8 coarse parts of the person, box frame.
        has_masks: ``[R]`` bool, the person has dp_masks (else ``masks`` is empty and the
            proposal is left out of the coarse segmentation loss).
        point_roi: ``[K]`` int64 row (0..R-1) of each point.
        x, y: ``[K]`` box-frame coordinates (0..256).
        i: ``[K]`` int64 chart 0..24.
        u, v: ``[K]`` float.
        dense: the points are dense synthetic truth.
    """

    roi: torch.Tensor
    box_gt: torch.Tensor
    box_est: torch.Tensor
    masks: torch.Tensor
    has_masks: torch.Tensor
    point_roi: torch.Tensor
    x: torch.Tensor
    y: torch.Tensor
    i: torch.Tensor
    u: torch.Tensor
    v: torch.Tensor
    dense: bool


def xyxy_to_xywh(boxes: torch.Tensor) -> torch.Tensor:
    """``[N, 4]`` boxes (x0, y0, x1, y1) -> (x0, y0, w, h)."""
    return torch.cat([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], dim=1)


def pack_targets(
    proposals: list[torch.Tensor],
    matched_boxes: list[torch.Tensor],
    matched_people: list[torch.Tensor],
    targets: list[DensePoseTargets],
) -> PackedTargets | None:
    """Gather the points of the people matched by each proposal (None if there are none).

    Args:
        proposals: per image, ``[R_b, 4]`` xyxy proposals that train the head (in the order
            the head's outputs are in).
        matched_boxes: per image, ``[R_b, 4]`` xyxy box of the matched person.
        matched_people: per image, ``[R_b]`` int64 index of the matched person.
        targets: per image, the people's DensePose annotations.
    """
    rows: list[int] = []
    box_gt: list[torch.Tensor] = []
    box_est: list[torch.Tensor] = []
    masks: list[torch.Tensor] = []
    has_masks: list[torch.Tensor] = []
    pieces: list[tuple[int, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]]
    pieces = []
    offset = 0
    for props, gt_boxes, people, dp in zip(
        proposals, matched_boxes, matched_people, targets, strict=True
    ):
        annotated = dp.has_points[people] if len(people) else people.bool()
        for r in torch.nonzero(annotated).squeeze(1).tolist():
            person = int(people[r])
            sel = dp.person == person
            pieces.append((len(rows), dp.x[sel], dp.y[sel], dp.i[sel], dp.u[sel], dp.v[sel]))
            rows.append(offset + r)
            box_gt.append(gt_boxes[r])
            box_est.append(props[r])
            masks.append(dp.masks[person])
            has_masks.append(dp.has_masks[person])
        offset += len(props)
    if not rows or all(len(p[1]) == 0 for p in pieces):
        return None
    device = proposals[0].device
    return PackedTargets(
        roi=torch.tensor(rows, dtype=torch.int64, device=device),
        box_gt=xyxy_to_xywh(torch.stack(box_gt)),
        box_est=xyxy_to_xywh(torch.stack(box_est)),
        masks=torch.stack(masks),
        has_masks=torch.stack(has_masks).to(device),
        point_roi=torch.cat([torch.full_like(p[3], p[0]) for p in pieces]),
        x=torch.cat([p[1] for p in pieces]),
        y=torch.cat([p[2] for p in pieces]),
        i=torch.cat([p[3] for p in pieces]),
        u=torch.cat([p[4] for p in pieces]),
        v=torch.cat([p[5] for p in pieces]),
        dense=any(t.dense for t in targets),
    )


@dataclass(frozen=True)
class PointSampler:
    """Bilinear sampling of ``[R, C, S, S]`` maps at the packed points.

    Attributes:
        valid: ``[K]`` bool, the point lies inside its proposal.
        roi: ``[K]`` int64 output row of each point.
        lo_x, hi_x, lo_y, hi_y: ``[K]`` int64 neighbouring cells.
        wx, wy: ``[K]`` float weights of the high cells.
    """

    valid: torch.Tensor
    roi: torch.Tensor
    lo_x: torch.Tensor
    hi_x: torch.Tensor
    lo_y: torch.Tensor
    hi_y: torch.Tensor
    wx: torch.Tensor
    wy: torch.Tensor

    @staticmethod
    def create(packed: PackedTargets, size: tuple[int, int]) -> PointSampler:
        """Sampling of ``[R, C, H, W]`` maps (``size`` = (H, W)) spanning each est box."""
        gt, est = packed.box_gt[packed.point_roi], packed.box_est[packed.point_roi]
        h, w = size
        lo_x, hi_x, wx, valid_x = _axis(packed.x, gt[:, 0], gt[:, 2], est[:, 0], est[:, 2], w)
        lo_y, hi_y, wy, valid_y = _axis(packed.y, gt[:, 1], gt[:, 3], est[:, 1], est[:, 3], h)
        return PointSampler(
            valid_x & valid_y, packed.roi[packed.point_roi], lo_x, hi_x, lo_y, hi_y, wx, wy
        )

    def sample(self, maps: torch.Tensor, channel: torch.Tensor | None = None) -> torch.Tensor:
        """Values ``[K, C]`` (all channels) or ``[K]`` (``channel[k]`` of each point)."""
        c = slice(None) if channel is None else channel
        wx, wy = self.wx, self.wy
        if channel is None:
            wx, wy = wx[:, None], wy[:, None]
        return (
            maps[self.roi, c, self.lo_y, self.lo_x] * (1 - wx) * (1 - wy)
            + maps[self.roi, c, self.lo_y, self.hi_x] * wx * (1 - wy)
            + maps[self.roi, c, self.hi_y, self.lo_x] * (1 - wx) * wy
            + maps[self.roi, c, self.hi_y, self.hi_x] * wx * wy
        )


def _axis(
    coord: torch.Tensor,
    start_gt: torch.Tensor,
    size_gt: torch.Tensor,
    start_est: torch.Tensor,
    size_est: torch.Tensor,
    grid: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Cells, weight and validity of box-frame coordinates along one axis."""
    offset = start_gt + coord * size_gt / 256.0 - start_est
    valid = (offset >= 0) & (offset < size_est)
    g = offset * grid / size_est
    lo = g.floor().long().clamp(0, grid - 1)
    hi = (lo + 1).clamp(max=grid - 1)
    return lo, hi, torch.minimum(hi.to(g.dtype), g) - lo.to(g.dtype), valid


def resample_masks(
    masks: torch.Tensor, box_gt: torch.Tensor, box_est: torch.Tensor, size: tuple[int, int]
) -> torch.Tensor:
    """People's coarse parts ``[R, H, W]`` (int64) seen through each est box.

    Nearest-neighbour sampling of the 256 x 256 box-frame masks ``[R, 256, 256]`` at the est
    box's grid of ``size`` = (H, W) cells (cell ``k`` at ``x0_est + w_est * k / W``); outside
    the person's box is background.

    Args:
        masks: the people's dp_masks labels, box frame.
        box_gt, box_est: ``[R, 4]`` xywh of each person's box and of the box read through.
        size: (H, W) of the output grid.
    """
    gt, est = box_gt, box_est

    def axis(start: int, n: int) -> torch.Tensor:  # normalised [-1, 1] source coords, [R, n]
        steps = torch.arange(n, device=gt.device, dtype=gt.dtype) / n
        lo = 2 * (est[:, start] - gt[:, start]) / gt[:, start + 2] - 1
        hi = 2 * (est[:, start] + est[:, start + 2] - gt[:, start]) / gt[:, start + 2] - 1
        return lo[:, None] + steps[None] * (hi - lo)[:, None]

    gx, gy = axis(0, size[1]), axis(1, size[0])
    grid = torch.stack(torch.broadcast_tensors(gx[:, None, :], gy[:, :, None]), dim=3)
    out = F.grid_sample(
        masks[:, None].to(gt.dtype), grid, mode="nearest", padding_mode="zeros", align_corners=True
    )
    return out[:, 0].round().long()


def _mask_labels(packed: PackedTargets, size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows and coarse labels ``[M, H, W]`` of the proposals whose person has dp_masks."""
    m = packed.has_masks
    labels = resample_masks(packed.masks[m], packed.box_gt[m], packed.box_est[m], size)
    return packed.roi[m], labels


def zero_losses(
    outputs: DensePoseChartOutput, weights: ChartLossWeights
) -> dict[str, torch.Tensor]:
    """The losses when nothing trains the head: zero, connected to every output."""
    zero = {name: value.sum() * 0 for name, value in vars(outputs).items() if value is not None}
    losses = {"loss_densepose_I": zero["fine_segm"], "loss_densepose_S": zero["coarse_segm"]}
    uv = zero["u"] + zero["v"]
    if weights.uv_confidence == "none":
        return losses | {"loss_densepose_U": zero["u"], "loss_densepose_V": zero["v"]}
    for name in ("sigma_2", "kappa_u", "kappa_v"):
        uv = uv + zero.get(name, 0)
    extra = sum(
        (zero[n] for n in ("fine_segm_confidence", "coarse_segm_confidence") if n in zero),
        torch.zeros((), device=uv.device),
    )
    return losses | {"loss_densepose_UV": uv + extra}


def densepose_losses(
    outputs: DensePoseChartOutput,
    packed: PackedTargets | None,
    weights: ChartLossWeights,
    coarse_labels: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> dict[str, torch.Tensor]:
    """The chart losses of the head's outputs for the packed targets (see module docstring).

    Args:
        coarse_labels: (rows, labels ``[M, H, W]``, -1 ignored) of the coarse segmentation,
            when the caller builds them (the whole-image model); by default each row's
            person's dp_masks resampled into its box.
    """
    if packed is None:
        return zero_losses(outputs, weights)
    size = (outputs.u.shape[-2], outputs.u.shape[-1])
    sampler = PointSampler.create(packed, size)
    foreground = sampler.valid & (packed.i > 0)
    if not bool(foreground.any()):
        return zero_losses(outputs, weights)
    losses = zero_losses(outputs, weights)  # keeps every output in the graph
    fine = sampler.sample(outputs.fine_segm)[sampler.valid]
    loss_i = F.cross_entropy(fine.float(), packed.i[sampler.valid])
    losses["loss_densepose_I"] = losses["loss_densepose_I"] + weights.part_weight * loss_i
    rows, labels = coarse_labels or _mask_labels(packed, size)
    if len(rows):
        if weights.coarse_channels == 2:
            labels = torch.where(labels > 0, 1, labels)
        logits = outputs.coarse_segm[rows].float()
        balance = _balance(labels, logits.shape[1]) if weights.coarse_balanced else None
        loss_s = F.cross_entropy(logits, labels, weight=balance, ignore_index=-1)
        losses["loss_densepose_S"] = losses["loss_densepose_S"] + weights.index_weight * loss_s
    return losses | uv_losses(outputs, packed, weights, sampler, foreground, losses)


def _balance(labels: torch.Tensor, classes: int) -> torch.Tensor:
    """Class weights ``[classes]`` that give every class present among ``labels`` the same
    total weight (inverse frequency; -1 ignored), for a segmentation where background
    dominates (the whole-image model)."""
    valid = labels[labels >= 0]
    counts = torch.bincount(valid, minlength=classes).to(torch.float32)
    present = counts > 0
    weight = torch.zeros(classes, device=labels.device)
    weight[present] = len(valid) / (int(present.sum()) * counts[present])
    return weight


def uv_losses(
    outputs: DensePoseChartOutput,
    packed: PackedTargets,
    weights: ChartLossWeights,
    sampler: PointSampler,
    foreground: torch.Tensor,
    zero: dict[str, torch.Tensor],
) -> dict[str, torch.Tensor]:
    """Smooth-L1 on U and V at the foreground points (or the UV likelihood with confidences)."""
    fg = _FgPoints(sampler, foreground, packed)
    scale = weights.point_regression_weight * _dense_scale(packed, foreground)
    if weights.uv_confidence == "none":
        out = {}
        for name, gt in (("U", packed.u), ("V", packed.v)):
            est = fg.sample(getattr(outputs, name.lower()))
            l1 = F.smooth_l1_loss(est.float(), gt[foreground].float(), reduction="sum")
            out[f"loss_densepose_{name}"] = zero[f"loss_densepose_{name}"] + scale * l1
        return out
    nll = uv_nll(
        fg.sample(outputs.u).float() - packed.u[foreground],
        fg.sample(outputs.v).float() - packed.v[foreground],
        fg.sample(outputs.sigma_2),
        None if outputs.kappa_u is None else fg.sample(outputs.kappa_u),
        None if outputs.kappa_v is None else fg.sample(outputs.kappa_v),
        weights.epsilon,
    )
    return {"loss_densepose_UV": zero["loss_densepose_UV"] + scale * nll}


class _FgPoints:
    """Sampling at the foreground points of their true chart."""

    def __init__(
        self, sampler: PointSampler, foreground: torch.Tensor, packed: PackedTargets
    ) -> None:
        self.sampler, self.foreground, self.chart = sampler, foreground, packed.i

    def sample(self, maps: torch.Tensor | None) -> torch.Tensor:
        if maps is None:
            raise ValueError("the model does not predict the maps this loss needs")
        return self.sampler.sample(maps, self.chart)[self.foreground]


def _dense_scale(packed: PackedTargets, foreground: torch.Tensor) -> float:
    if not packed.dense:
        return 1.0
    people = len(torch.unique(packed.point_roi[foreground]))
    return DENSE_REFERENCE_POINTS * people / max(1, int(foreground.sum()))


def uv_nll(
    du: torch.Tensor,
    dv: torch.Tensor,
    sigma_raw: torch.Tensor,
    kappa_u: torch.Tensor | None,
    kappa_v: torch.Tensor | None,
    epsilon: float,
) -> torch.Tensor:
    """Gaussian negative log-likelihood of UV residuals, summed over points.

    Isotropic (WC1): covariance ``s I`` with ``s = softplus(sigma_raw) + epsilon``:
    ``0.5 * (log 2pi + 2 log s + |d|^2 / s)``. Anisotropic (WC2): covariance
    ``s I + r r^T`` with ``r = (kappa_u, kappa_v)``:
    ``0.5 * (log 2pi + log(s (s + |r|^2)) + |d|^2 / s - <d, r>^2 / (s (s + |r|^2)))``.
    """
    s = F.softplus(sigma_raw.float()) + epsilon
    d2 = du * du + dv * dv
    if kappa_u is None or kappa_v is None:
        return (0.5 * (math.log(2 * math.pi) + 2 * torch.log(s) + d2 / s)).sum()
    ku, kv = kappa_u.float(), kappa_v.float()
    denom = s * (s + ku * ku + kv * kv)
    dr = du * ku + dv * kv
    return (0.5 * (math.log(2 * math.pi) + torch.log(denom) + d2 / s - dr * dr / denom)).sum()
