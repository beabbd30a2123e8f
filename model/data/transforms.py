"""Training augmentation: horizontal flip of an image and all its targets; a size cap.

The flip follows detectron2's DensePose mapper: box-frame points go ``x -> 256 - x`` (the
model reads them as ``x0 + x * w / 256``, so the mirror of the box's column ``x`` is
``256 - x``), each point's (I, U, V) goes through the chart symmetry table
(:mod:`model.data.flip`), the ``dp_masks`` label maps are mirrored and their coarse parts
swapped (``FLIP_COARSE``), keypoints swap left and right. Image, boxes and instance masks
mirror about the image's vertical axis in continuous pixel coordinates (``x -> W - x``).

The model's own transform (torchvision's ``GeneralizedRCNNTransform``) does the scale
jitter; :func:`cap_size` only keeps huge photos from costing memory before that.

Every random draw comes from the ``numpy.random.Generator`` passed in, which the loader
seeds from (run seed, position in the sample stream): augmentation is a pure function of
those two numbers (:mod:`model.data.loader`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import torch

from annotator.surface.parts import COCO_KEYPOINTS, FLIP_COARSE
from model.data.flip import FlipTable
from model.structures import DensePoseTargets

Target = dict[str, Any]

_FLIP_COARSE_U8 = FLIP_COARSE.astype(np.uint8)
_FLIP_COARSE_T = torch.from_numpy(_FLIP_COARSE_U8)


def keypoint_flip_indices(names: tuple[str, ...] = COCO_KEYPOINTS) -> list[int]:
    """For each keypoint, the index of its mirror (``left_*`` <-> ``right_*``)."""
    index = {name: k for k, name in enumerate(names)}
    out = []
    for name in names:
        if name.startswith("left_"):
            name = "right_" + name[5:]
        elif name.startswith("right_"):
            name = "left_" + name[6:]
        out.append(index[name])
    return out


#: COCO's 17 keypoints after a horizontal flip: ``flipped[k] = original[KEYPOINT_FLIP[k]]``.
KEYPOINT_FLIP = keypoint_flip_indices()


def hflip(
    image: torch.Tensor, target: Target, table: FlipTable, *, exact: bool = True
) -> tuple[torch.Tensor, Target]:
    """Mirror an image ``[3, H, W]`` and its target left/right.

    Args:
        image: the image.
        target: torchvision detection target with ``"densepose"`` (see model.structures).
        table: the chart symmetry of the atlas the (I, U, V) refer to.
        exact: flip points to the chart their mirror lies on (see
            :meth:`FlipTable.flip_points`); False: always ``FLIP_FINE[I]``, as the reference.
    """
    width = image.shape[-1]
    out = dict(target)
    boxes = target["boxes"]
    out["boxes"] = torch.stack(
        [width - boxes[:, 2], boxes[:, 1], width - boxes[:, 0], boxes[:, 3]], dim=1
    )
    if "masks" in target:
        out["masks"] = flip_columns(target["masks"])
    if "keypoints" in target:
        kp = target["keypoints"].clone()
        labelled = kp[..., 2] > 0
        kp[..., 0] = torch.where(labelled, width - kp[..., 0], kp[..., 0])
        if kp.shape[1] == len(KEYPOINT_FLIP):
            kp = kp[:, KEYPOINT_FLIP]
        out["keypoints"] = kp
    if "densepose" in target:
        out["densepose"] = flip_densepose(target["densepose"], table, exact=exact)
    return flip_columns(image), out


def flip_columns(tensor: torch.Tensor) -> torch.Tensor:
    """``tensor`` with its last axis reversed (a copy).

    CPU tensors are flipped by numpy: torch's multi-threaded copy took 7 ms instead of
    0.1 ms for a 3 x 512 x 512 image on a busy two-core machine (NOTES-data.md).
    """
    if tensor.device.type != "cpu" or tensor.requires_grad:
        return tensor.flip(-1)
    return torch.from_numpy(np.ascontiguousarray(tensor.numpy()[..., ::-1]))


def flip_densepose(
    dp: DensePoseTargets, table: FlipTable, *, exact: bool = True
) -> DensePoseTargets:
    """The targets of the mirrored persons (box frame: ``x -> 256 - x``)."""
    i, u, v = table.flip_points(dp.i, dp.u, dp.v, exact=exact)
    if dp.masks.device.type == "cpu":  # numpy, as flip_columns
        masks = torch.from_numpy(_FLIP_COARSE_U8[dp.masks.numpy()[..., ::-1]])
        x = torch.from_numpy(np.float32(256.0) - dp.x.numpy())
    else:
        masks = _FLIP_COARSE_T.to(dp.masks.device)[dp.masks.flip(-1).long()]
        x = 256.0 - dp.x
    return replace(dp, x=x, i=i, u=u, v=v, masks=masks)


def cap_size(image: np.ndarray, target: Target, max_size: int) -> tuple[np.ndarray, Target, float]:
    """Shrink an image ``[H, W, 3]`` uint8 (and its target) so its longer side is at most
    ``max_size`` pixels.

    Resized with Pillow (box filter, i.e. area averaging), not OpenCV: OpenCV's thread pool
    is not fork-safe (:mod:`model.data.loader`).

    Returns:
        ``(image, target, scale)``: scale 1.0 and the inputs unchanged when already small
        enough; else the resized image, boxes and keypoints scaled, instance masks resampled
        (nearest: each new pixel takes the old pixel under its centre). DensePose targets
        live in the box frame and do not change.
    """
    from PIL import Image

    h, w = image.shape[:2]
    if max(h, w) <= max_size:
        return image, target, 1.0
    scale = max_size / max(h, w)
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    sx, sy = new_w / w, new_h / h
    pil = Image.fromarray(np.ascontiguousarray(image))
    resized = np.asarray(pil.resize((new_w, new_h), Image.Resampling.BOX))
    out = dict(target)
    out["boxes"] = target["boxes"] * torch.tensor([sx, sy, sx, sy], dtype=torch.float32)
    if "keypoints" in target:
        kp = target["keypoints"].clone()
        kp[..., 0] *= sx
        kp[..., 1] *= sy
        out["keypoints"] = kp
    if "masks" in target:
        rows = np.minimum(((np.arange(new_h) + 0.5) / sy).astype(np.int64), h - 1)
        cols = np.minimum(((np.arange(new_w) + 0.5) / sx).astype(np.int64), w - 1)
        masks = target["masks"].numpy()
        out["masks"] = torch.from_numpy(np.ascontiguousarray(masks[:, rows][:, :, cols]))
    return resized, out, scale


class TrainTransform:
    """The training augmentation: a horizontal flip with probability ``flip_prob``.

    Args:
        flip_table: the chart symmetry of the data's atlas (None: never flip).
        flip_prob: chance of a flip, in [0, 1].
        exact_flip: see :func:`hflip`.
    """

    def __init__(
        self, *, flip_table: FlipTable | None, flip_prob: float = 0.5, exact_flip: bool = True
    ) -> None:
        if not 0.0 <= flip_prob <= 1.0:
            raise ValueError(f"flip_prob must be in [0, 1], got {flip_prob}")
        if flip_table is None and flip_prob > 0:
            raise ValueError("a flip needs the chart symmetry table (flip_table)")
        self.flip_table = flip_table
        self.flip_prob = flip_prob
        self.exact_flip = exact_flip

    def __call__(
        self, image: torch.Tensor, target: Target, rng: np.random.Generator
    ) -> tuple[torch.Tensor, Target]:
        flip = rng.random() < self.flip_prob  # always drawn: the stream of draws is fixed
        if flip and self.flip_table is not None:
            image, target = hflip(image, target, self.flip_table, exact=self.exact_flip)
        return image, target
