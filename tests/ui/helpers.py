"""Test helpers: small synthetic projects and driving the canvas with the mouse."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from annotator.dataset.coco_import import import_image_folder
from annotator.dataset.records import Box, GoldTruth, Person
from annotator.dataset.store import Project


def draw_figure(width: int, height: int, shade: int) -> np.ndarray:
    """A plain background with a stick-figure person in the middle (BGR)."""
    rng = np.random.default_rng(shade)
    noise = (rng.random((height, width, 3)) * 60 + 90).astype(np.uint8)
    image = cv2.GaussianBlur(noise, (0, 0), 5)
    cx = width // 2
    cv2.ellipse(
        image, (cx, height // 5), (width // 20, height // 14), 0, 0, 360, (60, 160, 230), -1
    )
    cv2.rectangle(
        image,
        (cx - width // 12, height // 4),
        (cx + width // 12, height * 7 // 12),
        (200, 60, 60),
        -1,
    )
    return image


def make_project(
    folder: Path, n_images: int = 3, size: tuple[int, int] = (320, 240), gold: bool = True
) -> Path:
    """A project of ``n_images`` synthetic images; every image but the last has one person.

    The first person is a gold task when ``gold``.
    """
    images = folder / "images"
    images.mkdir(parents=True, exist_ok=True)
    width, height = size
    for k in range(n_images):
        cv2.imwrite(str(images / f"img{k:02d}.png"), draw_figure(width, height, k))
    path = folder / "project"
    with Project.create(path) as project:
        import_image_folder(project, images)
        for image in project.images()[:-1]:
            box = Box(width * 0.375, height * 0.1, width * 0.25, height * 0.85)
            project.add_person(Person(image.id, box))
        if gold:
            first = project.persons()[0]
            labels = np.zeros((10, 10), np.uint8)
            project.set_gold(
                first.id,
                GoldTruth(0, 0, labels, np.full((10, 10), -1, np.int32), np.zeros((10, 10, 3))),
            )
    return path
