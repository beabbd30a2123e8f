"""detectron2's side of scripts/check_detectron2.py: its DensePose R-CNN built from a zoo
config of a checkout the caller names, given random weights that detect people, saved in the
zoo's file format, and run as its ``DefaultPredictor`` and chart-result converter do.

Nothing of detectron2 is in the repository: :func:`import_detectron2` puts the checkout on the
path, after our own packages.
"""

from __future__ import annotations

import pickle
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

#: Detections per image and score threshold of both models (kept small: CPU time).
DETECTIONS = 10
SCORE_THRESH = 0.05

#: The narrow fixture's detectron2 overrides and the studio fields they correspond to.
#: (detectron2 needs the decoder as wide as the FPN; at 32 channels the DeepLab head's image
#: pooling cannot normalise a single RoI in 32 groups, so use the fixture's DL models on
#: several boxes.)
TINY_D2 = [
    "MODEL.RESNETS.STEM_OUT_CHANNELS", 8,
    "MODEL.RESNETS.RES2_OUT_CHANNELS", 16,
    "MODEL.RESNETS.WIDTH_PER_GROUP", 4,
    "MODEL.FPN.OUT_CHANNELS", 32,
    "MODEL.ROI_BOX_HEAD.FC_DIM", 32,
    "MODEL.ROI_DENSEPOSE_HEAD.CONV_HEAD_DIM", 32,
    "MODEL.ROI_DENSEPOSE_HEAD.NUM_STACKED_CONVS", 2,
    "MODEL.ROI_DENSEPOSE_HEAD.DECODER_CONV_DIMS", 32,
    "MODEL.ROI_DENSEPOSE_HEAD.DECODER_NUM_CLASSES", 32,
]  # fmt: skip


def import_detectron2(checkout: Path, deps: Path | None) -> None:
    """Put detectron2 (and its DensePose project) on the path, after our own packages."""
    for path in (checkout, checkout / "projects" / "DensePose", deps):
        if path is not None:
            sys.path.append(str(path))
    import detectron2  # noqa: F401


def d2_config(zoo_config_file: str, checkout: Path, size: int, tiny: bool) -> Any:
    from densepose import add_densepose_config
    from detectron2.config import get_cfg

    cfg = get_cfg()
    add_densepose_config(cfg)
    cfg.merge_from_file(str(checkout / "projects/DensePose/configs" / zoo_config_file))
    cfg.MODEL.DEVICE = "cpu"
    cfg.MODEL.WEIGHTS = ""
    cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST = SCORE_THRESH
    cfg.TEST.DETECTIONS_PER_IMAGE = DETECTIONS
    cfg.INPUT.MIN_SIZE_TEST = size
    if tiny:
        cfg.merge_from_list(TINY_D2)
    return cfg


def calibrate(model: torch.nn.Module, seed: int, image: torch.Tensor) -> None:
    """Random weights that detect people in real boxes.

    Both passes run on ``image`` (``[3, H, W]`` BGR floats in [0, 255], the way the model
    gets its inputs), so that the outputs on images of the kind compared are in range.
    First pass: every frozen batch norm takes the statistics of its input; the RPN's outputs
    are scaled to logits of unit spread and box deltas of 0.1. Second pass (on the calibrated
    proposals): the box classifier gives person scores spread around 0.6, the box deltas 0.1,
    and the DensePose outputs a trained model's size (U and V about 0.5 +- 0.3). Without this,
    random weights give outputs of some hundreds: no detection, boxes pushed off the image
    into slivers, U and V clamped almost everywhere.
    """
    from detectron2.layers import FrozenBatchNorm2d

    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, FrozenBatchNorm2d | torch.nn.GroupNorm):
                module.weight.copy_(torch.rand(module.weight.shape, generator=gen) + 0.5)
                module.bias.copy_(torch.randn(module.bias.shape, generator=gen) * 0.1)
                continue
            bias = getattr(module, "bias", None)
            if isinstance(bias, torch.Tensor) and float(bias.abs().max()) == 0.0:
                bias.copy_(torch.randn(bias.shape, generator=gen) * 0.01)
    rpn = model.proposal_generator.rpn_head
    stats = [m for m in model.modules() if isinstance(m, FrozenBatchNorm2d)]
    inputs = _run_capturing(model, image, [rpn.objectness_logits], stats)
    _standardize(rpn.objectness_logits, inputs[0], std=1.0, mean=0.0)
    # Proposals 1.6 times their anchors, detections 2.7 times their proposals: most anchors
    # come from the finest level, and people are larger than its 32 pixels.
    anchors = rpn.anchor_deltas.out_channels // 4
    _standardize(rpn.anchor_deltas, inputs[0], std=0.1, mean=(0.0, 0.0, 0.5, 0.5) * anchors)
    box, densepose = model.roi_heads.box_predictor, model.roi_heads.densepose_predictor
    inputs = _run_capturing(model, image, [box.cls_score, densepose], [])
    _standardize(box.cls_score, inputs[0], std=(1.0, 0.1), mean=(0.5, 0.0))  # person, bg
    _standardize(box.bbox_pred, inputs[0], std=0.5, mean=(0.0, 0.0, 5.0, 5.0))
    for name, layer in densepose.named_children():
        if isinstance(layer, torch.nn.ConvTranspose2d):
            uv = name.startswith(("u_", "v_"))
            _standardize(layer, inputs[1], std=0.3 if uv else 1.0, mean=0.5 if uv else 0.0)


def _run_capturing(
    model: torch.nn.Module,
    image: torch.Tensor,
    modules: list[torch.nn.Module],
    statistics_of: list[torch.nn.Module],
) -> list[list[torch.Tensor]]:
    """One forward pass; the inputs of ``modules`` (every call), the batch norms of
    ``statistics_of`` set to the statistics of their inputs on the way."""
    seen: list[list[torch.Tensor]] = [[] for _ in modules]
    hooks = [m.register_forward_pre_hook(_set_statistics) for m in statistics_of]
    for k, module in enumerate(modules):
        hooks.append(module.register_forward_pre_hook(lambda m, i, k=k: seen[k].append(i[0])))
    model.eval()
    with torch.no_grad():
        model([{"image": image, "height": image.shape[1], "width": image.shape[2]}])
    for hook in hooks:
        hook.remove()
    return seen


def _standardize(
    layer: torch.nn.Module,
    inputs: list[torch.Tensor],
    std: float | tuple[float, ...],
    mean: float | tuple[float, ...],
) -> None:
    """Scale a layer's weights and shift its bias so that its outputs on ``inputs`` have
    this spread and mean (per output channel, when given per channel)."""
    inputs = [x for x in inputs if len(x)]
    if not inputs:
        return
    with torch.no_grad():
        outs = torch.cat([_channels_last(layer(x)) for x in inputs])
        std_t = torch.as_tensor(std, dtype=outs.dtype).expand(outs.shape[1])
        mean_t = torch.as_tensor(mean, dtype=outs.dtype).expand(outs.shape[1])
        scale = std_t / (outs.std(dim=0) + 1e-12)
        dim = 1 if isinstance(layer, torch.nn.ConvTranspose2d) else 0
        shape = [-1 if d == dim else 1 for d in range(layer.weight.dim())]
        layer.weight.mul_(scale.reshape(shape))
        outs = torch.cat([_channels_last(layer(x)) for x in inputs])
        layer.bias.add_(mean_t - outs.mean(dim=0))


def _channels_last(y: torch.Tensor) -> torch.Tensor:
    """Outputs as rows of channels: ``[N, C]`` or ``[N * H * W, C]``."""
    return y if y.dim() == 2 else y.permute(0, 2, 3, 1).reshape(-1, y.shape[1])


def _set_statistics(module: Any, inputs: tuple[torch.Tensor, ...]) -> None:
    x = inputs[0]
    module.running_mean.copy_(x.mean(dim=(0, 2, 3)))
    module.running_var.copy_(x.var(dim=(0, 2, 3)) + 1e-3)


def model_input(rgb: np.ndarray, cfg: Any) -> torch.Tensor:
    """The image as detectron2's DefaultPredictor hands it to the model."""
    import detectron2.data.transforms as T

    bgr = rgb[:, :, ::-1]
    aug = T.ResizeShortestEdge([cfg.INPUT.MIN_SIZE_TEST] * 2, cfg.INPUT.MAX_SIZE_TEST)
    return torch.as_tensor(
        aug.get_transform(bgr).apply_image(bgr).astype("float32").transpose(2, 0, 1)
    )


def save_zoo_file(model: torch.nn.Module, path: Path, protocol: int) -> None:
    """The model in the zoo's file format: a pickle of ``{"model": {name: numpy array}}``."""
    state = {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        pickle.dump({"model": state, "__author__": "scripts/check_detectron2.py"}, f, protocol)


def d2_model(cfg: Any, file: Path) -> Any:
    from detectron2.checkpoint import DetectionCheckpointer
    from detectron2.modeling import build_model

    model = build_model(cfg).eval()
    DetectionCheckpointer(model).load(str(file))
    return model


def d2_predict(model: Any, cfg: Any, rgb: np.ndarray) -> list[dict[str, Any]]:
    """detectron2 as its DefaultPredictor, then its chart-result converter per detection."""
    from densepose.converters.chart_output_to_chart_result import (
        densepose_chart_predictor_output_to_result,
    )

    tensor = model_input(rgb, cfg)
    with torch.no_grad():
        (out,) = model([{"image": tensor, "height": rgb.shape[0], "width": rgb.shape[1]}])
    inst = out["instances"]
    people = []
    for k in range(len(inst)):
        result = densepose_chart_predictor_output_to_result(
            inst.pred_densepose[k], inst.pred_boxes[k]
        )
        people.append(
            {
                "box": inst.pred_boxes.tensor[k].numpy().astype(np.float64),
                "score": float(inst.scores[k]),
                "labels": result.labels.numpy().astype(np.uint8),
                "uv": result.uv.clamp(0, 1).numpy(),
            }
        )
    return people
