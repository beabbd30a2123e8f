"""Gold tasks for tests, from real renders of the rest body (no synthetic scene needed)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from PIL import Image

from annotator.dataset.records import Box, GoldTruth, ImageRecord, Person
from annotator.dataset.store import Project
from annotator.surface.atlas import Atlas, load_atlas
from annotator.surface.parts import COARSE_COLORS
from annotator.surface.render import Camera, ColorMesh, Renderer


def make_gold_project(
    directory: Path, azimuths: tuple[float, ...] = (0.0, 180.0), size: int = 384
) -> tuple[Project, Atlas]:
    """A project with one gold person per azimuth (0 = seen from the front)."""
    atlas = load_atlas()
    project = Project.create(directory)
    (directory / "images").mkdir()
    left, up, forward = atlas.frame
    centre = atlas.rest_vertices.mean(axis=0)
    with Renderer(size, size) as renderer:
        for k, azimuth in enumerate(azimuths):
            a = np.radians(azimuth)
            eye = centre + 3.2 * (np.cos(a) * forward + np.sin(a) * left)
            camera = Camera.look_at(eye, centre, up, np.radians(36), size, size)
            ids = renderer.render_ids([(atlas.rest_vertices, atlas.faces)], camera)
            skin = ColorMesh(
                atlas.rest_vertices,
                atlas.faces,
                vertex_colors=np.tile(COARSE_COLORS[1] // 2 + 100, (len(atlas.rest_vertices), 1)),
            )
            rgb, _ = renderer.render_color([skin], camera)
            path = directory / "images" / f"view{k}.png"
            Image.fromarray(rgb).save(path)
            sha = hashlib.sha256(path.read_bytes()).hexdigest()
            image_id = project.add_image(
                ImageRecord(f"images/view{k}.png", path.name, sha, size, size)
            )
            rows, cols = np.nonzero(ids.face >= 0)
            box = Box(
                cols.min(), rows.min(), cols.max() - cols.min() + 1, rows.max() - rows.min() + 1
            )
            person_id = project.add_person(Person(image_id, box))
            face = ids.face.astype(np.int32)
            labels = np.where(face >= 0, atlas.face_coarse[np.maximum(face, 0)], 0).astype(np.uint8)
            project.set_gold(person_id, GoldTruth(0, 0, labels, face, ids.bary))
    return project, atlas
