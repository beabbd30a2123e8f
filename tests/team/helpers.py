"""Shared projects for the team tests: a real server database with images, persons, points,
gold tasks and members."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import psycopg

from annotator.dataset.coco_import import inspect_image, relative_path
from annotator.dataset.records import Box, GoldTruth, ImageRecord, Person, SamplePoints
from annotator.dataset.store import Project
from annotator.dataset.store_shared import SharedProject
from tests.dataset.conftest import write_image

PASSWORD = "s3cret-pw"


def team_project(
    url: str,
    tmp_path: Path,
    *,
    persons: int = 6,
    gold: int = 1,
    points: int = 4,
    members: dict[str, str] | None = None,
) -> list[int]:
    """Create a shared project at ``url``: one image, ``persons`` persons with ``points``
    sample points each, the first ``gold`` of them gold tasks; ``members`` (name -> role)
    get logins with :data:`PASSWORD`. Returns the person ids."""
    image = write_image(tmp_path / "team.png", 320, 240)
    with Project.create(url) as project:
        assert isinstance(project, SharedProject)
        facts = inspect_image(image)
        record = ImageRecord(
            relative_path(project.directory, image), image.name, facts.sha256, 320, 240
        )
        (image_id,) = project.add_images([record])
        ids = project.add_persons(
            [Person(image_id, Box(5.0 + k, 6.0, 50.0, 80.0)) for k in range(persons)]
        )
        rng = np.random.default_rng(0)
        with project.transaction():
            for pid in ids:
                project.set_sample_points(
                    pid,
                    SamplePoints(
                        rng.uniform(10, 50, points),
                        rng.uniform(10, 80, points),
                        rng.integers(1, 15, points),
                    ),
                )
            for pid in ids[:gold]:
                project.set_gold(
                    pid,
                    GoldTruth(
                        x0=0,
                        y0=0,
                        source="test",
                        labels=np.ones((4, 4), np.uint8),
                        face=np.zeros((4, 4), np.int32),
                        bary=np.full((4, 4, 3), 1 / 3, np.float32),
                    ),
                )
        for name, role in (members or {}).items():
            project.add_member(name, role, PASSWORD)
    return ids


def member_url(url: str, name: str, password: str = PASSWORD) -> str:
    """The same database, logged in as ``name``."""
    parts = urlsplit(url)
    return parts._replace(netloc=f"{name}:{password}@{parts.hostname}:{parts.port}").geturl()


def sql(url: str, statement: str, args: tuple[object, ...] | None = None) -> list[tuple]:
    """Run one statement directly (psycopg, no studio code); its rows."""
    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(statement.encode() if args is None else statement, args)
        return cur.fetchall() if cur.description else []
