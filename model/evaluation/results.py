"""Detections and the DensePose challenge results format (a JSON list, one record each).

A record is ``{"image_id", "category_id", "bbox": [x, y, w, h], "score", "uv_shape":
[3, H, W], "uv_data"}``: ``uv_data`` is the base64 text of an RGB PNG of ``H x W`` pixels
(``H = int(h)``, ``W = int(w)``, the detection's integer box) whose channels are I (0..24,
0 background), ``U * 255`` and ``V * 255``. The reference pipeline (detectron2
``quantize_densepose_chart_result`` then ``compress_quantized_densepose_chart_result``)
turns U, V into bytes by ``(uv * 255).clamp(0, 255)`` and a cast, i.e. *truncation*, and
writes the PNG with PIL, base64 with line breaks; the reference reader takes the PNG's
pixels in channel order [I, U, V] and reshapes them to ``uv_shape``. Decoded U, V are the
bytes divided by 255, so a round trip loses less than 1/255 and quantizing a decoded
result again gives the same bytes.

Scoring always reads predictions through this quantization (:func:`quantize`), as the
reference evaluator does, so a model's in-memory results and the same results written to a
file score identically.

An optional ``"gt_id"`` (our extension; other tools ignore it) names the ground-truth
annotation a prediction was made for, when predictions are made on the true boxes.
"""

from __future__ import annotations

import base64
import binascii
import io
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from annotator.dataset import jsonio
from annotator.dataset.errors import NO_VALUE, Problem
from annotator.surface.parts import N_FINE
from model.evaluation.errors import ResultsFormatError
from model.structures import DensePoseResult


@dataclass(frozen=True)
class Detection:
    """One detected person and its DensePose.

    Attributes:
        image_id: COCO image id.
        category_id: COCO category id (1, person).
        bbox: ``(x, y, w, h)`` float box, image pixels.
        score: detection confidence (higher first).
        densepose: labels and U, V over the integer box ``(int(x), int(y), int(w), int(h))``.
        gt_id: the ground-truth annotation id the prediction was made for (predictions on
            the true boxes), else None.
    """

    image_id: int
    category_id: int
    bbox: tuple[float, float, float, float]
    score: float
    densepose: DensePoseResult
    gt_id: int | None = None


def quantize(result: DensePoseResult) -> np.ndarray:
    """``[3, h, w]`` uint8 [I, U * 255, V * 255] exactly as the reference quantizes.

    The reference computes ``(uv * 255).clamp(0, 255).byte()`` in float32: the same float32
    product, clamp and truncating cast are done here in numpy (torch's per-call overhead on
    small maps costs more than the work).
    """
    h, w = result.labels.shape
    out = np.empty((3, h, w), np.uint8)
    out[0] = result.labels.numpy()
    uv = np.multiply(result.uv.numpy().astype(np.float32, copy=False), np.float32(255))
    out[1:] = np.clip(uv, 0, 255)
    return out


def encode_png(iuv: np.ndarray) -> str:
    """``[3, H, W]`` uint8 -> base64 text of an RGB PNG (PIL, as the reference writes it).

    An empty map (a box under one pixel wide or high) has no PNG: its text is empty.
    """
    from PIL import Image

    if iuv.size == 0:
        return ""
    stream = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(np.moveaxis(iuv, 0, -1))).save(stream, format="png")
    return base64.encodebytes(stream.getvalue()).decode("ascii")


def decode_png(text: str) -> np.ndarray:
    """Base64 PNG text -> ``[3, H, W]`` uint8 (palette PNGs are expanded to RGB).

    Raises:
        ValueError: not base64, not a PNG, or not an RGB (or palette) image.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        data = base64.b64decode(text)
        image: Image.Image = Image.open(io.BytesIO(data))
        image.load()
    except (binascii.Error, UnidentifiedImageError, OSError, ValueError) as exc:
        raise ValueError(f"not a base64 PNG ({exc})") from exc
    if image.mode == "P":
        image = image.convert("RGB")
    if image.mode != "RGB":
        raise ValueError(f"the PNG must be RGB (I, U, V channels), got mode {image.mode}")
    return np.moveaxis(np.asarray(image, dtype=np.uint8), -1, 0)


def encode_detection(detection: Detection) -> dict[str, Any]:
    """A detection as a results record."""
    iuv = quantize(detection.densepose)
    record: dict[str, Any] = {
        "image_id": int(detection.image_id),
        "category_id": int(detection.category_id),
        "bbox": [float(c) for c in detection.bbox],
        "score": float(detection.score),
        "uv_shape": [int(s) for s in iuv.shape],
        "uv_data": encode_png(iuv),
    }
    if detection.gt_id is not None:
        record["gt_id"] = int(detection.gt_id)
    return record


def decode_detection(record: Any, file: str = "<results>", index: int = 0) -> Detection:
    """A results record as a detection.

    Raises:
        ResultsFormatError: a field is missing or wrong (the message names file, record
            and field).
    """
    where = f"result {index}"
    problems = _record_problems(record, file, where)
    if problems:
        raise ResultsFormatError(problems)
    where += f" (image {record['image_id']})"
    shape = [int(s) for s in record["uv_shape"]]
    try:
        empty = record["uv_data"] == "" and 0 in shape
        iuv = np.zeros(shape, np.uint8) if empty else decode_png(record["uv_data"])
    except ValueError as exc:
        raise ResultsFormatError([Problem(file, where, "uv_data", NO_VALUE, str(exc))]) from exc
    if list(iuv.shape) != shape:
        message = f"the PNG holds {list(iuv.shape)} ([3, height, width]), not uv_shape"
        raise ResultsFormatError([Problem(file, where, "uv_shape", shape, message)])
    if iuv[0].size and int(iuv[0].max()) > N_FINE:
        message = f"channel I holds {int(iuv[0].max())}; charts are 0..{N_FINE}"
        raise ResultsFormatError([Problem(file, where, "uv_data", NO_VALUE, message)])
    x, y, w, h = (float(c) for c in record["bbox"])
    labels = torch.from_numpy(np.ascontiguousarray(iuv[0]))
    uv = torch.from_numpy(iuv[1:].astype(np.float32) / np.float32(255.0))
    result = DensePoseResult(box=(int(x), int(y), shape[2], shape[1]), labels=labels, uv=uv)
    gt_id = record.get("gt_id")
    return Detection(
        int(record["image_id"]), int(record["category_id"]), (x, y, w, h),
        float(record["score"]), result, None if gt_id is None else int(gt_id),
    )  # fmt: skip


def _is_int(value: Any) -> bool:
    return type(value) is int


def _is_number(value: Any) -> bool:
    return type(value) in (int, float) and math.isfinite(value)


def _record_problems(record: Any, file: str, where: str) -> list[Problem]:
    """Every problem of one record's fields (the PNG itself is checked when decoded)."""
    if not isinstance(record, dict):
        return [Problem(file, where, "", type(record).__name__, "must be a JSON object")]
    problems = []

    def check(key: str, ok: bool, message: str) -> None:
        value = record.get(key, NO_VALUE)
        if value is NO_VALUE:
            problems.append(Problem(file, where, key, NO_VALUE, "missing"))
        elif not ok:
            problems.append(Problem(file, where, key, value, message))

    box: Any = record.get("bbox")
    shape: Any = record.get("uv_shape")
    gt_id = record.get("gt_id")
    check("image_id", _is_int(record.get("image_id")), "must be an integer")
    check("category_id", _is_int(record.get("category_id")), "must be an integer")
    box_ok = isinstance(box, list) and len(box) == 4 and all(map(_is_number, box))
    check("bbox", box_ok and box[2] >= 0 and box[3] >= 0, "must be [x, y, w, h], w, h >= 0")
    check("score", _is_number(record.get("score")), "must be a finite number")
    shape_ok = isinstance(shape, list) and len(shape) == 3 and all(map(_is_int, shape))
    check("uv_shape", shape_ok and shape[0] == 3 and min(shape) >= 0, "must be [3, H, W]")
    check("uv_data", isinstance(record.get("uv_data"), str), "must be base64 PNG text")
    if gt_id is not None and not _is_int(gt_id):
        problems.append(Problem(file, where, "gt_id", gt_id, "must be an integer"))
    return problems


def decode_results(records: Any, file: str = "<results>") -> list[Detection]:
    """A parsed results list as detections (every malformed record is reported at once)."""
    if not isinstance(records, list):
        message = "a results file is a JSON list of records"
        raise ResultsFormatError([Problem(file, "", "", type(records).__name__, message)])
    detections, problems = [], []
    for index, record in enumerate(records):
        try:
            detections.append(decode_detection(record, file, index))
        except ResultsFormatError as exc:
            problems += exc.problems
    if problems:
        raise ResultsFormatError(problems)
    return detections


def read_results(path: str | Path) -> list[Detection]:
    """Read a results JSON file.

    Raises:
        ResultsFormatError: missing file, not JSON, or malformed records (all named).
    """
    name = str(path)
    try:
        records = jsonio.load_file(path)
    except FileNotFoundError:
        raise ResultsFormatError([Problem(name, "", "", NO_VALUE, "file not found")]) from None
    except jsonio.JSONDecodeError as exc:
        message = f"not valid JSON ({exc.msg}; truncated file?)"
        problem = Problem(name, f"line {exc.lineno}, column {exc.colno}", "", NO_VALUE, message)
        raise ResultsFormatError([problem]) from exc
    except (OSError, UnicodeDecodeError) as exc:
        problem = Problem(name, "", "", NO_VALUE, f"cannot be read: {exc}")
        raise ResultsFormatError([problem]) from exc
    return decode_results(records, name)


def write_results(path: str | Path, detections: Iterable[Detection]) -> None:
    """Write detections as a results JSON file (through a temporary file, then renamed)."""
    path = Path(path)
    text = jsonio.dumps([encode_detection(d) for d in detections])
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
