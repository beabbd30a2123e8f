"""``dpstudio model predict``: a checkpoint on image files -> pictures and results JSON."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from model.inference.tta import Augmentation

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}


def expand_images(paths: list[Path]) -> list[Path]:
    """Files as given, folders as their image files (sorted)."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out.extend(sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES))
        else:
            out.append(path)
    return out


def predict_images(
    checkpoint: Path,
    images: list[Path],
    out: Path,
    *,
    device: str = "auto",
    score_threshold: float = 0.5,
    fast: bool = False,
    tta: Augmentation | None = None,
    uv_symmetry: Path | None = None,
) -> int:
    """Write one picture per image and the results JSON; returns the number of failures.

    Each unreadable image gets one line on stderr and is skipped.
    """
    import cv2

    from annotator.surface.atlas import load_atlas
    from model.engine.checkpoint import load_checkpoint
    from model.evaluation.results import write_results
    from model.inference.on_dataset import predictions_to_detections, read_image
    from model.inference.pictures import prediction_picture
    from model.inference.predictor import Predictor

    ckpt = load_checkpoint(checkpoint)
    if not ckpt.official_charts:  # the official charts need no atlas here to be drawn
        ckpt.check_atlas(load_atlas(ckpt.atlas["body"]))
    predictor = Predictor.from_checkpoint(
        ckpt,
        device=device,
        score_threshold=score_threshold,
        confidences=True,
        fast=fast,
        tta=tta,
        uv_symmetry=uv_symmetry,
    )
    out.mkdir(parents=True, exist_ok=True)
    files = expand_images(images)
    detections, index, failures = [], {}, 0
    for image_id, path in enumerate(files, start=1):
        try:
            image = read_image(path)
        except ValueError as exc:
            print(f"skipped: {exc}", file=sys.stderr)
            failures += 1
            continue
        people = predictor(image)
        picture = prediction_picture(
            image, [p.densepose for p in people], [p.score for p in people]
        )
        name = f"{image_id:06d}_{path.stem}.png"
        cv2.imwrite(str(out / name), cv2.cvtColor(picture, cv2.COLOR_RGB2BGR))
        detections.extend(predictions_to_detections(image_id, people))
        index[image_id] = {"file": str(path), "picture": name, "persons": len(people)}
        print(f"{path}: {len(people)} person(s) -> {out / name}")
    write_results(out / "results.json", detections)
    (out / "images.json").write_text(json.dumps(index, indent=1))
    return failures
