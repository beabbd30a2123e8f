"""Moving a project between a folder and a server: ``dpstudio project push`` / ``pull``.

Why row for row: both backends hold the same schema (docs/adr/0020-shared-projects.md), so
a project moves losslessly by copying every table's rows in id order -- ids, packed points
and answers, masks and gold truth byte for byte -- and exporting either side gives the same
DensePose-COCO file. Images go as bytes: pushed into the server's image store (checked
against their SHA-256), pulled into the folder (under their project path when it lies
inside the folder, else ``images/<sha256>/<name>``). The copy is one transaction on the
receiving side; a failure leaves no half project (a project this call created is removed).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from annotator.dataset.errors import ProjectError
from annotator.dataset.pg import is_url
from annotator.dataset.store import Project, remove_project

#: Tables in an order that satisfies their foreign keys, with their portable columns and
#: the order their rows are read in.
TABLES: tuple[tuple[str, str, str], ...] = (
    ("annotators", "id, name, created, model", "id"),
    ("images", "id, path, file_name, sha256, width, height, extra", "id"),
    (
        "persons",
        "id, image_id, x, y, w, h, iscrowd, area, segmentation, keypoints, num_keypoints, "
        "extra, state",
        "id",
    ),
    (
        "part_masks",
        "person_id, annotator_id, frame, x0, y0, width, height, codec, data, updated",
        "person_id, annotator_id",
    ),
    ("sample_points", "person_id, n, data, created", "person_id"),
    (
        "answers",
        "person_id, annotator_id, n_answered, n_not_visible, data, updated",
        "person_id, annotator_id",
    ),
    ("gold", "person_id, x0, y0, data, source, created", "person_id"),
    ("state_log", "person_id, state, annotator_id, time", "rowid"),
    (
        "proposals",
        "id, person_id, image_id, model_id, score, x, y, w, h, made_box, made_mask, "
        "made_answers, status, decided_by, decided, created",
        "id",
    ),
)

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class TransferReport:
    """What a push or pull moved.

    Attributes:
        rows: rows copied per table.
        images: image files moved (bytes of each distinct image once).
        image_bytes: their total size.
    """

    rows: dict[str, int]
    images: int
    image_bytes: int


def push(
    folder: str | os.PathLike[str], url: str, progress: Progress | None = None
) -> TransferReport:
    """Copy the folder project into a new shared project at ``url``.

    Raises:
        ProjectError: no folder project, a project already at ``url``, an image missing or
            changed; nothing is left on the server then.
    """
    if is_url(str(folder)) or not is_url(url):
        raise ProjectError("push takes a project folder and a postgresql:// URL, in that order")
    with Project.open(folder, readonly=True) as source:
        target = Project.create(url, body=source.body)
        try:
            with target.transaction():
                report = _copy(source, target, progress)
                _push_images(source, target, report, progress)
                _sync_identities(target)
        except BaseException:
            target.close()
            remove_project(url)
            raise
        target.close()
    return report


def pull(
    url: str, folder: str | os.PathLike[str], progress: Progress | None = None
) -> TransferReport:
    """Copy the shared project at ``url`` into a new project folder, images included.

    Raises:
        ProjectError: no project at ``url``, or a project already in ``folder``; nothing is
            left in the folder then.
    """
    if not is_url(url) or is_url(str(folder)):
        raise ProjectError("pull takes a postgresql:// URL and a project folder, in that order")
    existed = Path(folder).exists()
    with Project.open(url, readonly=True) as source:
        target = Project.create(folder, body=source.body)
        try:
            with target.transaction():
                report = _copy(source, target, progress)
                _pull_images(source, target, report, progress)
            target.checkpoint()
        except BaseException:
            target.close()
            remove_project(folder, remove_folder=not existed)
            raise
        target.close()
    return report


# -- rows --------------------------------------------------------------------------------


def _copy(source: Project, target: Project, progress: Progress | None) -> TransferReport:
    counts: dict[str, int] = {}
    for key, value in _rows(source, "SELECT key, value FROM meta ORDER BY key"):
        target.set_meta(str(key), str(value))
    for table, columns, order in TABLES:
        total = source._scalar(f"SELECT COUNT(*) FROM {table}")
        marks = ", ".join("?" * len(columns.split(",")))
        rows = _Counted(_rows(source, f"SELECT {columns} FROM {table} ORDER BY {order}"))
        target._conn.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)
        counts[table] = rows.count
        if progress is not None:
            progress(table, rows.count, total)
    return TransferReport(counts, 0, 0)


class _Counted:
    """Rows passed through, counted (bytes-like values as ``bytes``)."""

    def __init__(self, rows: Iterator[Any]) -> None:
        self._rows = rows
        self.count = 0

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        for row in self._rows:
            self.count += 1
            yield tuple(bytes(v) if isinstance(v, memoryview) else v for v in row)


def _rows(project: Project, sql: str) -> Iterator[Any]:
    yield from project._conn.execute(sql)


def _sync_identities(target: Project) -> None:
    """Identity columns continue after the copied ids (PostgreSQL only)."""
    for table in ("annotators", "images", "persons", "proposals"):
        target._conn.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
            f"GREATEST((SELECT COALESCE(MAX(id), 0) FROM {table}), 1))"
        )


# -- images ------------------------------------------------------------------------------


def _push_images(
    source: Project, target: Project, report: TransferReport, progress: Progress | None
) -> None:
    from annotator.dataset.store_shared import SharedProject

    assert isinstance(target, SharedProject)
    seen: set[str] = set()
    images = source.images()
    for k, image in enumerate(images):
        if image.sha256 in seen:
            continue
        file = source.image_file(image)
        try:
            data = file.read_bytes()
        except OSError as exc:
            raise ProjectError(f"{file}: cannot read image {image.id} to push ({exc})") from None
        if hashlib.sha256(data).hexdigest() != image.sha256:
            raise ProjectError(
                f"{file}: image {image.id} differs from the one the project recorded "
                "(its SHA-256 changed); nothing was pushed"
            )
        target.put_image_bytes(image.sha256, data)
        seen.add(image.sha256)
        _count_image(report, len(data))
        if progress is not None:
            progress("image files", k + 1, len(images))


def _pull_images(
    source: Project, target: Project, report: TransferReport, progress: Progress | None
) -> None:
    from annotator.dataset.store_shared import SharedProject

    assert isinstance(source, SharedProject)
    images = source.images()
    for k, image in enumerate(images):
        relative = _inside(image.path) or f"images/{image.sha256}/{Path(image.file_name).name}"
        if relative != image.path:
            target._conn.execute("UPDATE images SET path = ? WHERE id = ?", (relative, image.id))
        file = target.directory / relative
        if not (file.is_file() and _sha256(file) == image.sha256):
            data = source.image_bytes(image.sha256)
            file.parent.mkdir(parents=True, exist_ok=True)
            file.write_bytes(data)
            _count_image(report, len(data))
        if progress is not None:
            progress("image files", k + 1, len(images))


def _inside(path: str) -> str | None:
    """``path`` if it stays inside a project folder, else None."""
    pure = PurePosixPath(path)
    if pure.is_absolute() or ".." in pure.parts or not pure.parts:
        return None
    return str(pure)


def _sha256(file: Path) -> str:
    return hashlib.sha256(file.read_bytes()).hexdigest()


def _count_image(report: TransferReport, size: int) -> None:
    object.__setattr__(report, "images", report.images + 1)
    object.__setattr__(report, "image_bytes", report.image_bytes + size)
