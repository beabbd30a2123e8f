"""Where a run's starting weights come from: none, ImageNet, COCO, or a file.

torchvision's pretrained weights are taken from the torch hub cache when they are there and
fetched the ordinary torchvision way when the machine is online. Offline and not cached, the
run starts from scratch and says so in one line: a missing download never stops training.
``DPSTUDIO_OFFLINE=1`` (or ``allow_download=False``) never tries the network.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

#: torchvision classification weights per backbone (the enum class and member).
IMAGENET = {
    "resnet18": ("ResNet18_Weights", "IMAGENET1K_V1"),
    "resnet34": ("ResNet34_Weights", "IMAGENET1K_V1"),
    "resnet50": ("ResNet50_Weights", "IMAGENET1K_V1"),
    "resnet101": ("ResNet101_Weights", "IMAGENET1K_V1"),
    "mobilenet_v3_large": ("MobileNet_V3_Large_Weights", "IMAGENET1K_V1"),
}
#: torchvision COCO detectors whose layout matches ours (same backbone, FPN, RPN, box head).
COCO = {
    "resnet50": ("FasterRCNN_ResNet50_FPN_Weights", "COCO_V1"),
    "mobilenet_v3_large": ("FasterRCNN_MobileNet_V3_Large_FPN_Weights", "COCO_V1"),
}
#: COCO's person class (torchvision's 91-class numbering).
COCO_PERSON = 1


@dataclass
class StartingWeights:
    """What to build the model with.

    Attributes:
        backbone: a torchvision weights enum for the classification backbone, or None.
        detector: a torchvision detector state dict to load after building, or None.
        checkpoint: one of our checkpoints (or a plain state dict file) to load, or None.
        note: one line saying where the weights come from (printed by the trainer).
    """

    backbone: Any = None
    detector: dict[str, Any] | None = None
    checkpoint: Path | None = None
    note: str = "weights: none (training from scratch)"


def _enum(table: dict[str, tuple[str, str]], backbone: str, module: str) -> Any:
    import importlib

    cls_name, member = table[backbone]
    return getattr(getattr(importlib.import_module(module), cls_name), member)


def _fetch(enum: Any, allow_download: bool) -> dict[str, Any] | None:
    """The state dict of a torchvision weights enum, from the cache or (if allowed) online."""
    import torch

    cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(enum.url).name
    if not cached.is_file() and (not allow_download or os.environ.get("DPSTUDIO_OFFLINE")):
        return None
    try:
        state: dict[str, Any] = enum.get_state_dict(progress=True, weights_only=True)
        return state
    except OSError as exc:  # URLError, HTTP and socket errors are OSErrors
        log.debug("cannot fetch %s: %s", enum.url, exc)
        return None


def resolve_weights(
    source: str, *, backbone: str, backbone_norm: str, allow_download: bool = True
) -> StartingWeights:
    """Resolve ``--weights none|imagenet|coco|zoo:NAME|FILE`` for a backbone.

    Raises:
        ValueError: a source that cannot apply (COCO weights for a backbone torchvision has no
            detector for, pretrained weights with a GroupNorm backbone, a missing file).
    """
    if source == "none":
        return StartingWeights()
    if source in ("imagenet", "coco"):
        if backbone_norm == "gn":
            raise ValueError(
                f"--weights {source} needs backbone_norm frozen_bn or bn (the pretrained "
                "backbone has batch-norm statistics); set model.backbone_norm=frozen_bn"
            )
        table, module = (
            (IMAGENET, "torchvision.models")
            if source == "imagenet"
            else (COCO, "torchvision.models.detection")
        )
        if backbone not in table:
            raise ValueError(
                f"torchvision has no {source} weights for {backbone}; "
                f"use --weights imagenet or none"
            )
        enum = _enum(table, backbone, module)
        state = _fetch(enum, allow_download)
        if state is None:
            return StartingWeights(
                note=f"weights: {source} ({enum}) not in the torch cache and "
                "not downloadable here: training from scratch"
            )
        if source == "imagenet":
            return StartingWeights(backbone=enum, note=f"weights: {enum} (ImageNet backbone)")
        return StartingWeights(detector=person_only(state), note=f"weights: {enum} (COCO detector)")
    if source.startswith("zoo:"):
        from model.zoo.local import zoo_checkpoint

        return StartingWeights(checkpoint=zoo_checkpoint(source), note=f"weights: {source}")
    path = Path(source)
    if not path.is_file():
        raise ValueError(
            f"--weights {source}: no such file (expected none, imagenet, coco, zoo:NAME or a "
            "checkpoint file)"
        )
    return StartingWeights(checkpoint=path, note=f"weights: {path}")


def person_only(state: dict[str, Any]) -> dict[str, Any]:
    """A COCO detector's state dict with its box predictor cut to background and person."""
    out = dict(state)
    rows = [0, COCO_PERSON]
    for key in list(out):
        if key.startswith("roi_heads.box_predictor.cls_score."):
            out[key] = out[key][rows]
        elif key.startswith("roi_heads.box_predictor.bbox_pred."):
            out[key] = out[key].reshape(-1, 4, *out[key].shape[1:])[rows].flatten(0, 1)
    return out
