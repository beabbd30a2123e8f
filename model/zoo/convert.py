"""A detectron2 DensePose checkpoint -> a studio checkpoint of the same network.

detectron2's files (``model_final_*.pkl``) are pickles of ``{"model": {name: numpy array}}``
(read with :mod:`model.safe_pickle`, never with ``pickle``); the studio rebuilds the model's
architecture from its zoo configuration (:func:`model.zoo.catalog.zoo_config`) and maps every
tensor by name:

=========================================  ===============================================
detectron2                                 studio
=========================================  ===============================================
``backbone.bottom_up.stem.conv1``          ``backbone.body.conv1`` (its ``.norm``: ``bn1``)
``backbone.bottom_up.res{2..5}.{b}.convK``  ``backbone.body.layer{1..4}.{b}.convK`` (``bnK``)
``...shortcut``                             ``...downsample.0`` (its ``.norm``: ``downsample.1``)
``backbone.fpn_lateral{2..5}``              ``backbone.fpn.inner_blocks.{0..3}.0``
``backbone.fpn_output{2..5}``               ``backbone.fpn.layer_blocks.{0..3}.0``
``proposal_generator.rpn_head.conv``        ``rpn.head.conv.0.0`` (``objectness_logits``:
                                            ``cls_logits``; ``anchor_deltas``: ``bbox_pred``)
``roi_heads.box_head.fc1`` / ``fc2``        ``roi_heads.box_head.fc6`` / ``fc7``
``roi_heads.box_predictor``                 the same, background row moved first, and four
                                            zero rows for the background's box regression
``roi_heads.decoder.p{2..5}.{i}``           ``roi_heads.densepose.decoder.scale_heads...``
``roi_heads.densepose_head.body_conv_fcnK`` ``roi_heads.densepose.head.body.*``
``roi_heads.densepose_head.ASPP``           ``roi_heads.densepose.head.aspp``
``roi_heads.densepose_predictor.X_lowres``  ``roi_heads.densepose.predictor.layers.Y``
=========================================  ===============================================

Every tensor of the file is used or named in :data:`IGNORED` (what detectron2 itself
ignores when loading); a tensor the network needs that the file lacks, one of the wrong
shape, or one that maps to nothing, stops the import with its name.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from model.config import Config

#: Tensors of a detectron2 file that do not belong to the network's weights.
IGNORED = (
    re.compile(r"pixel_(mean|std)"),
    re.compile(r"(proposal_generator\.)?anchor_generator\.cell_anchors\.\d+"),
    re.compile(r".*\.num_batches_tracked"),
)

#: The chart predictor's layers: detectron2's name -> ours.
PREDICTOR_LAYERS = {
    "ann_index": "coarse_segm",
    "index_uv": "fine_segm",
    "u": "u",
    "v": "v",
    "sigma_2": "sigma_2",
    "kappa_u": "kappa_u",
    "kappa_v": "kappa_v",
    "fine_segm_confidence": "fine_segm_confidence",
    "coarse_segm_confidence": "coarse_segm_confidence",
}


class ZooImportError(ValueError):
    """The file does not fit the network: names the tensor and what is wrong."""


def read_detectron2_file(path: str | Path) -> dict[str, np.ndarray]:
    """The tensors of a detectron2 checkpoint (``.pkl`` pickle, or a ``.pth`` torch file of
    plain tensors), as numpy arrays by name.

    Raises:
        ZooImportError: unreadable, refused (it could run code), or not a detectron2 model.
    """
    from model.safe_pickle import UnsafePickleError, load

    path = Path(path)
    if path.suffix == ".pth":
        try:
            with warnings.catch_warnings():  # torch warns about the protocol of old files
                warnings.simplefilter("ignore", UserWarning)
                data: Any = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise ZooImportError(
                f"{path}: not a readable torch file of tensors ({type(exc).__name__}); "
                "files that carry code are refused"
            ) from exc
    else:
        try:
            data = load(path)
        except UnsafePickleError as exc:
            raise ZooImportError(str(exc)) from exc
    model = data.get("model", data) if isinstance(data, dict) else None
    if not isinstance(model, dict) or not model:
        raise ZooImportError(
            f"{path}: no 'model' dictionary of tensors: not a detectron2 checkpoint"
        )
    out = {}
    for name, value in model.items():
        array = value.numpy() if isinstance(value, torch.Tensor) else np.asarray(value)
        if array.dtype.kind not in "fiu":
            raise ZooImportError(f"{path}: tensor {name} is not numeric ({array.dtype})")
        out[str(name)] = array
    return out


def our_name(name: str, decoder_upsamples: dict[int, bool], deeplab: bool) -> str | None:
    """The studio name of a detectron2 tensor name (None: it maps to nothing).

    Args:
        decoder_upsamples: per decoder level (2..5), whether its steps upsample.
        deeplab: the DensePose head is the DeepLab head (its convs carry a norm).
    """
    for rule in _RULES:
        found = rule.pattern.fullmatch(name)
        if found is not None:
            return rule.rename(found, decoder_upsamples, deeplab)
    return None


class _Rule:
    def __init__(
        self, pattern: str, rename: Callable[[re.Match[str], dict[int, bool], bool], str]
    ) -> None:
        self.pattern = re.compile(pattern)
        self.rename = rename


def _stage_block(m: re.Match[str], *_: Any) -> str:
    stage, block, layer, norm, field = m.groups()
    prefix = f"backbone.body.layer{int(stage) - 1}.{block}"
    if layer == "shortcut":
        return f"{prefix}.downsample.{1 if norm else 0}.{field}"
    k = layer[-1]
    return f"{prefix}.{'bn' if norm else 'conv'}{k}.{field}"


def _decoder(m: re.Match[str], upsamples: dict[int, bool], _: bool) -> str:
    level, index, field = int(m.group(1)), int(m.group(2)), m.group(3)
    step = index // 2 if upsamples[level] else index
    ours = step * 3 if upsamples[level] else step * 2
    return f"roi_heads.densepose.decoder.scale_heads.{level - 2}.{ours}.{field}"


def _head_conv(m: re.Match[str], _: dict[int, bool], deeplab: bool) -> str:
    k, norm, field = int(m.group(1)) - 1, m.group(2), m.group(3)
    index = 3 * k + (1 if norm else 0) if deeplab else 2 * k
    return f"roi_heads.densepose.head.body.{index}.{field}"


_RULES = (
    _Rule(
        r"backbone\.bottom_up\.stem\.conv1\.(norm\.)?(\w+)",
        lambda m, *_: f"backbone.body.{'bn1' if m.group(1) else 'conv1'}.{m.group(2)}",
    ),
    _Rule(r"backbone\.bottom_up\.res(\d)\.(\d+)\.(conv\d|shortcut)\.(norm\.)?(\w+)", _stage_block),
    _Rule(
        r"backbone\.fpn_(lateral|output)(\d)\.(\w+)",
        lambda m, *_: (
            "backbone.fpn."
            + ("inner_blocks" if m.group(1) == "lateral" else "layer_blocks")
            + f".{int(m.group(2)) - 2}.0.{m.group(3)}"
        ),
    ),
    _Rule(
        r"proposal_generator\.rpn_head\.(conv|objectness_logits|anchor_deltas)\.(\w+)",
        lambda m, *_: (
            "rpn.head."
            + {"conv": "conv.0.0", "objectness_logits": "cls_logits", "anchor_deltas": "bbox_pred"}[
                m.group(1)
            ]
            + f".{m.group(2)}"
        ),
    ),
    _Rule(
        r"roi_heads\.box_head\.fc(\d)\.(\w+)",
        lambda m, *_: f"roi_heads.box_head.fc{int(m.group(1)) + 5}.{m.group(2)}",
    ),
    _Rule(
        r"roi_heads\.box_predictor\.(cls_score|bbox_pred)\.(\w+)",
        lambda m, *_: f"roi_heads.box_predictor.{m.group(1)}.{m.group(2)}",
    ),
    _Rule(r"roi_heads\.decoder\.p(\d)\.(\d+)\.(\w+)", _decoder),
    _Rule(
        r"roi_heads\.decoder\.predictor\.(\w+)",
        lambda m, *_: f"roi_heads.densepose.decoder.predictor.{m.group(1)}",
    ),
    _Rule(r"roi_heads\.densepose_head\.body_conv_fcn(\d+)\.(norm\.)?(\w+)", _head_conv),
    _Rule(
        r"roi_heads\.densepose_head\.ASPP\.(.+)",
        lambda m, *_: f"roi_heads.densepose.head.aspp.{m.group(1)}",
    ),
    _Rule(
        r"roi_heads\.densepose_predictor\.(\w+?)_lowres\.(\w+)",
        lambda m, *_: (
            f"roi_heads.densepose.predictor.layers.{PREDICTOR_LAYERS[m.group(1)]}.{m.group(2)}"
            if m.group(1) in PREDICTOR_LAYERS
            else ""
        ),
    ),
)


def convert_state(
    tensors: dict[str, np.ndarray],
    target: dict[str, torch.Tensor],
    *,
    decoder_upsamples: dict[int, bool],
    deeplab: bool,
    source: str = "<file>",
) -> dict[str, torch.Tensor]:
    """The studio state dict of ``target``'s shape from detectron2's ``tensors``.

    Args:
        target: the studio model's own state dict (names and shapes to fill).
        decoder_upsamples, deeplab: see :func:`our_name`.
        source: the file, for messages.

    Raises:
        ZooImportError: a tensor maps to nothing, is missing, or has the wrong shape.
    """
    out: dict[str, torch.Tensor] = {}
    for name, array in tensors.items():
        if any(p.fullmatch(name) for p in IGNORED):
            continue
        ours = our_name(name, decoder_upsamples, deeplab)
        if not ours or ours not in target:
            raise ZooImportError(
                f"{source}: tensor {name} {tuple(array.shape)} has no place in this "
                "architecture: is the file of another configuration? (--config)"
            )
        value = _box_predictor(name, torch.from_numpy(np.array(array, dtype=np.float32)))
        want = tuple(target[ours].shape)
        if tuple(value.shape) != want:
            raise ZooImportError(
                f"{source}: tensor {name} has shape {tuple(array.shape)}, the architecture "
                f"needs {want} ({ours}): is the file of another configuration? (--config)"
            )
        out[ours] = value.to(target[ours].dtype)
    missing = sorted(set(target) - set(out))
    if missing:
        raise ZooImportError(
            f"{source}: the file lacks {len(missing)} tensors the architecture needs, "
            f"e.g. {missing[0]}: is the file of another configuration? (--config)"
        )
    return out


def _box_predictor(name: str, value: torch.Tensor) -> torch.Tensor:
    """detectron2's box predictor in torchvision's layout: the background class (detectron2's
    last) first, and zero box regression for it (detectron2 regresses only the K classes)."""
    if name.startswith("roi_heads.box_predictor.cls_score."):
        return torch.cat([value[-1:], value[:-1]])
    if name.startswith("roi_heads.box_predictor.bbox_pred."):
        return torch.cat([torch.zeros_like(value[:4]), value])
    return value


def import_detectron2(
    path: str | Path, cfg: Config, out: str | Path, *, zoo_name: str | None = None
) -> Path:
    """Convert the detectron2 file ``path`` of architecture ``cfg`` into a studio checkpoint.

    The checkpoint is an ordinary one (``torch.load(weights_only=True)``, self-describing)
    whose (I, U, V) are the official DensePose charts, and it records where it came from.

    Returns:
        the checkpoint written (``out``, or ``out/model_imported.pth`` for a folder).

    Raises:
        ZooImportError: the file is unreadable, refused, or does not fit ``cfg``.
    """
    from model.engine.checkpoint import OFFICIAL_CHARTS, save_checkpoint
    from model.modeling.build import build_model

    path = Path(path)
    tensors = read_detectron2_file(path)
    torch.manual_seed(0)
    model = build_model(cfg.model)
    target = model.state_dict()
    state = convert_state(
        tensors,
        target,
        decoder_upsamples={level: level > 2 for level in range(2, 6)},
        deeplab=cfg.model.densepose.kind == "deeplab",
        source=str(path),
    )
    model.load_state_dict(state, strict=True)
    out = Path(out)
    if out.suffix != ".pth":
        out = out / "model_imported.pth"
    origin = {"detectron2_file": path.name, "sha256": _sha256(path), "zoo": zoo_name or ""}
    return save_checkpoint(
        out,
        config=cfg.to_dict(),
        atlas=dict(OFFICIAL_CHARTS),
        iteration=0,
        model=model.state_dict(),
        training=None,
        origin=origin,
    )


def _sha256(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
