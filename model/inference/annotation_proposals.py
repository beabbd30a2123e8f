"""A model's DensePose of a person, turned into what an annotator would have made of it.

Pre-annotation (docs/adr/0009-models-in-the-app.md) proposes, for each person, the three
things people make in the app:

* the **14-part mask** (stage 1): the predicted chart of each pixel of the person's box,
  mapped to its coarse part (``FINE_TO_COARSE``);
* the **sample points** (stage 2 input): the person's own when it has some, else sampled in
  the proposed mask exactly as the app samples a painted one (k-means per part);
* the **answers** (stage 2): at each point, the predicted (I, U, V) of its pixel, and the
  surface point it names on the body (the atlas's ``from_iuv``); a point the model sees as
  background stays unanswered.

This module is numpy only (no torch), so the app can read proposal files without loading
the model's stack; :mod:`model.inference.preannotate` runs the network and writes them.

A proposal file is one ``.npz`` (no pickles): ``meta`` (JSON: model name, checkpoint, one
record per person) and, per person ``k``, arrays ``mask_k``, ``points_k`` and ``answers_k``.
"""

from __future__ import annotations

import io
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from annotator.dataset import blobs
from annotator.dataset.records import (
    Answers,
    AnswerStatus,
    Box,
    PartMask,
    PersonProposal,
    SamplePoints,
)
from annotator.dataset.sampling import sample_mask
from annotator.surface.atlas import Atlas
from annotator.surface.parts import FINE_TO_COARSE

FORMAT = "dpstudio-proposals"


def machine_name(checkpoint: Path | str, run: str | None, iteration: int) -> str:
    """The machine annotator of a checkpoint: ``model:<run folder>@<iteration>``
    (``model:zoo:<name>@0`` for a zoo model)."""
    if str(checkpoint).startswith("zoo:"):
        return f"model:{checkpoint}@{iteration}"
    checkpoint = Path(checkpoint)
    folder = checkpoint if checkpoint.is_dir() else checkpoint.parent
    return f"model:{run or folder.name}@{iteration}"


def to_proposal(
    *,
    image_id: int,
    box: Box,
    score: float,
    maps_box: tuple[int, int, int, int],
    labels: np.ndarray,
    uv: np.ndarray,
    model: str,
    atlas: Atlas | None,
    image_size: tuple[int, int],
    person_id: int | None = None,
    points: SamplePoints | None = None,
) -> PersonProposal:
    """One person's proposal from the model's maps over its box.

    Args:
        image_id: the image.
        box: the person's box (drawn by a person, or found by the model).
        score: detection score in [0, 1].
        maps_box: ``(x, y, w, h)`` ints: the pixels the maps cover.
        labels: ``[h, w]`` uint8 predicted chart 0..24 (0 background).
        uv: ``[2, h, w]`` float predicted U and V in [0, 1].
        model: the machine annotator's name.
        atlas: the body's charts ((I, U, V) -> surface points); None when the model speaks
            other charts than the project (then no answers, only the mask and points).
        image_size: ``(width, height)`` of the image, pixels.
        person_id: the existing person, or None for a found one.
        points: the person's sample points, if it has some.
    """
    mask = _coarse_mask(maps_box, labels, image_size)
    if points is None and mask is not None:
        points = sample_mask(mask)
        points = points if len(points) else None
    answers = None
    if points is not None and len(points) and atlas is not None:
        answers = answers_at(points, maps_box, labels, uv, model, atlas)
    return PersonProposal(
        image_id=image_id,
        box=box,
        score=float(score),
        person_id=person_id,
        mask=mask,
        points=points,
        answers=answers,
    )


def _coarse_mask(
    maps_box: tuple[int, int, int, int], labels: np.ndarray, image_size: tuple[int, int]
) -> PartMask | None:
    """The 14-part mask of the predicted charts, cut to the image (None if empty)."""
    x, y, w, h = maps_box
    width, height = image_size
    c0, r0 = max(0, -x), max(0, -y)
    c1, r1 = min(w, width - x), min(h, height - y)
    if c1 <= c0 or r1 <= r0:
        return None
    coarse = FINE_TO_COARSE[np.asarray(labels)[r0:r1, c0:c1]].astype(np.uint8)
    if not coarse.any():
        return None
    return PartMask(coarse, x + c0, y + r0)


def answers_at(
    points: SamplePoints,
    maps_box: tuple[int, int, int, int],
    labels: np.ndarray,
    uv: np.ndarray,
    model: str,
    atlas: Atlas,
) -> Answers:
    """The model's answers at ``points``: the predicted (I, U, V) of each point's pixel and
    its surface point; unanswered where the pixel is background or outside the maps."""
    x, y, w, h = maps_box
    col = np.floor(points.x).astype(np.int64) - x
    row = np.floor(points.y).astype(np.int64) - y
    inside = (col >= 0) & (col < w) & (row >= 0) & (row < h)
    c, r = np.clip(col, 0, w - 1), np.clip(row, 0, h - 1)
    chart = np.where(inside, np.asarray(labels)[r, c], 0).astype(np.int64)
    seen = chart > 0
    answers = Answers.blank(model, len(points))
    if seen.any():
        u = np.clip(np.asarray(uv)[0][r[seen], c[seen]].astype(np.float64), 0.0, 1.0)
        v = np.clip(np.asarray(uv)[1][r[seen], c[seen]].astype(np.float64), 0.0, 1.0)
        surface = atlas.from_iuv(chart[seen], u, v)
        answers.status[seen] = AnswerStatus.ANSWERED
        answers.i[seen], answers.u[seen], answers.v[seen] = chart[seen], u, v
        answers.face[seen], answers.bary[seen] = surface.face, surface.bary
        answers.time[seen] = time.time()
    return answers


# -- files -----------------------------------------------------------------------------------


def write_proposals(
    path: Path, model: str, checkpoint: str, proposals: list[PersonProposal]
) -> Path:
    """Write a proposal file (atomically: a temporary file renamed into place)."""
    records, arrays = [], {}
    for k, p in enumerate(proposals):
        records.append(
            {
                "image_id": p.image_id,
                "person_id": p.person_id,
                "box": p.box.as_list(),
                "score": p.score,
                "mask_origin": None if p.mask is None else [p.mask.x0, p.mask.y0],
            }
        )
        if p.mask is not None:
            arrays[f"mask_{k}"] = p.mask.labels
        if p.points is not None:
            arrays[f"points_{k}"] = np.frombuffer(blobs.pack_points(p.points), np.uint8)
        if p.answers is not None:
            arrays[f"answers_{k}"] = np.frombuffer(blobs.pack_answers(p.answers), np.uint8)
    meta = {"format": FORMAT, "model": model, "checkpoint": checkpoint, "persons": records}
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    buffer = io.BytesIO()
    save: Any = np.savez_compressed  # numpy's stubs do not type **arrays
    save(buffer, **arrays)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".part")
    temporary.write_bytes(buffer.getvalue())
    os.replace(temporary, path)
    return path


def read_proposals(path: Path) -> tuple[str, str, list[PersonProposal]]:
    """``(model, checkpoint, proposals)`` of a proposal file.

    Raises:
        ValueError: not a proposal file.
    """
    with np.load(path, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    try:
        meta = json.loads(arrays["meta"].tobytes())
    except (KeyError, ValueError) as exc:
        raise ValueError(f"{path}: not a proposal file ({exc})") from None
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path}: not a proposal file")
    model = str(meta["model"])
    out = []
    for k, record in enumerate(meta["persons"]):
        mask = None
        if f"mask_{k}" in arrays:
            x0, y0 = record["mask_origin"]
            mask = PartMask(arrays[f"mask_{k}"], x0, y0)
        points = answers = None
        if f"points_{k}" in arrays:
            points = blobs.unpack_points(arrays[f"points_{k}"].tobytes())
        if f"answers_{k}" in arrays:
            answers = blobs.unpack_answers(arrays[f"answers_{k}"].tobytes(), model)
        out.append(
            PersonProposal(
                image_id=int(record["image_id"]),
                box=Box(*record["box"]),
                score=float(record["score"]),
                person_id=record["person_id"],
                mask=mask,
                points=points,
                answers=answers,
            )
        )
    return model, str(meta["checkpoint"]), out
