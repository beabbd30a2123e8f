"""Importers: a folder of images, and COCO instances JSON (person boxes, masks, keypoints).

Every importer checks everything first and then writes in one transaction: on any problem
nothing is written and :class:`~annotator.dataset.errors.InputError` lists every problem
with file, record and field. Images are referenced, not copied (paths relative to the
project folder), and identified by a SHA-256 of their bytes.

Image checks: ``verify="decode"`` decodes every image fully (finds truncated files; the
default for folders), ``verify="header"`` reads only the header (size and format; the
default for JSON imports, whose image sets are large and usually pristine).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from annotator.dataset.errors import NO_VALUE, InputError, Problem
from annotator.dataset.records import Box, ImageRecord, Person, TaskState
from annotator.dataset.validate import check_document, is_int, read_json

if TYPE_CHECKING:
    from annotator.dataset.store import Project

Progress = Callable[[str, int, int], None]
Verify = Literal["header", "decode"]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
IMAGE_KEYS = ("id", "file_name", "width", "height")
ANNOTATION_KEYS = (
    "id",
    "image_id",
    "category_id",
    "bbox",
    "iscrowd",
    "area",
    "segmentation",
    "keypoints",
    "num_keypoints",
    "dp_x",
    "dp_y",
    "dp_I",
    "dp_U",
    "dp_V",
    "dp_masks",
)


@dataclass
class ImportReport:
    """What an import added (counts)."""

    images_added: int = 0
    images_reused: int = 0
    persons: int = 0
    densepose: int = 0
    points: int = 0
    masks: int = 0
    skipped_images: int = 0
    skipped_persons: int = 0


@dataclass
class ImportPlan:
    """A checked COCO document, ready to write.

    Attributes:
        new_images: images to add.
        persons: ``(annotation dict, person)`` pairs to add, in file order.
        image_ids: file image id -> project image id (differs for an image file that was
            already in the project under another id).
        report: counts so far.
    """

    new_images: list[ImageRecord] = field(default_factory=list)
    persons: list[tuple[dict[str, Any], Person]] = field(default_factory=list)
    image_ids: dict[int, int] = field(default_factory=dict)
    report: ImportReport = field(default_factory=ImportReport)


# -- image files ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ImageFacts:
    """What reading an image file found: size and hash, or the problem."""

    width: int = 0
    height: int = 0
    sha256: str = ""
    problem: str | None = None


def inspect_image(path: Path, verify: Verify = "decode") -> ImageFacts:
    """Size (pixels) and SHA-256 of an image file, or what is wrong with it."""
    from PIL import Image

    try:
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        with Image.open(path) as image:
            width, height = image.size
            if verify == "decode":
                if image.format == "JPEG":
                    image.draft("RGB", (max(1, width // 8), max(1, height // 8)))
                image.load()
    except FileNotFoundError:
        return ImageFacts(problem="file not found")
    except IsADirectoryError:
        return ImageFacts(problem="is a folder, not an image")
    except Exception as exc:  # PIL raises many kinds for bad files
        return ImageFacts(problem=f"not a readable image ({type(exc).__name__}: {exc})")
    return ImageFacts(width, height, digest.hexdigest())


def inspect_images(
    paths: Sequence[Path], verify: Verify, progress: Progress | None = None
) -> list[ImageFacts]:
    """:func:`inspect_image` for many files, on a few threads (decoding releases the GIL)."""
    workers = max(1, min(4, os.cpu_count() or 1))
    out: list[ImageFacts] = []
    with ThreadPoolExecutor(workers) as pool:
        for k, facts in enumerate(pool.map(lambda p: inspect_image(p, verify), paths)):
            out.append(facts)
            if progress and (k % 200 == 0 or k == len(paths) - 1):
                progress("images", k + 1, len(paths))
    return out


def relative_path(project_dir: Path, file: Path) -> str:
    """``file`` relative to the project folder, POSIX separators (absolute if impossible).

    Symbolic links are kept as they are (a link into a data set stays a link).
    """
    absolute = os.path.abspath(file)
    try:
        return Path(os.path.relpath(absolute, os.path.abspath(project_dir))).as_posix()
    except ValueError:  # another drive
        return Path(absolute).as_posix()


def scan_images(folder: Path) -> list[Path]:
    """Image files under ``folder`` (recursively), sorted."""
    return sorted(
        p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
    )


# -- folder import -------------------------------------------------------------------------


def import_image_folder(
    project: Project,
    folder: str | Path,
    *,
    verify: Verify = "decode",
    progress: Progress | None = None,
) -> ImportReport:
    """Add every image under ``folder``; images already in the project are kept as they are.

    Raises:
        InputError: the folder is missing or empty, an image is unreadable, or a file
            already in the project has changed.
    """
    folder = Path(folder)
    name = str(folder)
    if not folder.is_dir():
        raise InputError([Problem(name, "", "", NO_VALUE, "not a folder")])
    files = scan_images(folder)
    if not files:
        suffixes = ", ".join(IMAGE_SUFFIXES)
        raise InputError([Problem(name, "", "", NO_VALUE, f"no image files ({suffixes})")])
    known = project.images_by_path()
    facts = inspect_images(files, verify, progress)
    problems, new = [], []
    report = ImportReport()
    for file, fact in zip(files, facts, strict=True):
        rel = relative_path(project.directory, file)
        if fact.problem:
            problems.append(Problem(str(file), "image", "file", NO_VALUE, fact.problem))
        elif rel in known and known[rel].sha256 != fact.sha256:
            message = "changed since it was added to the project (content hash differs)"
            problems.append(Problem(str(file), f"image {known[rel].id}", "file", NO_VALUE, message))
        elif rel in known:
            report.images_reused += 1
        else:
            file_name = file.relative_to(folder).as_posix()
            new.append(ImageRecord(rel, file_name, fact.sha256, fact.width, fact.height))
    if problems:
        raise InputError(problems)
    with project.transaction():
        project.add_images(new)
    report.images_added = len(new)
    return report


# -- COCO instances ------------------------------------------------------------------------


def import_coco(
    project: Project,
    json_path: str | Path,
    images_folder: str | Path,
    *,
    verify: Verify = "header",
    skip_missing: bool = False,
    progress: Progress | None = None,
) -> ImportReport:
    """Import the person boxes, masks and keypoints of a COCO instances (or keypoints) file.

    Only images with at least one person are added. Ids are kept (image and annotation
    ids become the project's ids).

    Args:
        project: an open, writable project.
        json_path: the COCO JSON file.
        images_folder: the folder its ``file_name`` entries are relative to.
        verify: "header" or "decode" (see the module docstring).
        skip_missing: leave out images missing from the folder (and their persons)
            instead of failing.
        progress: called as ``progress(stage, done, total)``.

    Raises:
        InputError: listing every problem; the project is unchanged.
    """
    plan = plan_coco(project, json_path, images_folder, verify, skip_missing, progress)
    with project.transaction():
        write_plan(project, plan)
    return plan.report


def plan_coco(
    project: Project,
    json_path: str | Path,
    images_folder: str | Path,
    verify: Verify,
    skip_missing: bool,
    progress: Progress | None,
) -> ImportPlan:
    """Read and check a COCO document and its images; raise InputError on any problem."""
    file = str(json_path)
    doc, problems = read_json(json_path)
    if problems:
        raise InputError(problems)
    if not isinstance(doc, dict):
        raise InputError(check_document(doc, file).problems)
    person = _person_category(doc)
    annotations = [
        a for a in _records(doc, "annotations") if is_int(person) and a.get("category_id") == person
    ]
    wanted = {a.get("image_id") for a in annotations if is_int(a.get("image_id"))}
    images = [im for im in _records(doc, "images") if _usable_image(im) and im["id"] in wanted]
    folder = Path(images_folder)
    if not folder.is_dir():
        raise InputError([Problem(str(folder), "", "", NO_VALUE, "images folder not found")])
    paths = [folder / im["file_name"] for im in images]
    with ThreadPoolExecutor(1) as pool:  # read the image files while checking the JSON
        reading = pool.submit(inspect_images, paths, verify, progress)
        problems = check_document(doc, file, person_only=True, progress=progress).problems
        facts = reading.result()
    plan = ImportPlan()
    image_problems, missing = _plan_images(project, file, images, paths, facts, skip_missing, plan)
    problems += image_problems
    if not problems and not annotations:
        problems.append(Problem(file, "annotations", "", NO_VALUE, "no person annotations"))
    if problems:
        raise InputError(problems)
    problems = _plan_persons(project, file, annotations, missing, plan)
    if problems:
        raise InputError(problems)
    return plan


def _records(doc: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = doc.get(key)
    return [r for r in value if isinstance(r, dict)] if isinstance(value, list) else []


def _person_category(doc: dict[str, Any]) -> Any:
    return next(
        (c.get("id") for c in _records(doc, "categories") if c.get("name") == "person"), None
    )


def _usable_image(im: dict[str, Any]) -> bool:
    """Good enough to look for its file (the document check reports the rest)."""
    return (
        is_int(im.get("id"))
        and isinstance(im.get("file_name"), str)
        and bool(im["file_name"].strip())
        and all(is_int(im.get(k)) and im[k] > 0 for k in ("width", "height"))
    )


def _plan_images(
    project: Project,
    file: str,
    images: list[dict[str, Any]],
    paths: list[Path],
    facts: list[ImageFacts],
    skip_missing: bool,
    plan: ImportPlan,
) -> tuple[list[Problem], set[int]]:
    """Match image records with their files; fill ``plan.new_images``; return missing ids."""
    by_id = {im.id: im for im in project.images() if im.id is not None}  # stored: always set
    by_path = {im.path: im for im in by_id.values()}
    problems, missing = [], set()
    for im, path, fact in zip(images, paths, facts, strict=True):
        where = f"image {im['id']}"
        if fact.problem == "file not found" and skip_missing:
            missing.add(im["id"])
            plan.report.skipped_images += 1
            continue
        if fact.problem:
            message = f"{fact.problem} (looked for {path})"
            problems.append(Problem(file, where, "file_name", im["file_name"], message))
            continue
        if (fact.width, fact.height) != (im["width"], im["height"]):
            size = f"{fact.width} x {fact.height}"
            message = f"the file is {size} pixels, the JSON says {im['width']} x {im['height']}"
            problems.append(Problem(file, where, "width/height", size, message))
            continue
        record = ImageRecord(
            relative_path(project.directory, path),
            im["file_name"],
            fact.sha256,
            im["width"],
            im["height"],
            im["id"],
            {k: v for k, v in im.items() if k not in IMAGE_KEYS},
        )
        problems += _match_existing(file, record, by_id, by_path, plan)
    return problems, missing


def _match_existing(
    file: str,
    record: ImageRecord,
    by_id: dict[int, ImageRecord],
    by_path: dict[str, ImageRecord],
    plan: ImportPlan,
) -> list[Problem]:
    """Reuse an image file already in the project (same path and content), else add it."""
    assert record.id is not None
    where = f"image {record.id}"
    old = by_path.get(record.path)
    if old is not None:
        if old.sha256 != record.sha256:
            message = f"changed since it was added to the project as image {old.id}"
            return [Problem(file, where, "file_name", record.path, message)]
        plan.image_ids[record.id] = old.id  # type: ignore[assignment]
        plan.report.images_reused += 1
        return []
    if record.id in by_id:
        message = f"id already in the project for another file ({by_id[record.id].path})"
        return [Problem(file, where, "id", record.id, message)]
    plan.image_ids[record.id] = record.id
    plan.new_images.append(record)
    plan.report.images_added += 1
    return []


def _plan_persons(
    project: Project,
    file: str,
    annotations: list[dict[str, Any]],
    missing: set[int],
    plan: ImportPlan,
) -> list[Problem]:
    """Turn checked annotations into persons; refuse ids already in the project."""
    existing = {p.id for p in project.iter_persons()}
    problems = []
    for ann in annotations:
        if ann["image_id"] in missing:
            plan.report.skipped_persons += 1
            continue
        if ann["id"] in existing:
            where = f"annotation {ann['id']}"
            problems.append(Problem(file, where, "id", ann["id"], "already in the project"))
            continue
        person = person_from_annotation(ann)
        person.image_id = plan.image_ids[ann["image_id"]]
        plan.persons.append((ann, person))
    plan.report.persons = len(plan.persons)
    return problems


def person_from_annotation(ann: dict[str, Any]) -> Person:
    """A checked COCO person annotation -> :class:`Person` (DensePose fields aside)."""
    return Person(
        image_id=ann["image_id"],
        box=Box(*(float(v) for v in ann["bbox"])),
        id=ann["id"],
        iscrowd=bool(ann.get("iscrowd", 0)),
        area=ann.get("area"),
        segmentation=ann.get("segmentation"),
        keypoints=ann.get("keypoints"),
        num_keypoints=ann.get("num_keypoints"),
        state=TaskState.TODO,
        extra={k: v for k, v in ann.items() if k not in ANNOTATION_KEYS},
    )


def write_plan(
    project: Project, plan: ImportPlan, states: Iterable[TaskState] | None = None
) -> None:
    """Add a plan's images and persons (inside the caller's transaction)."""
    if states is not None:
        for (_, person), state in zip(plan.persons, states, strict=True):
            person.state = state
    project.add_images(plan.new_images)
    project.add_persons([person for _, person in plan.persons])
