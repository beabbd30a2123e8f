"""Build a model from a :class:`~model.config.ModelConfig` (the only place that reads it)."""

from __future__ import annotations

import math

from torch import nn
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.backbone_utils import BackboneWithFPN

from model.config import DensePoseHeadConfig, ModelConfig
from model.modeling.backbone import build_backbone, fpn_levels
from model.modeling.heads import ChartPredictor, ConvStackHead, DeepLabHead, FPNDecoder
from model.modeling.losses import ChartLossWeights
from model.modeling.pooler import AlignedRoIPooler
from model.modeling.rcnn import DensePoseRCNN
from model.modeling.roi_heads import DensePoseBranch
from model.modeling.weights import StartingWeights


def loss_weights(cfg: DensePoseHeadConfig) -> ChartLossWeights:
    return ChartLossWeights(
        index_weight=cfg.index_weight,
        part_weight=cfg.part_weight,
        point_regression_weight=cfg.point_regression_weight,
        coarse_channels=cfg.coarse_segm_channels,
        uv_confidence=cfg.uv_confidence,
        epsilon=cfg.confidence_epsilon,
    )


def build_densepose_branch(
    cfg: DensePoseHeadConfig, backbone: BackboneWithFPN, strides: list[int]
) -> DensePoseBranch:
    """Decoder (optional), pooler, head and predictor of the DensePose branch.

    Args:
        strides: strides of the backbone's FPN levels, finest first.
    """
    levels = fpn_levels(backbone)
    decoder = None
    in_channels = backbone.out_channels
    pool_names = levels
    if cfg.decoder:
        decoder = FPNDecoder(
            in_channels=in_channels,
            strides=strides,
            conv_dim=cfg.decoder_conv_dim,
            out_channels=cfg.decoder_channels,
            common_stride=strides[0],
        )
        in_channels, pool_names = cfg.decoder_channels, ["decoded"]
    pooler = AlignedRoIPooler(
        featmap_names=pool_names,
        output_size=cfg.pooler_resolution,
        sampling_ratio=cfg.pooler_sampling_ratio,
        aligned=cfg.pooler_aligned,
    )
    head: nn.Module
    if cfg.kind == "v1convx":
        head = ConvStackHead(
            in_channels=in_channels,
            num_convs=cfg.num_convs,
            conv_dim=cfg.conv_dim,
            kernel=cfg.kernel,
        )
    elif cfg.kind == "deeplab":
        head = DeepLabHead(
            in_channels=in_channels,
            num_convs=cfg.num_convs,
            conv_dim=cfg.conv_dim,
            kernel=cfg.kernel,
        )
    else:
        raise ValueError(f"model.densepose.kind must be v1convx or deeplab, got {cfg.kind!r}")
    predictor = ChartPredictor(
        in_channels=int(head.out_channels),
        coarse_channels=cfg.coarse_segm_channels,
        deconv_kernel=cfg.deconv_kernel,
        up_scale=cfg.up_scale,
        uv_confidence=cfg.uv_confidence,
        segm_confidence=cfg.segm_confidence,
        epsilon=cfg.confidence_epsilon,
    )
    return DensePoseBranch(
        pooler=pooler, head=head, predictor=predictor, decoder=decoder, in_features=levels
    )


def build_model(cfg: ModelConfig, weights: StartingWeights | None = None) -> nn.Module:
    """The network of ``cfg``, with the starting weights applied (not a checkpoint file)."""
    weights = weights or StartingWeights()
    if cfg.architecture != "rcnn":
        raise ValueError(f"model.architecture must be rcnn, got {cfg.architecture!r}")
    if cfg.densepose.coarse_segm_channels not in (2, 15):
        raise ValueError("model.densepose.coarse_segm_channels must be 2 or 15")
    backbone, strides = build_backbone(
        name=cfg.backbone,
        norm=cfg.backbone_norm,
        trainable_layers=cfg.trainable_backbone_layers,
        weights=weights.backbone,
    )
    levels = len(fpn_levels(backbone)) + 1  # + the max-pool level the RPN also uses
    if len(cfg.anchor_sizes) != levels:
        raise ValueError(
            f"model.anchor_sizes needs {levels} sizes for {cfg.backbone} "
            f"(one per FPN level), got {cfg.anchor_sizes}"
        )
    anchors = AnchorGenerator(
        sizes=tuple((s,) for s in cfg.anchor_sizes), aspect_ratios=((0.5, 1.0, 2.0),) * levels
    )
    from torchvision.ops import MultiScaleRoIAlign

    model = DensePoseRCNN(
        backbone,
        densepose=build_densepose_branch(cfg.densepose, backbone, strides),
        loss_weights=loss_weights(cfg.densepose),
        densepose_fg_iou=cfg.densepose.fg_iou_threshold,
        min_size_train=tuple(cfg.min_size_train),
        min_size_test=cfg.min_size_test,
        max_size=cfg.max_size,
        rpn_anchor_generator=anchors,
        box_roi_pool=MultiScaleRoIAlign(fpn_levels(backbone), 7, 2),
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


def count_parameters(model: nn.Module) -> int:
    return sum(math.prod(p.shape) for p in model.parameters())
