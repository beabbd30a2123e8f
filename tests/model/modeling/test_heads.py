"""The DensePose heads' layers are detectron2's, initialisation included."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from model.modeling.heads import DeepLabHead


def _convs(module: nn.Module) -> list[nn.Conv2d]:
    return [m for m in module.modules() if isinstance(m, nn.Conv2d)]


def test_deeplab_image_pooling_is_conv_without_bias_groupnorm_relu():
    head = DeepLabHead(in_channels=64, num_convs=2, conv_dim=64)
    pooling = head.aspp.convs[4]
    layers = [type(m) for m in pooling if not isinstance(m, nn.AdaptiveAvgPool2d)]
    assert layers == [nn.Conv2d, nn.GroupNorm, nn.ReLU]
    conv, norm = pooling[1], pooling[2]
    assert conv.bias is None and conv.kernel_size == (1, 1)
    assert norm.num_groups == 32 and norm.num_channels == 64


def test_deeplab_trains_on_a_single_roi():
    """GroupNorm over 256 channels in 32 groups normalises 8 values per group even on one RoI
    after global pooling, so a batch of one trains (torch refuses only a single value)."""
    head = DeepLabHead(in_channels=256, num_convs=1, conv_dim=64).train()
    x = torch.randn(1, 256, 14, 14, requires_grad=True)
    head(x).square().mean().backward()
    pooling_conv = head.aspp.convs[4][1]
    assert pooling_conv.weight.grad is not None
    assert float(pooling_conv.weight.grad.abs().sum()) > 0


def test_deeplab_initialisation_is_the_reference():
    """detectron2: the ASPP keeps torch's default init (uniform, bound 1/sqrt(fan_in)); each
    stacked conv gets c2_msra_fill (normal, std sqrt(2 / fan_out)); GroupNorm weight 1, bias 0."""
    torch.manual_seed(0)
    head = DeepLabHead(in_channels=256, num_convs=2, conv_dim=256)
    for conv in _convs(head.aspp):
        fan_in = conv.in_channels * conv.kernel_size[0] * conv.kernel_size[1]
        bound = 1 / math.sqrt(fan_in)
        w = conv.weight.detach()
        assert float(w.abs().max()) <= bound
        # uniform on [-b, b]: std b / sqrt(3)
        assert float(w.std()) == pytest.approx(bound / math.sqrt(3), rel=0.05)
    for conv in _convs(head.body):
        fan_out = conv.out_channels * conv.kernel_size[0] * conv.kernel_size[1]
        assert float(conv.weight.detach().std()) == pytest.approx(math.sqrt(2 / fan_out), rel=0.05)
        assert conv.bias is None
    for norm in (m for m in head.modules() if isinstance(m, nn.GroupNorm)):
        assert torch.equal(norm.weight, torch.ones_like(norm.weight))
        assert torch.equal(norm.bias, torch.zeros_like(norm.bias))
