"""Run configuration: typed dataclasses, filled from preset files and overrides.

A preset is a YAML file (``model/configs/*.yaml``) that names only the fields it changes;
``_base_: other.yaml`` starts from another preset. ``load_config`` resolves the chain, applies
``key.path=value`` overrides from the command line, checks every key and type, and returns a
:class:`Config`; ``Config.to_dict`` is what a run saves (``config.yaml``) and a checkpoint
carries, so a run can always be rebuilt exactly. Only builders read a Config; modules take
typed keyword arguments.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Where the shipped presets live.
PRESET_DIR = Path(__file__).resolve().parent / "configs"


class ConfigError(ValueError):
    """A preset or override is malformed: names the file, the key and what is expected."""


@dataclass
class DensePoseHeadConfig:
    """The DensePose RoI head (detectron2's ROI_DENSEPOSE_HEAD, same defaults)."""

    #: "v1convx" (stacked 3x3 convs, the paper's head) or "deeplab" (ASPP + GroupNorm).
    kind: str = "v1convx"
    num_convs: int = 8
    conv_dim: int = 512
    kernel: int = 3
    #: RoIAlign output size; the maps come out at ``pooler_resolution * 2 * up_scale``.
    pooler_resolution: int = 28
    pooler_sampling_ratio: int = 2
    #: RoIAlign with the half-pixel offset (detectron2's config default, ROIAlignV2); every
    #: shipped detectron2 DensePose config sets it off ("ROIAlign"), and so do our presets
    #: that reproduce them (docs/adr/0010-model-package.md).
    pooler_aligned: bool = True
    #: Panoptic-FPN decoder that merges all FPN levels into one stride-4 map before pooling.
    decoder: bool = True
    decoder_channels: int = 256
    decoder_conv_dim: int = 256
    deconv_kernel: int = 4
    up_scale: int = 2
    #: 2 (person / background) or 15 (the 14 coarse parts + background).
    coarse_segm_channels: int = 2
    #: Proposals train the DensePose head if their IoU with the matched person exceeds this.
    fg_iou_threshold: float = 0.7
    #: Loss weights: coarse segmentation (INDEX_WEIGHTS), fine part I (PART_WEIGHTS), U and V.
    index_weight: float = 5.0
    part_weight: float = 1.0
    point_regression_weight: float = 0.01
    #: UV confidence: "none", "iid_iso" (WC1) or "indep_aniso" (WC2).
    uv_confidence: str = "none"
    #: Coarse / fine segmentation confidence (detectron2's "M").
    segm_confidence: bool = False
    confidence_epsilon: float = 0.01
    #: Weigh the coarse segmentation's classes by inverse frequency in each batch (for the
    #: whole-image model, where background is most pixels).
    coarse_balanced: bool = False

    @property
    def heatmap_size(self) -> int:
        return self.pooler_resolution * 2 * self.up_scale


@dataclass
class CascadeConfig:
    """Mask and keypoint branches beside DensePose, optionally refined in a second stage."""

    masks: bool = False
    keypoints: bool = False
    #: Second stage: first-stage outputs of all tasks through 1x1 conv added to the DensePose
    #: RoI features, then every branch again.
    refine: bool = False
    #: Convolution widths of the mask head (torchvision's: 4 x 256) and the keypoint head
    #: (torchvision's: 8 x 512).
    mask_dims: list[int] = field(default_factory=lambda: [256, 256, 256, 256])
    keypoint_dims: list[int] = field(default_factory=lambda: [512] * 8)


@dataclass
class InputConfig:
    """How an image enters the network.

    torchvision's convention (our presets): RGB in [0, 1] normalised by ImageNet's mean and
    std, resized inside the network by bilinear interpolation of the float image.
    detectron2's (the model zoo): BGR in [0, 255] minus its pixel mean, resized before the
    network by ``ResizeShortestEdge`` (sizes rounded, Pillow's bilinear filter on the uint8
    image).
    """

    #: "rgb" (RGB in [0, 1]) or "bgr255" (BGR in [0, 255]).
    format: str = "rgb"
    pixel_mean: list[float] = field(default_factory=lambda: [0.485, 0.456, 0.406])
    pixel_std: list[float] = field(default_factory=lambda: [0.229, 0.224, 0.225])
    #: "tensor" (torchvision) or "pil" (detectron2's ResizeShortestEdge on the uint8 image).
    resize: str = "tensor"


@dataclass
class ModelConfig:
    """The detector and its heads (torchvision Faster R-CNN + FPN).

    The fields from ``input`` to ``box_pooler_sampling_ratio`` choose between torchvision's
    conventions (the defaults, which our presets train with) and detectron2's, which a model
    of its zoo needs to give detectron2's outputs (:mod:`model.zoo`, docs/adr/0011).
    """

    #: "rcnn" (DensePose R-CNN: the DensePose head on RoIs; with ``cascade`` the multi-task
    #: cascade) or "fcn" (DensePose for the whole image, no RoIs; the detector only finds the
    #: boxes persons are scored in).
    architecture: str = "rcnn"
    #: "resnet50", "resnet18", "resnet34", "resnet101" or "mobilenet_v3_large".
    backbone: str = "resnet50"
    #: Backbone stages left trainable (0-5); torchvision's default is 3.
    trainable_backbone_layers: int = 3
    #: "frozen_bn" (pretrained statistics), "bn" or "gn" (GroupNorm, for training from scratch).
    backbone_norm: str = "frozen_bn"
    #: ResNet widths (detectron2's RESNETS.STEM_OUT_CHANNELS, RES2_OUT_CHANNELS and
    #: WIDTH_PER_GROUP; torchvision's are 64, 256 (64 for ResNet-18 / 34) and 64).
    resnet_stem_channels: int = 64
    resnet_res2_channels: int = 0
    resnet_width_per_group: int = 64
    #: The stride of a ResNet bottleneck in its first 1x1 conv (MSRA / detectron2) instead of
    #: the 3x3 conv (torchvision).
    resnet_stride_in_1x1: bool = False
    #: Channels of the FPN levels.
    fpn_channels: int = 256
    input: InputConfig = field(default_factory=InputConfig)
    #: "torchvision" (cell anchors rounded to whole pixels, level strides from the feature
    #: sizes) or "detectron2" (not rounded, strides 4, 8, ... 64).
    anchors: str = "torchvision"
    #: Proposal filtering and box post-processing: "torchvision" (small boxes dropped, NMS
    #: on probabilities) or "detectron2" (empty boxes dropped, NMS on logits, boxes clipped
    #: to the original image).
    detector_rules: str = "torchvision"
    #: Box head pooling: half-pixel offset, and samples per bin (0: adaptive).
    box_pooler_aligned: bool = False
    box_pooler_sampling_ratio: int = 2
    #: Width of the box head's two fully connected layers.
    box_head_dim: int = 1024
    #: Image sizes: shorter side drawn from ``min_size_train`` per batch (scale jitter).
    min_size_train: list[int] = field(default_factory=lambda: [640, 672, 704, 736, 768, 800])
    min_size_test: int = 800
    max_size: int = 1333
    anchor_sizes: list[int] = field(default_factory=lambda: [32, 64, 128, 256, 512])
    rpn_pre_nms_top_n_train: int = 2000
    rpn_post_nms_top_n_train: int = 1000
    rpn_pre_nms_top_n_test: int = 1000
    rpn_post_nms_top_n_test: int = 1000
    rpn_batch_size_per_image: int = 256
    box_batch_size_per_image: int = 512
    box_score_thresh: float = 0.05
    box_nms_thresh: float = 0.5
    detections_per_img: int = 100
    densepose: DensePoseHeadConfig = field(default_factory=DensePoseHeadConfig)
    cascade: CascadeConfig = field(default_factory=CascadeConfig)


@dataclass
class DataConfig:
    """Training data handling."""

    #: Body model whose atlas the data's (I, U, V) refer to ("anny", or "smpl" with the
    #: official charts); ``atlas`` names an atlas file instead of the built-in one.
    body: str = "anny"
    atlas: str = ""
    #: "sparse" (annotated points), "dense" (every skin pixel of synthetic truth) or
    #: "dense_sample" (``dense_points`` skin pixels per person, drawn anew each time).
    points: str = "sparse"
    dense_points: int = 500
    #: Distillation: a teacher run (its dense labels are made at the start, ``dense_points``
    #: per person) or a labels folder from ``dpstudio model distill``; the labels train
    #: beside the annotated points.
    teacher: str = ""
    hflip: bool = True
    num_workers: int = 2
    #: Images larger than this (longer side, pixels) are shrunk when loaded; 0 keeps them.
    max_image_side: int = 0


@dataclass
class SolverConfig:
    """Optimisation schedule (detectron2's SOLVER, same meaning)."""

    #: Images per iteration over all processes (the global batch).
    ims_per_batch: int = 16
    #: "sgd" (with momentum: detectron2's) or "adamw".
    optimizer: str = "sgd"
    #: Images per forward pass in one process; 0 means ims_per_batch / processes.
    #: Smaller values accumulate gradients over several passes.
    micro_batch: int = 0
    base_lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 1e-4
    max_iter: int = 130000
    steps: list[int] = field(default_factory=lambda: [100000, 120000])
    gamma: float = 0.1
    #: "steps" (multiply by ``gamma`` at ``steps``) or "cosine" (to zero at ``max_iter``).
    lr_schedule: str = "steps"
    warmup_iters: int = 1000
    warmup_factor: float = 0.1
    #: Gradient clipping by total norm; 0 disables.
    clip_grad_norm: float = 0.0
    #: Gradient clipping of each value to [-v, v] (detectron2's CLIP_GRADIENTS "value", which
    #: its confidence configs enable with 1.0); 0 disables.
    clip_grad_value: float = 0.0
    #: Mixed precision: CUDA float16 with a grad scaler, CPU bfloat16 autocast.
    amp: bool = False
    checkpoint_period: int = 5000
    eval_period: int = 0
    log_period: int = 20


@dataclass
class Config:
    """Everything a run needs besides its data paths."""

    name: str = "densepose_rcnn_R_50_FPN_s1x"
    description: str = ""
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    solver: SolverConfig = field(default_factory=SolverConfig)
    #: "none", "imagenet", "coco" or a checkpoint file.
    weights: str = "imagenet"
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "<dict>") -> Config:
        return _build(cls, data, source, "")


def preset_names() -> list[str]:
    """The shipped presets (file stems of ``model/configs``)."""
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


def resolve_preset(name_or_path: str) -> Path:
    """A preset name (``R_50_FPN_s1x`` or its full stem) or a YAML file path."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") and path.is_file():
        return path
    for stem in (name_or_path, f"densepose_rcnn_{name_or_path}"):
        candidate = PRESET_DIR / f"{stem}.yaml"
        if candidate.is_file():
            return candidate
    raise ConfigError(f"no preset or file {name_or_path!r}; presets: {', '.join(preset_names())}")


def load_config(name_or_path: str, overrides: list[str] | None = None) -> Config:
    """Resolve a preset (following ``_base_``) or a zoo model's configuration (``zoo:NAME``),
    apply ``key.path=value`` overrides, check."""
    if name_or_path.startswith("zoo:"):
        from model.zoo.catalog import zoo_config, zoo_model

        try:
            return zoo_config(zoo_model(name_or_path), overrides)
        except KeyError as exc:
            raise ConfigError(str(exc.args[0])) from exc
    path = resolve_preset(name_or_path)
    data = _read_chain(path, seen=())
    data.setdefault("name", path.stem)
    for item in overrides or []:
        _apply_override(data, item)
    return _build(Config, data, str(path), "")


def _read_chain(path: Path, seen: tuple[Path, ...]) -> dict[str, Any]:
    import yaml

    if path in seen:
        raise ConfigError(f"{path}: _base_ chain loops back to itself")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read the preset: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a preset must be a mapping of fields")
    base = data.pop("_base_", None)
    if base is None:
        return data
    base_path = (path.parent / base) if not Path(base).is_absolute() else Path(base)
    merged = _read_chain(base_path.resolve(), (*seen, path))
    merged.pop("name", None)
    merged.pop("description", None)
    return _merge(merged, data)


def _merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _apply_override(data: dict[str, Any], item: str) -> None:
    import yaml

    key, sep, raw = item.partition("=")
    if not sep or not key:
        raise ConfigError(f"override {item!r}: expected key.path=value, e.g. solver.base_lr=0.02")
    node = data
    *parents, last = key.strip().split(".")
    for part in parents:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"override {item!r}: {part} is not a group of fields")
    node[last] = yaml.safe_load(raw)


def _build(cls: type, data: Any, source: str, prefix: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: {prefix or 'config'} must be a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(
            f"{source}: unknown field {prefix}{unknown[0]}; "
            f"{prefix or 'top level'} fields are: {', '.join(sorted(known))}"
        )
    values = {
        name: _convert(hints[name], value, source, f"{prefix}{name}")
        for name, value in data.items()
    }
    return cls(**values)


def _convert(hint: Any, value: Any, source: str, key: str) -> Any:
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _build(hint, value, source, key + ".")
    origin = typing.get_origin(hint)
    if origin is list:
        (item,) = typing.get_args(hint)
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{source}: {key} must be a list, got {value!r}")
        return [_convert(item, v, source, key) for v in value]
    if origin in (typing.Union, types.UnionType):
        raise ConfigError(f"{source}: {key}: union fields are not supported")
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is bool and not isinstance(value, bool):
        raise ConfigError(f"{source}: {key} must be true or false, got {value!r}")
    if hint in (int, float) and isinstance(value, bool):
        raise ConfigError(f"{source}: {key} must be a number, got {value!r}")
    if not isinstance(value, hint):
        raise ConfigError(f"{source}: {key} must be {hint.__name__}, got {value!r}")
    return value
