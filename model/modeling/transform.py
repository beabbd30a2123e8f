"""detectron2's input convention inside torchvision's image transform.

A model of detectron2's zoo was trained on images that ``ResizeShortestEdge`` resized *as
uint8* (Pillow's bilinear filter, which averages over the source pixels when shrinking), then
turned into BGR floats in [0, 255] minus a pixel mean. torchvision resizes the normalised
float image by interpolation instead. The difference is small but not zero, and a zoo model
must see what it was trained on to give detectron2's outputs, so :class:`Detectron2Transform`
does it detectron2's way: our images stay RGB floats in [0, 1] everywhere else (they come
from uint8 files, so ``round(x * 255)`` gives the file's bytes back exactly).

``ResizeShortestEdge`` output size for a shorter side ``s`` and a longer-side cap ``m``::

    h', w' = h * s / min(h, w), w * s / min(h, w)      (shorter side to s)
    if max(h', w') > m: h', w' = h' * m / max(h', w'), w' * m / max(h', w')
    new_h, new_w = int(h' + 0.5), int(w' + 0.5)

(torchvision floors instead of rounding).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F
from torchvision.models.detection.roi_heads import paste_masks_in_image
from torchvision.models.detection.transform import (
    GeneralizedRCNNTransform,
    resize_boxes,
    resize_keypoints,
)
from torchvision.ops import boxes as box_ops


def shortest_edge_size(height: int, width: int, short: int, max_size: int) -> tuple[int, int]:
    """``(new_h, new_w)`` of detectron2's ``ResizeShortestEdge`` (see the module docstring)."""
    scale = short * 1.0 / min(height, width)
    if height < width:
        new_h, new_w = float(short), scale * width
    else:
        new_h, new_w = scale * height, float(short)
    if max(new_h, new_w) > max_size:
        scale = max_size * 1.0 / max(new_h, new_w)
        new_h, new_w = new_h * scale, new_w * scale
    return int(new_h + 0.5), int(new_w + 0.5)


def resize_uint8(image: Tensor, size: tuple[int, int]) -> Tensor:
    """An RGB float image ``[3, H, W]`` in [0, 1], resized as its uint8 bytes by Pillow's
    bilinear filter; float ``[3, h, w]`` in [0, 255] on the CPU."""
    from PIL import Image

    pixels = (image.detach().cpu() * 255.0).round_().clamp_(0, 255).to(torch.uint8)
    pil = Image.fromarray(np.ascontiguousarray(pixels.permute(1, 2, 0).numpy()))
    resized = np.asarray(pil.resize((size[1], size[0]), Image.Resampling.BILINEAR))
    return torch.from_numpy(resized.astype(np.float32)).permute(2, 0, 1)


class Detectron2Transform(GeneralizedRCNNTransform):
    """torchvision's transform with detectron2's resize and input format.

    Args:
        min_size: shorter sides to draw from in training (the last one in inference).
        max_size: cap of the longer side.
        image_mean, image_std: per channel, in the network's channel order and value scale.
        bgr: feed the network BGR (detectron2's ``INPUT.FORMAT`` "BGR").
        scale: the network's value of a white pixel (255: detectron2; 1: torchvision).
    """

    def __init__(
        self,
        min_size: tuple[int, ...],
        max_size: int,
        image_mean: list[float],
        image_std: list[float],
        *,
        bgr: bool = True,
        scale: float = 255.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(min_size, max_size, image_mean, image_std, **kwargs)
        self.bgr = bgr
        self.scale = scale

    def normalize(self, image: Tensor) -> Tensor:
        """Nothing yet: detectron2 normalises after resizing (see :meth:`resize`)."""
        if not image.is_floating_point():
            raise TypeError(f"expected a float image in [0, 1], got {image.dtype}")
        return image

    def resize(
        self, image: Tensor, target: dict[str, Tensor] | None = None
    ) -> tuple[Tensor, dict[str, Tensor] | None]:
        h, w = image.shape[-2:]
        short = self.torch_choice(list(self.min_size)) if self.training else self.min_size[-1]
        size = shortest_edge_size(int(h), int(w), int(short), int(self.max_size))
        out = resize_uint8(image, size).to(image.device)
        if self.bgr:
            out = out.flip(0)
        if self.scale != 255.0:
            out = out * (self.scale / 255.0)
        mean = torch.as_tensor(self.image_mean, dtype=out.dtype, device=out.device)
        std = torch.as_tensor(self.image_std, dtype=out.dtype, device=out.device)
        out = ((out - mean[:, None, None]) / std[:, None, None]).to(image.dtype)
        if target is None:
            return out, None
        target["boxes"] = resize_boxes(target["boxes"], (h, w), size)
        if "keypoints" in target:
            target["keypoints"] = resize_keypoints(target["keypoints"], (h, w), size)
        if "masks" in target:
            masks = target["masks"][:, None].float()
            target["masks"] = F.interpolate(masks, size=size)[:, 0].byte()
        return out, target

    def postprocess(
        self,
        result: list[dict[str, Any]],
        image_shapes: list[tuple[int, int]],
        original_image_sizes: list[tuple[int, int]],
    ) -> list[dict[str, Any]]:
        """Boxes back to the original image as detectron2's ``detector_postprocess``: scaled,
        clipped to the image, empty ones dropped with everything predicted for them."""
        if self.training:
            return result
        for pred, (h, w), (out_h, out_w) in zip(
            result, image_shapes, original_image_sizes, strict=True
        ):
            boxes = pred["boxes"].clone()
            boxes[:, 0::2] *= out_w / w
            boxes[:, 1::2] *= out_h / h
            boxes = box_ops.clip_boxes_to_image(boxes, (out_h, out_w))
            keep = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
            if not bool(keep.all()):  # copying every output (DensePose maps) costs
                for key, value in list(pred.items()):
                    pred[key] = value[keep]
                boxes = boxes[keep]
            pred["boxes"] = boxes
            if "masks" in pred:
                pred["masks"] = paste_masks_in_image(pred["masks"], pred["boxes"], (out_h, out_w))
            if "keypoints" in pred:
                pred["keypoints"] = resize_keypoints(pred["keypoints"], (h, w), (out_h, out_w))
        return result
