"""Backbones with FPN from torchvision, with the normalisation a run needs.

Pretrained backbones keep torchvision's frozen batch norm (the pretrained statistics); a
backbone trained from scratch needs a normalisation that learns: GroupNorm works with the
small batches of a CPU or a single GPU, batch norm with large ones.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from torch import nn
from torchvision.models.detection.backbone_utils import (
    BackboneWithFPN,
    _mobilenet_extractor,
    _resnet_fpn_extractor,
)
from torchvision.ops import misc as misc_nn_ops

RESNETS = ("resnet18", "resnet34", "resnet50", "resnet101")
BACKBONES = (*RESNETS, "mobilenet_v3_large")


def norm_layer(kind: str) -> Callable[..., nn.Module]:
    """The normalisation layer factory: "frozen_bn", "bn" or "gn"."""
    if kind == "frozen_bn":
        return misc_nn_ops.FrozenBatchNorm2d
    if kind == "bn":
        return nn.BatchNorm2d
    if kind == "gn":
        return lambda channels: nn.GroupNorm(math.gcd(32, channels), channels)
    raise ValueError(f"backbone_norm must be frozen_bn, bn or gn, got {kind!r}")


def build_backbone(
    *, name: str, norm: str, trainable_layers: int, weights: object | None = None
) -> tuple[BackboneWithFPN, list[int]]:
    """A torchvision backbone with an FPN of 256 channels.

    ResNets give levels ``'0'..'3'`` at strides 4-32 plus ``'pool'``; MobileNetV3 gives
    levels ``'0'..'2'`` at strides 8, 16 and 32 (its C3, C4 and last stage) plus ``'pool'``.

    Returns:
        the backbone and the strides of its levels (without ``'pool'``), finest first.

    Args:
        name: one of :data:`BACKBONES`.
        norm: "frozen_bn", "bn" or "gn".
        trainable_layers: stages left trainable (5 = all).
        weights: a torchvision weights enum for the classification network, or None.
    """
    from torchvision.models import mobilenet, resnet

    layer = norm_layer(norm)
    if name in RESNETS:
        net = getattr(resnet, name)(weights=weights, norm_layer=layer)
        return _resnet_fpn_extractor(net, trainable_layers), [4, 8, 16, 32]
    if name == "mobilenet_v3_large":
        mnet = mobilenet.mobilenet_v3_large(weights=weights, norm_layer=layer)
        # Stages: the stem, the block before each stride (C1..C4), the last block.
        stages = 2 + sum(1 for b in mnet.features if getattr(b, "_is_cn", False))
        backbone = _mobilenet_extractor(
            mnet,
            True,
            min(trainable_layers, stages),
            returned_layers=[stages - 4, stages - 3, stages - 1],
        )
        assert isinstance(backbone, BackboneWithFPN)
        return backbone, [8, 16, 32]
    raise ValueError(f"backbone must be one of {', '.join(BACKBONES)}, got {name!r}")


def fpn_levels(backbone: BackboneWithFPN) -> list[str]:
    """Names of the FPN levels the RoI heads pool from (all but the extra max-pool level)."""
    return [str(i) for i in range(len(backbone.fpn.inner_blocks))]
