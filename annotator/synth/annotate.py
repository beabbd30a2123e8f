"""COCO / DensePose-COCO records of a rendered sample, as annotated data would look.

Per listed person (see :mod:`annotator.synth.render_scene` for the thresholds):

* ``bbox`` of its visible pixels, ``area`` (visible pixels), ``segmentation`` (compressed
  RLE of its instance mask), ``iscrowd`` 0, COCO ``keypoints`` with visibility flags and
  ``num_keypoints``, and ``instance`` (its number in the instance map, an extra key that
  COCO tools ignore);
* for annotated persons, ``dp_masks`` (the 14 coarse parts over the box, 256 x 256,
  :mod:`annotator.dataset.masks`) and DensePose points sampled exactly as the annotation
  protocol samples them (:func:`annotator.dataset.sampling.sample_mask`: k-means in each
  part mask, count growing with the part's area, at most 14 per part), each with the true
  (I, U, V) of its pixel. Points are sampled in the *skin* part mask, i.e. without the eyes
  and mouth interior, so that every point has a surface point; ``dp_masks`` cover them.

Coordinates: COCO keypoints are pixel indices (detectron2 adds 0.5 when loading): a keypoint
at continuous position x is written as x - 0.5. ``dp_x = (x - box_x) / box_w * 255`` as in
:mod:`annotator.dataset.densepose_io`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from annotator.dataset.densepose_io import DP_DECIMALS
from annotator.dataset.masks import labels_to_rles, to_box256
from annotator.dataset.records import Box, PartMask, SamplePoints
from annotator.dataset.sampling import SamplingParams, sample_mask
from annotator.synth.render_scene import PersonTruth, SynthSample

#: Decimals kept for dp_U and dp_V.
UV_DECIMALS = 6


def annotation_id(image_index: int, instance: int) -> int:
    """The annotation id of person ``instance`` (1-based) of image ``image_index``."""
    return (image_index + 1) * 100 + instance


def image_record(sample: SynthSample, file_name: str, **extra: Any) -> dict[str, Any]:
    """The COCO image record (id = index + 1) with extra keys (e.g. the truth files)."""
    record = {
        "id": sample.scene.index + 1,
        "file_name": file_name,
        "width": sample.scene.width,
        "height": sample.scene.height,
    }
    record.update(extra)
    return record


def person_annotations(
    sample: SynthSample, params: SamplingParams | None = None
) -> list[dict[str, Any]]:
    """COCO person records of the listed persons of ``sample``."""
    return [
        _annotation(sample, person, params)
        for person in sample.persons
        if person.listed and person.box is not None
    ]


def segmentation_rle(mask: np.ndarray) -> dict[str, Any]:
    """COCO compressed RLE (``{"size": [H, W], "counts": str}``) of a ``[H, W]`` bool mask."""
    from pycocotools import mask as mask_utils

    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": list(mask.shape), "counts": rle["counts"].decode("ascii")}


def _annotation(
    sample: SynthSample, person: PersonTruth, params: SamplingParams | None
) -> dict[str, Any]:
    assert person.box is not None
    keypoints = coco_keypoints(person.keypoints)
    ann: dict[str, Any] = {
        "id": annotation_id(sample.scene.index, person.instance),
        "image_id": sample.scene.index + 1,
        "category_id": 1,
        "iscrowd": 0,
        "area": float(person.pixels),
        "bbox": [float(v) for v in person.box],
        "segmentation": segmentation_rle(sample.instance == person.instance),
        "keypoints": keypoints,
        "num_keypoints": int(np.count_nonzero(person.keypoints[:, 2])),
        "instance": person.instance,
    }
    if person.annotated:
        ann.update(densepose_fields(sample, person, params))
    return ann


def coco_keypoints(keypoints: np.ndarray) -> list[float]:
    """``[17, 3]`` (x, y continuous pixels, v) -> the 51 COCO numbers (pixel indices; 0, 0, 0
    for keypoints outside the frame)."""
    out: list[float] = []
    for x, y, v in keypoints:
        if v > 0:
            out += [round(float(x) - 0.5, 2), round(float(y) - 0.5, 2), int(v)]
        else:
            out += [0, 0, 0]
    return out


def person_part_masks(sample: SynthSample, person: PersonTruth) -> tuple[PartMask, PartMask]:
    """The person's coarse part label maps cropped to its box: (whole silhouette, with eyes
    and mouth as head; skin only)."""
    assert person.box is not None
    x, y, w, h = (int(v) for v in person.box)
    own = sample.instance[y : y + h, x : x + w] == person.instance
    parts = np.where(own, sample.parts[y : y + h, x : x + w], 0).astype(np.uint8)
    skin = np.where(sample.face[y : y + h, x : x + w] >= 0, parts, 0).astype(np.uint8)
    return PartMask(parts, x, y), PartMask(skin, x, y)


def sample_points(
    sample: SynthSample, person: PersonTruth, params: SamplingParams | None = None
) -> SamplePoints:
    """The person's stage-2 points, sampled as the protocol samples them (skin part mask)."""
    _, skin = person_part_masks(sample, person)
    seed = sample.scene.people[person.instance - 1].sample_seed
    return sample_mask(skin, params=params, seed=seed)


def densepose_fields(
    sample: SynthSample, person: PersonTruth, params: SamplingParams | None = None
) -> dict[str, Any]:
    """``dp_masks`` and the five ``dp_`` point lists of an annotated person."""
    assert person.box is not None
    box = Box(*person.box)
    whole, _ = person_part_masks(sample, person)
    points = sample_points(sample, person, params)
    cols = np.floor(points.x).astype(np.int64)
    rows = np.floor(points.y).astype(np.int64)
    i = sample.i[rows, cols]
    if np.any(i == 0):
        raise AssertionError("a sampled point has no surface point")
    dx = (points.x - box.x) / box.w * 255.0
    dy = (points.y - box.y) / box.h * 255.0
    return {
        "dp_masks": labels_to_rles(to_box256(whole, box)),
        "dp_x": np.round(np.clip(dx, 0, 255), DP_DECIMALS).tolist(),
        "dp_y": np.round(np.clip(dy, 0, 255), DP_DECIMALS).tolist(),
        "dp_I": i.astype(int).tolist(),
        "dp_U": np.round(sample.u[rows, cols].astype(np.float64), UV_DECIMALS).tolist(),
        "dp_V": np.round(sample.v[rows, cols].astype(np.float64), UV_DECIMALS).tolist(),
    }
