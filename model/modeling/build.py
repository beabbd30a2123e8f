"""Build a model from a :class:`~model.config.ModelConfig` (the only place that reads it)."""

from __future__ import annotations

import math
from typing import Any

from torch import nn
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.backbone_utils import BackboneWithFPN
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.models.detection.transform import GeneralizedRCNNTransform
from torchvision.ops import MultiScaleRoIAlign

from model.config import CascadeConfig, DensePoseHeadConfig, ModelConfig
from model.modeling.anchors import Detectron2AnchorGenerator
from model.modeling.backbone import ResNetLayout, build_backbone, fpn_levels
from model.modeling.cascade import CascadeBranch, TaskHeads
from model.modeling.fcn import WholeImageBranch
from model.modeling.heads import ChartPredictor, ConvStackHead, DeepLabHead, FPNDecoder
from model.modeling.losses import ChartLossWeights
from model.modeling.pooler import RoIPooler
from model.modeling.rcnn import DensePoseRCNN
from model.modeling.roi_heads import Branch, DensePoseBranch
from model.modeling.transform import Detectron2Transform
from model.modeling.weights import StartingWeights

ARCHITECTURES = ("rcnn", "fcn")


def loss_weights(cfg: DensePoseHeadConfig) -> ChartLossWeights:
    return ChartLossWeights(
        index_weight=cfg.index_weight,
        part_weight=cfg.part_weight,
        point_regression_weight=cfg.point_regression_weight,
        coarse_channels=cfg.coarse_segm_channels,
        uv_confidence=cfg.uv_confidence,
        epsilon=cfg.confidence_epsilon,
        coarse_balanced=cfg.coarse_balanced,
    )


def build_head(cfg: DensePoseHeadConfig, in_channels: int) -> nn.Module:
    if cfg.kind == "v1convx":
        return ConvStackHead(
            in_channels=in_channels,
            num_convs=cfg.num_convs,
            conv_dim=cfg.conv_dim,
            kernel=cfg.kernel,
        )
    if cfg.kind == "deeplab":
        return DeepLabHead(
            in_channels=in_channels,
            num_convs=cfg.num_convs,
            conv_dim=cfg.conv_dim,
            kernel=cfg.kernel,
        )
    raise ValueError(f"model.densepose.kind must be v1convx or deeplab, got {cfg.kind!r}")


def build_predictor(cfg: DensePoseHeadConfig, in_channels: int) -> ChartPredictor:
    return ChartPredictor(
        in_channels=in_channels,
        coarse_channels=cfg.coarse_segm_channels,
        deconv_kernel=cfg.deconv_kernel,
        up_scale=cfg.up_scale,
        uv_confidence=cfg.uv_confidence,
        segm_confidence=cfg.segm_confidence,
        epsilon=cfg.confidence_epsilon,
    )


def build_decoder(
    cfg: DensePoseHeadConfig, backbone: BackboneWithFPN, strides: list[int]
) -> FPNDecoder:
    return FPNDecoder(
        in_channels=backbone.out_channels,
        strides=strides,
        conv_dim=cfg.decoder_conv_dim,
        out_channels=cfg.decoder_channels,
        common_stride=strides[0],
    )


def build_densepose_branch(
    cfg: ModelConfig, backbone: BackboneWithFPN, strides: list[int]
) -> Branch:
    """The DensePose branch of ``cfg``: RoI head, cascade, or whole-image network.

    Args:
        strides: strides of the backbone's FPN levels, finest first.
    """
    dp = cfg.densepose
    levels = fpn_levels(backbone)
    head_in = (
        dp.decoder_channels
        if dp.decoder or cfg.architecture == "fcn"
        else int(backbone.out_channels)
    )
    head = build_head(dp, head_in)
    predictor = build_predictor(dp, int(head.out_channels))  # type: ignore[arg-type]
    if cfg.architecture == "fcn":
        return WholeImageBranch(
            decoder=build_decoder(dp, backbone, strides),
            head=head,
            predictor=predictor,
            loss_weights=loss_weights(dp),
            in_features=levels,
            out_stride=strides[0] / (2 * dp.up_scale),
            crop_size=dp.heatmap_size,
        )
    common: dict[str, Any] = dict(
        pooler=RoIPooler(
            featmap_names=["decoded"] if dp.decoder else levels,
            output_size=dp.pooler_resolution,
            sampling_ratio=dp.pooler_sampling_ratio,
            aligned=dp.pooler_aligned,
        ),
        head=head,
        predictor=predictor,
        loss_weights=loss_weights(dp),
        fg_iou_threshold=dp.fg_iou_threshold,
        decoder=build_decoder(dp, backbone, strides) if dp.decoder else None,
        in_features=levels,
    )
    cascade = cfg.cascade
    if not (cascade.masks or cascade.keypoints):
        return DensePoseBranch(**common)
    return CascadeBranch(
        **common, **_cascade_parts(cascade, dp, levels, head_in, int(backbone.out_channels))
    )


def _cascade_parts(
    cascade: CascadeConfig,
    dp: DensePoseHeadConfig,
    levels: list[str],
    roi_channels: int,
    fpn_channels: int,
) -> dict[str, Any]:
    """Task heads of both stages and the feedback convolutions of the cascade."""

    def tasks(in_channels: int) -> TaskHeads:
        return TaskHeads(
            in_channels=in_channels,
            masks=cascade.masks,
            keypoints=cascade.keypoints,
            mask_dims=cascade.mask_dims,
            keypoint_dims=cascade.keypoint_dims,
        )

    parts: dict[str, Any] = dict(
        task_pooler=RoIPooler(
            featmap_names=levels, output_size=14, sampling_ratio=2, aligned=dp.pooler_aligned
        ),
        stage1=tasks(fpn_channels),
        refine=cascade.refine,
    )
    if cascade.refine:
        stage2_head = build_head(dp, roi_channels)
        signals = {"densepose": dp.coarse_segm_channels + 3 * 25}
        if cascade.masks:
            signals["mask"] = 2
        if cascade.keypoints:
            signals["keypoint"] = 17
        parts |= dict(
            stage2_head=stage2_head,
            stage2_predictor=build_predictor(dp, int(stage2_head.out_channels)),  # type: ignore[arg-type]
            stage2_tasks=tasks(roi_channels),
            feedback=nn.ModuleDict(
                {name: nn.Conv2d(c, roi_channels, 1) for name, c in signals.items()}
            ),
        )
    return parts


def build_model(cfg: ModelConfig, weights: StartingWeights | None = None) -> nn.Module:
    """The network of ``cfg``, with the starting weights applied (not a checkpoint file)."""
    weights = weights or StartingWeights()
    _check(cfg)
    backbone, strides = build_backbone(
        name=cfg.backbone,
        norm=cfg.backbone_norm,
        trainable_layers=cfg.trainable_backbone_layers,
        weights=weights.backbone,
        layout=ResNetLayout(
            stem_channels=cfg.resnet_stem_channels,
            res2_channels=cfg.resnet_res2_channels,
            width_per_group=cfg.resnet_width_per_group,
            stride_in_1x1=cfg.resnet_stride_in_1x1,
        ),
        fpn_channels=cfg.fpn_channels,
    )
    levels = fpn_levels(backbone)
    model = DensePoseRCNN(
        backbone,
        densepose=build_densepose_branch(cfg, backbone, strides),
        min_size_train=tuple(cfg.min_size_train),
        min_size_test=cfg.min_size_test,
        max_size=cfg.max_size,
        transform=build_transform(cfg),
        detectron2_rules=cfg.detector_rules == "detectron2",
        rpn_anchor_generator=build_anchors(cfg, [*strides, strides[-1] * 2]),
        box_roi_pool=_box_pooler(cfg, levels),
        box_head=TwoMLPHead(cfg.fpn_channels * 7 * 7, cfg.box_head_dim),
        box_predictor=FastRCNNPredictor(cfg.box_head_dim, 2),
        rpn_pre_nms_top_n_train=cfg.rpn_pre_nms_top_n_train,
        rpn_post_nms_top_n_train=cfg.rpn_post_nms_top_n_train,
        rpn_pre_nms_top_n_test=cfg.rpn_pre_nms_top_n_test,
        rpn_post_nms_top_n_test=cfg.rpn_post_nms_top_n_test,
        rpn_batch_size_per_image=cfg.rpn_batch_size_per_image,
        box_batch_size_per_image=cfg.box_batch_size_per_image,
        box_score_thresh=cfg.box_score_thresh,
        box_nms_thresh=cfg.box_nms_thresh,
        box_detections_per_img=cfg.detections_per_img,
    )
    if weights.detector is not None:
        missing, _ = model.load_state_dict(weights.detector, strict=False)
        if any(not k.startswith("roi_heads.densepose") for k in missing):
            raise ValueError(f"COCO weights do not fit this model: missing {missing[:3]}")
    return model


def _check(cfg: ModelConfig) -> None:
    """Fields with a fixed set of values (the config loader checks only types)."""
    choices = {
        "model.architecture": (cfg.architecture, ARCHITECTURES),
        "model.anchors": (cfg.anchors, ("torchvision", "detectron2")),
        "model.detector_rules": (cfg.detector_rules, ("torchvision", "detectron2")),
        "model.input.format": (cfg.input.format, ("rgb", "bgr255")),
        "model.input.resize": (cfg.input.resize, ("tensor", "pil")),
    }
    for key, (value, allowed) in choices.items():
        if value not in allowed:
            raise ValueError(f"{key} must be one of {', '.join(allowed)}, got {value!r}")
    if cfg.densepose.coarse_segm_channels not in (2, 15):
        raise ValueError("model.densepose.coarse_segm_channels must be 2 or 15")
    if cfg.input.format == "bgr255" and cfg.input.resize != "pil":
        raise ValueError("model.input.format bgr255 (detectron2's) needs model.input.resize=pil")


def build_transform(cfg: ModelConfig) -> GeneralizedRCNNTransform:
    """The image transform: torchvision's, or detectron2's resize and input format."""
    sizes = tuple(cfg.min_size_train)
    if cfg.input.resize == "tensor":
        return GeneralizedRCNNTransform(
            sizes, cfg.max_size, list(cfg.input.pixel_mean), list(cfg.input.pixel_std)
        )
    bgr = cfg.input.format == "bgr255"
    return Detectron2Transform(
        sizes,
        cfg.max_size,
        list(cfg.input.pixel_mean),
        list(cfg.input.pixel_std),
        bgr=bgr,
        scale=255.0 if bgr else 1.0,
    )


def build_anchors(cfg: ModelConfig, strides: list[int]) -> AnchorGenerator:
    """One anchor size and three aspect ratios per level (the FPN levels and the pooled one)."""
    if len(cfg.anchor_sizes) != len(strides):
        raise ValueError(
            f"model.anchor_sizes needs {len(strides)} sizes for {cfg.backbone} "
            f"(one per FPN level), got {cfg.anchor_sizes}"
        )
    sizes = tuple((s,) for s in cfg.anchor_sizes)
    ratios = ((0.5, 1.0, 2.0),) * len(strides)
    if cfg.anchors == "detectron2":
        return Detectron2AnchorGenerator(sizes, ratios, tuple(strides))
    return AnchorGenerator(sizes=sizes, aspect_ratios=ratios)


def _box_pooler(cfg: ModelConfig, levels: list[str]) -> nn.Module:
    if cfg.detector_rules == "detectron2" or cfg.box_pooler_aligned:
        return RoIPooler(
            featmap_names=levels,
            output_size=7,
            sampling_ratio=cfg.box_pooler_sampling_ratio,
            aligned=cfg.box_pooler_aligned,
        )
    return MultiScaleRoIAlign(levels, 7, cfg.box_pooler_sampling_ratio)


def count_parameters(model: nn.Module) -> int:
    return sum(math.prod(p.shape) for p in model.parameters())
