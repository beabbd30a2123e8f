"""The DensePose head's layers: FPN decoder, convolution stacks, and the chart predictor.

The predictor turns head features ``[R, D, s, s]`` into :class:`DensePoseChartOutput` at
``S = 2 * up_scale * s``: a 4x4 transposed convolution of stride 2 per output (coarse
segmentation, fine part I, U, V, and the optional confidences), then bilinear upsampling by
``up_scale``, as the paper and detectron2 do.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from model.structures import DensePoseChartOutput

#: Charts plus background: the channels of I, U and V.
N_PATCH_CHANNELS = 25
#: The outputs that estimate the UV uncertainty (WC1: sigma_2; WC2: and kappa_u, kappa_v).
UV_CONFIDENCES = {"sigma_2", "kappa_u", "kappa_v"}


def init_conv_params(module: nn.Module) -> None:
    """He (fan-out) initialisation of every conv weight, zero biases (the reference's)."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)


class FPNDecoder(nn.Module):
    """Merges FPN levels into one map at ``common_stride`` (Panoptic FPN's semantic branch).

    Each level goes through ``log2(stride / common_stride)`` (at least one) 3x3 conv + ReLU
    steps, each followed by bilinear x2 until it reaches the common stride; the levels are
    summed and projected by a 1x1 conv to ``out_channels``.

    Args:
        in_channels: channels of every FPN level.
        strides: stride of each level, finest first.
        conv_dim: channels inside the decoder.
        out_channels: channels of the merged map.
        common_stride: stride of the merged map.
    """

    def __init__(
        self,
        *,
        in_channels: int,
        strides: list[int],
        conv_dim: int = 256,
        out_channels: int = 256,
        common_stride: int = 4,
    ) -> None:
        super().__init__()
        self.scale_heads = nn.ModuleList()
        for stride in strides:
            steps = max(1, int(math.log2(stride) - math.log2(common_stride)))
            layers: list[nn.Module] = []
            for k in range(steps):
                layers += [
                    nn.Conv2d(in_channels if k == 0 else conv_dim, conv_dim, 3, padding=1),
                    nn.ReLU(inplace=True),
                ]
                if stride != common_stride:
                    layers.append(nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False))
            self.scale_heads.append(nn.Sequential(*layers))
        self.predictor = nn.Conv2d(conv_dim, out_channels, 1)
        self.out_channels = out_channels
        init_conv_params(self)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        x = self.scale_heads[0](features[0])
        for head, feature in zip(self.scale_heads[1:], features[1:], strict=True):
            y = head(feature)
            x = x + y[..., : x.shape[-2], : x.shape[-1]]  # odd sizes round up when pooled
        return self.predictor(x)


class ConvStackHead(nn.Module):
    """``num_convs`` 3x3 convolutions + ReLU (detectron2's DensePoseV1ConvXHead).

    Args:
        in_channels: channels of the pooled features.
        num_convs: number of convolutions.
        conv_dim: channels of each convolution.
        kernel: kernel size.
    """

    def __init__(
        self, *, in_channels: int, num_convs: int = 8, conv_dim: int = 512, kernel: int = 3
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for k in range(num_convs):
            layers += [
                nn.Conv2d(
                    in_channels if k == 0 else conv_dim, conv_dim, kernel, padding=kernel // 2
                ),
                nn.ReLU(inplace=True),
            ]
        self.body = nn.Sequential(*layers)
        self.out_channels = conv_dim if num_convs else in_channels
        init_conv_params(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def _gn(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(math.gcd(32, channels), channels)


def _norm_relu_conv(conv: nn.Conv2d) -> nn.Sequential:
    return nn.Sequential(conv, _gn(conv.out_channels), nn.ReLU(inplace=True))


class ASPP(nn.Module):
    """Atrous spatial pyramid pooling (DeepLabV3), as detectron2's DensePose DL head has it.

    Five branches, each ending in GroupNorm(32) + ReLU: a 1x1 conv, three 3x3 convs dilated
    by ``rates``, and image pooling (global average, 1x1 conv, bilinear back to the input
    size); their concatenation is projected by a 1x1 conv + ReLU. Convolutions have no bias
    and keep torch's default initialisation (the reference does not re-initialise them).
    GroupNorm trains on a single RoI even after the global pooling: each of its 32 groups
    still holds C / 32 values (torch refuses only a group of one value).
    """

    def __init__(
        self, *, in_channels: int, out_channels: int, rates: tuple[int, int, int] = (6, 12, 56)
    ) -> None:
        super().__init__()
        convs: list[nn.Module] = [
            _norm_relu_conv(nn.Conv2d(in_channels, out_channels, 1, bias=False))
        ]
        for rate in rates:
            conv = nn.Conv2d(in_channels, out_channels, 3, padding=rate, dilation=rate, bias=False)
            convs.append(_norm_relu_conv(conv))
        convs.append(
            nn.Sequential(
                nn.AdaptiveAvgPool2d(1),
                *_norm_relu_conv(nn.Conv2d(in_channels, out_channels, 1, bias=False)),
            )
        )
        self.convs = nn.ModuleList(convs)
        self.project = nn.Sequential(
            nn.Conv2d(5 * out_channels, out_channels, 1, bias=False), nn.ReLU(inplace=True)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        *branches, pooling = self.convs
        pooled = F.interpolate(pooling(x), size=x.shape[-2:], mode="bilinear", align_corners=False)
        return self.project(torch.cat([b(x) for b in branches] + [pooled], dim=1))


class DeepLabHead(nn.Module):
    """ASPP, then ``num_convs`` 3x3 conv (no bias) + GroupNorm + ReLU: detectron2's
    DensePoseDeepLabHead (its non-local block is off in every shipped config).

    The stacked convolutions get He (fan-out) initialisation, the ASPP torch's default, as in
    the reference.
    """

    def __init__(
        self, *, in_channels: int, num_convs: int = 8, conv_dim: int = 512, kernel: int = 3
    ) -> None:
        super().__init__()
        self.aspp = ASPP(in_channels=in_channels, out_channels=in_channels)
        layers: list[nn.Module] = []
        for k in range(num_convs):
            conv = nn.Conv2d(
                in_channels if k == 0 else conv_dim,
                conv_dim,
                kernel,
                padding=kernel // 2,
                bias=False,
            )
            layers += list(_norm_relu_conv(conv))
        self.body = nn.Sequential(*layers)
        self.out_channels = conv_dim if num_convs else in_channels
        init_conv_params(self.body)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(self.aspp(x))


class ChartPredictor(nn.Module):
    """Head features -> coarse segmentation, I, U, V (and confidences) at the output size.

    Args:
        in_channels: channels of the head features.
        coarse_channels: 2 (person / background) or 15 (parts).
        deconv_kernel: transposed convolution kernel (stride 2).
        up_scale: bilinear upsampling after the transposed convolution.
        uv_confidence: "none", "iid_iso" (sigma_2) or "indep_aniso" (sigma_2, kappa_u, kappa_v).
        segm_confidence: also estimate fine / coarse segmentation confidences.
        epsilon: lower bound of the segmentation confidences.
    """

    def __init__(
        self,
        *,
        in_channels: int,
        coarse_channels: int = 2,
        deconv_kernel: int = 4,
        up_scale: int = 2,
        uv_confidence: str = "none",
        segm_confidence: bool = False,
        epsilon: float = 0.01,
    ) -> None:
        super().__init__()
        if uv_confidence not in ("none", "iid_iso", "indep_aniso"):
            raise ValueError(
                f"uv_confidence must be none, iid_iso or indep_aniso, got {uv_confidence!r}"
            )

        def deconv(channels: int) -> nn.ConvTranspose2d:
            return nn.ConvTranspose2d(
                in_channels, channels, deconv_kernel, stride=2, padding=deconv_kernel // 2 - 1
            )

        outputs = {
            "coarse_segm": coarse_channels,
            "fine_segm": N_PATCH_CHANNELS,
            "u": N_PATCH_CHANNELS,
            "v": N_PATCH_CHANNELS,
        }
        if uv_confidence != "none":
            outputs["sigma_2"] = N_PATCH_CHANNELS
        if uv_confidence == "indep_aniso":
            outputs |= {"kappa_u": N_PATCH_CHANNELS, "kappa_v": N_PATCH_CHANNELS}
        if segm_confidence:
            outputs |= {"fine_segm_confidence": 1, "coarse_segm_confidence": 1}
        self.layers = nn.ModuleDict({name: deconv(c) for name, c in outputs.items()})
        self.up_scale = up_scale
        self.epsilon = epsilon
        #: Compute the UV confidences in inference (they change no part, U or V: whoever does
        #: not show them can skip them).
        self.uv_confidences = True
        init_conv_params(self)

    def forward(self, x: torch.Tensor) -> DensePoseChartOutput:
        skip = set() if self.training or self.uv_confidences else UV_CONFIDENCES
        maps = {
            name: F.interpolate(
                layer(x), scale_factor=self.up_scale, mode="bilinear", align_corners=False
            )
            for name, layer in self.layers.items()
            if name not in skip
        }
        for name in ("fine_segm", "coarse_segm"):
            confidence = f"{name}_confidence"
            if confidence in maps:
                maps[confidence] = F.softplus(maps[confidence]) + self.epsilon
                maps[name] = maps[name] * maps[confidence]
        return DensePoseChartOutput(**maps)
