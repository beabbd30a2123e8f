"""A trained model, ready to run on images: from a checkpoint to per-person DensePose."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from model.config import Config
from model.data.flip import FlipTable
from model.engine.checkpoint import Checkpoint, load_checkpoint
from model.engine.distributed import pick_device
from model.inference.tta import Augmentation, augmented
from model.modeling.heads import ChartPredictor
from model.modeling.postprocess import to_results
from model.structures import DensePoseResult


@dataclass(frozen=True)
class PersonPrediction:
    """One detected (or given) person.

    Attributes:
        box: ``(x0, y0, x1, y1)`` float, image pixels.
        score: detection score in [0, 1] (1.0 for a given box).
        densepose: labels and U, V over the integer box.
    """

    box: tuple[float, float, float, float]
    score: float
    densepose: DensePoseResult

    @property
    def xywh(self) -> list[float]:
        x0, y0, x1, y1 = self.box
        return [x0, y0, x1 - x0, y1 - y0]


def image_tensor(image: np.ndarray) -> torch.Tensor:
    """RGB uint8 ``[H, W, 3]`` -> float ``[3, H, W]`` in [0, 1] (the model normalises)."""
    pixels = np.ascontiguousarray(image)
    if not pixels.flags.writeable:  # e.g. np.asarray of a Pillow image: torch wants its own
        pixels = pixels.copy()
    return torch.from_numpy(pixels).permute(2, 0, 1).float().div_(255.0)


def load_model(checkpoint: Checkpoint, device: torch.device) -> tuple[nn.Module, Config]:
    """Rebuild a checkpoint's network and load its weights."""
    from model.modeling.build import build_model

    cfg = Config.from_dict(checkpoint.config, source=str(checkpoint.path))
    model = build_model(cfg.model)
    model.load_state_dict(checkpoint.model)
    return model.to(device).eval(), cfg


def for_inference(model: nn.Module, *, fast: bool = False) -> nn.Module:
    """Lay a model out for inference (in place; for a model nobody trains any more).

    By default nothing changes: a detectron2 zoo model's outputs are then bit for bit
    detectron2's. With ``fast``, on the CPU, the convolutions run in NHWC
    (``channels_last``): a zoo model's inference is about a tenth faster (0.90 of
    detectron2's time, median of the 27 at 512 and 800 px), and its outputs differ from
    detectron2's in the last bits (``scripts/check_detectron2.py`` measures both).
    """
    device = next(model.parameters()).device
    if device.type == "cpu" and fast:
        model.to(memory_format=torch.channels_last)
    return model


def flip_table_of(ckpt: Checkpoint, uv_symmetry: Path | None) -> FlipTable:
    """The chart symmetry of a checkpoint's charts: its atlas's, or for the official DensePose
    charts the reference ``UV_symmetry_transforms.mat`` (which the user downloads)."""
    from annotator.surface.atlas import load_atlas
    from model.data.flip import load_flip_table

    if ckpt.official_charts:
        if uv_symmetry is None:
            raise ValueError(
                "test-time flip of a model of the official DensePose charts needs DensePose's "
                "UV_symmetry_transforms.mat (--uv-symmetry FILE; detectron2 publishes it at "
                "https://dl.fbaipublicfiles.com/densepose/data/UV_symmetry_transforms.mat); "
                "--tta-scales without --tta flips nothing"
            )
        return FlipTable.from_reference_mat(uv_symmetry)
    return load_flip_table(load_atlas(ckpt.atlas["body"]))


class Predictor:
    """Runs a model on images.

    Args:
        model: the network (put in eval mode; inputs go to its device).
        score_threshold: detections below it are dropped.
        atlas: ``{"body", "digest"}`` of the atlas its (I, U, V) refer to.
        confidences: also give the model's confidence maps (pictures show them; none under
            test-time augmentation).
        tta: test-time augmentation (:mod:`model.inference.tta`), or None.
        flip_table: the chart symmetry of the model's charts (test-time flip needs it).
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        score_threshold: float = 0.5,
        atlas: dict[str, str] | None = None,
        confidences: bool = False,
        tta: Augmentation | None = None,
        flip_table: FlipTable | None = None,
    ) -> None:
        self.model = model.eval()
        self.confidences = confidences
        for module in model.modules():  # uncertainty maps only when they are shown
            if isinstance(module, ChartPredictor):
                module.uv_confidences = confidences
        self.tta = tta
        self.flip_table = flip_table
        if tta is not None and tta.flip and flip_table is None:
            raise ValueError("test-time flip needs the chart symmetry of the model's charts")
        self.device = next(model.parameters()).device

        self.score_threshold = score_threshold
        self.atlas = atlas or {"body": "anny"}

    @classmethod
    def from_checkpoint(
        cls,
        checkpoint: str | Path | Checkpoint,
        *,
        device: str = "auto",
        score_threshold: float = 0.5,
        confidences: bool = False,
        fast: bool = False,
        tta: Augmentation | None = None,
        uv_symmetry: Path | None = None,
    ) -> Predictor:
        """A checkpoint file or run folder (or a loaded :class:`Checkpoint`) on a device
        (``fast``: see :func:`for_inference`; ``tta``: test-time augmentation, whose flip
        needs, for a model of the official DensePose charts, DensePose's
        ``UV_symmetry_transforms.mat`` as ``uv_symmetry``)."""
        ckpt = checkpoint if isinstance(checkpoint, Checkpoint) else load_checkpoint(checkpoint)
        model, _ = load_model(ckpt, pick_device(device))
        for_inference(model, fast=fast)
        table = flip_table_of(ckpt, uv_symmetry) if tta is not None and tta.flip else None
        return cls(
            model,
            score_threshold=score_threshold,
            atlas=ckpt.atlas,
            confidences=confidences,
            tta=tta,
            flip_table=table,
        )

    @torch.no_grad()
    def __call__(self, image: np.ndarray) -> list[PersonPrediction]:
        """The persons the model finds in an RGB uint8 image, best first."""
        tensor = image_tensor(image).to(self.device)
        if self.tta is not None:
            return self._found(augmented(self.model, tensor, self.tta, self.flip_table))
        (out,) = self.model([tensor])
        return self._found(out)

    @torch.no_grad()
    def on_boxes(self, image: np.ndarray, boxes_xyxy: np.ndarray) -> list[PersonPrediction]:
        """DensePose of the persons in given boxes (``[N, 4]`` xyxy image pixels)."""
        return self.detect_and_on_boxes(image, boxes_xyxy, detect=False)[1]

    @torch.no_grad()
    def detect_and_on_boxes(
        self, image: np.ndarray, boxes_xyxy: np.ndarray, detect: bool = True
    ) -> tuple[list[PersonPrediction], list[PersonPrediction]]:
        """The persons the model finds, and the DensePose of given boxes, from one pass of the
        backbone (both lists as :meth:`__call__` and :meth:`on_boxes` give them)."""
        boxes = torch.as_tensor(np.asarray(boxes_xyxy, np.float32).reshape(-1, 4))
        tensor = image_tensor(image).to(self.device)
        if self.tta is not None:
            people = self(image) if detect else []
            out = augmented(self.model, tensor, self.tta, self.flip_table, boxes.to(self.device))
            given = out["densepose"]
        else:
            found, (given,) = self.model.detect_and_densepose(  # type: ignore[operator]
                [tensor], [boxes.to(self.device)], detect=detect
            )
            people = self._found(found[0]) if detect else []
        results = to_results(given.to("cpu"), boxes, confidences=self.confidences)
        return people, [
            PersonPrediction(tuple(float(v) for v in b), 1.0, r)  # type: ignore[arg-type]
            for b, r in zip(boxes, results, strict=True)
        ]

    def _found(self, out: dict[str, Any]) -> list[PersonPrediction]:
        keep = out["scores"] >= self.score_threshold
        count = int(keep.sum())
        if bool(keep[:count].all()):  # sorted by score: a slice, which copies no map
            keep = slice(0, count)
        boxes = out["boxes"][keep].cpu()
        maps = out["densepose"][keep].to("cpu")
        results = to_results(maps, boxes, confidences=self.confidences)
        return [
            PersonPrediction(tuple(float(v) for v in b), float(s), r)  # type: ignore[arg-type]
            for b, s, r in zip(boxes, out["scores"][keep].tolist(), results, strict=True)
        ]
