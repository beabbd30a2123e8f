"""Backbones with FPN from torchvision, with the normalisation and layout a run needs.

Pretrained backbones keep torchvision's frozen batch norm (the pretrained statistics); a
backbone trained from scratch needs a normalisation that learns: GroupNorm works with the
small batches of a CPU or a single GPU, batch norm with large ones.

A ResNet is torchvision's (same module names, so its ImageNet weights load), in one of two
layouts: torchvision's, whose bottleneck strides in its 3x3 conv, or detectron2's (MSRA), whose
bottleneck strides in its first 1x1 conv. Widths other than torchvision's (detectron2's
``STEM_OUT_CHANNELS``, ``RES2_OUT_CHANNELS``, ``WIDTH_PER_GROUP``) build the same blocks at
those widths: a narrow network for tests of the same code paths.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from torch import Tensor, nn
from torch.nn import functional as F
from torchvision.models.detection.backbone_utils import BackboneWithFPN, _mobilenet_extractor
from torchvision.ops import misc as misc_nn_ops
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool

#: Blocks per stage and block kind of each ResNet depth.
RESNET_DEPTHS = {"resnet18": [2, 2, 2, 2], "resnet34": [3, 4, 6, 3], "resnet50": [3, 4, 6, 3]}
RESNET_DEPTHS["resnet101"] = [3, 4, 23, 3]
RESNETS = tuple(RESNET_DEPTHS)
BACKBONES = (*RESNETS, "mobilenet_v3_large")


@dataclass(frozen=True)
class ResNetLayout:
    """Widths and stride placement of a ResNet (defaults: torchvision's).

    Attributes:
        stem_channels: output channels of the 7x7 stem.
        res2_channels: output channels of the first stage (0: 256 for bottleneck networks,
            64 for ResNet-18 / 34); each later stage doubles them.
        width_per_group: bottleneck width of the first stage; doubles per stage.
        stride_in_1x1: a bottleneck strides in its first 1x1 conv (MSRA / detectron2).
    """

    stem_channels: int = 64
    res2_channels: int = 0
    width_per_group: int = 64
    stride_in_1x1: bool = False

    def out_channels(self, name: str) -> int:
        return self.res2_channels or (64 if _basic(name) else 256)

    def is_torchvision(self, name: str) -> bool:
        return (self.stem_channels, self.out_channels(name), self.width_per_group) == (
            64,
            64 if _basic(name) else 256,
            64,
        )


def _basic(name: str) -> bool:
    return name in ("resnet18", "resnet34")


class FrozenBatchNorm2d(misc_nn_ops.FrozenBatchNorm2d):
    """torchvision's frozen batch norm, computed as detectron2's: ``F.batch_norm`` in
    inference (one fused kernel; its rounding is detectron2's), scale and shift when a
    gradient flows through (no gradient for the frozen statistics)."""

    def forward(self, x: Tensor) -> Tensor:
        if x.requires_grad:
            return super().forward(x)
        return F.batch_norm(
            x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps
        )


def norm_layer(kind: str) -> Callable[..., nn.Module]:
    """The normalisation layer factory: "frozen_bn", "bn" or "gn"."""
    if kind == "frozen_bn":
        return FrozenBatchNorm2d
    if kind == "bn":
        return nn.BatchNorm2d
    if kind == "gn":
        return lambda channels: nn.GroupNorm(math.gcd(32, channels), channels)
    raise ValueError(f"backbone_norm must be frozen_bn, bn or gn, got {kind!r}")


def build_backbone(
    *,
    name: str,
    norm: str,
    trainable_layers: int,
    weights: object | None = None,
    layout: ResNetLayout | None = None,
    fpn_channels: int = 256,
) -> tuple[BackboneWithFPN, list[int]]:
    """A torchvision backbone with an FPN of ``fpn_channels`` channels.

    ResNets give levels ``'0'..'3'`` at strides 4-32 plus ``'pool'``; MobileNetV3 gives
    levels ``'0'..'2'`` at strides 8, 16 and 32 (its C3, C4 and last stage) plus ``'pool'``.

    Returns:
        the backbone and the strides of its levels (without ``'pool'``), finest first.

    Args:
        name: one of :data:`BACKBONES`.
        norm: "frozen_bn", "bn" or "gn".
        trainable_layers: stages left trainable (5 = all).
        weights: a torchvision weights enum for the classification network, or None.
        layout: ResNet widths and stride placement (default torchvision's).
        fpn_channels: channels of every FPN level.
    """
    layer = norm_layer(norm)
    if name in RESNETS:
        layout = layout or ResNetLayout()
        body = resnet_body(name, layer, layout, weights)
        widths = [layout.out_channels(name) * 2**k for k in range(4)]
        return _with_fpn(body, widths, fpn_channels, trainable_layers), [4, 8, 16, 32]
    if name == "mobilenet_v3_large":
        from torchvision.models import mobilenet

        if fpn_channels != 256:
            raise ValueError("model.fpn_channels: the MobileNetV3 FPN has 256 channels")
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


def resnet_body(
    name: str, norm: Callable[..., nn.Module], layout: ResNetLayout, weights: object | None
) -> nn.Module:
    """The ResNet's stem and four stages (``conv1``, ``bn1``, ``layer1`` ... ``layer4``)."""
    from torchvision.models import resnet

    if layout.is_torchvision(name):
        net: nn.Module = getattr(resnet, name)(weights=weights, norm_layer=norm)
    elif weights is not None:
        raise ValueError("pretrained torchvision weights need torchvision's ResNet widths")
    else:
        net = _NarrowResNet(name, norm, layout)
    if layout.stride_in_1x1:
        for block in net.modules():
            if isinstance(block, resnet.Bottleneck) and block.conv2.stride != (1, 1):
                block.conv1.stride, block.conv2.stride = block.conv2.stride, (1, 1)
    return net


class _NarrowResNet(nn.Module):
    """torchvision's ResNet stem and blocks at other widths (same module names)."""

    def __init__(self, name: str, norm: Callable[..., nn.Module], layout: ResNetLayout) -> None:
        from torchvision.models import resnet

        super().__init__()
        stem = layout.stem_channels
        self.conv1 = nn.Conv2d(3, stem, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = norm(stem)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        inplanes, out, width = stem, layout.out_channels(name), layout.width_per_group
        for stage, count in enumerate(RESNET_DEPTHS[name]):
            blocks: list[nn.Module] = []
            for k in range(count):
                stride = 2 if stage > 0 and k == 0 else 1
                down = None
                if stride != 1 or inplanes != out:
                    down = nn.Sequential(
                        nn.Conv2d(inplanes, out, 1, stride=stride, bias=False), norm(out)
                    )
                if _basic(name):
                    blocks.append(resnet.BasicBlock(inplanes, out, stride, down, norm_layer=norm))
                else:
                    planes = out // 4
                    blocks.append(
                        resnet.Bottleneck(
                            inplanes,
                            planes,
                            stride,
                            down,
                            base_width=64 * width // planes,
                            norm_layer=norm,
                        )
                    )
                inplanes = out
            setattr(self, f"layer{stage + 1}", nn.Sequential(*blocks))
            out, width = out * 2, width * 2


def _with_fpn(
    body: nn.Module, in_channels: list[int], fpn_channels: int, trainable_layers: int
) -> BackboneWithFPN:
    """An FPN over the four stages of ``body``; the first stages frozen as torchvision does."""
    if not 0 <= trainable_layers <= 5:
        raise ValueError(f"trainable_backbone_layers must be 0..5, got {trainable_layers}")
    trained = ["layer4", "layer3", "layer2", "layer1", "conv1"][:trainable_layers]
    if trainable_layers == 5:
        trained.append("bn1")
    for param_name, parameter in body.named_parameters():
        if not any(param_name.startswith(layer) for layer in trained):
            parameter.requires_grad_(False)
    return BackboneWithFPN(
        body,
        return_layers={f"layer{k + 1}": str(k) for k in range(4)},
        in_channels_list=in_channels,
        out_channels=fpn_channels,
        extra_blocks=LastLevelMaxPool(),
    )


def fpn_levels(backbone: BackboneWithFPN) -> list[str]:
    """Names of the FPN levels the RoI heads pool from (all but the extra max-pool level)."""
    return [str(i) for i in range(len(backbone.fpn.inner_blocks))]
